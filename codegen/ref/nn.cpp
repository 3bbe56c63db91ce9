// Neural-network ops: pooling and its gradients, softmax, log_softmax, the dropout mask; and the
// train/eval-dependent ops, which never reach a backend.
#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>

#include "codegen/ref/kernels.h"
#include "support/philox.h"

namespace sinter::ref {

namespace {

// Calls visit(yi, taps) for each output element of a pooling of x [N, C, H, W] into
// y [N, C, OH, OW], where taps are the flat indices of the window's in-bounds input elements in
// row-major window order (padding positions are simply absent).
template <typename Visit>
void forEachWindow(const Attrs& a, const Dims& x, const Dims& y, Visit visit) {
  const auto &k = a.ints("kernel"), &s = a.ints("stride"), &p = a.ints("padding");
  const int64_t H = x[2], W = x[3], OH = y[2], OW = y[3];
  std::vector<int64_t> taps;
  for (int64_t nc = 0; nc < x[0] * x[1]; ++nc)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        taps.clear();
        for (int64_t kh = 0; kh < k[0]; ++kh)
          for (int64_t kw = 0; kw < k[1]; ++kw) {
            const int64_t ih = oh * s[0] - p[0] + kh, iw = ow * s[1] - p[1] + kw;
            if (ih >= 0 && ih < H && iw >= 0 && iw < W) taps.push_back((nc * H + ih) * W + iw);
          }
        visit((nc * OH + oh) * OW + ow, taps);
      }
}

// The first maximal tap in row-major window order: the tie rule every backend follows
// (tests/reference/README.md). Padding is -inf, so it is never selected; the shape rule guarantees
// each window holds at least one real element.
int64_t firstMax(const std::vector<double>& x, const std::vector<int64_t>& taps) {
  int64_t best = taps.front();
  for (int64_t t : taps)
    if (x[t] > x[best]) best = t;
  return best;
}

Status maxpool2d(const Call& c, Tensor& out) {
  const Tensor& x = *c.in[0];
  forEachWindow(c.node.attrs, x.dims, out.dims,
                [&](int64_t yi, const std::vector<int64_t>& taps) { out.data[yi] = x.data[firstMax(x.data, taps)]; });
  return ok();
}

Status maxpool2dGrad(const Call& c, Tensor& out) {
  const Tensor &x = *c.in[0], &dy = *c.in[1];
  forEachWindow(c.node.attrs, x.dims, dy.dims,
                [&](int64_t yi, const std::vector<int64_t>& taps) { out.data[firstMax(x.data, taps)] += dy.data[yi]; });
  return ok();
}

// count_include_pad: the divisor is always kh * kw, padding counting as zeros.
double windowSize(const Attrs& a) { return static_cast<double>(a.ints("kernel")[0] * a.ints("kernel")[1]); }

Status avgpool2d(const Call& c, Tensor& out) {
  const Tensor& x = *c.in[0];
  const double size = windowSize(c.node.attrs);
  forEachWindow(c.node.attrs, x.dims, out.dims, [&](int64_t yi, const std::vector<int64_t>& taps) {
    double acc = 0;
    for (int64_t t : taps) acc += x.data[t];
    out.data[yi] = acc / size;
  });
  return ok();
}

Status avgpool2dGrad(const Call& c, Tensor& out) {
  const Tensor& dy = *c.in[0];
  const double size = windowSize(c.node.attrs);
  forEachWindow(c.node.attrs, out.dims, dy.dims, [&](int64_t yi, const std::vector<int64_t>& taps) {
    for (int64_t t : taps) out.data[t] += dy.data[yi] / size;
  });
  return ok();
}

// Visits each 1-D line along `axis` as (first flat index, stride between its elements, length).
template <typename Visit>
void forEachLine(const Dims& dims, int64_t axis, Visit visit) {
  const int64_t outer = extentBetween(dims, 0, axis), n = dims[axis];
  const int64_t inner = extentBetween(dims, axis + 1, static_cast<int64_t>(dims.size()));
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) visit(o * n * inner + i, inner, n);
}

