// What the object file of a model built by `sinter build` defines for its main: the plan as text
// (runtime/plan_spec.h), the kernels by symbol, the train settings as text, and the model as text
// (its module and source, which trace a non-finite loss to its model line: runtime/numerics.h).
#pragma once

#include <string>

#include "runtime/numerics.h"
#include "runtime/plan.h"

namespace sinter {

// The texts the compiler writes into the object besides the plan: sinter_train_config (the
// formatTrainConfig text), sinter_module_ir and sinter_model_source.
struct EmbeddedTexts {
  std::string trainConfig;
  ModelText model;
};

struct KernelSymbol {
  const char* name;
  KernelFn fn;
};

}  // namespace sinter

extern "C" const char sinter_plan[];
extern "C" const sinter::KernelSymbol sinter_kernels[];
extern "C" const int32_t sinter_num_kernels;
extern "C" const char sinter_train_config[];
extern "C" const char sinter_module_ir[];
extern "C" const char sinter_model_source[];
