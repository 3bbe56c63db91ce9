// cuBLAS calls of the cuda executor (see library.h).
#include "runtime/cuda/library.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

namespace sinter::cuda {

namespace {

Expected<std::vector<int64_t>> dimsOf(const Json* j, const char* what) {
  if (!j || !j->isArray() || j->asArray().size() > kMaxRank) return Error(fmt::format("library descriptor: {} must be a list of dims", what));
  std::vector<int64_t> d;
  for (const Json& e : j->asArray()) {
    if (!e.isInt() || (e.asInt() < 1 && e.asInt() != kPlanBatch)) return Error(fmt::format("library descriptor: {} has a bad dim", what));
    d.push_back(e.asInt());
  }
  return d;
}

int64_t at(int64_t dim, int64_t batch) { return dim == kPlanBatch ? batch : dim; }

bool flag(const Json& attrs, const char* key) {
  const Json* v = attrs.find(key);
  return v && v->isBool() && v->asBool();
}

// c[M,N] = op(a) op(b), row-major, either operand stored transposed. cuBLAS is column-major: a
// row-major [R,C] matrix is its transpose there, so it computes c^T = op(b)^T op(a)^T.
class CublasMatMul final : public LibraryKernel {
 public:
  CublasMatMul(std::shared_ptr<LibraryContext> context, std::vector<int64_t> a, std::vector<int64_t> b, bool ta, bool tb)
      : context_(std::move(context)), a_(std::move(a)), b_(std::move(b)), ta_(ta), tb_(tb) {}

  Status prepare(int64_t batch) override {
    m_ = at(ta_ ? a_[1] : a_[0], batch);
    k_ = at(ta_ ? a_[0] : a_[1], batch);
    n_ = at(tb_ ? b_[0] : b_[1], batch);
    constexpr int64_t kMax = std::numeric_limits<int>::max();
    if (m_ > kMax || n_ > kMax || k_ > kMax) return Error(fmt::format("matmul {}x{}x{}: dims beyond cuBLAS's int", m_, k_, n_));
    return ok();
  }

  void run(void* const* bufs, int64_t) override {
    LibraryContext& c = *context_;
    if (!c.error) return;
    const float one = 1, zero = 0;
    const int m = static_cast<int>(m_), n = static_cast<int>(n_), k = static_cast<int>(k_);
    c.error = c.cublas->check(
        c.cublas->cublasSgemm_v2(c.blas, tb_ ? CUBLAS_OP_T : CUBLAS_OP_N, ta_ ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, &one,
                                 static_cast<const float*>(bufs[2]), tb_ ? k : n, static_cast<const float*>(bufs[1]), ta_ ? m : k,
                                 &zero, static_cast<float*>(bufs[0]), n),
        "cublasSgemm");
  }

  std::string describe() const override {
    return fmt::format("matmul {}x{}{} * {}x{}{}: cublasSgemm", m_, k_, ta_ ? " (stored transposed)" : "", k_, n_,
                       tb_ ? " (stored transposed)" : "");
  }

