// Data loading: MNIST and the CIFAR-10 sample from shared/data, Fashion-MNIST when installed, and every
// validation error on files corrupted in a temporary directory.
#include "runtime/dataset.h"

#include <doctest/doctest.h>
#include <zlib.h>

#include <chrono>
#include <filesystem>
#include <numeric>

#include "tests/runtime/test_util.h"

using namespace sinter;
using sinter::test::TempDir;

namespace {

const std::string kDataDir = SINTER_SOURCE_DIR "/../shared/data";

std::string bigEndian(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

// An IDX file: magic, big-endian dimensions, then the payload.
std::string idxBytes(uint32_t magic, std::vector<uint32_t> dims, std::string_view payload) {
  std::string out = bigEndian(magic);
  for (uint32_t d : dims) out += bigEndian(d);
  out += payload;
  return out;
}

std::string idxImages(uint32_t count, uint32_t rows, uint32_t cols) {
  std::string payload(size_t{count} * rows * cols, '\0');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i % 251);
  return idxBytes(0x803, {count, rows, cols}, payload);
}

std::string idxLabels(std::vector<uint8_t> labels) {
  return idxBytes(0x801, {static_cast<uint32_t>(labels.size())}, std::string(labels.begin(), labels.end()));
}

void writeGz(const std::string& path, std::string_view bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) == static_cast<int>(bytes.size()));
  REQUIRE(gzclose(f) == Z_OK);
}

template <typename T>
std::string errorOf(const Expected<T>& r) {
  REQUIRE_FALSE(r.ok());
  return r.error().message();
}

std::string cifarRecord(uint8_t label, uint8_t fill) {
  return std::string(1, static_cast<char>(label)) + std::string(3072, static_cast<char>(fill));
}

}  // namespace

TEST_CASE("dataset: MNIST from shared/data") {
  const auto start = std::chrono::steady_clock::now();
  auto s = loadDataDir(kDataDir + "/mnist");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  REQUIRE_MESSAGE(s.ok(), (s.ok() ? "" : s.error().message()));
  MESSAGE(fmt::format("loaded MNIST (70000 images, gzip) in {:.3f} s", seconds));

  const Dataset& train = s->train;
  CHECK(train.count == 60000);
  CHECK(train.channels == 1);
  CHECK(train.height == 28);
  CHECK(train.width == 28);
  CHECK(train.classes == 10);
  CHECK(train.pixels.size() == 60000u * 784);
  REQUIRE(train.labels.size() == 60000);
  CHECK(std::vector<int32_t>(train.labels.begin(), train.labels.begin() + 10) ==
        std::vector<int32_t>{5, 0, 4, 1, 9, 2, 1, 3, 1, 4});
  // The first digit (a 5): its ink and its centre pixel.
  CHECK(std::accumulate(train.pixels.begin(), train.pixels.begin() + 784, 0) == 27525);
  CHECK(train.pixels[14 * 28 + 14] == 240);

  CHECK(s->test.count == 10000);
  CHECK(s->test.pixels.size() == 10000u * 784);
  CHECK(std::vector<int32_t>(s->test.labels.begin(), s->test.labels.begin() + 10) ==
        std::vector<int32_t>{7, 2, 1, 0, 4, 1, 4, 9, 5, 9});
  CHECK(s->description ==
        "MNIST-style IDX in " + kDataDir + "/mnist: 60000 train and 10000 test images of 1x28x28, 10 classes");
}

