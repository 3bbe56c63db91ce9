// Blocks (DESIGN.md §1): parsing, expansion at each call, parameter names under the calling binding,
// nesting, references to the parameters made inside, locations inside the block, and the equality of
// an expanded model with the same model written out by hand.
#include "frontend/ast_dump.h"
#include "frontend/compile.h"
#include "support/render.h"
#include "ir/op.h"

#include <algorithm>
#include "tests/frontend/test_util.h"

namespace sinter {
namespace {

Module compiled(const std::string& text) {
  FrontendResult r = compileSource(sourceFromString("t.nn", text));
  if (r.error) FAIL(renderDiagnostics(*r.error, *r.source));
  return std::move(*r.module);
}

std::vector<std::string> globalNames(const Module& m) {
  std::vector<std::string> out;
  for (const Global& g : m.globals) out.push_back(fmt::format("{} {}", g.name, formatDims(g.type.dims)));
  return out;
}

// The forward graph as op names and types: equal for equal computations whatever the names.
std::vector<std::string> shapeOfGraph(const Module& m) {
  std::vector<std::string> out;
  for (const Node& n : m.functions[0].nodes) out.push_back(fmt::format("{} {}", mnemonic(n.op), formatType(n.type)));
  return out;
}

const char* kBasic = R"(
block basic(x, filters, stride = 1) {
  c1 = conv2d(x, filters = filters, kernel = 3, stride = stride, padding = 1, bias = false)
  n1 = relu(batchnorm(c1))
  c2 = conv2d(n1, filters = filters, kernel = 3, padding = 1, bias = false)
  n2 = batchnorm(c2)
  return relu(n2 + x)
}
)";

TEST_CASE("blocks: DESIGN's basic block, parameters named under the calling binding") {
  Module m = compiled(std::string(kBasic) + R"(
model m {
  input image: f32[B, 4, 8, 8]
  input label: i32[B]
  s1 = basic(image, 4)
  s2 = basic(s1, filters = 4, stride = 1)
  fc = dense(flatten(s2), 3)
  loss cross_entropy(fc, label) + 1e-4 * l2(s1.c1.weight) + 0 * sum(s2.n2.running_mean)
}
)");
  CHECK(globalNames(m) == std::vector<std::string>{
                              "s1.c1.weight [4,4,3,3]", "s1.n1.weight [4]", "s1.n1.bias [4]", "s1.n1.running_mean [4]",
                              "s1.n1.running_var [4]", "s1.c2.weight [4,4,3,3]", "s1.n2.weight [4]", "s1.n2.bias [4]",
                              "s1.n2.running_mean [4]", "s1.n2.running_var [4]", "s2.c1.weight [4,4,3,3]", "s2.n1.weight [4]",
                              "s2.n1.bias [4]", "s2.n1.running_mean [4]", "s2.n1.running_var [4]", "s2.c2.weight [4,4,3,3]",
                              "s2.n2.weight [4]", "s2.n2.bias [4]", "s2.n2.running_mean [4]", "s2.n2.running_var [4]",
                              "fc.weight [3,256]", "fc.bias [3]"});
  // Ops from the block carry the block's lines (3 to 7), the rest the model's.
  int inBlock = 0;
  for (const Node& n : m.functions[0].nodes) {
    if (n.op == OpKind::Conv2d) CHECK((n.loc.line == 3 || n.loc.line == 5));
    if (n.loc.line >= 3 && n.loc.line <= 7) ++inBlock;
  }
  CHECK(inBlock > 20);
  // Intermediate values are named under the binding too, for the dumps.
  bool named = false;
  for (const Node& n : m.functions[0].nodes) named |= n.name == "s2.n1";
  CHECK(named);
}

TEST_CASE("blocks: nesting names parameters t.a.h.weight; explicit params and numeric arguments") {
  Module m = compiled(R"(
block lin(x, units, scale = 1.0) {
  h = dense(x, units)
  param g: f32[1] = ones
  return h * g * scale
}
block two(x, units) {
  a = lin(x, units)
  b = lin(a, units = 2, scale = 0.5)
  return b
}
model m {
  input x: f32[B, 5]
  t = two(x, 3)
  output y = t + 0 * sum(t.a.h.weight) + 0 * sum(t.b.g)
}
)");
  CHECK(globalNames(m) == std::vector<std::string>{"t.a.h.weight [3,5]", "t.a.h.bias [3]", "t.a.g [1]", "t.b.h.weight [2,3]",
                                                   "t.b.h.bias [2]", "t.b.g [1]"});
  // scale = 0.5 reached the second call as a constant; the first used the default 1.0.
  std::vector<double> constants;
  for (const Node& n : m.functions[0].nodes)
    if (n.op == OpKind::Constant) constants.push_back(n.attrs.f("value"));
  CHECK(std::count(constants.begin(), constants.end(), 0.5) == 1);
  CHECK(std::count(constants.begin(), constants.end(), 1.0) == 1);
}

TEST_CASE("blocks: an expanded model is the model written out") {
  Module blocks = compiled(std::string(kBasic) + R"(
model m {
  input image: f32[B, 4, 8, 8]
  s1 = basic(image, 4)
  s2 = basic(s1, 4)
  output s2
}
)");
  Module flat = compiled(R"(
model m {
  input image: f32[B, 4, 8, 8]
  a1 = conv2d(image, filters = 4, kernel = 3, stride = 1, padding = 1, bias = false)
  a2 = relu(batchnorm(a1))
  a3 = conv2d(a2, filters = 4, kernel = 3, padding = 1, bias = false)
  a4 = batchnorm(a3)
  s1 = relu(a4 + image)
  b1 = conv2d(s1, filters = 4, kernel = 3, stride = 1, padding = 1, bias = false)
  b2 = relu(batchnorm(b1))
  b3 = conv2d(b2, filters = 4, kernel = 3, padding = 1, bias = false)
  b4 = batchnorm(b3)
  s2 = relu(b4 + s1)
  output s2
}
)");
  CHECK(shapeOfGraph(blocks) == shapeOfGraph(flat));
  REQUIRE(blocks.globals.size() == flat.globals.size());
  for (size_t i = 0; i < flat.globals.size(); ++i) {
    CHECK(blocks.globals[i].type == flat.globals[i].type);
    CHECK(blocks.globals[i].init.kind == flat.globals[i].init.kind);
  }
}

TEST_CASE("blocks: dropout inside a block gets a mask of its own at each call") {
  Module m = compiled(R"(
block drop(x) {
  return dropout(x, p = 0.5)
}
model m {
  input x: f32[B, 5]
  a = drop(x)
  b = drop(a)
  output b
}
)");
  std::vector<int64_t> salts;
  for (const Node& n : m.functions[0].nodes)
    if (n.op == OpKind::Dropout) salts.push_back(n.attrs.i("salt"));
  CHECK(salts == std::vector<int64_t>{0, 1});
}

TEST_CASE("blocks: the AST dump shows each block with its parameters, body and return") {
  SourceFile src = sourceFromString("t.nn", "block half(x, k = 2) {\n  y = x / k\n  return y\n}\nmodel m {\n  input x: f32[B]\n  h = half(x)\n  output h\n}\n");
  FrontendResult r = compileSource(src, /*parseOnly=*/true);
  REQUIRE_FALSE(r.error);
  std::string dump = dumpAst(*r.program);
  CHECK(dump.find("block half @1:7\n  parameter x @1:12\n  parameter k @1:15\n    int 2 @1:19\n  binding y @2:3\n") != std::string::npos);
  CHECK(dump.find("  return @3:3\n") != std::string::npos);
}

}  // namespace
}  // namespace sinter
