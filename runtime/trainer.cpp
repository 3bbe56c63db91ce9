// The epoch loop: batches through the executor into the input buffers, run, loss bookkeeping,
// reports, checkpoints.
#include "runtime/trainer.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <iterator>
#include <numbers>

#include "runtime/batcher.h"
#include "runtime/pipeline.h"
#include "runtime/json.h"

namespace sinter {

namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string dimsString(const PlanBuffer& b, int first) {
  std::string out = "[";
  for (int i = first; i < b.rank; ++i)
    out += fmt::format("{}{}", i > first ? ", " : "", b.dims[i] == kPlanBatch ? std::string("B") : std::to_string(b.dims[i]));
  return out + "]";
}

int64_t perSample(const PlanBuffer& b) {
  int64_t n = 1;
  for (int i = 1; i < b.rank; ++i) n *= b.dims[i];
  return n;
}

bool batched(const PlanBuffer& b) { return b.rank >= 1 && b.dims[0] == kPlanBatch; }


// The first buffer in plan order that holds a non-finite f32 value at batch size `batch`.
std::string firstNonFinite(Executor& program, int64_t batch) {
  const PlanTable& table = program.table();
  for (int32_t i = 0; i < table.numBuffers; ++i) {
    const PlanBuffer& b = table.buffers[i];
    if (b.type != BufferType::F32) continue;
    const std::vector<float> v = program.readAs<float>(b, batch);
    const auto n = static_cast<int64_t>(v.size());
    for (int64_t j = 0; j < n; ++j)
      if (!std::isfinite(v[j])) return fmt::format("; first non-finite buffer: '{}' (element {} is {})", b.name, j, nonFiniteName(v[j]));
  }
  return "";
}

// After a step whose loss is not finite (or every step with --check-numerics): the replay's report
// of the first non-finite op, under a line with the loss, the step and the epoch.
// `made` is the step the replay captured: `step` itself, or the earlier one whose update made the
// first non-finite value of the state.
Status checkStep(Executor& program, const StepReplay* replay, float loss, int64_t step, int64_t made, int64_t epoch,
                 int64_t batch) {
  const std::string at = fmt::format(" at step {} (epoch {})", step, epoch);
  std::string head = std::isfinite(loss) ? fmt::format("a value of the training step is not finite{} (loss {}, --check-numerics)", at, loss)
                                         : fmt::format("loss is {}{}", nonFiniteName(loss), at);
  if (replay && made != step) head += fmt::format("; step {} made the first non-finite value, in the model's state", made);
  if (!replay) return Error(head + firstNonFinite(program, batch));
  Status found = replay->replay();
  if (found) {
    if (std::isfinite(loss)) return ok();
    return Error(fmt::format("{}, but its replay on the reference evaluator stays finite: the compiled step and the "
                             "reference differ here{}",
                             head, firstNonFinite(program, batch)));
  }
  Error e(head);
  for (Diag& d : found.error().diags) e.diags.push_back(std::move(d));
  return e;
}

int64_t argmax(const float* row, int64_t n) {
  int64_t best = 0;
  for (int64_t k = 1; k < n; ++k)
    if (row[k] > row[best]) best = k;
  return best;
}

// A progress display for one epoch: a `\r` bar on a terminal (at most 10 updates a second), else a
// plain line every 10 seconds.
class Progress {
 public:
  // `first`: the step a resumed epoch starts at.
  Progress(std::FILE* out, int64_t epoch, int64_t epochs, int64_t first, int64_t steps)
      : out_(out), tty_(out && ::isatty(::fileno(out))), epoch_(epoch), epochs_(epochs), first_(first), steps_(steps) {}