TEST_CASE("dataset: the CIFAR-10 sample has a test split only") {
  auto s = loadDataDir(kDataDir + "/cifar10-sample");
  REQUIRE_MESSAGE(s.ok(), (s.ok() ? "" : s.error().message()));
  CHECK(s->train.empty());
  CHECK(s->train.pixels.empty());
  const Dataset& test = s->test;
  CHECK(test.count == 1000);
  CHECK(test.channels == 3);
  CHECK(test.height == 32);
  CHECK(test.width == 32);
  CHECK(test.classes == 10);
  CHECK(test.pixels.size() == 1000u * 3072);
  CHECK(std::vector<int32_t>(test.labels.begin(), test.labels.begin() + 10) ==
        std::vector<int32_t>{3, 8, 8, 0, 6, 6, 1, 6, 3, 1});
  // NCHW: the first pixel's red, green and blue sit a plane apart.
  CHECK(test.pixels[0] == 158);
  CHECK(test.pixels[1024] == 112);
  CHECK(test.pixels[2048] == 49);
  CHECK(s->description ==
        "CIFAR-10 binary in " + kDataDir + "/cifar10-sample: 1000 test images of 3x32x32 (no train split), 10 classes");
}

TEST_CASE("dataset: Fashion-MNIST when installed") {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  if (!std::filesystem::exists(dir)) {
    MESSAGE("skipped: " << dir << " is not installed (Debian package dataset-fashion-mnist)");
    return;
  }
  auto s = loadDataDir(dir);
  REQUIRE_MESSAGE(s.ok(), (s.ok() ? "" : s.error().message()));
  CHECK(s->train.count == 60000);
  CHECK(s->test.count == 10000);
  CHECK(s->train.height == 28);
  CHECK(std::vector<int32_t>(s->train.labels.begin(), s->train.labels.begin() + 10) ==
        std::vector<int32_t>{9, 0, 0, 3, 0, 2, 7, 2, 5, 5});
  CHECK(std::vector<int32_t>(s->test.labels.begin(), s->test.labels.begin() + 10) ==
        std::vector<int32_t>{9, 2, 1, 1, 6, 1, 4, 6, 5, 7});
}

TEST_CASE("dataset: IDX files, plain and gzip, read the same") {
  TempDir dir;
  const std::string images = idxImages(3, 2, 4);
  test::writeBytes(dir.file("plain"), images);
  writeGz(dir.file("packed.gz"), images);
  auto a = readIdxImages(dir.file("plain"));
  auto b = readIdxImages(dir.file("packed.gz"));
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->count == 3);
  CHECK(a->height == 2);
  CHECK(a->width == 4);
  CHECK(a->pixels.size() == 24);
  CHECK(a->pixels[23] == 23);
  CHECK(a->pixels == b->pixels);

  // Zero images is a valid (empty) file.
  test::writeBytes(dir.file("none"), idxImages(0, 28, 28));
  auto none = readIdxImages(dir.file("none"));
  REQUIRE(none.ok());
  CHECK(none->count == 0);
}

TEST_CASE("dataset: IDX header errors") {
  TempDir dir;
  const std::string p = dir.file("train-images-idx3-ubyte");
  test::writeBytes(p, std::string_view("\0\0\x08", 3));
  CHECK(errorOf(readIdxImages(p)) == p + ": file is 3 bytes, too short for an IDX header");
  test::writeBytes(p, idxBytes(0x12345678, {1, 1, 1}, "x"));
  CHECK(errorOf(readIdxImages(p)) == p + ": bad magic 0x12345678: not an IDX file (expected 0x00000803 for images)");
  test::writeBytes(p, idxBytes(0x0D03, {1, 1, 1}, "xxxx"));
  CHECK(errorOf(readIdxImages(p)) ==
        p + ": IDX element type 0x0d is not supported: images must be unsigned bytes (0x08)");
  test::writeBytes(p, idxLabels({1, 2}));
  CHECK(errorOf(readIdxImages(p)) ==
        p + ": IDX file has 1 dimensions but images have 3 (magic 0x00000801, expected 0x00000803)");
  test::writeBytes(p, idxImages(1, 2, 2));
  CHECK(errorOf(readIdxLabels(p)) ==
        p + ": IDX file has 3 dimensions but labels have 1 (magic 0x00000803, expected 0x00000801)");
  test::writeBytes(p, idxImages(1, 2, 2).substr(0, 10));
  CHECK(errorOf(readIdxImages(p)) == p + ": file is 10 bytes, too short for the 16-byte IDX header of images");
  test::writeBytes(p, idxBytes(0x803, {2, 0, 5}, ""));
  CHECK(errorOf(readIdxImages(p)) == p + ": images of 0x5 pixels are empty");
  // A header promising 2^32 * 2^32 * 2^32 bytes: refused before anything is allocated.
  test::writeBytes(p, idxBytes(0x803, {0xffffffff, 0xffffffff, 0xffffffff}, ""));
  CHECK(errorOf(readIdxImages(p)) == p + ": IDX dimensions are too large");
  // A product that fits in 64 bits but not in the file: reported without allocating it.
  test::writeBytes(p, idxBytes(0x803, {0xffffffff, 0xffffffff, 1}, "abc"));
  CHECK(errorOf(readIdxImages(p)) ==
        p + ": truncated: the header describes 18446744065119617025 bytes of images (18446744065119617041 with the "
            "header) but the file holds 19");
  // No images, but images of a size whose products overflow wherever they are used.
  test::writeBytes(p, idxBytes(0x803, {0, 0xffffffff, 0xffffffff}, ""));
  CHECK(errorOf(readIdxImages(p)) == p + ": images of 4294967295x4294967295 pixels are too large (at most 16777215 a side)");
}

