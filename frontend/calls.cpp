// The call table of the model language: for each callable, its signature (positional order,
// keyword names, kinds, defaults) and how it lowers to primitive ops and parameters.
// Adding a callable is one entry here; its primitive ops come from the op registry.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "frontend/lower_context.h"

namespace sinter {

namespace {

enum class Kind { Tensor, Int, Float, Bool, Pair, Axes, Axis, IntList };

// A default: none (required), absent (optional, no value), or a value.
struct ArgSpec {
  const char* name;
  Kind kind;
  enum { Required, Optional, Value } presence = Required;
  double number = 0;  // the default for Int, Float, Bool (0/1), Pair (both), Axis
};

constexpr ArgSpec req(const char* n, Kind k) { return {n, k, ArgSpec::Required, 0}; }
constexpr ArgSpec opt(const char* n, Kind k) { return {n, k, ArgSpec::Optional, 0}; }
constexpr ArgSpec def(const char* n, Kind k, double v) { return {n, k, ArgSpec::Value, v}; }

struct Args;
using LowerFn = ValueId (*)(LowerContext&, const ast::Expr&, Args&);

struct CallSpec {
  const char* name;
  std::vector<ArgSpec> args;
  LowerFn lower;
  bool parametric = false;  // owns parameters named after the enclosing binding
  bool variadic = false;    // leading tensors, any number (concat)
};

const char* kindName(Kind k) {
  switch (k) {
    case Kind::Tensor: return "a tensor";
    case Kind::Int: return "an integer";
    case Kind::Float: return "a number";
    case Kind::Bool: return "true or false";
    case Kind::Pair: return "an integer or a list of two integers";
    case Kind::Axes: return "an axis or a list of axes";
    case Kind::Axis: return "an integer axis";
    case Kind::IntList: return "a list of integers";
  }
  return "?";
}

// Integer arguments (units, kernel sizes, padding, slice bounds) stay within this, so the shape
// arithmetic on them cannot overflow.
constexpr int64_t kMaxArgument = (int64_t{1} << 31) - 1;

// What an argument is, in words, for "expects X, found Y".
std::string describe(const ast::Expr& e) {
  if (auto n = ast::literalNumber(e)) return fmt::format("{}", n->value);
  if (const ast::Bool* b = e.as<ast::Bool>()) return b->value ? "true" : "false";
  if (const ast::Name* n = e.as<ast::Name>()) return fmt::format("'{}'", n->text);
  if (const ast::Call* c = e.as<ast::Call>()) return fmt::format("a call to '{}'", c->callee);
  if (e.as<ast::List>()) return "a list";
  return "an expression";
}

// The arguments of one call, bound to the callee's signature.
struct Args {
  LowerContext& ctx;
  const CallSpec& spec;
  const ast::Call& call;
  std::vector<const ast::Expr*> bound;  // per spec argument; nullptr = not given
  std::vector<const ast::Expr*> rest;   // variadic tensors
  bool failed = false;

  int index(const char* name) const {
    for (size_t i = 0; i < spec.args.size(); ++i)
      if (std::string_view(spec.args[i].name) == name) return static_cast<int>(i);
    return -1;
  }
  const ast::Expr* expr(const char* name) const { return bound[index(name)]; }
  bool given(const char* name) const { return expr(name) != nullptr; }
  SourceLoc loc(const char* name) const { return given(name) ? expr(name)->loc : call.calleeLoc; }

  bool bad(const ast::Expr& e, const ArgSpec& a, std::string found = {}) {
    if (found.empty()) found = describe(e);
    ctx.fail(e.loc, fmt::format("'{}' argument '{}' expects {}, found {}", spec.name, a.name, kindName(a.kind), found));
    failed = true;
    return false;
  }

  bool inRange(const ast::Expr& e, const ArgSpec& a, int64_t v) {
    if (v >= -kMaxArgument && v <= kMaxArgument) return true;
    ctx.fail(e.loc, fmt::format("'{}' argument '{}' is out of range, found {}", spec.name, a.name, v));
    failed = true;
    return false;
  }

  ValueId tensor(const char* name) {
    const ast::Expr* e = expr(name);
    return e ? lowerExpr(ctx, *e) : kNoValue;
  }

  std::optional<int64_t> integer(const char* name) {
    const ArgSpec& a = spec.args[index(name)];
    const ast::Expr* e = expr(name);
    if (!e) return a.presence == ArgSpec::Value ? std::optional<int64_t>(static_cast<int64_t>(a.number)) : std::nullopt;
    auto n = ast::literalNumber(*e);
    if (!n || !n->isInteger) return bad(*e, a), std::nullopt;
    if (!inRange(*e, a, n->intValue)) return std::nullopt;
    return n->intValue;
  }