  void update(int64_t step, double runningLoss) {
    if (!out_) return;
    const double now = secondsSince(start_);
    if (now - last_ < (tty_ ? 0.1 : 10.0) && step != steps_) return;
    last_ = now;
    const double rate = now > 0 ? static_cast<double>(step - first_) / now : 0;
    if (tty_) {
      constexpr int kWidth = 24;
      const auto filled = static_cast<int>(kWidth * step / std::max<int64_t>(steps_, 1));
      fmt::print(out_, "\repoch {}/{} [{}{}] {}/{}  {:.1f} steps/s  loss {:.4f}\033[K", epoch_, epochs_,
                 std::string(static_cast<size_t>(filled), '='), std::string(static_cast<size_t>(kWidth - filled), ' '),
                 step, steps_, rate, runningLoss);
      shown_ = true;
    } else if (step != steps_) {
      fmt::print(out_, "epoch {}/{}  step {}/{}  {:.1f} steps/s  loss {:.4f}\n", epoch_, epochs_, step, steps_, rate,
                 runningLoss);
    }
    std::fflush(out_);
  }

  // Clears the bar so the epoch line takes its place.
  void finish() {
    if (shown_) fmt::print(out_, "\r\033[K");
  }

 private:
  std::FILE* out_;
  bool tty_;
  int64_t epoch_, epochs_, first_, steps_;
  Clock::time_point start_ = Clock::now();
  double last_ = 0;
  bool shown_ = false;
};

Status writeScalar(Executor& program, const char* name, BufferType type, double value) {
  const PlanBuffer* b = program.buffer(name);
  if (!b) return ok();
  if (b->type != type || program.elements(*b, 1) != 1)
    return Error(fmt::format("the plan's '{}' is not a scalar of the expected type", name));
  if (type == BufferType::F32) program.writeScalar(*b, static_cast<float>(value));
  else program.writeScalar(*b, static_cast<int32_t>(value));
  return ok();
}

// Host copies of some of the program's global storage, to put back later: the state snapshot that a
// non-finite loss is traced from, and early stopping's best weights.
class HostCopy {
 public:
  // Copies every buffer that is a global's storage and passes `which`.
  void take(Executor& program, bool (*which)(const PlanBuffer&)) {
    const PlanTable& table = program.table();
    buffers_.clear();
    for (int32_t i = 0; i < table.numBuffers; ++i) {
      const PlanBuffer& b = table.buffers[i];
      if (!isGlobalStorage(b) || !which(b)) continue;
      std::vector<std::byte> bytes(static_cast<size_t>(Executor::elements(b, 1)) * 4);
      program.read(b, 1, bytes);
      buffers_.emplace_back(&b, std::move(bytes));
    }
  }
  void add(const PlanBuffer* b, std::vector<std::byte> bytes) { buffers_.emplace_back(b, std::move(bytes)); }
  void clear() { buffers_.clear(); }
  void restore(Executor& program) const {
    for (const auto& [b, bytes] : buffers_) program.write(*b, 1, bytes);
  }
  const std::vector<std::pair<const PlanBuffer*, std::vector<std::byte>>>& buffers() const { return buffers_; }

