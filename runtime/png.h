// PNG images for predict, decoded by libpng into the pixels the PGM path gives (0..255 per channel).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "support/error.h"

namespace sinter {

// An image's pixels, 0..255, channel-major (channels x height x width) as a model's NCHW input takes them.
struct Image {
  int64_t channels = 0, height = 0, width = 0;
  std::vector<uint8_t> pixels;
};

// Whether the file starts with the PNG signature.
bool isPng(const std::string& path);

// Reads a PNG as `channels` channels, 1 (grey) or 3 (RGB). Every colour type and bit depth is read:
// palettes are looked up, grey below 8 bits is stretched to 0..255, 16-bit samples are scaled to 8 bits
// (rounded), alpha is dropped. A colour image read as grey takes ITU-R 601 luma, (299 R + 587 G + 114 B)
// / 1000 rounded, as PIL's convert("L") does; a grey image read as RGB is an error, as a PGM given to a
// colour model is. A damaged or truncated file is an error naming the file and libpng's complaint.
Expected<Image> readPng(const std::string& path, int64_t channels);
// The same for a file already in memory (name stands for its path in errors). A header that promises
// more pixels than the bytes could inflate to is an error before anything is allocated for them.
Expected<Image> decodePng(std::span<const uint8_t> bytes, std::string_view name, int64_t channels);

}  // namespace sinter
