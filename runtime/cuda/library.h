// The cuda executor's library calls: cuBLAS for matmul. The cuDNN calls (convolutions, pooling,
// batch norm) are not written yet: a plan with one is refused when the executor is made, naming
// the op.
#pragma once

#include <memory>
#include <vector>

#include "runtime/cuda/driver.h"
#include "runtime/json.h"
#include "runtime/library_kernel.h"
#include "runtime/plan.h"

namespace sinter::cuda {

// What the library calls of one executor share: the stream they are queued on, the cuBLAS handle,
// and the first error a call met (LibraryKernel::run returns nothing; the executor checks it after
// queueing a function).
struct LibraryContext {
  CUstream stream = nullptr;
  const Cublas* cublas = nullptr;
  cublasHandle_t handle = nullptr;
  Status error = ok();
};

// The kernel for a call's descriptor (PlanCall::library) over its buffers (result first).
Expected<std::unique_ptr<LibraryKernel>> makeLibraryKernel(const Json& descriptor, const std::vector<const PlanBuffer*>& buffers,
                                                           std::shared_ptr<LibraryContext> context);

}  // namespace sinter::cuda
