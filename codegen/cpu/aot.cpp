// PlanTable -> LLVM constant globals. The struct types mirror runtime/plan.h field by field; the
// layout check below compares LLVM's data layout with this C++ compiler's offsets, so a change to
// plan.h that is not mirrored here fails at compile time of the model, not at run time.
#include "codegen/cpu/aot.h"

#include <llvm/IR/Constants.h>
#include <llvm/IR/DerivedTypes.h>
#include <llvm/IR/GlobalVariable.h>
#include <llvm/IR/Module.h>

#include <cstddef>
#include <vector>

namespace sinter::cpu {

namespace {

using llvm::Constant;

struct Emitter {
  llvm::Module& m;
  llvm::LLVMContext& ctx = m.getContext();
  llvm::Type* ptr = llvm::PointerType::get(ctx, 0);
  llvm::Type* i8 = llvm::Type::getInt8Ty(ctx);
  llvm::Type* i32 = llvm::Type::getInt32Ty(ctx);
  llvm::Type* i64 = llvm::Type::getInt64Ty(ctx);
  llvm::Type* f64 = llvm::Type::getDoubleTy(ctx);
  llvm::StructType* bufferTy = llvm::StructType::create(
      ctx, {ptr, i8, i8, i32, llvm::ArrayType::get(i64, kMaxRank), i8, i64, i64, ptr, f64, f64, i32}, "sinter.PlanBuffer");
  llvm::StructType* callTy = llvm::StructType::create(ctx, {ptr, ptr, ptr, i32, i64, i64, i64}, "sinter.PlanCall");
  llvm::StructType* functionTy =
      llvm::StructType::create(ctx, {ptr, ptr, i32, ptr, i32, ptr, ptr, i32}, "sinter.PlanFunction");
  llvm::StructType* tableTy = llvm::StructType::create(
      ctx, {ptr, ptr, i64, i64, i64, i64, ptr, i32, ptr, i32, f64}, "sinter.PlanTable");
  int counter = 0;

  Constant* int8(int64_t v) { return llvm::ConstantInt::get(i8, v); }
  Constant* int32(int64_t v) { return llvm::ConstantInt::get(i32, v); }
  Constant* int64(int64_t v) { return llvm::ConstantInt::get(i64, v); }
  Constant* real(double v) { return llvm::ConstantFP::get(f64, v); }

  Constant* global(Constant* init, const std::string& name, bool internal = true) {
    return new llvm::GlobalVariable(m, init->getType(), true,
                                    internal ? llvm::GlobalValue::PrivateLinkage : llvm::GlobalValue::ExternalLinkage,
                                    init, name);
  }
  Constant* string(const char* s) {
    return global(llvm::ConstantDataArray::getString(ctx, s ? s : ""), "sinter.str." + std::to_string(counter++));
  }
  Constant* array(llvm::Type* elem, const std::vector<Constant*>& items, const char* what) {
    if (items.empty()) return llvm::ConstantPointerNull::get(llvm::PointerType::get(ctx, 0));
    return global(llvm::ConstantArray::get(llvm::ArrayType::get(elem, items.size()), items),
                  std::string("sinter.") + what + "." + std::to_string(counter++));
  }
  Constant* ints(const int32_t* values, int32_t n) {
    std::vector<Constant*> items;
    for (int32_t i = 0; i < n; ++i) items.push_back(int32(values[i]));
    return array(i32, items, "ints");
  }