 private:
  std::vector<std::pair<const PlanBuffer*, std::vector<std::byte>>> buffers_;
};

// The whole state (parameters, optimizer state, step and rate) is copied every kSnapshotEvery steps.
// A non-finite loss is traced by restoring it and re-running the steps since (bit for bit the same
// steps) up to the failing one, whose inputs the replay then captures: one copy of the state per
// kSnapshotEvery steps instead of one before every step.
bool wholeState(const PlanBuffer&) { return true; }
constexpr int64_t kSnapshotEvery = 100;

// Whether every global's storage (parameters, optimizer state) holds finite values only.
bool stateFinite(Executor& program) {
  const PlanTable& table = program.table();
  for (int32_t i = 0; i < table.numBuffers; ++i) {
    const PlanBuffer& b = table.buffers[i];
    if (!isGlobalStorage(b) || b.type != BufferType::F32) continue;
    for (float v : program.readAs<float>(b, 1))
      if (!std::isfinite(v)) return false;
  }
  return true;
}

// Restores `snapshot`, taken before step `from` of epoch `epoch`, and runs steps [from, to] again
// until the first one after which the loss or the state is not finite (at the latest `to`, whose
// loss was not): that step made the first non-finite value, so its inputs and state, captured just
// before it ran, are what the replay needs. Returns its index in the epoch.
Expected<int64_t> rerunToFirstNonFinite(Executor& program, const HostCopy& snapshot, const Batcher& batches,
                                        const FunctionIo& io, const TrainConfig& config, int64_t epoch, int64_t from,
                                        int64_t to, int64_t steps, int64_t batch, StepReplay& replay) {
  snapshot.restore(program);
  InputStaging staging(io, batch);
  for (int64_t j = from; j <= to; ++j) {
    if (config.schedule.perStep() && j > from)
      if (Status s = writeScalar(program, "train.lr", BufferType::F32, scheduledLr(config, epoch, j, steps)); !s) return s.error();
    const int64_t n = batches.fill(j, batch, staging.image.data(), staging.labelData(), /*augment=*/true);
    staging.write(program, io, n);
    replay.capture(program, n);
    if (Status s = program.run("train_step", n); !s) return s.error();
    if (!std::isfinite(program.readScalar<float>(*io.loss)) || !stateFinite(program)) return j;
  }
  return to;
}

// SIGINT and SIGTERM for the duration of train(). The first sets a flag that the step loop reads
// after each step; a second exits at once. A handler may only do async-signal-safe work: a
// lock-free atomic exchange and _exit qualify.
std::atomic<int> gSignal{0};
static_assert(std::atomic<int>::is_always_lock_free);

void onSignal(int signo) {
  if (gSignal.exchange(signo) != 0) ::_exit(130);
}

class SignalGuard {
 public:
  SignalGuard() {
    gSignal.store(0);
    struct sigaction action {};
    action.sa_handler = onSignal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;  // reads and writes in flight carry on rather than fail with EINTR
    for (size_t i = 0; i < std::size(kSignals); ++i) {
      sigaction(kSignals[i], nullptr, &previous_[i]);
      // A signal ignored on entry stays ignored (a background job of a shell without job control,
      // nohup): as the shell meant it.
      if (previous_[i].sa_handler != SIG_IGN) sigaction(kSignals[i], &action, nullptr);
    }
  }
  ~SignalGuard() {
    for (size_t i = 0; i < std::size(kSignals); ++i) sigaction(kSignals[i], &previous_[i], nullptr);
  }
  SignalGuard(const SignalGuard&) = delete;
  SignalGuard& operator=(const SignalGuard&) = delete;

  static bool raised() { return gSignal.load() != 0; }

 private:
  static constexpr int kSignals[] = {SIGINT, SIGTERM};
  struct sigaction previous_[std::size(kSignals)] {};
};

// The model's own state (parameters, batch-norm running statistics: isModelState) at the best
// validation loss so far, in host memory, for early stopping to give back. Optimizer state and
// counters are not part of it, as in Keras' restore_best_weights. With --save it is also written
// next to the checkpoint (bestWeightsPath), so a resumed run restores it too.
struct BestWeights {
  int64_t epoch = 0;  // 0: none taken (or read back)
  HostCopy weights;

  Status take(Executor& program, int64_t at, const std::string& savePath) {
    epoch = at;
    weights.take(program, isModelState);
    if (savePath.empty()) return ok();
    TensorFile file;
    for (const auto& [b, bytes] : weights.buffers()) {
      NamedTensor tensor{b->name, b->type == BufferType::I32 ? ElemType::I32 : ElemType::F32, {}, {}};
      tensor.shape.assign(b->dims, b->dims + b->rank);
      const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
      tensor.bytes.assign(data, data + bytes.size());
      file.tensors.push_back(std::move(tensor));
    }
    file.metadata = {{"format", "sinter-checkpoint"}, {"model", program.table().model}, {"epoch", std::to_string(at)}};
    return writeSafetensors(bestWeightsPath(savePath), file);
  }
  // The weights of epoch `at` from the file take() wrote next to checkpoint `resumed`. A file that
  // is missing or holds another epoch (a crash between its write and the checkpoint's) leaves none,
  // and says so: early stopping then keeps the last weights.
  void readBack(Executor& program, const std::string& resumed, int64_t at, std::FILE* out) {
    const std::string path = bestWeightsPath(resumed);
    auto ckpt = readCheckpoint(path);
    std::string problem;
    if (!ckpt) problem = ckpt.error().message();
    else if (ckpt->info.epoch != at) problem = fmt::format("{} holds epoch {}", path, ckpt->info.epoch);
    if (problem.empty()) {
      for (const NamedTensor& tensor : ckpt->file.tensors) {
        const PlanBuffer* b = program.buffer(tensor.name);
        if (!b || !isModelState(*b) || tensor.bytes.size() != static_cast<size_t>(Executor::elements(*b, 1)) * 4) {
          problem = fmt::format("{}: tensor '{}' does not fit the model", path, tensor.name);
          break;
        }
        const auto* data = reinterpret_cast<const std::byte*>(tensor.bytes.data());
        weights.add(b, std::vector<std::byte>(data, data + tensor.bytes.size()));
      }
    }
    if (problem.empty()) {
      epoch = at;
      return;
    }
    weights.clear();
    if (out)
      fmt::print(out, "early stopping: no weights of epoch {}, the best so far ({}); stopping early will keep the last ones\n",
                 at, problem);
  }
  void restore(Executor& program) const { weights.restore(program); }
};

}  // namespace

