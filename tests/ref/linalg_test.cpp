// Reference kernels of matmul and the convolutions: hand-computed cases, a naive gather-form
// convolution, and the adjoint identity that makes the two gradient ops exact.
#include <cmath>

#include "tests/ref/ref_test_util.h"

using namespace sinter;
using namespace sinter::ref;
using namespace sinter::ref::testing;

namespace {

Attrs mm(bool ta, bool tb) { return {{"transpose_a", ta}, {"transpose_b", tb}}; }

struct ConvCase {
  int64_t n, c, h, w, f, kh, kw, stride, pad, dil, groups;
  Attrs attrs() const {
    return {{"stride", std::vector<int64_t>{stride, stride}},
            {"padding", std::vector<int64_t>{pad, pad}},
            {"dilation", std::vector<int64_t>{dil, dil}},
            {"groups", groups}};
  }
  int64_t out(int64_t in, int64_t k) const { return (in + 2 * pad - dil * (k - 1) - 1) / stride + 1; }
};

const ConvCase kCases[] = {
    {2, 3, 5, 5, 4, 3, 3, 1, 0, 1, 1},  // plain
    {2, 3, 7, 6, 2, 3, 2, 2, 1, 1, 1},  // stride 2, padding, non-square, floor division
    {1, 2, 7, 7, 3, 3, 3, 1, 2, 2, 1},  // dilation 2
    {2, 4, 5, 5, 6, 3, 3, 1, 1, 1, 2},  // groups 2
    {1, 6, 4, 4, 6, 1, 1, 1, 0, 1, 6},  // depthwise 1x1
    {2, 4, 6, 5, 4, 2, 3, 2, 1, 2, 4},  // everything at once
};

// The textbook definition, written independently of the kernel: gather over the padded input.
std::vector<double> naiveConv(const ConvCase& k, const Tensor& x, const Tensor& w) {
  const int64_t oh = k.out(k.h, k.kh), ow = k.out(k.w, k.kw), cg = k.c / k.groups, fg = k.f / k.groups;
  std::vector<double> y;
  for (int64_t n = 0; n < k.n; ++n)
    for (int64_t f = 0; f < k.f; ++f)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) {
          double acc = 0;
          for (int64_t c = 0; c < cg; ++c)
            for (int64_t a = 0; a < k.kh; ++a)
              for (int64_t b = 0; b < k.kw; ++b) {
                const int64_t r = i * k.stride + a * k.dil - k.pad, s = j * k.stride + b * k.dil - k.pad;
                const int64_t ch = f / fg * cg + c;
                const double xv = r < 0 || r >= k.h || s < 0 || s >= k.w ? 0.0 : x.data[((n * k.c + ch) * k.h + r) * k.w + s];
                acc += xv * w.data[((f * cg + c) * k.kh + a) * k.kw + b];
              }
          y.push_back(acc);
        }
  return y;
}

}  // namespace

TEST_CASE("matmul with each transpose flag") {
  // a = [[1,2,3],[4,5,6]], b = [[1,0],[2,1],[0,3]]: a @ b = [[5,11],[14,23]]
  const Tensor a = tensor({2, 3}, {1, 2, 3, 4, 5, 6}), at = tensor({3, 2}, {1, 4, 2, 5, 3, 6});
  const Tensor b = tensor({3, 2}, {1, 0, 2, 1, 0, 3}), bt = tensor({2, 3}, {1, 2, 0, 0, 1, 3});
  const std::vector<double> want = {5, 11, 14, 23};
  checkTensor(mustRun(OpKind::MatMul, {a, b}, mm(false, false)), {2, 2}, want);
  checkTensor(mustRun(OpKind::MatMul, {at, b}, mm(true, false)), {2, 2}, want);
  checkTensor(mustRun(OpKind::MatMul, {a, bt}, mm(false, true)), {2, 2}, want);
  checkTensor(mustRun(OpKind::MatMul, {at, bt}, mm(true, true)), {2, 2}, want);
  // Non-square result: b^T @ a^T = (a @ b)^T
  checkTensor(mustRun(OpKind::MatMul, {b, a}, mm(true, true)), {2, 2}, {5, 14, 11, 23});
  checkTensor(mustRun(OpKind::MatMul, {at, a}, mm(false, false)), {3, 3}, {17, 22, 27, 22, 29, 36, 27, 36, 45});
}

