// The input pipeline: the batches it hands out are Batcher::fill's, bit for bit and in order
// (augmentation included, partial last batch included); the producer thread runs ahead of the
// consumer by exactly the ring's depth and no further; a resumed epoch starts at its batch; stopping
// mid-epoch joins cleanly.
#include "runtime/pipeline.h"

#include <doctest/doctest.h>

#include <chrono>
#include <thread>

using namespace sinter;

namespace {

Dataset makeDataset(int64_t count) {
  Dataset d;
  d.count = count;
  d.channels = 3;
  d.height = 6;
  d.width = 6;
  d.classes = 10;
  for (int64_t k = 0; k < count; ++k) {
    for (int64_t i = 0; i < d.imageSize(); ++i) d.pixels.push_back(static_cast<uint8_t>((k * 37 + i * 11) % 256));
    d.labels.push_back(static_cast<int32_t>(k % 10));
  }
  return d;
}

// Waits (at most 5 s) until `done` holds.
template <typename F>
bool eventually(F done) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace

TEST_CASE("pipeline: the same batches as Batcher::fill, in order, augmented, for any depth") {
  const Dataset d = makeDataset(50);
  const BatcherOptions options{{{0.5}, {0.25}}, {Augmentation{AugmentKind::RandomCrop, 2}, Augmentation{AugmentKind::HFlip, 0}}, 9};
  Batcher batcher(d, 0, 50, options);
  PlanBuffer label;
  FunctionIo io;
  io.imageSize = d.imageSize();
  io.label = &label;
  const int64_t batch = 7, steps = batcher.batches(batch);
  REQUIRE(steps == 8);
  for (int depth : {1, 2, 3}) {
    for (int64_t epoch : {0, 1}) {
      batcher.startEpoch(epoch, true);
      InputStaging want(io, batch);
      BatchPipeline pipeline(batcher, io, batch, 0, steps, true, depth);
      for (int64_t i = 0; i < steps; ++i) {
        const int64_t n = batcher.fill(i, batch, want.image.data(), want.labelData(), true);
        const auto [got, m] = pipeline.next();
        CHECK(m == n);
        CHECK(std::equal(want.image.begin(), want.image.begin() + n * io.imageSize, got.image.begin()));
        CHECK(std::equal(want.labels.begin(), want.labels.begin() + n, got.labels.begin()));
      }
      CHECK(pipeline.next().n == 0);  // past the epoch
    }
  }
}

TEST_CASE("pipeline: a resumed epoch starts at its batch, with the batches of an uninterrupted one") {
  const Dataset d = makeDataset(50);
  const BatcherOptions options{{}, {Augmentation{AugmentKind::RandomCrop, 1}, Augmentation{AugmentKind::HFlip, 0}}, 5};
  Batcher batcher(d, 0, 50, options);
  batcher.startEpoch(2, true);
  FunctionIo io;
  io.imageSize = d.imageSize();
  const int64_t batch = 7, steps = batcher.batches(batch);
  BatchPipeline pipeline(batcher, io, batch, 5, steps, true);
  InputStaging want(io, batch);
  for (int64_t i = 5; i < steps; ++i) {
    const int64_t n = batcher.fill(i, batch, want.image.data(), nullptr, true);
    const auto [got, m] = pipeline.next();
    CHECK(m == n);
    CHECK(std::equal(want.image.begin(), want.image.begin() + n * io.imageSize, got.image.begin()));
  }
  CHECK(pipeline.next().n == 0);
}

TEST_CASE("pipeline: the producer runs ahead on its own thread, by the ring's depth") {
  const Dataset d = makeDataset(64);
  Batcher batcher(d, 0, 64, {});
  batcher.startEpoch(0, true);
  FunctionIo io;
  io.imageSize = d.imageSize();
  BatchPipeline pipeline(batcher, io, 4, 0, batcher.batches(4), false, 3);
  // Before anything is asked for, three batches get ready: the ring is full.
  CHECK(eventually([&] { return pipeline.produced() == 3; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(pipeline.produced() == 3);  // and it stops there while the consumer holds no slot free
  pipeline.next();                  // batch 0 is in use: still three batches filled
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(pipeline.produced() == 3);
  pipeline.next();  // batch 0 goes back: the producer fills batch 3 while batch 1 is used
  CHECK(eventually([&] { return pipeline.produced() == 4; }));
  CHECK(pipeline.waitSeconds() < 1.0);
}

TEST_CASE("pipeline: destroying it mid-epoch stops the producer") {
  const Dataset d = makeDataset(64);
  Batcher batcher(d, 0, 64, {});
  batcher.startEpoch(0, true);
  FunctionIo io;
  io.imageSize = d.imageSize();
  {
    BatchPipeline pipeline(batcher, io, 2, 0, batcher.batches(2), false);
    pipeline.next();
  }  // joins a producer that waits for a free slot
  CHECK(true);
}
