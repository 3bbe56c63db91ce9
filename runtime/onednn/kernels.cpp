// oneDNN 2.6 primitives for the dnnl target's library calls.
//
// Each call keeps the plan's plain row-major buffers (NCHW activations, OIHW weights) at its edges
// and lets oneDNN pick its own layouts inside (format_tag::any): a convolution reorders its
// operands into the blocked layout its fastest implementation wants and its result back. Its
// backward primitives get their own `any` descriptors rather than the forward's choice, which
// would select the reference implementation (../shared/notes/deps.md). Every primitive is created
// in prepare(batch) for that batch size; a step only sets buffer addresses and executes.
// A reference ("ref:") implementation is refused with the primitive's description: it is 100-600x
// slower, and a user asked for this target to be fast.
#include "runtime/onednn/kernels.h"

#include <fmt/format.h>
#include <omp.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

namespace sinter::onednn {

namespace {

using dnnl::memory;
using Dims = memory::dims;
using Tag = memory::format_tag;
constexpr auto kF32 = memory::data_type::f32;

// The descriptor's parts: dims use -1 for the batch size.
struct Descriptor {
  std::string op;
  Json attrs;  // an object
  std::vector<std::vector<int64_t>> operands;
  std::vector<int64_t> result;
  // Results the call writes besides `result`, after the operands among its arguments (the packed
  // statistics or parameter gradients of a batch-norm call that fuse-siblings paired).
  std::vector<std::vector<int64_t>> moreResults;
  std::vector<bool> blocked;  // per argument (result first): in NChw16c rather than row-major
  // fuse-epilogues: the operand holding a per-channel bias to add (-1: none), and a ReLU after it.
  int64_t biasOperand = -1;
  bool relu = false;

  Expected<std::vector<int64_t>> ints(const char* key, size_t count) const {
    const Json* v = attrs.find(key);
    if (!v || !v->isArray() || v->asArray().size() != count) return Error(fmt::format("{}: attribute '{}' must be {} integers", op, key, count));
    std::vector<int64_t> out;
    for (const Json& e : v->asArray()) {
      if (!e.isInt()) return Error(fmt::format("{}: attribute '{}' must be integers", op, key));
      out.push_back(e.asInt());
    }
    return out;
  }
  Expected<int64_t> integer(const char* key) const {
    const Json* v = attrs.find(key);
    if (!v || !v->isInt()) return Error(fmt::format("{}: attribute '{}' must be an integer", op, key));
    return v->asInt();
  }
  Expected<double> number(const char* key) const {
    const Json* v = attrs.find(key);
    if (!v || !v->isNumber()) return Error(fmt::format("{}: attribute '{}' must be a number", op, key));
    return v->asDouble();
  }
  bool flag(const char* key) const {
    const Json* v = attrs.find(key);
    return v && v->isBool() && v->asBool();
  }
};

Expected<std::vector<int64_t>> dimsOf(const Json* j, const std::string& what) {
  if (!j || !j->isArray() || j->asArray().size() > 6) return Error(fmt::format("library descriptor: {} must be a list of dims", what));
  std::vector<int64_t> d;
  for (const Json& e : j->asArray()) {
    if (!e.isInt() || (e.asInt() < 1 && e.asInt() != -1)) return Error(fmt::format("library descriptor: {} has a bad dim", what));
    d.push_back(e.asInt());
  }
  return d;
}

Dims at(const std::vector<int64_t>& d, int64_t batch) {
  Dims out;
  for (int64_t x : d) out.push_back(x == -1 ? batch : x);
  return out;
}

std::string formatDims(const Dims& d) { return fmt::format("{}", fmt::join(d, "x")); }

// One oneDNN op: its arguments as plain user memories (args[0] the result), and the primitives a
// run executes in order (input reorders, the op, output reorders).
class DnnlKernel : public LibraryKernel {
 public:
  // Builds the steps for the batch size (the op's own part).
  using Build = std::function<Status(DnnlKernel&, int64_t batch)>;

  DnnlKernel(std::shared_ptr<Context> context, Descriptor d, Build build)
      : context_(std::move(context)), d_(std::move(d)), build_(std::move(build)) {}

