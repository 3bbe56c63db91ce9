// The dnnl target's batch-norm calls (runtime/onednn/kernels.cpp) on their own: the paired forward
// (y with the packed [mean; var]) and backward (dx with the packed [d weight; d bias]), eval mode
// with a fused ReLU, and the unpaired calls that write only the packed rows, against the formulas
// computed here in double;
// and descriptors whose arguments do not fit the input are refused before any primitive exists.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "runtime/onednn/kernels.h"

using namespace sinter;

namespace {

constexpr int64_t N = 3, C = 16, S = 4;  // x [N, C, 2, 2]: S elements per image and channel
constexpr double kEps = 1e-3;

PlanBuffer buffer(const char* name, std::vector<int64_t> dims) {
  PlanBuffer b{};
  b.name = name;
  b.role = BufferRole::Temp;
  b.type = BufferType::F32;
  b.rank = static_cast<int32_t>(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) b.dims[i] = dims[i];
  b.layout = "";
  return b;
}

// The kernel for `descriptor` over buffers of `dims` (result first), or its error.
Expected<std::unique_ptr<LibraryKernel>> kernelFor(const std::string& descriptor, const std::vector<std::vector<int64_t>>& dims,
                                                   std::vector<PlanBuffer>& storage) {
  Expected<Json> d = parseJson(descriptor);
  REQUIRE(d);
  storage.clear();
  for (const auto& dim : dims) storage.push_back(buffer("arg", dim));
  std::vector<const PlanBuffer*> bufs;
  for (const PlanBuffer& b : storage) bufs.push_back(&b);
  auto context = std::make_shared<onednn::Context>();
  return onednn::makeKernel(*d, bufs, context);
}

const std::vector<int64_t> kX = {N, C, 2, 2}, kRow = {C}, kPacked = {2, C};

std::string descriptor(const std::string& op, const std::string& operands, const std::string& result, const std::string& more,
                       int args) {
  std::string layouts;
  for (int i = 0; i < args; ++i) layouts += i ? ",\"\"" : "\"\"";
  return R"({"library":"dnnl","op":")" + op + R"(","attrs":{)" + (op == "batchnorm_stats" ? "" : R"("eps":0.001)") +
         R"(},"operands":[)" + operands + R"(],"result":)" + result + more + R"(,"layouts":[)" + layouts + "]}";
}

size_t at(int64_t n, int64_t c, int64_t s) { return static_cast<size_t>((n * C + c) * S + s); }

}  // namespace

