// AST -> IR for statements and expressions; calls go through the call table in frontend/calls.cpp.
#include "frontend/lower.h"

#include <fmt/format.h>

#include "frontend/lower_context.h"

namespace sinter {

namespace {

Expected<TensorType> lowerType(LowerContext& ctx, const ast::Type& t, bool allowBatch) {
  TensorType out;
  if (t.dtype == "f32") out.dtype = DType::F32;
  else if (t.dtype == "i32") out.dtype = DType::I32;
  else return Error(t.dtypeLoc, fmt::format("unknown element type '{}'; expected f32 or i32", t.dtype));
  for (const ast::Dim& d : t.dims) {
    if (d.size) {
      if (*d.size < 1) return Error(d.loc, fmt::format("dimension must be positive, found {}", *d.size));
      out.dims.push_back(*d.size);
      continue;
    }
    if (!allowBatch) return Error(d.loc, fmt::format("a parameter's shape cannot use the batch dimension '{}'", d.name));
    if (ctx.batchName.empty()) ctx.batchName = d.name;
    if (d.name != ctx.batchName)
      return Error(d.loc, fmt::format("a model has one batch dimension; '{}' differs from '{}'", d.name, ctx.batchName));
    if (out.hasBatch()) return Error(d.loc, fmt::format("'{}' appears twice in one shape", d.name));
    out.dims.push_back(kBatch);
  }
  if (!withinElementLimit(out.dims)) return Error(t.loc, fmt::format("{} has more than 2^40 elements per batch item", formatType(out)));
  return out;
}

// fan_in and fan_out as PyTorch computes them for a weight [out, in, k...].
std::pair<double, double> fans(const Dims& dims) {
  double receptive = 1;
  for (size_t i = 2; i < dims.size(); ++i) receptive *= static_cast<double>(dims[i]);
  return {static_cast<double>(dims[1]) * receptive, static_cast<double>(dims[0]) * receptive};
}

// An explicit parameter's initializer: zeros, ones, normal(mean, std), uniform(low, high), xavier,
// kaiming (PyTorch's xavier_uniform_ and kaiming_uniform_ with their default gains), resolved
// here to concrete numbers so the IR needs no fan computation.
Expected<Init> lowerInit(const ast::Expr& e, const Dims& dims) {
  std::string name;
  const ast::Call* call = e.as<ast::Call>();
  if (const ast::Name* n = e.as<ast::Name>()) name = n->text;
  else if (call) name = call->callee;
  else return Error(e.loc, "expected an initializer: zeros, ones, normal, uniform, xavier or kaiming");
  struct Spec { const char* name; std::vector<std::pair<const char*, double>> args; };
  static const Spec specs[] = {{"zeros", {}}, {"ones", {}}, {"normal", {{"mean", 0.0}, {"std", 1.0}}},
                               {"uniform", {{"low", 0.0}, {"high", 1.0}}}, {"xavier", {}}, {"kaiming", {}}};
  const Spec* spec = nullptr;
  for (const Spec& s : specs)
    if (name == s.name) spec = &s;
  if (!spec) return Error(call ? call->calleeLoc : e.loc, fmt::format("unknown initializer '{}'; expected zeros, ones, normal, uniform, xavier or kaiming", name));
  std::vector<double> values;
  for (auto& [_, v] : spec->args) values.push_back(v);
  std::vector<SourceLoc> locs(values.size(), e.loc);  // where each value was given, for range errors
  if (call) {
    if (call->args.size() > values.size())
      return Error(call->args[values.size()]->loc, fmt::format("'{}' takes {} arguments", name, values.size()));
    for (size_t i = 0; i < call->args.size(); ++i) {
      auto num = ast::literalNumber(*call->args[i]);
      if (!num) return Error(call->args[i]->loc, fmt::format("'{}' expects numbers", name));
      values[i] = num->value;
      locs[i] = call->args[i]->loc;
    }
    for (const ast::KeywordArg& kw : call->kwargs) {
      size_t k = 0;
      while (k < spec->args.size() && kw.name != spec->args[k].first) ++k;
      if (k == spec->args.size()) return Error(kw.nameLoc, fmt::format("'{}' has no argument '{}'", name, kw.name));
      auto num = ast::literalNumber(*kw.value);
      if (!num) return Error(kw.value->loc, fmt::format("'{}' expects a number", kw.name));
      values[k] = num->value;
      locs[k] = kw.value->loc;
    }
  }
  Init init;
  if (name == "zeros" || name == "ones") {
    init.kind = name;
  } else if (name == "normal") {
    if (!(values[1] >= 0)) return Error(locs[1], fmt::format("'normal' needs std >= 0, found {}", values[1]));
    init = {"normal", {{"mean", values[0]}, {"std", values[1]}}};
  } else if (name == "uniform") {
    if (!(values[0] <= values[1]))
      return Error(locs[1], fmt::format("'uniform' needs low <= high, found low = {} and high = {}", values[0], values[1]));
    init = {"uniform", {{"low", values[0]}, {"high", values[1]}}};
  } else {
    if (dims.size() < 2) return Error(e.loc, fmt::format("'{}' needs a parameter with at least 2 dimensions", name));
    auto [in, out] = fans(dims);
    double bound = name == "xavier" ? std::sqrt(6.0 / (in + out)) : std::sqrt(6.0 / in);
    init = {"uniform", {{"low", -bound}, {"high", bound}}};
  }
  return init;
}

void define(LowerContext& ctx, const std::string& name, SourceLoc loc, ValueId v) {
  auto [it, fresh] = ctx.symbols.try_emplace(name, Symbol{v, loc});
  if (!fresh) {
    Error e(loc, fmt::format("'{}' is already defined; bindings cannot be rebound", name));
    e.note(it->second.loc, fmt::format("'{}' was defined here", name));
    ctx.fail(std::move(e));
    return;
  }
  if (v != kNoValue && ctx.fn.nodes[v].name.empty()) ctx.fn.nodes[v].name = ctx.prefix + name;
}

// Lowers `expr` as the value of binding `name`, which names any parametric layer inside it.
ValueId lowerBinding(LowerContext& ctx, const std::string& name, const ast::Expr& expr) {
  ctx.binding = name;
  ctx.bindingValue = &expr;
  ctx.layer.reset();
  ValueId v = lowerExpr(ctx, expr);
  ctx.binding.clear();
  ctx.bindingValue = nullptr;
  return v;
}

}  // namespace

void lowerStatement(LowerContext& ctx, const ast::Stmt& s) {
  if (const ast::Param* p = s.as<ast::Param>()) {
    Expected<TensorType> t = lowerType(ctx, p->type, false);
    if (t && t->dtype != DType::F32) t = Error(p->type.dtypeLoc, "parameters must be f32");
    Expected<Init> init = t ? lowerInit(*p->init, t->dims) : Expected<Init>(t.error());
    if (!init) { ctx.fail(init.error()); define(ctx, p->name, p->nameLoc, kNoValue); return; }
    if (ctx.symbols.count(p->name)) { define(ctx, p->name, p->nameLoc, kNoValue); return; }
    ctx.global(p->nameLoc, p->name, GlobalKind::Param, t->dims, init.take());
  } else if (const ast::Binding* bnd = s.as<ast::Binding>()) {
    define(ctx, bnd->name, bnd->nameLoc, lowerBinding(ctx, bnd->name, *bnd->value));
  }
}

std::string closestName(const std::vector<std::string>& candidates, const std::string& name) {
  // Levenshtein distance.
  auto distance = [](const std::string& a, const std::string& b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
      size_t diag = row[0];
      row[0] = i;
      for (size_t j = 1; j <= b.size(); ++j) {
        size_t up = row[j];
        row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1])});
        diag = up;
      }
    }
    return row[b.size()];
  };
  // Close means within a third of the name's length and not a complete rewrite: `imgae` suggests
  // `image`, but `b` does not suggest `x`.
  if (name.size() < 2) return {};
  size_t limit = std::min(std::max<size_t>(1, (name.size() + 2) / 3), name.size() - 1);
  std::string best;
  size_t bestD = limit + 1;
  for (const std::string& candidate : candidates) {
    size_t d = distance(candidate, name);
    if (d < bestD) { best = candidate; bestD = d; }
  }
  return best;
}

