// cuDNN calls of the cuda executor: conv2d and both its gradients, max and average pooling and
// their gradients, batch normalization (training, its gradients, eval), each over row-major NCHW
// f32 with its descriptors set in prepare for the batch size.
//   conv2d (x, w) -> y; conv2d_grad_input (dy, w) -> dx; conv2d_grad_weight (x, dy) -> dw
//     Cross-correlation, symmetric padding (the plan's output size is cuDNN's), FMA math (no
//     TF32); the algorithm is cuDNN's first heuristic choice whose workspace fits kMaxWorkspace.
//   maxpool2d / avgpool2d (x) -> y; maxpool2d_grad (x, dy) -> dx; avgpool2d_grad (dy) -> dx
//     Average pooling divides by the whole window, padding included (count_include_pad), as the
//     reference does. cuDNN's max-pool backward needs the forward's y, which Sinter's graph does
//     not carry: the kernel runs the forward again into scratch first.
//   batchnorm_train (x, w, b)[, stats]; batchnorm_stats (x); batchnorm_train_grad (x, dy, w,
//   stats)[, dparams]; batchnorm_param_grad (x, dy, stats); batchnorm_infer (x, w, b, mean, var)
//     The packed [2, C] results (stats = [mean; biased var], dparams = [d weight; d bias]) are
//     rows at offsets 0 and C floats. cuDNN gives the batch's mean and unbiased variance as its
//     "running" statistics with an average factor of 1 (rows zeroed first: it multiplies the old
//     value by 0, and 0 * NaN is NaN); the variance row is then scaled by (n-1)/n. The backward
//     recomputes the statistics from x (no saved ones), which are the stats operand's.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <array>

#include "runtime/cuda/library.h"

namespace sinter::cuda {

namespace {

constexpr size_t kMaxWorkspace = size_t{1} << 30;

int64_t at(int64_t dim, int64_t batch) { return dim == kPlanBatch ? batch : dim; }

// [N, C, H, W] at the batch size; rank 2 [N, C] is [N, C, 1, 1].
std::array<int, 4> nchw(const std::vector<int64_t>& d, int64_t batch) {
  std::array<int, 4> out{1, 1, 1, 1};
  for (size_t i = 0; i < d.size() && i < 4; ++i) out[i] = static_cast<int>(at(d[i], batch));
  return out;
}

Expected<std::array<int, 2>> pair(const CallShape& c, const char* key) {
  const Json* v = c.attrs.find(key);
  if (!v || !v->isArray() || v->asArray().size() != 2 || !v->asArray()[0].isInt() || !v->asArray()[1].isInt())
    return Error(fmt::format("{}: attribute '{}' must be 2 integers", c.op, key));
  return std::array<int, 2>{static_cast<int>(v->asArray()[0].asInt()), static_cast<int>(v->asArray()[1].asInt())};
}

// The descriptors a kernel owns.
class Descriptors {
 public:
  explicit Descriptors(const Cudnn& c) : c_(c) {}
  ~Descriptors() {
    for (cudnnTensorDescriptor_t t : tensors_) c_.cudnnDestroyTensorDescriptor(t);
    if (filter) c_.cudnnDestroyFilterDescriptor(filter);
    if (conv) c_.cudnnDestroyConvolutionDescriptor(conv);
    if (pool) c_.cudnnDestroyPoolingDescriptor(pool);
  }
  Expected<cudnnTensorDescriptor_t> tensor(const std::array<int, 4>& d) {
    cudnnTensorDescriptor_t t = nullptr;
    if (Status s = c_.check(c_.cudnnCreateTensorDescriptor(&t), "cudnnCreateTensorDescriptor"); !s) return s.error();
    tensors_.push_back(t);
    if (Status s = c_.check(c_.cudnnSetTensor4dDescriptor(t, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, d[0], d[1], d[2], d[3]),
                            "cudnnSetTensor4dDescriptor");
        !s)
      return s.error();
    return t;
  }
  // Descriptors are made again for each batch size (prepare); the old ones go.
  void clear() {
    for (cudnnTensorDescriptor_t t : tensors_) c_.cudnnDestroyTensorDescriptor(t);
    tensors_.clear();
  }
  cudnnFilterDescriptor_t filter = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  cudnnPoolingDescriptor_t pool = nullptr;

