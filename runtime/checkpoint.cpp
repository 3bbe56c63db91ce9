// Checkpoints: plan buffers <-> safetensors tensors, validated in full before anything is written.
#include "runtime/checkpoint.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <string_view>

namespace sinter {

namespace {

constexpr std::string_view kRunningMean = ".running_mean";
constexpr std::string_view kRunningVar = ".running_var";
constexpr std::string_view kBatchesTracked = ".num_batches_tracked";

bool endsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}


// `eval.%5`: a compiler value of one of the plan's functions, as checkpoints written before views
// were left out hold them (copies of a parameter that the file also holds by its own name).
bool isCompilerValueName(std::string_view name, const PlanTable& table) {
  const size_t dot = name.find(".%");
  if (dot == std::string_view::npos || dot + 2 >= name.size()) return false;
  for (char c : name.substr(dot + 2))
    if (c < '0' || c > '9') return false;
  for (int32_t f = 0; f < table.numFunctions; ++f)
    if (name.substr(0, dot) == table.functions[f].name) return true;
  return false;
}

}  // namespace

bool isModelState(const PlanBuffer& b) {
  return b.role == BufferRole::Param || endsWith(b.name, kRunningMean) || endsWith(b.name, kRunningVar);
}

namespace {

std::vector<int64_t> shapeOf(const PlanBuffer& b) { return std::vector<int64_t>(b.dims, b.dims + b.rank); }

ElemType elemTypeOf(const PlanBuffer& b) { return b.type == BufferType::I32 ? ElemType::I32 : ElemType::F32; }

// A scalar may be written [] (PyTorch, safetensors) or [1]; otherwise shapes must be equal.
bool sameShape(const std::vector<int64_t>& file, const std::vector<int64_t>& model) {
  const auto scalar = [](const std::vector<int64_t>& s) { return s.empty() || (s.size() == 1 && s[0] == 1); };
  return file == model || (scalar(file) && scalar(model));
}

const std::string* findMeta(const TensorFile& file, std::string_view key) {
  for (const auto& [k, v] : file.metadata)
    if (k == key) return &v;
  return nullptr;
}

template <typename T>
Status readMetaNumber(const Checkpoint& ckpt, std::string_view key, T& out) {
  const std::string* text = findMeta(ckpt.file, key);
  if (!text) return ok();
  if constexpr (std::is_floating_point_v<T>) {
    if (*text == "inf") {
      out = HUGE_VAL;
      return ok();
    }
  }
  const char* end = text->data() + text->size();
  auto [ptr, ec] = std::from_chars(text->data(), end, out);
  if (ec != std::errc() || ptr != end)
    return Error(fmt::format("{}: metadata '{}' is '{}', not a number", ckpt.path, key, *text));
  return ok();
}

std::string listNames(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < 5; ++i) out += fmt::format("{}'{}'", i ? ", " : "", names[i]);
  if (names.size() > 5) out += fmt::format(" and {} more", names.size() - 5);
  return out;
}

}  // namespace

std::string bestWeightsPath(const std::string& path) {
  constexpr std::string_view kExtension = ".safetensors";
  if (endsWith(path, kExtension)) return path.substr(0, path.size() - kExtension.size()) + ".best.safetensors";
  return path + ".best";
}

Status saveCheckpoint(const std::string& path, Executor& program, const CheckpointInfo& info) {
  const PlanTable& table = program.table();
  TensorFile file;
  for (int32_t i = 0; i < table.numBuffers; ++i) {
    const PlanBuffer& b = table.buffers[i];
    if (!isGlobalStorage(b)) continue;
    if (b.type == BufferType::I32) {
      file.tensors.push_back(NamedTensor::fromInt32s(b.name, shapeOf(b), program.readAs<int32_t>(b, 1)));
    } else {
      file.tensors.push_back(NamedTensor::fromFloats(b.name, shapeOf(b), program.readAs<float>(b, 1)));
    }
    const std::string_view name = b.name;
    if (endsWith(name, kRunningMean)) {
      const int64_t steps[] = {info.step};
      file.tensors.push_back(NamedTensor::fromInt64s(
          std::string(name.substr(0, name.size() - kRunningMean.size())) + std::string(kBatchesTracked), {}, steps));
    }
  }
  file.metadata = {
      {"format", "sinter-checkpoint"},
      {"model", info.model},
      {"epoch", std::to_string(info.epoch)},
      {"step", std::to_string(info.step)},
      {"epoch_step", std::to_string(info.epochStep)},
      {"epoch_loss_sum", fmt::format("{}", info.epochLossSum)},  // shortest form that reads back exactly
      {"batch", std::to_string(info.batch)},
      {"seed", std::to_string(info.seed)},
      {"best_val_loss", std::isfinite(info.bestValLoss) ? fmt::format("{}", info.bestValLoss) : "inf"},
      {"epochs_since_best", std::to_string(info.epochsSinceBest)},
      {"best_epoch", std::to_string(info.bestEpoch)},
  };
  return writeSafetensors(path, file);
}

Expected<Checkpoint> readCheckpoint(const std::string& path) {
  auto file = readSafetensors(path);
  if (!file) return file.error();
  return checkpointOf(path, file.take());
}

