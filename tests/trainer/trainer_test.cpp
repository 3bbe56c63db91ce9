// The trainer on a hand-written softmax-regression plan and real MNIST images: it learns, resumes bit
// for bit (after an epoch, or mid-epoch after SIGINT), schedules the learning rate, stops early, stops on
// a non-finite loss, and evaluates every image.
#include "runtime/trainer.h"
#include "runtime/tensor_file.h"

#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "runtime/json.h"
#include "tests/runtime/test_util.h"
#include "tests/trainer/softmax_plan.h"
#include "tests/trainer/trainer_util.h"

using namespace sinter;
using sinter::test::Capture;
using sinter::test::mnistSubset;
using sinter::test::persistentBytes;
using sinter::test::SoftmaxPlan;
using sinter::test::TempDir;

namespace {

TrainerOptions baseOptions(std::FILE* out) {
  TrainerOptions o;
  o.config.batch = 50;
  o.config.epochs = 2;
  o.config.optimizer.lr = 0.01;
  o.config.seed = 1;
  o.threads = 2;
  o.out = out;
  return o;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1)
    out.push_back(text.substr(start, nl - start));
  return out;
}

}  // namespace

TEST_CASE("trainer: softmax regression learns MNIST in 2 epochs") {
  // 2000 images give softmax regression about 85% after 2 epochs and 86.5% at convergence, too close
  // to a threshold; 10000 give 88%.
  const DataSplits data = sinter::test::mnistHead(10000, 1000);
  SoftmaxPlan plan;
  Program program(plan.table, 2, 1);
  Capture out;
  TrainerOptions options = baseOptions(out.file());
  options.config.batch = 100;
  auto result = train(program, data, options);
  REQUIRE_MESSAGE(result.ok(), result.error().message());
  REQUIRE(result->epochs.size() == 2);
  const EpochReport& last = result->epochs.back();
  MESSAGE(out.text());
  CHECK(last.hasTest);
  CHECK_FALSE(last.hasValidation);
  CHECK(last.test.count == 1000);
  CHECK(last.test.accuracy >= 0.85);
  CHECK(last.trainLoss < result->epochs.front().trainLoss);
  CHECK(result->state.step == 200);  // 2 epochs of 10000 / 100
  CHECK(result->state.epoch == 2);
  CHECK(program.readScalar<float>(*program.buffer("train.step")) == 200.0f);
  CHECK(program.readScalar<int32_t>(*program.buffer("train.seed")) == 1);

  const auto printed = lines(out.text());
  REQUIRE(printed.size() == 3);
  CHECK(printed[0] == "training softmax on 10000 train images, 1000 test; 100 steps of batch 100 per epoch, 2 threads, seed 1");
  CHECK(printed[2].starts_with("epoch 2/2  train loss "));
  CHECK(printed[2].find(fmt::format("  test acc {:.2f}%  ", 100 * last.test.accuracy)) != std::string::npos);
  CHECK(printed[2].find(" s  data wait ") != std::string::npos);
  CHECK(printed[2].ends_with("%"));
}

