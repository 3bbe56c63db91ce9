// The simplification passes on small IR texts, text in and text out: each pass has cases where it
// must fire and cases where it must not. And the IR round trip, print(parse(print(m))) == print(m),
// for every example and test model, before and after the grad pipeline.
#include <doctest/doctest.h>

#include <filesystem>

#include "frontend/compile.h"
#include "ir/printer.h"
#include "passes/pass.h"

using namespace sinter;

namespace {

struct Run {
  std::string text;
  bool changed;
};

// Parses `ir`, runs the pass named `pass` once and prints the module.
Run runPass(const char* pass, const std::string& ir) {
  Expected<Module> m = parseModule(ir);
  if (!m) FAIL(m.error().message());
  const PassInfo* p = findPass(pass);
  REQUIRE(p);
  Expected<bool> changed = p->run(*m);
  if (!changed) FAIL(changed.error().message());
  return {printModule(*m), *changed};
}

// A pass that must leave `ir` exactly as it is (and say so).
void checkUnchanged(const char* pass, const std::string& ir) {
  Run r = runPass(pass, ir);
  CHECK(r.text == ir);
  CHECK_FALSE(r.changed);
}

void checkRewrites(const char* pass, const std::string& ir, const std::string& want) {
  Run r = runPass(pass, ir);
  CHECK(r.text == want);
  CHECK(r.changed);
}

}  // namespace

// ---- fold-constants

TEST_CASE("fold-constants evaluates scalar arithmetic on constants") {
  checkRewrites("fold-constants", R"(module @t

func @f(%x : f32[B,4]) {
  %0 = constant() {value=2, dtype="f32"} : f32[]
  %1 = constant() {value=3, dtype="f32"} : f32[]
  %2 = mul(%0, %1) : f32[]
  %3 = sqrt(%2) : f32[]
  %4 = mul(%x, %3) : f32[B,4]
  return y=%4
}
)",
                R"(module @t

func @f(%x : f32[B,4]) {
  %0 = constant() {value=2, dtype="f32"} : f32[]
  %1 = constant() {value=3, dtype="f32"} : f32[]
  %2 = constant() {value=6.0, dtype="f32"} : f32[]
  %3 = constant() {value=2.449489742783178, dtype="f32"} : f32[]
  %4 = mul(%x, %3) : f32[B,4]
  return y=%4
}
)");
}

TEST_CASE("fold-constants counts elements over axes without B") {
  checkRewrites("fold-constants", R"(module @t

func @f(%x : f32[B,2,3]) {
  %0 = numel(%x) {axes=[1,2]} : f32[]
  %1 = div(%x, %0) : f32[B,2,3]
  return y=%1
}
)",
                R"(module @t

func @f(%x : f32[B,2,3]) {
  %0 = constant() {value=6.0, dtype="f32"} : f32[]
  %1 = div(%x, %0) : f32[B,2,3]
  return y=%1
}
)");
}

TEST_CASE("fold-constants leaves counts over B, non-finite results and tensors alone") {
  checkUnchanged("fold-constants", R"(module @t

func @f(%x : f32[B,2]) {
  %0 = numel(%x) {axes=[0,1]} : f32[]
  %1 = constant() {value=-1, dtype="f32"} : f32[]
  %2 = log(%1) : f32[]
  %3 = constant() {value=0, dtype="f32"} : f32[]
  %4 = div(%0, %3) : f32[]
  %5 = broadcast(%1) {shape=[2]} : f32[2]
  %6 = neg(%5) : f32[2]
  %7 = add(%x, %6) : f32[B,2]
  %8 = add(%7, %2) : f32[B,2]
  %9 = add(%8, %4) : f32[B,2]
  return y=%9
}
)");
}

// ---- simplify-algebra