 private:
  const Cudnn& c_;
  std::vector<cudnnTensorDescriptor_t> tensors_;
};

class CudnnKernel : public LibraryKernel {
 public:
  CudnnKernel(CallShape call, std::shared_ptr<LibraryContext> context)
      : call_(std::move(call)), ctx_(std::move(context)), c_(*ctx_->cudnn), d_(c_) {}

 protected:
  // Records the first failure of a queued call (LibraryKernel::run returns nothing).
  void note(cudnnStatus_t s, const char* what) {
    if (ctx_->error) ctx_->error = c_.check(s, what);
  }
  void* scratch(size_t offsetBytes = 0) const { return reinterpret_cast<void*>(ctx_->scratch() + offsetBytes); }

  CallShape call_;
  std::shared_ptr<LibraryContext> ctx_;
  const Cudnn& c_;
  Descriptors d_;
  std::string chosen_;
};

// Convolutions. Tensor roles: x (input image), w (filter), y (output image).
class Conv final : public CudnnKernel {
 public:
  using CudnnKernel::CudnnKernel;

  Status prepare(int64_t batch) override {
    d_.clear();
    const bool fwd = call_.op == "conv2d", data = call_.op == "conv2d_grad_input";
    const std::vector<int64_t>& xs = fwd || !data ? call_.operands[0] : call_.result;
    const std::vector<int64_t>& ws = fwd || data ? call_.operands[1] : call_.result;
    const std::vector<int64_t>& ys = fwd ? call_.result : data ? call_.operands[0] : call_.operands[1];
    Expected<std::array<int, 2>> stride = pair(call_, "stride"), padding = pair(call_, "padding"), dilation = pair(call_, "dilation");
    if (!stride) return stride.error();
    if (!padding) return padding.error();
    if (!dilation) return dilation.error();
    const Json* groups = call_.attrs.find("groups");
    const int g = groups && groups->isInt() ? static_cast<int>(groups->asInt()) : 1;
    Expected<cudnnTensorDescriptor_t> x = d_.tensor(nchw(xs, batch)), y = d_.tensor(nchw(ys, batch));
    if (!x) return x.error();
    if (!y) return y.error();
    x_ = *x, y_ = *y;
    if (!d_.filter) {
      if (Status s = c_.check(c_.cudnnCreateFilterDescriptor(&d_.filter), "cudnnCreateFilterDescriptor"); !s) return s;
      if (Status s = c_.check(c_.cudnnCreateConvolutionDescriptor(&d_.conv), "cudnnCreateConvolutionDescriptor"); !s) return s;
    }
    const std::array<int, 4> w = nchw(ws, batch);
    if (Status s = c_.check(c_.cudnnSetFilter4dDescriptor(d_.filter, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, w[0], w[1], w[2], w[3]),
                            "cudnnSetFilter4dDescriptor");
        !s)
      return s;
    if (Status s = c_.check(c_.cudnnSetConvolution2dDescriptor(d_.conv, (*padding)[0], (*padding)[1], (*stride)[0], (*stride)[1],
                                                               (*dilation)[0], (*dilation)[1], CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
                            "cudnnSetConvolution2dDescriptor");
        !s)
      return s;
    if (Status s = c_.check(c_.cudnnSetConvolutionGroupCount(d_.conv, g), "cudnnSetConvolutionGroupCount"); !s) return s;
    if (Status s = c_.check(c_.cudnnSetConvolutionMathType(d_.conv, CUDNN_FMA_MATH), "cudnnSetConvolutionMathType"); !s) return s;
    cudnnAlgoPerf perf[16];
    int n = 0;
    cudnnStatus_t st = fwd    ? c_.cudnnGetConvolutionForwardAlgorithm_v7(ctx_->dnn, x_, d_.filter, d_.conv, y_, 16, &n, perf)
                       : data ? c_.cudnnGetConvolutionBackwardDataAlgorithm_v7(ctx_->dnn, d_.filter, y_, d_.conv, x_, 16, &n, perf)
                              : c_.cudnnGetConvolutionBackwardFilterAlgorithm_v7(ctx_->dnn, x_, y_, d_.conv, d_.filter, 16, &n, perf);
    if (Status s = c_.check(st, "cudnnGetConvolution*Algorithm_v7"); !s) return s;
    for (int i = 0; i < n; ++i)
      if (perf[i].status == 0 && perf[i].memory <= kMaxWorkspace) {
        algo_ = perf[i].algo;
        workspace_ = perf[i].memory;
        chosen_ = fmt::format("{} {}: cuDNN algorithm {} ({} bytes of workspace)", call_.op, fmt::join(nchw(xs, batch), "x"), algo_,
                              workspace_);
        return ctx_->reserve(workspace_);
      }
    return Error(fmt::format("{}: cuDNN has no algorithm for this convolution within {} bytes of workspace", call_.op, kMaxWorkspace));
  }

  void run(void* const* bufs, int64_t) override {
    const float one = 1, zero = 0;
    if (call_.op == "conv2d")
      note(c_.cudnnConvolutionForward(ctx_->dnn, &one, x_, bufs[1], d_.filter, bufs[2], d_.conv, algo_, scratch(), workspace_, &zero, y_,
                                      bufs[0]),
           "cudnnConvolutionForward");
    else if (call_.op == "conv2d_grad_input")
      note(c_.cudnnConvolutionBackwardData(ctx_->dnn, &one, d_.filter, bufs[2], y_, bufs[1], d_.conv, algo_, scratch(), workspace_, &zero,
                                           x_, bufs[0]),
           "cudnnConvolutionBackwardData");
    else
      note(c_.cudnnConvolutionBackwardFilter(ctx_->dnn, &one, x_, bufs[1], y_, bufs[2], d_.conv, algo_, scratch(), workspace_, &zero,
                                             d_.filter, bufs[0]),
           "cudnnConvolutionBackwardFilter");
  }

  std::string describe() const override { return chosen_; }

 private:
  cudnnTensorDescriptor_t x_ = nullptr, y_ = nullptr;
  int algo_ = 0;
  size_t workspace_ = 0;
};

class Pool final : public CudnnKernel {
 public:
  using CudnnKernel::CudnnKernel;

