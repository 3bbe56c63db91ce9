// What build-train-step (and the pipeline after it) makes of a model: the functions, their results
// and stores, the optimizer's state, and real values from the reference evaluator.
#include <fmt/ranges.h>

#include <map>
#include <set>

#include "tests/passes/reference_util.h"

using namespace sinter;
using namespace sinter::testing;

namespace {

Module compileText(const std::string& text) {
  FrontendResult r = compileSource(sourceFromString("test.nn", text));
  if (r.error) FAIL(r.error->message());
  REQUIRE(r.module);
  Module m = *r.module;
  Status s = runGradPipeline(m, {});
  if (!s) FAIL(s.error().message());
  return m;
}

// The globals `fn` stores, with how often each is stored.
std::map<std::string, int> stores(const Function& fn) {
  std::map<std::string, int> out;
  for (const Node& n : fn.nodes)
    if (n.op == OpKind::Store) ++out[n.attrs.s("global")];
  return out;
}

std::vector<std::string> functionNames(const Module& m) {
  std::vector<std::string> out;
  for (const Function& f : m.functions) out.push_back(f.name);
  return out;
}

std::vector<std::string> params(const Module& m) {
  std::vector<std::string> out;
  for (const Global& g : m.globals)
    if (g.kind == GlobalKind::Param) out.push_back(g.name);
  return out;
}

// Deterministic inputs for every input of `fn` at batch `batch`: values in [-1, 1), labels in [0, classes).
ref::TensorMap randomInputs(const Function& fn, int64_t batch, int64_t classes) {
  ref::TensorMap out;
  uint32_t s = 12345;
  for (ValueId v : fn.inputs()) {
    const Node& n = fn.nodes[v];
    ref::Tensor t{n.type.dtype, n.type.dims, {}};
    for (int64_t& d : t.dims) d = d == kBatch ? batch : d;
    for (int64_t i = 0; i < n.type.numel(batch); ++i) {
      s = s * 1664525u + 1013904223u;
      double u = static_cast<double>(s >> 8) / 16777216.0;
      t.data.push_back(n.type.dtype == DType::I32 ? std::floor(u * classes) : 2 * u - 1);
    }
    out[n.attrs.s("name")] = t;
  }
  return out;
}

const char* kTinyModel = R"(model tiny {
  input  x: f32[B, 5]
  input  label: i32[B]
  h = tanh(dense(x, 6))
  y = dense(h, 3)
  output probs = softmax(y)
  loss   cross_entropy(y, label)
}
train {
  optimizer  sgd(lr = 0.2, momentum = 0.9)
  batch      8
  epochs     1
}
)";

}  // namespace

TEST_CASE("@grad of lenet returns the outputs, the loss and one gradient per parameter") {
  Module m = compileForTraining(sourcePath("examples/lenet.nn"));
  CHECK(functionNames(m) == std::vector<std::string>{"eval", "grad", "train_step"});
  const Function& grad = *m.function("grad");
  std::vector<std::string> want = {"probs", "loss"};
  for (const std::string& p : params(m)) want.push_back(p + ".grad");
  std::vector<std::string> got;
  for (const auto& [name, v] : grad.results) got.push_back(name);
  CHECK(got == want);
  CHECK(params(m).size() == 10);  // five layers, weight and bias each
  for (const std::string& p : params(m)) {
    INFO(p);
    ValueId v = grad.result(p + ".grad");
    REQUIRE(v != kNoValue);
    CHECK(grad.nodes[v].type == m.global(p)->type);
  }
  CHECK(grad.nodes[grad.result("loss")].type == TensorType{DType::F32, {}});
  CHECK(stores(grad).empty());
}

TEST_CASE("@train_step with sgd momentum stores every parameter, its momentum buffer and the step") {
  Module m = compileForTraining(sourcePath("examples/lenet.nn"));
  const Function& step = *m.function("train_step");
  std::map<std::string, int> want = {{"train.step", 1}};
  for (const std::string& p : params(m)) {
    want[p] = 1;
    want[p + ".momentum_buffer"] = 1;
    const Global* buf = m.global(p + ".momentum_buffer");
    REQUIRE_MESSAGE(buf, p);
    CHECK(buf->kind == GlobalKind::State);
    CHECK(buf->type == m.global(p)->type);
  }
  CHECK(stores(step) == want);
  // No gradient results: the update consumes them.
  for (const auto& result : step.results) CHECK_MESSAGE(result.first.find(".grad") == std::string::npos, result.first);
  CHECK(step.result("loss") != kNoValue);
  CHECK(m.global("train.lr") != nullptr);
  CHECK(m.global("train.step") != nullptr);
}