TEST_CASE("simplify-algebra removes identities that keep the type") {
  // One walk: transpose(transpose) becomes one transpose with the composed (here identity) perm,
  // which the next round removes; x * 1 and 0 + x become x, -(-x) becomes x, reshape(reshape) one
  // reshape. The constants and the first ops stay for dce.
  checkRewrites("simplify-algebra", R"(module @t

func @f(%x : f32[B,4], %w : f32[4,3]) {
  %0 = constant() {value=1, dtype="f32"} : f32[]
  %1 = constant() {value=0, dtype="f32"} : f32[]
  %2 = mul(%x, %0) : f32[B,4]
  %3 = add(%1, %2) : f32[B,4]
  %4 = neg(%3) : f32[B,4]
  %5 = neg(%4) : f32[B,4]
  %6 = transpose(%w) {perm=[1,0]} : f32[3,4]
  %7 = transpose(%6) {perm=[1,0]} : f32[4,3]
  %8 = reshape(%7) {shape=[12]} : f32[12]
  %9 = reshape(%8) {shape=[2,6]} : f32[2,6]
  return y=%5, z=%9
}
)",
                R"(module @t

func @f(%x : f32[B,4], %w : f32[4,3]) {
  %0 = constant() {value=1, dtype="f32"} : f32[]
  %1 = constant() {value=0, dtype="f32"} : f32[]
  %2 = neg(%x) : f32[B,4]
  %3 = transpose(%w) {perm=[1,0]} : f32[3,4]
  %4 = transpose(%w) {perm=[0,1]} : f32[4,3]
  %5 = reshape(%4) {shape=[12]} : f32[12]
  %6 = reshape(%4) {shape=[2,6]} : f32[2,6]
  return y=%x, z=%6
}
)");
}

TEST_CASE("simplify-algebra: the negations around a sum or mean cancel, and only those") {
  // -mean(-x) is mean(x) and -sum(-x) is sum(x); -mean(x), -max(-x) and mean(-x) stay.
  checkRewrites("simplify-algebra", R"(module @t

func @f(%x : f32[B,4]) {
  %0 = neg(%x) : f32[B,4]
  %1 = mean(%0) {axes=[0,1], keepdims=false} : f32[]
  %2 = neg(%1) : f32[]
  %3 = sum(%0) {axes=[1], keepdims=true} : f32[B,1]
  %4 = neg(%3) : f32[B,1]
  %5 = mean(%x) {axes=[0,1], keepdims=false} : f32[]
  %6 = neg(%5) : f32[]
  %7 = max(%0) {axes=[1], keepdims=false} : f32[B]
  %8 = neg(%7) : f32[B]
  return a=%2, b=%4, c=%6, d=%8, e=%1
}
)",
                R"(module @t

func @f(%x : f32[B,4]) {
  %0 = neg(%x) : f32[B,4]
  %1 = mean(%0) {axes=[0,1], keepdims=false} : f32[]
  %2 = mean(%x) {axes=[0,1], keepdims=false} : f32[]
  %3 = sum(%0) {axes=[1], keepdims=true} : f32[B,1]
  %4 = sum(%x) {axes=[1], keepdims=true} : f32[B,1]
  %5 = mean(%x) {axes=[0,1], keepdims=false} : f32[]
  %6 = neg(%5) : f32[]
  %7 = max(%0) {axes=[1], keepdims=false} : f32[B]
  %8 = neg(%7) : f32[B]
  return a=%2, b=%4, c=%6, d=%8, e=%1
}
)");
}

TEST_CASE("simplify-algebra: a slice that is exactly one operand of a concat is that operand") {
  // The packed batch-norm statistics after decompose-batchnorm. Must not fire: a slice across two
  // operands, part of one, along another axis, or of something else.
  checkRewrites("simplify-algebra", R"(module @t

func @f(%a : f32[1,4], %b : f32[2,4], %c : f32[3,4]) {
  %0 = concat(%a, %b) {axis=0} : f32[3,4]
  %1 = slice(%0) {axis=0, start=0, end=1} : f32[1,4]
  %2 = slice(%0) {axis=0, start=1, end=3} : f32[2,4]
  %3 = slice(%0) {axis=0, start=0, end=2} : f32[2,4]
  %4 = slice(%0) {axis=0, start=1, end=2} : f32[1,4]
  %5 = slice(%0) {axis=1, start=0, end=1} : f32[3,1]
  %6 = slice(%c) {axis=0, start=1, end=3} : f32[2,4]
  return p=%1, q=%2, r=%3, s=%4, t=%5, u=%6
}
)",
                R"(module @t

func @f(%a : f32[1,4], %b : f32[2,4], %c : f32[3,4]) {
  %0 = concat(%a, %b) {axis=0} : f32[3,4]
  %1 = slice(%0) {axis=0, start=0, end=2} : f32[2,4]
  %2 = slice(%0) {axis=0, start=1, end=2} : f32[1,4]
  %3 = slice(%0) {axis=1, start=0, end=1} : f32[3,1]
  %4 = slice(%c) {axis=0, start=1, end=3} : f32[2,4]
  return p=%a, q=%b, r=%1, s=%2, t=%3, u=%4
}
)");
}