 private:
  std::shared_ptr<LibraryContext> context_;
  std::vector<int64_t> a_, b_;
  bool ta_, tb_;
  int64_t m_ = 0, n_ = 0, k_ = 0;
};

}  // namespace

LibraryContext::~LibraryContext() {
  if (blas) cublas->cublasDestroy_v2(blas);
  if (dnn) cudnn->cudnnDestroy(dnn);
  for (CUdeviceptr r : regions_) driver.cuMemFree_v2(r);
}

Status LibraryContext::useCublas() {
  if (blas) return ok();
  Expected<const Cublas*> lib = sinter::cuda::cublas();
  if (!lib) return lib.error();
  cublas = *lib;
  if (Status s = cublas->check(cublas->cublasCreate_v2(&blas), "cublasCreate"); !s) return s;
  if (Status s = cublas->check(cublas->cublasSetStream_v2(blas, stream), "cublasSetStream"); !s) return s;
  if (Status s = cublas->check(cublas->cublasSetMathMode(blas, CUBLAS_DEFAULT_MATH), "cublasSetMathMode"); !s) return s;
  // Its workspace is ours, so that it allocates nothing while a graph is captured.
  constexpr size_t kWorkspace = 32 << 20;
  CUdeviceptr workspace = 0;
  if (Status s = driver.check(driver.cuMemAlloc_v2(&workspace, kWorkspace), "cuMemAlloc (cuBLAS's workspace)"); !s) return s;
  regions_.push_back(workspace);
  return cublas->check(cublas->cublasSetWorkspace_v2(blas, reinterpret_cast<void*>(workspace), kWorkspace), "cublasSetWorkspace");
}

Status LibraryContext::useCudnn() {
  if (dnn) return ok();
  Expected<const Cudnn*> lib = sinter::cuda::cudnn();
  if (!lib) return lib.error();
  cudnn = *lib;
  if (Status s = cudnn->check(cudnn->cudnnCreate(&dnn), "cudnnCreate"); !s) return s;
  return cudnn->check(cudnn->cudnnSetStream(dnn, stream), "cudnnSetStream");
}

Status LibraryContext::reserve(size_t bytes) {
  if (bytes <= scratchBytes_) return ok();
  CUdeviceptr region = 0;
  if (Status s = driver.check(driver.cuMemAlloc_v2(&region, bytes), "cuMemAlloc (library scratch)"); !s) return s;
  regions_.push_back(region);
  scratch_ = region;
  scratchBytes_ = bytes;
  return ok();
}

Expected<std::unique_ptr<LibraryKernel>> makeLibraryKernel(const Json& descriptor, const std::vector<const PlanBuffer*>& buffers,
                                                           std::shared_ptr<LibraryContext> context) {
  const Json* library = descriptor.find("library");
  const Json* op = descriptor.find("op");
  if (!library || !library->isString() || library->asString() != "cuda")
    return Error("library descriptor: not a call into the cuda target's libraries (\"library\": \"cuda\")");
  if (!op || !op->isString()) return Error("library descriptor: no \"op\"");
  CallShape call;
  call.op = op->asString();
  if (const Json* a = descriptor.find("attrs"); a && a->isObject()) call.attrs = *a;
  const Json* operands = descriptor.find("operands");
  if (!operands || !operands->isArray()) return Error(fmt::format("library descriptor: {} has no operands", call.op));
  for (const Json& o : operands->asArray()) {
    Expected<std::vector<int64_t>> dims = dimsOf(&o, "an operand");
    if (!dims) return dims.error();
    call.operands.push_back(dims.take());
  }
  Expected<std::vector<int64_t>> result = dimsOf(descriptor.find("result"), "the result");
  if (!result) return result.error();
  call.result = result.take();
  std::vector<std::vector<int64_t>> argDims{call.result};
  argDims.insert(argDims.end(), call.operands.begin(), call.operands.end());
  if (const Json* more = descriptor.find("more_results"); more && more->isArray()) {
    if (more->asArray().size() > 1) return Error(fmt::format("library descriptor: {} writes at most one further result", call.op));
    for (const Json& r : more->asArray()) {
      Expected<std::vector<int64_t>> dims = dimsOf(&r, "a further result");
      if (!dims) return dims.error();
      argDims.push_back(dims.take());
      call.paired = true;
    }
  }
  // The shapes are the call's buffers' (row-major): a library call never touches bytes outside the
  // buffers the plan placed, whatever a plan file says.
  if (buffers.size() != argDims.size())
    return Error(fmt::format("library descriptor: {} has {} arguments but the call passes {}", call.op, argDims.size(), buffers.size()));
  for (size_t i = 0; i < buffers.size(); ++i) {
    const PlanBuffer& b = *buffers[i];
    if (argDims[i].size() != static_cast<size_t>(b.rank) || !std::equal(argDims[i].begin(), argDims[i].end(), b.dims) ||
        (b.layout && *b.layout))
      return Error(fmt::format("library descriptor: argument {} does not match buffer '{}'", i, b.name));
  }
  if (call.op == "matmul") {
    if (call.operands.size() != 2 || call.operands[0].size() != 2 || call.operands[1].size() != 2)
      return Error("library descriptor: cuBLAS matmul takes two rank-2 operands");
    if (Status s = context->useCublas(); !s) return s.error();
    return std::unique_ptr<LibraryKernel>(std::make_unique<CublasMatMul>(std::move(context), call.operands[0], call.operands[1],
                                                                         flag(call.attrs, "transpose_a"), flag(call.attrs, "transpose_b")));
  }
  if (Status s = context->useCudnn(); !s) return s.error();
  return makeCudnnKernel(call, std::move(context));
}

}  // namespace sinter::cuda
