// Simplification passes: constant folding, algebraic identities, CSE and DCE.
//
// Algorithm: each pass is one forward walk (passes/rewrite.h) that maps a node to an existing
// value when it is redundant; DCE marks what results and stores reach and rebuilds the rest.
// None of them changes a value's type, so every result keeps its shape.
#include <cmath>
#include <map>

#include "passes/pass.h"
#include "passes/rewrite.h"

namespace sinter {

namespace {

std::optional<double> foldUnary(OpKind op, const Attrs& a, double x) {
  switch (op) {
    case OpKind::Neg: return -x;
    case OpKind::Exp: return std::exp(x);
    case OpKind::Log: return x > 0 ? std::optional(std::log(x)) : std::nullopt;
    case OpKind::Sqrt: return x >= 0 ? std::optional(std::sqrt(x)) : std::nullopt;
    case OpKind::Abs: return std::fabs(x);
    case OpKind::Pow: return std::pow(x, a.f("exponent"));
    default: return std::nullopt;
  }
}

std::optional<double> foldBinary(OpKind op, double x, double y) {
  switch (op) {
    case OpKind::Add: return x + y;
    case OpKind::Sub: return x - y;
    case OpKind::Mul: return x * y;
    case OpKind::Div: return y != 0 ? std::optional(x / y) : std::nullopt;
    default: return std::nullopt;
  }
}

// Folds are done in double and only for f32 scalars: the value is rounded to f32 when a backend
// materializes it, exactly as if the ops ran in f32 on exact inputs.
ValueId fold(Builder& b, const Node& n) {
  const Function& fn = b.function();
  if (n.type != TensorType{DType::F32, {}} && n.op != OpKind::Numel) return kNoValue;
  std::optional<double> v;
  if (n.op == OpKind::Numel) {
    const TensorType& t = fn.nodes[n.operands[0]].type;
    for (int64_t a : n.attrs.ints("axes"))
      if (t.dims[a] == kBatch) return kNoValue;
    v = static_cast<double>(extentProduct(t.dims, n.attrs.ints("axes"), 1));
  } else if (n.operands.size() == 1) {
    if (auto x = constantValue(fn, n.operands[0])) v = foldUnary(n.op, n.attrs, *x);
  } else if (n.operands.size() == 2) {
    auto x = constantValue(fn, n.operands[0]), y = constantValue(fn, n.operands[1]);
    if (x && y) v = foldBinary(n.op, *x, *y);
  }
  if (!v || !std::isfinite(*v)) return kNoValue;
  return b.constant(*v);
}

bool isConst(const Function& fn, ValueId v, double k) {
  auto c = constantValue(fn, v);
  return c && *c == k;
}

// Replaces identities with their operand when that keeps the node's type exactly (x * 1 with a
// scalar 1 is x; a [4] + zeros [B,4] is not x, its shape differs).
ValueId algebra(Builder& b, const Node& n) {
  const Function& fn = b.function();
  auto same = [&](ValueId v) { return fn.nodes[v].type == n.type ? v : kNoValue; };
  const auto& o = n.operands;
  switch (n.op) {
    case OpKind::Mul:
      if (isConst(fn, o[1], 1)) return same(o[0]);
      if (isConst(fn, o[0], 1)) return same(o[1]);
      if (isConst(fn, o[1], -1) && same(o[0]) != kNoValue) return b.neg(o[0]);
      return kNoValue;
    case OpKind::Add:
      if (isConst(fn, o[1], 0)) return same(o[0]);
      if (isConst(fn, o[0], 0)) return same(o[1]);
      if (fn.nodes[o[1]].op == OpKind::Neg) return b.sub(o[0], fn.nodes[o[1]].operands[0]);
      return kNoValue;
    case OpKind::Sub:
      if (isConst(fn, o[1], 0)) return same(o[0]);
      if (fn.nodes[o[1]].op == OpKind::Neg) return b.add(o[0], fn.nodes[o[1]].operands[0]);
      return kNoValue;
    case OpKind::Div:
      if (isConst(fn, o[1], 1)) return same(o[0]);
      return kNoValue;
    case OpKind::Neg: {
      const Node& x = fn.nodes[o[0]];
      if (x.op == OpKind::Neg) return x.operands[0];
      // -sum(-y) = sum(y), -mean(-y) = mean(y), exactly (negation only flips signs): the
      // cross-entropy loss after fuse-softmax-cross-entropy.
      if ((x.op == OpKind::Sum || x.op == OpKind::Mean) && fn.nodes[x.operands[0]].op == OpKind::Neg)
        return b.create(x.op, {fn.nodes[x.operands[0]].operands[0]}, x.attrs);
      return kNoValue;
    }
    case OpKind::Reshape:
    case OpKind::Broadcast:
      if (same(o[0]) != kNoValue) return o[0];
      if (n.op == OpKind::Reshape && fn.nodes[o[0]].op == OpKind::Reshape)
        return b.reshape(fn.nodes[o[0]].operands[0], n.type.dims);
      return kNoValue;
    case OpKind::Slice: {
      // A slice that is exactly one operand of a concat along its axis is that operand (the
      // packed batch-norm statistics after decompose-batchnorm).
      const Node& cat = fn.nodes[o[0]];
      const int64_t axis = n.attrs.i("axis");
      if (cat.op != OpKind::Concat || cat.attrs.i("axis") != axis) return kNoValue;
      int64_t start = 0;
      for (ValueId part : cat.operands) {
        const int64_t extent = fn.nodes[part].type.dims[axis];
        if (extent == kBatch) return kNoValue;
        if (start == n.attrs.i("start") && start + extent == n.attrs.i("end")) return same(part);
        start += extent;
      }
      return kNoValue;
    }
    case OpKind::Transpose: {
      const auto& perm = n.attrs.ints("perm");
      bool identity = true;
      for (size_t i = 0; i < perm.size(); ++i) identity &= perm[i] == static_cast<int64_t>(i);
      if (identity) return o[0];
      if (fn.nodes[o[0]].op == OpKind::Transpose) {
        const auto& inner = fn.nodes[o[0]].attrs.ints("perm");
        std::vector<int64_t> composed(perm.size());
        for (size_t i = 0; i < perm.size(); ++i) composed[i] = inner[perm[i]];
        return b.transpose(fn.nodes[o[0]].operands[0], composed);
      }
      return kNoValue;
    }
    default:
      return kNoValue;
  }
}

}  // namespace

Expected<bool> foldConstants(Module& m) { return rewriteModule(m, fold); }

Expected<bool> simplifyAlgebra(Module& m) { return rewriteModule(m, algebra); }

// Every op is pure (stores commit when the function returns, so two loads of one global agree),
// except store itself.
Expected<bool> eliminateCommonSubexpressions(Module& m) {
  bool changed = false;
  for (Function& fn : m.functions) {
    std::map<std::string, ValueId> seen;
    changed |= rewriteFunction(m, fn, [&](Builder& b, const Node& n) -> ValueId {
      if (n.op == OpKind::Store || n.op == OpKind::Input) return kNoValue;
      std::string key = std::string(mnemonic(n.op)) + formatAttrs(n.attrs) + formatType(n.type);
      for (ValueId v : n.operands) key += "," + std::to_string(v);
      auto it = seen.find(key);
      if (it != seen.end()) return it->second;
      seen.emplace(key, static_cast<ValueId>(b.function().nodes.size()));
      return kNoValue;
    });
  }
  return changed;
}

Expected<bool> eliminateDeadCode(Module& m) {
  bool changed = false;
  for (Function& fn : m.functions) {
    std::vector<bool> live(fn.nodes.size(), false);
    for (auto& [_, v] : fn.results) live[v] = true;
    for (size_t i = fn.nodes.size(); i-- > 0;) {
      const Node& n = fn.nodes[i];
      if (n.op == OpKind::Store || n.op == OpKind::Input) live[i] = true;
      if (live[i])
        for (ValueId v : n.operands) live[v] = true;
    }
    if (std::find(live.begin(), live.end(), false) == live.end()) continue;
    changed = true;
    Function out{fn.name, {}, {}};
    std::vector<ValueId> remap(fn.nodes.size(), kNoValue);
    for (size_t i = 0; i < fn.nodes.size(); ++i) {
      if (!live[i]) continue;
      Node n = fn.nodes[i];
      for (ValueId& v : n.operands) v = remap[v];
      out.nodes.push_back(std::move(n));
      remap[i] = static_cast<ValueId>(out.nodes.size() - 1);
    }
    for (auto& [name, v] : fn.results) out.results.emplace_back(name, remap[v]);
    fn = std::move(out);
  }
  return changed;
}

}  // namespace sinter
