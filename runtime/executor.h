// What runs a compiled plan, whatever the target. The trainer, checkpoints, `sinter run` and the
// verbs reach buffers only through read and write: a target's buffers may live in device memory
// or in a library's blocked layout, so nobody outside the executor holds a pointer into them.
// prepare builds what a batch size needs (library primitives, a CUDA graph) once per size.
#pragma once

#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "runtime/plan.h"
#include "support/error.h"

namespace sinter {

class Executor {
 public:
  virtual ~Executor() = default;

  virtual const PlanTable& table() const = 0;
  // Threads the kernels run on (for reports).
  virtual int threads() const = 0;
  // Makes run(_, batch) ready; an error for a batch outside [1, maxBatch]. Cheap when repeated.
  virtual Status prepare(int64_t batch) = 0;
  // Runs function `name` ("train_step", "eval", "grad") on the inputs already written, with
  // B = batch. Errors: unknown function, bad batch.
  virtual Status run(std::string_view name, int64_t batch) = 0;
  // run, timing each kernel call (on the executor's threads, as run splits it): adds call c's
  // seconds to seconds[c] (sized to the function's calls). For profiles (step_bench --profile),
  // not for training.
  virtual Status profile(std::string_view name, int64_t batch, std::vector<double>& seconds) = 0;
  // The buffer's elements at batch size `batch` (row-major, its dtype: 4 bytes each) to or from
  // host memory; `bytes` must hold exactly elements(b, batch) of them.
  virtual void read(const PlanBuffer& b, int64_t batch, std::span<std::byte> bytes) = 0;
  virtual void write(const PlanBuffer& b, int64_t batch, std::span<const std::byte> bytes) = 0;
  // The library calls and the implementation each chose at the last prepare (for `info`).
  virtual std::vector<std::string> libraryCalls() const { return {}; }

  // Buffer lookup by name; nullptr if absent.
  const PlanBuffer* buffer(std::string_view name) const { return findBuffer(table(), name); }
  static int64_t elements(const PlanBuffer& b, int64_t batch) {
    int64_t n = 1;
    for (int32_t d = 0; d < b.rank; ++d) n *= b.dims[d] == kPlanBatch ? batch : b.dims[d];
    return n;
  }

  // A read or write of `bytes` bytes must be the buffer's elements at `batch` (4 bytes each), and
  // within the bytes planned for it: anything else is a caller's bug, stopped before it corrupts
  // memory (abort with the buffer's name).
  static void checkTransfer(const PlanBuffer& b, int64_t batch, size_t bytes) {
    const int64_t want = elements(b, batch) * 4;
    if (batch < 1 || static_cast<int64_t>(bytes) != want || want > b.bytesAtMaxBatch) {
      std::fprintf(stderr, "sinter: internal error: %zu bytes for buffer '%s' (%lld elements at batch %lld)\n", bytes,
                   b.name, static_cast<long long>(elements(b, batch)), static_cast<long long>(batch));
      std::abort();
    }
  }

  // Typed copies: T is float for f32 buffers and int32_t for i32 buffers.
  template <typename T>
  std::vector<T> readAs(const PlanBuffer& b, int64_t batch) {
    assert(holds<T>(b));
    std::vector<T> out(static_cast<size_t>(elements(b, batch)));
    read(b, batch, std::as_writable_bytes(std::span(out)));
    return out;
  }
  // A one-element buffer (the loss, the step counter): no allocation, for the training loop.
  template <typename T>
  T readScalar(const PlanBuffer& b) {
    assert(holds<T>(b));
    T value{};
    read(b, 1, std::as_writable_bytes(std::span(&value, 1)));
    return value;
  }
  template <typename T>
  void writeScalar(const PlanBuffer& b, T value) {
    writeFrom<T>(b, 1, std::span<const T>(&value, 1));
  }
  template <typename T>
  void writeFrom(const PlanBuffer& b, int64_t batch, std::span<const T> values) {
    assert(holds<T>(b) && static_cast<int64_t>(values.size()) == elements(b, batch));
    write(b, batch, std::as_bytes(values));
  }

 private:
  template <typename T>
  static bool holds(const PlanBuffer& b) {
    return b.type == (std::is_same_v<T, int32_t> ? BufferType::I32 : BufferType::F32) && sizeof(T) == 4;
  }
};

// The executor for `table`'s target (PlanTable::target), with its Params and State initialized
// from `seed`; `threads` 0 means all cores. An error names a target this runtime cannot run.
Expected<std::unique_ptr<Executor>> makeExecutor(const PlanTable& table, int threads, uint64_t seed);
// Whether this machine can run plans of `target`: an error that says why not (the cuda executor
// without a GPU), or for a target this runtime has no executor for. Tests skip on it.
Status canRun(std::string_view target);

}  // namespace sinter