ValueId LowerContext::emit(SourceLoc loc, OpKind op, std::vector<ValueId> operands, Attrs attrs) {
  for (ValueId v : operands)
    if (v == kNoValue) return kNoValue;
  b.setLoc(loc);
  ValueId v = b.create(op, std::move(operands), std::move(attrs));
  if (b.failed()) {
    fail(*b.error());
    b.clearError();  // later statements are independent of this one
    return kNoValue;
  }
  return v;
}

ValueId LowerContext::global(SourceLoc loc, const std::string& name, GlobalKind kind, Dims dims, Init init) {
  const std::string full = prefix + name;
  if (const Global* g = module.global(full)) {
    Error e(loc, fmt::format("parameter '{}' is already defined", full));
    e.note(g->loc, fmt::format("'{}' was defined here", full));
    return fail(std::move(e));
  }
  if (!withinElementLimit(dims))
    return fail(loc, fmt::format("parameter '{}' would have shape {}, more than 2^40 elements", full, formatDims(dims)));
  module.globals.push_back(Global{full, kind, {DType::F32, std::move(dims)}, std::move(init), loc});
  b.setLoc(loc);
  ValueId v = b.load(module.globals.back());
  symbols.try_emplace(name, Symbol{v, loc});
  return v;
}

ValueId lowerExpr(LowerContext& ctx, const ast::Expr& e) {
  if (const ast::Number* n = e.as<ast::Number>()) {
    ctx.b.setLoc(e.loc);
    return ctx.b.constant(n->value);
  }
  if (const ast::Name* n = e.as<ast::Name>()) {
    auto it = ctx.symbols.find(n->text);
    if (it != ctx.symbols.end()) return it->second.value;
    // Defined further down: say so rather than guess at a misspelling.
    if (auto later = ctx.declared.find(n->text); later != ctx.declared.end()) {
      Error err(e.loc, fmt::format("'{}' is used before its definition", n->text));
      err.note(later->second, fmt::format("'{}' is defined here", n->text));
      return ctx.fail(std::move(err));
    }
    std::string layer = n->text.substr(0, n->text.rfind('.'));
    if (layer != n->text && !ctx.symbols.count(layer)) {
      if (auto later = ctx.declared.find(layer); later != ctx.declared.end()) {
        Error err(e.loc, fmt::format("'{}' is used before the layer '{}' that creates it", n->text, layer));
        err.note(later->second, fmt::format("'{}' is defined here", layer));
        return ctx.fail(std::move(err));
      }
    }
    Error err(e.loc, fmt::format("use of undefined name '{}'", n->text));
    std::vector<std::string> names;
    for (auto& [name, _] : ctx.symbols) names.push_back(name);
    std::string near = closestName(names, n->text);
    if (!near.empty()) err.note(ctx.symbols[near].loc, fmt::format("did you mean '{}'?", near));
    return ctx.fail(std::move(err));
  }
  if (const ast::Neg* n = e.as<ast::Neg>()) {
    if (auto num = ast::literalNumber(e)) {
      ctx.b.setLoc(e.loc);
      return ctx.b.constant(num->value);
    }
    return ctx.emit(e.loc, OpKind::Neg, {lowerExpr(ctx, *n->operand)});
  }
  if (const ast::Binary* bin = e.as<ast::Binary>()) {
    ValueId lhs = lowerExpr(ctx, *bin->lhs);
    ValueId rhs = lowerExpr(ctx, *bin->rhs);
    switch (bin->op) {
      case '+': return ctx.emit(e.loc, OpKind::Add, {lhs, rhs});
      case '-': return ctx.emit(e.loc, OpKind::Sub, {lhs, rhs});
      case '*': return ctx.emit(e.loc, OpKind::Mul, {lhs, rhs});
      case '/': return ctx.emit(e.loc, OpKind::Div, {lhs, rhs});
      default:
        return ctx.emit(e.loc, OpKind::MatMul, {lhs, rhs}, {{"transpose_a", false}, {"transpose_b", false}});
    }
  }
  if (const ast::Call* call = e.as<ast::Call>()) return lowerCall(ctx, e, *call);
  if (e.as<ast::Bool>()) return ctx.fail(e.loc, "expected a tensor, found a boolean");
  return ctx.fail(e.loc, "expected a tensor, found a list");
}

