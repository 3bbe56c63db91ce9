// Batches of a Dataset assembled in host memory, which the trainer writes into the input buffers:
// normalization, the per-epoch shuffle, augmentation and the validation split, all reproducible
// from the seed alone.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "runtime/dataset.h"
#include "support/train_config.h"

namespace sinter {

// The first `count - floor(count * fraction)` images train, the rest validate. The split is taken
// before any shuffling, so it is the same for every seed and every epoch.
struct SplitSizes {
  int64_t train = 0, validation = 0;
};
SplitSizes splitSizes(int64_t count, double fraction);

struct BatcherOptions {
  NormalizeConfig normalize;
  std::vector<Augmentation> augment;  // applied only when fill() is asked to augment
  uint64_t seed = 0;
};

// The images [begin, end) of a Dataset, in an order fixed per epoch.
//
// Shuffle: a Fisher-Yates over positions whose swap partner for position i is drawn from Philox
// counter (i, epoch, kShuffleStream) under key (seed): the order of epoch e depends on (seed, e) only,
// so a run resumed at epoch e sees exactly the order an uninterrupted run saw.
// Augmentation: image k (its index in the Dataset) in epoch e draws from counter (k, epoch,
// kAugmentStream + j) for the j-th augmentation, independent of its position and of the batch size.
// Random crop pads with pixel value 0 (before normalization, as torchvision pads the PIL image) and
// picks offsets uniformly in [0, 2 * padding]; hflip mirrors with probability 1/2.
class Batcher {
 public:
  Batcher(const Dataset& data, int64_t begin, int64_t end, BatcherOptions options);

  int64_t size() const { return static_cast<int64_t>(order_.size()); }
  // Batches of at most batchSize; the last one may be smaller (every image counts).
  int64_t batches(int64_t batchSize) const { return (size() + batchSize - 1) / batchSize; }

  // Fixes the order for `epoch`: shuffled, or the dataset order when shuffle is false.
  void startEpoch(int64_t epoch, bool shuffle);
  // The dataset indices in the current order.
  const std::vector<int64_t>& order() const { return order_; }

  // Writes batch `index` of size min(batchSize, size() - index * batchSize) as normalized floats
  // [n, C, H, W] into image and (when labels is non-null) i32 labels; returns n.
  int64_t fill(int64_t index, int64_t batchSize, float* image, int32_t* labels, bool augment) const;

  // One image (dataset index k) as the trainer would feed it in the current epoch.
  void writeImage(int64_t k, float* out, bool augment) const;

 private:
  const Dataset& data_;
  int64_t begin_;
  BatcherOptions options_;
  std::vector<std::array<float, 256>> lut_;  // per channel: pixel value -> normalized float
  std::vector<int64_t> order_;
  int64_t epoch_ = 0;
};

// A normalization lookup table per channel for `channels` channels: (p / 255 - mean[c]) / std[c],
// computed in double and rounded once. A single mean/std applies to every channel.
std::vector<std::array<float, 256>> normalizationTables(const NormalizeConfig& normalize, int64_t channels);

// Checks that normalize has 1 or `channels` values and no zero std; the message names the problem.
Status checkNormalize(const NormalizeConfig& normalize, int64_t channels);

}  // namespace sinter
