// Reference kernels of pooling, softmax and the dropout mask.
#include <cmath>

#include "support/philox.h"
#include "tests/ref/ref_test_util.h"

using namespace sinter;
using namespace sinter::ref;
using namespace sinter::ref::testing;

namespace {

Attrs pool(int64_t k, int64_t s, int64_t p) {
  return {{"kernel", std::vector<int64_t>{k, k}}, {"stride", std::vector<int64_t>{s, s}},
          {"padding", std::vector<int64_t>{p, p}}};
}
Attrs poolGrad(int64_t k, int64_t s, int64_t p, int64_t h, int64_t w) {
  Attrs a = pool(k, s, p);
  a.set("input_hw", std::vector<int64_t>{h, w});
  return a;
}

const Tensor kImage = tensor({1, 1, 4, 4}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16});

Tensor dropoutMask(const Tensor& x, int32_t seed, int32_t step, double p, int64_t salt) {
  return mustRun(OpKind::DropoutMask, {x, tensor({}, {double(seed)}, DType::I32), tensor({}, {double(step)}, DType::I32)},
                 {{"p", p}, {"salt", salt}});
}

}  // namespace

TEST_CASE("maxpool2d and avgpool2d without padding") {
  checkTensor(mustRun(OpKind::MaxPool2d, {kImage}, pool(2, 2, 0)), {1, 1, 2, 2}, {6, 8, 14, 16});
  checkTensor(mustRun(OpKind::AvgPool2d, {kImage}, pool(2, 2, 0)), {1, 1, 2, 2}, {3.5, 5.5, 11.5, 13.5});
  // Overlapping windows (stride 1 < kernel 2), floor output size with stride 3.
  checkTensor(mustRun(OpKind::MaxPool2d, {kImage}, pool(2, 1, 0)), {1, 1, 3, 3}, {6, 7, 8, 10, 11, 12, 14, 15, 16});
  checkTensor(mustRun(OpKind::MaxPool2d, {kImage}, pool(2, 3, 0)), {1, 1, 1, 1}, {6});
}

TEST_CASE("maxpool2d pads with -inf, so padding is never the maximum") {
  const Tensor neg = tensor({1, 1, 2, 2}, {-1, -2, -3, -4});
  checkTensor(mustRun(OpKind::MaxPool2d, {neg}, pool(2, 1, 1)), {1, 1, 3, 3}, {-1, -1, -2, -1, -1, -2, -3, -3, -4});
}

TEST_CASE("avgpool2d counts padding in the divisor") {
  // 3x3 window, padding 1, stride 2 on the 4x4 image: every window divides by 9.
  checkTensor(mustRun(OpKind::AvgPool2d, {kImage}, pool(3, 2, 1)), {1, 1, 2, 2},
              {(1 + 2 + 5 + 6) / 9.0, (2 + 3 + 4 + 6 + 7 + 8) / 9.0, (5 + 6 + 9 + 10 + 13 + 14) / 9.0,
               (6 + 7 + 8 + 10 + 11 + 12 + 14 + 15 + 16) / 9.0});
}

TEST_CASE("maxpool2d_grad sends each window's gradient to its first maximum") {
  // Window 0 is all ties (the first element wins); window 1 ties at its 2nd and 4th elements.
  const Tensor x = tensor({1, 1, 2, 4}, {5, 5, 1, 7, 5, 5, 2, 7});
  const Tensor dy = tensor({1, 1, 1, 2}, {10, 20});
  checkTensor(mustRun(OpKind::MaxPool2dGrad, {x, dy}, pool(2, 2, 0)), {1, 1, 2, 4}, {10, 0, 0, 20, 0, 0, 0, 0});
  // Overlapping windows accumulate: the 3x3 centre is the max of all four 2x2 windows.
  const Tensor peak = tensor({1, 1, 3, 3}, {0, 0, 0, 0, 9, 0, 0, 0, 0});
  checkTensor(mustRun(OpKind::MaxPool2dGrad, {peak, tensor({1, 1, 2, 2}, {1, 2, 3, 4})}, pool(2, 1, 0)), {1, 1, 3, 3},
              {0, 0, 0, 0, 10, 0, 0, 0, 0});
  // With padding, a window's first in-bounds maximum wins, never a padding position.
  const Tensor zeros = tensor({1, 1, 2, 2}, {0, 0, 0, 0});
  checkTensor(mustRun(OpKind::MaxPool2dGrad, {zeros, tensor({1, 1, 2, 2}, {1, 2, 3, 4})}, pool(2, 2, 1)), {1, 1, 2, 2},
              {1, 2, 3, 4});
}

