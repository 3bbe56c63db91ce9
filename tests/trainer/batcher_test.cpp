// The batcher: normalization values, the exact last partial batch, the shuffle's reproducibility and
// permutation property, the validation split, and random crop / horizontal flip on tiny images.
#include "runtime/batcher.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <numeric>
#include <set>

using namespace sinter;

namespace {

// count images of channels x h x w whose pixels are given by pixel(image, index).
template <typename F>
Dataset makeDataset(int64_t count, int64_t channels, int64_t h, int64_t w, F pixel) {
  Dataset d;
  d.count = count;
  d.channels = channels;
  d.height = h;
  d.width = w;
  d.classes = 10;
  for (int64_t k = 0; k < count; ++k) {
    for (int64_t i = 0; i < d.imageSize(); ++i) d.pixels.push_back(static_cast<uint8_t>(pixel(k, i)));
    d.labels.push_back(static_cast<int32_t>(k % 10));
  }
  return d;
}

// A normalization that maps pixel p to exactly p, so augmented images can be compared with raw pixels.
NormalizeConfig identity() { return {{0.0}, {1.0 / 255}}; }

}  // namespace

TEST_CASE("batcher: default normalization maps 0..255 to [-1, 1]") {
  const Dataset d = makeDataset(1, 1, 2, 2, [](int64_t, int64_t i) { return std::vector{0, 255, 51, 128}[i]; });
  Batcher batcher(d, 0, 1, {});
  std::vector<float> out(4);
  int32_t label = -1;
  CHECK(batcher.fill(0, 8, out.data(), &label, false) == 1);
  CHECK(out[0] == -1.0f);
  CHECK(out[1] == 1.0f);
  CHECK(out[2] == doctest::Approx(-0.6).epsilon(1e-7));
  CHECK(out[3] == static_cast<float>((128 / 255.0 - 0.5) / 0.5));
  CHECK(label == 0);
}

TEST_CASE("batcher: per-channel mean and std") {
  const Dataset d = makeDataset(1, 3, 1, 1, [](int64_t, int64_t) { return 255; });
  BatcherOptions options;
  options.normalize = {{0.1, 0.2, 0.3}, {0.5, 0.25, 1.0}};
  Batcher batcher(d, 0, 1, options);
  std::vector<float> out(3);
  batcher.fill(0, 1, out.data(), nullptr, false);
  CHECK(out[0] == static_cast<float>(0.9 / 0.5));
  CHECK(out[1] == static_cast<float>(0.8 / 0.25));
  CHECK(out[2] == static_cast<float>(0.7));

  CHECK_FALSE(checkNormalize({{0.1, 0.2}, {0.5}}, 3).ok());
  CHECK(checkNormalize({{0.1, 0.2}, {0.5}}, 3).error().message() == "normalize mean has 2 values but the images have 3 channels");
  CHECK_FALSE(checkNormalize({{0.5}, {0.0}}, 1).ok());
  CHECK(checkNormalize({{0.5}, {0.5}}, 3).ok());
}

