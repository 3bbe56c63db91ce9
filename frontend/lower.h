// AST -> IR: name resolution, dtype and shape inference, attribute checking, and the expansion of
// layers into primitive ops plus parameters named after their binding (PyTorch layouts and initializers).
#pragma once

#include "frontend/ast.h"
#include "ir/module.h"

namespace sinter {

// Lowers a parsed model into a module holding one function, @forward: the model's inputs as
// arguments, its outputs and `loss` (when present) as results. Train/eval-dependent layers
// (dropout, batchnorm) stay as mode ops for the training-step pass to specialize. The Error holds
// every independent error found, each located in the model source.
Expected<Module> lowerModel(const ast::Program& program, const std::string& sourcePath);

}  // namespace sinter