TEST_CASE("conv2d by hand: 3x3 image, 2x2 kernel, padding 1, stride 2") {
  const Tensor x = tensor({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  const Tensor w = tensor({1, 1, 2, 2}, {1, 10, 100, 1000});
  Attrs a = {{"stride", std::vector<int64_t>{2, 2}}, {"padding", std::vector<int64_t>{1, 1}},
             {"dilation", std::vector<int64_t>{1, 1}}, {"groups", int64_t{1}}};
  // Windows start at (-1,-1), (-1,1), (1,-1), (1,1); out-of-image taps read zero.
  checkTensor(mustRun(OpKind::Conv2d, {x, w}, a), {1, 1, 2, 2}, {1000 * 1, 100 * 2 + 1000 * 3, 10 * 4 + 1000 * 7,
                                                                  1 * 5 + 10 * 6 + 100 * 8 + 1000 * 9});
}

TEST_CASE("conv2d matches the naive formula with stride, padding, dilation and groups") {
  uint32_t seed = 1;
  for (const ConvCase& k : kCases) {
    CAPTURE(seed);
    const Tensor x = randomTensor({k.n, k.c, k.h, k.w}, seed++);
    const Tensor w = randomTensor({k.f, k.c / k.groups, k.kh, k.kw}, seed++);
    const Tensor y = mustRun(OpKind::Conv2d, {x, w}, k.attrs());
    CHECK(y.dims == Dims{k.n, k.f, k.out(k.h, k.kh), k.out(k.w, k.kw)});
    checkValues(y, naiveConv(k, x, w), 1e-14);
  }
}

TEST_CASE("conv gradients are the exact adjoints: <conv(x,w), dy> = <x, grad_input(dy,w)> = <w, grad_weight(x,dy)>") {
  uint32_t seed = 100;
  for (const ConvCase& k : kCases) {
    CAPTURE(seed);
    const Tensor x = randomTensor({k.n, k.c, k.h, k.w}, seed++);
    const Tensor w = randomTensor({k.f, k.c / k.groups, k.kh, k.kw}, seed++);
    const Tensor dy = randomTensor({k.n, k.f, k.out(k.h, k.kh), k.out(k.w, k.kw)}, seed++);
    Attrs in = k.attrs(), wt = k.attrs();
    in.set("input_hw", std::vector<int64_t>{k.h, k.w});
    wt.set("kernel", std::vector<int64_t>{k.kh, k.kw});
    const Tensor dx = mustRun(OpKind::Conv2dGradInput, {dy, w}, in);
    const Tensor dw = mustRun(OpKind::Conv2dGradWeight, {x, dy}, wt);
    CHECK(dx.dims == x.dims);
    CHECK(dw.dims == w.dims);
    const double forward = dot(mustRun(OpKind::Conv2d, {x, w}, k.attrs()), dy);
    CHECK(std::fabs(dot(x, dx) - forward) <= 1e-12 * std::fabs(forward));
    CHECK(std::fabs(dot(w, dw) - forward) <= 1e-12 * std::fabs(forward));
  }
}

TEST_CASE("conv2d_grad_weight by hand: each weight gathers x times dy over the positions it touched") {
  // 1x1x2x2 image, 1x1 kernel, stride 1: dw = sum x * dy.
  Attrs a = {{"stride", std::vector<int64_t>{1, 1}}, {"padding", std::vector<int64_t>{0, 0}},
             {"dilation", std::vector<int64_t>{1, 1}}, {"groups", int64_t{1}}, {"kernel", std::vector<int64_t>{1, 1}}};
  checkTensor(mustRun(OpKind::Conv2dGradWeight, {tensor({1, 1, 2, 2}, {1, 2, 3, 4}), tensor({1, 1, 2, 2}, {1, 1, 1, 2})}, a),
              {1, 1, 1, 1}, {14});
}
