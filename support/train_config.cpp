// Training settings: PyTorch's optimizer defaults and the text form a built executable embeds.
#include "support/train_config.h"

#include <fmt/format.h>

#include <sstream>

namespace sinter {

namespace {
// Indexed by the enums' values.
constexpr std::string_view kOptimizerNames[] = {"sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta"};
constexpr std::string_view kScheduleNames[] = {"none", "step", "cosine", "multistep", "exponential", "onecycle", "inv"};
constexpr std::string_view kAugmentNames[] = {"random_crop", "hflip"};

}  // namespace

OptimizerConfig defaultOptimizer(OptimizerKind kind) {
  OptimizerConfig c;
  c.kind = kind;
  if (kind == OptimizerKind::Adam || kind == OptimizerKind::AdamW) c.lr = 0.001;
  if (kind == OptimizerKind::AdamW) c.weightDecay = 0.01;
  if (kind == OptimizerKind::Adagrad) c.eps = 1e-10;
  if (kind == OptimizerKind::Adadelta) c.lr = 1.0, c.eps = 1e-6;
  return c;
}

std::string_view optimizerName(OptimizerKind kind) {
  return kOptimizerNames[static_cast<int>(kind)];
}

std::span<const std::string_view> optimizerNames() { return kOptimizerNames; }

namespace {

std::string numbers(const std::vector<double>& v) {
  std::string out;
  for (double x : v) out += fmt::format(" {:.17g}", x);
  return out;
}

template <typename Enum, size_t N>
bool readEnum(std::string_view word, const std::string_view (&names)[N], Enum& out) {
  for (size_t i = 0; i < N; ++i)
    if (names[i] == word) { out = static_cast<Enum>(i); return true; }
  return false;
}

}  // namespace

std::string formatTrainConfig(const TrainConfig& c) {
  const OptimizerConfig& o = c.optimizer;
  std::string out = fmt::format("optimizer {}\n", optimizerName(o.kind));
  out += fmt::format("lr {:.17g}\nweight_decay {:.17g}\nmomentum {:.17g}\ndampening {:.17g}\nnesterov {}\n", o.lr,
                     o.weightDecay, o.momentum, o.dampening, o.nesterov ? 1 : 0);
  out += fmt::format("beta1 {:.17g}\nbeta2 {:.17g}\neps {:.17g}\n", o.beta1, o.beta2, o.eps);
  out += fmt::format("alpha {:.17g}\ncentered {}\nlr_decay {:.17g}\ninitial_accumulator_value {:.17g}\nrho {:.17g}\n",
                     o.alpha, o.centered ? 1 : 0, o.lrDecay, o.initialAccumulator, o.rho);
  out += fmt::format("weight_decay_exclude {} {}\n", o.decayExcludesBias ? 1 : 0, o.decayExcludesBatchnorm ? 1 : 0);
  out += fmt::format("batch {}\nepochs {}\n", c.batch, c.epochs);
  const ScheduleConfig& s = c.schedule;
  out += fmt::format("schedule {} {} {:.17g} {:.17g} {:.17g} {:.17g} {:.17g} {}\n", kScheduleNames[static_cast<int>(s.kind)], s.every,
                     s.gamma, s.minLr, s.maxLr, s.pctStart, s.power, s.warmupEpochs);
  out += "milestones";
  for (int64_t m : s.milestones) out += fmt::format(" {}", m);
  out += "\n";
  out += "augment";
  for (const Augmentation& a : c.augment)
    out += fmt::format(" {} {}", kAugmentNames[static_cast<int>(a.kind)], a.padding);
  out += fmt::format("\nmean{}\nstd{}\n", numbers(c.normalize.mean), numbers(c.normalize.std));
  out += fmt::format("validation {:.17g}\n", c.validation);
  out += fmt::format("early_stopping {} {} {:.17g}\n", c.earlyStopping.enabled ? 1 : 0, c.earlyStopping.patience,
                     c.earlyStopping.minDelta);
  out += fmt::format("seed {}\n", c.seed);
  return out;
}

Expected<TrainConfig> parseTrainConfig(std::string_view text) {
  TrainConfig c;
  OptimizerConfig& o = c.optimizer;
  std::istringstream lines{std::string(text)};
  std::string line;
  for (int lineNo = 1; std::getline(lines, line); ++lineNo) {
    std::istringstream in(line);
    std::string key, word;
    in >> key;
    bool good = true;
    auto readWord = [&](auto& names, auto& out) { good = (in >> word) && readEnum(word, names, out); };
    auto readNumbers = [&](std::vector<double>& out) {
      out.clear();
      for (double x; in >> x;) out.push_back(x);
      good = !out.empty() && in.eof();
    };
    int flag = 0;
    if (key == "optimizer") readWord(kOptimizerNames, o.kind);
    else if (key == "lr") good = bool(in >> o.lr);
    else if (key == "weight_decay") good = bool(in >> o.weightDecay);
    else if (key == "momentum") good = bool(in >> o.momentum);
    else if (key == "dampening") good = bool(in >> o.dampening);
    else if (key == "nesterov") { good = bool(in >> flag); o.nesterov = flag != 0; }
    else if (key == "beta1") good = bool(in >> o.beta1);
    else if (key == "beta2") good = bool(in >> o.beta2);
    else if (key == "eps") good = bool(in >> o.eps);
    else if (key == "alpha") good = bool(in >> o.alpha);
    else if (key == "centered") { good = bool(in >> flag); o.centered = flag != 0; }
    else if (key == "lr_decay") good = bool(in >> o.lrDecay);
    else if (key == "initial_accumulator_value") good = bool(in >> o.initialAccumulator);
    else if (key == "rho") good = bool(in >> o.rho);
    else if (key == "weight_decay_exclude") {
      int norm = 0;
      good = bool(in >> flag >> norm);
      o.decayExcludesBias = flag != 0;
      o.decayExcludesBatchnorm = norm != 0;
    }
    else if (key == "batch") good = bool(in >> c.batch);
    else if (key == "epochs") good = bool(in >> c.epochs);
    else if (key == "schedule") {
      ScheduleConfig& s = c.schedule;
      readWord(kScheduleNames, s.kind);
      good = good && (in >> s.every >> s.gamma >> s.minLr >> s.maxLr >> s.pctStart >> s.power >> s.warmupEpochs);
    } else if (key == "milestones") {
      c.schedule.milestones.clear();
      for (int64_t m; in >> m;) c.schedule.milestones.push_back(m);
      good = in.eof();
    } else if (key == "augment") {
      c.augment.clear();
      while (good && in >> word) {
        Augmentation a;
        good = readEnum(word, kAugmentNames, a.kind) && (in >> a.padding);
        c.augment.push_back(a);
      }
    } else if (key == "mean") readNumbers(c.normalize.mean);
    else if (key == "std") readNumbers(c.normalize.std);
    else if (key == "validation") good = bool(in >> c.validation);
    else if (key == "early_stopping") {
      good = bool(in >> flag >> c.earlyStopping.patience >> c.earlyStopping.minDelta);
      c.earlyStopping.enabled = flag != 0;
    } else if (key == "seed") good = bool(in >> c.seed);
    else if (!key.empty()) good = false;
    // Nothing may follow what the key reads: "lr 0.1 0.2" is not a learning rate.
    if (good && !key.empty()) good = (in >> std::ws).eof();
    if (!good) return Error(fmt::format("train settings line {}: cannot read '{}'", lineNo, line));
  }
  return c;
}

}  // namespace sinter
