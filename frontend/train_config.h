// The `train { ... }` block read into typed training settings, with PyTorch's defaults.
#pragma once

#include "frontend/ast.h"
#include "support/train_config.h"

#include <cstdint>
#include <string_view>
#include <vector>

namespace sinter {

// Reads and checks a train block; a null block gives the defaults. Every setting is checked on its
// own, so the Error lists each unknown or duplicate key, unknown optimizer or argument, wrong value
// type and out-of-range value, located at the offending key, argument or value.
Expected<TrainConfig> readTrainConfig(const ast::TrainBlock* block);

}  // namespace sinter
