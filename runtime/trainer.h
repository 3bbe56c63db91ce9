// The training loop over an Executor: epochs of train_step on shuffled, augmented batches, the LR
// schedule, evaluation, progress and per-epoch reports, JSON logs, early stopping and checkpoints.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "runtime/checkpoint.h"
#include "runtime/dataset.h"
#include "runtime/executor.h"
#include "runtime/numerics.h"
#include "support/error.h"
#include "support/train_config.h"

namespace sinter {

inline constexpr const char* kDefaultDataDir = "/usr/share/datasets/fashion-mnist";

struct TrainerOptions {
  TrainConfig config;  // the model's train block with the command line's overrides applied
  std::string dataDir = kDefaultDataDir;
  int threads = 0;     // 0: all cores
  bool seedGiven = false;  // --seed was given: a resume from a checkpoint with another seed is an error
  std::string savePath;    // written after every epoch (atomically), so an interrupted run can resume
  std::string resumePath;  // continue from this checkpoint: bitwise the run it came from, same threads
  bool allowUnexpected = false;  // --allow-unexpected: tensors of the checkpoint the model lacks are ignored
  std::string logPath;     // JSON lines, one per epoch (appended to when resuming)
  int64_t maxBatch = 0;    // the plan's; 0 takes it from the plan
  // End the run after this many epochs have completed, as an interruption would (0: run them all).
  // The schedule still spans config.epochs; for tests of --resume.
  int64_t stopAfter = 0;
  std::FILE* out = stdout;  // progress and reports; a terminal gets a `\r` progress bar
  // Called after every training step with the steps done so far; tests raise signals from it.
  std::function<void(int64_t step)> afterStep;
  // Copies what each step reads, so that a non-finite loss is traced to the op and model line that
  // made it (runtime/numerics.h); null: the report names the first non-finite buffer only.
  StepReplay* replay = nullptr;
  // --check-numerics: replay every step, and stop at the first one with a non-finite value anywhere
  // in it, even one the loss does not show. Needs `replay`.
  bool checkNumerics = false;
};

// One evaluation: mean loss weighted by batch size, and top-1 accuracy of the first output (or `probs`).
struct EvalResult {
  int64_t count = 0;
  bool hasLoss = false;
  double loss = 0;
  double accuracy = 0;  // fraction in [0, 1]
};

struct EpochReport {
  int64_t epoch = 0;  // 1-based
  double lr = 0;
  double trainLoss = 0;
  bool hasValidation = false, hasTest = false;
  EvalResult validation, test;
  double seconds = 0;
  double dataWait = 0;  // share of the epoch's training steps spent waiting for the input pipeline
};

struct TrainResult {
  std::vector<EpochReport> epochs;  // those this run finished (after the resumed ones)
  CheckpointInfo state;             // where training stands at the end
  int64_t stepsPerEpoch = 0;
  bool stoppedEarly = false;
  bool interrupted = false;   // SIGINT or SIGTERM: state (and --save) hold where it stopped
  int64_t restoredEpoch = 0;  // early stopping gave back this epoch's weights (0: none this run)
};

// The buffers a plan function reads and writes for the trainer: the image input (the f32 input), the
// label input (the i32 one), `loss`, and the prediction (`probs`, else the first other result).
struct FunctionIo {
  const PlanFunction* function = nullptr;
  const PlanBuffer* image = nullptr;
  const PlanBuffer* label = nullptr;   // nullptr when the function takes no labels
  const PlanBuffer* loss = nullptr;    // nullptr when the function returns no loss
  const PlanBuffer* output = nullptr;  // nullptr when it returns nothing but the loss
  int64_t imageSize = 0;               // elements per image
  int64_t outputSize = 0;              // elements per image of output
};
Expected<FunctionIo> functionIo(const PlanTable& table, std::string_view name);
// The image input's shape without B, "[1, 28, 28]".
std::string imageShapeString(const FunctionIo& io);
// Whether images of channels x height x width fit the image input; the error names both shapes.
Status checkImageShape(const FunctionIo& io, int64_t channels, int64_t height, int64_t width, std::string_view what);

// Host copies of a function's inputs for up to `batch` images (labels zero until filled), written
// through the executor: the Batcher (train, eval) and predict assemble batches here.
struct InputStaging {
  std::vector<float> image;
  std::vector<int32_t> labels;
  InputStaging(const FunctionIo& io, int64_t batch)
      : image(static_cast<size_t>(batch * io.imageSize)), labels(io.label ? static_cast<size_t>(batch) : 0) {}
  int32_t* labelData() { return labels.empty() ? nullptr : labels.data(); }
  // The first n images (and labels) into the function's input buffers at batch size n.
  void write(Executor& program, const FunctionIo& io, int64_t n) const {
    program.writeFrom<float>(*io.image, n, std::span(image).first(static_cast<size_t>(n * io.imageSize)));
    if (io.label) program.writeFrom<int32_t>(*io.label, n, std::span(labels).first(static_cast<size_t>(n)));
  }
};

// The learning rate at step `step` (0-based, of stepsPerEpoch) of 0-based epoch `epoch`, by the
// schedule (support/train_config.h ScheduleConfig): constant; step (lr gamma^floor(e / every));
// multistep; exponential; cosine (minLr + (lr - minLr)(1 + cos(pi e / epochs)) / 2); onecycle; inv;
// each after an optional linear warmup.
double scheduledLr(const TrainConfig& config, int64_t epoch, int64_t step = 0, int64_t stepsPerEpoch = 1);

// Trains `program` on data.train (minus the validation split) and evaluates on the split and on
// data.test after every epoch. Writes `train.lr` at each epoch's start and `train.seed` on a fresh
// start. A non-finite loss stops with "loss is nan at step 1234 (epoch 2)" and the replay's report
// of the op and model line the first non-finite value came from (without a replay, the first buffer
// in plan order that holds a non-finite value).
// While it runs, SIGINT and SIGTERM (unless ignored when it starts, as in a shell's background job)
// end the run after the step in flight: --save then holds the position inside the epoch, which
// --resume continues bit for bit, and the result says `interrupted`. A second signal exits at once
// with status 130. The previous handlers are back when it returns.
Expected<TrainResult> train(Executor& program, const DataSplits& data, const TrainerOptions& options);

// Runs "eval" over data[begin, end) in batches of up to batch images.
Expected<EvalResult> evaluate(Executor& program, const Dataset& data, int64_t begin, int64_t end,
                              const NormalizeConfig& normalize, int64_t batch);

// "epoch 3/10  train loss 0.4123  test loss 0.3890  test acc 86.21%  lr 0.01  12.3 s  data wait 0.2%",
// validation too when there is a split.
std::string formatEpochLine(const EpochReport& report, int64_t epochs);
// The same as one JSON object (accuracies as fractions): {"epoch":3,"epochs":10,"lr":...,"train_loss":...}.
std::string formatEpochJson(const EpochReport& report, int64_t epochs, int64_t step);

}  // namespace sinter
