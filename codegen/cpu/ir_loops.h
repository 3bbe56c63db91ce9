// Structured control flow for both kernel generators (lower_kernels.cpp and the heavy kernels):
// counted loops and branches emitted at an IRBuilder's insertion point.
#pragma once

#include <llvm/IR/IRBuilder.h>

#include <cstdint>
#include <functional>

namespace sinter::cpu {

// for (iv = lo; iv < hi; iv += step) body(iv), with a signed i64 compare. The loop is marked not
// to unroll unless `unrollable`: only the heavy tiles' reduction loops gain from unrolling, and
// unrolled copies of every loop doubled the code LLVM had to compile.
void emitLoop(llvm::IRBuilder<>& b, llvm::Value* lo, llvm::Value* hi, int64_t step,
              const std::function<void(llvm::Value*)>& body, bool unrollable = false);

// if (cond) then() else otherwise(). A constant condition emits only the branch it takes; an
// empty else block costs nothing (LLVM's CFG simplification folds it away).
void emitIf(llvm::IRBuilder<>& b, llvm::Value* cond, const std::function<void()>& then,
            const std::function<void()>& otherwise = [] {});

}  // namespace sinter::cpu
