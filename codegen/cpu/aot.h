// The plan inside an object file: what turns the kernels into a linkable program.
#pragma once

#include <string>

#include "runtime/main/model_symbols.h"
#include "runtime/plan_spec.h"
#include "support/error.h"

namespace llvm {
class Module;
}

namespace sinter::cpu {

// Adds to `m` the globals a built executable's main reads (runtime/main/model_main.cpp): the plan
// as text (formatPlan), the kernel symbol table that binds its calls, the train settings and the
// model as text.
// The kernels become internal: only the table reaches them.
Status emitPlanGlobals(llvm::Module& m, const PlanSpec& plan, const EmbeddedTexts& texts);

}  // namespace sinter::cpu
