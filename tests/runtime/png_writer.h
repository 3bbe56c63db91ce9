// Writing small PNGs for tests with libpng's writer (any colour type and bit depth, optional palette).
#pragma once

#include <doctest/doctest.h>
#include <png.h>

#include <cstdio>
#include <string>
#include <vector>

namespace sinter::test {

// Writes `samples` (row-major, bitDepth 8: one byte a sample; 16: big-endian pairs; below 8: packed as
// PNG packs them) as a PNG of the given colour type. libpng aborts the test on a write error.
inline void writePng(const std::string& path, int width, int height, int colourType, int bitDepth,
                     const std::vector<uint8_t>& samples, const std::vector<png_color>& palette = {},
                     bool interlace = false) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  REQUIRE((png && info));
  png_init_io(png, f);
  png_set_IHDR(png, info, static_cast<png_uint_32>(width), static_cast<png_uint_32>(height), bitDepth, colourType,
               interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (!palette.empty()) png_set_PLTE(png, info, palette.data(), static_cast<int>(palette.size()));
  png_write_info(png, info);
  const size_t rowBytes = samples.size() / static_cast<size_t>(height);
  std::vector<png_bytep> rows;
  for (int y = 0; y < height; ++y) rows.push_back(const_cast<png_bytep>(samples.data() + static_cast<size_t>(y) * rowBytes));
  png_write_image(png, rows.data());
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  REQUIRE(std::fclose(f) == 0);
}

}  // namespace sinter::test