TEST_CASE("trainer: --resume after epoch 1 gives the bitwise weights of an uninterrupted run") {
  TempDir dir;
  // Everything random at once: shuffling, augmentation, a validation split and a cosine schedule.
  const auto options = [&](std::FILE* out) {
    TrainerOptions o = baseOptions(out);
    o.config.validation = 0.1;
    o.config.schedule.kind = ScheduleKind::Cosine;
    o.config.schedule.minLr = 0.001;
    o.config.augment = {{AugmentKind::RandomCrop, 2}, {AugmentKind::HFlip, 0}};
    o.config.seed = 7;
    return o;
  };
  Capture out;

  SoftmaxPlan plan;
  Program whole(plan.table, 2, 7);
  auto straight = train(whole, mnistSubset(), options(out.file()));
  REQUIRE_MESSAGE(straight.ok(), straight.error().message());

  Program first(plan.table, 2, 7);
  TrainerOptions interrupted = options(out.file());
  interrupted.stopAfter = 1;
  interrupted.savePath = dir.file("ckpt.safetensors");
  interrupted.logPath = dir.file("log.jsonl");
  auto part1 = train(first, mnistSubset(), interrupted);
  REQUIRE_MESSAGE(part1.ok(), part1.error().message());
  CHECK(part1->epochs.size() == 1);

  // A Program initialized from another seed: the checkpoint must carry everything that matters.
  Program second(plan.table, 2, 12345);
  TrainerOptions resumed = options(out.file());
  resumed.resumePath = dir.file("ckpt.safetensors");
  resumed.savePath = dir.file("ckpt.safetensors");
  resumed.logPath = dir.file("log.jsonl");
  auto part2 = train(second, mnistSubset(), resumed);
  REQUIRE_MESSAGE(part2.ok(), part2.error().message());
  REQUIRE(part2->epochs.size() == 1);
  CHECK(part2->epochs[0].epoch == 2);
  CHECK(part2->state.step == straight->state.step);

  CHECK(persistentBytes(second) == persistentBytes(whole));
  CHECK(part2->epochs[0].trainLoss == straight->epochs[1].trainLoss);
  CHECK(part2->epochs[0].validation.loss == straight->epochs[1].validation.loss);
  CHECK(part2->epochs[0].lr == doctest::Approx(0.001 + (0.01 - 0.001) * 0.5));

  // The log holds both epochs (appended on resume) with the schedule's lr.
  const auto log = lines(sinter::test::readBytes(dir.file("log.jsonl")));
  REQUIRE(log.size() == 2);
  auto epoch1 = parseJson(log[0]), epoch2 = parseJson(log[1]);
  REQUIRE(epoch1.ok());
  REQUIRE(epoch2.ok());
  CHECK(epoch1->find("epoch")->asInt() == 1);
  CHECK(epoch1->find("lr")->asDouble() == doctest::Approx(0.01));
  CHECK(epoch2->find("step")->asInt() == 72);  // 1800 training images / 50, twice
  CHECK(epoch2->find("val_acc") != nullptr);
  CHECK(epoch2->find("test_loss") != nullptr);
  CHECK(epoch2->find("train_loss")->asDouble() == straight->epochs[1].trainLoss);

  // Another --seed than the checkpoint's cannot continue it.
  Program third(plan.table, 2, 1);
  TrainerOptions wrongSeed = options(out.file());
  wrongSeed.resumePath = dir.file("ckpt.safetensors");
  wrongSeed.config.seed = 8;
  wrongSeed.seedGiven = true;
  auto refused = train(third, mnistSubset(), wrongSeed);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message().find("--seed 8 differs from the seed 7") != std::string::npos);
}