  // The primitives for each batch size seen are kept: a training run alternates the batch size of
  // its steps with the last, partial batch and the evaluation's, and recreating every primitive
  // at each switch would cost milliseconds.
  Status prepare(int64_t batch) override {
    // oneDNN plans a primitive's threads when it creates it: the count must be set by then.
    omp_set_num_threads(context_->threads);
    if (auto it = cache_.find(batch); it != cache_.end()) {
      const Prepared& p = it->second;
      steps_ = p.steps;
      user_ = p.user;
      scratch_ = p.scratch;
      implementation_ = p.implementation;
      batch_ = batch;
      return ok();
    }
    steps_.clear();
    post_.clear();
    user_.clear();
    scratch_.clear();
    scratchBytes_ = 0;
    implementation_.clear();
    try {
      if (Status s = build_(*this, batch); !s) return s;
    } catch (const dnnl::error& e) {
      return Error(fmt::format("oneDNN cannot run {} at batch {}: {}", describeShapes(batch), batch, e.what()));
    }
    steps_.insert(steps_.end(), post_.begin(), post_.end());
    post_.clear();
    context_->reserve(scratchBytes_);
    cache_[batch] = Prepared{steps_, user_, scratch_, implementation_};
    batch_ = batch;
    return ok();
  }

  void run(void* const* bufs, int64_t) override {
    for (Bound& b : user_) b.m.set_data_handle(static_cast<std::byte*>(bufs[b.arg]) + b.offset);
    for (auto& [m, offset] : scratch_) m.set_data_handle(context_->base() + offset);
    omp_set_num_threads(context_->threads);
    try {
      for (Step& s : steps_) s.primitive.execute(context_->stream, s.args);
      context_->stream.wait();
    } catch (const dnnl::error& e) {
      // prepare created these primitives for exactly these shapes: a failure here is a bug.
      std::fprintf(stderr, "sinter: internal error: oneDNN %s failed: %s\n", d_.op.c_str(), e.what());
      std::abort();
    }
  }

  std::string describe() const override { return fmt::format("{}: {}", describeShapes(batch_), implementation_); }

  // For the builders.
  const Descriptor& d() const { return d_; }
  const dnnl::engine& engine() const { return context_->engine; }
  // Argument i's dims at the batch size in its layout: blocked when the plan says so, else
  // row-major with `plainTag` (nchw, oihw, ...).
  memory::desc layout(size_t i, const Dims& dims, Tag plainTag) const {
    return memory::desc(dims, kF32, i < d_.blocked.size() && d_.blocked[i] ? Tag::nChw16c : plainTag);
  }
  // The user memory of argument i (0: the result), with its data handle set at each run to the
  // argument's address plus `offset` bytes (a row of a packed batch-norm tensor).
  memory user(size_t i, const memory::desc& md, size_t offset = 0) {
    memory m(md, engine(), DNNL_MEMORY_NONE);
    user_.push_back({m, i, offset});
    return m;
  }
  // A buffer this call uses only while it runs, in the executor's shared scratch.
  memory scratch(const memory::desc& md) {
    memory m(md, engine(), DNNL_MEMORY_NONE);
    scratch_.emplace_back(m, scratchBytes_);
    scratchBytes_ += (md.get_size() + 63) / 64 * 64;
    return m;
  }
  // `from` as the primitive wants it: itself, or a buffer a reorder fills before the op.
  memory input(const memory& from, const memory::desc& want) {
    if (from.get_desc() == want) return from;
    memory to = scratch(want);
    steps_.push_back({dnnl::reorder(from, to), {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}}});
    return to;
  }
  // Where the primitive writes a result that `to` wants: `to` itself, or a buffer reordered into
  // it after the op.
  memory output(const memory& to, const memory::desc& have) {
    if (to.get_desc() == have) return to;
    memory from = scratch(have);
    post_.push_back({dnnl::reorder(from, to), {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}}});
    return from;
  }
  void add(dnnl::primitive p, std::unordered_map<int, memory> args) { steps_.push_back({std::move(p), std::move(args)}); }
  // Records the implementation oneDNN chose; a reference implementation is an error.
  template <typename PD>
  Status accept(const PD& pd, int64_t batch) {
    const std::string impl = pd.impl_info_str();
    if (impl.rfind("ref", 0) == 0)
      return Error(fmt::format("oneDNN offers only its reference implementation '{}' for {}; refusing it (it is 100x slower)", impl,
                               describeShapes(batch)));
    implementation_ += (implementation_.empty() ? "" : ", ") + impl;
    return ok();
  }

 private:
  struct Step {
    dnnl::primitive primitive;
    std::unordered_map<int, memory> args;
  };
  struct Bound {
    memory m;
    size_t arg, offset;
  };

  std::string describeShapes(int64_t batch) const {
    std::string in;
    for (const auto& o : d_.operands) in += (in.empty() ? "" : ", ") + formatDims(at(o, batch));
    return fmt::format("{}({}) -> {}", d_.op, in, formatDims(at(d_.result, batch)));
  }

