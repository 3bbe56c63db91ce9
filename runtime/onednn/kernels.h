// oneDNN primitives for the ops the dnnl target hands to the library (codegen/onednn/compile.cpp):
// convolution forward and both gradients, matmul, max and average pooling and their gradients.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <cstddef>
#include <memory>
#include <cstdint>
#include <vector>

#include "runtime/json.h"
#include "runtime/library_kernel.h"
#include "runtime/plan.h"

namespace sinter::onednn {


// What every primitive of one executor shares: the CPU engine, its stream, the thread count, and
// one scratch buffer for the blocked copies and workspaces a call uses only while it runs (calls
// run one at a time, so each call's scratch starts at its beginning).
class Context {
 public:
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  int threads = 1;
  // The scratch, 64-byte aligned (blocked layouts want it): `bytes` usable from base().
  void reserve(size_t bytes) {
    if (scratch_.size() < bytes + 64) scratch_.resize(bytes + 64);
  }
  std::byte* base() {
    const auto address = reinterpret_cast<uintptr_t>(scratch_.data());
    return scratch_.data() + (64 - address % 64) % 64;
  }

 private:
  std::vector<std::byte> scratch_;
};

// The kernel for a call's descriptor (PlanCall::library) over the call's buffers (result first),
// or an error: an op this library does not run, or shapes and layouts that are not the buffers'.
Expected<std::unique_ptr<LibraryKernel>> makeKernel(const Json& descriptor, const std::vector<const PlanBuffer*>& buffers,
                                                    std::shared_ptr<Context> context);

}  // namespace sinter::onednn
