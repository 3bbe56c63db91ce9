// The frontend as one call: read a .nn file, parse it, read its train block, lower it to IR.
#pragma once

#include <optional>

#include "frontend/ast.h"
#include "support/source.h"
#include "frontend/train_config.h"
#include "ir/module.h"

namespace sinter {

// What the frontend made of a file. `source` is kept (when the file could be read) so the tools
// can render diagnostics with the quoted line.
struct FrontendResult {
  std::optional<SourceFile> source;
  std::optional<ast::Program> program;
  TrainConfig train;
  std::optional<Module> module;
  std::optional<Error> error;  // set when any stage failed; holds every diagnostic found
};

// Stops after parsing when `parseOnly` (for `dump --stage=ast`).
FrontendResult compileFile(const std::string& path, bool parseOnly = false);
FrontendResult compileSource(SourceFile source, bool parseOnly = false);

// The optimizer settings the training-step pass reads, as module attributes.
Attrs trainAttrs(const TrainConfig& config);

}  // namespace sinter
