// Function plumbing: inputs, globals, constants. Inputs and loads take their types from the
// function signature and the module's globals, so the Builder makes them directly (Builder::input,
// Builder::load); their shape rules only say so.
#include "ir/ops/rules.h"

namespace sinter {
namespace {

using namespace rules;

Expected<TensorType> inferTyped(OpKind op, std::span<const TensorType>, const Attrs&) {
  return Error(fmt::format("'{}' takes its type from the function or module, not from operands", mnemonic(op)));
}

Expected<TensorType> inferStore(OpKind, std::span<const TensorType>, const Attrs& attrs) {
  const Attr* g = attrs.find("global");
  if (!g || !std::holds_alternative<std::string>(*g)) return Error("store needs a 'global' attribute");
  return TensorType{};
}

Expected<TensorType> inferConstant(OpKind, std::span<const TensorType>, const Attrs& attrs) {
  if (auto s = needFloat(attrs, "value"); !s) return s.error();
  const Attr* d = attrs.find("dtype");
  if (!d || !std::holds_alternative<std::string>(*d)) return Error("constant needs a 'dtype' attribute");
  const std::string& name = std::get<std::string>(*d);
  if (name == "f32") return TensorType{DType::F32, {}};
  if (name == "i32") return TensorType{DType::I32, {}};
  return Error(fmt::format("unknown dtype '{}'", name));
}

const OpRules kRules[] = {
    {OpKind::Input, inferTyped, nullptr},
    {OpKind::Load, inferTyped, nullptr},
    {OpKind::Store, inferStore, nullptr},
    {OpKind::Constant, inferConstant, nullptr},
};

}  // namespace

std::span<const OpRules> structuralRules() { return kRules; }

}  // namespace sinter
