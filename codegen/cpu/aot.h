// The plan as data inside an object file: what turns JIT'd kernels into a linkable program.
#pragma once

#include <string>

#include "ir/diagnostic.h"
#include "runtime/plan.h"

namespace llvm {
class Module;
}

namespace sinter::cpu {

// The symbols a built executable's main (runtime/main/model_main.cpp) reads.
inline constexpr const char* kPlanSymbol = "sinter_plan";
inline constexpr const char* kTrainConfigSymbol = "sinter_train_config";

// Adds `table` to `m` as constant globals laid out exactly as runtime/plan.h's structs (checked
// against this compiler's own layout), with each PlanCall's `fn` bound to the kernel whose symbol
// is the call's name; the kernels become internal. Adds `trainConfig` as a C string.
Status emitPlanGlobals(llvm::Module& m, const PlanTable& table, const std::string& trainConfig);

}  // namespace sinter::cpu
