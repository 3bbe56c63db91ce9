// Rebuilding a function node by node: the shared mechanism of the simplification passes.
#pragma once

#include <functional>

#include "ir/module.h"

namespace sinter {

// Walks `fn` in order, copying each node into a new function with its operands remapped. For
// each node (already remapped, not yet added), `visit` may return an existing value of the new
// function to use instead (the node is then dropped), or kNoValue to keep it. The builder lets
// `visit` emit replacement ops. Results are remapped. Returns whether anything was replaced.
using RewriteFn = std::function<ValueId(Builder& b, const Node& node)>;
bool rewriteFunction(Module& m, Function& fn, const RewriteFn& visit);

// Calls rewriteFunction on every function; true if any changed.
bool rewriteModule(Module& m, const RewriteFn& visit);

// The constant's value if `v` is a `constant` op.
std::optional<double> constantValue(const Function& fn, ValueId v);

}  // namespace sinter