  std::shared_ptr<Context> context_;
  Descriptor d_;
  Build build_;
  std::vector<Step> steps_, post_;
  std::vector<Bound> user_;
  std::vector<std::pair<memory, size_t>> scratch_;  // and its offset in Context::scratch
  size_t scratchBytes_ = 0;
  std::string implementation_;
  int64_t batch_ = 0;
  struct Prepared {
    std::vector<Step> steps;
    std::vector<Bound> user;
    std::vector<std::pair<memory, size_t>> scratch;
    std::string implementation;
  };
  std::map<int64_t, Prepared> cache_;
};

memory::desc plain(const Dims& d, Tag tag) { return memory::desc(d, kF32, tag); }
memory::desc anyLayout(const Dims& d) { return memory::desc(d, kF32, Tag::any); }

// A convolution's geometry at one batch size: src [N,C,H,W], weights, dst [N,F,OH,OW].
struct ConvShape {
  Dims src, weights, dst, strides, dilates, padL, padR;
  Tag weightsTag = Tag::oihw;
};

// src and dst dims (at the batch size) and the filter's KxK from the attributes.
Expected<ConvShape> convShape(const Descriptor& d, const Dims& src, const Dims& dst, int64_t kh, int64_t kw) {
  Expected<std::vector<int64_t>> stride = d.ints("stride", 2), padding = d.ints("padding", 2), dilation = d.ints("dilation", 2);
  Expected<int64_t> groups = d.integer("groups");
  if (!stride) return stride.error();
  if (!padding) return padding.error();
  if (!dilation) return dilation.error();
  if (!groups) return groups.error();
  ConvShape s;
  s.src = src;
  s.dst = dst;
  const int64_t g = *groups;
  if (g == 1) {
    s.weights = {dst[1], src[1], kh, kw};
  } else {
    s.weights = {g, dst[1] / g, src[1] / g, kh, kw};
    s.weightsTag = Tag::goihw;
  }
  const int64_t k[2] = {kh, kw};
  for (int i = 0; i < 2; ++i) {
    s.strides.push_back((*stride)[i]);
    s.dilates.push_back((*dilation)[i] - 1);  // oneDNN counts the gaps
    s.padL.push_back((*padding)[i]);
    // The right padding that gives exactly the plan's output size (floor division may leave some
    // of the left padding's mirror unused).
    s.padR.push_back((dst[2 + i] - 1) * (*stride)[i] + (k[i] - 1) * (*dilation)[i] + 1 - src[2 + i] - (*padding)[i]);
  }
  return s;
}

// The fused ReLU as a post-op (fuse-epilogues), or no attributes.
dnnl::primitive_attr epilogueAttr(const Descriptor& d) {
  dnnl::primitive_attr attr;
  if (d.relu) {
    dnnl::post_ops ops;
    ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
    attr.set_post_ops(ops);
  }
  return attr;
}

dnnl::convolution_forward::primitive_desc convForwardHint(const dnnl::engine& e, const ConvShape& s) {
  dnnl::convolution_forward::desc fd(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, anyLayout(s.src),
                                     anyLayout(s.weights), anyLayout(s.dst), s.strides, s.dilates, s.padL, s.padR);
  return {fd, e};
}

// conv2d (x, w[, bias]) -> y, with a fused ReLU when asked.
Status buildConv(DnnlKernel& k, int64_t batch) {
  const Descriptor& d = k.d();
  const Dims x = at(d.operands[0], batch), w = at(d.operands[1], batch), y = at(d.result, batch);
  Expected<ConvShape> s = convShape(d, x, y, w[2], w[3]);
  if (!s) return s.error();
  const memory::desc biasMd = plain({y[1]}, Tag::a);
  auto desc = d.biasOperand >= 0
                  ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, anyLayout(s->src),
                                                    anyLayout(s->weights), biasMd, anyLayout(s->dst), s->strides, s->dilates, s->padL, s->padR)
                  : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, anyLayout(s->src),
                                                    anyLayout(s->weights), anyLayout(s->dst), s->strides, s->dilates, s->padL, s->padR);
  dnnl::convolution_forward::primitive_desc pd(desc, epilogueAttr(d), k.engine());
  if (Status st = k.accept(pd, batch); !st) return st;
  memory out = k.user(0, k.layout(0, y, Tag::nchw));
  memory src = k.input(k.user(1, k.layout(1, x, Tag::nchw)), pd.src_desc());
  memory wei = k.input(k.user(2, plain(s->weights, s->weightsTag)), pd.weights_desc());
  memory dst = k.output(out, pd.dst_desc());
  std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst}};
  if (d.biasOperand >= 0) args[DNNL_ARG_BIAS] = k.user(static_cast<size_t>(d.biasOperand) + 1, biasMd);
  k.add(dnnl::convolution_forward(pd), std::move(args));
  return ok();
}