TEST_CASE("dataset: loaders read bytes in memory as they read files") {
  const auto span = [](const std::string& s) { return std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size()); };
  const std::string images = idxImages(3, 2, 4);
  auto a = parseIdxImages(span(images), "mem");
  REQUIRE(a.ok());
  CHECK(a->count == 3);
  CHECK(a->pixels.size() == 24);
  CHECK(errorOf(parseIdxImages(span(images.substr(0, 20)), "mem")) ==
        "mem: truncated: the header describes 24 bytes of images (40 with the header) but the file holds 20");
  const std::string labels = idxLabels({0, 9, 4});
  auto l = parseIdxLabels(span(labels), "mem");
  REQUIRE(l.ok());
  CHECK(*l == std::vector<int32_t>{0, 9, 4});
  CHECK(errorOf(parseIdxLabels(span(idxLabels({0, 10})), "mem")) ==
        "mem: label 1 is 10, but there are only 10 classes (0..9)");
  const std::string cifar = cifarRecord(3, 5) + cifarRecord(7, 6);
  auto c = parseCifarBatch(span(cifar), "mem");
  REQUIRE(c.ok());
  CHECK(c->count == 2);
  CHECK(c->labels == std::vector<int32_t>{3, 7});
  CHECK(errorOf(parseCifarBatch(span(cifar.substr(1)), "mem")) ==
        "mem: the file holds 6145 bytes, not a whole number of 3073-byte CIFAR-10 records (1 label + 3x32x32 pixels): "
        "1 records and 3072 bytes left over");
  auto g = parsePgm(span("P2 2 1 255 7 9\n"), "mem");
  REQUIRE(g.ok());
  CHECK(g->pixels == std::vector<uint8_t>{7, 9});
}

