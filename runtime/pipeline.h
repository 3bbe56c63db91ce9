// The training input pipeline: a thread of its own assembles the batches of an epoch (gather,
// augmentation, normalization: Batcher::fill) ahead of the training step, in a ring of `depth`
// host buffers (double buffering at depth 2), so the step rarely waits for data. The batches are
// exactly Batcher::fill's, in order: a pipelined run is bit-identical to an unpipelined one.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "runtime/batcher.h"
#include "runtime/trainer.h"

namespace sinter {

class BatchPipeline {
 public:
  // Starts filling batches first, first + 1, ... of `batcher`'s current epoch (startEpoch must have
  // run) up to `steps` (a resumed epoch starts past 0). `batcher` must outlive the pipeline and not
  // change while it runs.
  BatchPipeline(const Batcher& batcher, const FunctionIo& io, int64_t batchSize, int64_t first, int64_t steps,
                bool augment, int depth = 2);
  ~BatchPipeline();  // stops the producer and joins it
  BatchPipeline(const BatchPipeline&) = delete;
  BatchPipeline& operator=(const BatchPipeline&) = delete;

  struct Batch {
    const InputStaging& data;
    int64_t n;  // images in it
  };
  // The next batch, waiting for it if the producer is behind. It stays valid until the next call,
  // which hands its buffer back to the producer. Past the last step: a batch of 0 images.
  Batch next();

  // Seconds next() spent waiting for the producer, in all.
  double waitSeconds() const { return waitSeconds_; }
  // The index after the last batch the producer has finished (for tests: it runs ahead of the consumer).
  int64_t produced() const;

 private:
  void produce();

  const Batcher& batcher_;
  const int64_t batchSize_, first_, steps_;
  const bool augment_;
  std::vector<InputStaging> slots_;
  std::vector<int64_t> counts_;  // images in each slot's batch

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  // Batch indices, counting the `first` skipped batches as filled, handed back and taken.
  int64_t produced_;  // batches filled, guarded by mutex_
  int64_t consumed_;  // batches handed back to the producer, guarded by mutex_
  int64_t taken_;     // batches next() returned (consumer thread only)
  bool stop_ = false;
  double waitSeconds_ = 0;
  std::thread producer_;  // last: starts after every other member is ready
};

}  // namespace sinter
