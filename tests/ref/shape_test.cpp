// Reference kernels of the ops that move elements.
#include "tests/ref/ref_test_util.h"

using namespace sinter;
using namespace sinter::ref;
using namespace sinter::ref::testing;

namespace {
const Tensor kA = tensor({2, 3}, {1, 2, 3, 4, 5, 6});
}

TEST_CASE("reshape keeps row-major order") {
  checkTensor(mustRun(OpKind::Reshape, {kA}, {{"shape", Dims{3, 2}}}), {3, 2}, {1, 2, 3, 4, 5, 6});
}

TEST_CASE("transpose") {
  checkTensor(mustRun(OpKind::Transpose, {kA}, {{"perm", std::vector<int64_t>{1, 0}}}), {3, 2}, {1, 4, 2, 5, 3, 6});
  // x[i, j, k] = 100 i + 10 j + k over [2, 3, 2]; y = transpose(x, [2, 0, 1]), y[k, i, j] = x[i, j, k].
  const Tensor x = tensor({2, 3, 2}, {0, 1, 10, 11, 20, 21, 100, 101, 110, 111, 120, 121});
  checkTensor(mustRun(OpKind::Transpose, {x}, {{"perm", std::vector<int64_t>{2, 0, 1}}}), {2, 2, 3},
              {0, 10, 20, 100, 110, 120, 1, 11, 21, 101, 111, 121});
}

TEST_CASE("broadcast repeats extents of 1 and leading axes") {
  checkTensor(mustRun(OpKind::Broadcast, {tensor({3}, {1, 2, 3})}, {{"shape", Dims{2, 3}}}), {2, 3}, {1, 2, 3, 1, 2, 3});
  checkTensor(mustRun(OpKind::Broadcast, {tensor({2, 1}, {1, 2})}, {{"shape", Dims{2, 3}}}), {2, 3}, {1, 1, 1, 2, 2, 2});
  checkTensor(mustRun(OpKind::Broadcast, {tensor({}, {7})}, {{"shape", Dims{2, 2}}}), {2, 2}, {7, 7, 7, 7});
}

TEST_CASE("concat along inner and outer axes") {
  const Tensor b = tensor({2, 1}, {7, 8}), c = tensor({2, 2}, {9, 10, 11, 12});
  checkTensor(mustRun(OpKind::Concat, {kA, b, c}, {{"axis", int64_t{1}}}), {2, 6},
              {1, 2, 3, 7, 9, 10, 4, 5, 6, 8, 11, 12});
  checkTensor(mustRun(OpKind::Concat, {kA, tensor({1, 3}, {7, 8, 9})}, {{"axis", int64_t{0}}}), {3, 3},
              {1, 2, 3, 4, 5, 6, 7, 8, 9});
}

TEST_CASE("slice and pad") {
  checkTensor(mustRun(OpKind::Slice, {kA}, {{"axis", int64_t{1}}, {"start", int64_t{1}}, {"end", int64_t{3}}}), {2, 2},
              {2, 3, 5, 6});
  checkTensor(mustRun(OpKind::Slice, {kA}, {{"axis", int64_t{0}}, {"start", int64_t{1}}, {"end", int64_t{2}}}), {1, 3},
              {4, 5, 6});
  checkTensor(mustRun(OpKind::Pad, {kA}, {{"axis", int64_t{1}}, {"before", int64_t{1}}, {"after", int64_t{2}}}), {2, 6},
              {0, 1, 2, 3, 0, 0, 0, 4, 5, 6, 0, 0});
  checkTensor(mustRun(OpKind::Pad, {kA}, {{"axis", int64_t{0}}, {"before", int64_t{0}}, {"after", int64_t{1}}}), {3, 3},
              {1, 2, 3, 4, 5, 6, 0, 0, 0});
}

TEST_CASE("one_hot turns i32 labels into f32 rows and names a bad label") {
  const Tensor y = mustRun(OpKind::OneHot, {tensor({3}, {2, 0, 1}, DType::I32)}, {{"classes", int64_t{3}}});
  CHECK(y.dtype == DType::F32);
  checkTensor(y, {3, 3}, {0, 0, 1, 1, 0, 0, 0, 1, 0});
  checkTensor(mustRun(OpKind::OneHot, {tensor({2, 1}, {1, 0}, DType::I32)}, {{"classes", int64_t{2}}}), {2, 1, 2},
              {0, 1, 1, 0});

  Expected<Tensor> bad = runOp(OpKind::OneHot, {tensor({3}, {0, 3, 1}, DType::I32)}, {{"classes", int64_t{3}}});
  REQUIRE(!bad);
  CHECK(bad.error().message() == "'one_hot': label 3 at index 1 is outside [0, 3)");
  CHECK(!runOp(OpKind::OneHot, {tensor({1}, {-1}, DType::I32)}, {{"classes", int64_t{3}}}));
}