TEST_CASE("dataset: IDX size errors give expected and actual sizes") {
  TempDir dir;
  const std::string p = dir.file("t10k-images-idx3-ubyte");
  const std::string full = idxImages(3, 2, 2);  // 16 + 12 bytes
  test::writeBytes(p, full.substr(0, full.size() - 2));
  CHECK(errorOf(readIdxImages(p)) ==
        p + ": truncated: the header describes 12 bytes of images (28 with the header) but the file holds 26");
  test::writeBytes(p, full + "xyz");
  CHECK(errorOf(readIdxImages(p)) ==
        p + ": 3 bytes past the end: the header describes 28 bytes in all but the file holds 31");

  const std::string gz = dir.file("t10k-images-idx3-ubyte.gz");
  writeGz(gz, full.substr(0, full.size() - 5));
  CHECK(errorOf(readIdxImages(gz)) == gz + ": truncated: the header describes 12 bytes of images (28 with the header) "
                                           "but decompressed, the file holds 23");
  // A header that promises far more than the compressed file could hold still reports the real size.
  writeGz(gz, idxBytes(0x803, {60000, 28, 28}, "abc"));
  CHECK(errorOf(readIdxImages(gz)) == gz + ": truncated: the header describes 47040000 bytes of images (47040016 with "
                                           "the header) but decompressed, the file holds 19");

  // A gzip stream cut short is reported as such, not as a short IDX file.
  const std::string whole = dir.file("whole.gz");
  writeGz(whole, idxImages(100, 28, 28));
  const std::string compressed = test::readBytes(whole);
  test::writeBytes(gz, compressed.substr(0, compressed.size() / 2));
  CHECK(errorOf(readIdxImages(gz)) == gz + ": gzip data is truncated (unexpected end of the stream)");
  // A corrupted gzip stream.
  std::string corrupt = compressed;
  for (size_t i = 20; i < 60; ++i) corrupt[i] = static_cast<char>(~corrupt[i]);
  test::writeBytes(gz, corrupt);
  CHECK(errorOf(readIdxImages(gz)).find(gz + ": corrupt gzip data: ") == 0);

  CHECK(errorOf(readIdxImages(dir.file("absent"))) == dir.file("absent") + ": cannot open: No such file or directory");
}

TEST_CASE("dataset: labels are checked against the classes") {
  TempDir dir;
  const std::string p = dir.file("train-labels-idx1-ubyte");
  test::writeBytes(p, idxLabels({0, 9, 12, 3}));
  CHECK(errorOf(readIdxLabels(p)) == p + ": label 2 is 12, but there are only 10 classes (0..9)");
  auto wide = readIdxLabels(p, 13);
  REQUIRE(wide.ok());
  CHECK(*wide == std::vector<int32_t>{0, 9, 12, 3});
}

TEST_CASE("dataset: IDX data directories") {
  TempDir dir;
  test::writeBytes(dir.file("train-images-idx3-ubyte"), idxImages(4, 3, 3));
  writeGz(dir.file("train-labels-idx1-ubyte.gz"), idxLabels({1, 2, 3, 4}));
  auto s = loadDataDir(dir.path().string());
  REQUIRE_MESSAGE(s.ok(), (s.ok() ? "" : s.error().message()));
  CHECK(s->train.count == 4);
  CHECK(s->train.labels == std::vector<int32_t>{1, 2, 3, 4});
  CHECK(s->test.empty());  // no t10k files: an explicit empty split
  CHECK(s->description ==
        "MNIST-style IDX in " + dir.path().string() + ": 4 train images of 1x3x3 (no test split), 10 classes");

  // Images without labels.
  test::writeBytes(dir.file("t10k-images-idx3-ubyte.gz"), idxImages(2, 3, 3));
  CHECK(errorOf(loadDataDir(dir.path().string())) ==
        dir.path().string() +
            ": found t10k-images-idx3-ubyte.gz but not t10k-labels-idx1-ubyte (or t10k-labels-idx1-ubyte.gz)");
  // The plain .gz-named file above is not gzip at all: zlib reads it as it is.
  test::writeBytes(dir.file("t10k-labels-idx1-ubyte"), idxLabels({0, 1, 2}));
  CHECK(errorOf(loadDataDir(dir.path().string())) == dir.file("t10k-images-idx3-ubyte.gz") + " holds 2 images but " +
                                                         dir.file("t10k-labels-idx1-ubyte") + " holds 3 labels");
  test::writeBytes(dir.file("t10k-labels-idx1-ubyte"), idxLabels({0, 1}));
  test::writeBytes(dir.file("t10k-images-idx3-ubyte.gz"), idxImages(2, 4, 3));
  CHECK(errorOf(loadDataDir(dir.path().string())) ==
        dir.path().string() + ": train images are 3x3 but test images are 4x3");

  // Plain wins over .gz when both are there.
  test::writeBytes(dir.file("t10k-images-idx3-ubyte"), idxImages(2, 3, 3));
  auto both = loadDataDir(dir.path().string());
  REQUIRE_MESSAGE(both.ok(), (both.ok() ? "" : both.error().message()));
  CHECK(both->test.count == 2);

  // IDX and CIFAR files in one directory are ambiguous.
  test::writeBytes(dir.file("test_batch.bin"), cifarRecord(1, 2));
  CHECK(errorOf(loadDataDir(dir.path().string())) ==
        dir.path().string() +
            ": holds both MNIST-style IDX files and CIFAR-10 batches; put each dataset in its own directory");
}

