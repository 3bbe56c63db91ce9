// Image datasets from disk: MNIST-style IDX files (plain or gzip), the CIFAR-10 binary set, and PGM images.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "support/error.h"

namespace sinter {

// A labelled image set, pixels as stored on disk (0..255), laid out N x C x H x W.
struct Dataset {
  int64_t count = 0, channels = 0, height = 0, width = 0;
  std::vector<uint8_t> pixels;  // count * channels * height * width
  std::vector<int32_t> labels;  // count, each in [0, classes)
  int32_t classes = 0;

  bool empty() const { return count == 0; }
  int64_t imageSize() const { return channels * height * width; }
};

// A data directory's splits. A split the directory does not have is an empty Dataset (count 0):
// the CIFAR-10 sample holds only a test batch, and the caller decides whether that is enough.
struct DataSplits {
  Dataset train, test;
  std::string description;  // one line for the user: format, directory, counts, image shape
};

// Loads DIR as MNIST-style IDX (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte,
// t10k-labels-idx1-ubyte, each plain or .gz; MNIST and Fashion-MNIST) or CIFAR-10 binary
// (data_batch_N.bin for train; test_batch.bin, or a single test_batch*.bin, for test). Every file is
// validated; errors name the file and what is wrong. A directory with neither set is an error that
// lists the names it looked for.
Expected<DataSplits> loadDataDir(const std::string& dir);

// The pixels of an IDX3 unsigned-byte image file (magic 0x00000803), plain or gzip.
struct IdxImages {
  int64_t count = 0, height = 0, width = 0;
  std::vector<uint8_t> pixels;  // count * height * width, row-major
};
// Images of at most 2^24 - 1 pixels a side.
Expected<IdxImages> readIdxImages(const std::string& path);

// The labels of an IDX1 unsigned-byte label file (magic 0x00000801), plain or gzip; each label must be
// below classes.
Expected<std::vector<int32_t>> readIdxLabels(const std::string& path, int32_t classes = 10);

// Images and labels from a pair of IDX files, which must agree in count. One channel, ten classes.
Expected<Dataset> readIdxDataset(const std::string& imagesPath, const std::string& labelsPath);

// CIFAR-10 binary batches (records of 1 label byte + 3072 pixel bytes, R then G then B planes of 32x32),
// concatenated in the given order.
Expected<Dataset> readCifarBatches(const std::vector<std::string>& paths);

// A grey image from a PGM file: binary P5 or ASCII P2, maxval 1..255. Pixels are rescaled to 0..255
// when maxval is below 255, so they mean what MNIST's pixels mean.
struct GrayImage {
  int64_t width = 0, height = 0;
  int maxval = 255;             // as in the file
  std::vector<uint8_t> pixels;  // height * width, row-major, scaled to 0..255
};
Expected<GrayImage> readPgm(const std::string& path);

// The readers above for a file already in memory (name stands for its path in errors). The bytes are
// read as they are (not gunzipped); a header never makes them allocate more than the bytes hold.
Expected<IdxImages> parseIdxImages(std::span<const uint8_t> bytes, std::string_view name);
Expected<std::vector<int32_t>> parseIdxLabels(std::span<const uint8_t> bytes, std::string_view name,
                                              int32_t classes = 10);
Expected<Dataset> parseCifarBatch(std::span<const uint8_t> bytes, std::string_view name);
Expected<GrayImage> parsePgm(std::span<const uint8_t> bytes, std::string_view name);

}  // namespace sinter
