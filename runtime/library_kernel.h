// A plan call that runs in a vendor library instead of generated code (PlanCall::library). A
// library's executor makes one LibraryKernel per such call from its descriptor; the host executor
// (Program) prepares it per batch size and calls it in order with the generated kernels.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "support/error.h"

namespace sinter {

class LibraryKernel {
 public:
  virtual ~LibraryKernel() = default;
  // Builds what batch size `batch` needs (primitives, reorders, workspaces); the executor calls it
  // when the batch size changes, never inside a step.
  virtual Status prepare(int64_t batch) = 0;
  // bufs[i] is the address of the call's args[i] (args[0] the result); prepared for `batch`.
  virtual void run(void* const* bufs, int64_t batch) = 0;
  // What was chosen, for `info` ("conv2d 3x32x32 -> 32x32x32: jit:avx512_core"); after prepare.
  virtual std::string describe() const = 0;
};

// Per plan call, in Program's order (function by function, call by call): the library kernel, or
// null for a generated kernel.
using LibraryKernels = std::vector<std::unique_ptr<LibraryKernel>>;

}  // namespace sinter