// conv2d_grad_input (dy, w) -> dx.
Status buildConvGradInput(DnnlKernel& k, int64_t batch) {
  const Descriptor& d = k.d();
  const Dims dy = at(d.operands[0], batch), w = at(d.operands[1], batch), dx = at(d.result, batch);
  Expected<ConvShape> s = convShape(d, dx, dy, w[2], w[3]);
  if (!s) return s.error();
  dnnl::convolution_backward_data::desc bd(dnnl::algorithm::convolution_direct, anyLayout(s->src), anyLayout(s->weights),
                                           anyLayout(s->dst), s->strides, s->dilates, s->padL, s->padR);
  dnnl::convolution_backward_data::primitive_desc pd(bd, k.engine(), convForwardHint(k.engine(), *s));
  if (Status st = k.accept(pd, batch); !st) return st;
  memory out = k.user(0, k.layout(0, dx, Tag::nchw));
  memory diffDst = k.input(k.user(1, k.layout(1, dy, Tag::nchw)), pd.diff_dst_desc());
  memory wei = k.input(k.user(2, plain(s->weights, s->weightsTag)), pd.weights_desc());
  memory diffSrc = k.output(out, pd.diff_src_desc());
  k.add(dnnl::convolution_backward_data(pd), {{DNNL_ARG_DIFF_DST, diffDst}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DIFF_SRC, diffSrc}});
  return ok();
}

// conv2d_grad_weight (x, dy) -> dw.
Status buildConvGradWeight(DnnlKernel& k, int64_t batch) {
  const Descriptor& d = k.d();
  const Dims x = at(d.operands[0], batch), dy = at(d.operands[1], batch);
  Expected<std::vector<int64_t>> kernel = d.ints("kernel", 2);
  if (!kernel) return kernel.error();
  Expected<ConvShape> s = convShape(d, x, dy, (*kernel)[0], (*kernel)[1]);
  if (!s) return s.error();
  dnnl::convolution_backward_weights::desc bd(dnnl::algorithm::convolution_direct, anyLayout(s->src), anyLayout(s->weights),
                                              anyLayout(s->dst), s->strides, s->dilates, s->padL, s->padR);
  dnnl::convolution_backward_weights::primitive_desc pd(bd, k.engine(), convForwardHint(k.engine(), *s));
  if (Status st = k.accept(pd, batch); !st) return st;
  memory out = k.user(0, plain(s->weights, s->weightsTag));
  memory src = k.input(k.user(1, k.layout(1, x, Tag::nchw)), pd.src_desc());
  memory diffDst = k.input(k.user(2, k.layout(2, dy, Tag::nchw)), pd.diff_dst_desc());
  memory diffWei = k.output(out, pd.diff_weights_desc());
  k.add(dnnl::convolution_backward_weights(pd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, diffDst}, {DNNL_ARG_DIFF_WEIGHTS, diffWei}});
  return ok();
}

// matmul (a, b[, bias]) -> c, either operand stored transposed, with a fused ReLU when asked.
Status buildMatMul(DnnlKernel& k, int64_t batch) {
  const Descriptor& d = k.d();
  const Dims a = at(d.operands[0], batch), b = at(d.operands[1], batch), c = at(d.result, batch);
  const bool ta = d.flag("transpose_a"), tb = d.flag("transpose_b");
  // Logical [M,K] and [K,N]; a transposed operand is the same bytes read column-major (tag ba).
  const Dims la = ta ? Dims{a[1], a[0]} : a, lb = tb ? Dims{b[1], b[0]} : b;
  const memory::desc aMd = plain(la, ta ? Tag::ba : Tag::ab), bMd = plain(lb, tb ? Tag::ba : Tag::ab), cMd = plain(c, Tag::ab);
  const memory::desc biasMd = plain({1, c[1]}, Tag::ab);
  auto desc = d.biasOperand >= 0 ? dnnl::matmul::desc(aMd, bMd, biasMd, cMd) : dnnl::matmul::desc(aMd, bMd, cMd);
  dnnl::matmul::primitive_desc pd(desc, epilogueAttr(d), k.engine());
  if (Status st = k.accept(pd, batch); !st) return st;
  std::unordered_map<int, memory> args = {
      {DNNL_ARG_DST, k.user(0, pd.dst_desc())}, {DNNL_ARG_SRC, k.user(1, pd.src_desc())}, {DNNL_ARG_WEIGHTS, k.user(2, pd.weights_desc())}};
  if (d.biasOperand >= 0) args[DNNL_ARG_BIAS] = k.user(static_cast<size_t>(d.biasOperand) + 1, biasMd);
  k.add(dnnl::matmul(pd), std::move(args));
  return ok();
}

// A pooling window's geometry at one batch size.
struct PoolShape {
  Dims src, dst, strides, kernel, padL, padR;
};

