// Dataset loaders: IDX (MNIST, Fashion-MNIST) and CIFAR-10 binary through zlib, PGM images, data directories.
#include "runtime/dataset.h"

#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <set>
#include <span>
#include <string_view>

namespace sinter {

namespace {

constexpr int32_t kClasses = 10;                  // MNIST, Fashion-MNIST and CIFAR-10 alike
constexpr uint32_t kIdxImagesMagic = 0x00000803;  // unsigned bytes, 3 dimensions
constexpr uint32_t kIdxLabelsMagic = 0x00000801;  // unsigned bytes, 1 dimension
constexpr int64_t kCifarSide = 32, kCifarChannels = 3;
constexpr size_t kCifarPixels = kCifarChannels * kCifarSide * kCifarSide;  // 3072
constexpr size_t kCifarRecord = 1 + kCifarPixels;                          // 3073
constexpr size_t kChunk = size_t{64} << 20;  // largest single gzread; keeps lengths within its unsigned int
// Deflate cannot expand more than about 1032:1; a header promising more than that from a small file is
// a lie, and we must not allocate what it promises before the data shows up.
constexpr uint64_t kMaxDeflateRatio = 1032;
constexpr uint64_t kMaxReserve = uint64_t{1} << 28;  // beyond this, grow as the data arrives
// An image side past 2^24 is no picture we can classify, and keeps products of sizes far from overflow.
constexpr int64_t kMaxSide = int64_t{1} << 24;

std::string errnoText() { return std::strerror(errno); }

// What a loader reads from: a file through zlib (gzread decompresses a gzip file and passes any other
// file through unchanged, so "train-images-idx3-ubyte" and "train-images-idx3-ubyte.gz" take the same
// path), or bytes already in memory, taken as they are. Either way the data arrives in reads, so a
// header that lies about the size cannot make a loader allocate what it promises.
class Input {
 public:
  static Expected<Input> open(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return Error(fmt::format("{}: cannot open: {}", path, errnoText()));
    if (S_ISDIR(st.st_mode)) return Error(fmt::format("{}: is a directory", path));
    errno = 0;
    gzFile f = gzopen(path.c_str(), "rb");
    if (!f) return Error(fmt::format("{}: cannot open: {}", path, errno ? errnoText() : "out of memory"));
    gzbuffer(f, 1 << 18);  // bigger than the 8 KiB default: fewer, larger reads of the compressed data
    return Input(path, f, static_cast<uint64_t>(st.st_size));
  }
  static Input fromBytes(std::span<const uint8_t> bytes, std::string_view name) {
    Input in(std::string(name), nullptr, bytes.size());
    in.bytes_ = bytes;
    return in;
  }

  // Reads up to n bytes; fewer only at the end of the data. A corrupt or truncated gzip stream is an error.
  Expected<size_t> read(void* buf, size_t n) {
    auto* p = static_cast<uint8_t*>(buf);
    if (!f_) {
      const size_t got = std::min(n, bytes_.size() - pos_);
      if (got > 0) std::memcpy(p, bytes_.data() + pos_, got);
      pos_ += got;
      return got;
    }
    size_t got = 0;
    while (got < n) {
      const auto want = static_cast<unsigned>(std::min(n - got, kChunk));
      const int r = gzread(f_.get(), p + got, want);
      if (r < 0) return streamError();
      got += static_cast<size_t>(r);
      if (static_cast<unsigned>(r) < want) {
        // gzread reports a gzip stream cut short as a short read with Z_BUF_ERROR set.
        int code = Z_OK;
        gzerror(f_.get(), &code);
        if (code != Z_OK) return streamError();
        break;
      }
    }
    return got;
  }

  // Reads everything that is left, counting it without keeping it.
  Expected<uint64_t> skipRest() {
    std::vector<uint8_t> scratch(1 << 16);
    uint64_t total = 0;
    for (;;) {
      auto r = read(scratch.data(), scratch.size());
      if (!r) return std::move(r.error());
      total += *r;
      if (*r < scratch.size()) return total;
    }
  }

