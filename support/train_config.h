// Training settings: the model's `train` block as typed values with PyTorch's defaults. The
// frontend reads them from source (frontend/train_config.h); the runtime's trainer consumes them; a
// built executable carries them as text (formatTrainConfig / parseTrainConfig).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "support/error.h"

namespace sinter {

enum class OptimizerKind : uint8_t { Sgd, Adam, AdamW, RmsProp, Adagrad, Adadelta };

// The initializers here are SGD's defaults and those every optimizer shares; defaultOptimizer()
// applies the few that differ for the others. Together they are the one place defaults live.
struct OptimizerConfig {
  OptimizerKind kind = OptimizerKind::Sgd;
  double lr = 0.01;
  double weightDecay = 0;
  // sgd
  double momentum = 0;  // and rmsprop
  double dampening = 0;
  bool nesterov = false;
  // adam, adamw
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;  // and rmsprop, adagrad, adadelta
  // rmsprop
  double alpha = 0.99;
  bool centered = false;
  // adagrad
  double lrDecay = 0;
  double initialAccumulator = 0;  // initial_accumulator_value
  // adadelta
  double rho = 0.9;
  // weight_decay_exclude = [bias, batchnorm]: no weight decay on biases (every `*.bias`) and on
  // batch norm's weight and bias, as recipes put them in a parameter group with weight_decay 0.
  bool decayExcludesBias = false;
  bool decayExcludesBatchnorm = false;
};

enum class ScheduleKind : uint8_t { None, Step, Cosine, MultiStep, Exponential, OneCycle, Inv };

// The learning rate over training, with the formula of the PyTorch scheduler or Caffe policy of
// the same name (runtime/trainer.cpp scheduledLr). Per epoch: step (lr gamma^floor(epoch/every)),
// multistep (lr gamma^(milestones passed)), exponential (lr gamma^epoch), cosine (from lr down to
// minLr over the epochs). Per step: onecycle (OneCycleLR: cosine from maxLr/25 up to maxLr over
// pctStart of the steps, then down to maxLr/25/1e4), inv (lr (1 + gamma step)^-power).
// warmupEpochs: a linear warmup, per step, up to the schedule's first rate; the schedule then
// runs over the remaining epochs as if they were all (PyTorch's SequentialLR).
struct ScheduleConfig {
  ScheduleKind kind = ScheduleKind::None;
  int64_t every = 1;
  double gamma = 0.1;
  double minLr = 0;
  std::vector<int64_t> milestones;
  double maxLr = 0;
  double pctStart = 0.3;
  double power = 1;
  int64_t warmupEpochs = 0;
  // Whether the rate changes within an epoch (the trainer then writes it every step).
  bool perStep() const { return kind == ScheduleKind::OneCycle || kind == ScheduleKind::Inv || warmupEpochs > 0; }
};

enum class AugmentKind : uint8_t { RandomCrop, HFlip };

// Applied in the order written. RandomCrop pads each side by `padding` and crops back to size.
struct Augmentation {
  AugmentKind kind = AugmentKind::HFlip;
  int64_t padding = 0;
};

// (x - mean) / std per channel; a single value applies to every channel.
struct NormalizeConfig {
  std::vector<double> mean{0.5};
  std::vector<double> std{0.5};
};

// Stop when validation loss has not improved by more than minDelta for `patience` epochs.
struct EarlyStoppingConfig {
  bool enabled = false;
  int64_t patience = 5;
  double minDelta = 0;
};

// Training settings: the model's defaults, which the trainer's command-line flags override.
struct TrainConfig {
  OptimizerConfig optimizer;
  int64_t batch = 64;
  int64_t epochs = 10;
  ScheduleConfig schedule;
  std::vector<Augmentation> augment;
  NormalizeConfig normalize;
  double validation = 0;  // fraction of the training set held out, in [0, 1)
  EarlyStoppingConfig earlyStopping;
  uint64_t seed = 0;
};

// PyTorch's defaults for `kind` (lr 0.001 for adam and adamw, 1.0 for adadelta; weight_decay 0.01
// for adamw; eps 1e-10 for adagrad, 1e-6 for adadelta).
OptimizerConfig defaultOptimizer(OptimizerKind kind);
std::string_view optimizerName(OptimizerKind kind);
// Every optimizer's name, in the order of OptimizerKind.
std::span<const std::string_view> optimizerNames();

// A line-per-setting text form ("lr 0.01", "augment random_crop 4 hflip 0", ...) that round-trips
// exactly (doubles are written with 17 significant digits). Built executables embed it.
std::string formatTrainConfig(const TrainConfig& config);
Expected<TrainConfig> parseTrainConfig(std::string_view text);

}  // namespace sinter
