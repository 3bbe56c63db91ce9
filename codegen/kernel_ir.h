// The kernel-level IR: an optimized function (@train_step, @eval, @grad) as a list of kernels over
// named buffers with a memory plan. Backend-neutral (no LLVM): the CPU backend lowers each kernel to
// one function, and the runtime's plan is this IR with each kernel bound to its code.
//
// buildKernels runs lower-to-kernels (here), then the kernel-IR passes of kernel_passes.h
// (fuse-loops, select-library-kernels, assign-layouts, fuse-epilogues, place-stores,
// collapse-loops, fuse-siblings, concat-loops, plan-memory; kernel_passes.cpp says why in that order). Lowering:
//  1. Each pointwise op (fusion class Elementwise/Broadcast) and each reduction is a loop kernel of
//     its own, over its operands in memory; fuse-loops then computes values inside the loops that
//     read them. View ops (reshape, broadcast, transpose) are index maps on the buffers a kernel
//     reads; a reshape of a buffer is an alias of its bytes. Constants and numel are immediates.
//     Everything else (fusion class OutFusable, Opaque, non-view Injective) is an op kernel over
//     materialized operands. Decisions read fusion classes and the view table below, never op
//     names.
//  2. Each store is a copy of its value into the global after every other kernel (place-stores
//     then writes what it can in place).
// Loop kernels with several results (fuse-siblings) keep the first in args[0], root, reduceRoot
// and outStrides, the others in moreOutputs; loopOutputs() lists them all.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "ir/module.h"
#include "runtime/plan.h"