Expected<PoolShape> poolShape(const Descriptor& d, const Dims& src, const Dims& dst) {
  Expected<std::vector<int64_t>> kernel = d.ints("kernel", 2), stride = d.ints("stride", 2), padding = d.ints("padding", 2);
  if (!kernel) return kernel.error();
  if (!stride) return stride.error();
  if (!padding) return padding.error();
  PoolShape s{src, dst, {}, {}, {}, {}};
  for (int i = 0; i < 2; ++i) {
    s.strides.push_back((*stride)[i]);
    s.kernel.push_back((*kernel)[i]);
    s.padL.push_back((*padding)[i]);
    s.padR.push_back((dst[2 + i] - 1) * (*stride)[i] + (*kernel)[i] - src[2 + i] - (*padding)[i]);
  }
  return s;
}

dnnl::algorithm poolAlgorithm(const Descriptor& d) {
  // Sinter's average pooling divides by the whole window, padding included (count_include_pad).
  return d.op.rfind("maxpool", 0) == 0 ? dnnl::algorithm::pooling_max : dnnl::algorithm::pooling_avg_include_padding;
}

// Pooling runs on its source's layout (oneDNN takes no `any` for it) and picks its result's; the
// kernel reorders where the plan's layout differs.
dnnl::pooling_forward::primitive_desc poolForward(const dnnl::engine& e, const PoolShape& s, dnnl::algorithm alg, dnnl::prop_kind prop,
                                                  const memory::desc& src) {
  dnnl::pooling_forward::desc fd(prop, alg, src, anyLayout(s.dst), s.strides, s.kernel, s.padL, s.padR);
  return {fd, e};
}

