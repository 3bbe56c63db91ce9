// Kernel IR -> LLVM IR: loop kernels (fused pointwise chains with an optional reduction), the
// single-op kernels (softmax, log_softmax, one_hot, dropout_mask, concat, slice, pad), and the
// heavy ops through codegen/cpu/heavy_kernels.h (host code only: a device target's library runs
// those). Each kernel is a public function that loads its
// buffer pointers and calls an always-inlined body whose pointer parameters are noalias (an operand
// that shares the output's storage is read through the output's pointer), so the inliner turns them
// into alias scopes.
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/IntrinsicsNVPTX.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Support/raw_ostream.h>

#include <array>
#include <functional>
#include <map>

#include "codegen/cpu/heavy_kernels.h"
#include "codegen/cpu/ir_loops.h"
#include "codegen/cpu/lower.h"
#include "support/philox.h"


namespace sinter::cpu {

namespace {

using kir::Expr;
using kir::ExprKind;
using kir::Kernel;
using kir::Lin;
using llvm::Value;

// One kernel function under construction.
struct Gen {
  // Argument a of the kernel is read through argument sameAs[a] (itself or the output).
  Gen(llvm::Module& mod, const std::string& name, const std::vector<int>& sameAs, CodeStyle codeStyle)
      : m(mod), ctx(mod.getContext()), b(ctx), style(codeStyle) {
    const int numArgs = static_cast<int>(sameAs.size());
    auto* ptr = llvm::PointerType::getUnqual(ctx);
    i64 = b.getInt64Ty();
    i32 = b.getInt32Ty();
    f32 = b.getFloatTy();
    f64 = b.getDoubleTy();
    auto* outerTy = llvm::FunctionType::get(b.getVoidTy(), {ptr, i64, i64, i64}, false);
    outer = llvm::Function::Create(outerTy, llvm::Function::ExternalLinkage, name, m);
    outer->addFnAttr(llvm::Attribute::NoUnwind);
    if (style == CodeStyle::Device) outer->setCallingConv(llvm::CallingConv::PTX_Kernel);
    std::vector<llvm::Type*> params(numArgs, ptr);
    params.insert(params.end(), {i64, i64, i64});
    body = llvm::Function::Create(llvm::FunctionType::get(b.getVoidTy(), params, false), llvm::Function::InternalLinkage,
                                  name + ".body", m);
    body->addFnAttr(llvm::Attribute::AlwaysInline);
    body->addFnAttr(llvm::Attribute::NoUnwind);
    for (int i = 0; i < numArgs; ++i) body->addParamAttr(i, llvm::Attribute::NoAlias);
    // The outer function: load bufs[i] and call the body.
    b.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", outer));
    std::vector<Value*> callArgs;
    auto ai = outer->arg_begin();
    Value* bufs = &*ai;
    for (int i = 0; i < numArgs; ++i)
      callArgs.push_back(b.CreateLoad(ptr, b.CreateConstInBoundsGEP1_64(ptr, bufs, static_cast<uint64_t>(i))));
    for (int i = 1; i <= 3; ++i) callArgs.push_back(&*(ai + i));
    b.CreateCall(body, callArgs);
    b.CreateRetVoid();
    entry = llvm::BasicBlock::Create(ctx, "entry", body);
    b.SetInsertPoint(entry);
    llvm::FastMathFlags fmf;
    fmf.setAllowContract(true);
    b.setFastMathFlags(fmf);
    for (int i = 0; i < numArgs; ++i) args.push_back(body->getArg(sameAs[i]));
    batch = body->getArg(numArgs);
    begin = body->getArg(numArgs + 1);
    end = body->getArg(numArgs + 2);
  }

  void finish() { b.CreateRetVoid(); }

  Value* c(int64_t v) { return b.getInt64(static_cast<uint64_t>(v)); }
  Value* lin(Lin l) {
    if (l.perBatch == 0) return c(l.constant);
    return b.CreateAdd(b.CreateMul(batch, c(l.perBatch), "", true, true), c(l.constant), "", true, true);
  }
  Value* mul(Value* x, Value* y) { return b.CreateMul(x, y, "", true, true); }
  Value* add(Value* x, Value* y) { return b.CreateAdd(x, y, "", true, true); }
  llvm::Type* type(DType d) { return d == DType::I32 ? i32 : f32; }
  Value* gep(DType d, Value* base, Value* index) { return b.CreateInBoundsGEP(type(d), base, index); }
  Value* alloca(llvm::Type* t) {
    llvm::IRBuilder<> e(entry, entry->begin());
    return e.CreateAlloca(t);
  }

  // for (i = lo; i < hi; ++i) body(i). The loop vectorizer interleaves these; they are not unrolled.
  void loop(Value* lo, Value* hi, const std::function<void(Value*)>& fn) { emitLoop(b, lo, hi, 1, fn); }
  void ifThen(Value* cond, const std::function<void()>& fn) { emitIf(b, cond, fn); }
  // body(i) for every index i of this call's slice [begin, end) of the parallel extent: a loop on
  // the host; on a device, grid thread t takes index begin + t.
  void parallel(const std::function<void(Value*)>& fn) {
    if (style != CodeStyle::Device) return loop(begin, end, fn);
    auto sreg = [&](llvm::Intrinsic::ID id) { return b.CreateZExt(b.CreateIntrinsic(id, {}, {}), i64); };
    Value* t = add(mul(sreg(llvm::Intrinsic::nvvm_read_ptx_sreg_ctaid_x), sreg(llvm::Intrinsic::nvvm_read_ptx_sreg_ntid_x)),
                   sreg(llvm::Intrinsic::nvvm_read_ptx_sreg_tid_x));
    Value* i = add(begin, t);
    ifThen(b.CreateICmpSLT(i, end), [&] { fn(i); });
  }
  // exp and log on a device are libdevice's (NVPTX has no lowering for llvm.exp).
  Value* intrinsic(llvm::Intrinsic::ID id, std::vector<Value*> xs) {
    if (style == CodeStyle::Device && (id == llvm::Intrinsic::exp || id == llvm::Intrinsic::log)) {
      const bool f = xs[0]->getType()->isFloatTy();
      return libm(id == llvm::Intrinsic::exp ? (f ? "expf" : "exp") : (f ? "logf" : "log"), xs);
    }
    return b.CreateIntrinsic(id, {xs[0]->getType()}, xs);
  }
  // A C math function (tanhf, powf); on a device libdevice's (__nv_tanhf).
  Value* libm(const std::string& name, std::vector<Value*> xs) {
    std::vector<llvm::Type*> tys;
    for (Value* x : xs) tys.push_back(x->getType());
    const std::string symbol = style == CodeStyle::Device ? "__nv_" + name : name;
    llvm::FunctionCallee fn = m.getOrInsertFunction(symbol, llvm::FunctionType::get(xs[0]->getType(), tys, false));
    return b.CreateCall(fn, xs);
  }