// Shifting by the line's maximum keeps exp from overflowing; it cancels in the ratio.
double lineMax(const std::vector<double>& x, int64_t first, int64_t stride, int64_t n) {
  double m = -std::numeric_limits<double>::infinity();
  for (int64_t k = 0; k < n; ++k) m = std::max(m, x[first + k * stride]);
  return m;
}

Status softmax(const Call& c, Tensor& out) {
  const std::vector<double>& x = c.in[0]->data;
  forEachLine(out.dims, c.node.attrs.i("axis"), [&](int64_t first, int64_t stride, int64_t n) {
    const double m = lineMax(x, first, stride, n);
    double total = 0;
    for (int64_t k = 0; k < n; ++k) total += out.data[first + k * stride] = std::exp(x[first + k * stride] - m);
    for (int64_t k = 0; k < n; ++k) out.data[first + k * stride] /= total;
  });
  return ok();
}

Status logSoftmax(const Call& c, Tensor& out) {
  const std::vector<double>& x = c.in[0]->data;
  forEachLine(out.dims, c.node.attrs.i("axis"), [&](int64_t first, int64_t stride, int64_t n) {
    const double m = lineMax(x, first, stride, n);
    double total = 0;
    for (int64_t k = 0; k < n; ++k) total += std::exp(x[first + k * stride] - m);
    const double logTotal = m + std::log(total);
    for (int64_t k = 0; k < n; ++k) out.data[first + k * stride] = x[first + k * stride] - logTotal;
  });
  return ok();
}

// Row i's log-sum-exp of z [N, K], and whether label i is a class (else the row contributes
// nothing, as one_hot's row of zeros would).
double logSumExp(const std::vector<double>& z, int64_t i, int64_t k) {
  double m = -std::numeric_limits<double>::infinity(), total = 0;
  for (int64_t j = 0; j < k; ++j) m = std::max(m, z[i * k + j]);
  for (int64_t j = 0; j < k; ++j) total += std::exp(z[i * k + j] - m);
  return m + std::log(total);
}

Expected<int64_t> classOf(double label, int64_t i, int64_t k) {
  if (!(label >= 0 && label < static_cast<double>(k) && label == std::trunc(label)))
    return Error(fmt::format("label {} at index {} is outside [0, {})", label, i, k));
  return static_cast<int64_t>(label);
}

// loss_i = logsumexp(z_i) - z_i[label_i].
Status softmaxCrossEntropy(const Call& c, Tensor& out) {
  const std::vector<double>&z = c.in[0]->data, &labels = c.in[1]->data;
  const int64_t k = c.in[0]->dims[1];
  for (size_t i = 0; i < labels.size(); ++i) {
    Expected<int64_t> y = classOf(labels[i], static_cast<int64_t>(i), k);
    if (!y) return y.error();
    out.data[i] = logSumExp(z, static_cast<int64_t>(i), k) - z[static_cast<int64_t>(i) * k + *y];
  }
  return ok();
}

// dz_ij = (softmax(z_i)_j - [j == label_i]) * dloss_i.
Status softmaxCrossEntropyGrad(const Call& c, Tensor& out) {
  const std::vector<double>&z = c.in[0]->data, &labels = c.in[1]->data, &dloss = c.in[2]->data;
  const int64_t k = c.in[0]->dims[1];
  for (size_t i = 0; i < labels.size(); ++i) {
    Expected<int64_t> y = classOf(labels[i], static_cast<int64_t>(i), k);
    if (!y) return y.error();
    const auto row = static_cast<int64_t>(i);
    const double lse = logSumExp(z, row, k);
    for (int64_t j = 0; j < k; ++j) out.data[row * k + j] = (std::exp(z[row * k + j] - lse) - (j == *y ? 1.0 : 0.0)) * dloss[i];
  }
  return ok();
}

