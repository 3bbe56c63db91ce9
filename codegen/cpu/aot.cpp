// The plan as globals of the model's object file: its text, and a table {symbol, address} of the
// kernels its calls name (the one struct shared with the runtime: two pointers, checked below).
#include "codegen/cpu/aot.h"

#include <llvm/IR/Constants.h>
#include <llvm/IR/DerivedTypes.h>
#include <llvm/IR/GlobalVariable.h>
#include <llvm/IR/Module.h>

#include <cstddef>
#include <set>
#include <vector>

#include "runtime/main/model_symbols.h"

namespace sinter::cpu {

namespace {

llvm::GlobalVariable* constant(llvm::Module& m, llvm::Constant* init, const std::string& name, bool exported) {
  return new llvm::GlobalVariable(m, init->getType(), true,
                                  exported ? llvm::GlobalValue::ExternalLinkage : llvm::GlobalValue::PrivateLinkage,
                                  init, name);
}

}  // namespace

Status emitPlanGlobals(llvm::Module& m, const PlanSpec& plan, const EmbeddedTexts& texts) {
  llvm::LLVMContext& ctx = m.getContext();
  llvm::Type* ptr = llvm::PointerType::get(ctx, 0);
  llvm::StructType* symbolTy = llvm::StructType::get(ctx, {ptr, ptr});
  const llvm::StructLayout* layout = m.getDataLayout().getStructLayout(symbolTy);
  if (layout->getSizeInBytes() != sizeof(KernelSymbol) || layout->getElementOffset(1) != offsetof(KernelSymbol, fn))
    return Error("internal error: KernelSymbol is laid out differently by LLVM and by this compiler");

  // A device plan's generated kernels are entries of its device code, not host functions.
  std::set<std::string> symbols;
  for (const PlanSpec::Function& f : plan.functions)
    for (const PlanSpec::Call& c : f.calls)
      if (c.library.empty() && plan.deviceCode.empty()) symbols.insert(c.name);
  std::vector<llvm::Constant*> entries;
  for (const std::string& s : symbols) {
    llvm::Function* fn = m.getFunction(s);
    if (!fn) return Error(fmt::format("internal error: no kernel '{}' for the plan", s));
    fn->setLinkage(llvm::GlobalValue::InternalLinkage);
    llvm::Constant* name = constant(m, llvm::ConstantDataArray::getString(ctx, s), "sinter.kernel_name", false);
    entries.push_back(llvm::ConstantStruct::get(symbolTy, {name, fn}));
  }
  constant(m, llvm::ConstantArray::get(llvm::ArrayType::get(symbolTy, entries.size()), entries), "sinter_kernels", true);
  constant(m, llvm::ConstantInt::get(llvm::Type::getInt32Ty(ctx), entries.size()), "sinter_num_kernels", true);
  constant(m, llvm::ConstantDataArray::getString(ctx, formatPlan(plan)), "sinter_plan", true);
  constant(m, llvm::ConstantDataArray::getString(ctx, texts.trainConfig), "sinter_train_config", true);
  constant(m, llvm::ConstantDataArray::getString(ctx, texts.model.moduleIr), "sinter_module_ir", true);
  constant(m, llvm::ConstantDataArray::getString(ctx, texts.model.source), "sinter_model_source", true);
  return ok();
}

}  // namespace sinter::cpu