Expected<Module> lowerModel(const ast::Program& program, const std::string& sourcePath) {
  Module m;
  m.name = program.model.name;
  m.source = sourcePath;
  m.functions.push_back(Function{"forward", {}, {}});
  LowerContext ctx(m, m.functions.back());
  bool hasLoss = false;
  ValueId loss = kNoValue;
  SourceLoc lossLoc;
  std::vector<std::pair<std::string, ValueId>> outputs;

  for (const ast::Stmt& s : program.model.body) {
    if (const ast::Param* p = s.as<ast::Param>()) ctx.declared.try_emplace(p->name, p->nameLoc);
    if (const ast::Binding* bnd = s.as<ast::Binding>()) ctx.declared.try_emplace(bnd->name, bnd->nameLoc);
    if (const ast::Output* out = s.as<ast::Output>(); out && out->value) ctx.declared.try_emplace(out->name, out->nameLoc);
  }
  // Inputs first: they are the function's arguments wherever they are declared.
  for (const ast::Stmt& s : program.model.body) {
    const ast::Input* in = s.as<ast::Input>();
    if (!in) continue;
    Expected<TensorType> t = lowerType(ctx, in->type, true);
    if (!t) { ctx.fail(t.error()); define(ctx, in->name, in->nameLoc, kNoValue); continue; }
    ctx.b.setLoc(in->nameLoc);
    define(ctx, in->name, in->nameLoc, ctx.b.input(in->name, t.take()));
  }
  declareBlocks(ctx, program.blocks);
  for (const ast::Stmt& s : program.model.body) {
    if (s.as<ast::Param>() || s.as<ast::Binding>()) {
      lowerStatement(ctx, s);
    } else if (const ast::Output* out = s.as<ast::Output>()) {
      ValueId v = kNoValue;
      if (out->value) {
        v = lowerBinding(ctx, out->name, *out->value);
        define(ctx, out->name, out->nameLoc, v);
      } else {
        auto it = ctx.symbols.find(out->name);
        if (it == ctx.symbols.end()) ctx.fail(out->nameLoc, fmt::format("output '{}' names no binding", out->name));
        else v = it->second.value;
      }
      for (auto& [name, _] : outputs)
        if (name == out->name) ctx.fail(out->nameLoc, fmt::format("'{}' is already an output", name));
      if (v != kNoValue) outputs.emplace_back(out->name, v);
    } else if (const ast::Loss* l = s.as<ast::Loss>()) {
      if (hasLoss) {
        Error e(s.loc, "a model has one loss");
        e.note(lossLoc, "the first loss is here");
        ctx.fail(std::move(e));
        continue;
      }
      hasLoss = true;
      lossLoc = s.loc;
      loss = lowerExpr(ctx, *l->value);  // not a binding: no layer may live here
      if (loss != kNoValue) {
        const TensorType& t = ctx.fn.nodes[loss].type;
        if (t != TensorType{DType::F32, {}}) {
          ctx.fail(l->value->loc, fmt::format("the loss must be an f32 scalar, found {}", formatType(t)));
          loss = kNoValue;
        }
      }
    }
  }
  bool declaresResults = std::any_of(program.model.body.begin(), program.model.body.end(),
                                     [](const ast::Stmt& s) { return s.as<ast::Output>() || s.as<ast::Loss>(); });
  if (!declaresResults)
    ctx.fail(program.model.nameLoc, fmt::format("model '{}' has no output and no loss", m.name));
  if (!ctx.errors.diags.empty()) return ctx.errors;
  ctx.fn.results = outputs;
  if (loss != kNoValue) {
    // The loss is a result like the outputs; keep its value's own name out of the way.
    ctx.fn.results.emplace_back("loss", loss);
  }
  return m;
}

}  // namespace sinter
