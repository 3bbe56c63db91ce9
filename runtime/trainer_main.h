// The command line of a compiled model (`./lenet train|eval|predict|info`) and of `sinter train`.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "runtime/plan.h"
#include "support/train_config.h"

namespace sinter {

// Verbs:
//   train   [--data DIR] [--epochs N] [--batch N] [--lr X] [--threads N] [--seed N]
//           [--save F] [--resume F] [--log F] [--plot F]   (--plot: training curves as SVG at the end)
//   eval    --weights F [--data DIR] [--batch N] [--threads N]
//   predict --weights F [--threads N] FILE...    (PGM or PNG images, or IDX image files)
//   info
// `defaults` is the model's train block; flags override it. The data directory defaults to
// kDefaultDataDir (Fashion-MNIST). Errors are one line on stderr, "error: ...", and exit status 1.
// SIGINT or SIGTERM during train saves --save where it stopped, prints how to resume ("interrupted at
// step 1234 (epoch 3, step 57 of 391); saved F: resume with --resume F") and exits with status 130.
// argv[0] names the program in the usage text.
int trainerMain(const PlanTable& table, const TrainConfig& defaults, int argc, char** argv);

// The same with the arguments as strings (args[0] is the program name) and the streams given, for
// tools that build the argument list and for tests.
int trainerMain(const PlanTable& table, const TrainConfig& defaults, const std::vector<std::string>& args,
                std::FILE* out, std::FILE* err);

}  // namespace sinter
