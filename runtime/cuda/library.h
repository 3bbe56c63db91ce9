// The cuda executor's library calls: cuBLAS for matmul; cuDNN (its legacy API) for the
// convolutions, pooling and batch normalization (cudnn_kernels.cpp). Full f32 throughout: no TF32
// unless asked for, so that results match the reference evaluator's.
#pragma once

#include <memory>
#include <vector>

#include "runtime/cuda/driver.h"
#include "runtime/json.h"
#include "runtime/library_kernel.h"
#include "runtime/plan.h"

namespace sinter::cuda {

// What the library calls of one executor share: the stream they are queued on, the library handles
// (made when a call first needs one), scratch, and the first error a call met (LibraryKernel::run
// returns nothing; the executor checks it after queueing each call).
class LibraryContext {
 public:
  LibraryContext(const Driver& driver, CUstream stream) : driver(driver), stream(stream) {}
  ~LibraryContext();
  LibraryContext(const LibraryContext&) = delete;
  LibraryContext& operator=(const LibraryContext&) = delete;

  Status useCublas();
  Status useCudnn();
  // Scratch of at least `bytes` from now on: workspaces, and results a call writes that nothing
  // reads. One region serves every call (each uses it only while it runs, and calls run one after
  // another on the stream); prepare grows it. An outgrown region stays allocated until the
  // executor goes: graphs captured for another batch size still point into it.
  Status reserve(size_t bytes);
  CUdeviceptr scratch() const { return scratch_; }

  const Driver& driver;
  CUstream stream;
  const Cublas* cublas = nullptr;
  cublasHandle_t blas = nullptr;
  const Cudnn* cudnn = nullptr;
  cudnnHandle_t dnn = nullptr;
  Status error = ok();

 private:
  CUdeviceptr scratch_ = 0;
  size_t scratchBytes_ = 0;
  std::vector<CUdeviceptr> regions_;
};

// A library call's descriptor (PlanCall::library): the op, its attributes, and the dims of its
// operands and result (kPlanBatch for B).
struct CallShape {
  std::string op;
  Json attrs = Json::object();
  std::vector<std::vector<int64_t>> operands;
  std::vector<int64_t> result;
  bool paired = false;  // it writes a further result (fuse-siblings' pairs), after the operands
};

// The kernel for a call's descriptor over its buffers (result first).
Expected<std::unique_ptr<LibraryKernel>> makeLibraryKernel(const Json& descriptor, const std::vector<const PlanBuffer*>& buffers,
                                                           std::shared_ptr<LibraryContext> context);
// The cuDNN kernel for a convolution, pooling or batch-norm call (cudnn_kernels.cpp).
Expected<std::unique_ptr<LibraryKernel>> makeCudnnKernel(const CallShape& call, std::shared_ptr<LibraryContext> context);

}  // namespace sinter::cuda