Expected<FunctionIo> functionIo(const PlanTable& table, std::string_view name) {
  FunctionIo io;
  for (int32_t f = 0; f < table.numFunctions; ++f)
    if (name == table.functions[f].name) io.function = &table.functions[f];
  if (!io.function) {
    if (name == "train_step")
      return Error(fmt::format("model '{}' has no loss, so it cannot be trained", table.model));
    return Error(fmt::format("the plan of model '{}' has no function '{}'", table.model, name));
  }
  for (int32_t i = 0; i < io.function->numInputs; ++i) {
    const PlanBuffer& b = table.buffers[io.function->inputs[i]];
    const PlanBuffer*& slot = b.type == BufferType::F32 ? io.image : io.label;
    if (slot) return Error(fmt::format("model '{}' has more than one {} input ('{}' and '{}'); the trainer feeds one "
                                       "image and one label input", table.model, b.type == BufferType::F32 ? "f32" : "i32",
                                       slot->name, b.name));
    if (!batched(b) || (b.type == BufferType::I32 && b.rank != 1))
      return Error(fmt::format("model input '{}' is {}: the trainer feeds inputs of shape [B, ...] (labels [B])",
                               b.name, dimsString(b, 0)));
    slot = &b;
  }
  if (!io.image) return Error(fmt::format("model '{}' has no f32 image input", table.model));
  io.imageSize = perSample(*io.image);
  for (int32_t i = 0; i < io.function->numResults; ++i) {
    const PlanBuffer& b = table.buffers[io.function->results[i]];
    const std::string_view result = io.function->resultNames[i];
    if (result == "loss") {
      io.loss = &b;
    } else if (batched(b) && b.type == BufferType::F32 && (!io.output || result == "probs")) {
      if (!io.output || std::string_view(io.output->name) != "probs") io.output = &b;
    }
  }
  if (io.output) io.outputSize = perSample(*io.output);
  return io;
}

std::string imageShapeString(const FunctionIo& io) { return dimsString(*io.image, 1); }

Status checkImageShape(const FunctionIo& io, int64_t channels, int64_t height, int64_t width, std::string_view what) {
  const PlanBuffer& b = *io.image;
  const bool fits = b.rank == 4 ? (b.dims[1] == channels && b.dims[2] == height && b.dims[3] == width)
                                : io.imageSize == channels * height * width;
  if (fits) return ok();
  return Error(fmt::format("model input '{}' is [B, {}] but {} are [{}, {}, {}]", b.name,
                           dimsString(b, 1).substr(1, dimsString(b, 1).size() - 2), what, channels, height, width));
}

