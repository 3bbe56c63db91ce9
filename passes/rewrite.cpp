// Rebuilding a function node by node.
#include "passes/rewrite.h"

namespace sinter {

bool rewriteFunction(Module& m, Function& fn, const RewriteFn& visit) {
  Function out{fn.name, {}, {}};
  Builder b(m, out);
  std::vector<ValueId> remap(fn.nodes.size(), kNoValue);
  bool changed = false;
  for (size_t i = 0; i < fn.nodes.size(); ++i) {
    Node n = fn.nodes[i];
    for (ValueId& v : n.operands) v = remap[v];
    b.setLoc(n.loc);
    ValueId replacement = visit(b, n);
    if (replacement != kNoValue) {
      remap[i] = replacement;
      if (!n.name.empty() && out.nodes[replacement].name.empty()) out.nodes[replacement].name = n.name;
      changed = true;
      continue;
    }
    out.nodes.push_back(std::move(n));
    remap[i] = static_cast<ValueId>(out.nodes.size() - 1);
  }
  for (auto& [name, v] : fn.results) out.results.emplace_back(name, remap[v]);
  fn = std::move(out);
  return changed;
}

bool rewriteModule(Module& m, const RewriteFn& visit) {
  bool changed = false;
  for (Function& fn : m.functions) changed |= rewriteFunction(m, fn, visit);
  return changed;
}

std::optional<double> constantValue(const Function& fn, ValueId v) {
  const Node& n = fn.nodes[v];
  if (n.op != OpKind::Constant) return std::nullopt;
  return n.attrs.f("value");
}

}  // namespace sinter