// Sinter's dropout RNG (tests/reference/README.md): element i keeps iff
// uniformFromBits(Philox4x32-10(counter (i, step, 0, 0), key (seed, salt))[0]) >= p.
// The i32 seed and step enter as their 32-bit two's-complement patterns.
Status dropoutMask(const Call& c, Tensor& out) {
  const double p = c.node.attrs.f("p");
  const auto bits = [](double v) { return static_cast<uint32_t>(static_cast<int32_t>(v)); };
  const uint32_t seed = bits(c.in[1]->data[0]), step = bits(c.in[2]->data[0]);
  const auto salt = static_cast<uint32_t>(c.node.attrs.i("salt"));
  if (out.data.size() > std::numeric_limits<uint32_t>::max())
    return Error(fmt::format("dropout_mask over {} elements exceeds the 32-bit Philox counter", out.data.size()));
  const double keep = 1.0 / (1.0 - p);
  for (size_t i = 0; i < out.data.size(); ++i) {
    const auto r = philox4x32_10({static_cast<uint32_t>(i), step, 0, 0}, {seed, salt});
    out.data[i] = static_cast<double>(uniformFromBits(r[0])) >= p ? keep : 0.0;
  }
  return ok();
}

// Batch norm in training mode over x [N, C] or [N, C, H, W]: element (n, c, s) is at
// (n * C + c) * S + s. Each channel's statistics, in double, over its N * S elements.
struct Channels {
  int64_t n, c, s;
  int64_t at(int64_t i, int64_t ch, int64_t k) const { return (i * c + ch) * s + k; }
};
Channels channelsOf(const std::vector<int64_t>& dims) { return {dims[0], dims[1], dims.size() == 4 ? dims[2] * dims[3] : 1}; }

// The channel's mean and biased variance.
std::pair<double, double> channelStats(const std::vector<double>& x, const Channels& l, int64_t ch) {
  const double count = static_cast<double>(l.n * l.s);
  double mean = 0, var = 0;
  for (int64_t i = 0; i < l.n; ++i)
    for (int64_t k = 0; k < l.s; ++k) mean += x[l.at(i, ch, k)];
  mean /= count;
  for (int64_t i = 0; i < l.n; ++i)
    for (int64_t k = 0; k < l.s; ++k) var += (x[l.at(i, ch, k)] - mean) * (x[l.at(i, ch, k)] - mean);
  return {mean, var / count};
}

// f(x̂ index, x̂, rsqrt(var + eps)) for each element of the channel.
template <typename F>
void forEachNormalized(const std::vector<double>& x, const Channels& l, int64_t ch, double eps, F f) {
  const auto [mean, var] = channelStats(x, l, ch);
  const double inv = 1.0 / std::sqrt(var + eps);
  for (int64_t i = 0; i < l.n; ++i)
    for (int64_t k = 0; k < l.s; ++k) f(l.at(i, ch, k), (x[l.at(i, ch, k)] - mean) * inv, inv);
}

// y = x̂ * weight + bias.
Status batchNormTrain(const Call& c, Tensor& out) {
  const std::vector<double>&x = c.in[0]->data, &w = c.in[1]->data, &b = c.in[2]->data;
  const Channels l = channelsOf(out.dims);
  for (int64_t ch = 0; ch < l.c; ++ch)
    forEachNormalized(x, l, ch, c.node.attrs.f("eps"), [&](int64_t j, double xhat, double) { out.data[j] = xhat * w[ch] + b[ch]; });
  return ok();
}

// y = (x - running_mean) / sqrt(running_var + eps) * weight + bias.
Status batchNormInfer(const Call& c, Tensor& out) {
  const std::vector<double>&x = c.in[0]->data, &w = c.in[1]->data, &b = c.in[2]->data, &rm = c.in[3]->data, &rv = c.in[4]->data;
  const Channels l = channelsOf(out.dims);
  const double eps = c.node.attrs.f("eps");
  for (int64_t i = 0; i < l.n; ++i)
    for (int64_t ch = 0; ch < l.c; ++ch)
      for (int64_t k = 0; k < l.s; ++k) {
        const size_t j = static_cast<size_t>(l.at(i, ch, k)), cc = static_cast<size_t>(ch);
        out.data[j] = (x[j] - rm[cc]) / std::sqrt(rv[cc] + eps) * w[cc] + b[cc];
      }
  return ok();
}