// SIGINT in the middle of epoch 1, raised from the step hook (synchronously, on this thread): the
// step finishes, --save holds the position inside the epoch, the handler is gone when train()
// returns, and resuming ends at the bytes of an uninterrupted run with the same epoch lines. Once
// with a per-epoch schedule (cosine) and once with a per-step one (onecycle).
TEST_CASE("trainer: SIGINT mid-epoch saves the position, and --resume continues bitwise") {
  for (const ScheduleKind kind : {ScheduleKind::Cosine, ScheduleKind::OneCycle}) {
    CAPTURE(static_cast<int>(kind));
    TempDir dir;
    const std::string ckpt = dir.file("ckpt.safetensors");
    const auto options = [&](std::FILE* out) {
      TrainerOptions o = baseOptions(out);
      o.config.validation = 0.1;
      o.config.schedule.kind = kind;
      o.config.schedule.minLr = 0.001;
      o.config.schedule.maxLr = 0.05;
      o.config.augment = {{AugmentKind::RandomCrop, 2}, {AugmentKind::HFlip, 0}};
      o.config.earlyStopping = {true, 5, 0.0};
      o.config.seed = 7;
      return o;
    };
    Capture out;
    SoftmaxPlan plan;
    Program whole(plan.table, 2, 7);
    auto straight = train(whole, mnistSubset(), options(nullptr));
    REQUIRE_MESSAGE(straight.ok(), straight.error().message());
    REQUIRE(straight->epochs.size() == 2);

    struct sigaction before {};
    sigaction(SIGINT, nullptr, &before);
    Program first(plan.table, 2, 7);
    TrainerOptions interrupted = options(out.file());
    interrupted.savePath = ckpt;
    interrupted.afterStep = [](int64_t step) {
      if (step == 20) ::raise(SIGINT);
    };
    auto part1 = train(first, mnistSubset(), interrupted);
    REQUIRE_MESSAGE(part1.ok(), part1.error().message());
    CHECK(part1->interrupted);
    CHECK(part1->epochs.empty());
    CHECK(part1->state.step == 20);
    CHECK(part1->state.epoch == 0);
    CHECK(part1->state.epochStep == 20);
    CHECK(part1->stepsPerEpoch == 36);  // 1800 training images / 50
    struct sigaction after {};
    sigaction(SIGINT, nullptr, &after);
    const bool restored = after.sa_handler == before.sa_handler;  // (doctest cannot print function pointers)
    CHECK(restored);
    auto saved = readCheckpoint(ckpt);
    REQUIRE_MESSAGE(saved.ok(), saved.error().message());
    CHECK(saved->info.epochStep == 20);
    CHECK(saved->info.epochLossSum == part1->state.epochLossSum);

    // Another seed's initial weights: the checkpoint carries everything.
    Program second(plan.table, 2, 12345);
    TrainerOptions resumed = options(out.file());
    resumed.resumePath = ckpt;
    resumed.savePath = ckpt;
    auto part2 = train(second, mnistSubset(), resumed);
    REQUIRE_MESSAGE(part2.ok(), part2.error().message());
    CHECK_FALSE(part2->interrupted);
    REQUIRE(part2->epochs.size() == 2);
    CHECK(part2->state.step == straight->state.step);
    CHECK(persistentBytes(second) == persistentBytes(whole));
    for (size_t k = 0; k < 2; ++k) {
      CHECK(part2->epochs[k].trainLoss == straight->epochs[k].trainLoss);
      CHECK(part2->epochs[k].validation.loss == straight->epochs[k].validation.loss);
      CHECK(part2->epochs[k].lr == straight->epochs[k].lr);
    }
    CHECK(part2->state.bestValLoss == straight->state.bestValLoss);
    CHECK(out.text().find("resuming epoch 1 after its step 20 of 36 (step 20)") != std::string::npos);

    // Resuming the interrupted epoch at another batch size cannot find its place.
    REQUIRE(saveCheckpoint(ckpt, first, part1->state).ok());
    Program third(plan.table, 2, 7);
    TrainerOptions otherBatch = options(nullptr);
    otherBatch.resumePath = ckpt;
    otherBatch.config.batch = 40;
    auto refused = train(third, mnistSubset(), otherBatch);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().message() == ckpt + " stopped 20 steps into epoch 1 at batch 50; resume it at batch 50, not 40");
  }
}

// A second signal before the step in flight finishes exits at once with status 130, writing
// nothing; in a child process, since it ends the process.
TEST_CASE("trainer: a second SIGINT exits at once with status 130") {
  TempDir dir;
  const std::string ckpt = dir.file("ckpt.safetensors");
  const DataSplits& data = mnistSubset();  // loaded before the fork
  std::fflush(nullptr);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    SoftmaxPlan plan;
    Program program(plan.table, 1, 1);
    TrainerOptions o = baseOptions(nullptr);
    o.threads = 1;
    o.savePath = ckpt;
    o.afterStep = [](int64_t step) {
      if (step != 5) return;
      ::raise(SIGINT);
      ::raise(SIGINT);
    };
    (void)train(program, data, o);
    std::_Exit(0);  // not reached when the second signal works
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 130);
  CHECK_FALSE(std::filesystem::exists(ckpt));
}

TEST_CASE("trainer: learning-rate schedules") {
  TrainConfig c;
  c.optimizer.lr = 0.1;
  c.epochs = 10;
  CHECK(scheduledLr(c, 7) == 0.1);
  c.schedule = {ScheduleKind::Step, 3, 0.5, 0};
  CHECK(scheduledLr(c, 2) == doctest::Approx(0.1));
  CHECK(scheduledLr(c, 3) == doctest::Approx(0.05));
  CHECK(scheduledLr(c, 9) == doctest::Approx(0.0125));
  c.schedule = {ScheduleKind::Cosine, 1, 0.1, 0.01};
  CHECK(scheduledLr(c, 0) == doctest::Approx(0.1));
  CHECK(scheduledLr(c, 5) == doctest::Approx(0.055));
  CHECK(scheduledLr(c, 10) == doctest::Approx(0.01));
}

