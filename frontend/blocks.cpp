// Blocks: reusable pieces of a model, expanded where they are called (DESIGN.md §1).
//
// A call `s1 = basic(stem, 16)` is expanded in place, the way a macro is, so the IR never sees a
// block: every op inside gets the location of its line in the block, and the graph optimizes across
// block boundaries as if the model had been written out. Arguments that are literals (numbers,
// booleans, lists) are substituted into the block's AST, so `conv2d(x, filters = filters)` reads
// a literal as a built-in layer requires; any other argument is a tensor, lowered in the caller's
// scope. The body is lowered in a scope of its own holding only the tensor parameters, and the
// parameters of its layers are named under the calling binding (prefix "s1."); afterwards the
// caller can refer to them as `s1.c1.weight`.
#include <fmt/format.h>

#include <algorithm>

#include "frontend/lower.h"
#include "frontend/lower_context.h"

namespace sinter {

namespace {

using Literals = std::vector<std::pair<std::string, const ast::Expr*>>;

// Nesting bound for blocks calling blocks (recursion is refused separately).
constexpr size_t kMaxBlockDepth = 32;

bool isLiteral(const ast::Expr& e) { return ast::literalNumber(e) || e.as<ast::Bool>() || e.as<ast::List>(); }

// A deep copy of `e` in which every Name bound in `literals` becomes a copy of its literal. The
// copy keeps the Name's location, so an error about the value points at its use inside the block.
// Recursion depth is bounded by the parser's nesting limit.
ast::ExprPtr substitute(const ast::Expr& e, const Literals& literals) {
  auto out = std::make_unique<ast::Expr>();
  out->loc = e.loc;
  if (const ast::Name* n = e.as<ast::Name>()) {
    for (const auto& [name, value] : literals) {
      if (name != n->text) continue;
      ast::ExprPtr copy = substitute(*value, {});
      copy->loc = e.loc;
      return copy;
    }
    out->node = *n;
  } else if (const ast::Number* num = e.as<ast::Number>()) {
    out->node = *num;
  } else if (const ast::Bool* b = e.as<ast::Bool>()) {
    out->node = *b;
  } else if (const ast::Call* c = e.as<ast::Call>()) {
    ast::Call copy{c->callee, c->calleeLoc, {}, {}};
    for (const ast::ExprPtr& a : c->args) copy.args.push_back(substitute(*a, literals));
    for (const ast::KeywordArg& kw : c->kwargs) copy.kwargs.push_back({kw.name, kw.nameLoc, substitute(*kw.value, literals)});
    out->node = std::move(copy);
  } else if (const ast::Binary* bin = e.as<ast::Binary>()) {
    out->node = ast::Binary{bin->op, bin->opLoc, substitute(*bin->lhs, literals), substitute(*bin->rhs, literals)};
  } else if (const ast::Neg* neg = e.as<ast::Neg>()) {
    out->node = ast::Neg{substitute(*neg->operand, literals)};
  } else if (const ast::List* list = e.as<ast::List>()) {
    ast::List copy;
    for (const ast::ExprPtr& el : list->elements) copy.elements.push_back(substitute(*el, literals));
    out->node = std::move(copy);
  }
  return out;
}

// A block statement with the literal parameters substituted.
ast::Stmt substitute(const ast::Stmt& s, const Literals& literals) {
  if (const ast::Param* p = s.as<ast::Param>())
    return ast::Stmt{s.loc, ast::Param{p->name, p->nameLoc, p->type, substitute(*p->init, literals)}};
  const ast::Binding& b = std::get<ast::Binding>(s.node);  // the parser admits nothing else in a block
  return ast::Stmt{s.loc, ast::Binding{b.name, b.nameLoc, substitute(*b.value, literals)}};
}

Error declaredHere(Error e, const ast::Block& block) {
  e.note(block.nameLoc, fmt::format("block '{}' is declared here", block.name));
  return e;
}

// The argument (or default) for each of the block's parameters; nullopt after an error.
std::optional<std::vector<const ast::Expr*>> bindArguments(LowerContext& ctx, const ast::Call& call, const ast::Block& block) {
  const auto& params = block.params;
  std::vector<const ast::Expr*> given(params.size(), nullptr);
  bool ok = true;
  if (call.args.size() > params.size()) {
    ctx.fail(declaredHere(Error(call.args[params.size()]->loc, fmt::format("block '{}' takes {} parameter{}, found {} arguments", block.name,
                                                                           params.size(), params.size() == 1 ? "" : "s", call.args.size())),
                          block));
    return std::nullopt;
  }
  for (size_t i = 0; i < call.args.size(); ++i) given[i] = call.args[i].get();
  for (const ast::KeywordArg& kw : call.kwargs) {
    auto it = std::find_if(params.begin(), params.end(), [&](const ast::BlockParam& p) { return p.name == kw.name; });
    if (it == params.end()) {
      Error err(kw.nameLoc, fmt::format("block '{}' has no parameter '{}'", block.name, kw.name));
      std::vector<std::string> names;
      for (const ast::BlockParam& p : params) names.push_back(p.name);
      if (std::string near = closestName(names, kw.name); !near.empty()) err.note(kw.nameLoc, fmt::format("did you mean '{}'?", near));
      ctx.fail(declaredHere(std::move(err), block));
      ok = false;
      continue;
    }
    const auto k = static_cast<size_t>(it - params.begin());
    if (given[k]) {
      Error err(kw.nameLoc, fmt::format("block '{}' parameter '{}' is given twice", block.name, kw.name));
      err.note(given[k]->loc, "it was given here, by position");
      ctx.fail(std::move(err));
      ok = false;
      continue;
    }
    given[k] = kw.value.get();
  }
  for (size_t i = 0; i < params.size(); ++i) {
    if (given[i]) continue;
    if (params[i].defaultValue) {
      given[i] = params[i].defaultValue.get();
      continue;
    }
    Error err(call.calleeLoc, fmt::format("block '{}' needs its parameter '{}'", block.name, params[i].name));
    err.note(params[i].loc, fmt::format("'{}' is declared here, without a default", params[i].name));
    ctx.fail(std::move(err));
    ok = false;
  }
  if (!ok) return std::nullopt;
  return given;
}

}  // namespace

void declareBlocks(LowerContext& ctx, const std::vector<ast::Block>& blocks) {
  for (const ast::Block& block : blocks) {
    if (isBuiltinCall(block.name)) {
      ctx.fail(block.nameLoc, fmt::format("block '{}' has the name of a built-in function; choose another name", block.name));
      continue;
    }
    auto [it, fresh] = ctx.blocks.try_emplace(block.name, &block);
    if (!fresh) {
      Error err(block.nameLoc, fmt::format("block '{}' is declared twice", block.name));
      err.note(it->second->nameLoc, "the first declaration is here");
      ctx.fail(std::move(err));
    }
  }
}

ValueId expandBlock(LowerContext& ctx, const ast::Expr& e, const ast::Call& call, const ast::Block& block) {
  if (ctx.binding.empty() || ctx.bindingValue != &e) {
    // A binding names the block's parameters, so the call must be all of it.
    return ctx.fail(declaredHere(Error(call.calleeLoc, fmt::format("a call of block '{}' must be the whole value of a binding "
                                                                   "(name = {}(...)), which names the parameters inside it",
                                                                   block.name, block.name)),
                                 block));
  }
  // The "in block ..., called here" notes added on the way out show the cycle.
  for (const auto& [outer, _] : ctx.expanding)
    if (outer == &block)
      return ctx.fail(call.calleeLoc, fmt::format("block '{}' calls itself; blocks are expanded in place and cannot be recursive", block.name));
  if (ctx.expanding.size() >= kMaxBlockDepth)
    return ctx.fail(call.calleeLoc, fmt::format("blocks are nested more than {} deep", kMaxBlockDepth));
  std::optional<std::vector<const ast::Expr*>> args = bindArguments(ctx, call, block);
  if (!args) return kNoValue;

  // Tensor arguments are values of the caller's scope; a layer there would have no binding to
  // name its parameters, so the binding is cleared while they are lowered.
  const std::string binding = ctx.binding;
  ctx.binding.clear();
  ctx.bindingValue = nullptr;
  Literals literals;
  std::map<std::string, Symbol> scope;
  for (size_t i = 0; i < block.params.size(); ++i) {
    const ast::Expr& arg = *(*args)[i];
    if (isLiteral(arg)) literals.emplace_back(block.params[i].name, &arg);
    else scope.emplace(block.params[i].name, Symbol{lowerExpr(ctx, arg), block.params[i].loc});
  }

  // The block's own scope.
  const size_t firstError = ctx.errors.diags.size();
  std::map<std::string, Symbol> callerSymbols = std::exchange(ctx.symbols, std::move(scope));
  std::map<std::string, SourceLoc> callerDeclared = std::exchange(ctx.declared, {});
  const std::string callerPrefix = std::exchange(ctx.prefix, ctx.prefix + binding + ".");
  ctx.expanding.emplace_back(&block, call.calleeLoc);
  for (const ast::Stmt& s : block.body) {
    if (const ast::Param* p = s.as<ast::Param>()) ctx.declared.try_emplace(p->name, p->nameLoc);
    if (const ast::Binding* b = s.as<ast::Binding>()) ctx.declared.try_emplace(b->name, b->nameLoc);
  }
  for (const ast::Stmt& s : block.body) lowerStatement(ctx, substitute(s, literals));
  ValueId result = kNoValue;
  if (block.result) result = lowerExpr(ctx, *substitute(*block.result, literals));
  // The parameters made inside (its own and those of blocks it called) become `binding.<name>`.
  std::vector<std::pair<std::string, Symbol>> exported;
  for (const auto& [name, symbol] : ctx.symbols)
    if (ctx.module.global(ctx.prefix + name)) exported.emplace_back(binding + "." + name, symbol);

  ctx.expanding.pop_back();
  ctx.prefix = callerPrefix;
  ctx.declared = std::move(callerDeclared);
  ctx.symbols = std::move(callerSymbols);
  for (auto& [name, symbol] : exported) ctx.symbols.try_emplace(name, symbol);
  ctx.binding = binding;
  ctx.bindingValue = &e;
  ctx.layer.reset();
  for (size_t i = firstError; i < ctx.errors.diags.size(); ++i)
    ctx.errors.diags[i].notes.push_back({call.calleeLoc, fmt::format("{}'{}', called here", kInBlockNote, block.name), {}});
  return result;
}

}  // namespace sinter
