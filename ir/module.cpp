// The graph IR: lookups and the node builder.
#include "ir/module.h"

#include <algorithm>

namespace sinter {

std::vector<ValueId> Function::inputs() const {
  std::vector<ValueId> ids;
  for (size_t i = 0; i < nodes.size(); ++i)
    if (nodes[i].op == OpKind::Input) ids.push_back(static_cast<ValueId>(i));
  return ids;
}

ValueId Function::result(std::string_view n) const {
  for (auto& [name, v] : results)
    if (name == n) return v;
  return kNoValue;
}

Function* Module::function(std::string_view n) {
  for (auto& f : functions)
    if (f.name == n) return &f;
  return nullptr;
}

const Function* Module::function(std::string_view n) const {
  for (auto& f : functions)
    if (f.name == n) return &f;
  return nullptr;
}

const Global* Module::global(std::string_view n) const {
  for (auto& g : globals)
    if (g.name == n) return &g;
  return nullptr;
}

ValueId Builder::create(OpKind op, std::vector<ValueId> operands, Attrs attrs, std::string name) {
  if (error_) return kNoValue;
  std::vector<TensorType> types;
  for (ValueId v : operands) {
    if (v == kNoValue) return kNoValue;
    types.push_back(fn_.nodes[v].type);
  }
  const OpInfo& info = opInfo(op);
  if (info.arity >= 0 && static_cast<size_t>(info.arity) != operands.size()) {
    fail(Error(loc_, fmt::format("'{}' takes {} operands, got {}", info.mnemonic, info.arity, operands.size())));
    return kNoValue;
  }
  if (!info.infer) {
    fail(Error(loc_, fmt::format("internal error: the op registry has no shape rule for '{}'", info.mnemonic)));
    return kNoValue;
  }
  Expected<TensorType> type = info.infer(op, types, attrs);
  if (!type) {
    Error e = type.error();
    e.diags.front().loc = loc_;
    fail(std::move(e));
    return kNoValue;
  }
  if (!withinElementLimit(type->dims)) {
    const bool negative = std::any_of(type->dims.begin(), type->dims.end(), [](int64_t d) { return d < 0 && d != kBatch; });
    fail(Error(loc_, fmt::format("'{}' would make {}, {}", info.mnemonic, formatType(*type),
                                 negative ? "which has a negative extent" : "more than 2^40 elements per batch item")));
    return kNoValue;
  }
  fn_.nodes.push_back(Node{op, std::move(operands), std::move(attrs), type.take(), std::move(name), loc_});
  return static_cast<ValueId>(fn_.nodes.size() - 1);
}

ValueId Builder::input(const std::string& name, TensorType type) {
  if (error_) return kNoValue;
  fn_.nodes.push_back(Node{OpKind::Input, {}, {{"name", name}}, std::move(type), name, loc_});
  return static_cast<ValueId>(fn_.nodes.size() - 1);
}

ValueId Builder::load(const Global& global) {
  if (error_) return kNoValue;
  fn_.nodes.push_back(Node{OpKind::Load, {}, {{"global", global.name}}, global.type, global.name, loc_});
  return static_cast<ValueId>(fn_.nodes.size() - 1);
}

}  // namespace sinter