// Against torch.optim.lr_scheduler 1.13 (values printed by PyTorch: OneCycleLR(max_lr = 0.1,
// total_steps = 100), MultiStepLR([3, 6], 0.1), ExponentialLR(0.9), LinearLR(1/10, 1, 9) for the
// warmup) and Caffe's inv formula, at chosen steps.
TEST_CASE("trainer: multistep, exponential, onecycle, inv and warmup follow PyTorch's and Caffe's formulas") {
  TrainConfig c;
  c.optimizer.lr = 0.1;
  c.epochs = 10;
  c.schedule = ScheduleConfig{};
  c.schedule.kind = ScheduleKind::MultiStep;
  c.schedule.milestones = {3, 6};
  const double multistep[] = {0.1, 0.1, 0.1, 0.01, 0.01, 0.01, 0.001, 0.001};
  for (int e = 0; e < 8; ++e) CHECK(scheduledLr(c, e) == doctest::Approx(multistep[e]).epsilon(1e-12));
  c.schedule.kind = ScheduleKind::Exponential;
  c.schedule.gamma = 0.9;
  CHECK(scheduledLr(c, 4) == doctest::Approx(0.06561).epsilon(1e-12));
  CHECK_FALSE(c.schedule.perStep());

  // onecycle over 10 epochs of 10 steps: 100 steps.
  c.schedule = ScheduleConfig{};
  c.schedule.kind = ScheduleKind::OneCycle;
  c.schedule.maxLr = 0.1;
  CHECK(c.schedule.perStep());
  auto at = [&](int64_t step) { return scheduledLr(c, step / 10, step % 10, 10); };
  CHECK(at(0) == doctest::Approx(0.004).epsilon(1e-12));
  CHECK(at(10) == doctest::Approx(0.029516394846410082).epsilon(1e-12));
  CHECK(at(28) == doctest::Approx(0.09971862194340926).epsilon(1e-12));
  CHECK(at(29) == doctest::Approx(0.1).epsilon(1e-12));
  CHECK(at(30) == doctest::Approx(0.09994965352845243).epsilon(1e-12));
  CHECK(at(50) == doctest::Approx(0.0793893450575732).epsilon(1e-12));
  CHECK(at(99) == doctest::Approx(4e-07).epsilon(1e-9));

  c.schedule = ScheduleConfig{};
  c.schedule.kind = ScheduleKind::Inv;
  c.schedule.gamma = 1e-4;
  c.schedule.power = 0.75;
  CHECK(at(0) == doctest::Approx(0.1).epsilon(1e-12));
  CHECK(at(57) == doctest::Approx(0.1 * std::pow(1 + 1e-4 * 57, -0.75)).epsilon(1e-12));

  // warmup(epochs = 1) over 10 steps, then step(every = 3, gamma = 0.5) over the 9 epochs after it.
  c.schedule = ScheduleConfig{};
  c.schedule.kind = ScheduleKind::Step;
  c.schedule.every = 3;
  c.schedule.gamma = 0.5;
  c.schedule.warmupEpochs = 1;
  CHECK(c.schedule.perStep());
  for (int k = 0; k < 10; ++k) CHECK(at(k) == doctest::Approx(0.01 * (k + 1)).epsilon(1e-12));
  CHECK(at(10) == doctest::Approx(0.1));
  CHECK(at(39) == doctest::Approx(0.1));   // epoch 3 is the schedule's epoch 2
  CHECK(at(40) == doctest::Approx(0.05));  // its epoch 3
}

TEST_CASE("trainer: a per-step schedule changes the rate every step without recompiling") {
  SoftmaxPlan plan;
  Program program(plan.table, 2, 1);
  Capture out;
  TrainerOptions o = baseOptions(out.file());
  o.config.epochs = 1;
  o.config.schedule.kind = ScheduleKind::Inv;
  o.config.schedule.gamma = 0.5;
  o.config.schedule.power = 1;
  auto result = train(program, mnistSubset(), o);
  REQUIRE_MESSAGE(result.ok(), result.error().message());
  const int64_t steps = result->state.step;
  REQUIRE(steps > 2);
  // The last step ran at lr / (1 + gamma (steps - 1)): the rate the plan's train.lr holds, and the
  // epoch line's.
  const double last = 0.01 / (1 + 0.5 * static_cast<double>(steps - 1));
  CHECK(program.readScalar<float>(*program.buffer("train.lr")) == doctest::Approx(static_cast<float>(last)));
  CHECK(result->epochs.back().lr == doctest::Approx(last));
  CHECK(out.text().find(fmt::format("lr {:.4g}", last)) != std::string::npos);
}

