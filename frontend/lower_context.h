// State shared by the statement lowering (frontend/lower.cpp) and the call table (frontend/calls.cpp).
#pragma once

#include <map>
#include <optional>

#include "frontend/ast.h"
#include "ir/module.h"

namespace sinter {

// What a name in the model refers to.
struct Symbol {
  ValueId value = kNoValue;  // kNoValue: the definition failed; uses are skipped silently
  SourceLoc loc;             // where it was defined
};

struct LowerContext {
  Module& module;
  Function& fn;
  Builder b;
  std::map<std::string, Symbol> symbols;
  std::map<std::string, SourceLoc> declared;  // every name a statement defines, for "used before" errors
  std::string batchName;            // the model's batch dimension ("B"), once seen
  int dropoutSites = 0;             // salts for dropout masks, in source order
  // The binding being lowered, its whole value, and the parametric layer it already holds, if any.
  std::string binding;
  const ast::Expr* bindingValue = nullptr;
  std::optional<std::pair<std::string, SourceLoc>> layer;
  // Blocks (frontend/blocks.cpp): the declared ones by name, the calls being expanded (outermost
  // first), and the prefix their parameters get ("s1." inside the block that binding s1 calls).
  std::map<std::string, const ast::Block*> blocks;
  std::vector<std::pair<const ast::Block*, SourceLoc>> expanding;
  std::string prefix;
  Error errors;                     // every independent error, in source order

  LowerContext(Module& m, Function& f) : module(m), fn(f), b(m, f) {}

  // Records an error; returns kNoValue so callers can `return ctx.fail(...)`.
  ValueId fail(SourceLoc loc, std::string message) {
    errors.diags.push_back({std::move(loc), std::move(message), {}});
    return kNoValue;
  }
  ValueId fail(Error e) {
    for (auto& d : e.diags) errors.diags.push_back(std::move(d));
    return kNoValue;
  }
  // Emits an op at `loc`; a shape error becomes a located diagnostic.
  ValueId emit(SourceLoc loc, OpKind op, std::vector<ValueId> operands, Attrs attrs = {});
  // Adds the global `prefix + name` and makes `name` refer to it in the current scope.
  ValueId global(SourceLoc loc, const std::string& name, GlobalKind kind, Dims dims, Init init);
};

// The candidate closest to `name` by edit distance, for "did you mean" notes; empty when none is close.
std::string closestName(const std::vector<std::string>& candidates, const std::string& name);

// Lowers a model or block statement that defines names: a param or a binding.
void lowerStatement(LowerContext& ctx, const ast::Stmt& s);

// Checks the declared blocks (unique names, none named like a built-in) and makes them callable.
void declareBlocks(LowerContext& ctx, const std::vector<ast::Block>& blocks);
// Expands a call of `block` in place: the value of its `return`, parameters named under the binding.
ValueId expandBlock(LowerContext& ctx, const ast::Expr& e, const ast::Call& call, const ast::Block& block);
// Whether `name` is a built-in callable (dense, relu, ...).
bool isBuiltinCall(const std::string& name);

// Lowers an expression to a tensor value (numbers become f32 scalars). kNoValue after an error.
ValueId lowerExpr(LowerContext& ctx, const ast::Expr& e);
// Lowers a call through the call table.
ValueId lowerCall(LowerContext& ctx, const ast::Expr& e, const ast::Call& call);

}  // namespace sinter