  double number(const char* name) {
    const ArgSpec& a = spec.args[index(name)];
    const ast::Expr* e = expr(name);
    if (!e) return a.number;
    auto n = ast::literalNumber(*e);
    if (!n) return bad(*e, a), 0.0;
    return n->value;
  }

  bool boolean(const char* name) {
    const ArgSpec& a = spec.args[index(name)];
    const ast::Expr* e = expr(name);
    if (!e) return a.number != 0;
    const ast::Bool* v = e->as<ast::Bool>();
    if (!v) return bad(*e, a), false;
    return v->value;
  }

  // Integer literals of a list (or one integer when `single` allows it).
  std::optional<std::vector<int64_t>> ints(const char* name, bool single) {
    const ArgSpec& a = spec.args[index(name)];
    const ast::Expr* e = expr(name);
    if (!e) return std::nullopt;
    std::vector<const ast::Expr*> items;
    if (const ast::List* l = e->as<ast::List>()) {
      for (auto& x : l->elements) items.push_back(x.get());
    } else if (single) {
      items.push_back(e);
    } else {
      bad(*e, a);
      return std::nullopt;
    }
    std::vector<int64_t> out;
    for (const ast::Expr* x : items) {
      auto n = ast::literalNumber(*x);
      if (!n || !n->isInteger) { bad(*x, a); return std::nullopt; }
      if (!inRange(*x, a, n->intValue)) return std::nullopt;
      out.push_back(n->intValue);
    }
    return out;
  }

  // kernel = 3 or kernel = [3, 5], each at least `min`.
  std::vector<int64_t> pair(const char* name, int64_t min, std::vector<int64_t> fallback = {}) {
    const ArgSpec& a = spec.args[index(name)];
    if (!given(name)) {
      if (!fallback.empty()) return fallback;
      int64_t d = static_cast<int64_t>(a.number);
      return {d, d};
    }
    auto v = ints(name, true);
    if (!v) return {min, min};
    if (v->size() == 1) v->push_back(v->front());
    if (v->size() != 2) { bad(*expr(name), a, fmt::format("{} values", v->size())); return {min, min}; }
    for (int64_t x : *v)
      if (x < min) {
        ctx.fail(expr(name)->loc, fmt::format("'{}' argument '{}' must be at least {}, found {}", spec.name, name, min, x));
        failed = true;
      }
    return *v;
  }

  // An axis (possibly negative) normalized against `rank`.
  std::optional<int64_t> axis(const char* name, int rank) {
    auto v = integer(name);
    if (!v) return std::nullopt;
    if (*v < -rank || *v >= rank) {
      ctx.fail(loc(name), fmt::format("axis {} is out of range for a tensor of rank {}", *v, rank));
      failed = true;
      return std::nullopt;
    }
    return *v < 0 ? *v + rank : *v;
  }

