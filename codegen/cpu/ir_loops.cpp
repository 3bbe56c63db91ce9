// Counted loops and branches in LLVM IR for the kernel generators.
#include "codegen/cpu/ir_loops.h"

namespace sinter::cpu {

namespace {

void markNotUnrolled(llvm::BranchInst* latch) {
  llvm::LLVMContext& ctx = latch->getContext();
  llvm::MDNode* disable = llvm::MDNode::get(ctx, llvm::MDString::get(ctx, "llvm.loop.unroll.disable"));
  llvm::MDNode* id = llvm::MDNode::getDistinct(ctx, {nullptr, disable});
  id->replaceOperandWith(0, id);  // a loop ID refers to itself
  latch->setMetadata(llvm::LLVMContext::MD_loop, id);
}

}  // namespace

void emitLoop(llvm::IRBuilder<>& b, llvm::Value* lo, llvm::Value* hi, int64_t step,
              const std::function<void(llvm::Value*)>& body, bool unrollable) {
  llvm::LLVMContext& ctx = b.getContext();
  llvm::Function* f = b.GetInsertBlock()->getParent();
  llvm::BasicBlock* pre = b.GetInsertBlock();
  auto* head = llvm::BasicBlock::Create(ctx, "loop", f);
  auto* inner = llvm::BasicBlock::Create(ctx, "body", f);
  auto* exit = llvm::BasicBlock::Create(ctx, "exit", f);
  b.CreateBr(head);
  b.SetInsertPoint(head);
  llvm::PHINode* iv = b.CreatePHI(b.getInt64Ty(), 2);
  iv->addIncoming(lo, pre);
  b.CreateCondBr(b.CreateICmpSLT(iv, hi), inner, exit);
  b.SetInsertPoint(inner);
  body(iv);
  iv->addIncoming(b.CreateAdd(iv, b.getInt64(static_cast<uint64_t>(step)), "", false, true), b.GetInsertBlock());
  llvm::BranchInst* back = b.CreateBr(head);
  if (!unrollable) markNotUnrolled(back);
  b.SetInsertPoint(exit);
}

void emitIf(llvm::IRBuilder<>& b, llvm::Value* cond, const std::function<void()>& then,
            const std::function<void()>& otherwise) {
  if (auto* k = llvm::dyn_cast<llvm::ConstantInt>(cond)) {
    k->isZero() ? otherwise() : then();
    return;
  }
  llvm::LLVMContext& ctx = b.getContext();
  llvm::Function* f = b.GetInsertBlock()->getParent();
  auto* thenBB = llvm::BasicBlock::Create(ctx, "then", f);
  auto* elseBB = llvm::BasicBlock::Create(ctx, "else", f);
  auto* join = llvm::BasicBlock::Create(ctx, "join", f);
  b.CreateCondBr(cond, thenBB, elseBB);
  b.SetInsertPoint(thenBB);
  then();
  b.CreateBr(join);
  b.SetInsertPoint(elseBB);
  otherwise();
  b.CreateBr(join);
  b.SetInsertPoint(join);
}

}  // namespace sinter::cpu