  // Reads up to limit bytes into out (limit UINT64_MAX: to the end). The buffer grows as data arrives,
  // so a header that lies about the size cannot make us allocate what it promises.
  Status readInto(std::vector<uint8_t>& out, uint64_t limit) {
    out.clear();
    // One spare byte for a plain file lets the read that fills it also see the end of the file.
    const uint64_t guess = limit == UINT64_MAX ? diskSize_ + 1 : std::min(limit, maxPlausibleSize());
    out.reserve(static_cast<size_t>(std::min<uint64_t>(guess, kMaxReserve)));
    size_t got = 0;
    while (got < limit) {
      const size_t room = std::clamp<size_t>(out.capacity() - got, size_t{1} << 16, kChunk);
      const size_t want = static_cast<size_t>(std::min<uint64_t>(limit - got, room));
      out.resize(got + want);
      auto r = read(out.data() + got, want);
      if (!r) return std::move(r.error());
      got += *r;
      if (*r < want) break;
    }
    out.resize(got);
    return ok();
  }

  const std::string& name() const { return path_; }
  bool compressed() { return f_ && gzdirect(f_.get()) == 0; }
  // How size messages say where the actual size comes from.
  std::string holds() { return compressed() ? "decompressed, the file holds" : "the file holds"; }

 private:
  struct Closer {
    void operator()(gzFile f) const { gzclose(f); }
  };
  Input(std::string path, gzFile f, uint64_t diskSize) : path_(std::move(path)), f_(f), diskSize_(diskSize) {}

  uint64_t maxPlausibleSize() {
    uint64_t bound = diskSize_;
    if (compressed() && __builtin_mul_overflow(diskSize_, kMaxDeflateRatio, &bound)) bound = UINT64_MAX;
    return bound;
  }

  Error streamError() {
    int code = Z_OK;
    const char* msg = gzerror(f_.get(), &code);
    if (code == Z_BUF_ERROR)
      return Error(fmt::format("{}: gzip data is truncated (unexpected end of the stream)", path_));
    if (code == Z_ERRNO) return Error(fmt::format("{}: read failed: {}", path_, errnoText()));
    return Error(fmt::format("{}: corrupt gzip data: {}", path_, msg ? msg : "unknown error"));
  }

