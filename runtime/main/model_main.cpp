// The main() of an executable built by `sinter build`: the object file the compiler wrote supplies
// the plan (kernels and buffers) and the model's train block; everything else is the runtime.
#include <cstdio>

#include "runtime/plan.h"
#include "runtime/train_config.h"
#include "runtime/trainer_main.h"

extern "C" const sinter::PlanTable sinter_plan;
extern "C" const char sinter_train_config[];

int main(int argc, char** argv) {
  sinter::Expected<sinter::TrainConfig> config = sinter::parseTrainConfig(sinter_train_config);
  if (!config) {
    std::fprintf(stderr, "error: %s\n", config.error().message().c_str());
    return 1;
  }
  return sinter::trainerMain(sinter_plan, *config, argc, argv);
}
