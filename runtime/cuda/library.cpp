// cuBLAS calls of the cuda executor (see library.h).
#include "runtime/cuda/library.h"

#include <fmt/format.h>

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
        c.cublas->cublasSgemm_v2(c.handle, tb_ ? CUBLAS_OP_T : CUBLAS_OP_N, ta_ ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, &one,
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

Expected<std::unique_ptr<LibraryKernel>> makeLibraryKernel(const Json& descriptor, const std::vector<const PlanBuffer*>& buffers,
                                                           std::shared_ptr<LibraryContext> context) {
  const Json* library = descriptor.find("library");
  const Json* op = descriptor.find("op");
  if (!library || !library->isString() || library->asString() != "cuda")
    return Error("library descriptor: not a call into the cuda target's libraries (\"library\": \"cuda\")");
  if (!op || !op->isString()) return Error("library descriptor: no \"op\"");
  Json attrs = Json::object();
  if (const Json* a = descriptor.find("attrs"); a && a->isObject()) attrs = *a;
  const Json* operands = descriptor.find("operands");
  if (op->asString() == "matmul") {
    if (!operands || !operands->isArray() || operands->asArray().size() != 2 || buffers.size() != 3)
      return Error("library descriptor: matmul takes 2 operands");
    Expected<std::vector<int64_t>> a = dimsOf(&operands->asArray()[0], "an operand");
    Expected<std::vector<int64_t>> b = dimsOf(&operands->asArray()[1], "an operand");
    if (!a) return a.error();
    if (!b) return b.error();
    if (a->size() != 2 || b->size() != 2) return Error("library descriptor: cuBLAS matmul takes rank-2 operands");
    return std::unique_ptr<LibraryKernel>(std::make_unique<CublasMatMul>(std::move(context), a.take(), b.take(),
                                                                         flag(attrs, "transpose_a"), flag(attrs, "transpose_b")));
  }
  return Error(fmt::format("the cuda executor does not run '{}' yet (its cuDNN call is still to be written)", op->asString()));
}

}  // namespace sinter::cuda