TEST_CASE("simplify-algebra keeps identities that would change the shape") {
  // A [4] plus zeros broadcast to [B,4] is a [B,4], not the [4]; 0 - x is not x; 1 / x is not x;
  // a transpose that is not the identity moves elements.
  checkUnchanged("simplify-algebra", R"(module @t

func @f(%x : f32[4]) {
  %0 = constant() {value=0, dtype="f32"} : f32[]
  %1 = broadcast(%0) {shape=[B,4]} : f32[B,4]
  %2 = add(%x, %1) : f32[B,4]
  %3 = sub(%0, %x) : f32[4]
  %4 = constant() {value=1, dtype="f32"} : f32[]
  %5 = div(%4, %x) : f32[4]
  %6 = constant() {value=2, dtype="f32"} : f32[]
  %7 = mul(%x, %6) : f32[4]
  %8 = transpose(%2) {perm=[1,0]} : f32[4,B]
  return y=%8, z=%3, w=%5, v=%7
}
)");
}

// ---- cse

TEST_CASE("cse merges identical pure ops, loads included") {
  checkRewrites("cse", R"(module @t

param @w : f32[4] = zeros()

func @f(%x : f32[B,4]) {
  %0 = load() {global="w"} : f32[4]
  %1 = load() {global="w"} : f32[4]
  %2 = mul(%x, %0) : f32[B,4]
  %3 = mul(%x, %1) : f32[B,4]
  %4 = add(%2, %3) : f32[B,4]
  return y=%4
}
)",
                R"(module @t

param @w : f32[4] = zeros()

func @f(%x : f32[B,4]) {
  %0 = load() {global="w"} : f32[4]
  %1 = mul(%x, %0) : f32[B,4]
  %2 = add(%1, %1) : f32[B,4]
  return y=%2
}
)");
}

TEST_CASE("cse keeps ops that differ and never merges stores") {
  checkUnchanged("cse", R"(module @t

state @a : f32[4] = zeros()
state @b : f32[4] = zeros()

func @f(%x : f32[4], %y : f32[4]) {
  %0 = mul(%x, %y) : f32[4]
  %1 = mul(%y, %x) : f32[4]
  %2 = sum(%0) {axes=[0], keepdims=false} : f32[]
  %3 = sum(%0) {axes=[0], keepdims=true} : f32[1]
  store(%1) {global="a"}
  store(%1) {global="a"}
  store(%1) {global="b"}
  return s=%2, t=%3
}
)");
}

// ---- dce

TEST_CASE("dce drops values that reach no result and no store") {
  checkRewrites("dce", R"(module @t

state @a : f32[4] = zeros()

func @f(%x : f32[4], %unused : f32[4]) {
  %0 = exp(%x) : f32[4]
  %1 = tanh(%0) : f32[4]
  %2 = neg(%x) : f32[4]
  store(%2) {global="a"}
  %3 = log(%unused) : f32[4]
  return y=%0
}
)",
                R"(module @t

state @a : f32[4] = zeros()

func @f(%x : f32[4], %unused : f32[4]) {
  %0 = exp(%x) : f32[4]
  %1 = neg(%x) : f32[4]
  store(%1) {global="a"}
  return y=%0
}
)");
}

TEST_CASE("dce keeps every input, store and result") {
  checkUnchanged("dce", R"(module @t

state @a : f32[] = zeros()

func @f(%x : f32[4], %ignored : i32[B]) {
  %0 = sum(%x) {axes=[0], keepdims=false} : f32[]
  store(%0) {global="a"}
  %2 = exp(%x) : f32[4]
  return y=%2, z=%2
}
)");
}

// ---- round trip

TEST_CASE("every model's IR round-trips, before and after the grad pipeline") {
  int models = 0;
  for (const char* dir : {"examples", "tests/reference/models"}) {
    for (const auto& entry : std::filesystem::directory_iterator(std::string(SINTER_SOURCE_DIR) + "/" + dir)) {
      if (entry.path().extension() != ".nn") continue;
      ++models;
      const std::string path = entry.path().string();
      INFO(path);
      FrontendResult r = compileFile(path);
      if (r.error) FAIL(r.error->message());
      Module m = *r.module;
      for (const char* stage : {"forward", "grad"}) {
        INFO(stage);
        if (std::string(stage) == "grad") REQUIRE(runGradPipeline(m, {}));
        const std::string text = printModule(m);
        Expected<Module> parsed = parseModule(text, path);
        if (!parsed) FAIL(parsed.error().message());
        CHECK(printModule(*parsed) == text);
      }
    }
  }
  CHECK(models == 23);
}
