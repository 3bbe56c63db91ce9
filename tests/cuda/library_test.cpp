// The cuda executor's library calls without a GPU: a descriptor is checked against the call's
// buffers before any library is loaded, so that a plan file cannot make cuBLAS or cuDNN touch bytes
// outside the buffers the plan placed.
#include <doctest/doctest.h>

#include "runtime/cuda/library.h"

using namespace sinter;

namespace {

PlanBuffer buffer(const char* name, std::initializer_list<int64_t> dims) {
  PlanBuffer b{};
  b.name = name;
  b.rank = static_cast<int32_t>(dims.size());
  std::copy(dims.begin(), dims.end(), b.dims);
  b.layout = "";
  b.device = true;
  return b;
}

std::string errorOf(const std::string& descriptor, const std::vector<const PlanBuffer*>& buffers) {
  static const cuda::Driver none{};  // never called: the checks come first
  auto context = std::make_shared<cuda::LibraryContext>(none, nullptr);
  Expected<Json> json = parseJson(descriptor);
  REQUIRE(json);
  Expected<std::unique_ptr<LibraryKernel>> k = cuda::makeLibraryKernel(*json, buffers, context);
  REQUIRE_FALSE(k);
  return k.error().message();
}

}  // namespace

TEST_CASE("cuda library calls: the descriptor must be the call's buffers") {
  const PlanBuffer c = buffer("c", {kPlanBatch, 10}), a = buffer("a", {kPlanBatch, 64}), b = buffer("b", {64, 10});
  const PlanBuffer wide = buffer("wide", {kPlanBatch, 11});
  const std::string matmul =
      R"({"library":"cuda","op":"matmul","attrs":{"transpose_a":false,"transpose_b":false},"operands":[[-1,64],[64,10]],"result":[-1,10]})";
  CHECK(errorOf(matmul, {&wide, &a, &b}) == "library descriptor: argument 0 does not match buffer 'wide'");
  CHECK(errorOf(matmul, {&c, &a}) == "library descriptor: matmul has 3 arguments but the call passes 2");
  CHECK(errorOf(R"({"library":"dnnl","op":"matmul"})", {&c, &a, &b}).find("not a call into the cuda target's libraries") != std::string::npos);
  CHECK(errorOf(R"({"library":"cuda","op":"matmul","operands":[[-1,64],[64,0]],"result":[-1,10]})", {&c, &a, &b}) ==
        "library descriptor: an operand has a bad dim");
}
