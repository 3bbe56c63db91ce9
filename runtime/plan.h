// A compiled plan: what a backend hands to the runtime. The training step and eval are each a
// list of kernel calls over buffers at fixed offsets in two preallocated arenas; the runtime
// interprets nothing else, allocates nothing per step, and needs no LLVM.
#pragma once

#include <cstdint>
#include <string_view>

namespace sinter {

// Persistent buffers (parameters, optimizer and batchnorm state, the step counter, the learning
// rate) live in the state arena and survive across calls; everything else lives in the work
// arena, where the memory planner lets buffers whose lifetimes do not overlap share bytes.
enum class BufferRole : uint8_t { Input, Output, Param, State, Temp, Constant };
enum class BufferType : uint8_t { F32, I32 };

constexpr int kMaxRank = 6;
constexpr int64_t kPlanBatch = -1;  // a dimension equal to the run-time batch size

struct PlanBuffer {
  const char* name;    // "image", "fc1.weight", "probs", "t12"
  BufferRole role;
  BufferType type;
  int32_t rank;
  int64_t dims[kMaxRank];  // kPlanBatch for B
  bool persistent;     // in the state arena (Param, State) rather than the work arena
  int64_t offset;      // byte offset in its arena, 64-byte aligned
  int64_t bytesAtMaxBatch;
  // "" for row-major; "nChw16c" for oneDNN's blocked layout of an [N, C, H, W] temp with C a
  // multiple of 16, element (n, c, h, w) at (((n * C/16 + c/16) * H + h) * W + w) * 16 + c % 16
  // (executors convert on read and write).
  const char* layout;
  // Where the bytes live: false for host memory, true for an accelerator's (the CUDA target's
  // arenas). An executor runs only plans whose buffers are all in memory it can reach.
  bool device;
  // The initial value of a Param or State (IR Init): "zeros", "ones", "constant" (a),
  // "normal" (mean a, std b) or "uniform" (low a, high b); element j draws from Philox stream
  // `initStream` (the global's index in the module) exactly as the reference evaluator's
  // initGlobals does, so one seed gives the same weights on every backend.
  const char* init;
  double initA, initB;
  int32_t initStream;
};

// Whether b is a global's own storage: a Param or State buffer carrying its initializer. Views of a
// global (conv1.bias reshaped to [1, 6, 1, 1] for a broadcast, named after a compiler value such as
// `eval.%5`) are Param or State buffers too, over the same bytes, under names a change to the passes
// renumbers. Checkpoints, initialization, snapshots and parameter counts take the storage only.
inline bool isGlobalStorage(const PlanBuffer& b) {
  return (b.role == BufferRole::Param || b.role == BufferRole::State) && b.init && *b.init;
}

// A kernel computes the slice [begin, end) of its parallel extent; disjoint slices write disjoint
// bytes, so the runner may hand slices to different threads without synchronization.
// bufs[i] is the address of buffer args[i]; batch is the run-time batch size.
using KernelFn = void (*)(void* const* bufs, int64_t batch, int64_t begin, int64_t end);

struct PlanCall {
  const char* name;          // for profiles and errors ("fused_relu_add_3", "matmul_7")
  KernelFn fn;
  const int32_t* args;       // buffer indices
  int32_t numArgs;
  int64_t extentPerBatch;    // parallel extent = extentPerBatch * batch + extentConst
  int64_t extentConst;
  int64_t grain;             // smallest slice worth a thread (in extent units)
  // A call into the target's vendor library instead of generated code (fn is null): the JSON
  // text {"library","op","attrs","operands","result"} that the executor builds its primitive
  // from; "" for generated kernels.
  const char* library;
};

struct PlanFunction {
  const char* name;          // "train_step", "eval", "grad"
  const PlanCall* calls;
  int32_t numCalls;
  const int32_t* inputs;     // buffer indices of the inputs, in signature order
  int32_t numInputs;
  const int32_t* results;    // buffer indices of the results
  const char* const* resultNames;
  int32_t numResults;
};

struct PlanTable {
  const char* model;
  const char* target;        // "cpu"
  int64_t maxBatch;
  int64_t stateBytes;        // the state arena
  int64_t workBytes;         // the work arena at maxBatch
  int64_t unplannedBytes;    // sum of all work buffers at maxBatch, for the report
  const PlanBuffer* buffers;
  int32_t numBuffers;
  const PlanFunction* functions;
  int32_t numFunctions;
  double flopsPerStep;       // of train_step at maxBatch (for `info`)
  // The generated kernels as device code that the executor loads (PTX for cuda), each call's
  // `name` an entry in it; "" for host plans, whose kernels are the calls' fn.
  const char* deviceCode;
};

// The table's buffer named `name`; nullptr if absent.
inline const PlanBuffer* findBuffer(const PlanTable& table, std::string_view name) {
  for (int32_t i = 0; i < table.numBuffers; ++i)
    if (name == table.buffers[i].name) return &table.buffers[i];
  return nullptr;
}

}  // namespace sinter
