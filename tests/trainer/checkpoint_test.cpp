// Checkpoints: a save/load round trip, PyTorch's num_batches_tracked, metadata, and every validation error.
#include "runtime/checkpoint.h"

#include <doctest/doctest.h>

#include <limits>

#include "tests/runtime/test_util.h"
#include "tests/trainer/softmax_plan.h"
#include "tests/trainer/trainer_util.h"

using namespace sinter;
using sinter::test::persistentBytes;
using sinter::test::SoftmaxPlan;
using sinter::test::TempDir;

namespace {

// Every persistent float gets a distinct value so a misplaced copy shows.
void scribble(Program& program, float base) {
  const PlanTable& t = program.table();
  for (int32_t i = 0; i < t.numBuffers; ++i) {
    const PlanBuffer& b = t.buffers[i];
    if (!b.persistent) continue;
    const auto n = static_cast<size_t>(program.elements(b, 1));
    std::vector<float> f(n);
    std::vector<int32_t> k(n, static_cast<int32_t>(base) + i);
    for (size_t j = 0; j < n; ++j) f[j] = base + static_cast<float>(static_cast<size_t>(i) * 1000 + j);
    if (b.type == BufferType::F32) program.writeFrom<float>(b, 1, f);
    else program.writeFrom<int32_t>(b, 1, k);
  }
}

std::string loadError(const std::string& path, Program& program, LoadMode mode) {
  auto r = loadCheckpoint(path, program, mode);
  REQUIRE_FALSE(r.ok());
  return r.error().message();
}

// The checkpoint at path with `edit` applied to its tensors, written to path2.
template <typename F>
std::string edited(const TempDir& dir, const std::string& path, F edit) {
  auto file = readSafetensors(path);
  REQUIRE(file.ok());
  edit(file->tensors);
  const std::string out = dir.file("edited.safetensors");
  REQUIRE(writeSafetensors(out, *file).ok());
  return out;
}

}  // namespace

TEST_CASE("checkpoint: save and load round-trip every parameter and state buffer") {
  TempDir dir;
  SoftmaxPlan plan;
  Program a(plan.table, 1, 1);
  scribble(a, 0.5f);
  const std::string path = dir.file("ckpt.safetensors");
  CheckpointInfo info{"softmax", 3, 120, 0x1234567890ull, 0.25, 1, 17, 0.1 + 0.2, 50};
  REQUIRE(saveCheckpoint(path, a, info).ok());

  Program b(plan.table, 1, 2);
  CHECK(persistentBytes(b) != persistentBytes(a));
  auto loaded = loadCheckpoint(path, b, LoadMode::Resume);
  REQUIRE_MESSAGE(loaded.ok(), loaded.error().message());
  CHECK(persistentBytes(b) == persistentBytes(a));
  CHECK(loaded->model == "softmax");
  CHECK(loaded->epoch == 3);
  CHECK(loaded->step == 120);
  CHECK(loaded->seed == 0x1234567890ull);
  CHECK(loaded->bestValLoss == 0.25);
  CHECK(loaded->epochsSinceBest == 1);
  CHECK(loaded->epochStep == 17);
  CHECK(loaded->epochLossSum == 0.1 + 0.2);  // bit for bit: an interrupted epoch's loss sum
  CHECK(loaded->batch == 50);

  // What PyTorch sees: state-dict names, F32 params, I32 train.seed, I64 num_batches_tracked = steps.
  auto file = readSafetensors(path);
  REQUIRE(file.ok());
  REQUIRE(file->find("fc.weight"));
  CHECK(file->find("fc.weight")->type == ElemType::F32);
  CHECK(file->find("fc.weight")->shape == std::vector<int64_t>{10, 784});
  CHECK(file->find("train.seed")->type == ElemType::I32);
  CHECK(file->find("train.step")->shape.empty());
  const NamedTensor* tracked = file->find("bn.num_batches_tracked");
  REQUIRE(tracked);
  CHECK(tracked->type == ElemType::I64);
  CHECK(tracked->shape.empty());
  CHECK(tracked->at(0) == 120);
  CHECK(file->tensors.size() == 10);  // 9 persistent buffers + the counter
  CHECK(file->find("logits") == nullptr);
}

