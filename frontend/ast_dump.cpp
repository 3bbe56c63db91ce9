// The AST as an indented tree (sinter dump --stage=ast) and expressions written back as source.
#include "frontend/ast_dump.h"

namespace sinter {
namespace {

std::string at(const SourceLoc& loc) { return fmt::format("@{}:{}", loc.line, loc.col); }

// Floats keep a mark of being floats (`64.0`, not `64`) so "expects an integer, found 64.0" reads right.
std::string formatNumber(const ast::Number& n) {
  if (n.isInteger) return fmt::format("{}", n.intValue);
  std::string s = fmt::format("{}", n.value);
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";  // n: inf and nan have no dot either
  return s;
}

// Binding strength: + - bind loosest, then * / @, then unary minus, then atoms.
int precedence(const ast::Expr& e) {
  if (const auto* b = e.as<ast::Binary>()) return b->op == '+' || b->op == '-' ? 1 : 2;
  if (e.as<ast::Neg>()) return 3;
  return 4;
}

std::string formatOperand(const ast::Expr& e, int minPrecedence) {
  std::string s = formatExpr(e);
  return precedence(e) < minPrecedence ? "(" + s + ")" : s;
}

std::string formatType(const ast::Type& type) {
  std::string dims;
  for (const ast::Dim& d : type.dims) {
    if (!dims.empty()) dims += ", ";
    dims += d.size ? fmt::format("{}", *d.size) : d.name;
  }
  return fmt::format("{}[{}]", type.dtype, dims);
}

class Dumper {
 public:
  std::string take() { return std::move(out_); }

  void program(const ast::Program& p) {
    line(0, fmt::format("model {} {}", p.model.name, at(p.model.nameLoc)));
    for (const ast::Stmt& s : p.model.body) stmt(s);
    for (const ast::Block& b : p.blocks) {
      line(0, fmt::format("block {} {}", b.name, at(b.nameLoc)));
      for (const ast::BlockParam& param : b.params) {
        line(1, fmt::format("parameter {} {}", param.name, at(param.loc)));
        if (param.defaultValue) expr(2, *param.defaultValue);
      }
      for (const ast::Stmt& s : b.body) stmt(s);
      line(1, fmt::format("return {}", at(b.resultLoc)));
      if (b.result) expr(2, *b.result);
    }
    if (!p.train) return;
    line(0, fmt::format("train {}", at(p.train->loc)));
    for (const ast::TrainEntry& e : p.train->entries) {
      line(1, fmt::format("{}{} {}", e.key, e.isCall ? " (call form)" : "", at(e.keyLoc)));
      for (const ast::ExprPtr& v : e.values) expr(2, *v);
    }
  }

 private:
  void line(int depth, const std::string& text) {
    out_.append(static_cast<size_t>(depth) * 2, ' ');
    out_ += text;
    out_ += '\n';
  }

  void stmt(const ast::Stmt& s) {
    if (const auto* in = s.as<ast::Input>()) {
      line(1, fmt::format("input {}: {} {}", in->name, formatType(in->type), at(in->nameLoc)));
    } else if (const auto* p = s.as<ast::Param>()) {
      line(1, fmt::format("param {}: {} {}", p->name, formatType(p->type), at(p->nameLoc)));
      expr(2, *p->init);
    } else if (const auto* b = s.as<ast::Binding>()) {
      line(1, fmt::format("binding {} {}", b->name, at(b->nameLoc)));
      expr(2, *b->value);
    } else if (const auto* o = s.as<ast::Output>()) {
      line(1, fmt::format("output {} {}", o->name, at(o->nameLoc)));
      if (o->value) expr(2, *o->value);
    } else if (const auto* l = s.as<ast::Loss>()) {
      line(1, fmt::format("loss {}", at(s.loc)));
      expr(2, *l->value);
    }
  }

  void expr(int depth, const ast::Expr& e) {
    if (const auto* n = e.as<ast::Number>()) {
      line(depth, fmt::format("{} {} {}", n->isInteger ? "int" : "float", formatNumber(*n), at(e.loc)));
    } else if (const auto* b = e.as<ast::Bool>()) {
      line(depth, fmt::format("bool {} {}", b->value, at(e.loc)));
    } else if (const auto* name = e.as<ast::Name>()) {
      line(depth, fmt::format("name {} {}", name->text, at(e.loc)));
    } else if (const auto* c = e.as<ast::Call>()) {
      line(depth, fmt::format("call {} {}", c->callee, at(e.loc)));
      for (const ast::ExprPtr& a : c->args) expr(depth + 1, *a);
      for (const ast::KeywordArg& kw : c->kwargs) {
        line(depth + 1, fmt::format("{} = {}", kw.name, at(kw.nameLoc)));
        expr(depth + 2, *kw.value);
      }
    } else if (const auto* bin = e.as<ast::Binary>()) {
      line(depth, fmt::format("binary {} {}", bin->op, at(bin->opLoc)));
      expr(depth + 1, *bin->lhs);
      expr(depth + 1, *bin->rhs);
    } else if (const auto* neg = e.as<ast::Neg>()) {
      line(depth, fmt::format("neg {}", at(e.loc)));
      expr(depth + 1, *neg->operand);
    } else if (const auto* list = e.as<ast::List>()) {
      line(depth, fmt::format("list {}", at(e.loc)));
      for (const ast::ExprPtr& el : list->elements) expr(depth + 1, *el);
    }
  }

  std::string out_;
};

}  // namespace

std::string dumpAst(const ast::Program& program) {
  Dumper d;
  d.program(program);
  return d.take();
}

std::string formatExpr(const ast::Expr& e) {
  if (const auto* n = e.as<ast::Number>()) return formatNumber(*n);
  if (const auto* b = e.as<ast::Bool>()) return b->value ? "true" : "false";
  if (const auto* name = e.as<ast::Name>()) return name->text;
  if (const auto* c = e.as<ast::Call>()) {
    std::string args;
    for (const ast::ExprPtr& a : c->args) args += (args.empty() ? "" : ", ") + formatExpr(*a);
    for (const ast::KeywordArg& kw : c->kwargs)
      args += fmt::format("{}{} = {}", args.empty() ? "" : ", ", kw.name, formatExpr(*kw.value));
    return fmt::format("{}({})", c->callee, args);
  }
  if (const auto* bin = e.as<ast::Binary>()) {
    int p = precedence(e);
    // Left associative: the right operand of an equal-precedence operator needs parentheses.
    return fmt::format("{} {} {}", formatOperand(*bin->lhs, p), bin->op, formatOperand(*bin->rhs, p + 1));
  }
  if (const auto* neg = e.as<ast::Neg>()) return "-" + formatOperand(*neg->operand, 3);
  const auto& list = std::get<ast::List>(e.node);
  std::string elements;
  for (const ast::ExprPtr& el : list.elements) elements += (elements.empty() ? "" : ", ") + formatExpr(*el);
  return "[" + elements + "]";
}

}  // namespace sinter
