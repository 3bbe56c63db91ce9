// Shared machinery of the heavy-kernel generators (internal to codegen/cpu): a kernel's function
// skeleton, loops, masked vector memory access, and the two register-tiled micro-kernels every
// matmul and convolution is built from.
#pragma once

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Module.h>

#include <functional>
#include <string>
#include <vector>

#include "codegen/cpu/heavy_kernels.h"

namespace sinter::cpu::heavy {


// Builds `void NAME(void* const* bufs, i64 batch, i64 begin, i64 end)`, which loads the buffer
// pointers and calls an always-inlined NAME.body whose pointer parameters are noalias (the result
// never overlaps an operand), so LLVM may keep loads and stores apart.
//
// With `sizes` > 0 it builds a shared helper instead: an internal, never-inlined
// `void NAME(ptr x numBufs, i64 x sizes, i64 begin, i64 end)` that kernels of every shape call
// with their sizes, so that one copy of its code serves them all.
class Emitter {
 public:
  Emitter(llvm::Module& m, const std::string& name, int numBufs, const HeavyTarget& target, int sizes = 0);
  llvm::Function* finish();  // closes the body; returns the public function

  llvm::LLVMContext& ctx;
  llvm::IRBuilder<> b;
  std::vector<llvm::Value*> bufs;  // float pointers: [0] result, then operands
  std::vector<llvm::Value*> sizes;  // a helper's size parameters
  llvm::Value* batch = nullptr;      // a kernel's batch size
  llvm::Value* begin;
  llvm::Value* end;
  llvm::Type* f32;
  llvm::Type* i64;
  int lanes;                  // f32 lanes of a vector register
  llvm::FixedVectorType* vf;  // <lanes x float>
  // Register tiles that fit the register file: broadcast tiles of bcastRows x bcastVecs vectors,
  // dot tiles of dotRows x dotCols.
  int bcastRows, bcastVecs, dotRows, dotCols;

  llvm::Value* c(int64_t v) { return b.getInt64(static_cast<uint64_t>(v)); }
  llvm::Value* dim(int64_t d) { return d == kBatch ? batch : c(d); }
  llvm::Value* add(llvm::Value* x, llvm::Value* y) { return b.CreateAdd(x, y); }
  llvm::Value* mul(llvm::Value* x, llvm::Value* y) { return b.CreateMul(x, y); }
  llvm::Value* sub(llvm::Value* x, llvm::Value* y) { return b.CreateSub(x, y); }
  llvm::Value* min(llvm::Value* x, llvm::Value* y) { return b.CreateSelect(b.CreateICmpSLT(x, y), x, y); }
  llvm::Value* max(llvm::Value* x, llvm::Value* y) { return b.CreateSelect(b.CreateICmpSGT(x, y), x, y); }
  llvm::Value* at(llvm::Value* base, llvm::Value* idx) { return b.CreateGEP(f32, base, idx); }

  // for (iv = lo; iv < hi; iv += step) body(iv), signed compare. Only `hot` loops (a tile's
  // reduction) may be unrolled, and only while `unroll` is true: edge tiles run rarely, and
  // unrolled copies of every loop doubled the code LLVM had to compile for no measured speed.
  bool unroll = true;
  void loop(llvm::Value* lo, llvm::Value* hi, int64_t step, const std::function<void(llvm::Value*)>& body,
            bool hot = false);
  void ifThen(llvm::Value* cond, const std::function<void()>& then);
  void ifThenElse(llvm::Value* cond, const std::function<void()>& then, const std::function<void()>& otherwise);
  // A 64-byte aligned array in the entry block (SROA promotes small scalar ones to registers).
  llvm::Value* stackArray(llvm::Type* elem, int64_t count);

  llvm::Value* splat(llvm::Value* s) { return b.CreateVectorSplat(lanes, s); }
  llvm::Value* zeroVec();
  llvm::Value* fma(llvm::Value* x, llvm::Value* y, llvm::Value* acc);
  // <0, 1, ..., lanes-1> as i64.
  llvm::Value* laneIds();
  // Lanes l with l < n (n an i64 value).
  llvm::Value* laneMask(llvm::Value* n);
  // Loads a vector at p; with a mask, masked-off lanes read as 0 and are not accessed.
  llvm::Value* loadVec(llvm::Value* p, llvm::Value* mask);
  void storeVec(llvm::Value* v, llvm::Value* p, llvm::Value* mask);
  llvm::Value* gatherVec(llvm::Value* base, llvm::Value* idx, llvm::Value* mask);
  llvm::Value* loadF(llvm::Value* p) { return b.CreateLoad(f32, p); }
  void storeF(llvm::Value* v, llvm::Value* p) { b.CreateStore(v, p); }
  llvm::Value* hsum(llvm::Value* v);  // horizontal sum (tree order)