  llvm::Module& m;
  llvm::LLVMContext& ctx;
  llvm::IRBuilder<> b;
  llvm::Type *i64, *i32, *f32, *f64;
  CodeStyle style;
  llvm::Function* outer;
  llvm::Function* body;
  llvm::BasicBlock* entry;
  std::vector<Value*> args;
  Value *batch, *begin, *end;
};

// ----- Pointwise ops: the lowering table -----

using Pointwise = Value* (*)(Gen&, const std::vector<Value*>&, const Expr&);

Value* fconst(Gen& g, double v) { return llvm::ConstantFP::get(g.f32, v); }
bool isInt(Value* v) { return v->getType()->isIntegerTy(); }

Value* pwNeg(Gen& g, const std::vector<Value*>& x, const Expr&) { return isInt(x[0]) ? g.b.CreateNeg(x[0]) : g.b.CreateFNeg(x[0]); }
Value* pwExp(Gen& g, const std::vector<Value*>& x, const Expr&) { return g.intrinsic(llvm::Intrinsic::exp, {x[0]}); }
Value* pwLog(Gen& g, const std::vector<Value*>& x, const Expr&) { return g.intrinsic(llvm::Intrinsic::log, {x[0]}); }
Value* pwSqrt(Gen& g, const std::vector<Value*>& x, const Expr&) { return g.intrinsic(llvm::Intrinsic::sqrt, {x[0]}); }
Value* pwRsqrt(Gen& g, const std::vector<Value*>& x, const Expr&) {
  return g.b.CreateFDiv(fconst(g, 1.0), g.intrinsic(llvm::Intrinsic::sqrt, {x[0]}));
}
Value* pwTanh(Gen& g, const std::vector<Value*>& x, const Expr&) { return g.libm("tanhf", {x[0]}); }
Value* pwSigmoid(Gen& g, const std::vector<Value*>& x, const Expr&) {
  Value* e = g.intrinsic(llvm::Intrinsic::exp, {g.b.CreateFNeg(x[0])});
  return g.b.CreateFDiv(fconst(g, 1.0), g.b.CreateFAdd(fconst(g, 1.0), e));
}
// NaN propagates (ugt is true for NaN); relu(-0) is +0.
Value* pwRelu(Gen& g, const std::vector<Value*>& x, const Expr&) {
  return g.b.CreateSelect(g.b.CreateFCmpUGT(x[0], fconst(g, 0.0)), x[0], fconst(g, 0.0));
}
Value* pwLeakyRelu(Gen& g, const std::vector<Value*>& x, const Expr& e) {
  Value* scaled = g.b.CreateFMul(x[0], fconst(g, e.attrs.f("slope")));
  return g.b.CreateSelect(g.b.CreateFCmpOGT(x[0], fconst(g, 0.0)), x[0], scaled);
}
Value* pwAbs(Gen& g, const std::vector<Value*>& x, const Expr&) { return g.intrinsic(llvm::Intrinsic::fabs, {x[0]}); }
// 1, -1, 0 (for either zero), NaN stays NaN.
Value* pwSign(Gen& g, const std::vector<Value*>& x, const Expr&) {
  auto& b = g.b;
  Value* r = b.CreateSelect(b.CreateFCmpOEQ(x[0], fconst(g, 0.0)), fconst(g, 0.0), x[0]);
  r = b.CreateSelect(b.CreateFCmpOLT(x[0], fconst(g, 0.0)), fconst(g, -1.0), r);
  return b.CreateSelect(b.CreateFCmpOGT(x[0], fconst(g, 0.0)), fconst(g, 1.0), r);
}
Value* pwStep(Gen& g, const std::vector<Value*>& x, const Expr&) {
  return g.b.CreateSelect(g.b.CreateFCmpOGT(x[0], fconst(g, 0.0)), fconst(g, 1.0), fconst(g, 0.0));
}
Value* pwPow(Gen& g, const std::vector<Value*>& x, const Expr& e) {
  const double p = e.attrs.f("exponent");
  if (p == 1.0) return x[0];
  if (p == 2.0) return g.b.CreateFMul(x[0], x[0]);
  return g.libm("powf", {x[0], fconst(g, p)});
}
// f32 -> i32 truncates toward zero; i32 -> f32 rounds to nearest.
Value* pwCast(Gen& g, const std::vector<Value*>& x, const Expr& e) {
  if (e.dtype == DType::I32) return isInt(x[0]) ? x[0] : g.b.CreateFPToSI(x[0], g.i32);
  return isInt(x[0]) ? g.b.CreateSIToFP(x[0], g.f32) : x[0];
}
Value* pwAdd(Gen& g, const std::vector<Value*>& x, const Expr&) { return isInt(x[0]) ? g.b.CreateAdd(x[0], x[1]) : g.b.CreateFAdd(x[0], x[1]); }
Value* pwSub(Gen& g, const std::vector<Value*>& x, const Expr&) { return isInt(x[0]) ? g.b.CreateSub(x[0], x[1]) : g.b.CreateFSub(x[0], x[1]); }
Value* pwMul(Gen& g, const std::vector<Value*>& x, const Expr&) { return isInt(x[0]) ? g.b.CreateMul(x[0], x[1]) : g.b.CreateFMul(x[0], x[1]); }
Value* pwDiv(Gen& g, const std::vector<Value*>& x, const Expr&) { return isInt(x[0]) ? g.b.CreateSDiv(x[0], x[1]) : g.b.CreateFDiv(x[0], x[1]); }
Value* pwEqual(Gen& g, const std::vector<Value*>& x, const Expr& e) {
  Value* eq = isInt(x[0]) ? g.b.CreateICmpEQ(x[0], x[1]) : g.b.CreateFCmpOEQ(x[0], x[1]);
  return e.dtype == DType::I32 ? g.b.CreateZExt(eq, g.i32) : g.b.CreateSelect(eq, fconst(g, 1.0), fconst(g, 0.0));
}

// Ops that are kernels of their own (LoweringKind::Kernel) name their emitter in the table; an
// entry without one is refused when a kernel reaches it, never emitted as an empty function.
using KernelEmitter = void (*)(Gen&, const Kernel&, const kir::KProgram&, LoweredKernel&);
void emitRows(Gen& g, const Kernel& k, const kir::KProgram& p, LoweredKernel& out);
void emitSoftmax(Gen& g, const Kernel& k, const kir::KProgram& p, LoweredKernel& out);
void emitOneHot(Gen& g, const Kernel& k, const kir::KProgram& p, LoweredKernel& out);
void emitSoftmaxCrossEntropy(Gen& g, const Kernel& k, const kir::KProgram& p, LoweredKernel& out);
void emitDropoutMask(Gen& g, const Kernel& k, const kir::KProgram& p, LoweredKernel& out);

struct Entry {
  OpKind op;
  LoweringKind kind;
  Pointwise pointwise = nullptr;
  KernelEmitter emit = nullptr;
  const char* note = nullptr;
};

const Entry kTable[] = {
    {OpKind::Input, LoweringKind::Structural},
    {OpKind::Load, LoweringKind::Structural},
    {OpKind::Store, LoweringKind::Structural},
    {OpKind::Constant, LoweringKind::Structural},
    {OpKind::Numel, LoweringKind::Structural},
    {OpKind::Neg, LoweringKind::Pointwise, pwNeg},
    {OpKind::Exp, LoweringKind::Pointwise, pwExp},
    {OpKind::Log, LoweringKind::Pointwise, pwLog},
    {OpKind::Sqrt, LoweringKind::Pointwise, pwSqrt},
    {OpKind::Rsqrt, LoweringKind::Pointwise, pwRsqrt},
    {OpKind::Tanh, LoweringKind::Pointwise, pwTanh},
    {OpKind::Sigmoid, LoweringKind::Pointwise, pwSigmoid},
    {OpKind::Relu, LoweringKind::Pointwise, pwRelu},
    {OpKind::LeakyRelu, LoweringKind::Pointwise, pwLeakyRelu},
    {OpKind::Abs, LoweringKind::Pointwise, pwAbs},
    {OpKind::Sign, LoweringKind::Pointwise, pwSign},
    {OpKind::Step, LoweringKind::Pointwise, pwStep},
    {OpKind::Pow, LoweringKind::Pointwise, pwPow},
    {OpKind::Cast, LoweringKind::Pointwise, pwCast},
    {OpKind::Add, LoweringKind::Pointwise, pwAdd},
    {OpKind::Sub, LoweringKind::Pointwise, pwSub},
    {OpKind::Mul, LoweringKind::Pointwise, pwMul},
    {OpKind::Div, LoweringKind::Pointwise, pwDiv},
    {OpKind::Equal, LoweringKind::Pointwise, pwEqual},
    {OpKind::Sum, LoweringKind::Reduction},
    {OpKind::Mean, LoweringKind::Reduction},
    {OpKind::Max, LoweringKind::Reduction},
    {OpKind::Reshape, LoweringKind::View},
    {OpKind::Transpose, LoweringKind::View},
    {OpKind::Broadcast, LoweringKind::View},
    {OpKind::Concat, LoweringKind::Kernel, nullptr, emitRows},
    {OpKind::Slice, LoweringKind::Kernel, nullptr, emitRows},
    {OpKind::Pad, LoweringKind::Kernel, nullptr, emitRows},
    {OpKind::OneHot, LoweringKind::Kernel, nullptr, emitOneHot},
    {OpKind::MatMul, LoweringKind::Heavy},
    {OpKind::Conv2d, LoweringKind::Heavy},
    {OpKind::Conv2dGradInput, LoweringKind::Heavy},
    {OpKind::Conv2dGradWeight, LoweringKind::Heavy},
    {OpKind::MaxPool2d, LoweringKind::Heavy},
    {OpKind::MaxPool2dGrad, LoweringKind::Heavy},
    {OpKind::AvgPool2d, LoweringKind::Heavy},
    {OpKind::AvgPool2dGrad, LoweringKind::Heavy},
    {OpKind::Softmax, LoweringKind::Kernel, nullptr, emitSoftmax},
    {OpKind::LogSoftmax, LoweringKind::Kernel, nullptr, emitSoftmax},
    {OpKind::SoftmaxCrossEntropy, LoweringKind::Kernel, nullptr, emitSoftmaxCrossEntropy},
    {OpKind::SoftmaxCrossEntropyGrad, LoweringKind::Kernel, nullptr, emitSoftmaxCrossEntropy},
    {OpKind::DropoutMask, LoweringKind::Kernel, nullptr, emitDropoutMask},
    {OpKind::Dropout, LoweringKind::Unsupported, nullptr, nullptr, "expanded into dropout_mask by build-train-step"},
    {OpKind::BatchNorm, LoweringKind::Unsupported, nullptr, nullptr, "expanded into primitives by build-train-step"},
    {OpKind::BatchNormTrain, LoweringKind::Unsupported, nullptr, nullptr, "expanded into primitives by decompose-batchnorm"},
    {OpKind::BatchNormStats, LoweringKind::Unsupported, nullptr, nullptr, "expanded into primitives by decompose-batchnorm"},
    {OpKind::BatchNormTrainGrad, LoweringKind::Unsupported, nullptr, nullptr, "expanded into primitives by decompose-batchnorm"},
    {OpKind::BatchNormParamGrad, LoweringKind::Unsupported, nullptr, nullptr, "expanded into primitives by decompose-batchnorm"},
    {OpKind::BatchNormInfer, LoweringKind::Unsupported, nullptr, nullptr, "expanded into primitives by decompose-batchnorm"},
};

const Entry* entryFor(OpKind op) {
  for (const Entry& e : kTable)
    if (e.op == op) return &e;
  return nullptr;
}

// ----- Loop kernels -----

// Evaluates expression `e` with the iteration-space indices `idx` (nullptr where not bound).
Value* emitExpr(Gen& g, const Kernel& k, int32_t ei, const std::vector<Value*>& idx, Value* acc) {
  const Expr& e = k.exprs[ei];
  switch (e.kind) {
    case ExprKind::Const:
      return e.dtype == DType::I32 ? static_cast<Value*>(g.b.getInt32(static_cast<uint32_t>(static_cast<int64_t>(e.value))))
                                   : fconst(g, static_cast<float>(e.value));
    case ExprKind::Count: return g.b.CreateSIToFP(g.lin(e.count), g.f32);
    case ExprKind::Acc: return acc;
    case ExprKind::Read: {
      Value* off = g.c(0);
      for (size_t d = 0; d < e.strides.size(); ++d)
        if (e.strides[d] != Lin{} && idx[d]) off = g.add(off, g.mul(idx[d], g.lin(e.strides[d])));
      return g.b.CreateLoad(g.type(e.dtype), g.gep(e.dtype, g.args[e.arg], off));
    }
    case ExprKind::Op: {
      std::vector<Value*> xs;
      for (int32_t o : e.operands) xs.push_back(emitExpr(g, k, o, idx, acc));
      return entryFor(e.op)->pointwise(g, xs, e);
    }
  }
  return nullptr;
}

int64_t maxAt(Lin l, int64_t maxBatch) { return std::max<int64_t>(l.at(maxBatch), 1); }

void emitLoopKernel(Gen& g, const Kernel& k, const kir::KProgram& p, LoweredKernel& out) {
  const int rank = static_cast<int>(k.space.size());
  std::vector<Value*> idx(rank, nullptr);
  const std::vector<kir::LoopOutput> outs = kir::loopOutputs(k);
  const bool reduces = k.reduceRoot >= 0;
  auto isMax = [](const kir::LoopOutput& o) { return o.reduceOp == OpKind::Max; };
  auto accTy = [&](const kir::LoopOutput& o) { return isMax(o) ? g.f32 : g.f64; };
  // The reduction over space[numKept, rank): nest(d) loops from dim d, inner() runs innermost.
  std::function<void(int, const std::function<void()>&)> nest = [&](int d, const std::function<void()>& inner) {
    if (d == rank) return inner();
    g.loop(g.c(0), g.lin(k.space[d]), [&](Value* i) { idx[d] = i; nest(d + 1, inner); });
    idx[d] = nullptr;
  };
  // acc <- acc (+ or max) output o's reduced expression, at the current indices.
  auto accumulate = [&](const kir::LoopOutput& o, Value* slot) {
    Value* v = emitExpr(g, k, o.reduceRoot, idx, nullptr);
    Value* a = g.b.CreateLoad(accTy(o), slot);
    Value* next = isMax(o) ? g.intrinsic(llvm::Intrinsic::maximum, {a, v}) : g.b.CreateFAdd(a, g.b.CreateFPExt(v, g.f64));
    // The sum may be reassociated: the vectorizer then keeps lane partial sums (in double, so
    // the order moves the f32 result by far less than its rounding) instead of one serial
    // chain of dependent adds, which ran at one element per add latency.
    if (!isMax(o)) {
      llvm::FastMathFlags fmf = llvm::cast<llvm::Instruction>(next)->getFastMathFlags();
      fmf.setAllowReassoc();
      llvm::cast<llvm::Instruction>(next)->setFastMathFlags(fmf);
    }
    g.b.CreateStore(next, slot);
  };
  auto initial = [&](const kir::LoopOutput& o) {
    return isMax(o) ? llvm::ConstantFP::getInfinity(g.f32, true) : llvm::ConstantFP::get(g.f64, 0.0);
  };
  // The accumulated value as the root reads it: a mean divides by the reduced count.
  auto finish = [&](const kir::LoopOutput& o, Value* acc) {
    if (o.reduceOp == OpKind::Mean) {
      Value* n = g.c(1);
      for (int d = k.numKept; d < rank; ++d) n = g.mul(n, g.lin(k.space[d]));
      acc = g.b.CreateFDiv(acc, g.b.CreateSIToFP(n, g.f64));
    }
    return isMax(o) ? acc : g.b.CreateFPTrunc(acc, g.f32);
  };
  // Every root is computed before any result is stored: a result may share its storage with an
  // operand that another root reads at the same element (an in-place update).
  auto store = [&](const std::vector<Value*>& accs) {
    std::vector<Value*> values;
    for (size_t i = 0; i < outs.size(); ++i) values.push_back(emitExpr(g, k, outs[i].root, idx, accs[i]));
    for (size_t i = 0; i < outs.size(); ++i) {
      Value* off = g.c(0);
      for (int d = 0; d < k.numKept; ++d)
        if (outs[i].outStrides[d] != Lin{}) off = g.add(off, g.mul(idx[d], g.lin(outs[i].outStrides[d])));
      const DType t = p.buffers[k.args[outs[i].arg]].type.dtype;
      g.b.CreateStore(values[i], g.gep(t, g.args[outs[i].arg], off));
    }
  };
  auto body = [&] {
    std::vector<Value*> accs(outs.size(), nullptr);
    if (reduces) {
      std::vector<Value*> slots;
      for (const kir::LoopOutput& o : outs) {
        slots.push_back(g.alloca(accTy(o)));
        g.b.CreateStore(initial(o), slots.back());
      }
      nest(k.numKept, [&] {
        for (size_t i = 0; i < outs.size(); ++i) accumulate(outs[i], slots[i]);
      });
      for (size_t i = 0; i < outs.size(); ++i) accs[i] = finish(outs[i], g.b.CreateLoad(accTy(outs[i]), slots[i]));
    }
    store(accs);
  };
  // innerKept: the last kept dim's E indices each have an accumulator, and the loop over them is
  // innermost, inside the reduced dims. It is unrolled into E scalar accumulators per result, which
  // SROA keeps in registers and the SLP vectorizer packs into vectors (the E reads of a blocked
  // buffer are contiguous). A loop over them kept the accumulators in a stack array, a
  // store-to-load round trip per step: a batch-norm statistic ran at a quarter of the plain one's
  // speed.
  const int innerDim = k.numKept - 1;
  auto innerBody = [&] {
    const int64_t e = k.space[innerDim].constant;
    std::vector<std::vector<Value*>> slots(outs.size());
    for (size_t o = 0; o < outs.size(); ++o)
      for (int64_t i = 0; i < e; ++i) {
        slots[o].push_back(g.alloca(accTy(outs[o])));
        g.b.CreateStore(initial(outs[o]), slots[o].back());
      }
    nest(k.numKept, [&] {
      for (int64_t i = 0; i < e; ++i) {
        idx[innerDim] = g.c(i);
        for (size_t o = 0; o < outs.size(); ++o) accumulate(outs[o], slots[o][static_cast<size_t>(i)]);
      }
    });
    for (int64_t i = 0; i < e; ++i) {
      idx[innerDim] = g.c(i);
      std::vector<Value*> accs;
      for (size_t o = 0; o < outs.size(); ++o) accs.push_back(finish(outs[o], g.b.CreateLoad(accTy(outs[o]), slots[o][static_cast<size_t>(i)])));
      store(accs);
    }
    idx[innerDim] = nullptr;
  };
  const bool innerLoop = k.innerKept && reduces && k.numKept >= 2 && k.space[innerDim].isConst();
  const int outerKept = innerLoop ? innerDim : k.numKept;
  // The parallel extent is the outermost kept dim (or one call for a full reduction).
  std::function<void(int)> kept = [&](int d) {
    if (d == outerKept) return innerLoop ? innerBody() : body();
    g.loop(d == 0 ? g.begin : g.c(0), d == 0 ? g.end : g.lin(k.space[d]), [&](Value* i) { idx[d] = i; kept(d + 1); });
  };
  if (g.style != CodeStyle::Host) {
    // A thread per element of the kept dims outside the reduction, flattened row-major (B appears
    // in one of them at most, so the count is linear in B).
    Lin extent{0, 1};
    for (int d = 0; d < outerKept; ++d)
      extent = {extent.perBatch * k.space[d].constant + extent.constant * k.space[d].perBatch, extent.constant * k.space[d].constant};
    g.parallel([&](Value* flat) {
      for (int d = outerKept - 1; d > 0; --d) {
        Value* n = g.lin(k.space[d]);
        idx[d] = g.b.CreateURem(flat, n);
        flat = g.b.CreateUDiv(flat, n);
      }
      if (outerKept > 0) idx[0] = flat;
      innerLoop ? innerBody() : body();
    });
    out.extentPerBatch = extent.perBatch;
    out.extentConst = extent.constant;
  } else if (k.numKept == 0) {
    g.loop(g.begin, g.end, [&](Value*) { body(); });
    out.extentPerBatch = 0;
    out.extentConst = 1;
  } else {
    kept(0);
    out.extentPerBatch = k.space[0].perBatch;
    out.extentConst = k.space[0].constant;
  }
  int64_t inner = 1;
  for (int d = 1; d < rank; ++d) inner *= maxAt(k.space[d], p.maxBatch);
  out.grain = std::max<int64_t>(1, 16384 / inner);
  out.flops = static_cast<double>(inner) * static_cast<double>(maxAt(k.numKept ? k.space[0] : Lin{0, 1}, p.maxBatch)) *
              static_cast<double>(k.ops.size());
}

// ----- Single-op kernels -----

int normAxis(int64_t axis, int rank) { return static_cast<int>(axis < 0 ? axis + rank : axis); }
Lin prodLin(const Dims& d, int from, int to) {
  Lin r{0, 1};
  for (int k = from; k < to; ++k) {
    const Lin x = kir::dimLin(d[k]);
    r = {r.perBatch * x.constant + r.constant * x.perBatch, r.constant * x.constant};
  }
  return r;
}

// Softmax and log_softmax along `axis`, in double like the reference: max, sum of exp, write.
void emitSoftmax(Gen& g, const Kernel& k, const kir::KProgram&, LoweredKernel& out) {
  const bool log = k.op == OpKind::LogSoftmax;
  const Dims& d = k.resultType.dims;
  const int axis = normAxis(k.attrs.i("axis"), static_cast<int>(d.size()));
  const Lin outerL = prodLin(d, 0, axis), innerL = prodLin(d, axis + 1, static_cast<int>(d.size()));
  Value *n = g.lin(kir::dimLin(d[axis])), *inner = g.lin(innerL);
  auto& b = g.b;
  g.parallel([&](Value* o) {
    g.loop(g.c(0), inner, [&](Value* i) {
      Value* base = g.add(g.mul(g.mul(o, n), inner), i);
      auto at = [&](Value* j) { return g.add(base, g.mul(j, inner)); };
      auto x = [&](Value* j) { return b.CreateFPExt(b.CreateLoad(g.f32, g.gep(DType::F32, g.args[1], at(j))), g.f64); };
      Value* mslot = g.alloca(g.f64);
      Value* sslot = g.alloca(g.f64);
      b.CreateStore(llvm::ConstantFP::getInfinity(g.f64, true), mslot);
      b.CreateStore(llvm::ConstantFP::get(g.f64, 0.0), sslot);
      g.loop(g.c(0), n, [&](Value* j) {
        Value *m = b.CreateLoad(g.f64, mslot), *v = x(j);
        b.CreateStore(b.CreateSelect(b.CreateFCmpOLT(m, v), v, m), mslot);
      });
      Value* m = b.CreateLoad(g.f64, mslot);
      g.loop(g.c(0), n, [&](Value* j) {
        Value* e = g.intrinsic(llvm::Intrinsic::exp, {b.CreateFSub(x(j), m)});
        b.CreateStore(b.CreateFAdd(b.CreateLoad(g.f64, sslot), e), sslot);
      });
      Value* total = b.CreateLoad(g.f64, sslot);
      Value* logTotal = log ? b.CreateFAdd(m, g.intrinsic(llvm::Intrinsic::log, {total})) : nullptr;
      g.loop(g.c(0), n, [&](Value* j) {
        Value* r = log ? b.CreateFSub(x(j), logTotal)
                       : b.CreateFDiv(g.intrinsic(llvm::Intrinsic::exp, {b.CreateFSub(x(j), m)}), total);
        b.CreateStore(b.CreateFPTrunc(r, g.f32), g.gep(DType::F32, g.args[0], at(j)));
      });
    });
  });
  out.extentPerBatch = outerL.perBatch;
  out.extentConst = outerL.constant;
  out.grain = std::max<int64_t>(1, 4096 / std::max<int64_t>(1, maxAt(kir::dimLin(d[axis]), 64) * maxAt(innerL, 64)));
}

// Row i of the result is zero except a 1 at column label[i] (an out-of-range label gives a zero row).
void emitOneHot(Gen& g, const Kernel& k, const kir::KProgram&, LoweredKernel& out) {
  const int64_t classes = k.attrs.i("classes");
  auto& b = g.b;
  g.parallel([&](Value* i) {
    Value* row = g.mul(i, g.c(classes));
    g.loop(g.c(0), g.c(classes), [&](Value* j) {
      b.CreateStore(fconst(g, 0.0), g.gep(DType::F32, g.args[0], g.add(row, j)));
    });
    Value* label = b.CreateSExt(b.CreateLoad(g.i32, g.gep(DType::I32, g.args[1], i)), g.i64);
    Value* inRange = b.CreateAnd(b.CreateICmpSGE(label, g.c(0)), b.CreateICmpSLT(label, g.c(classes)));
    g.ifThen(inRange, [&] { b.CreateStore(fconst(g, 1.0), g.gep(DType::F32, g.args[0], g.add(row, label))); });
  });
  const Lin n = prodLin(k.operandTypes[0].dims, 0, k.operandTypes[0].rank());
  out.extentPerBatch = n.perBatch;
  out.extentConst = n.constant;
  out.grain = std::max<int64_t>(1, 16384 / classes);
}

// softmax_cross_entropy (z, labels) -> loss [N] and its gradient (z, labels, dloss) -> dz [N, K],
// a row per iteration in double as softmax is: the row's log-sum-exp, then its loss
// lse - z[label], or each dz = (exp(z - lse) - [j == label]) * dloss. A label outside [0, K) gives
// 0 (one_hot's row of zeros).
void emitSoftmaxCrossEntropy(Gen& g, const Kernel& k, const kir::KProgram&, LoweredKernel& out) {
  const bool grad = k.op == OpKind::SoftmaxCrossEntropyGrad;
  const int64_t classes = k.operandTypes[0].dims[1];
  auto& b = g.b;
  g.parallel([&](Value* i) {
    Value* row = g.mul(i, g.c(classes));
    auto z = [&](Value* j) { return b.CreateFPExt(b.CreateLoad(g.f32, g.gep(DType::F32, g.args[1], g.add(row, j))), g.f64); };
    Value* mslot = g.alloca(g.f64);
    Value* sslot = g.alloca(g.f64);
    b.CreateStore(llvm::ConstantFP::getInfinity(g.f64, true), mslot);
    b.CreateStore(llvm::ConstantFP::get(g.f64, 0.0), sslot);
    g.loop(g.c(0), g.c(classes), [&](Value* j) {
      Value *m = b.CreateLoad(g.f64, mslot), *v = z(j);
      b.CreateStore(b.CreateSelect(b.CreateFCmpOLT(m, v), v, m), mslot);
    });
    Value* m = b.CreateLoad(g.f64, mslot);
    g.loop(g.c(0), g.c(classes), [&](Value* j) {
      b.CreateStore(b.CreateFAdd(b.CreateLoad(g.f64, sslot), g.intrinsic(llvm::Intrinsic::exp, {b.CreateFSub(z(j), m)})), sslot);
    });
    Value* lse = b.CreateFAdd(m, g.intrinsic(llvm::Intrinsic::log, {b.CreateLoad(g.f64, sslot)}));
    Value* label = b.CreateSExt(b.CreateLoad(g.i32, g.gep(DType::I32, g.args[2], i)), g.i64);
    Value* inRange = b.CreateAnd(b.CreateICmpSGE(label, g.c(0)), b.CreateICmpSLT(label, g.c(classes)));
    Value* zero = llvm::ConstantFP::get(g.f64, 0.0);
    if (!grad) {
      Value* picked = z(b.CreateSelect(inRange, label, g.c(0)));
      Value* loss = b.CreateSelect(inRange, b.CreateFSub(lse, picked), zero);
      b.CreateStore(b.CreateFPTrunc(loss, g.f32), g.gep(DType::F32, g.args[0], i));
      return;
    }
    Value* dloss = b.CreateFPExt(b.CreateLoad(g.f32, g.gep(DType::F32, g.args[3], i)), g.f64);
    Value* scale = b.CreateSelect(inRange, dloss, zero);
    g.loop(g.c(0), g.c(classes), [&](Value* j) {
      Value* p = g.intrinsic(llvm::Intrinsic::exp, {b.CreateFSub(z(j), lse)});
      Value* hot = b.CreateSelect(b.CreateICmpEQ(j, label), llvm::ConstantFP::get(g.f64, 1.0), zero);
      b.CreateStore(b.CreateFPTrunc(b.CreateFMul(b.CreateFSub(p, hot), scale), g.f32), g.gep(DType::F32, g.args[0], g.add(row, j)));
    });
  });
  const Lin n = kir::dimLin(k.operandTypes[0].dims[0]);
  out.extentPerBatch = n.perBatch;
  out.extentConst = n.constant;
  out.grain = std::max<int64_t>(1, 4096 / classes);
}

// Element i keeps iff uniformFromBits(Philox4x32-10((i, step, 0, 0), (seed, salt))[0]) >= p
// (codegen/ref/nn.cpp); operands (x, seed, step).
void emitDropoutMask(Gen& g, const Kernel& k, const kir::KProgram&, LoweredKernel& out) {
  auto& b = g.b;
  const double p = k.attrs.f("p");
  const auto salt = static_cast<uint32_t>(k.attrs.i("salt"));
  Value* seed = b.CreateLoad(g.i32, g.args[2]);
  Value* step = b.CreateLoad(g.i32, g.args[3]);
  const float keep = static_cast<float>(1.0 / (1.0 - p));
  g.parallel([&](Value* i) {
    std::array<Value*, 4> c = {b.CreateTrunc(i, g.i32), step, b.getInt32(0), b.getInt32(0)};
    Value* k0 = seed;
    uint32_t k1 = salt;
    for (int round = 0; round < 10; ++round) {
      if (round > 0) {
        k0 = b.CreateAdd(k0, b.getInt32(kPhiloxW0));
        k1 += kPhiloxW1;
      }
      Value* p0 = b.CreateMul(b.CreateZExt(c[0], g.i64), g.c(kPhiloxM0));
      Value* p1 = b.CreateMul(b.CreateZExt(c[2], g.i64), g.c(kPhiloxM1));
      Value *hi0 = b.CreateTrunc(b.CreateLShr(p0, 32), g.i32), *lo0 = b.CreateTrunc(p0, g.i32);
      Value *hi1 = b.CreateTrunc(b.CreateLShr(p1, 32), g.i32), *lo1 = b.CreateTrunc(p1, g.i32);
      c = {b.CreateXor(b.CreateXor(hi1, c[1]), k0), lo1, b.CreateXor(b.CreateXor(hi0, c[3]), b.getInt32(k1)), lo0};
    }
    Value* u = b.CreateFMul(b.CreateUIToFP(b.CreateLShr(c[0], 8), g.f32), fconst(g, 1.0 / 16777216.0));
    Value* kept = b.CreateFCmpOGE(b.CreateFPExt(u, g.f64), llvm::ConstantFP::get(g.f64, p));
    b.CreateStore(b.CreateSelect(kept, fconst(g, keep), fconst(g, 0.0)), g.gep(DType::F32, g.args[0], i));
  });
  const Lin n = prodLin(k.resultType.dims, 0, k.resultType.rank());
  out.extentPerBatch = n.perBatch;
  out.extentConst = n.constant;
  out.grain = 4096;
}

// Concat, slice and pad move rows of [outer, extent along axis * inner]; the extent is outer.
void emitRows(Gen& g, const Kernel& k, const kir::KProgram& p, LoweredKernel& out) {
  auto& b = g.b;
  const Dims& od = k.resultType.dims;
  const int rank = static_cast<int>(od.size());
  const int axis = normAxis(k.attrs.i("axis"), rank);
  const Lin outerL = prodLin(od, 0, axis);
  Value* inner = g.lin(prodLin(od, axis + 1, rank));
  Value* outRow = g.mul(g.lin(kir::dimLin(od[axis])), inner);
  const DType dt = p.buffers[k.args[0]].type.dtype;
  auto copy = [&](Value* o, int arg, Value* srcRow, Value* srcStart, Value* dstStart, Value* len) {
    g.loop(g.c(0), len, [&](Value* j) {
      Value* v = b.CreateLoad(g.type(dt), g.gep(dt, g.args[arg], g.add(g.add(g.mul(o, srcRow), srcStart), j)));
      b.CreateStore(v, g.gep(dt, g.args[0], g.add(g.add(g.mul(o, outRow), dstStart), j)));
    });
  };
  g.parallel([&](Value* o) {
    if (k.op == OpKind::Concat) {
      Value* offset = g.c(0);
      for (size_t t = 0; t < k.operandTypes.size(); ++t) {
        Value* row = g.mul(g.lin(kir::dimLin(k.operandTypes[t].dims[axis])), inner);
        copy(o, static_cast<int>(t) + 1, row, g.c(0), offset, row);
        offset = g.add(offset, row);
      }
    } else if (k.op == OpKind::Slice) {
      Value* inRow = g.mul(g.lin(kir::dimLin(k.operandTypes[0].dims[axis])), inner);
      int64_t start = k.attrs.i("start");
      if (start < 0) start += k.operandTypes[0].dims[axis];
      copy(o, 1, inRow, g.mul(g.c(start), inner), g.c(0), outRow);
    } else {  // Pad: zeros, then the operand's row after `before` slots.
      g.loop(g.c(0), outRow, [&](Value* j) {
        b.CreateStore(dt == DType::I32 ? static_cast<Value*>(b.getInt32(0)) : fconst(g, 0.0),
                      g.gep(dt, g.args[0], g.add(g.mul(o, outRow), j)));
      });
      Value* inRow = g.mul(g.lin(kir::dimLin(k.operandTypes[0].dims[axis])), inner);
      copy(o, 1, inRow, g.c(0), g.mul(g.c(k.attrs.i("before")), inner), inRow);
    }
  });
  out.extentPerBatch = outerL.perBatch;
  out.extentConst = outerL.constant;
  out.grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, prodLin(od, axis, rank).at(p.maxBatch)));
}

