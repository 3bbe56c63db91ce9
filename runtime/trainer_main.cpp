// The verbs of a compiled model's command line: flags in, trainer/evaluator/predictor calls out.
#include "runtime/trainer_main.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string_view>

#include "runtime/batcher.h"
#include "runtime/checkpoint.h"
#include "runtime/dataset.h"
#include "runtime/executor.h"
#include "runtime/plot.h"
#include "runtime/png.h"
#include "runtime/trainer.h"
#include "support/render.h"

namespace sinter {

namespace {

struct Verb {
  std::string_view name;
  std::vector<std::string_view> flags;     // take a value
  bool files;                              // takes positional FILE arguments
  std::vector<std::string_view> switches;  // take none
};

const std::vector<Verb> kVerbs = {
    {"train", {"--data", "--epochs", "--batch", "--lr", "--threads", "--seed", "--save", "--resume", "--log", "--plot"}, false,
     {"--check-numerics", "--allow-unexpected"}},
    {"eval", {"--weights", "--data", "--batch", "--threads"}, false, {"--allow-unexpected"}},
    {"predict", {"--weights", "--threads"}, true, {"--allow-unexpected"}},
    {"info", {}, false, {}},
};

std::string usage(const std::string& program) {
  return fmt::format(
      "usage: {0} train   [--data DIR] [--epochs N] [--batch N] [--lr X] [--threads N] [--seed N]\n"
      "                   [--save F] [--resume F] [--log F] [--plot F.svg] [--check-numerics] [--allow-unexpected]\n"
      "       {0} eval    --weights F [--data DIR] [--batch N] [--threads N] [--allow-unexpected]\n"
      "       {0} predict --weights F [--threads N] [--allow-unexpected] FILE...   (PGM or PNG images, or IDX image files)\n"
      "       {0} info\n"
      "The data directory defaults to {1}.\n"
      "A non-finite loss stops training with the op and model line it came from; --check-numerics\n"
      "replays every step on the reference evaluator (slow) and stops at any non-finite value.\n"
      "A checkpoint's tensors the model does not have are an error; --allow-unexpected ignores them.\n",
      program, kDefaultDataDir);
}

struct Flags {
  std::map<std::string, std::string, std::less<>> values;
  std::vector<std::string> files;

  const std::string* get(std::string_view name) const {
    auto it = values.find(name);
    return it == values.end() ? nullptr : &it->second;
  }
  std::string getOr(std::string_view name, std::string fallback) const {
    const std::string* v = get(name);
    return v ? *v : fallback;
  }
};

Expected<Flags> parseFlags(const Verb& verb, const std::vector<std::string>& args) {
  Flags flags;
  for (size_t i = 2; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg.size() < 2 || arg.compare(0, 2, "--") != 0 || arg == "--") {
      if (!verb.files) return Error(fmt::format("'{}' takes no file arguments (got '{}')", verb.name, arg));
      flags.files.push_back(arg);
      continue;
    }
    const size_t eq = arg.find('=');
    const std::string name = arg.substr(0, eq);
    if (std::find(verb.switches.begin(), verb.switches.end(), name) != verb.switches.end()) {
      if (eq != std::string::npos) return Error(fmt::format("{} takes no value", name));
      if (!flags.values.emplace(name, "").second) return Error(fmt::format("{} is given twice", name));
      continue;
    }
    if (std::find(verb.flags.begin(), verb.flags.end(), name) == verb.flags.end()) {
      std::string known;
      for (const auto* list : {&verb.flags, &verb.switches})
        for (std::string_view f : *list) known += fmt::format("{}{}", known.empty() ? "" : " ", f);
      return Error(fmt::format("unknown option '{}' for '{}'{}", name, verb.name,
                               known.empty() ? " (it takes none)" : fmt::format(" (options: {})", known)));
    }
    std::string value;
    if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return Error(fmt::format("{} needs a value", name));
    }
    if (value.empty()) return Error(fmt::format("{} needs a value", name));
    if (!flags.values.emplace(name, value).second) return Error(fmt::format("{} is given twice", name));
  }
  return flags;
}

template <typename T>
Expected<T> parseNumber(const Flags& flags, std::string_view name, T fallback, T min, std::string_view what) {
  const std::string* text = flags.get(name);
  if (!text) return fallback;
  T value{};
  const char* end = text->data() + text->size();
  auto [p, ec] = std::from_chars(text->data(), end, value);
  if (ec != std::errc() || p != end || !(value >= min) || (std::is_floating_point_v<T> && !std::isfinite(value)))
    return Error(fmt::format("{} expects {}, got '{}'", name, what, *text));
  return value;
}

