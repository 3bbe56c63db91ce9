// PNG reading: each colour type and bit depth decoded to exact 0..255 pixels, and damaged files refused.
#include "runtime/png.h"

#include <doctest/doctest.h>
#include <zlib.h>

#include "png_writer.h"
#include "test_util.h"

using namespace sinter;
using sinter::test::TempDir;
using sinter::test::writePng;

namespace {

Image readOk(const std::string& path, int64_t channels) {
  auto image = readPng(path, channels);
  REQUIRE_MESSAGE(image.ok(), (image.ok() ? std::string() : image.error().message()));
  return image.take();
}

std::string readError(const std::string& path, int64_t channels = 1) {
  auto image = readPng(path, channels);
  REQUIRE_FALSE(image.ok());
  return image.error().message();
}

using Bytes = std::vector<uint8_t>;

}  // namespace

TEST_CASE("png: 8-bit grey, as is") {
  TempDir dir;
  const Bytes pixels = {0, 1, 127, 128, 254, 255};
  writePng(dir.file("g.png"), 3, 2, PNG_COLOR_TYPE_GRAY, 8, pixels);
  CHECK(isPng(dir.file("g.png")));
  const Image image = readOk(dir.file("g.png"), 1);
  CHECK(image.channels == 1);
  CHECK(image.height == 2);
  CHECK(image.width == 3);
  CHECK(image.pixels == pixels);
  // Interlaced the same.
  writePng(dir.file("i.png"), 3, 2, PNG_COLOR_TYPE_GRAY, 8, pixels, {}, true);
  CHECK(readOk(dir.file("i.png"), 1).pixels == pixels);
  // A grey image where colour is needed is refused, as a PGM given to a colour model is.
  CHECK(readError(dir.file("g.png"), 3) == dir.file("g.png") + ": a grey image, but 3 channels (RGB) are needed");
}

TEST_CASE("png: RGB as planes, or as luma") {
  TempDir dir;
  // Two pixels: (10, 20, 30) and (255, 0, 0).
  writePng(dir.file("c.png"), 2, 1, PNG_COLOR_TYPE_RGB, 8, {10, 20, 30, 255, 0, 0});
  CHECK(readOk(dir.file("c.png"), 3).pixels == Bytes{10, 255, 20, 0, 30, 0});
  // (299 * 10 + 587 * 20 + 114 * 30 + 500) / 1000 = 18; (299 * 255 + 500) / 1000 = 76.
  const Image grey = readOk(dir.file("c.png"), 1);
  CHECK(grey.channels == 1);
  CHECK(grey.pixels == Bytes{18, 76});
  // Alpha is dropped.
  writePng(dir.file("a.png"), 2, 1, PNG_COLOR_TYPE_RGB_ALPHA, 8, {10, 20, 30, 0, 255, 0, 0, 128});
  CHECK(readOk(dir.file("a.png"), 3).pixels == Bytes{10, 255, 20, 0, 30, 0});
  writePng(dir.file("ga.png"), 2, 1, PNG_COLOR_TYPE_GRAY_ALPHA, 8, {40, 0, 200, 255});
  CHECK(readOk(dir.file("ga.png"), 1).pixels == Bytes{40, 200});
}

TEST_CASE("png: 16-bit samples scale to 8 bits, rounded") {
  TempDir dir;
  // Big-endian 0, 257 * 16, 1000 (3.89 -> 4), 65535.
  writePng(dir.file("16.png"), 4, 1, PNG_COLOR_TYPE_GRAY, 16, {0x00, 0x00, 0x10, 0x10, 0x03, 0xe8, 0xff, 0xff});
  CHECK(readOk(dir.file("16.png"), 1).pixels == Bytes{0, 16, 4, 255});
  writePng(dir.file("rgb16.png"), 1, 1, PNG_COLOR_TYPE_RGB, 16, {0xff, 0xff, 0x80, 0x80, 0x00, 0x00});
  CHECK(readOk(dir.file("rgb16.png"), 3).pixels == Bytes{255, 128, 0});
}

