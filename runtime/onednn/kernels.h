// oneDNN primitives for the ops the dnnl target hands to the library (codegen/onednn/compile.cpp):
// convolution forward and both gradients, matmul, max and average pooling and their gradients.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <memory>

#include "runtime/json.h"
#include "runtime/library_kernel.h"

namespace sinter::onednn {

// What every primitive of one executor shares: the CPU engine, its stream, the thread count.
struct Context {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  int threads = 1;
};

// The kernel for a call's descriptor (PlanCall::library), or an error naming an op this library
// does not run.
Expected<std::unique_ptr<LibraryKernel>> makeKernel(const Json& descriptor, std::shared_ptr<Context> context);

}  // namespace sinter::onednn