Expected<int64_t> batchFlag(const PlanTable& table, const Flags& flags, int64_t fallback) {
  auto batch = parseNumber<int64_t>(flags, "--batch", fallback, 1, "a positive integer");
  if (!batch) return batch;
  if (*batch > table.maxBatch)
    return Error(fmt::format("--batch {} is above the plan's maximum batch {} (compile the model with a larger "
                             "maximum batch)", *batch, table.maxBatch));
  return batch;
}

Expected<DataSplits> loadData(const std::string& dir, std::FILE* out) {
  auto data = loadDataDir(dir);
  if (data && out) fmt::print(out, "{}\n", data->description);
  return data;
}

std::string bytesString(int64_t bytes) {
  if (bytes < 1024) return fmt::format("{} B", bytes);
  if (bytes < 1024 * 1024) return fmt::format("{:.1f} KiB", static_cast<double>(bytes) / 1024);
  if (bytes < int64_t{1} << 30) return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1024 * 1024));
  return fmt::format("{:.2f} GiB", static_cast<double>(bytes) / (1 << 30));
}

std::string flopsString(double flops) {
  if (flops >= 1e9) return fmt::format("{:.2f} G", flops / 1e9);
  if (flops >= 1e6) return fmt::format("{:.1f} M", flops / 1e6);
  if (flops >= 1e3) return fmt::format("{:.1f} k", flops / 1e3);
  return fmt::format("{:.0f} ", flops);
}