// maxpool2d, avgpool2d (x) -> y.
Status buildPool(DnnlKernel& k, int64_t batch) {
  const Dims x = at(k.d().operands[0], batch), y = at(k.d().result, batch);
  Expected<PoolShape> s = poolShape(k.d(), x, y);
  if (!s) return s.error();
  memory src = k.user(1, k.layout(1, x, Tag::nchw));
  auto pd = poolForward(k.engine(), *s, poolAlgorithm(k.d()), dnnl::prop_kind::forward_inference, src.get_desc());
  if (Status st = k.accept(pd, batch); !st) return st;
  memory dst = k.output(k.user(0, k.layout(0, y, Tag::nchw)), pd.dst_desc());
  k.add(dnnl::pooling_forward(pd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
  return ok();
}

// maxpool2d_grad (x, dy) -> dx and avgpool2d_grad (dy) -> dx. Max pooling's backward needs the
// forward's workspace (where each window's maximum was), which Sinter's graph does not carry from
// the forward pass: the kernel runs the forward again on x into its own buffers first.
Status buildPoolGrad(DnnlKernel& k, int64_t batch) {
  const Descriptor& d = k.d();
  const bool max = poolAlgorithm(d) == dnnl::algorithm::pooling_max;
  const size_t dyArg = max ? 2 : 1;
  const Dims dx = at(d.result, batch), dy = at(d.operands[dyArg - 1], batch);
  Expected<PoolShape> s = poolShape(d, dx, dy);
  if (!s) return s.error();
  memory diffSrc = k.user(0, k.layout(0, dx, Tag::nchw));
  // The forward on x (max) or on dx's shape and layout (average: only a hint for the backward).
  memory src = max ? k.user(1, k.layout(1, dx, Tag::nchw)) : memory();
  auto fwd = poolForward(k.engine(), *s, poolAlgorithm(d), dnnl::prop_kind::forward_training, max ? src.get_desc() : diffSrc.get_desc());
  dnnl::pooling_backward::desc bd(poolAlgorithm(d), diffSrc.get_desc(), fwd.dst_desc(), s->strides, s->kernel, s->padL, s->padR);
  dnnl::pooling_backward::primitive_desc pd(bd, k.engine(), fwd);
  if (max)
    if (Status st = k.accept(fwd, batch); !st) return st;
  if (Status st = k.accept(pd, batch); !st) return st;
  memory diffDst = k.input(k.user(dyArg, k.layout(dyArg, dy, Tag::nchw)), pd.diff_dst_desc());
  if (max) {
    memory y = k.scratch(fwd.dst_desc()), workspace = k.scratch(fwd.workspace_desc());
    k.add(dnnl::pooling_forward(fwd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, y}, {DNNL_ARG_WORKSPACE, workspace}});
    k.add(dnnl::pooling_backward(pd), {{DNNL_ARG_DIFF_DST, diffDst}, {DNNL_ARG_WORKSPACE, workspace}, {DNNL_ARG_DIFF_SRC, diffSrc}});
  } else {
    k.add(dnnl::pooling_backward(pd), {{DNNL_ARG_DIFF_DST, diffDst}, {DNNL_ARG_DIFF_SRC, diffSrc}});
  }
  return ok();
}

// Batch normalization in training mode over x [N,C,H,W] (nchw or nChw16c), one primitive for the
// forward and one for the backward:
//   batchnorm_train (x, weight, bias)[, stats]            y and, paired, the packed [mean; var]
//   batchnorm_stats (x)                                   [mean; var] (y into scratch)
//   batchnorm_train_grad (x, dy, weight, stats)[, dparams] dx and, paired, [d weight; d bias]
//   batchnorm_param_grad (x, dy, stats)                   [d weight; d bias] (dx into scratch)
//   batchnorm_infer (x, weight, bias, mean, var)          y with the running statistics
// The packed tensors' rows are bound as separate [C] memories at offsets 0 and C floats, which is
// how oneDNN's use_scale/use_shift flags take the parameters and give their gradients.
// Where a batch-norm call's arguments are besides x (argument 1): indices into its arguments, -1
// where the call has none.
struct BatchNormArgs {
  bool forward;
  int dy, weight, bias, stats, dparams;
  int mean = -1, var = -1;  // batchnorm_infer's running statistics, [C] each
};

BatchNormArgs batchNormArgs(const Descriptor& d) {
  const int more = d.moreResults.empty() ? -1 : static_cast<int>(1 + d.operands.size());  // a paired call's result
  if (d.op == "batchnorm_train") return {true, -1, 2, 3, more, -1};
  if (d.op == "batchnorm_stats") return {true, -1, -1, -1, 0, -1};
  if (d.op == "batchnorm_train_grad") return {false, 2, 3, -1, 4, more};
  if (d.op == "batchnorm_infer") return {true, -1, 2, 3, -1, -1, 4, 5};
  return {false, 2, -1, -1, 3, 0};  // batchnorm_param_grad
}

Status buildBatchNorm(DnnlKernel& k, int64_t batch) {
  const Descriptor& d = k.d();
  const BatchNormArgs a = batchNormArgs(d);
  const Dims x = at(d.operands[0], batch);
  const size_t rowBytes = static_cast<size_t>(x[1]) * sizeof(float);
  float eps = 0;  // batchnorm_stats has none: the mean and variance do not depend on it
  if (d.op != "batchnorm_stats") {
    Expected<double> e = d.number("eps");
    if (!e) return e.error();
    eps = static_cast<float>(*e);
  }
  const memory::desc data = k.layout(1, x, Tag::nchw), row = plain({x[1]}, Tag::a);
  // Row r of packed argument i, or a scratch row where the call has no such argument.
  auto rowOf = [&](int i, size_t r) { return i >= 0 ? k.user(static_cast<size_t>(i), row, r * rowBytes) : k.scratch(row); };
  // The result x's shape (y or dx), or a scratch buffer where the call writes only packed rows.
  auto dataResult = [&] {
    return d.op == "batchnorm_stats" || d.op == "batchnorm_param_grad" ? k.scratch(data) : k.output(k.user(0, k.layout(0, x, Tag::nchw)), data);
  };
  const auto scaleShift = dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift;
  const bool normalizes = d.op != "batchnorm_stats";
  // A fused ReLU (fuse-epilogues) is a flag; in training oneDNN then also writes a workspace (where
  // y was positive) for its backward, which Sinter's does not use (it reads the ReLU's result):
  // scratch.
  // Eval mode (batchnorm_infer) normalizes with the given running statistics (use_global_stats).
  const bool inference = a.mean >= 0;
  auto forwardFlags = !normalizes ? dnnl::normalization_flags::none : d.relu ? scaleShift | dnnl::normalization_flags::fuse_norm_relu : scaleShift;
  if (inference) forwardFlags = forwardFlags | dnnl::normalization_flags::use_global_stats;
  dnnl::batch_normalization_forward::desc fd(inference ? dnnl::prop_kind::forward_inference : dnnl::prop_kind::forward_training, data, eps,
                                             forwardFlags);
  dnnl::batch_normalization_forward::primitive_desc fpd(fd, k.engine());
  std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, k.user(1, data)},
                                          {DNNL_ARG_MEAN, inference ? rowOf(a.mean, 0) : rowOf(a.stats, 0)},
                                          {DNNL_ARG_VARIANCE, inference ? rowOf(a.var, 0) : rowOf(a.stats, 1)}};
  if (a.forward) {
    if (Status st = k.accept(fpd, batch); !st) return st;
    args[DNNL_ARG_DST] = dataResult();
    if (d.relu && !inference) args[DNNL_ARG_WORKSPACE] = k.scratch(fpd.workspace_desc());
    if (normalizes) {
      args[DNNL_ARG_SCALE] = rowOf(a.weight, 0);
      args[DNNL_ARG_SHIFT] = rowOf(a.bias, 0);
    }
    k.add(dnnl::batch_normalization_forward(fpd), std::move(args));
    return ok();
  }
  dnnl::batch_normalization_backward::desc bd(dnnl::prop_kind::backward, data, data, eps, scaleShift);
  dnnl::batch_normalization_backward::primitive_desc pd(bd, k.engine(), fpd);
  if (Status st = k.accept(pd, batch); !st) return st;
  args[DNNL_ARG_DIFF_DST] = k.input(k.user(static_cast<size_t>(a.dy), k.layout(static_cast<size_t>(a.dy), x, Tag::nchw)), data);
  // batchnorm_param_grad has no weight: its results do not depend on the scale (dx, which does,
  // goes to scratch).
  args[DNNL_ARG_SCALE] = rowOf(a.weight, 0);
  // oneDNN 2.6 will not execute a use_shift backward without the shift, which no gradient reads.
  args[DNNL_ARG_SHIFT] = k.scratch(row);
  args[DNNL_ARG_DIFF_SCALE] = rowOf(a.dparams, 0);
  args[DNNL_ARG_DIFF_SHIFT] = rowOf(a.dparams, 1);
  args[DNNL_ARG_DIFF_SRC] = dataResult();
  k.add(dnnl::batch_normalization_backward(pd), std::move(args));
  return ok();
}