  Status prepare(int64_t batch) override {
    d_.clear();
    const bool grad = call_.op.ends_with("_grad");
    max_ = call_.op.starts_with("maxpool");
    const std::vector<int64_t>& xs = grad ? call_.result : call_.operands[0];
    const std::vector<int64_t>& ys = grad ? call_.operands.back() : call_.result;
    Expected<std::array<int, 2>> kernel = pair(call_, "kernel"), stride = pair(call_, "stride"), padding = pair(call_, "padding");
    if (!kernel) return kernel.error();
    if (!stride) return stride.error();
    if (!padding) return padding.error();
    Expected<cudnnTensorDescriptor_t> x = d_.tensor(nchw(xs, batch)), y = d_.tensor(nchw(ys, batch));
    if (!x) return x.error();
    if (!y) return y.error();
    x_ = *x, y_ = *y;
    if (!d_.pool)
      if (Status s = c_.check(c_.cudnnCreatePoolingDescriptor(&d_.pool), "cudnnCreatePoolingDescriptor"); !s) return s;
    if (Status s = c_.check(c_.cudnnSetPooling2dDescriptor(d_.pool, max_ ? CUDNN_POOLING_MAX_DETERMINISTIC : CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING,
                                                           CUDNN_PROPAGATE_NAN, (*kernel)[0], (*kernel)[1], (*padding)[0], (*padding)[1],
                                                           (*stride)[0], (*stride)[1]),
                            "cudnnSetPooling2dDescriptor");
        !s)
      return s;
    const std::array<int, 4> y4 = nchw(ys, batch);
    chosen_ = fmt::format("{} {}: cuDNN", call_.op, fmt::join(nchw(xs, batch), "x"));
    // The max-pool gradient's recomputed y.
    return ctx_->reserve(call_.op == "maxpool2d_grad" ? size_t(y4[0]) * y4[1] * y4[2] * y4[3] * sizeof(float) : 0);
  }