std::string withCommas(int64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

Status runInfo(const PlanTable& table, std::FILE* out) {
  int64_t params = 0, tensors = 0;
  for (int32_t i = 0; i < table.numBuffers; ++i) {
    const PlanBuffer& b = table.buffers[i];
    if (b.role != BufferRole::Param || !isGlobalStorage(b)) continue;
    int64_t n = 1;
    for (int d = 0; d < b.rank; ++d) n *= b.dims[d];
    params += n;
    ++tensors;
  }
  fmt::print(out, "model        {}\n", table.model);
  fmt::print(out, "target       {}\n", table.target);
  fmt::print(out, "parameters   {} in {} tensors\n", withCommas(params), tensors);
  fmt::print(out, "FLOPs/step   {}FLOP (train_step at batch {})\n", flopsString(table.flopsPerStep), table.maxBatch);
  fmt::print(out, "max batch    {}\n", table.maxBatch);
  fmt::print(out, "state arena  {}\n", bytesString(table.stateBytes));
  std::string saved;
  if (table.unplannedBytes > 0)
    saved = fmt::format(", {:.0f}% saved by the memory plan",
                        100.0 * (1.0 - static_cast<double>(table.workBytes) / static_cast<double>(table.unplannedBytes)));
  fmt::print(out, "work arena   {} at batch {} (unplanned {}{})\n", bytesString(table.workBytes), table.maxBatch,
             bytesString(table.unplannedBytes), saved);
  std::string functions;
  for (int32_t f = 0; f < table.numFunctions; ++f)
    functions += fmt::format("{}{} ({} kernel calls)", f ? ", " : "", table.functions[f].name, table.functions[f].numCalls);
  fmt::print(out, "functions    {}\n", functions);
  // Which primitive and implementation each library call got: the executor builds them for the
  // maximum batch, as a training run would.
  bool library = false;
  for (int32_t f = 0; f < table.numFunctions; ++f)
    for (int32_t c = 0; c < table.functions[f].numCalls; ++c) library = library || (table.functions[f].calls[c].library && *table.functions[f].calls[c].library);
  if (!library) return ok();
  // Choosing them needs the target's machine (a GPU for cuda): without it, info says so and is done.
  if (Status s = canRun(table.target); !s) {
    fmt::print(out, "library calls not chosen here: {}\n", s.error().message());
    return ok();
  }
  Expected<std::unique_ptr<Executor>> executor = makeExecutor(table, 0, 0);
  if (!executor) return executor.error();
  if (Status s = (*executor)->prepare(table.maxBatch); !s) return s;
  std::vector<std::pair<std::string, int>> calls;
  for (const std::string& call : (*executor)->libraryCalls()) {
    auto it = std::find_if(calls.begin(), calls.end(), [&](const auto& c) { return c.first == call; });
    if (it == calls.end()) calls.emplace_back(call, 1);
    else ++it->second;
  }
  fmt::print(out, "library calls at batch {} ({} in all):\n", table.maxBatch, (*executor)->libraryCalls().size());
  for (const auto& [call, count] : calls) fmt::print(out, "  {:>3} x {}\n", count, call);
  return ok();
}

// The exit status: 0, or 130 when a signal interrupted the run (as a shell reports SIGINT).
Expected<int> runTrain(const PlanTable& table, const TrainConfig& defaults, const Flags& flags, std::FILE* out,
                       StepReplay* replay) {
  TrainerOptions options;
  options.replay = replay;
  options.checkNumerics = flags.get("--check-numerics") != nullptr;
  options.allowUnexpected = flags.get("--allow-unexpected") != nullptr;
  if (options.checkNumerics && !replay)
    return Error("--check-numerics needs the model's module, which this program was built without");
  options.config = defaults;
  options.out = out;
  options.dataDir = flags.getOr("--data", kDefaultDataDir);
  options.savePath = flags.getOr("--save", "");
  options.resumePath = flags.getOr("--resume", "");
  options.logPath = flags.getOr("--log", "");
  if (defaults.batch > table.maxBatch && !flags.get("--batch"))
    return Error(fmt::format("the model's batch {} is above the plan's maximum batch {}", defaults.batch, table.maxBatch));
  auto epochs = parseNumber<int64_t>(flags, "--epochs", defaults.epochs, 1, "a positive integer");
  if (!epochs) return epochs.error();
  auto batch = batchFlag(table, flags, defaults.batch);
  if (!batch) return batch.error();
  auto lr = parseNumber<double>(flags, "--lr", defaults.optimizer.lr, 0, "a non-negative number");
  if (!lr) return lr.error();
  auto threads = parseNumber<int>(flags, "--threads", 0, 0, "a non-negative integer");
  if (!threads) return threads.error();
  auto seed = parseNumber<uint64_t>(flags, "--seed", defaults.seed, 0, "a non-negative integer");
  if (!seed) return seed.error();
  if (flags.get("--lr") && !findBuffer(table, "train.lr"))
    return Error("--lr needs a plan with a 'train.lr' buffer, and this one has the learning rate built in");
  options.config.epochs = *epochs;
  options.config.batch = *batch;
  options.config.optimizer.lr = *lr;
  options.config.seed = *seed;
  options.seedGiven = flags.get("--seed") != nullptr;
  options.threads = *threads;
  options.maxBatch = table.maxBatch;

  auto data = loadData(options.dataDir, out);
  if (!data) return data.error();
  auto program = makeExecutor(table, options.threads, options.config.seed);
  if (!program) return program.error();
  const auto start = std::chrono::steady_clock::now();
  auto result = train(**program, *data, options);
  if (!result) return result.error();
  if (result->interrupted) {
    const CheckpointInfo& at = result->state;
    const std::string& save = options.savePath;
    const std::string where =
        at.epochStep > 0 ? fmt::format("epoch {}, step {} of {}", at.epoch + 1, at.epochStep, result->stepsPerEpoch)
                         : fmt::format("after epoch {}", at.epoch);
    const std::string saved =
        save.empty() ? "nothing saved (no --save)" : fmt::format("saved {}: resume with --resume {}", save, save);
    fmt::print(out, "interrupted at step {} ({}); {}\n", at.step, where, saved);
    return 130;
  }
  if (const std::string* plot = flags.get("--plot")) {
    // The run's own epochs, named like the log (the model when there is none).
    const std::string name = options.logPath.empty() ? std::string(table.model) : std::filesystem::path(options.logPath).stem().string();
    const CurveRun run = curveRunFromReports(name, result->epochs);
    if (Status s = writeTrainingCurves(*plot, std::span(&run, 1)); !s) return s.error();
  }
  fmt::print(out, "trained {} epoch{}, {} steps in {:.1f} s{}\n", result->epochs.size(),
             result->epochs.size() == 1 ? "" : "s", result->state.step,
             std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
             options.savePath.empty() ? std::string() : fmt::format("; saved {}", options.savePath));
  return 0;
}

// The weights eval and predict run with; --allow-unexpected ignores (and names) tensors the model lacks.
Status loadWeights(const Checkpoint& ckpt, Executor& program, const Flags& flags, std::FILE* out) {
  const bool allow = flags.get("--allow-unexpected") != nullptr;
  std::vector<std::string> ignored;
  if (Status s = applyCheckpoint(ckpt, program, LoadMode::Weights, allow ? &ignored : nullptr); !s) return s;
  reportIgnored(out, ckpt.path, program.table().model, ignored);
  return ok();
}

Status runEval(const PlanTable& table, const TrainConfig& defaults, const Flags& flags, std::FILE* out) {
  const std::string* weights = flags.get("--weights");
  if (!weights) return Error("eval needs --weights F (a checkpoint written by train --save)");
  auto batch = batchFlag(table, flags, table.maxBatch);
  if (!batch) return batch.error();
  auto threads = parseNumber<int>(flags, "--threads", 0, 0, "a non-negative integer");
  if (!threads) return threads.error();
  const std::string dir = flags.getOr("--data", kDefaultDataDir);
  auto ckpt = readCheckpoint(*weights);
  if (!ckpt) return ckpt.error();
  auto program = makeExecutor(table, *threads, ckpt->info.seed);
  if (!program) return program.error();
  if (Status s = loadWeights(*ckpt, **program, flags, out); !s) return s;
  auto data = loadData(dir, out);
  if (!data) return data.error();
  if (data->test.empty()) return Error(fmt::format("{} has no test set", dir));
  const auto start = std::chrono::steady_clock::now();
  auto result = evaluate(**program, data->test, 0, data->test.count, defaults.normalize, *batch);
  if (!result) return result.error();
  std::string line = result->hasLoss ? fmt::format("test loss {:.4f}  ", result->loss) : std::string();
  fmt::print(out, "{}test acc {:.2f}%  ({} images, {:.1f} s)\n", line, 100 * result->accuracy, result->count,
             std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return ok();
}

// One image to classify: where it came from and its pixels (the model's channels, 0..255, channel-major).
struct Sample {
  std::string label;
  const uint8_t* pixels;
};

bool isPgm(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[2] = {};
  in.read(magic, 2);
  return in.gcount() == 2 && magic[0] == 'P' && (magic[1] == '5' || magic[1] == '2');
}

// The probability the output gives class k: the value itself when the row is a distribution
// (`probs`), else its softmax.
double probability(const float* row, int64_t n, int64_t k, bool isProbs) {
  double sum = 0;
  bool distribution = true;
  for (int64_t j = 0; j < n; ++j) {
    sum += row[j];
    distribution = distribution && row[j] >= 0 && row[j] <= 1;
  }
  if (isProbs || (distribution && std::abs(sum - 1) < 1e-3)) return row[k];
  double z = 0;
  for (int64_t j = 0; j < n; ++j) z += std::exp(static_cast<double>(row[j]) - row[k]);
  return 1 / z;
}

Status runPredict(const PlanTable& table, const TrainConfig& defaults, const Flags& flags, std::FILE* out) {
  const std::string* weights = flags.get("--weights");
  if (!weights) return Error("predict needs --weights F (a checkpoint written by train --save)");
  if (flags.files.empty()) return Error("predict needs at least one image file (PGM, PNG or IDX)");
  auto threads = parseNumber<int>(flags, "--threads", 0, 0, "a non-negative integer");
  if (!threads) return threads.error();
  auto io = functionIo(table, "eval");
  if (!io) return io.error();
  if (!io->output) return Error(fmt::format("model '{}' has no output to predict with", table.model));

  // Read every file first, so a bad file fails before any prediction is printed. PGM and IDX images are
  // grey; a PNG is read with the model's channels (colour as grey for a grey model).
  const int64_t channels = io->image->rank == 4 ? io->image->dims[1] : 1;
  std::vector<GrayImage> pgms;
  std::vector<Image> pngs;
  std::vector<IdxImages> idxs;
  pgms.reserve(flags.files.size());
  pngs.reserve(flags.files.size());
  idxs.reserve(flags.files.size());
  std::vector<Sample> samples;
  for (const std::string& file : flags.files) {
    if (isPng(file)) {
      auto image = readPng(file, channels);
      if (!image) return image.error();
      if (Status s = checkImageShape(*io, image->channels, image->height, image->width, file + "'s pixels"); !s) return s;
      pngs.push_back(image.take());
      samples.push_back({file, pngs.back().pixels.data()});
    } else if (isPgm(file)) {
      auto image = readPgm(file);
      if (!image) return image.error();
      if (Status s = checkImageShape(*io, 1, image->height, image->width, file + "'s pixels"); !s) return s;
      pgms.push_back(image.take());
      samples.push_back({file, pgms.back().pixels.data()});
    } else {
      auto images = readIdxImages(file);
      if (!images) return images.error();
      if (Status s = checkImageShape(*io, 1, images->height, images->width, file + "'s images"); !s) return s;
      idxs.push_back(images.take());
      const IdxImages& set = idxs.back();
      for (int64_t i = 0; i < set.count; ++i)
        samples.push_back({fmt::format("{}[{}]", file, i), set.pixels.data() + i * set.height * set.width});
    }
  }
  if (Status s = checkNormalize(defaults.normalize, channels); !s) return s;

  auto ckpt = readCheckpoint(*weights);
  if (!ckpt) return ckpt.error();
  auto executor = makeExecutor(table, *threads, ckpt->info.seed);
  if (!executor) return executor.error();
  Executor& program = **executor;
  if (Status s = loadWeights(*ckpt, program, flags, out); !s) return s;
  const auto luts = normalizationTables(defaults.normalize, channels);
  const int64_t plane = io->imageSize / channels;
  const int64_t batch = table.maxBatch;
  if (Status s = program.prepare(batch); !s) return s;
  InputStaging staging(*io, batch);
  const bool isProbs = std::string_view(io->output->name) == "probs";
  for (size_t first = 0; first < samples.size(); first += static_cast<size_t>(batch)) {
    const int64_t n = std::min<int64_t>(batch, static_cast<int64_t>(samples.size() - first));
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < io->imageSize; ++j)
        staging.image[static_cast<size_t>(i * io->imageSize + j)] =
            luts[static_cast<size_t>(j / plane)][samples[first + static_cast<size_t>(i)].pixels[j]];
    staging.write(program, *io, n);
    if (Status s = program.run("eval", n); !s) return s;
    const std::vector<float> probs = program.readAs<float>(*io->output, n);
    for (int64_t i = 0; i < n; ++i) {
      const float* row = probs.data() + i * io->outputSize;
      int64_t best = 0;
      for (int64_t k = 1; k < io->outputSize; ++k)
        if (row[k] > row[best]) best = k;
      fmt::print(out, "{}: class {} (p = {:.3f})\n", samples[first + static_cast<size_t>(i)].label, best,
                 probability(row, io->outputSize, best, isProbs));
    }
  }
  return ok();
}

}  // namespace