TEST_CASE("checkpoint: load errors name the file, the tensor and both shapes") {
  TempDir dir;
  SoftmaxPlan plan;
  Program a(plan.table, 1, 1);
  const std::string path = dir.file("ckpt.safetensors");
  REQUIRE(saveCheckpoint(path, a, {"softmax", 1, 40, 1}).ok());
  Program b(plan.table, 1, 1);
  scribble(b, 9.0f);
  const auto before = persistentBytes(b);

  const std::string shape = edited(dir, path, [](std::vector<NamedTensor>& ts) {
    for (NamedTensor& t : ts)
      if (t.name == "fc.weight") t = NamedTensor::fromFloats("fc.weight", {5, 784}, std::vector<float>(5 * 784));
  });
  CHECK(loadError(shape, b, LoadMode::Resume) ==
        shape + ": tensor 'fc.weight' has shape [5, 784] but the model's is [10, 784]");

  const std::string unknown = edited(dir, path, [](std::vector<NamedTensor>& ts) {
    ts.push_back(NamedTensor::fromFloats("fc2.weight", {1}, std::vector<float>{1}));
  });
  CHECK(loadError(unknown, b, LoadMode::Weights) ==
        unknown + ": 'fc2.weight' is not a parameter or state of model 'softmax' (--allow-unexpected ignores them)");
  const std::string unknowns = edited(dir, path, [](std::vector<NamedTensor>& ts) {
    ts.push_back(NamedTensor::fromFloats("fc2.weight", {1}, std::vector<float>{1}));
    ts.push_back(NamedTensor::fromFloats("fc2.bias", {1}, std::vector<float>{1}));
  });
  CHECK(loadError(unknowns, b, LoadMode::Weights) ==
        unknowns + ": 'fc2.weight', 'fc2.bias' are not parameters or state of model 'softmax' (--allow-unexpected ignores them)");

  // Weights that diverged: a load-time error naming the tensor and its first non-finite element.
  const std::string nan = edited(dir, path, [](std::vector<NamedTensor>& ts) {
    for (NamedTensor& t : ts)
      if (t.name == "fc.bias") {
        std::vector<float> v(10, 0.5f);
        v[3] = std::numeric_limits<float>::quiet_NaN();
        v[7] = -std::numeric_limits<float>::infinity();
        t = NamedTensor::fromFloats("fc.bias", {10}, v);
      }
  });
  CHECK(loadError(nan, b, LoadMode::Weights) ==
        nan + ": tensor 'fc.bias' holds 2 non-finite values (element 3 is nan): the state of a run that diverged "
              "cannot be loaded");

  const std::string dtype = edited(dir, path, [](std::vector<NamedTensor>& ts) {
    for (NamedTensor& t : ts)
      if (t.name == "fc.bias") t = NamedTensor::fromDoubles("fc.bias", {10}, std::vector<double>(10));
  });
  CHECK(loadError(dtype, b, LoadMode::Resume) == dtype + ": tensor 'fc.bias' is F64 but the model's is F32");

  // Only parameters and running statistics: enough for eval and predict, not for a resume.
  const std::string weightsOnly = edited(dir, path, [](std::vector<NamedTensor>& ts) {
    std::erase_if(ts, [](const NamedTensor& t) {
      return t.name.find("momentum") != std::string::npos || t.name.starts_with("train.");
    });
  });
  CHECK(loadError(weightsOnly, b, LoadMode::Resume) ==
        weightsOnly + ": missing tensors 'fc.weight.momentum_buffer', 'fc.bias.momentum_buffer', 'train.step', "
                      "'train.lr', 'train.seed' (a resume needs every parameter and optimizer state)");
  CHECK(persistentBytes(b) == before);  // a failed load changes nothing
  CHECK(loadCheckpoint(weightsOnly, b, LoadMode::Weights).ok());
  // A checkpoint from before views were left out holds copies such as `eval.%3`: skipped.
  const std::string oldFormat = edited(dir, path, [](std::vector<NamedTensor>& ts) {
    ts.push_back(NamedTensor::fromFloats("eval.%3", {1, 10}, std::vector<float>(10)));
    ts.push_back(NamedTensor::fromFloats("train_step.%12", {1, 10}, std::vector<float>(10)));
  });
  CHECK(loadCheckpoint(oldFormat, b, LoadMode::Resume).ok());

  const std::string noParam = edited(dir, path, [](std::vector<NamedTensor>& ts) {
    std::erase_if(ts, [](const NamedTensor& t) { return t.name == "fc.bias" || t.name == "bn.running_var"; });
  });
  CHECK(loadError(noParam, b, LoadMode::Weights) == noParam + ": missing tensors 'fc.bias', 'bn.running_var'");

  // NaN or infinity in optimizer state too.
  const std::string inf = edited(dir, path, [](std::vector<NamedTensor>& ts) {
    for (NamedTensor& t : ts)
      if (t.name == "fc.weight.momentum_buffer") {
        std::vector<float> v(t.size());
        v.back() = -std::numeric_limits<float>::infinity();
        t = NamedTensor::fromFloats(t.name, t.shape, v);
      }
  });
  CHECK(loadError(inf, b, LoadMode::Resume) ==
        inf + ": tensor 'fc.weight.momentum_buffer' holds 1 non-finite value (element 7839 is -inf): the state of a run "
              "that diverged cannot be loaded");

  const std::string missingFile = dir.file("nope.safetensors");
  CHECK(loadError(missingFile, b, LoadMode::Weights).starts_with(missingFile + ": "));
  {
    // --allow-unexpected: the model's tensors load and the others are named back.
    const std::string extra = edited(dir, path, [](std::vector<NamedTensor>& ts) {
      ts.push_back(NamedTensor::fromFloats("fc2.weight", {1}, std::vector<float>{1}));
      ts.push_back(NamedTensor::fromFloats("fc2.bias", {1}, std::vector<float>{1}));
    });
    auto ckpt = readCheckpoint(extra);
    REQUIRE(ckpt.ok());
    std::vector<std::string> ignored;
    CHECK(applyCheckpoint(*ckpt, b, LoadMode::Weights, &ignored).ok());
    CHECK(ignored == std::vector<std::string>{"fc2.weight", "fc2.bias"});
  }
}
