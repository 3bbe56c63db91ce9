// Checkpoints: every parameter and state buffer of an Executor by name in a safetensors file, plus
// where training stands, so `--resume` continues bit for bit and PyTorch can load the weights.
#pragma once

#include <cstdint>
#include <string>

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
};

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
// NaN or infinity anywhere in a tensor (a diverged run's state trains nothing and predicts nothing).
Status applyCheckpoint(const Checkpoint& checkpoint, Executor& program, LoadMode mode);

// readCheckpoint + applyCheckpoint.
Expected<CheckpointInfo> loadCheckpoint(const std::string& path, Executor& program, LoadMode mode);

}  // namespace sinter
