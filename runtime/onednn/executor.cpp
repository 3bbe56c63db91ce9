// The dnnl executor: one LibraryKernel per library call, OpenMP workers for the generated kernels.
#include "runtime/onednn/executor.h"

#include <fmt/format.h>
#include <omp.h>

#include <thread>

#include "runtime/onednn/kernels.h"
#include "runtime/program.h"
#include "runtime/thread_pool.h"

namespace sinter::onednn {

namespace {

// The generated kernels' slices on OpenMP's team: oneDNN (built with GNU OpenMP) runs on the same
// threads, so between a primitive and the next loop no second pool spins for the cores.
class OmpWorkers final : public Workers {
 public:
  explicit OmpWorkers(int threads) : threads_(threads) {}
  int size() const override { return threads_; }
  void run(int64_t n, Task task, void* context) override {
#pragma omp parallel for num_threads(threads_) schedule(static)
    for (int64_t i = 0; i < n; ++i) task(context, i);
  }

 private:
  int threads_;
};

}  // namespace

Expected<std::unique_ptr<Executor>> makeExecutor(const PlanTable& table, int threads, uint64_t seed) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  auto context = std::make_shared<Context>();
  context->threads = threads;
  LibraryKernels kernels;
  for (int32_t f = 0; f < table.numFunctions; ++f)
    for (int32_t c = 0; c < table.functions[f].numCalls; ++c) {
      const PlanCall& call = table.functions[f].calls[c];
      if (!call.library || !*call.library) {
        kernels.push_back(nullptr);
        continue;
      }
      Expected<Json> descriptor = parseJson(call.library);
      if (!descriptor) return Error(fmt::format("plan call '{}': library descriptor: {}", call.name, descriptor.error().message()));
      std::vector<const PlanBuffer*> buffers;
      for (int32_t a = 0; a < call.numArgs; ++a) buffers.push_back(&table.buffers[call.args[a]]);
      Expected<std::unique_ptr<LibraryKernel>> k = makeKernel(*descriptor, buffers, context);
      if (!k) return Error(fmt::format("plan call '{}': {}", call.name, k.error().message()));
      kernels.push_back(k.take());
    }
  return std::unique_ptr<Executor>(std::make_unique<Program>(table, std::make_unique<OmpWorkers>(threads), std::move(kernels), seed));
}

}  // namespace sinter::onednn