TEST_CASE("avgpool2d_grad is the adjoint of avgpool2d") {
  for (const std::array<int64_t, 3>& ksp : {std::array<int64_t, 3>{2, 2, 0}, {3, 2, 1}, {3, 1, 1}, {2, 3, 1}}) {
    CAPTURE(ksp);
    const int64_t k = ksp[0], s = ksp[1], p = ksp[2];
    const Tensor x = randomTensor({2, 3, 7, 6}, static_cast<uint32_t>(k * 100 + s * 10 + p));
    const Tensor y = mustRun(OpKind::AvgPool2d, {x}, pool(k, s, p));
    const Tensor dy = randomTensor(y.dims, 7);
    const Tensor dx = mustRun(OpKind::AvgPool2dGrad, {dy}, poolGrad(k, s, p, 7, 6));
    CHECK(dx.dims == x.dims);
    CHECK(std::fabs(dot(y, dy) - dot(x, dx)) <= 1e-12 * std::fabs(dot(y, dy)));
  }
}

TEST_CASE("softmax rows sum to one and survive large inputs") {
  const Tensor x = tensor({2, 3}, {1, 2, 3, 1000, 1001, 1002});
  const Tensor y = mustRun(OpKind::Softmax, {x}, {{"axis", int64_t{1}}});
  const double e = std::exp(1.0), total = 1 + e + e * e;
  checkTensor(y, {2, 3}, {1 / total, e / total, e * e / total, 1 / total, e / total, e * e / total});
  for (int r = 0; r < 2; ++r) CHECK(y.data[3 * r] + y.data[3 * r + 1] + y.data[3 * r + 2] == doctest::Approx(1.0).epsilon(1e-15));
  // Along the first axis: columns sum to one.
  const Tensor cols = mustRun(OpKind::Softmax, {tensor({2, 2}, {0, 5, 0, 5})}, {{"axis", int64_t{0}}});
  checkValues(cols, {0.5, 0.5, 0.5, 0.5});
}

TEST_CASE("log_softmax is log(softmax) without overflow") {
  const Tensor x = tensor({1, 3}, {1000, 1001, 1002});
  const double lse = 1002 + std::log(1 + std::exp(-1.0) + std::exp(-2.0));
  checkValues(mustRun(OpKind::LogSoftmax, {x}, {{"axis", int64_t{1}}}), {1000 - lse, 1001 - lse, 1002 - lse});
  const Tensor r = randomTensor({3, 4, 5}, 3);
  const Tensor ls = mustRun(OpKind::LogSoftmax, {r}, {{"axis", int64_t{1}}});
  const Tensor s = mustRun(OpKind::Softmax, {r}, {{"axis", int64_t{1}}});
  for (size_t i = 0; i < s.data.size(); ++i) CHECK(ls.data[i] == doctest::Approx(std::log(s.data[i])).epsilon(1e-13));
}

TEST_CASE("dropout_mask follows Sinter's Philox definition") {
  const Tensor x = randomTensor({4, 50}, 1);
  const Tensor m = dropoutMask(x, 0, 0, 0.3, 0);
  for (uint32_t i = 0; i < 200; ++i) {
    const float u = uniformFromBits(philox4x32_10({i, 0, 0, 0}, {0, 0})[0]);
    CHECK(m.data[i] == (u >= 0.3 ? 1 / 0.7 : 0.0));
  }
  // Seed and salt form the key, step the second counter word.
  const Tensor keyed = dropoutMask(x, 42, 7, 0.5, 3);
  for (uint32_t i = 0; i < 200; ++i) {
    const float u = uniformFromBits(philox4x32_10({i, 7, 0, 0}, {42, 3})[0]);
    CHECK(keyed.data[i] == (u >= 0.5 ? 2.0 : 0.0));
  }
}

TEST_CASE("dropout_mask keeps about 1 - p, scales by 1/(1-p), and is reproducible") {
  const Tensor x = randomTensor({100, 1000}, 2);
  for (double p : {0.1, 0.3, 0.5}) {
    CAPTURE(p);
    const Tensor m = dropoutMask(x, 1, 0, p, 0);
    size_t kept = 0, other = 0;
    for (double v : m.data) {
      kept += v == 1 / (1 - p);
      other += v != 0.0 && v != 1 / (1 - p);
    }
    CHECK(other == 0);
    // 100k Bernoulli draws: the standard deviation of the fraction is under 0.0016.
    CHECK(std::fabs(static_cast<double>(kept) / 1e5 - (1 - p)) < 0.01);
    CHECK(dropoutMask(x, 1, 0, p, 0).data == m.data);  // same seed, step, salt: same mask
  }
  const Tensor base = dropoutMask(x, 1, 0, 0.5, 0);
  CHECK(dropoutMask(x, 2, 0, 0.5, 0).data != base.data);
  CHECK(dropoutMask(x, 1, 1, 0.5, 0).data != base.data);
  CHECK(dropoutMask(x, 1, 0, 0.5, 1).data != base.data);
  CHECK(dropoutMask(x, 1, 0, 0.0, 0).data == std::vector<double>(x.data.size(), 1.0));
}

TEST_CASE("dropout_mask takes negative i32 seeds as their bit patterns") {
  const Tensor m = dropoutMask(randomTensor({8}, 3), -1, 0, 0.5, 0);
  for (uint32_t i = 0; i < 8; ++i) {
    const float u = uniformFromBits(philox4x32_10({i, 0, 0, 0}, {0xffffffffu, 0})[0]);
    CHECK(m.data[i] == (u >= 0.5 ? 2.0 : 0.0));
  }
}
