// The command line of a compiled model (`./lenet train|eval|predict|info`) and of `sinter train`.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "runtime/numerics.h"
#include "runtime/plan.h"
#include "support/train_config.h"

namespace sinter {

// Verbs:
//   train   [--data DIR] [--epochs N] [--batch N] [--lr X] [--threads N] [--seed N]
//           [--save F] [--resume F] [--log F] [--plot F]   (--plot: training curves as SVG at the end)
//           [--check-numerics]   (replay every step on the reference evaluator; needs `model`)
//   eval    --weights F [--data DIR] [--batch N] [--threads N]
//   predict --weights F [--threads N] FILE...    (PGM or PNG images, or IDX image files)
//   (eval, predict and train --resume take --allow-unexpected: a checkpoint's tensors that the
//   model does not have are ignored and named, rather than an error)
//   info
// `defaults` is the model's train block; flags override it. The data directory defaults to
// kDefaultDataDir (Fashion-MNIST). Errors go to stderr, "error: ...", and exit status 1; a non-finite
// loss is traced to its op and quoted model line when `model` holds the module (runtime/numerics.h).
// SIGINT or SIGTERM during train saves --save where it stopped, prints how to resume ("interrupted at
// step 1234 (epoch 3, step 57 of 391); saved F: resume with --resume F") and exits with status 130.
// argv[0] names the program in the usage text.
int trainerMain(const PlanTable& table, const TrainConfig& defaults, int argc, char** argv, const ModelText& model = {});

// The same with the arguments as strings (args[0] is the program name) and the streams given, for
// tools that build the argument list and for tests.
int trainerMain(const PlanTable& table, const TrainConfig& defaults, const std::vector<std::string>& args,
                std::FILE* out, std::FILE* err, const ModelText& model = {});

}  // namespace sinter
