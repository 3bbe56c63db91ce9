// AST -> IR: name resolution, dtype and shape inference, attribute checking, and the expansion of
// layers into primitive ops plus parameters named after their binding (PyTorch layouts and initializers).
#pragma once

#include <string_view>

#include "frontend/ast.h"
#include "ir/module.h"

namespace sinter {

// Lowers a parsed model into a module holding one function, @forward: the model's inputs as
// arguments, its outputs and `loss` (when present) as results. Train/eval-dependent layers
// (dropout, batchnorm) stay as mode ops for the training-step pass to specialize. The Error holds
// every independent error found, each located in the model source.
// Blocks are expanded at their calls; an error inside one carries a note per call that led there,
// innermost first, each starting with kInBlockNote ("in block 'basic', called here").
Expected<Module> lowerModel(const ast::Program& program, const std::string& sourcePath);

inline constexpr std::string_view kInBlockNote = "in block ";

}  // namespace sinter