namespace {

// b + (a - b) (1 + cos(pi t)) / 2: from a at t = 0 to b at t = 1 (OneCycleLR's cosine annealing).
double cosineFrom(double a, double b, double t) { return b + (a - b) * (1 + std::cos(std::numbers::pi * t)) / 2; }

// The schedule after any warmup, at epoch e and global step g of its own timeline of E epochs
// and `total` steps.
double scheduleAt(const TrainConfig& config, int64_t e, int64_t g, int64_t E, int64_t total) {
  const ScheduleConfig& s = config.schedule;
  const double lr0 = config.optimizer.lr;
  switch (s.kind) {
    case ScheduleKind::None: return lr0;
    case ScheduleKind::Step: return lr0 * std::pow(s.gamma, static_cast<double>(e / std::max<int64_t>(s.every, 1)));
    case ScheduleKind::MultiStep: {
      const auto passed = std::upper_bound(s.milestones.begin(), s.milestones.end(), e) - s.milestones.begin();
      return lr0 * std::pow(s.gamma, static_cast<double>(passed));
    }
    case ScheduleKind::Exponential: return lr0 * std::pow(s.gamma, static_cast<double>(e));
    case ScheduleKind::Cosine:
      return cosineFrom(lr0, s.minLr, static_cast<double>(e) / static_cast<double>(std::max<int64_t>(E, 1)));
    case ScheduleKind::OneCycle: {
      // PyTorch's defaults: div_factor 25, final_div_factor 1e4, two phases.
      const double initial = s.maxLr / 25, last = initial / 1e4;
      const double upEnd = s.pctStart * static_cast<double>(total) - 1, downEnd = static_cast<double>(total) - 1;
      const double step = static_cast<double>(g);
      if (step <= upEnd) return cosineFrom(initial, s.maxLr, upEnd > 0 ? step / upEnd : 1);
      return cosineFrom(s.maxLr, last, downEnd > upEnd ? (step - upEnd) / (downEnd - upEnd) : 1);
    }
    case ScheduleKind::Inv: return lr0 * std::pow(1 + s.gamma * static_cast<double>(g), -s.power);
  }
  return lr0;
}

}  // namespace

double scheduledLr(const TrainConfig& config, int64_t epoch, int64_t step, int64_t stepsPerEpoch) {
  const int64_t spe = std::max<int64_t>(stepsPerEpoch, 1), warmup = config.schedule.warmupEpochs;
  const int64_t g = epoch * spe + step, warmupSteps = warmup * spe;
  const int64_t E = std::max<int64_t>(config.epochs - warmup, 1);
  // A linear warmup up to the schedule's first rate, then the schedule from its own start.
  if (g < warmupSteps)
    return scheduleAt(config, 0, 0, E, E * spe) * static_cast<double>(g + 1) / static_cast<double>(warmupSteps);
  return scheduleAt(config, epoch - warmup, g - warmupSteps, E, E * spe);
}

Expected<EvalResult> evaluate(Executor& program, const Dataset& data, int64_t begin, int64_t end,
                              const NormalizeConfig& normalize, int64_t batch) {
  auto io = functionIo(program.table(), "eval");
  if (!io) return io.error();
  if (!io->output && !io->loss) return Error("the eval function returns neither an output nor a loss");
  if (Status s = checkImageShape(*io, data.channels, data.height, data.width, "the data set's images"); !s)
    return s.error();
  if (Status s = checkNormalize(normalize, data.channels); !s) return s.error();
  if (Status s = program.prepare(batch); !s) return s.error();
  Batcher batcher(data, begin, end, {normalize, {}, 0});
  InputStaging staging(*io, batch);
  EvalResult result;
  result.hasLoss = io->loss && io->label;
  double lossSum = 0;
  int64_t correct = 0;
  for (int64_t i = 0; i < batcher.batches(batch); ++i) {
    const int64_t first = i * batch;
    const int64_t n = batcher.fill(i, batch, staging.image.data(), staging.labelData(), false);
    staging.write(program, *io, n);
    if (Status s = program.run("eval", n); !s) return s.error();
    if (result.hasLoss) lossSum += static_cast<double>(program.readScalar<float>(*io->loss)) * static_cast<double>(n);
    if (io->output) {
      const std::vector<float> out = program.readAs<float>(*io->output, n);
      for (int64_t j = 0; j < n; ++j)
        correct += argmax(out.data() + j * io->outputSize, io->outputSize) ==
                   data.labels[static_cast<size_t>(batcher.order()[static_cast<size_t>(first + j)])];
    }
  }
  result.count = batcher.size();
  if (result.count > 0) {
    result.loss = lossSum / static_cast<double>(result.count);
    result.accuracy = static_cast<double>(correct) / static_cast<double>(result.count);
  }
  return result;
}

