// Train block tests: defaults, every setting read back, and each kind of error with its location.
#include "frontend/parser.h"
#include "support/render.h"
#include "frontend/train_config.h"

#include "tests/frontend/test_util.h"

namespace sinter {
namespace {

using Lines = std::vector<std::string>;

// Parses `model m { }` with the given train block body; the parse must succeed.
Expected<TrainConfig> read(const std::string& body) {
  SourceFile src = sourceFromString("t.nn", "model m {\n}\ntrain {\n" + body + "}\n");
  auto p = parseProgram(src);
  if (!p) FAIL(renderDiagnostics(p.error(), src));
  return readTrainConfig(p->train ? &*p->train : nullptr);
}

TrainConfig ok(const std::string& body) {
  auto c = read(body);
  if (!c) FAIL(c.error().message());
  return c.take();
}

// "line:col: message" of each error; train lines start at line 4.
Lines errors(const std::string& body) {
  auto c = read(body);
  REQUIRE_FALSE(c.ok());
  Lines out;
  for (const Diag& d : c.error().diags) out.push_back(fmt::format("{}:{}: {}", d.loc.line, d.loc.col, d.message));
  return out;
}

TEST_CASE("train config: defaults with no block and with an empty block") {
  auto none = readTrainConfig(nullptr);
  REQUIRE(none.ok());
  for (const TrainConfig& c : {*none, ok("")}) {
    CHECK(c.optimizer.kind == OptimizerKind::Sgd);
    CHECK(c.optimizer.lr == 0.01);
    CHECK(c.optimizer.momentum == 0);
    CHECK_FALSE(c.optimizer.nesterov);
    CHECK(c.optimizer.weightDecay == 0);
    CHECK(c.batch == 64);
    CHECK(c.epochs == 10);
    CHECK(c.schedule.kind == ScheduleKind::None);
    CHECK(c.augment.empty());
    CHECK(c.normalize.mean == std::vector<double>{0.5});
    CHECK(c.normalize.std == std::vector<double>{0.5});
    CHECK(c.validation == 0);
    CHECK_FALSE(c.earlyStopping.enabled);
    CHECK(c.seed == 0);
  }
}

TEST_CASE("train config: optimizer defaults are PyTorch's") {
  TrainConfig adam = ok("optimizer adam\n");
  CHECK(adam.optimizer.kind == OptimizerKind::Adam);
  CHECK(adam.optimizer.lr == 0.001);
  CHECK(adam.optimizer.beta1 == 0.9);
  CHECK(adam.optimizer.beta2 == 0.999);
  CHECK(adam.optimizer.eps == 1e-8);
  CHECK(adam.optimizer.weightDecay == 0);
  TrainConfig adamw = ok("optimizer adamw(lr = 0.003)\n");
  CHECK(adamw.optimizer.kind == OptimizerKind::AdamW);
  CHECK(adamw.optimizer.lr == 0.003);
  CHECK(adamw.optimizer.weightDecay == 0.01);
  CHECK(optimizerName(OptimizerKind::AdamW) == "adamw");
}

TEST_CASE("train config: rmsprop, adagrad and adadelta defaults are PyTorch's") {
  const OptimizerConfig rmsprop = ok("optimizer rmsprop\n").optimizer;
  CHECK(rmsprop.kind == OptimizerKind::RmsProp);
  CHECK(rmsprop.lr == 0.01);
  CHECK(rmsprop.alpha == 0.99);
  CHECK(rmsprop.eps == 1e-8);
  CHECK(rmsprop.weightDecay == 0);
  CHECK(rmsprop.momentum == 0);
  CHECK_FALSE(rmsprop.centered);
  const OptimizerConfig adagrad = ok("optimizer adagrad()\n").optimizer;
  CHECK(adagrad.kind == OptimizerKind::Adagrad);
  CHECK(adagrad.lr == 0.01);
  CHECK(adagrad.lrDecay == 0);
  CHECK(adagrad.weightDecay == 0);
  CHECK(adagrad.initialAccumulator == 0);
  CHECK(adagrad.eps == 1e-10);
  const OptimizerConfig adadelta = ok("optimizer adadelta\n").optimizer;
  CHECK(adadelta.kind == OptimizerKind::Adadelta);
  CHECK(adadelta.lr == 1.0);
  CHECK(adadelta.rho == 0.9);
  CHECK(adadelta.eps == 1e-6);
  CHECK(adadelta.weightDecay == 0);
  CHECK(optimizerName(OptimizerKind::RmsProp) == "rmsprop");
  CHECK(optimizerName(OptimizerKind::Adagrad) == "adagrad");
  CHECK(optimizerName(OptimizerKind::Adadelta) == "adadelta");
}

TEST_CASE("train config: rmsprop, adagrad and adadelta arguments, read back and through the text form") {
  const TrainConfig rmsprop =
      ok("  optimizer rmsprop(lr = 0.02, alpha = 0.9, eps = 1e-6, weight_decay = 0.01, momentum = 0.5, centered = true)\n");
  const TrainConfig adagrad = ok(
      "  optimizer adagrad(lr = 0.1, lr_decay = 0.5, weight_decay = 0.1, initial_accumulator_value = 0.25, eps = 1e-9,\n"
      "                    weight_decay_exclude = [bias])\n");
  const TrainConfig adadelta = ok("  optimizer adadelta(lr = 0.5, rho = 0.8, eps = 1e-5, weight_decay = 0.1)\n");
  for (const TrainConfig& c : {rmsprop, adagrad, adadelta}) {
    Expected<TrainConfig> back = parseTrainConfig(formatTrainConfig(c));
    REQUIRE(back);
    CHECK(formatTrainConfig(*back) == formatTrainConfig(c));
    const OptimizerConfig& o = back->optimizer;
    CAPTURE(optimizerName(o.kind));
    CHECK(o.kind == c.optimizer.kind);
    CHECK(o.lr == c.optimizer.lr);
    CHECK(o.eps == c.optimizer.eps);
    CHECK(o.weightDecay == c.optimizer.weightDecay);
    CHECK(o.alpha == c.optimizer.alpha);
    CHECK(o.momentum == c.optimizer.momentum);
    CHECK(o.centered == c.optimizer.centered);
    CHECK(o.lrDecay == c.optimizer.lrDecay);
    CHECK(o.initialAccumulator == c.optimizer.initialAccumulator);
    CHECK(o.rho == c.optimizer.rho);
    CHECK(o.decayExcludesBias == c.optimizer.decayExcludesBias);
  }
  CHECK(rmsprop.optimizer.kind == OptimizerKind::RmsProp);
  CHECK(rmsprop.optimizer.lr == 0.02);
  CHECK(rmsprop.optimizer.alpha == 0.9);
  CHECK(rmsprop.optimizer.eps == 1e-6);
  CHECK(rmsprop.optimizer.weightDecay == 0.01);
  CHECK(rmsprop.optimizer.momentum == 0.5);
  CHECK(rmsprop.optimizer.centered);
  CHECK(adagrad.optimizer.lr == 0.1);
  CHECK(adagrad.optimizer.lrDecay == 0.5);
  CHECK(adagrad.optimizer.weightDecay == 0.1);
  CHECK(adagrad.optimizer.initialAccumulator == 0.25);
  CHECK(adagrad.optimizer.eps == 1e-9);
  CHECK(adagrad.optimizer.decayExcludesBias);
  CHECK(adadelta.optimizer.lr == 0.5);
  CHECK(adadelta.optimizer.rho == 0.8);
  CHECK(adadelta.optimizer.eps == 1e-5);
  CHECK(adadelta.optimizer.weightDecay == 0.1);
  // The text form keeps the optimizer's own defaults too (adadelta's lr 1.0, adagrad's eps 1e-10).
  Expected<TrainConfig> plain = parseTrainConfig(formatTrainConfig(ok("  optimizer adadelta\n")));
  REQUIRE(plain);
  CHECK(plain->optimizer.lr == 1.0);
  CHECK(plain->optimizer.eps == 1e-6);
  plain = parseTrainConfig(formatTrainConfig(ok("  optimizer adagrad\n")));
  REQUIRE(plain);
  CHECK(plain->optimizer.eps == 1e-10);
}

TEST_CASE("train config: rmsprop, adagrad and adadelta errors name the argument and its place") {
  CHECK(errors("  optimizer rmsprop(lr = 0.1, betas = [0.9, 0.99])\n") ==
        Lines{"4:31: rmsprop has no argument 'betas'; its arguments are lr, alpha, eps, weight_decay, momentum, centered, "
              "weight_decay_exclude"});
  CHECK(errors("  optimizer adagrad(rho = 0.9)\n") ==
        Lines{"4:21: adagrad has no argument 'rho'; its arguments are lr, lr_decay, weight_decay, initial_accumulator_value, "
              "eps, weight_decay_exclude"});
  CHECK(errors("  optimizer adadelta(momentum = 0.9)\n") ==
        Lines{"4:22: adadelta has no argument 'momentum'; its arguments are lr, rho, eps, weight_decay, weight_decay_exclude"});
  CHECK(errors("  optimizer adam(centered = true)\n") ==
        Lines{"4:18: adam has no argument 'centered'; its arguments are lr, betas, eps, weight_decay, weight_decay_exclude"});
  CHECK(errors("  optimizer rmsprop(lr = -0.01)\n") == Lines{"4:26: 'lr' expects a positive number, found -0.01"});
  CHECK(errors("  optimizer rmsprop(alpha = 1.5)\n") == Lines{"4:29: 'alpha' expects a number in [0, 1], found 1.5"});
  CHECK(errors("  optimizer rmsprop(momentum = -1)\n") == Lines{"4:32: 'momentum' expects a non-negative number, found -1"});
  CHECK(errors("  optimizer rmsprop(centered = 1)\n") == Lines{"4:32: 'centered' expects true or false, found 1"});
  CHECK(errors("  optimizer adagrad(lr_decay = -0.1)\n") == Lines{"4:32: 'lr_decay' expects a non-negative number, found -0.1"});
  CHECK(errors("  optimizer adagrad(initial_accumulator_value = -1, eps = -1e-10)\n") ==
        Lines{"4:49: 'initial_accumulator_value' expects a non-negative number, found -1",
              "4:59: 'eps' expects a non-negative number, found -1e-10"});
  CHECK(errors("  optimizer adadelta(rho = 2)\n") == Lines{"4:28: 'rho' expects a number in [0, 1], found 2"});
  CHECK(errors("  optimizer adadelta(weight_decay = -0.1)\n") ==
        Lines{"4:37: 'weight_decay' expects a non-negative number, found -0.1"});
  CHECK(errors("  optimizer adadelta(0.5)\n") == Lines{"4:22: adadelta takes only keyword arguments, found 0.5"});
}

TEST_CASE("train config: every setting read back") {
  TrainConfig c = ok(
      "  optimizer  sgd(lr = 0.05, momentum = 0.9, nesterov = true, weight_decay = 5e-4, dampening = 0)\n"
      "  batch      128\n"
      "  epochs     30\n"
      "  schedule   step(every = 10, gamma = 0.5)\n"
      "  augment    random_crop(padding = 4), hflip()\n"
      "  normalize(mean = [0.4914, 0.4822, 0.4465], std = [0.2470, 0.2435, 0.2616])\n"
      "  validation 0.1\n"
      "  early_stopping(patience = 3, min_delta = 0.001)\n"
      "  seed 42\n");
  CHECK(c.optimizer.lr == 0.05);
  CHECK(c.optimizer.momentum == 0.9);
  CHECK(c.optimizer.nesterov);
  CHECK(c.optimizer.weightDecay == 5e-4);
  CHECK(c.batch == 128);
  CHECK(c.epochs == 30);
  CHECK(c.schedule.kind == ScheduleKind::Step);
  CHECK(c.schedule.every == 10);
  CHECK(c.schedule.gamma == 0.5);
  REQUIRE(c.augment.size() == 2);
  CHECK(c.augment[0].kind == AugmentKind::RandomCrop);
  CHECK(c.augment[0].padding == 4);
  CHECK(c.augment[1].kind == AugmentKind::HFlip);
  CHECK(c.normalize.mean == std::vector<double>{0.4914, 0.4822, 0.4465});
  CHECK(c.normalize.std.size() == 3);
  CHECK(c.validation == 0.1);
  CHECK(c.earlyStopping.enabled);
  CHECK(c.earlyStopping.patience == 3);
  CHECK(c.earlyStopping.minDelta == 0.001);
  CHECK(c.seed == 42);

  TrainConfig cos = ok("schedule cosine(min_lr = 1e-5)\noptimizer adam(betas = [0.8, 0.99], eps = 1e-6)\n");
  CHECK(cos.schedule.kind == ScheduleKind::Cosine);
  CHECK(cos.schedule.minLr == 1e-5);
  CHECK(cos.optimizer.beta1 == 0.8);
  CHECK(cos.optimizer.beta2 == 0.99);
  CHECK(cos.optimizer.eps == 1e-6);
  CHECK(ok("schedule cosine\n").schedule.kind == ScheduleKind::Cosine);
  CHECK(ok("schedule none\n").schedule.kind == ScheduleKind::None);
  CHECK(ok("early_stopping()\n").earlyStopping.patience == 5);
}

TEST_CASE("train config: weight_decay_exclude, read back and through the text form executables embed") {
  TrainConfig c = ok("  optimizer sgd(lr = 0.1, weight_decay = 5e-4, weight_decay_exclude = [bias, batchnorm])\n");
  CHECK(c.optimizer.decayExcludesBias);
  CHECK(c.optimizer.decayExcludesBatchnorm);
  CHECK_FALSE(ok("  optimizer adamw(weight_decay_exclude = [batchnorm])\n").optimizer.decayExcludesBias);
  CHECK_FALSE(ok("  optimizer sgd(lr = 0.1)\n").optimizer.decayExcludesBatchnorm);
  Expected<TrainConfig> back = parseTrainConfig(formatTrainConfig(c));
  REQUIRE(back);
  CHECK(back->optimizer.decayExcludesBias);
  CHECK(back->optimizer.decayExcludesBatchnorm);
  CHECK(errors("  optimizer sgd(weight_decay_exclude = [bias, conv])\n") ==
        Lines{"4:47: 'weight_decay_exclude' takes bias and batchnorm, found conv"});
  CHECK(errors("  optimizer sgd(weight_decay_exclude = bias)\n") ==
        Lines{"4:40: 'weight_decay_exclude' expects a list such as [bias, batchnorm], found bias"});
}

TEST_CASE("train config: schedules and warmup, read back and through the text form") {
  TrainConfig c = ok("  schedule warmup(epochs = 5), multistep(milestones = [80, 120], gamma = 0.2)\n");
  CHECK(c.schedule.kind == ScheduleKind::MultiStep);
  CHECK(c.schedule.milestones == std::vector<int64_t>{80, 120});
  CHECK(c.schedule.gamma == 0.2);
  CHECK(c.schedule.warmupEpochs == 5);
  Expected<TrainConfig> back = parseTrainConfig(formatTrainConfig(c));
  REQUIRE(back);
  CHECK(back->schedule.milestones == c.schedule.milestones);
  CHECK(back->schedule.warmupEpochs == 5);
  TrainConfig one = ok("  schedule onecycle(max_lr = 0.4, pct_start = 0.25)\n");
  CHECK(one.schedule.kind == ScheduleKind::OneCycle);
  CHECK(one.schedule.maxLr == 0.4);
  CHECK(one.schedule.pctStart == 0.25);
  back = parseTrainConfig(formatTrainConfig(one));
  REQUIRE(back);
  CHECK(back->schedule.kind == ScheduleKind::OneCycle);
  CHECK(back->schedule.maxLr == 0.4);
  TrainConfig inv = ok("  schedule inv(gamma = 1e-4, power = 0.75)\n");
  CHECK(inv.schedule.kind == ScheduleKind::Inv);
  CHECK(inv.schedule.power == 0.75);
  CHECK(ok("  schedule exponential(gamma = 0.95)\n").schedule.kind == ScheduleKind::Exponential);
  CHECK(errors("  schedule onecycle()\n") == Lines{"4:12: onecycle schedule requires argument 'max_lr', e.g. onecycle(max_lr = 0.1)"});
  CHECK(errors("  schedule multistep(milestones = [5, 3])\n") == Lines{"4:39: 'milestones' must increase"});
  CHECK(errors("  schedule cosine(), warmup(epochs = 2)\n") ==
        Lines{"4:12: only warmup(epochs = N) may come before the schedule, found 'cosine'"});
  CHECK(errors("  schedule warmup(), cosine()\n") == Lines{"4:12: warmup requires argument 'epochs', e.g. warmup(epochs = 5)"});
}

TEST_CASE("train config: the example models' train blocks") {
  for (const char* name : {"lenet", "mlp", "cifar_cnn"}) {
    CAPTURE(name);
    auto src = loadSource(fmt::format("{}/examples/{}.nn", SINTER_SOURCE_DIR, name));
    REQUIRE(src.ok());
    auto p = parseProgram(*src);
    REQUIRE(p.ok());
    auto c = readTrainConfig(p->train ? &*p->train : nullptr);
    if (!c) FAIL(renderDiagnostics(c.error(), *src));
  }
}

TEST_CASE("train config: keys") {
  CHECK(errors("  bach 64\n") ==
        Lines{"4:3: unknown train setting 'bach'; known settings are optimizer, batch, epochs, schedule, augment, "
              "normalize, validation, early_stopping, seed"});
  auto c = read("  batch 32\n  batch 64\n");
  REQUIRE_FALSE(c.ok());
  REQUIRE(c.error().diags.size() == 1);
  CHECK(c.error().message() == "duplicate train setting 'batch'");
  CHECK(c.error().diags[0].loc.line == 5);
  REQUIRE(c.error().diags[0].notes.size() == 1);
  CHECK(c.error().diags[0].notes[0].loc.line == 4);
  CHECK(errors("  batch 32, 64\n") == Lines{"4:13: 'batch' takes one value, found 2"});
  CHECK(errors("  normalize 0.5\n") == Lines{"4:3: 'normalize' is written like this: normalize(mean = 0.5, std = 0.5)"});
  CHECK(errors("  batch(64)\n") == Lines{"4:3: 'batch' is written like this: batch 64"});
}

TEST_CASE("train config: value types and ranges") {
  CHECK(errors("  batch 0.5\n") == Lines{"4:9: 'batch' expects a positive integer, found 0.5"});
  CHECK(errors("  epochs 0\n") == Lines{"4:10: 'epochs' expects a positive integer, found 0"});
  CHECK(errors("  epochs 10.0\n") == Lines{"4:10: 'epochs' expects a positive integer, found 10.0"});
  CHECK(errors("  seed -1\n") == Lines{"4:8: 'seed' expects a non-negative integer, found -1"});
  CHECK(errors("  validation 1\n") == Lines{"4:14: 'validation' expects a number in [0, 1), found 1"});
  CHECK(errors("  optimizer sgd(lr = -0.1)\n") == Lines{"4:22: 'lr' expects a positive number, found -0.1"});
  CHECK(errors("  optimizer sgd(nesterov = 1)\n") == Lines{"4:28: 'nesterov' expects true or false, found 1"});
  CHECK(errors("  optimizer adam(betas = [0.9])\n") ==
        Lines{"4:26: 'betas' expects a list of two numbers in [0, 1), found [0.9]"});
  CHECK(errors("  optimizer adam(betas = [0.9, 1.5])\n") == Lines{"4:32: 'betas' expects a number in [0, 1), found 1.5"});
  CHECK(errors("  normalize(std = [0.5, 0])\n") == Lines{"4:25: 'std' expects a positive number, found 0"});
  CHECK(errors("  normalize(mean = [1, 2, 3], std = [1, 2])\n") ==
        Lines{"4:37: normalize has 3 means but 2 standard deviations"});
  CHECK(errors("  early_stopping(patience = 0)\n") == Lines{"4:29: 'patience' expects a positive integer, found 0"});
  CHECK(errors("  optimizer 3\n") == Lines{"4:13: 'optimizer' expects an optimizer such as sgd(lr = 0.01), found 3"});
}

TEST_CASE("train config: optimizers, schedules and augmentations by name") {
  CHECK(errors("  optimizer lbfgs(lr = 0.1)\n") ==
        Lines{"4:13: unknown optimizer 'lbfgs'; known optimizers are sgd, adam, adamw, rmsprop, adagrad, adadelta"});
  CHECK(errors("  optimizer sgd(lr = 0.1, beta = 0.9)\n") ==
        Lines{"4:27: sgd has no argument 'beta'; its arguments are lr, momentum, dampening, nesterov, weight_decay, weight_decay_exclude"});
  CHECK(errors("  optimizer adam(0.1)\n") == Lines{"4:18: adam takes only keyword arguments, found 0.1"});
  CHECK(errors("  optimizer sgd(nesterov = true)\n") ==
        Lines{"4:28: nesterov momentum requires momentum > 0 and dampening = 0"});
  CHECK(errors("  optimizer sgd(momentum = 0.9, dampening = 0.1, nesterov = true)\n") ==
        Lines{"4:61: nesterov momentum requires momentum > 0 and dampening = 0"});
  CHECK(errors("  schedule linear()\n") == Lines{"4:12: unknown schedule 'linear'; known schedules are none, step, multistep, exponential, cosine, onecycle, inv"});
  CHECK(errors("  schedule step(gamma = 0.5)\n") ==
        Lines{"4:12: step schedule requires argument 'every', e.g. step(every = 10)"});
  CHECK(errors("  schedule cosine(T = 3)\n") == Lines{"4:19: cosine has no argument 'T'; its arguments are min_lr"});
  CHECK(errors("  augment vflip, hflip(p = 0.5), hflip, hflip\n") ==
        Lines{"4:11: unknown augmentation 'vflip'; known augmentations are random_crop, hflip",
              "4:24: hflip takes no arguments, found 'p'",
              "4:41: duplicate augmentation 'hflip'"});
  CHECK(errors("  augment random_crop\n") ==
        Lines{"4:11: random_crop requires argument 'padding', e.g. random_crop(padding = 4)"});
}

TEST_CASE("train config: independent errors are all reported") {
  CHECK(errors("  batch 0\n  epochs -2\n  foo 1\n  validation 2\n") ==
        Lines{"4:9: 'batch' expects a positive integer, found 0", "5:10: 'epochs' expects a positive integer, found -2",
              "6:3: unknown train setting 'foo'; known settings are optimizer, batch, epochs, schedule, augment, "
              "normalize, validation, early_stopping, seed",
              "7:14: 'validation' expects a number in [0, 1), found 2"});
}

TEST_CASE("train config: the embedded text form rejects what it cannot read whole") {
  const auto error = [](std::string_view text) {
    auto c = parseTrainConfig(text);
    REQUIRE_FALSE(c.ok());
    return c.error().message();
  };
  CHECK(error("lr 0.1 0.2\n") == "train settings line 1: cannot read 'lr 0.1 0.2'");
  CHECK(error("batch 64\nepochs 3x\n") == "train settings line 2: cannot read 'epochs 3x'");
  CHECK(error("optimizer lbfgs\n") == "train settings line 1: cannot read 'optimizer lbfgs'");
  CHECK(error("lr 1e999\n") == "train settings line 1: cannot read 'lr 1e999'");
  CHECK(error("schedule step 1 0.1\n") == "train settings line 1: cannot read 'schedule step 1 0.1'");
  CHECK(error("augment hflip\n") == "train settings line 1: cannot read 'augment hflip'");
  CHECK(error("mean\n") == "train settings line 1: cannot read 'mean'");
  CHECK(error("milestones 1 two\n") == "train settings line 1: cannot read 'milestones 1 two'");
  CHECK(error("seed 1\nvalidation\n") == "train settings line 2: cannot read 'validation'");
  CHECK(error("lr = 0.1\n") == "train settings line 1: cannot read 'lr = 0.1'");
  // Trailing blanks and empty lines are fine, and what formats reads back to the same text.
  auto c = parseTrainConfig("lr 0.5  \n\nbatch 8\t\nmilestones 3 5 \n");
  REQUIRE(c.ok());
  CHECK(c->optimizer.lr == 0.5);
  CHECK(c->batch == 8);
  CHECK(c->schedule.milestones == std::vector<int64_t>{3, 5});
  auto back = parseTrainConfig(formatTrainConfig(*c));
  REQUIRE(back.ok());
  CHECK(formatTrainConfig(*back) == formatTrainConfig(*c));
}

}  // namespace
}  // namespace sinter
