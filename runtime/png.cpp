// PNG reading through libpng's low-level API.
//
// libpng reports errors by longjmp to the setjmp in the function that called it. The two functions that
// call libpng (readHeader, readRows) therefore hold no object with a destructor, and they store what
// they learn through plain pointers; everything that owns memory (the file, libpng's structs, the
// pixel buffers) lives in readPng, outside the frames a longjmp skips.
#include "runtime/png.h"

#include <png.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
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

struct Header {
  png_uint_32 width = 0, height = 0;
  int channels = 0;  // after the transformations: 1 (grey) or 3 (RGB)
  size_t rowBytes = 0;
};

// Reads the header and asks for 8-bit grey or RGB rows, whatever the file holds.
bool readHeader(png_structp png, png_infop info, std::FILE* file, Header* header) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_init_io(png, file);
  png_read_info(png, info);
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
  const auto fail = [&](std::string msg) { return Error(fmt::format("{}: {}", path, msg)); };
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) return Error(fmt::format("cannot open {}: {}", path, std::strerror(errno)));
  png_byte signature[8] = {};
  if (std::fread(signature, 1, 8, file.get()) != 8 || png_sig_cmp(signature, 0, 8) != 0)
    return fail("not a PNG image (no PNG signature at the start)");
  PngError error;
  ReadStructs s;
  s.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &error, onError, onWarning);
  if (!s.png) return fail("libpng could not start");
  s.info = png_create_info_struct(s.png);
  if (!s.info) return fail("libpng could not start");
  png_set_sig_bytes(s.png, 8);
  // No picture we could classify is wider or taller than 2^24 (the PGM reader's limit too).
  png_set_user_limits(s.png, 1 << 24, 1 << 24);

  Header header;
  const auto damaged = [&] { return fail(fmt::format("damaged or truncated PNG (libpng: {})", error.message)); };
  if (!readHeader(s.png, s.info, file.get(), &header)) return damaged();
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
