// PNG reading through libpng's low-level API, from the file's bytes in memory.
//
// libpng reports errors by longjmp to the setjmp in the function that called it. The two functions that
// call libpng (readHeader, readRows) therefore hold no object with a destructor, and they store what
// they learn through plain pointers; everything that owns memory (the bytes, libpng's structs, the
// pixel buffers) lives in decodePng, outside the frames a longjmp skips.
#include "runtime/png.h"

#include <png.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>

namespace sinter {

namespace {

// libpng's error message, kept in a plain buffer (no allocation between the error and the longjmp).
struct PngError {
  char message[256] = {};
};

void onError(png_structp png, png_const_charp message) {
  auto* error = static_cast<PngError*>(png_get_error_ptr(png));
  std::snprintf(error->message, sizeof error->message, "%s", message);
  png_longjmp(png, 1);
}

void onWarning(png_structp, png_const_charp) {}

// Deflate cannot expand more than about 1032:1, so pixel data beyond that many times the file's size
// is a lie of the header, to be refused before the pixels are allocated.
constexpr uint64_t kMaxDeflateRatio = 1032;

// The file's bytes and how far libpng has read them.
struct PngInput {
  const png_byte* data = nullptr;
  size_t size = 0, pos = 0;
};

void readInput(png_structp png, png_bytep out, size_t n) {
  auto* in = static_cast<PngInput*>(png_get_io_ptr(png));
  if (n > in->size - in->pos) png_error(png, "Read Error");  // what libpng's own reader says at a short file
  std::memcpy(out, in->data + in->pos, n);
  in->pos += n;
}

struct Header {
  png_uint_32 width = 0, height = 0;
  uint64_t packedBytes = 0;  // the pixels as the file packs them: a lower bound on the inflated data
  int channels = 0;  // after the transformations: 1 (grey) or 3 (RGB)
  size_t rowBytes = 0;
};

// Reads the header and asks for 8-bit grey or RGB rows, whatever the file holds.
bool readHeader(png_structp png, png_infop info, PngInput* input, Header* header) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_read_fn(png, input, readInput);
  png_read_info(png, info);
  // Below 2^24 a side (png_set_user_limits), so the product stays far from overflow.
  const uint64_t bitsPerRow = uint64_t{png_get_image_width(png, info)} * png_get_bit_depth(png, info) *
                              png_get_channels(png, info);
  header->packedBytes = (bitsPerRow + 7) / 8 * png_get_image_height(png, info);
  const int colour = png_get_color_type(png, info);
  if (colour == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (colour == PNG_COLOR_TYPE_GRAY && png_get_bit_depth(png, info) < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (png_get_bit_depth(png, info) == 16) png_set_scale_16(png);
  png_set_strip_alpha(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  header->width = png_get_image_width(png, info);
  header->height = png_get_image_height(png, info);
  header->channels = png_get_channels(png, info);
  header->rowBytes = png_get_rowbytes(png, info);
  return true;
}

bool readRows(png_structp png, png_infop info, png_bytepp rows) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_image(png, rows);
  png_read_end(png, info);
  return true;
}

struct ReadStructs {
  png_structp png = nullptr;
  png_infop info = nullptr;
  ~ReadStructs() { png_destroy_read_struct(&png, info ? &info : nullptr, nullptr); }
};

}  // namespace

bool isPng(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  png_byte signature[8] = {};
  const bool png = std::fread(signature, 1, 8, f) == 8 && png_sig_cmp(signature, 0, 8) == 0;
  std::fclose(f);
  return png;
}

Expected<Image> readPng(const std::string& path, int64_t channels) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return Error(fmt::format("cannot open {}: {}", path, std::strerror(errno)));
  const std::vector<uint8_t> bytes{std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
  if (file.bad()) return Error(fmt::format("cannot read {}: {}", path, std::strerror(errno)));
  return decodePng(bytes, path, channels);
}

Expected<Image> decodePng(std::span<const uint8_t> bytes, std::string_view name, int64_t channels) {
  const auto fail = [&](std::string msg) { return Error(fmt::format("{}: {}", name, msg)); };
  if (bytes.size() < 8 || png_sig_cmp(bytes.data(), 0, 8) != 0)
    return fail("not a PNG image (no PNG signature at the start)");
  PngError error;
  ReadStructs s;
  s.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &error, onError, onWarning);
  if (!s.png) return fail("libpng could not start");
  s.info = png_create_info_struct(s.png);
  if (!s.info) return fail("libpng could not start");
  PngInput input{bytes.data(), bytes.size(), 8};
  png_set_sig_bytes(s.png, 8);
  // No picture we could classify is wider or taller than 2^24 (the PGM reader's limit too).
  png_set_user_limits(s.png, 1 << 24, 1 << 24);

  Header header;
  const auto damaged = [&] { return fail(fmt::format("damaged or truncated PNG (libpng: {})", error.message)); };
  if (!readHeader(s.png, s.info, &input, &header)) return damaged();
  if (header.packedBytes > kMaxDeflateRatio * bytes.size())
    return fail(fmt::format("damaged or truncated PNG: a {}x{} image needs {} bytes of pixel data, more than a "
                            "{}-byte file can hold",
                            header.width, header.height, header.packedBytes, bytes.size()));
  if (header.channels != 1 && header.channels != 3)
    return fail(fmt::format("unexpected {} channels after decoding", header.channels));
  if (channels == 3 && header.channels == 1) return fail("a grey image, but 3 channels (RGB) are needed");
  std::vector<png_byte> interleaved(header.rowBytes * header.height);
  std::vector<png_bytep> rows(header.height);
  for (png_uint_32 y = 0; y < header.height; ++y) rows[y] = interleaved.data() + y * header.rowBytes;
  if (!readRows(s.png, s.info, rows.data())) return damaged();

  Image image;
  image.channels = channels == 3 ? 3 : 1;
  image.height = header.height;
  image.width = header.width;
  const size_t plane = static_cast<size_t>(header.width) * header.height;
  image.pixels.resize(plane * static_cast<size_t>(image.channels));
  for (size_t i = 0; i < plane; ++i) {
    const png_byte* p = interleaved.data() + i * static_cast<size_t>(header.channels);
    if (header.channels == 1) {
      image.pixels[i] = p[0];
    } else if (image.channels == 1) {
      image.pixels[i] = static_cast<uint8_t>((299 * p[0] + 587 * p[1] + 114 * p[2] + 500) / 1000);
    } else {
      for (size_t c = 0; c < 3; ++c) image.pixels[c * plane + i] = p[c];
    }
  }
  return image;
}

}  // namespace sinter
