// What the object file of a model built by `sinter build` defines for its main: the plan as text
// (runtime/plan_spec.h), the kernels by symbol, and the train settings as text.
#pragma once

#include "runtime/plan.h"

namespace sinter {

struct KernelSymbol {
  const char* name;
  KernelFn fn;
};

}  // namespace sinter

extern "C" const char sinter_plan[];
extern "C" const sinter::KernelSymbol sinter_kernels[];
extern "C" const int32_t sinter_num_kernels;
extern "C" const char sinter_train_config[];
