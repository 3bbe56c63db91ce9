// The training input pipeline: one producer thread, a ring of host buffers, a mutex and a
// condition variable. Batch i lives in slot i % depth; the producer may fill batch i once batch
// i - depth has been handed back, which happens when the consumer asks for the batch after it.
#include "runtime/pipeline.h"

#include <chrono>

namespace sinter {

BatchPipeline::BatchPipeline(const Batcher& batcher, const FunctionIo& io, int64_t batchSize, int64_t first,
                             int64_t steps, bool augment, int depth)
    : batcher_(batcher), batchSize_(batchSize), first_(first), steps_(steps), augment_(augment),
      counts_(static_cast<size_t>(std::max(depth, 1)), 0), produced_(first), consumed_(first), taken_(first) {
  for (size_t i = 0; i < counts_.size(); ++i) slots_.emplace_back(io, batchSize);
  producer_ = std::thread([this] { produce(); });
}

BatchPipeline::~BatchPipeline() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  producer_.join();
}

void BatchPipeline::produce() {
  const auto depth = static_cast<int64_t>(slots_.size());
  for (int64_t i = first_; i < steps_; ++i) {
    {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [&] { return stop_ || i - consumed_ < depth; });
      if (stop_) return;
    }
    // The slot is the producer's alone until produced_ passes i: fill it without the lock.
    InputStaging& slot = slots_[static_cast<size_t>(i % depth)];
    const int64_t n = batcher_.fill(i, batchSize_, slot.image.data(), slot.labelData(), augment_);
    {
      std::lock_guard lock(mutex_);
      counts_[static_cast<size_t>(i % depth)] = n;
      produced_ = i + 1;
    }
    changed_.notify_all();
  }
}

BatchPipeline::Batch BatchPipeline::next() {
  const auto depth = static_cast<int64_t>(slots_.size());
  if (taken_ >= steps_) return {slots_[0], 0};  // past the epoch: nothing more will come
  const int64_t i = taken_++;
  std::unique_lock lock(mutex_);
  consumed_ = i;  // the previous batch is done with: its slot goes back to the producer
  changed_.notify_all();
  if (produced_ <= i) {
    const auto start = std::chrono::steady_clock::now();
    changed_.wait(lock, [&] { return produced_ > i; });
    waitSeconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  const auto slot = static_cast<size_t>(i % depth);
  return {slots_[slot], counts_[slot]};
}

int64_t BatchPipeline::produced() const {
  std::lock_guard lock(mutex_);
  return produced_;
}

}  // namespace sinter