  // axis = 1, axis = [0, 2] (negative allowed), or all axes when absent; sorted and distinct.
  std::optional<std::vector<int64_t>> axes(const char* name, int rank) {
    std::vector<int64_t> out(rank);
    std::iota(out.begin(), out.end(), 0);
    if (!given(name)) return out;
    auto v = ints(name, true);
    if (!v) return std::nullopt;
    out.clear();
    for (int64_t x : *v) {
      if (x < -rank || x >= rank) {
        ctx.fail(expr(name)->loc, fmt::format("axis {} is out of range for a tensor of rank {}", x, rank));
        failed = true;
        return std::nullopt;
      }
      out.push_back(x < 0 ? x + rank : x);
    }
    std::sort(out.begin(), out.end());
    if (std::adjacent_find(out.begin(), out.end()) != out.end()) {
      ctx.fail(expr(name)->loc, "an axis is listed twice");
      failed = true;
      return std::nullopt;
    }
    return out;
  }
};

// Binds positional then keyword arguments to the signature; reports unknown, duplicate and missing ones.
bool bind(Args& a) {
  const CallSpec& spec = a.spec;
  a.bound.assign(spec.args.size(), nullptr);
  size_t next = 0;
  for (const ast::ExprPtr& e : a.call.args) {
    // A variadic call takes tensors first; a trailing integer is its first named argument (axis).
    if (spec.variadic && next == 0 && !ast::literalNumber(*e)) {
      a.rest.push_back(e.get());
      continue;
    }
    if (next >= spec.args.size()) {
      a.ctx.fail(e->loc, fmt::format("'{}' takes at most {} positional argument{}", spec.name, spec.args.size(),
                                     spec.args.size() == 1 ? "" : "s"));
      return false;
    }
    a.bound[next++] = e.get();
  }
  for (const ast::KeywordArg& kw : a.call.kwargs) {
    int i = a.index(kw.name.c_str());
    if (i < 0 || (spec.args[i].kind == Kind::Tensor && !spec.variadic && i == 0)) {
      std::string known;
      for (const ArgSpec& s : spec.args)
        if (s.kind != Kind::Tensor) known += (known.empty() ? "" : ", ") + std::string(s.name);
      a.ctx.fail(kw.nameLoc, fmt::format("'{}' has no argument '{}'{}", spec.name, kw.name,
                                         known.empty() ? "" : fmt::format(" (it takes {})", known)));
      return false;
    }
    if (a.bound[i]) {
      a.ctx.fail(kw.nameLoc, fmt::format("'{}' argument '{}' is given twice", spec.name, kw.name));
      return false;
    }
    a.bound[i] = kw.value.get();
  }
  if (spec.variadic && a.rest.size() < 2) {
    a.ctx.fail(a.call.calleeLoc, fmt::format("'{}' needs at least two tensors", spec.name));
    return false;
  }
  for (size_t i = 0; i < spec.args.size(); ++i)
    if (!a.bound[i] && spec.args[i].presence == ArgSpec::Required) {
      a.ctx.fail(a.call.calleeLoc, fmt::format("'{}' is missing its argument '{}'", spec.name, spec.args[i].name));
      return false;
    }
  return true;
}

// A copy: emitting ops grows the node list, so a reference into it would dangle.
std::optional<TensorType> typeOf(LowerContext& ctx, ValueId v) {
  if (v == kNoValue) return std::nullopt;
  return ctx.fn.nodes[v].type;
}

// --- lowerings ---

ValueId unaryOp(LowerContext& ctx, const ast::Expr& e, Args& a, OpKind op, Attrs attrs = {}) {
  return ctx.emit(e.loc, op, {a.tensor("x")}, std::move(attrs));
}

ValueId lowerLeakyRelu(LowerContext& ctx, const ast::Expr& e, Args& a) {
  double slope = a.number("slope");
  return a.failed ? kNoValue : unaryOp(ctx, e, a, OpKind::LeakyRelu, {{"slope", slope}});
}

ValueId lowerPow(LowerContext& ctx, const ast::Expr& e, Args& a) {
  double p = a.number("p");
  return a.failed ? kNoValue : unaryOp(ctx, e, a, OpKind::Pow, {{"exponent", p}});
}

ValueId lowerDense(LowerContext& ctx, const ast::Expr& e, Args& a) {
  ValueId x = a.tensor("x");
  auto units = a.integer("units");
  bool bias = a.boolean("bias");
  std::optional<TensorType> t = typeOf(ctx, x);
  if (!t || !units || a.failed) return kNoValue;
  if (*units < 1) return ctx.fail(a.loc("units"), fmt::format("'dense' needs at least one unit, found {}", *units));
  if (t->rank() != 2 || t->dims[1] == kBatch)
    return ctx.fail(a.loc("x"), fmt::format("'dense' expects [batch, features], found {}{}", formatType(*t),
                                            t->rank() > 2 ? "; flatten it first" : ""));
  int64_t in = t->dims[1];
  double bound = 1.0 / std::sqrt(static_cast<double>(in));  // PyTorch's kaiming_uniform(a=sqrt(5))
  Init init{"uniform", {{"low", -bound}, {"high", bound}}};
  ValueId w = ctx.global(e.loc, ctx.binding + ".weight", GlobalKind::Param, {*units, in}, init);
  ValueId y = ctx.emit(e.loc, OpKind::MatMul, {x, w}, {{"transpose_a", false}, {"transpose_b", true}});
  if (!bias) return y;
  return ctx.emit(e.loc, OpKind::Add, {y, ctx.global(e.loc, ctx.binding + ".bias", GlobalKind::Param, {*units}, init)});
}

ValueId lowerConv(LowerContext& ctx, const ast::Expr& e, Args& a) {
  ValueId x = a.tensor("x");
  auto filters = a.integer("filters");
  auto kernel = a.pair("kernel", 1);
  auto stride = a.pair("stride", 1), padding = a.pair("padding", 0), dilation = a.pair("dilation", 1);
  auto groups = a.integer("groups");
  bool bias = a.boolean("bias");
  std::optional<TensorType> t = typeOf(ctx, x);
  if (!t || !filters || !groups || a.failed) return kNoValue;
  if (t->rank() != 4 || t->dims[1] == kBatch)
    return ctx.fail(a.loc("x"), fmt::format("'conv2d' expects an NCHW tensor [batch, channels, height, width], found {}", formatType(*t)));
  if (*filters < 1) return ctx.fail(a.loc("filters"), fmt::format("'conv2d' needs at least one filter, found {}", *filters));
  if (*groups < 1 || t->dims[1] % *groups || *filters % *groups)
    return ctx.fail(a.loc("groups"), fmt::format("groups = {} must divide both the {} input channels and the {} filters", *groups,
                                                 t->dims[1], *filters));
  for (int i = 0; i < 2; ++i) {
    int64_t span = dilation[i] * (kernel[i] - 1) + 1;
    if (span > t->dims[2 + i] + 2 * padding[i])
      return ctx.fail(a.loc("kernel"), fmt::format("kernel {}x{}{} is larger than the {}x{} input{}", kernel[0], kernel[1],
                                                   dilation[i] > 1 ? fmt::format(" with dilation {}", dilation[i]) : "",
                                                   t->dims[2], t->dims[3],
                                                   padding[i] ? fmt::format(" padded by {}", padding[i]) : ""));
  }
  int64_t cin = t->dims[1] / *groups;
  double bound = 1.0 / std::sqrt(static_cast<double>(cin) * static_cast<double>(kernel[0]) * static_cast<double>(kernel[1]));
  Init init{"uniform", {{"low", -bound}, {"high", bound}}};
  ValueId w = ctx.global(e.loc, ctx.binding + ".weight", GlobalKind::Param, {*filters, cin, kernel[0], kernel[1]}, init);
  ValueId y = ctx.emit(e.loc, OpKind::Conv2d, {x, w},
                       {{"stride", stride}, {"padding", padding}, {"dilation", dilation}, {"groups", *groups}});
  if (!bias) return y;
  ValueId b = ctx.global(e.loc, ctx.binding + ".bias", GlobalKind::Param, {*filters}, init);
  return ctx.emit(e.loc, OpKind::Add, {y, ctx.emit(e.loc, OpKind::Reshape, {b}, {{"shape", Dims{1, *filters, 1, 1}}})});
}

ValueId lowerBatchNorm(LowerContext& ctx, const ast::Expr& e, Args& a) {
  ValueId x = a.tensor("x");
  double momentum = a.number("momentum"), eps = a.number("eps");
  std::optional<TensorType> t = typeOf(ctx, x);
  if (!t || a.failed) return kNoValue;
  if ((t->rank() != 2 && t->rank() != 4) || t->dims[1] == kBatch)
    return ctx.fail(a.loc("x"), fmt::format("'batchnorm' expects [batch, features] or [batch, channels, height, width], found {}",
                                            formatType(*t)));
  if (!(momentum >= 0 && momentum <= 1)) return ctx.fail(a.loc("momentum"), fmt::format("momentum {} is outside [0, 1]", momentum));
  if (!(eps > 0)) return ctx.fail(a.loc("eps"), fmt::format("eps must be positive, found {}", eps));
  int64_t c = t->dims[1];
  const std::string& n = ctx.binding;
  ValueId w = ctx.global(e.loc, n + ".weight", GlobalKind::Param, {c}, {"ones", {}});
  ValueId b = ctx.global(e.loc, n + ".bias", GlobalKind::Param, {c}, {"zeros", {}});
  ValueId rm = ctx.global(e.loc, n + ".running_mean", GlobalKind::State, {c}, {"zeros", {}});
  ValueId rv = ctx.global(e.loc, n + ".running_var", GlobalKind::State, {c}, {"ones", {}});
  return ctx.emit(e.loc, OpKind::BatchNorm, {x, w, b, rm, rv}, {{"momentum", momentum}, {"eps", eps}});
}

ValueId lowerPool(LowerContext& ctx, const ast::Expr& e, Args& a, OpKind op) {
  ValueId x = a.tensor("x");
  auto kernel = a.pair("kernel", 1);
  auto stride = a.pair("stride", 1, kernel);
  auto padding = a.pair("padding", 0);
  std::optional<TensorType> t = typeOf(ctx, x);
  if (!t || a.failed) return kNoValue;
  if (t->rank() != 4)
    return ctx.fail(a.loc("x"), fmt::format("'{}' expects an NCHW tensor, found {}", a.spec.name, formatType(*t)));
  for (int i = 0; i < 2; ++i) {
    if (2 * padding[i] > kernel[i])
      return ctx.fail(a.loc("padding"), fmt::format("padding {} must be at most half the kernel {}", padding[i], kernel[i]));
    if (kernel[i] > t->dims[2 + i] + 2 * padding[i])
      return ctx.fail(a.loc("kernel"), fmt::format("kernel {}x{} is larger than the {}x{} input", kernel[0], kernel[1], t->dims[2], t->dims[3]));
  }
  return ctx.emit(e.loc, op, {x}, {{"kernel", kernel}, {"stride", stride}, {"padding", padding}});
}
ValueId lowerMaxPool(LowerContext& ctx, const ast::Expr& e, Args& a) { return lowerPool(ctx, e, a, OpKind::MaxPool2d); }
ValueId lowerAvgPool(LowerContext& ctx, const ast::Expr& e, Args& a) { return lowerPool(ctx, e, a, OpKind::AvgPool2d); }

ValueId lowerDropout(LowerContext& ctx, const ast::Expr& e, Args& a) {
  ValueId x = a.tensor("x");
  double p = a.number("p");
  if (x == kNoValue || a.failed) return kNoValue;
  if (!(p >= 0 && p < 1)) return ctx.fail(a.loc("p"), fmt::format("dropout probability must be in [0, 1), found {}", p));
  return ctx.emit(e.loc, OpKind::Dropout, {x}, {{"p", p}, {"salt", static_cast<int64_t>(ctx.dropoutSites++)}});
}

ValueId lowerFlatten(LowerContext& ctx, const ast::Expr& e, Args& a) {
  ValueId x = a.tensor("x");
  std::optional<TensorType> t = typeOf(ctx, x);
  if (!t) return kNoValue;
  if (t->rank() < 2) return ctx.fail(a.loc("x"), fmt::format("'flatten' needs at least two dimensions, found {}", formatType(*t)));
  int64_t rest = 1;
  for (int i = 1; i < t->rank(); ++i) {
    if (t->dims[i] == kBatch) return ctx.fail(a.loc("x"), "'flatten' keeps the batch dimension first; it cannot flatten it");
    rest *= t->dims[i];
  }
  return ctx.emit(e.loc, OpKind::Reshape, {x}, {{"shape", Dims{t->dims[0], rest}}});
}

// reshape(x, [B, -1, 4]): integers, at most one -1 (inferred), and the batch dimension by name.
ValueId lowerReshape(LowerContext& ctx, const ast::Expr& e, Args& a) {
  ValueId x = a.tensor("x");
  const ast::Expr* list = a.expr("shape");
  std::optional<TensorType> t = typeOf(ctx, x);
  if (!t) return kNoValue;
  const ast::List* l = list->as<ast::List>();
  if (!l) return ctx.fail(list->loc, "'reshape' expects a list of dimensions such as [B, 400]");
  Dims dims;
  int infer = -1;
  int64_t known = 1, total = 1;
  for (int64_t d : t->dims) total *= d == kBatch ? 1 : d;
  for (auto& el : l->elements) {
    if (const ast::Name* n = el->as<ast::Name>()) {
      if (ctx.batchName.empty()) return ctx.fail(el->loc, fmt::format("'{}' is not a dimension: the model has no batch dimension", n->text));
      if (n->text != ctx.batchName) return ctx.fail(el->loc, fmt::format("'{}' is not the batch dimension '{}'", n->text, ctx.batchName));
      dims.push_back(kBatch);
      continue;
    }
    auto num = ast::literalNumber(*el);
    if (!num || !num->isInteger || (num->intValue < 1 && num->intValue != -1))
      return ctx.fail(el->loc, "a dimension is a positive integer, -1, or the batch dimension");
    if (num->intValue == -1) {
      if (infer >= 0) return ctx.fail(el->loc, "only one dimension can be -1");
      infer = static_cast<int>(dims.size());
      dims.push_back(1);
      continue;
    }
    // Saturates above `total` instead of overflowing: such a product cannot match anyway.
    known = num->intValue > total / known ? total + 1 : known * num->intValue;
    dims.push_back(num->intValue);
  }
  if (t->hasBatch() != (std::count(dims.begin(), dims.end(), kBatch) == 1))
    return ctx.fail(list->loc, fmt::format("'reshape' must keep the batch dimension: cannot reshape {} to {}", formatType(*t), formatDims(dims)));
  if (infer >= 0) {
    if (total % known) return ctx.fail(list->loc, fmt::format("cannot reshape {} to {}", formatType(*t), formatDims(dims)));
    dims[infer] = total / known;
  } else if (known != total) {
    return ctx.fail(list->loc, fmt::format("cannot reshape {} to {}", formatType(*t), formatDims(dims)));
  }
  return ctx.emit(e.loc, OpKind::Reshape, {x}, {{"shape", dims}});
}

ValueId lowerTranspose(LowerContext& ctx, const ast::Expr& e, Args& a) {
  ValueId x = a.tensor("x");
  std::optional<TensorType> t = typeOf(ctx, x);
  auto perm = a.ints("perm", false);
  if (!t || !perm) return kNoValue;
  std::vector<bool> seen(t->rank());
  bool ok = static_cast<int>(perm->size()) == t->rank();
  for (int64_t& p : *perm) {
    if (p < 0) p += t->rank();
    ok = ok && p >= 0 && p < t->rank() && !seen[p];
    if (ok) seen[p] = true;
  }
  if (!ok)
    return ctx.fail(a.loc("perm"), fmt::format("'transpose' needs a permutation of the {} axes of {}, found {}", t->rank(),
                                               formatType(*t), formatAttr(*a.ints("perm", false))));
  return ctx.emit(e.loc, OpKind::Transpose, {x}, {{"perm", *perm}});
}

ValueId lowerConcat(LowerContext& ctx, const ast::Expr& e, Args& a) {
  std::vector<ValueId> xs;
  for (const ast::Expr* r : a.rest) xs.push_back(lowerExpr(ctx, *r));
  for (ValueId v : xs)
    if (v == kNoValue) return kNoValue;
  auto axis = a.axis("axis", ctx.fn.nodes[xs[0]].type.rank());
  if (!axis) return kNoValue;
  return ctx.emit(e.loc, OpKind::Concat, xs, {{"axis", *axis}});
}

ValueId lowerSlice(LowerContext& ctx, const ast::Expr& e, Args& a) {
  ValueId x = a.tensor("x");
  std::optional<TensorType> t = typeOf(ctx, x);
  if (!t) return kNoValue;
  auto axis = a.axis("axis", t->rank());
  auto start = a.integer("start"), end = a.integer("end");
  if (!axis || !start || !end) return kNoValue;
  return ctx.emit(e.loc, OpKind::Slice, {x}, {{"axis", *axis}, {"start", *start}, {"end", *end}});
}

ValueId lowerReduce(LowerContext& ctx, const ast::Expr& e, Args& a, OpKind op) {
  ValueId x = a.tensor("x");
  std::optional<TensorType> t = typeOf(ctx, x);
  if (!t) return kNoValue;
  auto axes = a.axes("axis", t->rank());
  bool keep = a.boolean("keepdims");
  if (!axes || a.failed) return kNoValue;
  return ctx.emit(e.loc, op, {x}, {{"axes", *axes}, {"keepdims", keep}});
}

ValueId lowerSoftmaxLike(LowerContext& ctx, const ast::Expr& e, Args& a, OpKind op) {
  ValueId x = a.tensor("x");
  std::optional<TensorType> t = typeOf(ctx, x);
  if (!t) return kNoValue;
  auto axis = a.axis("axis", t->rank());
  if (!axis) return kNoValue;
  return ctx.emit(e.loc, op, {x}, {{"axis", *axis}});
}
ValueId lowerSoftmax(LowerContext& ctx, const ast::Expr& e, Args& a) { return lowerSoftmaxLike(ctx, e, a, OpKind::Softmax); }
ValueId lowerLogSoftmax(LowerContext& ctx, const ast::Expr& e, Args& a) { return lowerSoftmaxLike(ctx, e, a, OpKind::LogSoftmax); }

// mean over the batch of -log_softmax(logits)[label], as one_hot . log_softmax. With label
// smoothing e over K classes the target is PyTorch's mixture (1 - e) one_hot + e / K (a plain
// one_hot stays what fuse-softmax-cross-entropy recognizes).
ValueId lowerCrossEntropy(LowerContext& ctx, const ast::Expr& e, Args& a) {
  ValueId z = a.tensor("logits"), y = a.tensor("labels");
  const double smoothing = a.number("label_smoothing");
  if (a.failed) return kNoValue;
  if (!(smoothing >= 0 && smoothing <= 1))
    return ctx.fail(a.loc("label_smoothing"), fmt::format("'label_smoothing' must be in [0, 1], found {}", smoothing));
  std::optional<TensorType> zt = typeOf(ctx, z), yt = typeOf(ctx, y);
  if (!zt || !yt) return kNoValue;
  if (zt->dtype != DType::F32 || zt->rank() != 2 || zt->dims[1] == kBatch)
    return ctx.fail(a.loc("logits"), fmt::format("'cross_entropy' expects f32 logits [batch, classes], found {}", formatType(*zt)));
  if (yt->dtype != DType::I32)
    return ctx.fail(a.loc("labels"), fmt::format("'cross_entropy' expects i32 class labels, found {}", formatType(*yt)));
  if (yt->dims != Dims{zt->dims[0]})
    return ctx.fail(a.loc("labels"), fmt::format("labels {} do not match logits {}: expected {}", formatType(*yt),
                                                 formatType(*zt), formatType({DType::I32, {zt->dims[0]}})));
  ValueId logp = ctx.emit(e.loc, OpKind::LogSoftmax, {z}, {{"axis", int64_t{1}}});
  ValueId hot = ctx.emit(e.loc, OpKind::OneHot, {y}, {{"classes", zt->dims[1]}});
  if (smoothing > 0) {
    ctx.b.setLoc(a.loc("label_smoothing"));
    ValueId keep = ctx.b.constant(1.0 - smoothing), spread = ctx.b.constant(smoothing / static_cast<double>(zt->dims[1]));
    hot = ctx.emit(e.loc, OpKind::Add, {ctx.emit(e.loc, OpKind::Mul, {hot, keep}), spread});
  }
  ValueId picked = ctx.emit(e.loc, OpKind::Sum, {ctx.emit(e.loc, OpKind::Mul, {hot, logp})},
                            {{"axes", std::vector<int64_t>{1}}, {"keepdims", false}});
  ValueId mean = ctx.emit(e.loc, OpKind::Mean, {picked}, {{"axes", std::vector<int64_t>{0}}, {"keepdims", false}});
  return ctx.emit(e.loc, OpKind::Neg, {mean});
}

std::vector<int64_t> allAxes(int rank) {
  std::vector<int64_t> v(rank);
  std::iota(v.begin(), v.end(), 0);
  return v;
}

ValueId lowerMse(LowerContext& ctx, const ast::Expr& e, Args& a) {
  ValueId p = a.tensor("pred"), t = a.tensor("target");
  std::optional<TensorType> pt = typeOf(ctx, p), tt = typeOf(ctx, t);
  if (!pt || !tt) return kNoValue;
  if (*pt != *tt) return ctx.fail(e.loc, fmt::format("'mse' needs equal shapes, found {} and {}", formatType(*pt), formatType(*tt)));
  ValueId d = ctx.emit(e.loc, OpKind::Sub, {p, t});
  return ctx.emit(e.loc, OpKind::Mean, {ctx.emit(e.loc, OpKind::Mul, {d, d})}, {{"axes", allAxes(pt->rank())}, {"keepdims", false}});
}

ValueId lowerL1(LowerContext& ctx, const ast::Expr& e, Args& a) {
  ValueId x = a.tensor("x");
  std::optional<TensorType> t = typeOf(ctx, x);
  if (!t) return kNoValue;
  return ctx.emit(e.loc, OpKind::Sum, {ctx.emit(e.loc, OpKind::Abs, {x})}, {{"axes", allAxes(t->rank())}, {"keepdims", false}});
}

ValueId lowerL2(LowerContext& ctx, const ast::Expr& e, Args& a) {
  ValueId x = a.tensor("x");
  std::optional<TensorType> t = typeOf(ctx, x);
  if (!t) return kNoValue;
  return ctx.emit(e.loc, OpKind::Sum, {ctx.emit(e.loc, OpKind::Mul, {x, x})}, {{"axes", allAxes(t->rank())}, {"keepdims", false}});
}

ValueId lowerBinary(LowerContext& ctx, const ast::Expr& e, Args& a, OpKind op, Attrs attrs = {}) {
  ValueId x = a.tensor("x"), y = a.tensor("y");
  return ctx.emit(e.loc, op, {x, y}, std::move(attrs));
}

template <OpKind op>
ValueId lowerUnary(LowerContext& ctx, const ast::Expr& e, Args& a) { return unaryOp(ctx, e, a, op); }
template <OpKind op>
ValueId lowerBinaryOp(LowerContext& ctx, const ast::Expr& e, Args& a) { return lowerBinary(ctx, e, a, op); }
template <OpKind op>
ValueId lowerReduceOp(LowerContext& ctx, const ast::Expr& e, Args& a) { return lowerReduce(ctx, e, a, op); }
ValueId lowerMatMul(LowerContext& c, const ast::Expr& e, Args& a) {
  return lowerBinary(c, e, a, OpKind::MatMul, {{"transpose_a", false}, {"transpose_b", false}});
}

const std::vector<CallSpec>& callTable() {
  const ArgSpec x = req("x", Kind::Tensor), y = req("y", Kind::Tensor);
  static const std::vector<CallSpec> table = {
      {"dense", {x, req("units", Kind::Int), def("bias", Kind::Bool, 1)}, lowerDense, true},
      {"conv2d", {x, req("filters", Kind::Int), req("kernel", Kind::Pair), def("stride", Kind::Pair, 1), def("padding", Kind::Pair, 0),
                  def("dilation", Kind::Pair, 1), def("groups", Kind::Int, 1), def("bias", Kind::Bool, 1)}, lowerConv, true},
      {"batchnorm", {x, def("momentum", Kind::Float, 0.1), def("eps", Kind::Float, 1e-5)}, lowerBatchNorm, true},
      {"maxpool2d", {x, req("kernel", Kind::Pair), opt("stride", Kind::Pair), def("padding", Kind::Pair, 0)}, lowerMaxPool},
      {"avgpool2d", {x, req("kernel", Kind::Pair), opt("stride", Kind::Pair), def("padding", Kind::Pair, 0)}, lowerAvgPool},
      {"dropout", {x, def("p", Kind::Float, 0.5)}, lowerDropout},
      {"flatten", {x}, lowerFlatten},
      {"reshape", {x, req("shape", Kind::IntList)}, lowerReshape},
      {"transpose", {x, req("perm", Kind::IntList)}, lowerTranspose},
      {"concat", {def("axis", Kind::Axis, 0)}, lowerConcat, false, true},
      {"slice", {x, req("axis", Kind::Axis), req("start", Kind::Int), req("end", Kind::Int)}, lowerSlice},
      {"sum", {x, opt("axis", Kind::Axes), def("keepdims", Kind::Bool, 0)}, lowerReduceOp<OpKind::Sum>},
      {"mean", {x, opt("axis", Kind::Axes), def("keepdims", Kind::Bool, 0)}, lowerReduceOp<OpKind::Mean>},
      {"max", {x, opt("axis", Kind::Axes), def("keepdims", Kind::Bool, 0)}, lowerReduceOp<OpKind::Max>},
      {"softmax", {x, def("axis", Kind::Axis, -1)}, lowerSoftmax},
      {"log_softmax", {x, def("axis", Kind::Axis, -1)}, lowerLogSoftmax},
      {"cross_entropy", {req("logits", Kind::Tensor), req("labels", Kind::Tensor), def("label_smoothing", Kind::Float, 0)},
       lowerCrossEntropy},
      {"mse", {req("pred", Kind::Tensor), req("target", Kind::Tensor)}, lowerMse},
      {"l1", {x}, lowerL1},
      {"l2", {x}, lowerL2},
      {"leaky_relu", {x, def("slope", Kind::Float, 0.01)}, lowerLeakyRelu},
      {"pow", {x, req("p", Kind::Float)}, lowerPow},
      {"neg", {x}, lowerUnary<OpKind::Neg>}, {"exp", {x}, lowerUnary<OpKind::Exp>}, {"log", {x}, lowerUnary<OpKind::Log>}, {"sqrt", {x}, lowerUnary<OpKind::Sqrt>},
      {"tanh", {x}, lowerUnary<OpKind::Tanh>}, {"sigmoid", {x}, lowerUnary<OpKind::Sigmoid>}, {"relu", {x}, lowerUnary<OpKind::Relu>}, {"abs", {x}, lowerUnary<OpKind::Abs>},
      {"add", {x, y}, lowerBinaryOp<OpKind::Add>}, {"sub", {x, y}, lowerBinaryOp<OpKind::Sub>}, {"mul", {x, y}, lowerBinaryOp<OpKind::Mul>}, {"div", {x, y}, lowerBinaryOp<OpKind::Div>},
      {"matmul", {x, y}, lowerMatMul},
  };
  return table;
}

}  // namespace

bool isBuiltinCall(const std::string& name) {
  return std::any_of(callTable().begin(), callTable().end(), [&](const CallSpec& s) { return name == s.name; });
}

ValueId lowerCall(LowerContext& ctx, const ast::Expr& e, const ast::Call& call) {
  if (auto block = ctx.blocks.find(call.callee); block != ctx.blocks.end()) return expandBlock(ctx, e, call, *block->second);
  const CallSpec* spec = nullptr;
  for (const CallSpec& s : callTable())
    if (call.callee == s.name) spec = &s;
  if (!spec) {
    Error err(call.calleeLoc, fmt::format("unknown function '{}'", call.callee));
    std::vector<std::string> names;
    for (const CallSpec& s : callTable()) names.push_back(s.name);
    for (const auto& [name, _] : ctx.blocks) names.push_back(name);
    std::string near = closestName(names, call.callee);
    if (!near.empty()) err.note(call.calleeLoc, fmt::format("did you mean '{}'?", near));
    return ctx.fail(std::move(err));
  }
  if (spec->parametric) {
    if (ctx.binding.empty())
      return ctx.fail(call.calleeLoc, fmt::format("'{}' has parameters, so it must appear in a binding that names them (name = {}(...))",
                                                  spec->name, spec->name));
    if (ctx.layer) {
      Error err(call.calleeLoc, fmt::format("binding '{}' already holds a layer with parameters; a binding holds at most one",
                                            ctx.binding));
      err.note(ctx.layer->second, fmt::format("'{}' is here; give each layer its own binding", ctx.layer->first));
      return ctx.fail(std::move(err));
    }
    ctx.layer.emplace(spec->name, call.calleeLoc);
  }
  Args args{ctx, *spec, call, {}, {}, false};
  if (!bind(args)) return kNoValue;
  return spec->lower(ctx, e, args);
}

}  // namespace sinter
