// The heavy-kernel skeleton, loops and vector memory helpers, the two micro-kernels (broadcast-FMA
// and dot-product tiles) and the dispatch by op kind.
//
// Algorithm: every matmul and convolution is a sequence of register tiles. The broadcast tile keeps
// mr x nv vector accumulators (6 x 4 = 24 of AVX-512's 32 registers, 6 x 2 of AVX2's 16) and, per reduction step,
// loads nv vectors of B's row, broadcasts mr scalars of A and issues mr*nv FMAs; the dot tile
// vectorizes the reduction itself (for operands that are both contiguous along it) and sums
// across lanes once at the end. Both emit llvm.fmuladd on whole vectors directly instead of relying on
// the loop vectorizer, so the schedule is fixed by construction.
#include "codegen/cpu/heavy_emit.h"
#include "codegen/cpu/ir_loops.h"

#include <llvm/MC/MCSubtargetInfo.h>
#include <llvm/Target/TargetMachine.h>

#include <algorithm>

#include <llvm/ADT/StringMap.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/TargetParser/Host.h>

namespace sinter::cpu {

namespace heavy {

using llvm::Value;

Emitter::Emitter(llvm::Module& m, const std::string& name, int numBufs, const HeavyTarget& target, int numSizes)
    : ctx(m.getContext()), b(ctx) {
  f32 = b.getFloatTy();
  i64 = b.getInt64Ty();
  lanes = std::max(4, target.vectorBits / 32);
  vf = llvm::FixedVectorType::get(f32, lanes);
  // Accumulators plus the operand registers of one reduction step: 24 + 5 of 32, or 12 + 3 of 16.
  const bool wide = target.registers >= 32;
  bcastRows = 6, bcastVecs = wide ? 4 : 2;
  dotRows = wide ? 4 : 3, dotCols = wide ? 6 : 4;
  llvm::Type* ptr = b.getPtrTy();
  const bool kernel = numSizes == 0;
  std::vector<llvm::Type*> params(numBufs, ptr);
  params.insert(params.end(), kernel ? 3 : numSizes + 2, i64);
  body_ = llvm::Function::Create(llvm::FunctionType::get(b.getVoidTy(), params, false), llvm::Function::InternalLinkage,
                                 kernel ? name + ".body" : name, m);
  body_->addFnAttr(kernel ? llvm::Attribute::AlwaysInline : llvm::Attribute::NoInline);
  body_->addFnAttr(llvm::Attribute::NoUnwind);
  for (int i = 0; i < numBufs; ++i) body_->addParamAttr(i, llvm::Attribute::NoAlias);
  // The tiles are written in <16 x float>: without this X86 splits them into ymm halves.
  body_->addFnAttr("min-legal-vector-width", std::to_string(lanes * 32));
  outer_ = body_;
  if (kernel) {
    auto* outerTy = llvm::FunctionType::get(b.getVoidTy(), {ptr, i64, i64, i64}, false);
    outer_ = llvm::Function::Create(outerTy, llvm::Function::ExternalLinkage, name, m);
    outer_->addParamAttr(0, llvm::Attribute::NoAlias);
    outer_->addParamAttr(0, llvm::Attribute::ReadOnly);
    outer_->addFnAttr(llvm::Attribute::NoUnwind);
    outer_->addFnAttr("min-legal-vector-width", std::to_string(lanes * 32));
    b.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", outer_));
    std::vector<Value*> args;
    Value* bufArray = outer_->getArg(0);
    for (int i = 0; i < numBufs; ++i) args.push_back(b.CreateLoad(ptr, b.CreateConstGEP1_64(ptr, bufArray, i)));
    for (int i = 1; i <= 3; ++i) args.push_back(outer_->getArg(i));
    b.CreateCall(body_, args);
    b.CreateRetVoid();
  }

  entry_ = llvm::BasicBlock::Create(ctx, "entry", body_);
  b.SetInsertPoint(entry_);
  for (int i = 0; i < numBufs; ++i) bufs.push_back(body_->getArg(i));
  for (int i = 0; i < (kernel ? 1 : numSizes); ++i) sizes.push_back(body_->getArg(numBufs + i));
  if (kernel) batch = sizes[0], sizes.clear();
  begin = body_->getArg(body_->arg_size() - 2);
  end = body_->getArg(body_->arg_size() - 1);
  llvm::FastMathFlags fmf;
  fmf.setAllowContract();
  b.setFastMathFlags(fmf);
}

llvm::Function* Emitter::finish() {
  b.CreateRetVoid();
  return outer_;
}

void Emitter::loop(Value* lo, Value* hi, int64_t step, const std::function<void(Value*)>& body, bool hot) {
  emitLoop(b, lo, hi, step, body, hot && unroll);
}

void Emitter::ifThen(Value* cond, const std::function<void()>& then) { emitIf(b, cond, then); }

void Emitter::ifThenElse(Value* cond, const std::function<void()>& then, const std::function<void()>& otherwise) {
  emitIf(b, cond, then, otherwise);
}

Value* Emitter::stackArray(llvm::Type* elem, int64_t count) {
  llvm::IRBuilder<> at(entry_, entry_->begin());
  llvm::AllocaInst* a = at.CreateAlloca(elem, c(count));
  a->setAlignment(llvm::Align(64));
  return a;
}

Value* Emitter::zeroVec() { return llvm::Constant::getNullValue(vf); }

Value* Emitter::fma(Value* x, Value* y, Value* acc) {
  return b.CreateIntrinsic(llvm::Intrinsic::fmuladd, {x->getType()}, {x, y, acc});
}

Value* Emitter::laneIds() {
  std::vector<uint64_t> ids(lanes);
  for (int l = 0; l < lanes; ++l) ids[l] = static_cast<uint64_t>(l);
  return llvm::ConstantDataVector::get(ctx, ids);
}

Value* Emitter::laneMask(Value* n) { return b.CreateICmpSLT(laneIds(), splat(n)); }

Value* Emitter::loadVec(Value* p, Value* mask) {
  if (!mask) return b.CreateAlignedLoad(vf, p, llvm::Align(4));
  return b.CreateMaskedLoad(vf, p, llvm::Align(4), mask, zeroVec());
}

void Emitter::storeVec(Value* v, Value* p, Value* mask) {
  if (!mask)
    b.CreateAlignedStore(v, p, llvm::Align(4));
  else
    b.CreateMaskedStore(v, p, llvm::Align(4), mask);
}

Value* Emitter::gatherVec(Value* base, Value* idx, Value* mask) {
  Value* ptrs = b.CreateGEP(f32, base, idx);
  return b.CreateMaskedGather(vf, ptrs, llvm::Align(4), mask, zeroVec());
}

Value* Emitter::hsum(Value* v) {
  Value* r = b.CreateFAddReduce(llvm::ConstantFP::get(f32, -0.0), v);
  llvm::FastMathFlags fmf;
  fmf.setAllowContract();
  fmf.setAllowReassoc();  // a tree across the 16 lanes: only the rounding of the sum changes
  llvm::cast<llvm::Instruction>(r)->setFastMathFlags(fmf);
  return r;
}

void emitBcastTile(Emitter& e, const BcastTile& t) {
  const int n = t.mr * t.nv;
  Value* sbv = t.sbv ? t.sbv : e.c(e.lanes);
  std::vector<Value*> acc(n);
  for (Value*& a : acc) {
    a = e.stackArray(e.vf, 1);
    e.b.CreateStore(e.zeroVec(), a);
  }
  // Row r of the tile reads and writes row rowOf[r] (the last real one past t.rows).
  std::vector<Value*> rowOf(t.mr);
  for (int r = 0; r < t.mr; ++r) rowOf[r] = t.rows && r > 0 ? e.min(e.c(r), e.sub(t.rows, e.c(1))) : e.c(r);
  auto steps = [&](Value* a0, Value* b0) {
    e.loop(e.c(0), t.k1n, 1, [&](Value* k1) {
      Value* a1 = e.at(a0, e.mul(k1, t.sa1));
      Value* b1 = e.at(b0, e.mul(k1, t.sb1));
      e.loop(e.c(0), t.k2n, 1, [&](Value* k2) {
        Value* bk = e.at(b1, e.mul(k2, t.sb2));
        Value* ak = e.at(a1, e.mul(k2, t.sa2));
        std::vector<Value*> bv(t.nv);
        for (int v = 0; v < t.nv; ++v) bv[v] = e.loadVec(e.at(bk, e.mul(e.c(v), sbv)), t.wholeB ? nullptr : t.masks[v]);
        for (int r = 0; r < t.mr; ++r) {
          Value* s = e.splat(e.loadF(r == 0 ? ak : e.at(ak, e.mul(rowOf[r], t.sai))));
          for (int v = 0; v < t.nv; ++v) {
            Value* slot = acc[r * t.nv + v];
            e.b.CreateStore(e.fma(s, bv[v], e.b.CreateLoad(e.vf, slot)), slot);
          }
        }
      }, /*hot=*/true);
    });
  };
  if (t.k0n)
    e.loop(e.c(0), t.k0n, 1, [&](Value* k0) { steps(e.at(t.a, e.mul(k0, t.sa0)), e.at(t.bp, e.mul(k0, t.sb0))); });
  else
    steps(t.a, t.bp);
  auto cAddr = [&](int r, int v) { return e.at(t.cp, e.add(e.mul(rowOf[r], t.sci), e.mul(e.c(v), t.scv ? t.scv : e.c(e.lanes)))); };
  if (t.accumulate)
    e.ifThen(t.accumulate, [&] {
      for (int r = 0; r < t.mr; ++r)
        for (int v = 0; v < t.nv; ++v) {
          Value* slot = acc[r * t.nv + v];
          e.b.CreateStore(e.b.CreateFAdd(e.b.CreateLoad(e.vf, slot), e.loadVec(cAddr(r, v), t.masks[v])), slot);
        }
    });
  for (int r = 0; r < t.mr; ++r) {
    auto store = [&] {
      for (int v = 0; v < t.nv; ++v) e.storeVec(e.b.CreateLoad(e.vf, acc[r * t.nv + v]), cAddr(r, v), t.masks[v]);
    };
    t.rows && r > 0 ? e.ifThen(e.b.CreateICmpSLT(e.c(r), t.rows), store) : store();
  }
}

void emitDotTile(Emitter& e, const DotTile& t) {
  const int n = t.mi * t.mj;
  std::vector<Value*> acc(n);
  for (Value*& a : acc) {
    a = e.stackArray(e.vf, 1);
    e.b.CreateStore(e.zeroVec(), a);
  }
  std::vector<Value*> rowOf(t.mi);
  for (int i = 0; i < t.mi; ++i) rowOf[i] = t.rows && i > 0 ? e.min(e.c(i), e.sub(t.rows, e.c(1))) : e.c(i);
  Value* full = e.b.CreateSDiv(t.rn, e.c(e.lanes));
  Value* rem = e.sub(t.rn, e.mul(full, e.c(e.lanes)));
  e.loop(e.c(0), t.r1n, 1, [&](Value* r1) {
    Value* ar = e.at(t.a, e.mul(r1, t.sa1));
    Value* br = e.at(t.bp, e.mul(r1, t.sb1));
    auto chunk = [&](Value* off, Value* mask) {
      std::vector<Value*> av(t.mi), bv(t.mj);
      for (int i = 0; i < t.mi; ++i) av[i] = e.loadVec(e.at(ar, e.add(e.mul(rowOf[i], t.sai), off)), mask);
      for (int j = 0; j < t.mj; ++j) bv[j] = e.loadVec(e.at(br, e.add(e.mul(e.c(j), t.sbj), off)), mask);
      for (int i = 0; i < t.mi; ++i)
        for (int j = 0; j < t.mj; ++j) {
          Value* slot = acc[i * t.mj + j];
          e.b.CreateStore(e.fma(av[i], bv[j], e.b.CreateLoad(e.vf, slot)), slot);
        }
    };
    e.loop(e.c(0), full, 1, [&](Value* q) { chunk(e.mul(q, e.c(e.lanes)), nullptr); }, /*hot=*/true);
    e.ifThen(e.b.CreateICmpSGT(rem, e.c(0)), [&] { chunk(e.mul(full, e.c(e.lanes)), e.laneMask(rem)); });
  });
  for (int i = 0; i < t.mi; ++i) {
    auto store = [&] {
      for (int j = 0; j < t.mj; ++j) {
        Value* p = e.at(t.cp, e.add(e.mul(e.c(i), t.sci), e.mul(e.c(j), t.scj)));
        Value* s = e.hsum(e.b.CreateLoad(e.vf, acc[i * t.mj + j]));
        if (t.accumulate) {
          Value* old = e.loadF(p);
          s = e.b.CreateSelect(t.accumulate, e.b.CreateFAdd(old, s), s);
        }
        e.storeF(s, p);
      }
    };
    t.rows && i > 0 ? e.ifThen(e.b.CreateICmpSLT(e.c(i), t.rows), store) : store();
  }
}

void forRowTiles(Emitter& e, Value* lo, Value* hi, int mr, const std::function<void(Value*, int)>& tile) {
  Value* n = e.sub(hi, lo);
  Value* nt = e.b.CreateSDiv(n, e.c(mr));
  e.loop(e.c(0), nt, 1, [&](Value* t) { tile(e.add(lo, e.mul(t, e.c(mr))), mr); });
  Value* rem = e.sub(n, e.mul(nt, e.c(mr)));
  Value* i0 = e.add(lo, e.mul(nt, e.c(mr)));
  const bool unroll = e.unroll;
  e.unroll = false;
  for (int r = 1; r < mr; ++r) e.ifThen(e.b.CreateICmpEQ(rem, e.c(r)), [&] { tile(i0, r); });
  e.unroll = unroll;
}

void forRowTilesClamped(Emitter& e, Value* lo, Value* hi, int mr, const std::function<void(Value*, int, Value*)>& tile) {
  Value* n = e.sub(hi, lo);
  if (llvm::isa<llvm::ConstantInt>(n)) return forRowTiles(e, lo, hi, mr, [&](Value* i0, int rows) { tile(i0, rows, nullptr); });
  Value* nt = e.b.CreateSDiv(n, e.c(mr));
  e.loop(e.c(0), nt, 1, [&](Value* t) { tile(e.add(lo, e.mul(t, e.c(mr))), mr, nullptr); });
  Value* rem = e.sub(n, e.mul(nt, e.c(mr)));
  const bool unroll = e.unroll;
  e.unroll = false;
  e.ifThen(e.b.CreateICmpSGT(rem, e.c(0)), [&] { tile(e.add(lo, e.mul(nt, e.c(mr))), mr, rem); });
  e.unroll = unroll;
}

void forColumnBlocks(Emitter& e, Value* n, int nvMax,
                     const std::function<void(Value*, int, const std::vector<Value*>&)>& tile) {
  const int64_t block = int64_t{nvMax} * e.lanes;
  Value* nfull = e.b.CreateSDiv(n, e.c(block));
  e.loop(e.c(0), nfull, 1, [&](Value* jb) { tile(e.mul(jb, e.c(block)), nvMax, std::vector<Value*>(nvMax)); });
  e.loop(e.mul(nfull, e.c(block)), n, e.lanes, [&](Value* j) { tile(j, 1, {e.laneMask(e.sub(n, j))}); });
}

void forColumnBlocks(Emitter& e, int64_t n, int nvMax,
                     const std::function<void(Value*, int, const std::vector<Value*>&)>& tile) {
  const int64_t block = int64_t{nvMax} * e.lanes, L = e.lanes;
  if (n == kBatch) return forColumnBlocks(e, e.batch, nvMax, tile);
  const int64_t nfull = n / block, tail = n % block;
  if (nfull > 0)
    e.loop(e.c(0), e.c(nfull), 1, [&](Value* jb) { tile(e.mul(jb, e.c(block)), nvMax, std::vector<Value*>(nvMax)); });
  if (tail == 0) return;
  const int nv = static_cast<int>((tail + L - 1) / L);
  std::vector<Value*> masks(nv);
  if (tail % L) masks.back() = e.laneMask(e.c(tail % L));
  tile(e.c(nfull * block), nv, masks);
}

}  // namespace heavy

HeavyTarget HeavyTarget::host() {
  const llvm::StringMap<bool> features = llvm::sys::getHostCPUFeatures();
  auto has = [&](const char* f) { auto it = features.find(f); return it != features.end() && it->second; };
  if (has("avx512f")) return {512, 32};
  if (has("avx2")) return {256, 16};
  return {128, 16};
}

HeavyTarget HeavyTarget::of(const llvm::TargetMachine& tm) {
  const llvm::MCSubtargetInfo* sti = tm.getMCSubtargetInfo();
  if (sti->checkFeatures("+avx512f")) return {512, 32};
  if (sti->checkFeatures("+avx")) return {256, 16};
  return {128, 16};
}

bool isHeavyOp(OpKind op) {
  switch (op) {
    case OpKind::MatMul:
    case OpKind::Conv2d:
    case OpKind::Conv2dGradInput:
    case OpKind::Conv2dGradWeight:
    case OpKind::MaxPool2d:
    case OpKind::MaxPool2dGrad:
    case OpKind::AvgPool2d:
    case OpKind::AvgPool2dGrad: return true;
    default: return false;
  }
}

Expected<HeavyKernel> emitHeavyKernel(llvm::Module& m, OpKind op, const Attrs& attrs, const std::vector<TensorType>& operands,
                                      const TensorType& result, const std::string& name, const HeavyTarget& target, bool blocked) {
  if (blocked && op != OpKind::MaxPool2dGrad) return Error(fmt::format("{} has no kernel in the blocked layout", mnemonic(op)));
  for (const TensorType& t : operands)
    if (t.dtype != DType::F32) return Error(fmt::format("{} kernel needs f32 operands, found {}", mnemonic(op), formatType(t)));
  switch (op) {
    case OpKind::MatMul: return heavy::emitMatMul(m, attrs, operands, result, name, target);
    case OpKind::Conv2d:
    case OpKind::Conv2dGradInput:
    case OpKind::Conv2dGradWeight: return heavy::emitConv(m, op, attrs, operands, result, name, target);
    case OpKind::MaxPool2d:
    case OpKind::MaxPool2dGrad:
    case OpKind::AvgPool2d:
    case OpKind::AvgPool2dGrad: return heavy::emitPool(m, op, attrs, operands, result, name, target, blocked);
    default: return Error(fmt::format("{} is not a heavy op", mnemonic(op)));
  }
}

}  // namespace sinter::cpu