  void run(void* const* bufs, int64_t) override {
    const float one = 1, zero = 0;
    if (call_.op == "maxpool2d" || call_.op == "avgpool2d") {
      note(c_.cudnnPoolingForward(ctx_->dnn, d_.pool, &one, x_, bufs[1], &zero, y_, bufs[0]), "cudnnPoolingForward");
    } else if (max_) {
      note(c_.cudnnPoolingForward(ctx_->dnn, d_.pool, &one, x_, bufs[1], &zero, y_, scratch()), "cudnnPoolingForward");
      note(c_.cudnnPoolingBackward(ctx_->dnn, d_.pool, &one, y_, scratch(), y_, bufs[2], x_, bufs[1], &zero, x_, bufs[0]),
           "cudnnPoolingBackward");
    } else {
      // Average pooling's backward reads neither y nor x, only their shapes.
      note(c_.cudnnPoolingBackward(ctx_->dnn, d_.pool, &one, y_, bufs[1], y_, bufs[1], x_, bufs[0], &zero, x_, bufs[0]),
           "cudnnPoolingBackward");
    }
  }

  std::string describe() const override { return chosen_; }

 private:
  cudnnTensorDescriptor_t x_ = nullptr, y_ = nullptr;
  bool max_ = false;
};

class BatchNorm final : public CudnnKernel {
 public:
  using CudnnKernel::CudnnKernel;

  Status prepare(int64_t batch) override {
    d_.clear();
    const std::array<int, 4> x4 = nchw(call_.operands[0], batch);
    Expected<cudnnTensorDescriptor_t> x = d_.tensor(x4), bn = d_.tensor({1, x4[1], 1, 1});
    if (!x) return x.error();
    if (!bn) return bn.error();
    x_ = *x, bn_ = *bn;
    const Json* eps = call_.attrs.find("eps");
    eps_ = eps && eps->isNumber() ? eps->asDouble() : 1e-5;
    count_ = static_cast<double>(x4[0]) * x4[2] * x4[3];
    channels_ = static_cast<size_t>(x4[1]);
    dataBytes_ = size_t(x4[0]) * x4[1] * x4[2] * x4[3] * sizeof(float);
    chosen_ = fmt::format("{} {}: cuDNN", call_.op, fmt::join(x4, "x"));
    // Scratch: a data-sized result nothing reads, then 4 rows of C floats.
    return ctx_->reserve(dataBytes_ + 4 * channels_ * sizeof(float));
  }

