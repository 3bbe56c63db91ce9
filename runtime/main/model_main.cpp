// The main() of an executable built by `sinter build`: the object file the compiler wrote supplies
// the plan (as text, with its kernels by symbol) and the model's train block; everything else is
// the runtime.
#include <cstdio>
#include <string_view>

#include "runtime/main/model_symbols.h"
#include "runtime/plan_spec.h"
#include "runtime/trainer_main.h"
#include "support/train_config.h"

int main(int argc, char** argv) {
  using namespace sinter;
  auto fail = [](const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.message().c_str());
    return 1;
  };
  Expected<TrainConfig> config = parseTrainConfig(sinter_train_config);
  if (!config) return fail(config.error());
  Expected<PlanSpec> plan = parsePlan(sinter_plan);
  if (!plan) return fail(plan.error());
  Status bound = bindKernels(*plan, [](const std::string& symbol) -> Expected<void*> {
    for (int32_t i = 0; i < sinter_num_kernels; ++i)
      if (symbol == sinter_kernels[i].name) return reinterpret_cast<void*>(sinter_kernels[i].fn);
    return Error(fmt::format("plan: kernel '{}' is not in this executable", symbol));
  });
  if (!bound) return fail(bound.error());
  const OwnedPlan owned(plan.take());
  return trainerMain(owned.table(), *config, argc, argv, ModelText{sinter_module_ir, sinter_model_source});
}