TEST_CASE("png: palettes and low bit depths") {
  TempDir dir;
  const std::vector<png_color> palette = {{0, 0, 0}, {90, 90, 90}, {255, 255, 255}, {0, 0, 255}};
  // 2-bit indices 0 1 2 3 packed into one byte, then 3 2 1 0.
  writePng(dir.file("p.png"), 4, 2, PNG_COLOR_TYPE_PALETTE, 2, {0b00011011, 0b11100100}, palette);
  CHECK(readOk(dir.file("p.png"), 3).pixels == Bytes{0, 90, 255, 0, 0, 255, 90, 0,    // R
                                                     0, 90, 255, 0, 0, 255, 90, 0,    // G
                                                     0, 90, 255, 255, 255, 255, 90, 0});  // B
  // Grey palette entries keep their value; blue's luma is (114 * 255 + 500) / 1000 = 29.
  CHECK(readOk(dir.file("p.png"), 1).pixels == Bytes{0, 90, 255, 29, 29, 255, 90, 0});
  // 1-bit and 4-bit grey stretch to 0..255 (4-bit v -> 17 v).
  writePng(dir.file("1.png"), 8, 1, PNG_COLOR_TYPE_GRAY, 1, {0b10100000});
  CHECK(readOk(dir.file("1.png"), 1).pixels == Bytes{255, 0, 255, 0, 0, 0, 0, 0});
  writePng(dir.file("4.png"), 2, 1, PNG_COLOR_TYPE_GRAY, 4, {0x3f});
  CHECK(readOk(dir.file("4.png"), 1).pixels == Bytes{51, 255});
}

TEST_CASE("png: damaged files are errors naming the file") {
  TempDir dir;
  Bytes pixels(64 * 64);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i * 7919 % 251);
  writePng(dir.file("ok.png"), 64, 64, PNG_COLOR_TYPE_GRAY, 8, pixels);
  const std::string bytes = test::readBytes(dir.file("ok.png"));
  REQUIRE(readOk(dir.file("ok.png"), 1).pixels == pixels);
  // Cut anywhere: in the header, in the image data, before the end chunk.
  for (size_t keep : {size_t{8}, size_t{20}, size_t{40}, bytes.size() / 2, bytes.size() - 20, bytes.size() - 1}) {
    CAPTURE(keep);
    test::writeBytes(dir.file("cut.png"), std::string_view(bytes).substr(0, keep));
    CHECK(readError(dir.file("cut.png")).starts_with(dir.file("cut.png") + ": damaged or truncated PNG (libpng: "));
  }
  // A flipped byte in the image data fails its CRC.
  std::string flipped = bytes;
  flipped[bytes.size() / 2] = static_cast<char>(flipped[bytes.size() / 2] ^ 0x55);
  test::writeBytes(dir.file("crc.png"), flipped);
  CHECK(readError(dir.file("crc.png")).starts_with(dir.file("crc.png") + ": damaged or truncated PNG (libpng: "));
  test::writeBytes(dir.file("no.png"), std::string("P5\n1 1\n255\n\x00", 12));
  CHECK_FALSE(isPng(dir.file("no.png")));
  CHECK(readError(dir.file("no.png")) == dir.file("no.png") + ": not a PNG image (no PNG signature at the start)");
  CHECK(readError(dir.file("missing.png")).starts_with("cannot open " + dir.file("missing.png") + ": "));
}

TEST_CASE("png: a header promising more pixels than the file could hold is refused before they are allocated") {
  TempDir dir;
  writePng(dir.file("one.png"), 1, 1, PNG_COLOR_TYPE_GRAY, 8, Bytes{7});
  std::string bytes = test::readBytes(dir.file("one.png"));
  // IHDR's width and height (bytes 16..23) become 16777215 each, and its CRC (bytes 29..32) is redone.
  for (size_t i = 16; i < 24; ++i) bytes[i] = static_cast<char>(i % 4 == 0 ? 0x00 : 0xff);
  const uint32_t crc = static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(bytes.data() + 12), 17));
  for (int k = 0; k < 4; ++k) bytes[29 + k] = static_cast<char>(crc >> (24 - 8 * k));
  test::writeBytes(dir.file("huge.png"), bytes);
  CHECK(readError(dir.file("huge.png")) ==
        dir.file("huge.png") + ": damaged or truncated PNG: a 16777215x16777215 image needs 281474943156225 bytes of "
                               "pixel data, more than a " + std::to_string(bytes.size()) + "-byte file can hold");
  // The bytes in memory read as the file does.
  auto fromBytes = decodePng(std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()), "mem", 1);
  REQUIRE_FALSE(fromBytes.ok());
  CHECK(fromBytes.error().message().starts_with("mem: damaged or truncated PNG: a 16777215x16777215 image"));
  const std::string one = test::readBytes(dir.file("one.png"));
  auto ok = decodePng(std::span(reinterpret_cast<const uint8_t*>(one.data()), one.size()), "mem", 1);
  REQUIRE(ok.ok());
  CHECK(ok->pixels == Bytes{7});
}
