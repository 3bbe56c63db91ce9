// Checkpoints: every parameter and state buffer of an Executor by name in a safetensors file, plus
// where training stands, so `--resume` continues bit for bit and PyTorch can load the weights.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "runtime/executor.h"
#include "runtime/tensor_file.h"
#include "support/error.h"

namespace sinter {

// Where training stands after `epoch` completed epochs and `epochStep` steps of the next one (an
// interrupted epoch). The trainer's randomness (shuffle, augmentation, dropout) is a function of
// (seed, epoch, step) only, so these are its whole position.
struct CheckpointInfo {
  std::string model;
  int64_t epoch = 0;  // epochs completed
  int64_t step = 0;   // training steps done
  uint64_t seed = 0;
  // Early stopping's memory: the best validation loss so far and the epochs since it improved.
  double bestValLoss = HUGE_VAL;
  int64_t epochsSinceBest = 0;
  // Inside an interrupted epoch: its steps done (0 at an epoch's end) and the sum of their losses
  // weighted by batch size, so the resumed epoch reports the train loss of an uninterrupted one.
  int64_t epochStep = 0;
  double epochLossSum = 0;
  int64_t batch = 0;  // the batch size of its steps (0: not recorded)
  // The epoch whose weights early stopping would give back (0: none yet). They are in the file
  // bestWeightsPath names, written when that epoch ended, so a resumed run can still restore them.
  int64_t bestEpoch = 0;
};

// Where early stopping keeps the best epoch's weights next to checkpoint `path`:
// "ckpt.safetensors" -> "ckpt.best.safetensors". That file is a weights checkpoint itself
// (eval --weights takes it), with metadata "epoch" naming the epoch.
std::string bestWeightsPath(const std::string& path);

// Writes every Param and State buffer (F32, or I32 for i32 buffers such as `train.seed`) in plan order,
// `<bn>.num_batches_tracked` (I64 scalar = info.step) for every buffer named `<bn>.running_mean` as
// PyTorch's state dict has it, and info as metadata; atomically (see writeSafetensors).
Status saveCheckpoint(const std::string& path, Executor& program, const CheckpointInfo& info);

// Whether a buffer is the model's own state, what eval and predict need: a parameter or a batch
// norm's running statistics (not optimizer state or step counters).
bool isModelState(const PlanBuffer& b);

// What a load must find. Resume: every Param and State buffer. Weights (eval, predict): the Params and
// the batchnorm running statistics; optimizer state present in the file is loaded too.
enum class LoadMode { Resume, Weights };

struct Checkpoint {
  std::string path;
  TensorFile file;
  CheckpointInfo info;  // from the metadata; defaults where the file has none (a PyTorch state dict)
};

// Reads a checkpoint file and its metadata without touching an Executor (the seed it holds is needed to
// build one).
Expected<Checkpoint> readCheckpoint(const std::string& path);
// The checkpoint a tensor file read from path holds: its metadata read into info (the part of
// readCheckpoint after the file is read, for input already in memory).
Expected<Checkpoint> checkpointOf(std::string path, TensorFile file);

// Checks the whole file against the plan before writing anything, then copies every tensor in.
// Errors name the file and the tensor: unknown names, missing ones, dtype and shape mismatches
// ("ckpt.safetensors: tensor 'fc1.weight' has shape [64, 784] but the model's is [128, 784]"), and
// NaN or infinite values. Tensors the model does not have are an error that lists them (PyTorch's
// strict loading), unless `ignored` is given (--allow-unexpected): their names are appended there.
Status applyCheckpoint(const Checkpoint& checkpoint, Executor& program, LoadMode mode,
                       std::vector<std::string>* ignored = nullptr);

// "ckpt.safetensors: ignored 2 tensors model 'lenet' does not have: 'fc4.weight', 'fc4.bias'" on out,
// when there are any (and out is not null).
void reportIgnored(std::FILE* out, const std::string& path, std::string_view model, const std::vector<std::string>& ignored);

// readCheckpoint + applyCheckpoint.
Expected<CheckpointInfo> loadCheckpoint(const std::string& path, Executor& program, LoadMode mode);

// An error naming `path`, the tensor and its first NaN or infinity when a float tensor holds one:
// the state of a run that diverged must not load as if it were a model.
Status checkFinite(const std::string& path, const NamedTensor& t);

}  // namespace sinter