Expected<Checkpoint> checkpointOf(std::string path, TensorFile file) {
  Checkpoint ckpt{std::move(path), std::move(file), {}};
  if (const std::string* model = findMeta(ckpt.file, "model")) ckpt.info.model = *model;
  for (Status s : {readMetaNumber(ckpt, "epoch", ckpt.info.epoch), readMetaNumber(ckpt, "step", ckpt.info.step),
                   readMetaNumber(ckpt, "epoch_step", ckpt.info.epochStep),
                   readMetaNumber(ckpt, "epoch_loss_sum", ckpt.info.epochLossSum),
                   readMetaNumber(ckpt, "batch", ckpt.info.batch),
                   readMetaNumber(ckpt, "seed", ckpt.info.seed),
                   readMetaNumber(ckpt, "best_val_loss", ckpt.info.bestValLoss),
                   readMetaNumber(ckpt, "epochs_since_best", ckpt.info.epochsSinceBest),
                   readMetaNumber(ckpt, "best_epoch", ckpt.info.bestEpoch)})
    if (!s) return s.error();
  return ckpt;
}

void reportIgnored(std::FILE* out, const std::string& path, std::string_view model, const std::vector<std::string>& ignored) {
  if (!out || ignored.empty()) return;
  fmt::print(out, "{}: ignored {} tensor{} model '{}' does not have: {}\n", path, ignored.size(), ignored.size() == 1 ? "" : "s",
             model, listNames(ignored));
}

Status checkFinite(const std::string& path, const NamedTensor& t) {
  if (t.type != ElemType::F32 && t.type != ElemType::F64) return ok();
  int64_t count = 0, first = -1;
  double firstValue = 0;
  const size_t n = t.size();
  for (size_t i = 0; i < n; ++i)
    if (const double v = t.at(i); !std::isfinite(v)) {
      if (count++ == 0) first = static_cast<int64_t>(i), firstValue = v;
    }
  if (!count) return ok();
  return Error(fmt::format("{}: tensor '{}' holds {} non-finite value{} (element {} is {}): the state of a run that "
                           "diverged cannot be loaded",
                           path, t.name, count, count == 1 ? "" : "s", first,
                           nonFiniteName(firstValue)));
}

Status applyCheckpoint(const Checkpoint& ckpt, Executor& program, LoadMode mode, std::vector<std::string>* ignored) {
  const PlanTable& table = program.table();
  const auto fail = [&](std::string msg) { return Error(fmt::format("{}: {}", ckpt.path, msg)); };

  // Pass 1: every tensor in the file must name a stored buffer (or be a batchnorm counter) and fit it;
  // the names it has that the model has not are listed together (PyTorch's strict loading).
  std::vector<std::pair<const NamedTensor*, const PlanBuffer*>> copies;
  std::vector<std::string> unexpected;
  for (const NamedTensor& t : ckpt.file.tensors) {
    const PlanBuffer* b = program.buffer(t.name);
    if (endsWith(t.name, kBatchesTracked) && !b) {
      const std::string bn = t.name.substr(0, t.name.size() - kBatchesTracked.size());
      if (program.buffer(bn + std::string(kRunningMean))) continue;  // PyTorch's counter; the plan has none
    }
    if (isCompilerValueName(t.name, table) && (!b || !isGlobalStorage(*b))) continue;  // an old checkpoint's view copy
    if (!b || !isGlobalStorage(*b)) {
      unexpected.push_back(t.name);
      continue;
    }
    if (t.type != elemTypeOf(*b))
      return fail(fmt::format("tensor '{}' is {} but the model's is {}", t.name, elemTypeName(t.type),
                              elemTypeName(elemTypeOf(*b))));
    if (!sameShape(t.shape, shapeOf(*b)))
      return fail(fmt::format("tensor '{}' has shape {} but the model's is {}", t.name, shapeString(t.shape),
                              shapeString(shapeOf(*b))));
    if (Status s = checkFinite(ckpt.path, t); !s) return s;
    copies.emplace_back(&t, b);
  }
  if (!unexpected.empty() && ignored) {
    ignored->insert(ignored->end(), unexpected.begin(), unexpected.end());
    unexpected.clear();
  }
  if (!unexpected.empty())
    return fail(fmt::format("{} {} not {} of model '{}' (--allow-unexpected ignores them)", listNames(unexpected),
                            unexpected.size() == 1 ? "is" : "are",
                            unexpected.size() == 1 ? "a parameter or state" : "parameters or state", table.model));

  // Pass 2: nothing the mode needs is missing.
  std::vector<std::string> missing;
  for (int32_t i = 0; i < table.numBuffers; ++i) {
    const PlanBuffer& b = table.buffers[i];
    if (!isGlobalStorage(b) || ckpt.file.find(b.name)) continue;
    const bool needed = mode == LoadMode::Resume || isModelState(b);
    if (needed) missing.emplace_back(b.name);
  }
  if (!missing.empty())
    return fail(fmt::format("missing {} {}{}", missing.size() == 1 ? "tensor" : "tensors", listNames(missing),
                            mode == LoadMode::Resume ? " (a resume needs every parameter and optimizer state)" : ""));

  for (const auto& [t, b] : copies) program.write(*b, 1, std::as_bytes(std::span(t->bytes)));
  return ok();
}

Expected<CheckpointInfo> loadCheckpoint(const std::string& path, Executor& program, LoadMode mode) {
  auto ckpt = readCheckpoint(path);
  if (!ckpt) return ckpt.error();
  if (Status s = applyCheckpoint(*ckpt, program, mode); !s) return s.error();
  return ckpt->info;
}

}  // namespace sinter