struct OpEntry {
  const char* op;
  std::vector<size_t> ranks;  // the result's, then each operand's
  DnnlKernel::Build build;
  size_t moreRank = 0;  // a paired call's further result (fuse-siblings): its rank; 0: never paired
  size_t operands() const { return ranks.size() - 1; }
};

const OpEntry kOps[] = {
    {"conv2d", {4, 4, 4}, buildConv},
    {"conv2d_grad_input", {4, 4, 4}, buildConvGradInput},
    {"conv2d_grad_weight", {4, 4, 4}, buildConvGradWeight},
    {"matmul", {2, 2, 2}, buildMatMul},
    {"maxpool2d", {4, 4}, buildPool},
    {"avgpool2d", {4, 4}, buildPool},
    {"maxpool2d_grad", {4, 4, 4}, buildPoolGrad},
    {"avgpool2d_grad", {4, 4}, buildPoolGrad},
    {"batchnorm_train", {4, 4, 1, 1}, buildBatchNorm, 2},
    {"batchnorm_stats", {2, 4}, buildBatchNorm},
    {"batchnorm_train_grad", {4, 4, 4, 1, 2}, buildBatchNorm, 2},
    {"batchnorm_param_grad", {2, 4, 4, 2}, buildBatchNorm},
    {"batchnorm_infer", {4, 4, 1, 1, 1, 1}, buildBatchNorm},
};

}  // namespace