int trainerMain(const PlanTable& table, const TrainConfig& defaults, const std::vector<std::string>& args,
                std::FILE* out, std::FILE* err, const ModelText& model) {
  const std::string program = args.empty() ? std::string(table.model) : args[0];
  if (args.size() < 2) {
    fmt::print(err, "{}", usage(program));
    return 1;
  }
  const std::string& verbName = args[1];
  if (verbName == "--help" || verbName == "-h" || verbName == "help") {
    fmt::print(out, "{}", usage(program));
    return 0;
  }
  const auto verb = std::find_if(kVerbs.begin(), kVerbs.end(), [&](const Verb& v) { return v.name == verbName; });
  if (verb == kVerbs.end()) {
    fmt::print(err, "error: unknown command '{}' (commands: train, eval, predict, info)\n", verbName);
    return 1;
  }
  Status status = ok();
  int code = 0;
  // The replay that traces a non-finite loss (and renders its report with the model's lines).
  std::unique_ptr<StepReplay> replay;
  if (auto flags = parseFlags(*verb, args); !flags) {
    status = flags.error();
  } else if (verb->name == "train") {
    if (!model.moduleIr.empty()) {
      if (auto r = StepReplay::create(model, table); r) replay = r.take();
      else status = r.error();
    }
    if (status) {
      if (auto trained = runTrain(table, defaults, *flags, out, replay.get()); trained) code = *trained;
      else status = trained.error();
    }
  } else if (verb->name == "eval") {
    status = runEval(table, defaults, *flags, out);
  } else if (verb->name == "predict") {
    status = runPredict(table, defaults, *flags, out);
  } else {
    status = runInfo(table, out);
  }
  std::fflush(out);
  if (!status) {
    fmt::print(err, "{}", renderDiagnostics(status.error(), replay ? replay->source() : SourceFile{}, ""));
    return 1;
  }
  return code;
}

int trainerMain(const PlanTable& table, const TrainConfig& defaults, int argc, char** argv, const ModelText& model) {
  return trainerMain(table, defaults, std::vector<std::string>(argv, argv + argc), stdout, stderr, model);
}

}  // namespace sinter
