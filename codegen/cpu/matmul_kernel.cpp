// The matmul kernel: C[M,N] = op(A)[M,K] op(B)[K,N] over a slice of C's rows.
//
// Algorithm: 6-row x 4-vector (AVX2: 2-vector) broadcast tiles, which read A's scalars in place
// whatever transpose_a says (op(A)(i,k) is a[i*K + k] or a[k*M + i]). With B untransposed its rows
// are contiguous along N and the tile keeps the whole K reduction in registers. A transposed B (a
// linear layer's forward pass) is packed, one column block at a time, in K blocks of 256 into a
// stack panel whose rows are contiguous, each K block adding into C. (Dot tiles that reduce in
// vector lanes need no packing but ran at half the speed: W^T's 4-6 rows stream from L2.) The
// parallel extent is C's rows; a slice may start anywhere and its last rows form one smaller tile.
// The loops take M, N and K at run time, so one helper per transpose pair serves all matmuls.
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "codegen/cpu/heavy_emit.h"

namespace sinter::cpu::heavy {

using llvm::Value;

namespace {

constexpr int64_t kPackK = 256;
constexpr double kGrainFlops = 1e6;             // about 10 us of work: less is not worth a thread
constexpr int64_t kAssumedBatch = 64;           // for sizing the grain when B is a dimension

// void NAME(C, A, B, i64 M, i64 N, i64 K, i64 begin, i64 end): rows [begin, end) of
// C[M,N] = op(A)[M,K] op(B)[K,N], for any sizes.
llvm::Function* emitMatMulHelper(llvm::Module& m, const std::string& name, bool ta, bool tb, const HeavyTarget& target) {
  Emitter e(m, name, 3, target, 3);
  const int kBcastRows = e.bcastRows, kBcastVecs = e.bcastVecs;
  Value *C = e.bufs[0], *A = e.bufs[1], *B = e.bufs[2];
  Value *Mv = e.sizes[0], *Nv = e.sizes[1], *Kv = e.sizes[2];
  Value* sai = ta ? e.c(1) : Kv;  // op(A)(i, k) = A[i*sai + k*sak]
  Value* sak = ta ? Mv : e.c(1);
  Value* zero = e.c(0);

  if (!tb) {
    forRowTilesClamped(e, e.begin, e.end, kBcastRows, [&](Value* i0, int mr, Value* rows) {
      forColumnBlocks(e, Nv, kBcastVecs, [&](Value* j0, int nv, const std::vector<Value*>& masks) {
        BcastTile t;
        t.mr = mr, t.nv = nv, t.rows = rows;
        t.a = e.at(A, e.mul(i0, sai)), t.sai = sai, t.sa1 = zero, t.sa2 = sak;
        t.bp = e.at(B, j0), t.sb1 = zero, t.sb2 = Nv;
        t.cp = e.at(C, e.add(e.mul(i0, Nv), j0)), t.sci = Nv;
        t.k1n = e.c(1), t.k2n = Kv;
        t.masks = masks;
        emitBcastTile(e, t);
      });
    });
  } else {
    const int64_t width = int64_t{kBcastVecs} * e.lanes;
    Value* panel = e.stackArray(e.f32, kPackK * width);
    e.loop(zero, Kv, kPackK, [&](Value* k0) {
      Value* kc = e.min(e.c(kPackK), e.sub(Kv, k0));
      forColumnBlocks(e, Nv, kBcastVecs, [&](Value* j0, int nv, const std::vector<Value*>& masks) {
        // panel[kk][jj] = op(B)(k0 + kk, j0 + jj) = B[(j0 + jj)*K + k0 + kk]
        Value* cols = e.min(e.c(int64_t{nv} * e.lanes), e.sub(Nv, j0));
        e.loop(zero, cols, 1, [&](Value* jj) {
          Value* src = e.at(B, e.add(e.mul(e.add(j0, jj), Kv), k0));
          e.loop(zero, kc, 1, [&](Value* kk) {
            e.storeF(e.loadF(e.at(src, kk)), e.at(panel, e.add(e.mul(kk, e.c(width)), jj)));
          });
        });
        forRowTilesClamped(e, e.begin, e.end, kBcastRows, [&](Value* i0, int mr, Value* rows) {
          BcastTile t;
          t.mr = mr, t.nv = nv, t.rows = rows;
          t.a = e.at(A, e.add(e.mul(i0, sai), e.mul(k0, sak))), t.sai = sai, t.sa1 = zero, t.sa2 = sak;
          t.bp = panel, t.sb1 = zero, t.sb2 = e.c(width);
          t.cp = e.at(C, e.add(e.mul(i0, Nv), j0)), t.sci = Nv;
          t.k1n = e.c(1), t.k2n = kc;
          t.accumulate = e.b.CreateICmpSGT(k0, zero);
          t.masks = masks;
          emitBcastTile(e, t);
        });
      });
    });
  }
  return e.finish();
}

}  // namespace

Expected<HeavyKernel> emitMatMul(llvm::Module& m, const Attrs& attrs, const std::vector<TensorType>& in,
                                 const TensorType& out, const std::string& name, const HeavyTarget& target) {
  if (in.size() != 2 || in[0].rank() != 2 || in[1].rank() != 2 || out.rank() != 2)
    return Error("matmul kernel needs two matrices");
  const bool ta = attrs.b("transpose_a"), tb = attrs.b("transpose_b");
  const int64_t M = out.dims[0], N = out.dims[1], K = ta ? in[0].dims[0] : in[0].dims[1];

  // One helper per transpose combination serves every matmul of the module: shapes specialized
  // per kernel gave no measured speed and were most of the code LLVM compiled.
  const std::string helperName = fmt::format("sinter.matmul.{}{}.v{}r{}", ta ? 't' : 'n', tb ? 't' : 'n',
                                             target.vectorBits, target.registers);
  llvm::Function* helper = m.getFunction(helperName);
  if (!helper) helper = emitMatMulHelper(m, helperName, ta, tb, target);
  Emitter e(m, name, 3, target);
  const int kBcastRows = e.bcastRows;
  e.b.CreateCall(helper, {e.bufs[0], e.bufs[1], e.bufs[2], e.dim(M), e.dim(N), e.dim(K), e.begin, e.end});

  HeavyKernel k;
  k.fn = e.finish();
  k.extentPerBatch = M == kBatch ? 1 : 0;
  k.extentConst = M == kBatch ? 0 : M;
  const double rowFlops = 2.0 * static_cast<double>(N == kBatch ? kAssumedBatch : N) *
                          static_cast<double>(K == kBatch ? kAssumedBatch : K);
  const auto rows = static_cast<int64_t>(std::ceil(kGrainFlops / std::max(rowFlops, 1.0)));
  k.grain = std::max<int64_t>(kBcastRows, (rows + kBcastRows - 1) / kBcastRows * kBcastRows);
  return k;
}

}  // namespace sinter::cpu::heavy