Expected<std::unique_ptr<LibraryKernel>> makeKernel(const Json& descriptor, const std::vector<const PlanBuffer*>& buffers,
                                                    std::shared_ptr<Context> context) {
  const Json* library = descriptor.find("library");
  const Json* op = descriptor.find("op");
  if (!library || !library->isString() || library->asString() != "dnnl")
    return Error("library descriptor: not a call into oneDNN (\"library\": \"dnnl\")");
  if (!op || !op->isString()) return Error("library descriptor: no \"op\"");
  Descriptor d;
  d.op = op->asString();
  if (const Json* attrs = descriptor.find("attrs"); attrs && attrs->isObject()) d.attrs = *attrs;
  const OpEntry* entry = nullptr;
  for (const OpEntry& e : kOps)
    if (d.op == e.op) entry = &e;
  if (!entry) return Error(fmt::format("oneDNN does not run '{}' on this target", d.op));
  // A fused bias (fuse-epilogues) is one more operand: a vector of the result's channels.
  if (const Json* bias = d.attrs.find("epilogue_bias")) {
    if (!bias->isInt() || bias->asInt() != static_cast<int64_t>(entry->operands()) || (d.op != "conv2d" && d.op != "matmul"))
      return Error(fmt::format("library descriptor: {} cannot take a bias operand {}", d.op, writeJson(*bias)));
    d.biasOperand = bias->asInt();
  }
  if (const Json* relu = d.attrs.find("epilogue_relu")) {
    if (!relu->isBool() || (relu->asBool() && d.op != "conv2d" && d.op != "matmul" && d.op != "batchnorm_train" && d.op != "batchnorm_infer"))
      return Error(fmt::format("library descriptor: {} cannot fuse a ReLU", d.op));
    d.relu = relu->asBool();
  }
  const size_t numOperands = entry->operands() + (d.biasOperand >= 0 ? 1 : 0);
  const Json* operands = descriptor.find("operands");
  if (!operands || !operands->isArray() || operands->asArray().size() != numOperands)
    return Error(fmt::format("library descriptor: {} takes {} operands", d.op, numOperands));
  for (const Json& o : operands->asArray()) {
    Expected<std::vector<int64_t>> dims = dimsOf(&o, "an operand");
    if (!dims) return dims.error();
    d.operands.push_back(dims.take());
  }
  Expected<std::vector<int64_t>> result = dimsOf(descriptor.find("result"), "the result");
  if (!result) return result.error();
  d.result = result.take();
  if (const Json* more = descriptor.find("more_results")) {
    if (!more->isArray() || more->asArray().size() > (entry->moreRank ? 1 : 0))
      return Error(fmt::format("library descriptor: {} writes {}", d.op, entry->moreRank ? "at most one further result" : "no further result"));
    for (const Json& r : more->asArray()) {
      Expected<std::vector<int64_t>> dims = dimsOf(&r, "a further result");
      if (!dims) return dims.error();
      if (dims->size() != entry->moreRank) return Error(fmt::format("library descriptor: {}'s further result has rank {}", d.op, entry->moreRank));
      d.moreResults.push_back(dims.take());
    }
  }
  for (size_t i = 0; i < entry->ranks.size(); ++i) {
    const std::vector<int64_t>& dims = i == 0 ? d.result : d.operands[i - 1];
    if (dims.size() != entry->ranks[i]) return Error(fmt::format("library descriptor: argument {} of {} must have rank {}", i, d.op, entry->ranks[i]));
  }
  const size_t numArgs = 1 + numOperands + d.moreResults.size();
  auto argDims = [&](size_t i) -> const std::vector<int64_t>& {
    return i == 0 ? d.result : i <= numOperands ? d.operands[i - 1] : d.moreResults[i - 1 - numOperands];
  };
  if (d.op.rfind("batchnorm", 0) == 0) {
    // Every argument is x's shape (rank 4), a [C] row (rank 1) or a packed [2, C] (rank 2): the
    // primitive reads and writes exactly those sizes.
    const std::vector<int64_t>& x = d.operands[0];
    for (size_t i = 0; i < numArgs; ++i) {
      const size_t rank = i < entry->ranks.size() ? entry->ranks[i] : entry->moreRank;
      const std::vector<int64_t> want = rank == 4 ? x : rank == 1 ? std::vector<int64_t>{x[1]} : std::vector<int64_t>{2, x[1]};
      if (argDims(i) != want) return Error(fmt::format("library descriptor: argument {} of {} does not fit its input's shape", i, d.op));
    }
  }
  if (d.biasOperand >= 0) {
    int64_t n = 1;
    for (int64_t x : d.operands.back()) n *= x;
    if (n != d.result[1] || d.result[1] < 1) return Error(fmt::format("library descriptor: the bias of {} must have one element per channel", d.op));
  }
  if (const Json* layouts = descriptor.find("layouts"); layouts && layouts->isArray()) {
    for (const Json& l : layouts->asArray()) {
      if (!l.isString() || (!l.asString().empty() && l.asString() != "nChw16c"))
        return Error("library descriptor: a layout is \"\" or \"nChw16c\"");
      d.blocked.push_back(l.asString() == "nChw16c");
    }
    if (d.blocked.size() != numArgs) return Error(fmt::format("library descriptor: {} layouts for {} arguments", d.blocked.size(), numArgs));
    for (size_t i = 0; i < d.blocked.size(); ++i)
      if (d.blocked[i] && (i > entry->operands() || entry->ranks[i] != 4)) return Error(fmt::format("library descriptor: {} cannot take a blocked argument {}", d.op, i));
  }
  // The shapes and layouts are the call's buffers': a primitive never touches bytes outside the
  // buffers the plan placed.
  if (buffers.size() != numArgs) return Error(fmt::format("library descriptor: {} arguments for a call with {}", numArgs, buffers.size()));
  for (size_t i = 0; i < buffers.size(); ++i) {
    const PlanBuffer& b = *buffers[i];
    const std::vector<int64_t>& dims = argDims(i);
    const bool blocked = i < d.blocked.size() && d.blocked[i];
    const bool same = dims.size() == static_cast<size_t>(b.rank) && std::equal(dims.begin(), dims.end(), b.dims) &&
                      blocked == (std::string_view(b.layout ? b.layout : "") == "nChw16c");
    if (!same) return Error(fmt::format("library descriptor: argument {} does not match buffer '{}'", i, b.name));
  }
  return std::unique_ptr<LibraryKernel>(std::make_unique<DnnlKernel>(std::move(context), std::move(d), entry->build));
}

}  // namespace sinter::onednn