  Expected<Constant*> call(const PlanCall& c) {
    llvm::Function* fn = m.getFunction(c.name);
    if (!fn) return Error(fmt::format("internal error: no kernel '{}' for the plan", c.name));
    fn->setLinkage(llvm::GlobalValue::InternalLinkage);
    return llvm::ConstantStruct::get(callTy, {string(c.name), fn, ints(c.args, c.numArgs), int32(c.numArgs),
                                              int64(c.extentPerBatch), int64(c.extentConst), int64(c.grain)});
  }
  Constant* buffer(const PlanBuffer& b) {
    std::vector<Constant*> dims;
    for (int d = 0; d < kMaxRank; ++d) dims.push_back(int64(d < b.rank ? b.dims[d] : 0));
    return llvm::ConstantStruct::get(
        bufferTy, {string(b.name), int8(static_cast<int>(b.role)), int8(static_cast<int>(b.type)), int32(b.rank),
                   llvm::ConstantArray::get(llvm::ArrayType::get(i64, kMaxRank), dims), int8(b.persistent ? 1 : 0),
                   int64(b.offset), int64(b.bytesAtMaxBatch), string(b.init), real(b.initA), real(b.initB),
                   int32(b.initStream)});
  }
};

// LLVM's layout of `ty` must be the C++ compiler's layout of the struct it mirrors.
Status checkLayout(const llvm::DataLayout& dl, llvm::StructType* ty, size_t size, std::vector<size_t> offsets) {
  const llvm::StructLayout* layout = dl.getStructLayout(ty);
  bool same = layout->getSizeInBytes() == size && offsets.size() == ty->getNumElements();
  for (size_t i = 0; same && i < offsets.size(); ++i) same = layout->getElementOffset(i) == offsets[i];
  if (!same)
    return Error(fmt::format("internal error: {} is laid out differently by LLVM and by this compiler",
                             ty->getName().str()));
  return ok();
}

}  // namespace

Status emitPlanGlobals(llvm::Module& m, const PlanTable& t, const std::string& trainConfig) {
  Emitter e{m};
  const llvm::DataLayout& dl = m.getDataLayout();
  for (Status s : {
           checkLayout(dl, e.bufferTy, sizeof(PlanBuffer),
                       {offsetof(PlanBuffer, name), offsetof(PlanBuffer, role), offsetof(PlanBuffer, type),
                        offsetof(PlanBuffer, rank), offsetof(PlanBuffer, dims), offsetof(PlanBuffer, persistent),
                        offsetof(PlanBuffer, offset), offsetof(PlanBuffer, bytesAtMaxBatch),
                        offsetof(PlanBuffer, init), offsetof(PlanBuffer, initA), offsetof(PlanBuffer, initB),
                        offsetof(PlanBuffer, initStream)}),
           checkLayout(dl, e.callTy, sizeof(PlanCall),
                       {offsetof(PlanCall, name), offsetof(PlanCall, fn), offsetof(PlanCall, args),
                        offsetof(PlanCall, numArgs), offsetof(PlanCall, extentPerBatch),
                        offsetof(PlanCall, extentConst), offsetof(PlanCall, grain)}),
           checkLayout(dl, e.functionTy, sizeof(PlanFunction),
                       {offsetof(PlanFunction, name), offsetof(PlanFunction, calls), offsetof(PlanFunction, numCalls),
                        offsetof(PlanFunction, inputs), offsetof(PlanFunction, numInputs),
                        offsetof(PlanFunction, results), offsetof(PlanFunction, resultNames),
                        offsetof(PlanFunction, numResults)}),
           checkLayout(dl, e.tableTy, sizeof(PlanTable),
                       {offsetof(PlanTable, model), offsetof(PlanTable, target), offsetof(PlanTable, maxBatch),
                        offsetof(PlanTable, stateBytes), offsetof(PlanTable, workBytes),
                        offsetof(PlanTable, unplannedBytes), offsetof(PlanTable, buffers),
                        offsetof(PlanTable, numBuffers), offsetof(PlanTable, functions),
                        offsetof(PlanTable, numFunctions), offsetof(PlanTable, flopsPerStep)}),
       })
    if (!s) return s.error();

  std::vector<Constant*> buffers;
  for (int32_t i = 0; i < t.numBuffers; ++i) buffers.push_back(e.buffer(t.buffers[i]));
  std::vector<Constant*> functions;
  for (int32_t f = 0; f < t.numFunctions; ++f) {
    const PlanFunction& pf = t.functions[f];
    std::vector<Constant*> calls, names;
    for (int32_t c = 0; c < pf.numCalls; ++c) {
      Expected<Constant*> call = e.call(pf.calls[c]);
      if (!call) return call.error();
      calls.push_back(*call);
    }
    for (int32_t r = 0; r < pf.numResults; ++r) names.push_back(e.string(pf.resultNames[r]));
    functions.push_back(llvm::ConstantStruct::get(
        e.functionTy, {e.string(pf.name), e.array(e.callTy, calls, "calls"), e.int32(pf.numCalls),
                       e.ints(pf.inputs, pf.numInputs), e.int32(pf.numInputs), e.ints(pf.results, pf.numResults),
                       e.array(e.ptr, names, "names"), e.int32(pf.numResults)}));
  }
  Constant* table = llvm::ConstantStruct::get(
      e.tableTy, {e.string(t.model), e.string(t.target), e.int64(t.maxBatch), e.int64(t.stateBytes),
                  e.int64(t.workBytes), e.int64(t.unplannedBytes), e.array(e.bufferTy, buffers, "buffers"),
                  e.int32(t.numBuffers), e.array(e.functionTy, functions, "functions"),
                  e.int32(t.numFunctions), e.real(t.flopsPerStep)});
  e.global(table, kPlanSymbol, false);
  e.global(llvm::ConstantDataArray::getString(m.getContext(), trainConfig), kTrainConfigSymbol, false);
  return ok();
}

}  // namespace sinter::cpu