namespace sinter::kir {

// An extent, stride or count: perBatch * B + constant (B appears at most once per shape).
struct Lin {
  int64_t perBatch = 0, constant = 0;
  int64_t at(int64_t batch) const { return perBatch * batch + constant; }
  bool isConst() const { return perBatch == 0; }
  bool operator==(const Lin&) const = default;
};
Lin dimLin(int64_t dim);  // kBatch -> B
// Row-major element strides of dims (B symbolic).
std::vector<Lin> contiguousStrides(const Dims& dims);
std::string formatLin(const Lin&);

// How a buffer's elements are laid out. Plain is row-major. NChw16c is oneDNN's blocked layout of
// an [N, C, H, W] activation with C a multiple of 16: element (n, c, h, w) at
// (((n * C/16 + c/16) * H + h) * W + w) * 16 + c % 16, what its convolutions and pooling run on
// fastest (assign-layouts).
enum class Layout : uint8_t { Plain, NChw16c };
constexpr int64_t kChannelBlock = 16;
const char* layoutName(Layout);  // "" for Plain, "nChw16c"

// Where a buffer's bytes live: the host's memory, or an accelerator's (the CUDA target's arenas;
// its executor copies inputs in and results out). Executors refuse plans in memory they cannot
// reach (runtime/executor.cpp).
enum class MemorySpace : uint8_t { Host, Device };

struct Buffer {
  std::string name;
  MemorySpace space = MemorySpace::Host;
  Layout layout = Layout::Plain;
  BufferRole role;
  TensorType type;
  bool persistent = false;   // state arena
  int64_t offset = 0;        // bytes, in its arena
  int64_t bytesAtMax = 0;
  int32_t storage = -1;      // the buffer whose bytes this one is (itself unless an alias)
  int64_t storageOffset = 0;  // an alias's first byte within its storage (concat-loops' groups)
  int32_t global = -1;       // module global index for Param/State
  int32_t function = -1;     // owning function for temps/outputs, -1 if shared
};

// One node of a loop kernel's expression tree.
enum class ExprKind : uint8_t { Op, Read, Const, Count, Acc };
struct Expr {
  ExprKind kind;
  DType dtype = DType::F32;
  OpKind op = OpKind::Constant;   // Op
  Attrs attrs;                    // Op
  std::vector<int32_t> operands;  // Op: earlier exprs
  int32_t arg = -1;               // Read: index into Kernel::args
  std::vector<Lin> strides;       // Read: elements per step of each iteration-space dim
  double value = 0;               // Const
  Lin count;                      // Count: the value, as a float
  bool operator==(const Expr&) const = default;
};

enum class KernelKind : uint8_t {
  Loop,  // a loop nest over `space` computing exprs (optionally with one reduction)
  Op,    // one op over materialized operands (heavy ops, softmax, one_hot, concat, ...)
  Library,  // an Op kernel the target runs as a call into a vendor library (select-library-kernels)
};

// A result of a loop kernel: args[arg] gets `root` at `outStrides` over the kept dims; when the
// kernel reduces, `reduceRoot` is accumulated over the reduced dims with `reduceOp` and `root`
// reads the accumulator through Acc.
struct LoopOutput {
  int32_t arg = 0;
  int32_t root = -1;
  int32_t reduceRoot = -1;
  OpKind reduceOp = OpKind::Sum;
  std::vector<Lin> outStrides;
  bool operator==(const LoopOutput&) const = default;
};

struct Kernel {
  std::string name;
  KernelKind kind = KernelKind::Loop;
  std::vector<int32_t> args;  // buffer indices; args[0] is the output
  std::vector<OpKind> ops;    // the graph ops it computes, for people
  // Loop: the iteration space, kept dims first then reduced dims (reduce input order within each).
  std::vector<Lin> space;
  int32_t numKept = 0;          // space[0, numKept) are output dims, the rest are reduced
  // A reduction whose last kept dim (a constant extent) is iterated inside the reduced dims, one
  // accumulator per index, so that its reads are contiguous (assign-layouts' channel blocks).
  bool innerKept = false;
  OpKind reduceOp = OpKind::Sum;
  int32_t reduceRoot = -1;      // expr reduced over the reduced dims (-1: no reduction)
  std::vector<Expr> exprs;
  int32_t root = -1;            // the output value (may read the accumulator through Acc)
  std::vector<Lin> outStrides;  // output element stride per kept dim
  bool outputAliasesArg = false;  // the output is an argument's storage too (an in-place store)
  // Loop: results beyond args[0] over the same space (fuse-siblings), each with its own
  // expression tree (and accumulator, when the kernel reduces). All roots are computed before any
  // result is stored.
  std::vector<LoopOutput> moreOutputs;
  std::string library;  // Library: which library ("dnnl")
  // Op, Library: the op and its operand/result types (operands are args[1..]).
  OpKind op = OpKind::Constant;
  Attrs attrs;
  std::vector<TensorType> operandTypes;
  TensorType resultType;
};

// Every result of a loop kernel, args[0]'s first; an Op or Library kernel's one result (root -1).
std::vector<LoopOutput> loopOutputs(const Kernel& k);
// Whether kernel k writes buffer index b (its args[0] or a further loop result).
bool writesArg(const Kernel& k, size_t argIndex);

struct KFunction {
  std::string name;
  std::vector<Kernel> kernels;
  std::vector<int32_t> inputs;                             // buffer indices, signature order
  std::vector<std::pair<std::string, int32_t>> results;    // name -> buffer
};

// The ops a target's vendor library runs instead of generated code (oneDNN's conv, matmul, pooling).
struct LibraryOps {
  std::string name;  // "dnnl"
  std::vector<OpKind> ops;
  // Per op, the kernel arguments (0 the result, then the operands) that the library reads or
  // writes in the NChw16c layout as readily as plain (assign-layouts).
  std::vector<std::pair<OpKind, std::vector<int32_t>>> blockedArgs;
  // Ops the library takes only where their first operand's channels (axis 1 of a rank-4 operand)
  // are a multiple of kChannelBlock, so that it can run them in its blocked layout.
  std::vector<OpKind> blockedOnly;
  // Ops the target generates code for (not library calls) that run in the NChw16c layout when
  // every argument is in it (assign-layouts): the max-pool gradient.
  std::vector<OpKind> generatedBlocked;
  // Ops that run a following bias add and ReLU themselves (fuse-epilogues).
  std::vector<OpKind> epilogueOps;
  // (op, partner): one call of op also computes partner's result over the same operands
  // (fuse-siblings pairs their kernels): oneDNN's batch normalization writes y with the
  // statistics, and dx with the parameters' gradients.
  std::vector<std::pair<OpKind, OpKind>> pairs;
  // Whether the library runs op, whose first operand has type x (select-library-kernels, and the
  // graph pipeline, which keeps the batch-norm ops the library runs).
  bool runs(OpKind op, const TensorType& x) const {
    const bool blockable = x.rank() == 4 && x.dims[1] != kBatch && x.dims[1] % kChannelBlock == 0;
    return takes(op) && (!onlyBlocked(op) || blockable);
  }
  bool computesWith(OpKind op, OpKind partner) const {
    return std::find(pairs.begin(), pairs.end(), std::pair{op, partner}) != pairs.end();
  }
  bool fusesEpilogue(OpKind op) const { return std::find(epilogueOps.begin(), epilogueOps.end(), op) != epilogueOps.end(); }
  bool takes(OpKind op) const { return std::find(ops.begin(), ops.end(), op) != ops.end(); }
  bool onlyBlocked(OpKind op) const { return std::find(blockedOnly.begin(), blockedOnly.end(), op) != blockedOnly.end(); }
  bool takesBlocked(OpKind op, int32_t arg) const {
    for (const auto& [o, args] : blockedArgs)
      if (o == op) return std::find(args.begin(), args.end(), arg) != args.end();
    return false;
  }
};

struct KProgram {
  std::string model;
  LibraryOps library;  // the target's (empty: everything is generated)
  int64_t maxBatch = 64;
  std::vector<Buffer> buffers;
  std::vector<KFunction> functions;
  int64_t stateBytes = 0, workBytes = 0, unplannedBytes = 0;
};

// Lowers every function of `m` (which must verify; @forward is skipped when @eval exists) to
// kernels, with every store a trailing copy and no memory plan yet (every offset 0).
Expected<KProgram> lowerToKernels(const Module& m, int64_t maxBatch);

// "train_step_k12_add_mul": the function, the kernel's index in it, its ops (C identifier).
std::string kernelName(const std::string& function, size_t index, const std::vector<OpKind>& ops);
// Renames f's kernels after a pass removed or merged some: names carry their index, kept dense.
void renameKernels(KFunction& f);
// A loop copying buffer `from` into `to`, both row-major of `type`; `op` names it (a store's copy
// into its global or a result's is OpKind::Store).
Kernel copyLoop(int32_t from, int32_t to, const TensorType& type, OpKind op);
// Whether k is the copy lower-to-kernels made for a store or a function result.
bool isStoreCopy(const Kernel& k);
// The index of `buffer` among k's arguments, appended when it is not one yet.
int32_t argIndex(Kernel& k, int32_t buffer);
// Removes argument `arg` of k, which no expression reads and no result writes.
void removeArg(Kernel& k, int32_t arg);
// The storages a kernel reads and writes: an Op or Library kernel reads every operand, a loop
// kernel what its Read expressions name.
struct Access {
  std::set<int32_t> reads, writes;
};
Access accessOf(const KProgram& p, const Kernel& k);
bool meets(const std::set<int32_t>& x, const std::set<int32_t>& y);
// Whether f's kernel k commutes with every kernel strictly between i and j: none of them writes a
// storage k reads, or touches a storage k writes (so k may move anywhere in [i, j]).
bool commutesWithBetween(const KProgram& p, const KFunction& f, size_t k, size_t i, size_t j);
// Whether buffers a and b are the same bytes (one storage, the same offset in it, the same size).
inline bool sameBytes(const KProgram& p, int32_t a, int32_t b) {
  const Buffer &x = p.buffers[a], &y = p.buffers[b];
  return x.storage == y.storage && x.storageOffset == y.storageOffset && x.bytesAtMax == y.bytesAtMax;
}
// Removes the buffers that no kernel, function or alias refers to any more (after a fusion) and
// renumbers every index into the buffer table.
void dropUnusedBuffers(KProgram& p);

// Arena offsets are multiples of kAlign bytes.
constexpr int64_t kAlign = 64;
inline int64_t alignUp(int64_t x) { return (x + kAlign - 1) / kAlign * kAlign; }

// Function f's work storages (buffers that are their own storage, not persistent, not inputs) with
// the kernel interval [first, last] that touches them; results live to the end (index = #kernels).
std::map<int32_t, std::pair<int, int>> liveRanges(const KProgram& p, const KFunction& f, int32_t f_index);

// One line per buffer, one per kernel, and `arena N bytes (sum of buffers M bytes)`.
std::string printKernels(const KProgram& p);

// Checks the memory plan: no two work buffers of a function that are live at the same kernel
// overlap; offsets are 64-byte aligned; the arenas hold every buffer. Returns the first violation.
Status verifyMemoryPlan(const KProgram& p);

// The kernel-IR role of a view op (a pure index map): reshape, broadcast, transpose.
enum class ViewKind : uint8_t { None, Reshape, Broadcast, Transpose };
ViewKind viewKind(OpKind op);

}  // namespace sinter::kir