  std::string path_;
  std::unique_ptr<gzFile_s, Closer> f_;  // null: reading bytes_
  uint64_t diskSize_ = 0;
  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
};

uint32_t bigEndian32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | uint32_t{p[3]};
}

// An IDX file's header and payload. IDX (LeCun): a big-endian magic 0x0000TTDD (TT = element type,
// DD = number of dimensions), DD big-endian uint32 sizes, then the elements.
struct Idx {
  std::vector<uint32_t> dims;
  std::vector<uint8_t> data;
};

Expected<Idx> readIdx(Input& file, uint32_t magic, std::string_view what) {
  const std::string& path = file.name();
  const unsigned ndims = magic & 0xFF;

  uint8_t head[4 + 4 * 3];
  const size_t headSize = 4 + 4 * size_t{ndims};
  auto got = file.read(head, 4);
  if (!got) return std::move(got.error());
  if (*got < 4) return Error(fmt::format("{}: file is {} bytes, too short for an IDX header", path, *got));
  const uint32_t actual = bigEndian32(head);
  if (actual != magic) {
    if ((actual >> 16) != 0)
      return Error(
          fmt::format("{}: bad magic 0x{:08x}: not an IDX file (expected 0x{:08x} for {})", path, actual, magic, what));
    if (((actual >> 8) & 0xFF) != 0x08)
      return Error(fmt::format("{}: IDX element type 0x{:02x} is not supported: {} must be unsigned bytes (0x08)", path,
                               (actual >> 8) & 0xFF, what));
    return Error(fmt::format("{}: IDX file has {} dimensions but {} have {} (magic 0x{:08x}, expected 0x{:08x})", path,
                             actual & 0xFF, what, ndims, actual, magic));
  }
  got = file.read(head + 4, headSize - 4);
  if (!got) return std::move(got.error());
  if (*got < headSize - 4)
    return Error(fmt::format("{}: file is {} bytes, too short for the {}-byte IDX header of {}", path, 4 + *got,
                             headSize, what));

  Idx idx;
  uint64_t payload = 1;
  for (unsigned k = 0; k < ndims; ++k) {
    idx.dims.push_back(bigEndian32(head + 4 + 4 * k));
    if (__builtin_mul_overflow(payload, uint64_t{idx.dims.back()}, &payload))
      return Error(fmt::format("{}: IDX dimensions are too large", path));
  }
  uint64_t expectedSize = 0;
  if (__builtin_add_overflow(payload, uint64_t{headSize}, &expectedSize))
    return Error(fmt::format("{}: IDX dimensions are too large", path));

  if (auto st = file.readInto(idx.data, payload); !st) return std::move(st.error());
  if (idx.data.size() < payload)
    return Error(fmt::format("{}: truncated: the header describes {} bytes of {} ({} with the header) but {} {}", path,
                             payload, what, expectedSize, file.holds(), headSize + idx.data.size()));
  auto extra = file.skipRest();
  if (!extra) return std::move(extra.error());
  if (*extra > 0)
    return Error(fmt::format("{}: {} bytes past the end: the header describes {} bytes in all but {} {}", path, *extra,
                             expectedSize, file.holds(), expectedSize + *extra));
  return idx;
}

std::string joinPath(const std::string& dir, std::string_view name) {
  return (std::filesystem::path(dir) / std::string(name)).string();
}

// A pair of "images"/"labels" files, for one split.
Expected<Dataset> loadIdxSplit(const std::string& dir, const std::set<std::string>& names, std::string_view imagesBase,
                               std::string_view labelsBase) {
  const auto pick = [&](std::string_view base) -> std::string {
    if (names.count(std::string(base))) return std::string(base);  // plain wins: no decompression needed
    if (names.count(std::string(base) + ".gz")) return std::string(base) + ".gz";
    return {};
  };
  const std::string images = pick(imagesBase), labels = pick(labelsBase);
  if (images.empty() && labels.empty()) return Dataset{};
  if (images.empty() || labels.empty()) {
    const std::string_view have = images.empty() ? labels : images;
    const std::string_view missing = images.empty() ? imagesBase : labelsBase;
    return Error(fmt::format("{}: found {} but not {} (or {}.gz)", dir, have, missing, missing));
  }
  return readIdxDataset(joinPath(dir, images), joinPath(dir, labels));
}

bool startsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool endsWith(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

// The batch number of "data_batch_<N>.bin", or -1.
int64_t cifarTrainIndex(std::string_view name) {
  constexpr std::string_view prefix = "data_batch_", suffix = ".bin";
  if (!startsWith(name, prefix) || !endsWith(name, suffix) || name.size() <= prefix.size() + suffix.size()) return -1;
  const std::string_view digits = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  if (digits.size() > 9 || !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return -1;
  int64_t n = 0;
  for (char c : digits) n = n * 10 + (c - '0');
  return n;
}

std::string describe(std::string_view format, const std::string& dir, const DataSplits& s) {
  const Dataset& any = s.train.empty() ? s.test : s.train;
  const std::string shape = fmt::format("{}x{}x{}", any.channels, any.height, any.width);
  std::string counts;
  if (s.test.empty())
    counts = fmt::format("{} train images of {} (no test split)", s.train.count, shape);
  else if (s.train.empty())
    counts = fmt::format("{} test images of {} (no train split)", s.test.count, shape);
  else
    counts = fmt::format("{} train and {} test images of {}", s.train.count, s.test.count, shape);
  return fmt::format("{} in {}: {}, {} classes", format, dir, counts, any.classes);
}

// PGM header tokens: whitespace and '#' comments (to end of line) separate them.
struct PgmCursor {
  std::string_view text;
  size_t pos = 0;

  void skipSpaceAndComments() {
    while (pos < text.size()) {
      const char c = text[pos];
      if (c == '#') {
        while (pos < text.size() && text[pos] != '\n' && text[pos] != '\r') ++pos;
      } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') {
        ++pos;
      } else {
        return;
      }
    }
  }
  // A decimal number below limit, or false.
  bool number(int64_t limit, int64_t& out) {
    skipSpaceAndComments();
    const size_t start = pos;
    out = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      out = out * 10 + (text[pos] - '0');
      if (out >= limit) return false;
      ++pos;
    }
    return pos > start;
  }
};

Expected<IdxImages> idxImages(Input& in) {
  auto idx = readIdx(in, kIdxImagesMagic, "images");
  if (!idx) return std::move(idx.error());
  IdxImages out;
  out.count = idx->dims[0];
  out.height = idx->dims[1];
  out.width = idx->dims[2];
  if (out.height == 0 || out.width == 0)
    return Error(fmt::format("{}: images of {}x{} pixels are empty", in.name(), out.height, out.width));
  // Even a file of no images must not describe images whose sizes overflow what uses them.
  if (out.height >= kMaxSide || out.width >= kMaxSide)
    return Error(fmt::format("{}: images of {}x{} pixels are too large (at most {} a side)", in.name(), out.height,
                             out.width, kMaxSide - 1));
  out.pixels = std::move(idx->data);
  return out;
}

Expected<std::vector<int32_t>> idxLabels(Input& in, int32_t classes) {
  auto idx = readIdx(in, kIdxLabelsMagic, "labels");
  if (!idx) return std::move(idx.error());
  std::vector<int32_t> labels(idx->data.begin(), idx->data.end());
  for (size_t i = 0; i < labels.size(); ++i)
    if (labels[i] >= classes)
      return Error(fmt::format("{}: label {} is {}, but there are only {} classes (0..{})", in.name(), i, labels[i],
                               classes, classes - 1));
  return labels;
}

Dataset emptyCifar() {
  Dataset d;
  d.channels = kCifarChannels;
  d.height = d.width = kCifarSide;
  d.classes = kClasses;
  return d;
}

// Appends one CIFAR-10 batch file's records to d.
Status appendCifarBatch(Dataset& d, Input& in) {
  const std::string& path = in.name();
  std::vector<uint8_t> raw;
  if (auto st = in.readInto(raw, UINT64_MAX); !st) return st;
  if (raw.empty())
    return Error(fmt::format("{}: file is empty, expected CIFAR-10 records of {} bytes", path, kCifarRecord));
  if (raw.size() % kCifarRecord != 0)
    return Error(fmt::format(
        "{}: {} {} bytes, not a whole number of {}-byte CIFAR-10 records (1 label + 3x32x32 "
        "pixels): {} records and {} bytes left over",
        path, in.holds(), raw.size(), kCifarRecord, raw.size() / kCifarRecord, raw.size() % kCifarRecord));
  const size_t records = raw.size() / kCifarRecord;
  d.pixels.reserve(d.pixels.size() + records * kCifarPixels);
  for (size_t r = 0; r < records; ++r) {
    const uint8_t* rec = raw.data() + r * kCifarRecord;
    if (rec[0] >= kClasses)
      return Error(fmt::format("{}: record {} has label {}, but CIFAR-10 has only {} classes (0..{})", path, r, rec[0],
                               kClasses, kClasses - 1));
    d.labels.push_back(rec[0]);
    // The record's planes are already channel-major (R, G, B, each 32x32 row-major): NCHW as is.
    d.pixels.insert(d.pixels.end(), rec + 1, rec + kCifarRecord);
  }
  d.count += static_cast<int64_t>(records);
  return ok();
}

Expected<GrayImage> pgm(Input& in) {
  std::vector<uint8_t> raw;
  if (auto st = in.readInto(raw, UINT64_MAX); !st) return std::move(st.error());
  const std::string_view text(reinterpret_cast<const char*>(raw.data()), raw.size());
  const auto fail = [&](std::string msg) { return Error(fmt::format("{}: {}", in.name(), msg)); };

  if (text.size() < 2 || text[0] != 'P' || (text[1] != '5' && text[1] != '2'))
    return fail("not a PGM image (expected 'P5' or 'P2' at the start)");
  const bool ascii = text[1] == '2';
  PgmCursor cur{text, 2};
  int64_t width = 0, height = 0, maxval = 0;
  if (!cur.number(kMaxSide, width) || width == 0)
    return fail(fmt::format("bad width: expected a number in 1..{}", kMaxSide - 1));
  if (!cur.number(kMaxSide, height) || height == 0)
    return fail(fmt::format("bad height: expected a number in 1..{}", kMaxSide - 1));
  if (!cur.number(int64_t{1} << 20, maxval) || maxval == 0) return fail("bad maxval: expected a number in 1..65535");
  if (maxval > 255)
    return fail(fmt::format("maxval {} means 16-bit samples, which are not supported (at most 255)", maxval));
  const size_t npixels = static_cast<size_t>(width * height);

  GrayImage img;
  img.width = width;
  img.height = height;
  img.maxval = static_cast<int>(maxval);
  // The pixels are allocated only as far as the file holds them: the header's size may be a lie.
  if (!ascii) {
    // Exactly one whitespace byte separates maxval from the raster, whose bytes may look like anything.
    if (cur.pos >= text.size() || std::string_view(" \t\n\r\v\f").find(text[cur.pos]) == std::string_view::npos)
      return fail("expected a whitespace byte after maxval");
    const size_t start = cur.pos + 1;
    const size_t have = text.size() - start;
    if (have < npixels)
      return fail(fmt::format("truncated: a {}x{} image needs {} pixel bytes but the file holds {}", width, height,
                              npixels, have));
    if (have > npixels)
      return fail(fmt::format("{} bytes after the {}x{} image (only one image per file is read)", have - npixels, width,
                              height));
    img.pixels.assign(raw.begin() + static_cast<std::ptrdiff_t>(start), raw.end());
  } else {
    // Each pixel takes at least a digit and a separator.
    img.pixels.reserve(std::min(npixels, (text.size() - cur.pos) / 2 + 1));
    for (size_t i = 0; i < npixels; ++i) {
      int64_t v = 0;
      const size_t at = cur.pos;
      if (!cur.number(int64_t{1} << 20, v)) {
        cur.pos = at;
        cur.skipSpaceAndComments();
        if (cur.pos >= text.size())
          return fail(
              fmt::format("truncated: a {}x{} image needs {} pixels but the file holds {}", width, height, npixels, i));
        return fail(fmt::format("pixel {} (row {}, column {}): expected a number", i, i / static_cast<size_t>(width),
                                i % static_cast<size_t>(width)));
      }
      if (v > maxval)
        return fail(fmt::format("pixel {} (row {}, column {}) is {}, above maxval {}", i,
                                i / static_cast<size_t>(width), i % static_cast<size_t>(width), v, maxval));
      img.pixels.push_back(static_cast<uint8_t>(v));
    }
    cur.skipSpaceAndComments();
    if (cur.pos != text.size())
      return fail(fmt::format("more than the {} pixels of a {}x{} image", npixels, width, height));
  }
  if (maxval != 255)
    for (uint8_t& p : img.pixels) p = static_cast<uint8_t>((p * 255 + maxval / 2) / maxval);
  return img;
}

}  // namespace