TEST_CASE("adam creates both moment slots and no momentum buffer") {
  Module m = compileForTraining(sourcePath("examples/mlp.nn"));
  for (const std::string& p : params(m)) {
    CHECK(m.global(p + ".exp_avg") != nullptr);
    CHECK(m.global(p + ".exp_avg_sq") != nullptr);
    CHECK(m.global(p + ".momentum_buffer") == nullptr);
  }
}

// The state slots of rmsprop, adagrad and adadelta are PyTorch's state names, stored once per step,
// and only the ones the chosen arguments use (a momentum buffer only with momentum, grad_avg only
// when centered); adagrad's sum starts at initial_accumulator_value.
TEST_CASE("rmsprop, adagrad and adadelta keep PyTorch's state slots") {
  auto model = [](const std::string& optimizer) {
    std::string text = kTinyModel;
    const std::string sgd = "sgd(lr = 0.2, momentum = 0.9)";
    return compileText(text.replace(text.find(sgd), sgd.size(), optimizer));
  };
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"rmsprop()", {"square_avg"}},
      {"rmsprop(momentum = 0.9, centered = true)", {"square_avg", "grad_avg", "momentum_buffer"}},
      {"adagrad(initial_accumulator_value = 0.25)", {"sum"}},
      {"adadelta()", {"square_avg", "acc_delta"}},
  };
  for (const auto& [optimizer, slots] : cases) {
    INFO(optimizer);
    Module m = model(optimizer);
    std::map<std::string, int> want = {{"train.step", 1}};
    size_t states = 0;
    for (const Global& g : m.globals) states += g.kind == GlobalKind::State;
    for (const std::string& p : params(m)) {
      want[p] = 1;
      for (const std::string& slot : slots) {
        want[p + "." + slot] = 1;
        const Global* g = m.global(p + "." + slot);
        REQUIRE_MESSAGE(g, p, ".", slot);
        CHECK(g->kind == GlobalKind::State);
        CHECK(g->type == m.global(p)->type);
      }
    }
    CHECK(stores(*m.function("train_step")) == want);
    CHECK(states == params(m).size() * slots.size() + 2);  // and train.lr, train.step
  }
  const ref::TensorMap globals = ref::initGlobals(model("adagrad(initial_accumulator_value = 0.25)"), 0);
  CHECK(globals.at("h.weight.sum").data == std::vector<double>(30, 0.25));
}

TEST_CASE("a model without a loss gets @eval only") {
  Module m = compileText(R"(model plain {
  input x: f32[B, 4]
  output y = relu(dense(x, 3))
}
)");
  CHECK(functionNames(m) == std::vector<std::string>{"eval"});
  CHECK(m.function("eval")->result("y") != kNoValue);
  CHECK(stores(*m.function("eval")).empty());
}

TEST_CASE("batchnorm running statistics are stored by @train_step, not by @grad or @eval") {
  Module m = compileForTraining(sourcePath("tests/reference/models/batchnorm_train.nn"));
  for (const char* fn : {"eval", "grad"}) {
    INFO(fn);
    CHECK(stores(*m.function(fn)).empty());
  }
  std::map<std::string, int> st = stores(*m.function("train_step"));
  for (const char* bn : {"bn1", "bn2"}) {
    INFO(bn);
    CHECK(st[std::string(bn) + ".running_mean"] == 1);
    CHECK(st[std::string(bn) + ".running_var"] == 1);
    CHECK(m.global(std::string(bn) + ".running_mean")->kind == GlobalKind::State);
  }
  // And in values: @grad leaves the statistics alone, @train_step moves them.
  ref::TensorMap globals = ref::initGlobals(m, 1);
  const ref::TensorMap initial = globals;
  ref::TensorMap inputs = randomInputs(*m.function("grad"), 4, 3);
  mustEvaluate(m, "grad", inputs, globals, ref::Precision::F64);
  CHECK(globals.at("bn1.running_mean").data == initial.at("bn1.running_mean").data);
  mustEvaluate(m, "train_step", inputs, globals, ref::Precision::F64);
  CHECK(globals.at("bn1.running_mean").data != initial.at("bn1.running_mean").data);
  CHECK(globals.at("bn2.running_var").data != initial.at("bn2.running_var").data);
}

