// Matrix product and 2-D convolution with its two gradients. The three convolution ops share one loop
// over every (output position, kernel tap) pair that touches a real input element; each op is that
// loop with a different multiply-accumulate, so the gradients are the exact adjoints by construction.
#include "codegen/ref/kernels.h"

namespace sinter::ref {

namespace {

Status matmul(const Call& c, Tensor& out) {
  const Tensor &a = *c.in[0], &b = *c.in[1];
  const bool ta = c.node.attrs.b("transpose_a"), tb = c.node.attrs.b("transpose_b");
  const int64_t m = out.dims[0], n = out.dims[1], k = ta ? a.dims[0] : a.dims[1];
  // op(a)[i, p] and op(b)[p, j] read through the stored layouts.
  auto A = [&](int64_t i, int64_t p) { return ta ? a.data[p * a.dims[1] + i] : a.data[i * a.dims[1] + p]; };
  auto B = [&](int64_t p, int64_t j) { return tb ? b.data[j * b.dims[1] + p] : b.data[p * b.dims[1] + j]; };
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0;
      for (int64_t p = 0; p < k; ++p) acc += A(i, p) * B(p, j);
      out.data[i * n + j] = acc;
    }
  return ok();
}

// x [N, C, H, W], w [F, C/groups, KH, KW], y [N, F, OH, OW]; filter f reads the input channels of
// its group, f / (F/groups).
struct ConvGeometry {
  Dims x, w, y;
  int64_t groups;
  std::vector<int64_t> stride, padding, dilation;
};

template <typename Visit>
void forEachTap(const ConvGeometry& g, Visit visit) {
  const int64_t N = g.x[0], C = g.x[1], H = g.x[2], W = g.x[3];
  const int64_t F = g.w[0], Cg = g.w[1], KH = g.w[2], KW = g.w[3];
  const int64_t OH = g.y[2], OW = g.y[3], Fg = F / g.groups;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t f = 0; f < F; ++f)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow)
          for (int64_t cg = 0; cg < Cg; ++cg)
            for (int64_t kh = 0; kh < KH; ++kh)
              for (int64_t kw = 0; kw < KW; ++kw) {
                const int64_t ih = oh * g.stride[0] - g.padding[0] + kh * g.dilation[0];
                const int64_t iw = ow * g.stride[1] - g.padding[1] + kw * g.dilation[1];
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;  // zero padding contributes nothing
                const int64_t ch = (f / Fg) * Cg + cg;
                visit(((n * C + ch) * H + ih) * W + iw, ((f * Cg + cg) * KH + kh) * KW + kw,
                      ((n * F + f) * OH + oh) * OW + ow);
              }
}

ConvGeometry geometry(const Attrs& a, const Dims& x, const Dims& w, const Dims& y) {
  return {x, w, y, a.i("groups"), a.ints("stride"), a.ints("padding"), a.ints("dilation")};
}

Status conv2d(const Call& c, Tensor& out) {
  const Tensor &x = *c.in[0], &w = *c.in[1];
  forEachTap(geometry(c.node.attrs, x.dims, w.dims, out.dims),
             [&](int64_t xi, int64_t wi, int64_t yi) { out.data[yi] += x.data[xi] * w.data[wi]; });
  return ok();
}

// (dy, w) -> dx: every product x[xi] * w[wi] that reached y[yi] sends dy[yi] * w[wi] back to x[xi].
Status conv2dGradInput(const Call& c, Tensor& out) {
  const Tensor &dy = *c.in[0], &w = *c.in[1];
  forEachTap(geometry(c.node.attrs, out.dims, w.dims, dy.dims),
             [&](int64_t xi, int64_t wi, int64_t yi) { out.data[xi] += dy.data[yi] * w.data[wi]; });
  return ok();
}

// (x, dy) -> dw: the same products, sending x[xi] * dy[yi] to w[wi].
Status conv2dGradWeight(const Call& c, Tensor& out) {
  const Tensor &x = *c.in[0], &dy = *c.in[1];
  forEachTap(geometry(c.node.attrs, x.dims, out.dims, dy.dims),
             [&](int64_t xi, int64_t wi, int64_t yi) { out.data[wi] += x.data[xi] * dy.data[yi]; });
  return ok();
}

const KernelEntry kKernels[] = {
    {OpKind::MatMul, matmul},
    {OpKind::Conv2d, conv2d},
    {OpKind::Conv2dGradInput, conv2dGradInput},
    {OpKind::Conv2dGradWeight, conv2dGradWeight},
};

}  // namespace

std::span<const KernelEntry> linalgKernels() { return kKernels; }

}  // namespace sinter::ref
