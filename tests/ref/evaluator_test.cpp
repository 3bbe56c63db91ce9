// The evaluator as a whole: every op has a kernel or an explicit refusal, an end-to-end module parsed
// from IR text, input and global binding, deferred stores, and the errors a caller can cause.
#include <set>

#include "codegen/ref/kernels.h"
#include "ir/printer.h"
#include "tests/ref/ref_test_util.h"

using namespace sinter;
using namespace sinter::ref;
using namespace sinter::ref::testing;

TEST_CASE("every op in ops.def has a kernel or an explicit refusal, in exactly one family") {
  std::multiset<OpKind> listed;
  for (auto table : {structuralKernels(), elementwiseKernels(), reduceKernels(), shapeKernels(), linalgKernels(), nnKernels()})
    for (const KernelEntry& e : table) listed.insert(e.op);
#define OP(Enum, mnemonic, arity, cls)                                                  \
  {                                                                                     \
    const KernelEntry* e = kernelFor(OpKind::Enum);                                     \
    CHECK_MESSAGE(e, "no reference kernel entry for '" mnemonic "'");                   \
    if (e) CHECK_MESSAGE((e->run || e->unsupported), "empty entry for '" mnemonic "'"); \
    CHECK_MESSAGE(listed.count(OpKind::Enum) == 1, "'" mnemonic "' is listed ", listed.count(OpKind::Enum), " times"); \
  }
#include "ir/ops.def"
#undef OP
  CHECK(listed.size() == static_cast<size_t>(kNumOps));
}

TEST_CASE("the train/eval ops refuse evaluation") {
  Expected<Tensor> bn = runOp(OpKind::BatchNorm,
                              {randomTensor({2, 3}, 1), tensor({3}, {1, 1, 1}), tensor({3}, {0, 0, 0}),
                               tensor({3}, {0, 0, 0}), tensor({3}, {1, 1, 1})},
                              {{"momentum", 0.1}, {"eps", 1e-5}});
  REQUIRE(!bn);
  CHECK(bn.error().message() == "op 'batchnorm' must be specialized by the training-step pass before evaluation");
  Expected<Tensor> dropout = runOp(OpKind::Dropout, {randomTensor({2, 3}, 1)}, {{"p", 0.5}, {"salt", int64_t{0}}});
  REQUIRE(!dropout);
  CHECK(dropout.error().message() == "op 'dropout' must be specialized by the training-step pass before evaluation");
}

namespace {

// y = relu(x @ w + b); total = sum(y); count += 1 (a state update that the load of count must not see).
constexpr const char* kTiny = R"(module @tiny

param @w : f32[3,2] = uniform(low=-1.0, high=1.0)
param @b : f32[2] = zeros()
state @count : f32[] = zeros()

func @forward(%x : f32[B,3]) {
  %w = load() {global="w"} : f32[3,2]
  %b = load() {global="b"} : f32[2]
  %xw = matmul(%x, %w) {transpose_a=false, transpose_b=false} : f32[B,2]
  %z = add(%xw, %b) : f32[B,2]
  %y = relu(%z) : f32[B,2]
  %total = sum(%y) {axes=[0,1], keepdims=false} : f32[]
  %count = load() {global="count"} : f32[]
  %one = constant() {value=1.0, dtype="f32"} : f32[]
  %next = add(%count, %one) : f32[]
  store(%next) {global="count"}
  %seen = load() {global="count"} : f32[]
  %flat = reshape(%y) {shape=[B,2,1]} : f32[B,2,1]
  return y=%y, total=%total, seen=%seen, flat=%flat
}
)";

Module parseTiny() {
  Expected<Module> m = parseModule(kTiny);
  if (!m) FAIL(m.error().message());
  return m.take();
}

TensorMap tinyGlobals() {
  return {{"w", tensor({3, 2}, {1, -1, 2, 0, 0, 1})}, {"b", tensor({2}, {0.5, -2})}, {"count", tensor({}, {5})}};
}

}  // namespace

TEST_CASE("end to end: a module parsed from IR text") {
  const Module m = parseTiny();
  CHECK(printModule(m) == kTiny);
  TensorMap globals = tinyGlobals();
  // x @ w + b: row [1,2,3] -> [5-0.5... ] computed by hand below.
  //   [1,2,3]: [1+4+0, -1+0+3] + [0.5,-2] = [5.5, 0]   -> relu [5.5, 0]
  //   [-1,0,1]: [-1, 1+0+1] + [0.5,-2] = [-0.5, 0]     -> relu [0, 0]
  //   [0,1,4]: [2, 4] + [0.5,-2] = [2.5, 2]            -> relu [2.5, 2]
  TensorMap inputs = {{"x", tensor({3, 3}, {1, 2, 3, -1, 0, 1, 0, 1, 4})}};
  Expected<TensorMap> out = evaluate(m, "forward", inputs, globals, Precision::F64);
  REQUIRE_MESSAGE(out, (out ? "" : out.error().message()));
  checkTensor(out->at("y"), {3, 2}, {5.5, 0, 0, 0, 2.5, 2});
  checkTensor(out->at("total"), {}, {10});
  checkTensor(out->at("flat"), {3, 2, 1}, {5.5, 0, 0, 0, 2.5, 2});
  // Loads see the value at entry; the store lands when the function returns.
  checkTensor(out->at("seen"), {}, {5});
  checkTensor(globals.at("count"), {}, {6});
  checkTensor(globals.at("w"), {3, 2}, {1, -1, 2, 0, 0, 1});

  // Another batch size binds B afresh; the state keeps counting.
  inputs = {{"x", tensor({1, 3}, {0, 0, 1})}};
  out = evaluate(m, "forward", inputs, globals, Precision::F32);
  REQUIRE(out);
  checkTensor(out->at("y"), {1, 2}, {0.5, 0});
  checkTensor(globals.at("count"), {}, {7});
}