 private:
  llvm::Function* outer_;
  llvm::Function* body_;
  llvm::BasicBlock* entry_;
};

// C[i, j..j+lanes*nv) (+)= sum over k0 < k0n, k1 < k1n, k2 < k2n of A(i, k0, k1, k2) *
// B(k0, k1, k2, j..j+lanes*nv), with A(i,k0,k1,k2) = a[i*sai + k0*sa0 + k1*sa1 + k2*sa2]
// broadcast and B rows contiguous in j: B(k0,k1,k2,j) = bp[k0*sb0 + k1*sb1 + k2*sb2 + j],
// C(i,j) = cp[i*sci + j]. k0 is optional (k0n nullptr: one step). masks[v] (nullptr = all lanes)
// limits vector v's stores of C and, unless `wholeB` (B readable past the masked lanes, whose
// values only reach masked-off lanes of C), its loads of B. With `accumulate` (an i1, or nullptr
// for false) C's old values are added.
struct BcastTile {
  int mr = 1;
  int nv = 1;
  llvm::Value *a, *sai, *sa1, *sa2, *sa0 = nullptr;
  llvm::Value *bp, *sb1, *sb2, *sb0 = nullptr;
  llvm::Value *cp, *sci;
  llvm::Value *k1n, *k2n, *k0n = nullptr;
  llvm::Value* accumulate = nullptr;
  std::vector<llvm::Value*> masks;
  bool wholeB = false;
  // Elements between vector v and v + 1 of a B row and of a C row (nullptr: lanes, one
  // contiguous run). A tile whose vectors are the rows of a narrow image sets them.
  llvm::Value *sbv = nullptr, *scv = nullptr;
  // Rows of the tile that exist (nullptr: all mr). The others read the last real row again and
  // store nothing (forRowTilesClamped).
  llvm::Value* rows = nullptr;
};
void emitBcastTile(Emitter& e, const BcastTile& t);

// C(i, j) (+)= sum over r1 < r1n, r < rn of A(i, r1, r) * B(j, r1, r) for i < mi, j < mj, with
// rows contiguous in r: A(i,r1,r) = a[i*sai + r1*sa1 + r], B(j,r1,r) = bp[j*sbj + r1*sb1 + r],
// C(i,j) = cp[i*sci + j*scj]. Vectorized over r with a masked tail and summed across lanes at
// the end.
struct DotTile {
  int mi = 1;
  int mj = 1;
  llvm::Value *a, *sai, *sa1;
  llvm::Value *bp, *sbj, *sb1;
  llvm::Value *cp, *sci, *scj;
  llvm::Value *r1n, *rn;
  llvm::Value* accumulate = nullptr;
  llvm::Value* rows = nullptr;  // real rows i of the tile, as in BcastTile
};
void emitDotTile(Emitter& e, const DotTile& t);

// Calls tile(i0, mr) over rows [lo, hi) in tiles of `mr` rows, the remainder (1..mr-1 rows) as one
// smaller tile.
void forRowTiles(Emitter& e, llvm::Value* lo, llvm::Value* hi, int mr, const std::function<void(llvm::Value*, int)>& tile);
// The same, but when the row count is not a constant the remainder runs as one mr-row tile told
// how many of its rows are real: tile(i0, mr, rows), rows nullptr in exact tiles. One copy of the
// tile's code instead of mr - 1, for at most mr - 1 rows of repeated work per slice.
void forRowTilesClamped(Emitter& e, llvm::Value* lo, llvm::Value* hi, int mr,
                        const std::function<void(llvm::Value*, int, llvm::Value*)>& tile);
// Calls tile(j0, nv, masks) over columns [0, n) in blocks of nvMax vectors; the tail block gets
// masks (constant when n is).
void forColumnBlocks(Emitter& e, int64_t n, int nvMax,
                     const std::function<void(llvm::Value*, int, const std::vector<llvm::Value*>&)>& tile);
// The same for a column count known only at run time: the tail goes one masked vector at a time.
void forColumnBlocks(Emitter& e, llvm::Value* n, int nvMax,
                     const std::function<void(llvm::Value*, int, const std::vector<llvm::Value*>&)>& tile);

// The family generators (matmul_kernel.cpp, conv_kernel.cpp, pool_kernel.cpp).
Expected<HeavyKernel> emitMatMul(llvm::Module& m, const Attrs& attrs, const std::vector<TensorType>& in,
                                 const TensorType& out, const std::string& name, const HeavyTarget& target);
Expected<HeavyKernel> emitConv(llvm::Module& m, OpKind op, const Attrs& attrs, const std::vector<TensorType>& in,
                               const TensorType& out, const std::string& name, const HeavyTarget& target);
// `blocked`: every argument is in the NChw16c layout (maxpool2d_grad only).
Expected<HeavyKernel> emitPool(llvm::Module& m, OpKind op, const Attrs& attrs, const std::vector<TensorType>& in,
                               const TensorType& out, const std::string& name, const HeavyTarget& target, bool blocked);

}  // namespace sinter::cpu::heavy
