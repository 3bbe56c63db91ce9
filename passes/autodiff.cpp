// Reverse-mode autodiff as a graph-to-graph transformation.
//
// Algorithm: mark the ops that lie on a path from a differentiated value to the loss; seed the
// loss's gradient with 1; walk the forward ops in reverse topological order and, for each marked
// op with a gradient, call its registry gradient rule, which emits ordinary ops. A rule may return
// a gradient in its result's broadcast shape: it is summed back to the operand's shape here, in
// the one place that knows about broadcasting. Gradients meeting at a value are added.
#include "passes/autodiff.h"

#include <fmt/format.h>

namespace sinter {

namespace {

// Sums g over the axes along which `to` was broadcast to g's shape, then reshapes to `to`.
ValueId sumToShape(Builder& b, ValueId g, Dims to) {
  const Dims from = b.type(g).dims;
  if (from == to) return g;
  size_t lead = from.size() - to.size();
  std::vector<int64_t> axes;
  for (size_t i = 0; i < from.size(); ++i)
    if (i < lead || (to[i - lead] == 1 && from[i] != 1)) axes.push_back(static_cast<int64_t>(i));
  if (!axes.empty()) g = b.reduce(OpKind::Sum, g, axes, true);
  return b.reshape(g, to);
}

}  // namespace

Expected<std::vector<ValueId>> differentiate(Builder& b, ValueId loss, const std::vector<ValueId>& wrt) {
  Function& fn = b.function();
  const size_t end = fn.nodes.size();
  // On a path from some wrt value (forward) ...
  std::vector<bool> fromWrt(end, false), toLoss(end, false);
  for (ValueId v : wrt) fromWrt[v] = true;
  for (size_t i = 0; i < end; ++i)
    for (ValueId v : fn.nodes[i].operands) fromWrt[i] = fromWrt[i] || fromWrt[v];
  // ... and to the loss (backward).
  toLoss[loss] = true;
  for (size_t i = end; i-- > 0;)
    if (toLoss[i])
      for (ValueId v : fn.nodes[i].operands) toLoss[v] = true;
  auto needed = [&](ValueId v) { return fromWrt[v] && toLoss[v]; };

  std::vector<ValueId> grad(end, kNoValue);
  b.setLoc(fn.nodes[loss].loc);
  grad[loss] = b.constant(1.0);
  for (size_t i = end; i-- > 0;) {
    if (grad[i] == kNoValue || !needed(static_cast<ValueId>(i))) continue;
    const Node node = fn.nodes[i];  // a copy: the rule appends to fn.nodes
    bool anyOperand = false;
    for (ValueId v : node.operands) anyOperand |= needed(v);
    if (!anyOperand) continue;
    const OpInfo& info = opInfo(node.op);
    if (!info.grad)
      return Error(node.loc, fmt::format("cannot differentiate through '{}'", info.mnemonic));
    b.setLoc(node.loc);
    std::vector<ValueId> gs = info.grad(b, node, static_cast<ValueId>(i), grad[i]);
    for (size_t k = 0; k < node.operands.size(); ++k) {
      ValueId x = node.operands[k];
      if (gs[k] == kNoValue || !needed(x)) continue;
      ValueId g = sumToShape(b, gs[k], fn.nodes[x].type.dims);
      grad[x] = grad[x] == kNoValue ? g : b.add(grad[x], g);
    }
    if (b.failed()) return *b.error();
  }
  std::vector<ValueId> out;
  for (ValueId v : wrt) {
    // A parameter that does not influence the loss has a zero gradient.
    if (grad[v] == kNoValue) grad[v] = b.broadcast(b.constant(0.0), fn.nodes[v].type.dims);
    out.push_back(grad[v]);
  }
  if (b.failed()) return *b.error();
  return out;
}

}  // namespace sinter