TEST_CASE("binding errors name what is wrong") {
  const Module m = parseTiny();
  TensorMap globals = tinyGlobals();
  auto error = [&](const TensorMap& inputs, TensorMap g) {
    Expected<TensorMap> out = evaluate(m, "forward", inputs, g, Precision::F64);
    REQUIRE(!out);
    return out.error().message();
  };
  const TensorMap x = {{"x", tensor({2, 3}, {1, 2, 3, 4, 5, 6})}};
  CHECK(error({}, globals) == "missing input 'x' of @forward");
  CHECK(error({{"x", tensor({2, 4}, std::vector<double>(8))}}, globals) == "input 'x' is f32[2,4], expected f32[B,3]");
  CHECK(error({{"x", tensor({2, 3}, std::vector<double>(6), DType::I32)}}, globals) == "input 'x' is i32[2,3], expected f32[B,3]");
  CHECK(error({{"x", tensor({0, 3}, {})}}, globals) == "input 'x' binds B to 0; it must be at least 1");
  CHECK(error({{"x", tensor({2, 3}, {1, 2})}}, globals) == "input 'x' has 2 elements, its shape [2,3] needs 6");
  TensorMap noB = globals;
  noB.erase("b");
  CHECK(error(x, noB) == "'load': global 'b' is missing");
  TensorMap wrongW = globals;
  wrongW["w"] = tensor({2, 3}, std::vector<double>(6));
  CHECK(error(x, wrongW) == "'load': global 'w' is f32[2,3] with 6 elements, expected f32[3,2]");
  Expected<TensorMap> none = evaluate(m, "backward", x, globals, Precision::F64);
  REQUIRE(!none);
  CHECK(none.error().message() == "module @tiny has no function @backward");
  // A failed run leaves the globals alone.
  checkTensor(globals.at("count"), {}, {5});
}

TEST_CASE("B must be bound consistently by every input") {
  Expected<Module> m = parseModule(R"(module @two

func @f(%a : f32[B,2], %b : f32[B,2]) {
  %s = add(%a, %b) : f32[B,2]
  return s=%s
}
)");
  REQUIRE(m);
  TensorMap globals;
  Expected<TensorMap> out = evaluate(*m, "f", {{"a", tensor({1, 2}, {1, 2})}, {"b", tensor({2, 2}, {1, 2, 3, 4})}}, globals,
                                     Precision::F64);
  REQUIRE(!out);
  CHECK(out.error().message() == "input 'b' binds B to 2, but an earlier input bound it to 1");
}

TEST_CASE("initGlobals: seeded, reproducible, following each Init") {
  Expected<Module> parsed = parseModule(R"(module @init

param @u : f32[100,100] = uniform(low=-0.5, high=0.25)
param @n : f32[200,100] = normal(mean=1.0, std=2.0)
param @ones : f32[3] = ones()
state @zero : f32[2,2] = zeros()
state @c : f32[2] = constant(value=0.1)
state @step : i32[] = zeros()
param @odd : f32[2] = orthogonal()
)");
  REQUIRE_MESSAGE(parsed, (parsed ? "" : parsed.error().message()));
  const Module& m = *parsed;
  const TensorMap g = initGlobals(m, 1234);
  CHECK(g.size() == m.globals.size());
  checkTensor(g.at("ones"), {3}, {1, 1, 1});
  checkTensor(g.at("zero"), {2, 2}, {0, 0, 0, 0});
  checkTensor(g.at("c"), {2}, {0.1f, 0.1f});  // rounded to float
  CHECK(g.at("step").dtype == DType::I32);
  for (double v : g.at("odd").data) CHECK(std::isnan(v));

  double sum = 0, lo = 1, hi = -1;
  for (double v : g.at("u").data) {
    CHECK(v == static_cast<double>(static_cast<float>(v)));
    sum += v, lo = std::min(lo, v), hi = std::max(hi, v);
  }
  CHECK(lo >= -0.5);
  CHECK(hi < 0.25);
  CHECK(sum / 1e4 == doctest::Approx(-0.125).epsilon(0.01));
  double s1 = 0, s2 = 0;
  for (double v : g.at("n").data) s1 += v, s2 += v * v;
  const double mean = s1 / 2e4, var = s2 / 2e4 - mean * mean;
  CHECK(std::fabs(mean - 1.0) < 0.05);
  CHECK(std::fabs(std::sqrt(var) - 2.0) < 0.05);

  CHECK(initGlobals(m, 1234).at("n").data == g.at("n").data);
  CHECK(initGlobals(m, 1235).at("n").data != g.at("n").data);
  CHECK(initGlobals(m, 1234ull << 32).at("u").data != initGlobals(m, 0).at("u").data);  // the seed's high half counts
  // Globals of the same shape and Init still differ: the global's index is part of the counter.
  Module twin = m;
  twin.globals[1] = twin.globals[0];
  twin.globals[1].name = "u2";
  const TensorMap t = initGlobals(twin, 1234);
  CHECK(t.at("u").data != t.at("u2").data);
}