TEST_CASE("dataset: directories without a dataset") {
  TempDir dir;
  test::writeBytes(dir.file("readme.txt"), "hello");
  CHECK(errorOf(loadDataDir(dir.path().string())) ==
        dir.path().string() +
            ": no dataset found: looked for MNIST-style IDX files (train-images-idx3-ubyte, "
            "train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each plain or "
            ".gz) and CIFAR-10 binary batches (data_batch_1.bin .. data_batch_5.bin, test_batch.bin)");
  CHECK(errorOf(loadDataDir(dir.file("nope"))) ==
        dir.file("nope") + ": cannot read directory: No such file or directory");
}

TEST_CASE("dataset: CIFAR-10 batches") {
  TempDir dir;
  // Train batches are read in numeric order: 2 before 10.
  test::writeBytes(dir.file("data_batch_10.bin"), cifarRecord(9, 10));
  test::writeBytes(dir.file("data_batch_2.bin"), cifarRecord(2, 20) + cifarRecord(3, 30));
  test::writeBytes(dir.file("test_batch.bin"), cifarRecord(0, 7));
  test::writeBytes(dir.file("test_batch_small.bin"), cifarRecord(5, 7));  // ignored: test_batch.bin wins
  auto s = loadDataDir(dir.path().string());
  REQUIRE_MESSAGE(s.ok(), (s.ok() ? "" : s.error().message()));
  CHECK(s->train.count == 3);
  CHECK(s->train.labels == std::vector<int32_t>{2, 3, 9});
  CHECK(s->train.pixels[0] == 20);
  CHECK(s->train.pixels[3072] == 30);
  CHECK(s->train.pixels[2 * 3072 + 3071] == 10);
  CHECK(s->test.labels == std::vector<int32_t>{0});

  std::filesystem::remove(dir.file("test_batch.bin"));
  test::writeBytes(dir.file("test_batch_other.bin"), cifarRecord(5, 7));
  CHECK(errorOf(loadDataDir(dir.path().string())) ==
        dir.path().string() +
            ": several test batches (test_batch_other.bin, test_batch_small.bin): expected "
            "test_batch.bin or a single test_batch*.bin");
}

TEST_CASE("dataset: CIFAR-10 errors") {
  TempDir dir;
  const std::string p = dir.file("data_batch_1.bin");
  test::writeBytes(p, cifarRecord(1, 1) + "abc");
  CHECK(errorOf(readCifarBatches({p})) ==
        p + ": the file holds 3076 bytes, not a whole number of 3073-byte CIFAR-10 records (1 label + 3x32x32 pixels): "
            "1 records and 3 bytes left over");
  test::writeBytes(p, cifarRecord(1, 1) + cifarRecord(10, 1));
  CHECK(errorOf(readCifarBatches({p})) == p + ": record 1 has label 10, but CIFAR-10 has only 10 classes (0..9)");
  test::writeBytes(p, "");
  CHECK(errorOf(readCifarBatches({p})) == p + ": file is empty, expected CIFAR-10 records of 3073 bytes");
  CHECK(errorOf(readCifarBatches({dir.file("data_batch_9.bin")})) ==
        dir.file("data_batch_9.bin") + ": cannot open: No such file or directory");
}