Expected<IdxImages> readIdxImages(const std::string& path) {
  auto in = Input::open(path);
  if (!in) return std::move(in.error());
  return idxImages(*in);
}

Expected<IdxImages> parseIdxImages(std::span<const uint8_t> bytes, std::string_view name) {
  Input in = Input::fromBytes(bytes, name);
  return idxImages(in);
}

Expected<std::vector<int32_t>> readIdxLabels(const std::string& path, int32_t classes) {
  auto in = Input::open(path);
  if (!in) return std::move(in.error());
  return idxLabels(*in, classes);
}

Expected<std::vector<int32_t>> parseIdxLabels(std::span<const uint8_t> bytes, std::string_view name, int32_t classes) {
  Input in = Input::fromBytes(bytes, name);
  return idxLabels(in, classes);
}

Expected<Dataset> readIdxDataset(const std::string& imagesPath, const std::string& labelsPath) {
  auto images = readIdxImages(imagesPath);
  if (!images) return std::move(images.error());
  auto labels = readIdxLabels(labelsPath, kClasses);
  if (!labels) return std::move(labels.error());
  if (static_cast<int64_t>(labels->size()) != images->count)
    return Error(fmt::format("{} holds {} images but {} holds {} labels", imagesPath, images->count, labelsPath,
                             labels->size()));
  Dataset d;
  d.count = images->count;
  d.channels = 1;
  d.height = images->height;
  d.width = images->width;
  d.pixels = std::move(images->pixels);
  d.labels = labels.take();
  d.classes = kClasses;
  return d;
}