// weight_decay_exclude as PyTorch's parameter groups: one step with the exclusion moves the biases
// and batch norm's parameters exactly as without weight decay, and every other weight exactly as
// with it.
TEST_CASE("weight_decay_exclude: biases and batch norm's parameters update without weight decay") {
  auto model = [](const std::string& optimizer) {
    return compileText(fmt::format(R"(model wd {{
  input  x: f32[B, 5]
  input  label: i32[B]
  fc1 = dense(x, 6, bias = false)
  bn1 = tanh(batchnorm(fc1))
  y = dense(bn1, 3)
  loss   cross_entropy(y, label)
}}
train {{
  optimizer  {}
}}
)", optimizer));
  };
  auto step = [](const Module& m) {
    ref::TensorMap globals = ref::initGlobals(m, 5);
    // Biases start at 0 and batch norm's weight at 1: move them off, or decaying a zero bias would
    // change nothing.
    for (const char* p : {"y.bias", "bn1.weight", "bn1.bias"})
      for (double& v : globals.at(p).data) v += 0.25;
    mustEvaluate(m, "train_step", randomInputs(*m.function("train_step"), 8, 3), globals, ref::Precision::F64);
    return globals;
  };
  // (rmsprop's first step is g / sqrt((1 - alpha) g^2) + eps, nearly blind to the scale of g, and
  // adagrad's too when its sum starts at 0: a large eps and a starting sum keep decay visible.)
  for (const std::string kind : {"sgd(lr = 0.1, momentum = 0.9", "adam(lr = 0.01", "adamw(lr = 0.01",
                                 "rmsprop(lr = 0.01, eps = 0.1, momentum = 0.5, centered = true",
                                 "adagrad(lr = 0.1, lr_decay = 0.1, initial_accumulator_value = 0.1", "adadelta(rho = 0.8"}) {
    INFO(kind);
    const ref::TensorMap excluded = step(model(fmt::format("{}, weight_decay = 0.1, weight_decay_exclude = [bias, batchnorm])", kind)));
    const ref::TensorMap decayed = step(model(fmt::format("{}, weight_decay = 0.1)", kind)));
    const ref::TensorMap plain = step(model(fmt::format("{}, weight_decay = 0)", kind)));  // adamw defaults to 0.01
    for (const std::string p : {"y.bias", "bn1.weight", "bn1.bias"}) {
      CHECK_MESSAGE(excluded.at(p).data == plain.at(p).data, p);
      CHECK_MESSAGE(excluded.at(p).data != decayed.at(p).data, p);
    }
    for (const std::string p : {"fc1.weight", "y.weight"}) {
      CHECK_MESSAGE(excluded.at(p).data == decayed.at(p).data, p);
      CHECK_MESSAGE(excluded.at(p).data != plain.at(p).data, p);
    }
  }
}

TEST_CASE("@train_step descends: the loss on a fixed batch falls step by step") {
  Module m = compileText(kTinyModel);
  ref::TensorMap globals = ref::initGlobals(m, 3);
  ref::TensorMap inputs = randomInputs(*m.function("train_step"), 8, 3);
  ref::TensorMap scratch = globals;
  const double before = mustEvaluate(m, "grad", inputs, scratch, ref::Precision::F64).at("loss").data[0];
  std::vector<double> losses;
  for (int k = 0; k < 6; ++k)
    losses.push_back(mustEvaluate(m, "train_step", inputs, globals, ref::Precision::F64).at("loss").data[0]);
  INFO("losses ", fmt::format("{}", fmt::join(losses, " ")));
  // The first step's forward pass is @grad's: the same loss.
  CHECK(losses[0] == doctest::Approx(before).epsilon(1e-12));
  for (size_t k = 1; k < losses.size(); ++k) CHECK(losses[k] < losses[k - 1]);
  CHECK(globals.at("train.step").data == std::vector<double>{6.0});
  CHECK(globals.at("train.lr").data == std::vector<double>{0.2f});
}

TEST_CASE("two @train_step evaluations of lenet lower its loss") {
  Module m = compileForTraining(sourcePath("examples/lenet.nn"));
  ref::TensorMap globals = globalsFrom(m, readTensors(sourcePath("tests/reference/data/lenet.weights.safetensors")));
  ref::TensorMap inputs = readTensors(sourcePath("tests/reference/data/lenet.inputs.safetensors"));
  double first = mustEvaluate(m, "train_step", inputs, globals, ref::Precision::F32).at("loss").data[0];
  mustEvaluate(m, "train_step", inputs, globals, ref::Precision::F32);
  ref::TensorMap scratch = globals;
  double after = mustEvaluate(m, "grad", inputs, scratch, ref::Precision::F32).at("loss").data[0];
  CHECK(after < first);
}
