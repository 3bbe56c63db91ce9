// The IR verifier.
#include "ir/verifier.h"

#include <set>

namespace sinter {

namespace {

Status verifyFunction(const Module& m, const Function& fn) {
  auto bad = [&](const Node& n, std::string msg) {
    return Error(n.loc, fmt::format("in @{}: '{}': {}", fn.name, mnemonic(n.op), msg));
  };
  bool pastInputs = false;
  for (size_t i = 0; i < fn.nodes.size(); ++i) {
    const Node& n = fn.nodes[i];
    const OpInfo& info = opInfo(n.op);
    if (n.op == OpKind::Input) {
      if (pastInputs) return bad(n, "inputs must come before every other op");
      continue;
    }
    pastInputs = true;
    if (info.arity >= 0 && static_cast<size_t>(info.arity) != n.operands.size())
      return bad(n, fmt::format("takes {} operands, has {}", info.arity, n.operands.size()));
    std::vector<TensorType> types;
    for (ValueId v : n.operands) {
      if (v < 0 || static_cast<size_t>(v) >= i) return bad(n, fmt::format("operand %{} is not defined before its use", v));
      if (fn.nodes[v].type.isVoid()) return bad(n, "uses an op that has no result");
      types.push_back(fn.nodes[v].type);
    }
    if (n.op == OpKind::Load || n.op == OpKind::Store) {
      const Attr* a = n.attrs.find("global");
      const Global* g = a && std::holds_alternative<std::string>(*a) ? m.global(std::get<std::string>(*a)) : nullptr;
      if (!g) return bad(n, "names no global of the module");
      const TensorType& t = n.op == OpKind::Load ? n.type : types[0];
      if (t != g->type) return bad(n, fmt::format("@{} is {}, not {}", g->name, formatType(g->type), formatType(t)));
      if (n.op == OpKind::Load) continue;
    }
    if (!info.infer) return bad(n, "the op registry has no shape rule for this op");
    Expected<TensorType> want = info.infer(n.op, types, n.attrs);
    if (!want) return bad(n, want.error().message());
    if (*want != n.type) return bad(n, fmt::format("result is {}, but its shape rule gives {}", formatType(n.type), formatType(*want)));
  }
  std::set<std::string> names;
  for (auto& [name, v] : fn.results) {
    if (v < 0 || static_cast<size_t>(v) >= fn.nodes.size() || fn.nodes[v].type.isVoid())
      return Error(fmt::format("in @{}: result '{}' names no value", fn.name, name));
    if (!names.insert(name).second) return Error(fmt::format("in @{}: two results are named '{}'", fn.name, name));
  }
  return ok();
}

}  // namespace

Status verifyModule(const Module& m) {
  std::set<std::string> globals;
  for (const Global& g : m.globals) {
    if (!globals.insert(g.name).second) return Error(g.loc, fmt::format("global @{} is defined twice", g.name));
    if (g.type.hasBatch()) return Error(g.loc, fmt::format("global @{} cannot depend on the batch size", g.name));
    static const std::set<std::string> inits = {"zeros", "ones", "constant", "normal", "uniform"};
    if (!inits.count(g.init.kind))
      return Error(g.loc, fmt::format("global @{} has unknown initializer '{}'", g.name, g.init.kind));
  }
  std::set<std::string> fns;
  for (const Function& fn : m.functions) {
    if (!fns.insert(fn.name).second) return Error(fmt::format("function @{} is defined twice", fn.name));
    if (auto s = verifyFunction(m, fn); !s) return s;
  }
  return ok();
}

}  // namespace sinter