TEST_CASE("oneDNN batch norm: paired forward and backward equal the formulas; unpaired calls write their rows") {
  std::vector<float> x(N * C * S), dy(N * C * S), w(C), b(C);
  for (size_t i = 0; i < x.size(); ++i) {
    x[i] = static_cast<float>(std::sin(0.7 * static_cast<double>(i)) * 2 + 0.1 * static_cast<double>(i % 5));
    dy[i] = static_cast<float>(std::cos(1.3 * static_cast<double>(i)));
  }
  for (int64_t c = 0; c < C; ++c) {
    w[static_cast<size_t>(c)] = 0.5f + 0.1f * static_cast<float>(c);
    b[static_cast<size_t>(c)] = -0.2f * static_cast<float>(c);
  }
  // The formulas, in double.
  std::vector<double> mean(C), var(C), dWeight(C), dBias(C), y(x.size()), dx(x.size());
  const double count = N * S;
  for (int64_t c = 0; c < C; ++c) {
    double m = 0, v = 0, sdy = 0, sdyx = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t s = 0; s < S; ++s) m += x[at(n, c, s)];
    m /= count;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t s = 0; s < S; ++s) v += (x[at(n, c, s)] - m) * (x[at(n, c, s)] - m);
    v /= count;
    const double inv = 1 / std::sqrt(v + kEps);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t s = 0; s < S; ++s) {
        const double xhat = (x[at(n, c, s)] - m) * inv;
        y[at(n, c, s)] = xhat * w[static_cast<size_t>(c)] + b[static_cast<size_t>(c)];
        sdy += dy[at(n, c, s)];
        sdyx += dy[at(n, c, s)] * xhat;
      }
    for (int64_t n = 0; n < N; ++n)
      for (int64_t s = 0; s < S; ++s) {
        const double xhat = (x[at(n, c, s)] - m) * inv;
        dx[at(n, c, s)] = w[static_cast<size_t>(c)] * inv * (dy[at(n, c, s)] - (sdy + xhat * sdyx) / count);
      }
    mean[static_cast<size_t>(c)] = m, var[static_cast<size_t>(c)] = v, dWeight[static_cast<size_t>(c)] = sdyx, dBias[static_cast<size_t>(c)] = sdy;
  }
  // f32 against double over 12 elements per channel: a few ulps of values of order 1-10.
  auto near = [](const std::vector<float>& got, const std::vector<double>& want, size_t offset, const char* what) {
    for (size_t i = 0; i < want.size(); ++i) {
      INFO(what, "[", i, "]");
      CHECK(std::fabs(got[offset + i] - want[i]) <= 1e-4 * (1 + std::fabs(want[i])));
    }
  };
  std::vector<PlanBuffer> storage;
  const std::string xs = "[3,16,2,2]", row = "[16]", packed = "[2,16]";

  std::vector<float> yOut(x.size()), stats(2 * C), dxOut(x.size()), params(2 * C);
  {
    auto k = kernelFor(descriptor("batchnorm_train", xs + "," + row + "," + row, xs, ",\"more_results\":[" + packed + "]", 5),
                       {kX, kX, kRow, kRow, kPacked}, storage);
    REQUIRE_MESSAGE(k, (k ? "" : k.error().message()));
    REQUIRE((*k)->prepare(N));
    void* bufs[] = {yOut.data(), x.data(), w.data(), b.data(), stats.data()};
    (*k)->run(bufs, N);
    near(yOut, y, 0, "y");
    near(stats, mean, 0, "mean");
    near(stats, var, C, "var");
  }
  {
    auto k = kernelFor(descriptor("batchnorm_train_grad", xs + "," + xs + "," + row + "," + packed, xs, ",\"more_results\":[" + packed + "]", 6),
                       {kX, kX, kX, kRow, kPacked, kPacked}, storage);
    REQUIRE_MESSAGE(k, (k ? "" : k.error().message()));
    REQUIRE((*k)->prepare(N));
    void* bufs[] = {dxOut.data(), x.data(), dy.data(), w.data(), stats.data(), params.data()};
    (*k)->run(bufs, N);
    near(dxOut, dx, 0, "dx");
    near(params, dWeight, 0, "d weight");
    near(params, dBias, C, "d bias");
  }
  // Eval mode with running statistics (here the batch's, as [C] rows) and a fused ReLU: relu(y).
  {
    std::string d = descriptor("batchnorm_infer", xs + "," + row + "," + row + "," + row + "," + row, xs, "", 6);
    d.replace(d.find("\"eps\":0.001"), 11, "\"eps\":0.001,\"epilogue_relu\":true");
    auto k = kernelFor(d, {kX, kX, kRow, kRow, kRow, kRow}, storage);
    REQUIRE_MESSAGE(k, (k ? "" : k.error().message()));
    REQUIRE((*k)->prepare(N));
    std::vector<float> runningMean(stats.begin(), stats.begin() + C), runningVar(stats.begin() + C, stats.end()), out(x.size());
    void* bufs[] = {out.data(), x.data(), w.data(), b.data(), runningMean.data(), runningVar.data()};
    (*k)->run(bufs, N);
    std::vector<double> relu(y.size());
    for (size_t i = 0; i < y.size(); ++i) relu[i] = std::max(0.0, y[i]);
    near(out, relu, 0, "relu(y)");
  }
  // Unpaired: only the packed rows (y and dx go to scratch).
  std::vector<float> stats2(2 * C, -1), params2(2 * C, -1);
  {
    auto k = kernelFor(descriptor("batchnorm_stats", xs, packed, "", 2), {kPacked, kX}, storage);
    REQUIRE_MESSAGE(k, (k ? "" : k.error().message()));
    REQUIRE((*k)->prepare(N));
    void* bufs[] = {stats2.data(), x.data()};
    (*k)->run(bufs, N);
    near(stats2, mean, 0, "mean");
    near(stats2, var, C, "var");
  }
  {
    auto k = kernelFor(descriptor("batchnorm_param_grad", xs + "," + xs + "," + packed, packed, "", 4), {kPacked, kX, kX, kPacked}, storage);
    REQUIRE_MESSAGE(k, (k ? "" : k.error().message()));
    REQUIRE((*k)->prepare(N));
    void* bufs[] = {params2.data(), x.data(), dy.data(), stats.data()};
    (*k)->run(bufs, N);
    near(params2, dWeight, 0, "d weight");
    near(params2, dBias, C, "d bias");
  }
}

TEST_CASE("oneDNN batch norm: descriptors whose arguments do not fit are refused") {
  std::vector<PlanBuffer> storage;
  const std::string xs = "[3,16,2,2]";
  auto error = [&](const std::string& d, const std::vector<std::vector<int64_t>>& dims) {
    auto k = kernelFor(d, dims, storage);
    return k ? std::string() : k.error().message();
  };
  // Statistics of 8 channels for 16: oneDNN would write past them.
  CHECK(error(descriptor("batchnorm_stats", xs, "[2,8]", "", 2), {{2, 8}, kX}) ==
        "library descriptor: argument 0 of batchnorm_stats does not fit its input's shape");
  // Only the calls fuse-siblings pairs write a further result, and only one.
  CHECK(error(descriptor("batchnorm_stats", xs, "[2,16]", ",\"more_results\":[[2,16]]", 3), {kPacked, kX, kPacked}) ==
        "library descriptor: batchnorm_stats writes no further result");
  CHECK(error(descriptor("batchnorm_train", xs + ",[16],[16]", xs, ",\"more_results\":[[2,16],[2,16]]", 6), {kX, kX, kRow, kRow, kPacked, kPacked})
            == "library descriptor: batchnorm_train writes at most one further result");
  // A weight where dy belongs.
  CHECK(error(descriptor("batchnorm_train_grad", xs + ",[16],[16],[2,16]", xs, "", 5), {kX, kX, kRow, kRow, kPacked}) ==
        "library descriptor: argument 2 of batchnorm_train_grad must have rank 4");
}