TEST_CASE("trainer: early stopping on the validation loss") {
  SoftmaxPlan plan;
  Program program(plan.table, 2, 1);
  Capture out;
  TrainerOptions o = baseOptions(out.file());
  o.config.epochs = 5;
  o.config.validation = 0.2;
  o.config.earlyStopping = {true, 1, 10.0};  // an improvement of 10 never comes
  auto result = train(program, mnistSubset(), o);
  REQUIRE_MESSAGE(result.ok(), result.error().message());
  CHECK(result->stoppedEarly);
  CHECK(result->epochs.size() == 2);
  CHECK(out.text().find("early stopping: validation loss has not improved") != std::string::npos);
  CHECK(out.text().find("val loss") != std::string::npos);
  CHECK(result->restoredEpoch == 1);
  CHECK(out.text().find("early stopping: restored the weights of epoch 1, the best on validation") != std::string::npos);

  o.config.validation = 0;
  auto noSplit = train(program, mnistSubset(), o);
  REQUIRE_FALSE(noSplit.ok());
  CHECK(noSplit.error().message() == "early stopping watches the validation loss, but there is no validation split");
}

namespace {

// The softmax's weights (fc.weight, fc.bias).
std::vector<std::vector<float>> weights(Program& program) {
  std::vector<std::vector<float>> out;
  for (const char* name : {"fc.weight", "fc.bias"}) out.push_back(program.readAs<float>(*program.buffer(name), 1));
  return out;
}

// Sets `o` to a validation split of 0.2 and returns the weights one epoch of that leaves: early
// stopping's tests compare what it gives back with them.
std::vector<std::vector<float>> weightsAfterOneEpoch(const SoftmaxPlan& plan, TrainerOptions& o) {
  o.config.validation = 0.2;
  o.config.epochs = 1;
  Program once(plan.table, 2, 1);
  REQUIRE(train(once, mnistSubset(), o).ok());
  return weights(once);
}

}  // namespace

// Keras' restore_best_weights: epoch 1 is the best (an improvement of 10 never comes after it),
// epoch 2 trains on and stops; the weights at the end, and in the --save checkpoint, are epoch 1's,
// bit for bit what a run of 1 epoch leaves.
TEST_CASE("trainer: early stopping gives back the best epoch's weights") {
  TempDir dir;
  SoftmaxPlan plan;
  TrainerOptions o = baseOptions(nullptr);
  const std::vector<std::vector<float>> once = weightsAfterOneEpoch(plan, o);

  o.config.epochs = 5;
  o.config.earlyStopping = {true, 1, 10.0};
  o.savePath = (dir.path() / "best.safetensors").string();
  Program stopped(plan.table, 2, 1);
  auto result = train(stopped, mnistSubset(), o);
  REQUIRE_MESSAGE(result.ok(), result.error().message());
  CHECK(result->epochs.size() == 2);
  CHECK(result->restoredEpoch == 1);
  CHECK(weights(stopped) == once);
  // Without the restore, epoch 2's training would have moved them.
  Program reloaded(plan.table, 2, 7);
  REQUIRE(loadCheckpoint(o.savePath, reloaded, LoadMode::Weights).ok());
  CHECK(weights(reloaded) == once);
}

