// Parser tests: precedence, calls, lists, names, every statement kind, train entries, the examples,
// locations, error recovery and the error cap.
#include "frontend/ast_dump.h"
#include "frontend/parser.h"
#include "support/render.h"

#include "tests/frontend/test_util.h"

namespace sinter {
namespace {

// Fully parenthesized prefix form, so tests see exactly how the parser grouped an expression.
std::string sexpr(const ast::Expr& e) {
  if (const auto* n = e.as<ast::Number>()) return n->isInteger ? fmt::format("{}", n->intValue) : fmt::format("{}f", n->value);
  if (const auto* b = e.as<ast::Bool>()) return b->value ? "#t" : "#f";
  if (const auto* name = e.as<ast::Name>()) return name->text;
  if (const auto* bin = e.as<ast::Binary>()) return fmt::format("({} {} {})", bin->op, sexpr(*bin->lhs), sexpr(*bin->rhs));
  if (const auto* neg = e.as<ast::Neg>()) return fmt::format("(neg {})", sexpr(*neg->operand));
  if (const auto* list = e.as<ast::List>()) {
    std::string s = "[";
    for (const auto& el : list->elements) s += (s.size() > 1 ? " " : "") + sexpr(*el);
    return s + "]";
  }
  const auto& c = std::get<ast::Call>(e.node);
  std::string s = "(call " + c.callee;
  for (const auto& a : c.args) s += " " + sexpr(*a);
  for (const auto& kw : c.kwargs) s += " " + kw.name + "=" + sexpr(*kw.value);
  return s + ")";
}

ast::ExprPtr expr(const std::string& text) {
  SourceFile src = sourceFromString("e.nn", text);
  auto r = parseExpression(src);
  if (!r) FAIL(renderDiagnostics(r.error(), src));
  return r.take();
}

std::string grouped(const std::string& text) { return sexpr(*expr(text)); }

ast::Program program(const std::string& text) {
  SourceFile src = sourceFromString("t.nn", text);
  auto r = parseProgram(src);
  if (!r) FAIL(renderDiagnostics(r.error(), src));
  return r.take();
}

// "line:col: message" for each error of a program that must fail to parse.
std::vector<std::string> errors(const std::string& text) {
  SourceFile src = sourceFromString("t.nn", text);
  auto r = parseProgram(src);
  REQUIRE_FALSE(r.ok());
  std::vector<std::string> out;
  for (const Diag& d : r.error().diags) out.push_back(fmt::format("{}:{}: {}", d.loc.line, d.loc.col, d.message));
  return out;
}

using Lines = std::vector<std::string>;

TEST_CASE("parser: precedence and associativity") {
  CHECK(grouped("a + b * c") == "(+ a (* b c))");
  CHECK(grouped("a * b + c") == "(+ (* a b) c)");
  CHECK(grouped("a - b - c") == "(- (- a b) c)");
  CHECK(grouped("a / b / c") == "(/ (/ a b) c)");
  CHECK(grouped("a / b @ c") == "(@ (/ a b) c)");
  CHECK(grouped("x @ w + b") == "(+ (@ x w) b)");
  CHECK(grouped("-a * b") == "(* (neg a) b)");
  CHECK(grouped("a * -b") == "(* a (neg b))");
  CHECK(grouped("- -a") == "(neg (neg a))");
  CHECK(grouped("-a + b") == "(+ (neg a) b)");
  CHECK(grouped("(a + b) * c") == "(* (+ a b) c)");
  CHECK(grouped("a - (b - c)") == "(- a (- b c))");
}

TEST_CASE("parser: literals and names") {
  CHECK(grouped("1") == "1");
  CHECK(grouped("0.5") == "0.5f");
  CHECK(grouped("true") == "#t");
  CHECK(grouped("false") == "#f");
  CHECK(grouped("fc1.weight") == "fc1.weight");
  ast::ExprPtr one = expr("1.");
  const auto* n = one->as<ast::Number>();
  REQUIRE(n);
  CHECK_FALSE(n->isInteger);
  CHECK(n->value == 1.0);
  ast::ExprPtr big = expr("9000000000");
  CHECK(big->as<ast::Number>()->intValue == 9000000000);
  CHECK(big->as<ast::Number>()->isInteger);
}

TEST_CASE("parser: calls with positional and keyword arguments") {
  CHECK(grouped("f()") == "(call f)");
  CHECK(grouped("conv2d(image, filters = 6, kernel = 5)") == "(call conv2d image filters=6 kernel=5)");
  CHECK(grouped("relu(dense(flatten(x), 128))") == "(call relu (call dense (call flatten x) 128))");
  CHECK(grouped("f(a, b,)") == "(call f a b)");
  CHECK(grouped("l2(fc1.weight) * 5e-4") == "(* (call l2 fc1.weight) 0.0005f)");
  CHECK(grouped("reshape(x, [-1, 4 * 4])") == "(call reshape x [(neg 1) (* 4 4)])");
  CHECK(grouped("f(\n  a,\n  k = 1\n)") == "(call f a k=1)");
}

TEST_CASE("parser: lists") {
  CHECK(grouped("[1, 2, -1]") == "[1 2 (neg 1)]");
  CHECK(grouped("[]") == "[]");
  CHECK(grouped("[[1, 2], [a]]") == "[[1 2] [a]]");
  CHECK(grouped("[0.49, 0.48,]") == "[0.49f 0.48f]");
}

TEST_CASE("parser: literalNumber looks through unary minus") {
  auto n = ast::literalNumber(*expr("--3"));
  REQUIRE(n);
  CHECK(n->intValue == 3);
  CHECK(ast::literalNumber(*expr("-0.5"))->value == -0.5);
  CHECK_FALSE(ast::literalNumber(*expr("-x")));
}

TEST_CASE("parser: expression locations cover the whole expression") {
  // 0        1         2
  // 123456789012345678901234
  // relu(dense(x, 128)) + b
  ast::ExprPtr e = expr("relu(dense(x, 128)) + b");
  CHECK(e->loc.col == 1);
  CHECK(e->loc.len == 23);
  const auto& bin = std::get<ast::Binary>(e->node);
  CHECK(bin.opLoc.col == 21);
  CHECK(bin.lhs->loc.len == 19);
  const auto& relu = std::get<ast::Call>(bin.lhs->node);
  CHECK(relu.calleeLoc.len == 4);
  CHECK(relu.args[0]->loc.col == 6);
  CHECK(relu.args[0]->loc.len == 13);
  ast::ExprPtr paren = expr("(a + b)");
  CHECK(paren->loc.len == 7);
  ast::ExprPtr kw = expr("f(x, std = 0.01)");
  const auto& call = std::get<ast::Call>(kw->node);
  CHECK(call.kwargs[0].nameLoc.col == 6);
  CHECK(call.kwargs[0].nameLoc.len == 3);
  CHECK(call.kwargs[0].value->loc.col == 12);
  // A range running over lines is clipped to the rest of its first line.
  ast::ExprPtr multi = expr("f(a,\n  b)");
  CHECK(multi->loc.line == 1);
  CHECK(multi->loc.len == 4);
}

TEST_CASE("parser: every model statement kind") {
  ast::Program p = program(
      "model m {\n"
      "  input image: f32[B, 1, 28, 28]\n"
      "  param w: f32[10, 784] = normal(mean = 0, std = 0.01)\n"
      "  param b: f32[10] = zeros\n"
      "  h = flatten(image) @ transpose(w, [1, 0]) + b\n"
      "  output probs = softmax(h)\n"
      "  output h\n"
      "  loss mse(h, h)\n"
      "}\n");
  CHECK(p.model.name == "m");
  CHECK(p.model.nameLoc.col == 7);
  CHECK_FALSE(p.train);
  REQUIRE(p.model.body.size() == 7);

  const auto* in = p.model.body[0].as<ast::Input>();
  REQUIRE(in);
  CHECK(in->name == "image");
  CHECK(in->nameLoc.line == 2);
  CHECK(in->nameLoc.col == 9);
  CHECK(in->type.dtype == "f32");
  REQUIRE(in->type.dims.size() == 4);
  CHECK(in->type.dims[0].name == "B");
  CHECK_FALSE(in->type.dims[0].size);
  CHECK(*in->type.dims[3].size == 28);
  CHECK(in->type.dims[3].loc.col == 30);
  CHECK(in->type.loc.col == 16);
  CHECK(in->type.loc.len == 17);
  CHECK(p.model.body[0].loc.col == 3);

  const auto* w = p.model.body[1].as<ast::Param>();
  REQUIRE(w);
  CHECK(w->name == "w");
  CHECK(sexpr(*w->init) == "(call normal mean=0 std=0.01f)");
  const auto* b = p.model.body[2].as<ast::Param>();
  REQUIRE(b);
  CHECK(sexpr(*b->init) == "zeros");

  const auto* h = p.model.body[3].as<ast::Binding>();
  REQUIRE(h);
  CHECK(h->name == "h");
  CHECK(sexpr(*h->value) == "(+ (@ (call flatten image) (call transpose w [1 0])) b)");

  const auto* probs = p.model.body[4].as<ast::Output>();
  REQUIRE(probs);
  CHECK(probs->name == "probs");
  CHECK(probs->nameLoc.col == 10);
  REQUIRE(probs->value);
  const auto* bare = p.model.body[5].as<ast::Output>();
  REQUIRE(bare);
  CHECK(bare->name == "h");
  CHECK_FALSE(bare->value);

  const auto* loss = p.model.body[6].as<ast::Loss>();
  REQUIRE(loss);
  CHECK(sexpr(*loss->value) == "(call mse h h)");
  CHECK(p.model.body[6].loc.line == 8);
}

TEST_CASE("parser: statement keywords are contextual") {
  ast::Program p = program("model m {\n  loss = x\n  input = 2\n  output loss = loss\n  loss loss\n}");
  REQUIRE(p.model.body.size() == 4);
  CHECK(p.model.body[0].as<ast::Binding>()->name == "loss");
  CHECK(p.model.body[1].as<ast::Binding>()->name == "input");
  CHECK(p.model.body[2].as<ast::Output>()->name == "loss");
  CHECK(p.model.body[3].as<ast::Loss>());
}

TEST_CASE("parser: train block entries, either block order, one-line blocks") {
  ast::Program p = program(
      "train {\n"
      "  optimizer sgd(lr = 0.01, momentum = 0.9)\n"
      "  augment random_crop(padding = 4), hflip\n"
      "  normalize(mean = [0.49, 0.48, 0.44], std = 0.5)\n"
      "  batch 64\n"
      "}\n"
      "model m { input x: f32[] }\n");
  CHECK(p.model.body.size() == 1);
  CHECK(p.model.body[0].as<ast::Input>()->type.dims.empty());
  REQUIRE(p.train);
  const auto& e = p.train->entries;
  REQUIRE(e.size() == 4);
  CHECK(e[0].key == "optimizer");
  CHECK_FALSE(e[0].isCall);
  REQUIRE(e[0].values.size() == 1);
  CHECK(sexpr(*e[0].values[0]) == "(call sgd lr=0.01f momentum=0.9f)");
  CHECK(e[1].values.size() == 2);
  CHECK(sexpr(*e[1].values[1]) == "hflip");
  CHECK(e[2].isCall);
  CHECK(sexpr(*e[2].values[0]) == "(call normalize mean=[0.49f 0.48f 0.44f] std=0.5f)");
  CHECK(e[2].keyLoc.col == 3);
  CHECK(e[2].loc.len == 47);
  CHECK(e[3].keyLoc.line == 5);
}

TEST_CASE("parser: the example models parse") {
  for (const char* name : {"lenet", "mlp", "cifar_cnn"}) {
    CAPTURE(name);
    auto src = loadSource(fmt::format("{}/examples/{}.nn", SINTER_SOURCE_DIR, name));
    REQUIRE(src.ok());
    auto p = parseProgram(*src);
    if (!p) FAIL(renderDiagnostics(p.error(), *src));
    CHECK(p->model.name == name);
    CHECK(p->train);
    CHECK(p->model.body.size() >= 7);
  }
}

TEST_CASE("parser: dumpAst prints an indented located tree") {
  ast::Program p = program(
      "model m {\n"
      "  input x: f32[B, 4]\n"
      "  y = relu(-x * 2.0, k = [1])\n"
      "  output y\n"
      "}\n"
      "train {\n"
      "  early_stopping(patience = 5)\n"
      "}\n");
  CHECK(dumpAst(p) ==
        "model m @1:7\n"
        "  input x: f32[B, 4] @2:9\n"
        "  binding y @3:3\n"
        "    call relu @3:7\n"
        "      binary * @3:15\n"
        "        neg @3:12\n"
        "          name x @3:13\n"
        "        float 2.0 @3:17\n"
        "      k = @3:22\n"
        "        list @3:26\n"
        "          int 1 @3:27\n"
        "  output y @4:10\n"
        "train @6:1\n"
        "  early_stopping (call form) @7:3\n"
        "    call early_stopping @7:3\n"
        "      patience = @7:18\n"
        "        int 5 @7:29\n");
  CHECK(formatExpr(*expr("(a + b) * -c - (d - e) @ f(x, k = [1, 2.0])")) == "(a + b) * -c - (d - e) @ f(x, k = [1, 2.0])");
}

TEST_CASE("parser: reports expected and found") {
  CHECK(errors("model m {\n  x = f(a, b\n}\n") == Lines{"2:13: expected ')' after arguments, found newline"});
  CHECK(errors("model m {\n  x = = 1\n}\n") == Lines{"2:7: expected an expression, found '='"});
  CHECK(errors("model m {\n  x = 1 $\n}\n") == Lines{"2:9: unexpected character '$'"});
  CHECK(errors("model m {\n  y = f(k = 1, x)\n}\n") == Lines{"2:16: positional argument after keyword argument 'k'"});
  CHECK(errors("") == Lines{"1:1: expected a 'model' block, found end of file"});
  CHECK(errors("train {\n  batch 64\n}\n") == Lines{"3:2: expected a 'model' block, found end of file"});
}

TEST_CASE("parser: recovery reports every independent error") {
  Lines got = errors(
      "model m {\n"
      "  a = relu(x\n"           // missing ')'
      "  b = a +\n"              // missing operand
      "  c = a b\n"              // junk after the statement
      "  d = 1.2.3\n"            // lexer error
      "  e = ok(a)\n"            // fine
      "  input x f32[1]\n"       // missing ':'
      "}\n"
      "train {\n"
      "  batch\n"                // missing value
      "}\n");
  CHECK(got == Lines{
                   "2:13: expected ')' after arguments, found newline",
                   "3:10: expected an expression, found newline",
                   "4:9: expected end of line after the statement, found 'b'",
                   "5:7: malformed number '1.2.3'",
                   "7:11: expected ':' and a type after 'x', found 'f32'",
                   "10:8: expected a value after 'batch', found newline",
               });
}

TEST_CASE("parser: a forgotten '}' is reported and the next block still parses") {
  SourceFile src = sourceFromString("t.nn", "model m {\n  x = 1\ntrain {\n  batch 0.5 1\n}\n");
  auto r = parseProgram(src);
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.error().diags.size() == 2);
  CHECK(r.error().diags[0].message == "expected '}' to close the model block, found 'train'");
  REQUIRE(r.error().diags[0].notes.size() == 1);
  CHECK(r.error().diags[0].notes[0].loc.col == 9);
  CHECK(r.error().diags[1].message == "expected end of line after the statement, found '1'");
}

TEST_CASE("parser: duplicate blocks and keyword arguments carry a note at the first") {
  SourceFile src = sourceFromString("t.nn", "model a {\n}\nmodel b {\n  x = f(k = 1, k = 2)\n}\n");
  auto r = parseProgram(src);
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.error().diags.size() == 1);
  CHECK(r.error().diags[0].message == "a file holds at most one 'model' block");
  CHECK(r.error().diags[0].notes[0].loc.line == 1);

  SourceFile src2 = sourceFromString("t.nn", "model a {\n  x = f(k = 1, k = 2)\n}\n");
  auto r2 = parseProgram(src2);
  REQUIRE_FALSE(r2.ok());
  CHECK(r2.error().diags[0].message == "duplicate keyword argument 'k'");
  CHECK(r2.error().diags[0].loc.col == 16);
  CHECK(r2.error().diags[0].notes[0].loc.col == 9);
}

TEST_CASE("parser: errors stop at the cap") {
  std::string text = "model m {\n";
  for (int i = 0; i < 40; ++i) text += "  x = )\n";
  text += "}\n";
  Lines got = errors(text);
  REQUIRE(got.size() == kMaxParseErrors + 1);
  CHECK(got[0] == "2:7: expected an expression, found ')'");
  CHECK(got.back() == "0:0: too many errors, stopping now");
}

}  // namespace
}  // namespace sinter