Expected<Dataset> readCifarBatches(const std::vector<std::string>& paths) {
  Dataset d = emptyCifar();
  for (const std::string& path : paths) {
    auto in = Input::open(path);
    if (!in) return std::move(in.error());
    if (Status s = appendCifarBatch(d, *in); !s) return s.error();
  }
  return d;
}

Expected<Dataset> parseCifarBatch(std::span<const uint8_t> bytes, std::string_view name) {
  Dataset d = emptyCifar();
  Input in = Input::fromBytes(bytes, name);
  if (Status s = appendCifarBatch(d, in); !s) return s.error();
  return d;
}

Expected<GrayImage> readPgm(const std::string& path) {
  auto in = Input::open(path);
  if (!in) return std::move(in.error());
  return pgm(*in);
}

Expected<GrayImage> parsePgm(std::span<const uint8_t> bytes, std::string_view name) {
  Input in = Input::fromBytes(bytes, name);
  return pgm(in);
}

Expected<DataSplits> loadDataDir(const std::string& dir) {
  std::error_code ec;
  std::set<std::string> names;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) return Error(fmt::format("{}: cannot read directory: {}", dir, ec.message()));
  for (const auto& entry : it) {
    std::error_code fileEc;
    if (entry.is_regular_file(fileEc)) names.insert(entry.path().filename().string());  // follows symlinks
  }

  constexpr std::string_view idxNames[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                           "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
  bool haveIdx = false;
  for (std::string_view n : idxNames) haveIdx |= names.count(std::string(n)) || names.count(std::string(n) + ".gz");

  std::vector<std::pair<int64_t, std::string>> trainBatches;
  std::vector<std::string> testBatches;
  for (const std::string& n : names) {
    if (const int64_t k = cifarTrainIndex(n); k >= 0)
      trainBatches.emplace_back(k, n);
    else if (startsWith(n, "test_batch") && endsWith(n, ".bin"))
      testBatches.push_back(n);
  }
  const bool haveCifar = !trainBatches.empty() || !testBatches.empty();

  if (haveIdx && haveCifar)
    return Error(fmt::format(
        "{}: holds both MNIST-style IDX files and CIFAR-10 batches; put each dataset in its own directory", dir));
  if (haveIdx) {
    DataSplits s;
    auto train = loadIdxSplit(dir, names, idxNames[0], idxNames[1]);
    if (!train) return std::move(train.error());
    auto test = loadIdxSplit(dir, names, idxNames[2], idxNames[3]);
    if (!test) return std::move(test.error());
    s.train = train.take();
    s.test = test.take();
    if (!s.train.empty() && !s.test.empty() && (s.train.height != s.test.height || s.train.width != s.test.width))
      return Error(fmt::format("{}: train images are {}x{} but test images are {}x{}", dir, s.train.height,
                               s.train.width, s.test.height, s.test.width));
    s.description = describe("MNIST-style IDX", dir, s);
    return s;
  }
  if (haveCifar) {
    DataSplits s;
    std::sort(trainBatches.begin(), trainBatches.end());  // data_batch_2 before data_batch_10
    std::vector<std::string> trainPaths;
    for (const auto& [k, n] : trainBatches) trainPaths.push_back(joinPath(dir, n));
    if (!trainPaths.empty()) {
      auto train = readCifarBatches(trainPaths);
      if (!train) return std::move(train.error());
      s.train = train.take();
    }
    std::string test;
    if (names.count("test_batch.bin")) {
      test = "test_batch.bin";
    } else if (testBatches.size() == 1) {
      test = testBatches.front();  // e.g. a sample such as test_batch_1000.bin
    } else if (testBatches.size() > 1) {
      return Error(fmt::format("{}: several test batches ({}): expected test_batch.bin or a single test_batch*.bin",
                               dir, fmt::join(testBatches, ", ")));
    }
    if (!test.empty()) {
      auto t = readCifarBatches({joinPath(dir, test)});
      if (!t) return std::move(t.error());
      s.test = t.take();
    }
    s.description = describe("CIFAR-10 binary", dir, s);
    return s;
  }
  return Error(
      fmt::format("{}: no dataset found: looked for MNIST-style IDX files ({}, each plain or .gz) and CIFAR-10 "
                  "binary batches (data_batch_1.bin .. data_batch_5.bin, test_batch.bin)",
                  dir, fmt::join(idxNames, ", ")));
}

}  // namespace sinter