// The best epoch's weights outlive the run: --save writes them next to the checkpoint
// (bestWeightsPath), and a run resumed after the best epoch still gives them back when it stops.
TEST_CASE("trainer: early stopping restores the best epoch's weights after --resume") {
  TempDir dir;
  SoftmaxPlan plan;
  TrainerOptions o = baseOptions(nullptr);
  const std::vector<std::vector<float>> once = weightsAfterOneEpoch(plan, o);

  // Epoch 1 is the best (an improvement of 10 never comes), patience 2: the run stops after epoch 3.
  // It is cut after epoch 2 and resumed in a fresh program.
  o.config.epochs = 5;
  o.config.earlyStopping = {true, 2, 10.0};
  o.savePath = (dir.path() / "ckpt.safetensors").string();
  o.stopAfter = 2;
  Program first(plan.table, 2, 1);
  REQUIRE(train(first, mnistSubset(), o).ok());
  const std::string bestPath = (dir.path() / "ckpt.best.safetensors").string();
  CHECK(bestWeightsPath(o.savePath) == bestPath);
  {
    Program best(plan.table, 2, 9);
    auto info = loadCheckpoint(bestPath, best, LoadMode::Weights);  // a weights checkpoint itself
    REQUIRE_MESSAGE(info.ok(), info.error().message());
    CHECK(info->epoch == 1);
    CHECK(weights(best) == once);
  }

  Capture out;
  o.out = out.file();
  o.stopAfter = 0;
  o.resumePath = o.savePath;
  Program resumed(plan.table, 2, 1);
  auto result = train(resumed, mnistSubset(), o);
  REQUIRE_MESSAGE(result.ok(), result.error().message());
  CHECK(result->stoppedEarly);
  CHECK(result->state.epoch == 3);
  CHECK(result->restoredEpoch == 1);
  CHECK(out.text().find("early stopping: restored the weights of epoch 1, the best on validation") != std::string::npos);
  CHECK(weights(resumed) == once);

  // A best-weights file of another epoch (a crash between its write and the checkpoint's): said, and
  // the last weights are kept.
  TensorFile other = *readSafetensors(bestPath);
  for (auto& [key, value] : other.metadata)
    if (key == "epoch") value = std::to_string(2);  // (not = "2": GCC 12 -Wrestrict false positive)
  REQUIRE(writeSafetensors(bestPath, other).ok());
  Capture out2;
  o.out = out2.file();
  Program mismatched(plan.table, 2, 1);
  auto kept = train(mismatched, mnistSubset(), o);
  REQUIRE_MESSAGE(kept.ok(), kept.error().message());
  CHECK(kept->restoredEpoch == 0);
  const std::string said = fmt::format("early stopping: no weights of epoch 1, the best so far ({} holds epoch 2)", bestPath);
  CHECK(out2.text().find(said) != std::string::npos);
  CHECK(out2.text().find("early stopping: kept the last weights") != std::string::npos);
}

TEST_CASE("trainer: a non-finite loss stops training and names the first bad buffer") {
  SoftmaxPlan plan(100, 1e38);
  Program program(plan.table, 2, 1);
  TrainerOptions o = baseOptions(nullptr);
  o.config.optimizer.lr = 1e38;
  auto result = train(program, mnistSubset(), o);
  REQUIRE_FALSE(result.ok());
  const std::string& msg = result.error().message();
  MESSAGE(msg);
  CHECK(msg.starts_with("loss is nan at step 2 (epoch 1); first non-finite buffer: 'fc.weight'"));
}

TEST_CASE("trainer: evaluation counts every image, whatever the batch") {
  SoftmaxPlan plan;
  Program program(plan.table, 2, 3);
  const Dataset& test = mnistSubset().test;
  auto big = evaluate(program, test, 0, test.count, {}, 100);
  auto odd = evaluate(program, test, 0, test.count, {}, 7);  // 142 batches of 7 and one of 6
  REQUIRE(big.ok());
  REQUIRE(odd.ok());
  CHECK(big->count == 1000);
  CHECK(odd->count == 1000);
  CHECK(big->hasLoss);
  CHECK(odd->loss == doctest::Approx(big->loss).epsilon(1e-6));
  CHECK(odd->accuracy == big->accuracy);
  CHECK(big->loss == doctest::Approx(std::log(10.0)).epsilon(0.05));  // near-zero weights: uniform guesses
}

TEST_CASE("trainer: plan and data mismatches are clear errors") {
  SoftmaxPlan plan;
  Program program(plan.table, 1, 1);
  DataSplits cifar;
  cifar.train.count = 1;
  cifar.train.channels = 3;
  cifar.train.height = cifar.train.width = 32;
  cifar.train.classes = 10;
  cifar.train.pixels.resize(3072);
  cifar.train.labels = {0};
  auto r = train(program, cifar, baseOptions(nullptr));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message() == "model input 'image' is [B, 1, 28, 28] but the training images are [3, 32, 32]");

  TrainerOptions big = baseOptions(nullptr);
  big.config.batch = 101;
  auto tooBig = train(program, mnistSubset(), big);
  REQUIRE_FALSE(tooBig.ok());
  CHECK(tooBig.error().message() == "batch 101 is above the plan's maximum batch 100");
}
