// Batches: Philox-driven shuffle and augmentation, per-channel normalization through lookup tables.
#include "runtime/batcher.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>

#include "support/philox.h"

namespace sinter {

namespace {

// Philox counter word 3: which use a draw is for, so shuffle and augmentation never share numbers.
constexpr uint32_t kShuffleStream = 0x53485546u;  // "SHUF"
constexpr uint32_t kAugmentStream = 0x41554700u;  // "AUG\0" + the augmentation's position

std::array<uint32_t, 2> seedKey(uint64_t seed) {
  return {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)};
}

std::array<uint32_t, 4> draw(uint64_t seed, uint64_t index, int64_t epoch, uint32_t stream) {
  return philox4x32_10({static_cast<uint32_t>(index), static_cast<uint32_t>(index >> 32),
                        static_cast<uint32_t>(epoch), stream},
                       seedKey(seed));
}

// Pads every side of each channel by `padding` with zeros and crops back at (dy, dx) of the padded
// image: out[y][x] = in[y + dy - padding][x + dx - padding], or 0 outside the image.
void crop(const uint8_t* in, uint8_t* out, int64_t channels, int64_t h, int64_t w, int64_t padding, int64_t dy,
          int64_t dx) {
  for (int64_t c = 0; c < channels; ++c) {
    const uint8_t* src = in + c * h * w;
    uint8_t* dst = out + c * h * w;
    for (int64_t y = 0; y < h; ++y) {
      const int64_t sy = y + dy - padding;
      for (int64_t x = 0; x < w; ++x) {
        const int64_t sx = x + dx - padding;
        dst[y * w + x] = (sy >= 0 && sy < h && sx >= 0 && sx < w) ? src[sy * w + sx] : 0;
      }
    }
  }
}

void hflip(uint8_t* image, int64_t channels, int64_t h, int64_t w) {
  for (int64_t row = 0; row < channels * h; ++row) std::reverse(image + row * w, image + (row + 1) * w);
}

}  // namespace

SplitSizes splitSizes(int64_t count, double fraction) {
  const auto validation = static_cast<int64_t>(std::floor(static_cast<double>(count) * fraction));
  return {count - validation, validation};
}

Status checkNormalize(const NormalizeConfig& normalize, int64_t channels) {
  for (const auto* values : {&normalize.mean, &normalize.std}) {
    const char* what = values == &normalize.mean ? "mean" : "std";
    if (values->size() != 1 && static_cast<int64_t>(values->size()) != channels)
      return Error(fmt::format("normalize {} has {} values but the images have {} channels", what, values->size(),
                               channels));
  }
  for (double s : normalize.std)
    if (s == 0 || !std::isfinite(s)) return Error(fmt::format("normalize std {} is not a positive number", s));
  return ok();
}

std::vector<std::array<float, 256>> normalizationTables(const NormalizeConfig& normalize, int64_t channels) {
  std::vector<std::array<float, 256>> tables(static_cast<size_t>(channels));
  for (int64_t c = 0; c < channels; ++c) {
    const double mean = normalize.mean.size() == 1 ? normalize.mean[0] : normalize.mean[static_cast<size_t>(c)];
    const double std = normalize.std.size() == 1 ? normalize.std[0] : normalize.std[static_cast<size_t>(c)];
    for (int p = 0; p < 256; ++p) tables[static_cast<size_t>(c)][p] = static_cast<float>((p / 255.0 - mean) / std);
  }
  return tables;
}

Batcher::Batcher(const Dataset& data, int64_t begin, int64_t end, BatcherOptions options)
    : data_(data), begin_(begin), options_(std::move(options)) {
  assert(0 <= begin && begin <= end && end <= data.count);
  lut_ = normalizationTables(options_.normalize, data.channels);
  order_.resize(static_cast<size_t>(end - begin));
  startEpoch(0, false);
}

void Batcher::startEpoch(int64_t epoch, bool shuffle) {
  epoch_ = epoch;
  for (size_t i = 0; i < order_.size(); ++i) order_[i] = begin_ + static_cast<int64_t>(i);
  if (!shuffle) return;
  for (size_t i = order_.size(); i-- > 1;) {
    const auto r = draw(options_.seed, i, epoch, kShuffleStream);
    const uint64_t bits = (uint64_t{r[0]} << 32) | r[1];
    // The modulo bias of a 64-bit draw over at most 2^32 choices is below 2^-32.
    std::swap(order_[i], order_[bits % (i + 1)]);
  }
}

void Batcher::writeImage(int64_t k, float* out, bool augment) const {
  const int64_t size = data_.imageSize(), plane = data_.height * data_.width;
  const uint8_t* pixels = data_.pixels.data() + k * size;
  std::vector<uint8_t> a, b;
  if (augment && !options_.augment.empty()) {
    a.assign(pixels, pixels + size);
    b.resize(static_cast<size_t>(size));
    for (size_t j = 0; j < options_.augment.size(); ++j) {
      const Augmentation& aug = options_.augment[j];
      const auto r = draw(options_.seed, static_cast<uint64_t>(k), epoch_, kAugmentStream + static_cast<uint32_t>(j));
      if (aug.kind == AugmentKind::RandomCrop) {
        const auto choices = static_cast<uint32_t>(2 * aug.padding + 1);
        crop(a.data(), b.data(), data_.channels, data_.height, data_.width, aug.padding, r[0] % choices,
             r[1] % choices);
        a.swap(b);
      } else if (r[2] & 1u) {
        hflip(a.data(), data_.channels, data_.height, data_.width);
      }
    }
    pixels = a.data();
  }
  for (int64_t c = 0; c < data_.channels; ++c) {
    const std::array<float, 256>& lut = lut_[static_cast<size_t>(c)];
    for (int64_t i = 0; i < plane; ++i) out[c * plane + i] = lut[pixels[c * plane + i]];
  }
}

int64_t Batcher::fill(int64_t index, int64_t batchSize, float* image, int32_t* labels, bool augment) const {
  const int64_t first = index * batchSize;
  const int64_t n = std::min(batchSize, size() - first);
  const int64_t size = data_.imageSize();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t k = order_[static_cast<size_t>(first + i)];
    writeImage(k, image + i * size, augment);
    if (labels) labels[i] = data_.labels[static_cast<size_t>(k)];
  }
  return n;
}

}  // namespace sinter