std::string formatEpochLine(const EpochReport& r, int64_t epochs) {
  std::string line = fmt::format("epoch {}/{}  train loss {:.4f}", r.epoch, epochs, r.trainLoss);
  const auto add = [&](const char* what, const EvalResult& e) {
    if (e.hasLoss) line += fmt::format("  {} loss {:.4f}", what, e.loss);
    line += fmt::format("  {} acc {:.2f}%", what, 100 * e.accuracy);
  };
  if (r.hasValidation) add("val", r.validation);
  if (r.hasTest) add("test", r.test);
  return line + fmt::format("  lr {:.4g}  {:.1f} s  data wait {:.1f}%", r.lr, r.seconds, 100 * r.dataWait);
}

std::string formatEpochJson(const EpochReport& r, int64_t epochs, int64_t step) {
  Json j = Json::object();
  j.set("epoch", r.epoch);
  j.set("epochs", epochs);
  j.set("step", step);
  j.set("lr", r.lr);
  j.set("train_loss", r.trainLoss);
  const auto add = [&](const char* what, const EvalResult& e) {
    if (e.hasLoss) j.set(fmt::format("{}_loss", what), e.loss);
    j.set(fmt::format("{}_acc", what), e.accuracy);
  };
  if (r.hasValidation) add("val", r.validation);
  if (r.hasTest) add("test", r.test);
  j.set("seconds", r.seconds);
  j.set("data_wait", r.dataWait);
  return writeJson(j);
}