TEST_CASE("dataset: PGM images") {
  TempDir dir;
  const std::string p = dir.file("digit.pgm");
  test::writeBytes(p, std::string("P5\n# made by hand\n3 2\n255\n") + std::string("\x00\x10\xff\x01\x02\x03", 6));
  auto img = readPgm(p);
  REQUIRE_MESSAGE(img.ok(), (img.ok() ? "" : img.error().message()));
  CHECK(img->width == 3);
  CHECK(img->height == 2);
  CHECK(img->maxval == 255);
  CHECK(img->pixels == std::vector<uint8_t>{0, 0x10, 0xff, 1, 2, 3});

  // The raster may begin with bytes that look like whitespace or '#'.
  test::writeBytes(p, std::string("P5 2 1 255 ") + "\n#");
  REQUIRE(readPgm(p).ok());
  CHECK(readPgm(p)->pixels == std::vector<uint8_t>{'\n', '#'});

  // ASCII, with comments anywhere between tokens, and a maxval of 15 scaled to 0..255.
  test::writeBytes(p, "P2\n# comment\n2 2 # trailing\n15\n0 15\n# mid\n 7\t8\n");
  img = readPgm(p);
  REQUIRE_MESSAGE(img.ok(), (img.ok() ? "" : img.error().message()));
  CHECK(img->maxval == 15);
  CHECK(img->pixels == std::vector<uint8_t>{0, 255, 119, 136});
}

TEST_CASE("dataset: PGM errors") {
  TempDir dir;
  const std::string p = dir.file("bad.pgm");
  const auto err = [&](std::string_view bytes) {
    test::writeBytes(p, bytes);
    return errorOf(readPgm(p));
  };
  CHECK(err("P6\n1 1\n255\nabc") == p + ": not a PGM image (expected 'P5' or 'P2' at the start)");
  CHECK(err("") == p + ": not a PGM image (expected 'P5' or 'P2' at the start)");
  CHECK(err("P5\n0 1\n255\n") == p + ": bad width: expected a number in 1..16777215");
  CHECK(err("P5\n1 x\n255\n") == p + ": bad height: expected a number in 1..16777215");
  CHECK(err("P5\n99999999999 1\n255\n") == p + ": bad width: expected a number in 1..16777215");
  CHECK(err("P5\n1 1\n") == p + ": bad maxval: expected a number in 1..65535");
  CHECK(err("P5\n1 1\n65535\n\0\0") ==
        p + ": maxval 65535 means 16-bit samples, which are not supported (at most 255)");
  CHECK(err("P5\n2 2\n255") == p + ": expected a whitespace byte after maxval");
  CHECK(err("P5\n2 2\n255\nabc") == p + ": truncated: a 2x2 image needs 4 pixel bytes but the file holds 3");
  CHECK(err("P5\n2 2\n255\nabcde") == p + ": 1 bytes after the 2x2 image (only one image per file is read)");
  CHECK(err("P2\n2 2\n255\n1 2 3") == p + ": truncated: a 2x2 image needs 4 pixels but the file holds 3");
  CHECK(err("P2\n2 2\n100\n1 2 300 4") == p + ": pixel 2 (row 1, column 0) is 300, above maxval 100");
  CHECK(err("P2\n2 2\n100\n1 2 x 4") == p + ": pixel 2 (row 1, column 0): expected a number");
  CHECK(err("P2\n2 2\n100\n1 2 3 4 5") == p + ": more than the 4 pixels of a 2x2 image");
  // The largest image a header may describe, in a few bytes: refused before its 2^48 pixels are allocated.
  CHECK(err("P5\n16777215 16777215\n255\nab") ==
        p + ": truncated: a 16777215x16777215 image needs 281474943156225 pixel bytes but the file holds 2");
  CHECK(err("P2\n16777215 16777215\n255\n1 2") ==
        p + ": truncated: a 16777215x16777215 image needs 281474943156225 pixels but the file holds 2");
}