// [mean; biased variance] per channel.
Status batchNormStats(const Call& c, Tensor& out) {
  const Channels l = channelsOf(c.in[0]->dims);
  for (int64_t ch = 0; ch < l.c; ++ch) std::tie(out.data[ch], out.data[l.c + ch]) = channelStats(c.in[0]->data, l, ch);
  return ok();
}

// The channel's sum(dy) and sum(dy * x̂).
std::pair<double, double> gradientSums(const Call& c, const Channels& l, int64_t ch) {
  const std::vector<double>& dy = c.in[1]->data;
  double sumDy = 0, sumDyXhat = 0;
  forEachNormalized(c.in[0]->data, l, ch, c.node.attrs.f("eps"), [&](int64_t j, double xhat, double) {
    sumDy += dy[j];
    sumDyXhat += dy[j] * xhat;
  });
  return {sumDy, sumDyXhat};
}

// dx = weight * rsqrt(var + eps) * (dy - mean(dy) - x̂ * mean(dy * x̂)). The statistics are
// recomputed from x (the stats operand is what a library primitive reads).
Status batchNormTrainGrad(const Call& c, Tensor& out) {
  const std::vector<double>&x = c.in[0]->data, &dy = c.in[1]->data, &w = c.in[2]->data;
  const Channels l = channelsOf(out.dims);
  const double count = static_cast<double>(l.n * l.s);
  for (int64_t ch = 0; ch < l.c; ++ch) {
    const auto [sumDy, sumDyXhat] = gradientSums(c, l, ch);
    forEachNormalized(x, l, ch, c.node.attrs.f("eps"), [&](int64_t j, double xhat, double inv) {
      out.data[j] = w[ch] * inv * (dy[j] - sumDy / count - xhat * sumDyXhat / count);
    });
  }
  return ok();
}

// [sum(dy * x̂); sum(dy)] per channel: the weight's and bias' gradients.
Status batchNormParamGrad(const Call& c, Tensor& out) {
  const Channels l = channelsOf(c.in[0]->dims);
  for (int64_t ch = 0; ch < l.c; ++ch) {
    const auto [sumDy, sumDyXhat] = gradientSums(c, l, ch);
    out.data[ch] = sumDyXhat;
    out.data[l.c + ch] = sumDy;
  }
  return ok();
}

constexpr const char* kSpecialize = "must be specialized by the training-step pass before evaluation";

const KernelEntry kKernels[] = {
    {OpKind::MaxPool2d, maxpool2d},
    {OpKind::MaxPool2dGrad, maxpool2dGrad},
    {OpKind::AvgPool2d, avgpool2d},
    {OpKind::AvgPool2dGrad, avgpool2dGrad},
    {OpKind::Softmax, softmax},
    {OpKind::LogSoftmax, logSoftmax},
    {OpKind::SoftmaxCrossEntropy, softmaxCrossEntropy},
    {OpKind::SoftmaxCrossEntropyGrad, softmaxCrossEntropyGrad},
    {OpKind::DropoutMask, dropoutMask},
    {OpKind::Dropout, nullptr, kSpecialize},
    {OpKind::BatchNorm, nullptr, kSpecialize},
    {OpKind::BatchNormTrain, batchNormTrain},
    {OpKind::BatchNormStats, batchNormStats},
    {OpKind::BatchNormTrainGrad, batchNormTrainGrad},
    {OpKind::BatchNormParamGrad, batchNormParamGrad},
    {OpKind::BatchNormInfer, batchNormInfer},
};

}  // namespace

std::span<const KernelEntry> nnKernels() { return kKernels; }

}  // namespace sinter::ref