Expected<TrainResult> train(Executor& program, const DataSplits& data, const TrainerOptions& options) {
  const TrainConfig& config = options.config;
  const PlanTable& table = program.table();
  std::FILE* out = options.out;
  auto io = functionIo(table, "train_step");
  if (!io) return io.error();
  if (!io->loss) return Error(fmt::format("the plan of model '{}' returns no loss from train_step", table.model));
  if (!io->label && io->function->numInputs > 1) return Error("train_step takes no label input");
  const Dataset& set = data.train;
  if (set.empty()) return Error(fmt::format("{} has no training set", options.dataDir));
  if (Status s = checkImageShape(*io, set.channels, set.height, set.width, "the training images"); !s) return s.error();
  if (Status s = checkNormalize(config.normalize, set.channels); !s) return s.error();
  const int64_t maxBatch = options.maxBatch > 0 ? options.maxBatch : table.maxBatch;
  const int64_t batch = config.batch;
  if (batch < 1 || batch > maxBatch)
    return Error(fmt::format("batch {} is above the plan's maximum batch {}", batch, maxBatch));
  if (auto evalIo = functionIo(table, "eval"); evalIo && evalIo->output && evalIo->outputSize < set.classes)
    return Error(fmt::format("model output '{}' has {} values per image but the data has {} classes",
                             evalIo->output->name, evalIo->outputSize, set.classes));
  const SplitSizes split = splitSizes(set.count, config.validation);
  if (split.train == 0) return Error(fmt::format("validation {} leaves no training images", config.validation));
  if (config.earlyStopping.enabled && split.validation == 0)
    return Error("early stopping watches the validation loss, but there is no validation split");
  if ((config.schedule.kind != ScheduleKind::None || config.schedule.warmupEpochs > 0) && !program.buffer("train.lr"))
    return Error("the plan has no 'train.lr' buffer, so the learning rate cannot follow a schedule");

  // From here on, SIGINT and SIGTERM end the run after a step, with its position saved.
  const SignalGuard signals;
  // Where to start: fresh, or from a checkpoint, whose seed then drives everything.
  TrainResult result;
  CheckpointInfo& state = result.state;
  BestWeights best;
  state.model = table.model;
  state.seed = config.seed;
  if (!options.resumePath.empty()) {
    auto ckpt = readCheckpoint(options.resumePath);
    if (!ckpt) return ckpt.error();
    if (options.seedGiven && ckpt->info.seed != config.seed)
      return Error(fmt::format("--seed {} differs from the seed {} that {} was trained with", config.seed,
                               ckpt->info.seed, options.resumePath));
    std::vector<std::string> ignored;
    if (Status s = applyCheckpoint(*ckpt, program, LoadMode::Resume, options.allowUnexpected ? &ignored : nullptr); !s)
      return s.error();
    reportIgnored(out, options.resumePath, table.model, ignored);
    state = ckpt->info;
    state.model = table.model;
    if (config.earlyStopping.enabled && state.bestEpoch > 0) best.readBack(program, options.resumePath, state.bestEpoch, out);
  } else if (Status s = writeScalar(program, "train.seed", BufferType::I32, static_cast<double>(static_cast<int32_t>(config.seed))); !s) {
    return s.error();
  }

  std::FILE* log = nullptr;
  if (!options.logPath.empty()) {
    log = std::fopen(options.logPath.c_str(), options.resumePath.empty() ? "w" : "a");
    if (!log) return Error(fmt::format("cannot open {} for writing: {}", options.logPath, std::strerror(errno)));
  }
  struct Closer {
    std::FILE* f;
    ~Closer() {
      if (f) std::fclose(f);
    }
  } closeLog{log};

  Batcher trainBatches(set, 0, split.train, {config.normalize, config.augment, state.seed});
  const int64_t steps = trainBatches.batches(batch);
  result.stepsPerEpoch = steps;
  // An interrupted epoch continues at its next batch index, which names the same images only at the
  // same batch size.
  if (state.epochStep > 0 && state.batch != batch)
    return Error(fmt::format("{} stopped {} steps into epoch {} at batch {}; resume it at batch {}, not {}",
                             options.resumePath, state.epochStep, state.epoch + 1, state.batch, state.batch, batch));
  state.batch = batch;
  if (out) {
    fmt::print(out, "training {} on {} train images{}{}; {} steps of batch {} per epoch, {} thread{}, seed {}\n",
               table.model, split.train,
               split.validation ? fmt::format(", {} validation", split.validation) : std::string(),
               data.test.empty() ? std::string() : fmt::format(", {} test", data.test.count), steps, batch,
               program.threads(), program.threads() == 1 ? "" : "s", state.seed);
    if (state.epochStep > 0)
      fmt::print(out, "resuming epoch {} after its step {} of {} (step {})\n", state.epoch + 1, state.epochStep, steps,
                 state.step);
    else if (state.epoch > 0) fmt::print(out, "resuming after epoch {} (step {})\n", state.epoch, state.step);
    std::fflush(out);
  }

  if (options.checkNumerics && !options.replay) return Error("--check-numerics needs the model's module to replay steps on");
  if (options.checkNumerics && out)
    fmt::print(out, "--check-numerics: every step is replayed op by op on the reference evaluator (slow)\n");
  if (Status s = program.prepare(batch); !s) return s.error();
  const int64_t evalBatch = maxBatch;
  const int64_t resumedEpoch = state.epoch;
  for (int64_t e = state.epoch; e < config.epochs; ++e) {
    const auto start = Clock::now();
    // A resumed interrupted epoch starts at the step and loss sum it stopped at.
    const int64_t first = e == resumedEpoch ? state.epochStep : 0;
    double lossSum = e == resumedEpoch ? state.epochLossSum : 0;
    EpochReport report;
    report.epoch = e + 1;
    report.lr = scheduledLr(config, e, std::min(first, steps - 1), steps);
    if (Status s = writeScalar(program, "train.lr", BufferType::F32, report.lr); !s) return s.error();
    trainBatches.startEpoch(e, true);
    BatchPipeline pipeline(trainBatches, *io, batch, first, steps, /*augment=*/true);
    Progress progress(out, e + 1, config.epochs, first, steps);
    HostCopy snapshot;
    int64_t snapshotAt = first;
    for (int64_t i = first; i < steps; ++i) {
      // A per-step schedule (onecycle, inv, warmup) sets the rate of every step: a state write, no
      // recompilation. The epoch line reports the last one.
      if (config.schedule.perStep() && i > first) {
        report.lr = scheduledLr(config, e, i, steps);
        if (Status s = writeScalar(program, "train.lr", BufferType::F32, report.lr); !s) return s.error();
      }
      if (options.replay && !options.checkNumerics && (i - first) % kSnapshotEvery == 0) {
        snapshot.take(program, wholeState);
        snapshotAt = i;
      }
      const auto [staged, n] = pipeline.next();
      staged.write(program, *io, n);
      if (options.checkNumerics) options.replay->capture(program, n);
      if (Status s = program.run("train_step", n); !s) return s.error();
      ++state.step;
      const float value = program.readScalar<float>(*io->loss);
      if (!std::isfinite(value) || options.checkNumerics) {
        int64_t made = i;  // the step (in the epoch) that made the first non-finite value
        if (options.replay && !options.checkNumerics) {
          auto j = rerunToFirstNonFinite(program, snapshot, trainBatches, *io, config, e, snapshotAt, i, steps, batch,
                                         *options.replay);
          if (!j) return j.error();
          made = *j;
        }
        if (Status s = checkStep(program, options.replay, value, state.step, state.step - (i - made), e + 1, n); !s) {
          if (out) progress.finish();
          return s.error();
        }
      }
      lossSum += static_cast<double>(value) * static_cast<double>(n);
      progress.update(i + 1, lossSum / static_cast<double>(std::min((i + 1) * batch, split.train)));
      if (options.afterStep) options.afterStep(state.step);
      if (SignalGuard::raised()) {
        // Stop here, inside the epoch (after its last step, the resumed run only evaluates it).
        progress.finish();
        state.epochStep = i + 1;
        state.epochLossSum = lossSum;
        if (!options.savePath.empty())
          if (Status s = saveCheckpoint(options.savePath, program, state); !s) return s.error();
        result.interrupted = true;
        return result;
      }
    }
    progress.finish();
    state.epochStep = 0;
    state.epochLossSum = 0;
    report.trainLoss = lossSum / static_cast<double>(split.train);
    report.dataWait = pipeline.waitSeconds() / std::max(secondsSince(start), 1e-9);
    if (split.validation) {
      auto v = evaluate(program, set, split.train, set.count, config.normalize, evalBatch);
      if (!v) return v.error();
      report.hasValidation = true;
      report.validation = *v;
    }
    if (!data.test.empty()) {
      auto t = evaluate(program, data.test, 0, data.test.count, config.normalize, evalBatch);
      if (!t) return t.error();
      report.hasTest = true;
      report.test = *t;
    }
    report.seconds = secondsSince(start);
    state.epoch = e + 1;

    bool stop = false;
    if (split.validation) {
      if (report.validation.loss < state.bestValLoss - config.earlyStopping.minDelta) {
        state.bestValLoss = report.validation.loss;
        state.epochsSinceBest = 0;
        if (config.earlyStopping.enabled) {
          if (Status s = best.take(program, state.epoch, options.savePath); !s) return s.error();
          state.bestEpoch = state.epoch;
        }
      } else {
        ++state.epochsSinceBest;
        stop = config.earlyStopping.enabled && state.epochsSinceBest >= config.earlyStopping.patience;
      }
    }
    // Stopping gives back the weights of the best epoch (Keras' restore_best_weights), before the
    // checkpoint below is written: --save holds them too.
    if (stop) best.restore(program);
    if (out) {
      fmt::print(out, "{}\n", formatEpochLine(report, config.epochs));
      std::fflush(out);
    }
    if (log) {
      fmt::print(log, "{}\n", formatEpochJson(report, config.epochs, state.step));
      std::fflush(log);
    }
    if (!options.savePath.empty())
      if (Status s = saveCheckpoint(options.savePath, program, state); !s) return s.error();
    result.epochs.push_back(report);
    if (stop) {
      result.stoppedEarly = true;
      result.restoredEpoch = best.epoch;
      if (out) {
        fmt::print(out, "early stopping: validation loss has not improved on {:.4f} for {} epochs\n", state.bestValLoss,
                   state.epochsSinceBest);
        if (best.epoch > 0) fmt::print(out, "early stopping: restored the weights of epoch {}, the best on validation\n", best.epoch);
        else fmt::print(out, "early stopping: kept the last weights (those of the best epoch are not at hand)\n");
      }
      break;
    }
    // A signal during the evaluation: this epoch's checkpoint is written, stop before the next.
    if (SignalGuard::raised() && state.epoch < config.epochs) {
      result.interrupted = true;
      break;
    }
    if (options.stopAfter > 0 && state.epoch >= options.stopAfter) break;
  }
  return result;
}

}  // namespace sinter