TEST_CASE("batcher: the last partial batch holds exactly the remaining images") {
  const Dataset d = makeDataset(10, 1, 1, 1, [](int64_t k, int64_t) { return k; });
  Batcher batcher(d, 0, 10, {identity(), {}, 7});
  REQUIRE(batcher.batches(4) == 3);
  batcher.startEpoch(0, true);
  std::vector<float> image(4);
  std::vector<int32_t> labels(4, -1);
  std::multiset<int> seen;
  for (int64_t b = 0; b < 3; ++b) {
    const int64_t n = batcher.fill(b, 4, image.data(), labels.data(), false);
    CHECK(n == (b < 2 ? 4 : 2));
    for (int64_t i = 0; i < n; ++i) {
      const int64_t k = batcher.order()[static_cast<size_t>(b * 4 + i)];
      CHECK(image[static_cast<size_t>(i)] == static_cast<float>(k));
      CHECK(labels[static_cast<size_t>(i)] == k % 10);
      seen.insert(static_cast<int>(image[static_cast<size_t>(i)]));
    }
  }
  CHECK(seen == std::multiset<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  CHECK(batcher.batches(10) == 1);
  CHECK(batcher.batches(11) == 1);
  CHECK(batcher.batches(1) == 10);
}

TEST_CASE("batcher: the shuffle is a permutation fixed by (seed, epoch) alone") {
  const Dataset d = makeDataset(1000, 1, 1, 1, [](int64_t, int64_t) { return 0; });
  Batcher a(d, 0, 1000, {{}, {}, 42});
  Batcher b(d, 0, 1000, {{}, {}, 42});
  Batcher other(d, 0, 1000, {{}, {}, 43});

  a.startEpoch(0, false);
  std::vector<int64_t> identityOrder(1000);
  std::iota(identityOrder.begin(), identityOrder.end(), 0);
  CHECK(a.order() == identityOrder);

  for (int64_t e = 0; e < 4; ++e) a.startEpoch(e, true);  // a has seen epochs 0..3, b jumps to 3
  b.startEpoch(3, true);
  CHECK(a.order() == b.order());
  std::vector<int64_t> sorted = a.order();
  std::sort(sorted.begin(), sorted.end());
  CHECK(sorted == identityOrder);
  CHECK(a.order() != identityOrder);

  const std::vector<int64_t> epoch3 = a.order();
  a.startEpoch(4, true);
  CHECK(a.order() != epoch3);
  other.startEpoch(3, true);
  CHECK(other.order() != epoch3);

  // Every position is about equally likely to hold image 0 (a fair shuffle): over 1000 epochs of a
  // 4-image set each of the 4 positions should see it about 250 times.
  const Dataset small = makeDataset(4, 1, 1, 1, [](int64_t, int64_t) { return 0; });
  Batcher s(small, 0, 4, {{}, {}, 1});
  std::vector<int> where(4);
  for (int64_t e = 0; e < 1000; ++e) {
    s.startEpoch(e, true);
    ++where[static_cast<size_t>(std::find(s.order().begin(), s.order().end(), 0) - s.order().begin())];
  }
  for (int count : where) CHECK(std::abs(count - 250) < 60);
}

TEST_CASE("batcher: the validation split is the tail of the set before shuffling") {
  CHECK(splitSizes(100, 0.1).train == 90);
  CHECK(splitSizes(100, 0.1).validation == 10);
  CHECK(splitSizes(2000, 0).validation == 0);
  CHECK(splitSizes(7, 0.5).validation == 3);

  const Dataset d = makeDataset(100, 1, 1, 1, [](int64_t k, int64_t) { return k; });
  Batcher train(d, 0, 90, {{}, {}, 5});
  Batcher validation(d, 90, 100, {{}, {}, 5});
  train.startEpoch(1, true);
  CHECK(train.size() == 90);
  CHECK(*std::max_element(train.order().begin(), train.order().end()) == 89);
  validation.startEpoch(0, false);
  CHECK(validation.order().front() == 90);
  CHECK(validation.order().back() == 99);
}

TEST_CASE("batcher: random crop shifts within the zero padding, reproducibly") {
  // One 1x3x3 image per k, pixels 1..9 (so 0 only ever comes from the padding).
  const Dataset d = makeDataset(400, 1, 3, 3, [](int64_t, int64_t i) { return i + 1; });
  BatcherOptions options{identity(), {{AugmentKind::RandomCrop, 1}}, 11};
  Batcher batcher(d, 0, 400, options);
  batcher.startEpoch(2, true);

  std::set<std::pair<int, int>> offsets;
  std::vector<float> out(9);
  for (int64_t k = 0; k < 400; ++k) {
    batcher.writeImage(k, out.data(), true);
    // Find the shift (sy, sx) in [-1, 1]^2 that explains the output.
    bool found = false;
    for (int sy = -1; sy <= 1 && !found; ++sy)
      for (int sx = -1; sx <= 1 && !found; ++sx) {
        bool match = true;
        for (int y = 0; y < 3; ++y)
          for (int x = 0; x < 3; ++x) {
            const int iy = y + sy, ix = x + sx;
            const float expect = (iy >= 0 && iy < 3 && ix >= 0 && ix < 3) ? static_cast<float>(iy * 3 + ix + 1) : 0.0f;
            match = match && out[static_cast<size_t>(y * 3 + x)] == expect;
          }
        if (match) {
          found = true;
          offsets.insert({sy, sx});
        }
      }
    CHECK(found);
  }
  CHECK(offsets.size() == 9);  // every shift occurs

  // The same (seed, epoch, image) gives the same crop, wherever the image falls in the batches.
  std::vector<float> again(9), batch(4 * 9);
  batcher.writeImage(17, out.data(), true);
  Batcher other(d, 0, 400, options);
  other.startEpoch(2, false);
  other.fill(4, 4, batch.data(), nullptr, true);  // images 16..19 in order
  CHECK(std::equal(out.begin(), out.end(), batch.begin() + 9));
  // Without augmentation the image is untouched.
  batcher.writeImage(17, again.data(), false);
  for (int i = 0; i < 9; ++i) CHECK(again[static_cast<size_t>(i)] == static_cast<float>(i + 1));
}

TEST_CASE("batcher: horizontal flip mirrors about half the images, per channel") {
  const Dataset d = makeDataset(1000, 2, 2, 3, [](int64_t, int64_t i) { return i + 1; });
  Batcher batcher(d, 0, 1000, {identity(), {{AugmentKind::HFlip, 0}}, 3});
  batcher.startEpoch(0, true);
  const std::vector<float> original{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  const std::vector<float> mirrored{3, 2, 1, 6, 5, 4, 9, 8, 7, 12, 11, 10};
  int flipped = 0;
  std::vector<float> out(12);
  for (int64_t k = 0; k < 1000; ++k) {
    batcher.writeImage(k, out.data(), true);
    const bool isFlipped = out == mirrored;
    CHECK((isFlipped || out == original));
    flipped += isFlipped;
  }
  CHECK(flipped > 430);
  CHECK(flipped < 570);

  // Another epoch draws again.
  std::vector<float> epoch0(12), epoch1(12);
  int differ = 0;
  for (int64_t k = 0; k < 100; ++k) {
    batcher.startEpoch(0, true);
    batcher.writeImage(k, epoch0.data(), true);
    batcher.startEpoch(1, true);
    batcher.writeImage(k, epoch1.data(), true);
    differ += epoch0 != epoch1;
  }
  CHECK(differ > 25);
}