// Heavy kernels already emitted, by what determines their code (op, attributes, types): eval and
// train_step run the same forward convolutions and matmuls, and one function serves both.
using HeavyCache = std::map<std::string, LoweredKernel>;

bool isBlocked(const kir::KProgram& p, const Kernel& k) { return p.buffers[k.args[0]].layout == kir::Layout::NChw16c; }

std::string heavyKey(const kir::KProgram& p, const Kernel& k) {
  std::string key = fmt::format("{}{}", mnemonic(k.op), formatAttrs(k.attrs));
  for (const TensorType& t : k.operandTypes) key += " " + formatType(t);
  return key + " -> " + formatType(k.resultType) + (isBlocked(p, k) ? " nChw16c" : "");
}

Status emitKernel(llvm::Module& m, const kir::KProgram& p, const Kernel& k, const HeavyTarget& target, CodeStyle style,
                  HeavyCache& heavy, LoweredKernel& out) {
  out.symbol = k.name;
  // The executor calls the library once per run, on its own threads: nothing to generate.
  if (k.kind == kir::KernelKind::Library) {
    out.flops = heavyOpFlops(k, p.maxBatch);
    return ok();
  }
  const Entry* entry = k.kind == kir::KernelKind::Op ? entryFor(k.op) : nullptr;
  if (entry && entry->kind == LoweringKind::Heavy && style == CodeStyle::Device)
    return Error(fmt::format("'{}' has no device kernel: the target's library must run it", mnemonic(k.op)));
  if (entry && entry->kind == LoweringKind::Heavy) {
    const std::string key = heavyKey(p, k);
    if (auto it = heavy.find(key); it != heavy.end()) {
      out = it->second;
      return ok();
    }
    Expected<HeavyKernel> h = emitHeavyKernel(m, k.op, k.attrs, k.operandTypes, k.resultType, k.name, target, isBlocked(p, k));
    if (!h) return h.error();
    out.extentPerBatch = h->extentPerBatch;
    out.extentConst = h->extentConst;
    out.grain = h->grain;
    out.flops = heavyOpFlops(k, p.maxBatch);
    heavy.emplace(key, out);
    return ok();
  }
  if (entry && entry->kind != LoweringKind::Kernel)
    return Error(fmt::format("the CPU backend cannot lower '{}' as a kernel: {}", mnemonic(k.op),
                             entry->note ? entry->note : "not a kernel op"));
  // An operand that is a result's storage (an in-place update) is read through that result's own
  // pointer: then every pointer is noalias, and LLVM sees that x[i] = f(x[i]) reads before it
  // writes and vectorizes it without the runtime overlap check that would fail and fall back to
  // scalar code.
  std::vector<int> sameAs(k.args.size());
  for (size_t a = 0; a < k.args.size(); ++a) {
    sameAs[a] = static_cast<int>(a);
    if (!kir::writesArg(k, a))
      for (const kir::LoopOutput& o : kir::loopOutputs(k))
        if (kir::sameBytes(p, k.args[a], k.args[o.arg])) sameAs[a] = o.arg;
  }
  Gen g(m, k.name, sameAs, style);
  if (k.kind == kir::KernelKind::Loop) {
    for (const Expr& e : k.exprs)
      if (e.kind == ExprKind::Op && (!entryFor(e.op) || !entryFor(e.op)->pointwise))
        return Error(fmt::format("'{}' is not a pointwise op", mnemonic(e.op)));
    emitLoopKernel(g, k, p, out);
  } else {
    if (!entry || !entry->emit)
      return Error(fmt::format("internal error: the CPU backend has no emitter for the kernel op '{}'", mnemonic(k.op)));
    entry->emit(g, k, p, out);
  }
  g.finish();
  return ok();
}

}  // namespace

LoweringInfo loweringFor(OpKind op) {
  const Entry* e = entryFor(op);
  if (!e) return {LoweringKind::Unsupported, nullptr, false};
  return {e->kind, e->note, e->emit != nullptr};
}

Expected<std::vector<std::vector<LoweredKernel>>> lowerKernels(const kir::KProgram& p, llvm::Module& m,
                                                                 const HeavyTarget& target, CodeStyle style) {
  std::vector<std::vector<LoweredKernel>> out;
  HeavyCache heavy;
  for (const kir::KFunction& f : p.functions) {
    out.emplace_back();
    for (const Kernel& k : f.kernels) {
      LoweredKernel lk;
      if (Status s = emitKernel(m, p, k, target, style, heavy, lk); !s) return s.error();
      out.back().push_back(lk);
    }
  }
  std::string err;
  llvm::raw_string_ostream os(err);
  if (llvm::verifyModule(m, &os)) return Error("internal error: invalid LLVM IR for the kernels: " + os.str());
  return out;
}

}  // namespace sinter::cpu