  void run(void* const* bufs, int64_t) override {
    const float one = 1, zero = 0;
    const size_t rowBytes = channels_ * sizeof(float);
    auto row = [&](void* base, size_t r) { return static_cast<void*>(static_cast<char*>(base) + r * rowBytes); };
    void* scratchRows = scratch(dataBytes_);
    const void* more = call_.paired ? bufs[1 + call_.operands.size()] : nullptr;
    const std::string& op = call_.op;
    if (op == "batchnorm_infer") {
      note(c_.cudnnBatchNormalizationForwardInference(ctx_->dnn, CUDNN_BATCHNORM_SPATIAL, &one, &zero, x_, bufs[1], x_, bufs[0], bn_, bufs[2],
                                                      bufs[3], bufs[4], bufs[5], eps_),
           "cudnnBatchNormalizationForwardInference");
      return;
    }
    if (op == "batchnorm_train" || op == "batchnorm_stats") {
      const bool stats = op == "batchnorm_stats";
      void* packed = stats ? bufs[0] : more ? const_cast<void*>(more) : scratchRows;
      void* y = stats ? scratch() : bufs[0];
      // Scale and bias of the stats-only call: scratch rows 2 and 3 (y goes to scratch too).
      const void* scale = stats ? row(scratchRows, 2) : bufs[2];
      const void* bias = stats ? row(scratchRows, 3) : bufs[3];
      if (ctx_->error)
        ctx_->error = ctx_->driver.check(ctx_->driver.cuMemsetD8Async(reinterpret_cast<CUdeviceptr>(packed), 0, 2 * rowBytes, ctx_->stream),
                                         "cuMemsetD8Async");
      note(c_.cudnnBatchNormalizationForwardTraining(ctx_->dnn, CUDNN_BATCHNORM_SPATIAL, &one, &zero, x_, bufs[1], x_, y, bn_, scale, bias,
                                                     1.0, row(packed, 0), row(packed, 1), eps_, nullptr, nullptr),
           "cudnnBatchNormalizationForwardTraining");
      const float biased = count_ > 1 ? static_cast<float>((count_ - 1) / count_) : 1.0f;
      note(c_.cudnnScaleTensor(ctx_->dnn, bn_, row(packed, 1), &biased), "cudnnScaleTensor");
      return;
    }
    // batchnorm_train_grad (x, dy, w, stats)[, dparams] or batchnorm_param_grad (x, dy, stats).
    const bool params = op == "batchnorm_param_grad";
    void* dx = params ? scratch() : bufs[0];
    void* dparams = params ? bufs[0] : more ? const_cast<void*>(more) : scratchRows;
    const void* scale = params ? row(scratchRows, 2) : bufs[3];
    note(c_.cudnnBatchNormalizationBackward(ctx_->dnn, CUDNN_BATCHNORM_SPATIAL, &one, &zero, &one, &zero, x_, bufs[1], x_, bufs[2], x_, dx,
                                            bn_, scale, row(dparams, 0), row(dparams, 1), eps_, nullptr, nullptr),
         "cudnnBatchNormalizationBackward");
  }

  std::string describe() const override { return chosen_; }

 private:
  cudnnTensorDescriptor_t x_ = nullptr, bn_ = nullptr;
  double eps_ = 1e-5, count_ = 1;
  size_t channels_ = 0, dataBytes_ = 0;
};

}  // namespace

Expected<std::unique_ptr<LibraryKernel>> makeCudnnKernel(const CallShape& call, std::shared_ptr<LibraryContext> context) {
  struct Entry {
    const char* op;
    size_t operands;
    std::unique_ptr<LibraryKernel> (*make)(const CallShape&, std::shared_ptr<LibraryContext>);
  };
  auto conv = [](const CallShape& c, std::shared_ptr<LibraryContext> x) -> std::unique_ptr<LibraryKernel> { return std::make_unique<Conv>(c, x); };
  auto pool = [](const CallShape& c, std::shared_ptr<LibraryContext> x) -> std::unique_ptr<LibraryKernel> { return std::make_unique<Pool>(c, x); };
  auto bn = [](const CallShape& c, std::shared_ptr<LibraryContext> x) -> std::unique_ptr<LibraryKernel> { return std::make_unique<BatchNorm>(c, x); };
  static const Entry kOps[] = {
      {"conv2d", 2, conv},          {"conv2d_grad_input", 2, conv},    {"conv2d_grad_weight", 2, conv},
      {"maxpool2d", 1, pool},       {"avgpool2d", 1, pool},            {"maxpool2d_grad", 2, pool},
      {"avgpool2d_grad", 1, pool},  {"batchnorm_train", 3, bn},        {"batchnorm_stats", 1, bn},
      {"batchnorm_train_grad", 4, bn}, {"batchnorm_param_grad", 3, bn}, {"batchnorm_infer", 5, bn},
  };
  for (const Entry& e : kOps) {
    if (call.op != e.op) continue;
    if (call.operands.size() != e.operands) return Error(fmt::format("library descriptor: {} takes {} operands", call.op, e.operands));
    for (const std::vector<int64_t>& d : call.operands)
      if (d.size() != 4 && d.size() != 2) return Error(fmt::format("library descriptor: {} takes NCHW (or [N, C]) operands", call.op));
    return e.make(call, std::move(context));
  }
  return Error(fmt::format("the cuda target's libraries do not run '{}'", call.op));
}

}  // namespace sinter::cuda
