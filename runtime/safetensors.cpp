// Safetensors reading (with full validation) and atomic writing, plus the NamedTensor helpers.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

#include "runtime/json.h"
#include "runtime/tensor_file.h"

namespace sinter {

// Safetensors stores little-endian elements and NamedTensor keeps them as raw bytes; converting them
// with memcpy is only right on a little-endian host (every target Sinter supports).
static_assert(std::endian::native == std::endian::little, "the runtime assumes a little-endian host");

namespace {

constexpr ElemType kAllTypes[] = {ElemType::F64, ElemType::F32, ElemType::I64, ElemType::I32, ElemType::U8};
// A header bigger than this is corruption, not a model: the Rust reference implementation uses the same cap.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

template <typename T>
NamedTensor fromValues(std::string name, std::vector<int64_t> shape, ElemType type, std::span<const T> values) {
  NamedTensor t{std::move(name), type, std::move(shape), {}};
  t.bytes.resize(values.size_bytes());
  if (!values.empty()) std::memcpy(t.bytes.data(), values.data(), values.size_bytes());
  return t;
}

template <typename T>
T loadAt(const std::vector<uint8_t>& bytes, size_t i) {
  T v;
  std::memcpy(&v, bytes.data() + i * sizeof(T), sizeof(T));  // memcpy: the buffer has no alignment promise
  return v;
}

std::string errnoText() { return std::strerror(errno); }

// Reads exactly n bytes at offset; false (with errno, or 0 for a short file) on failure.
bool preadAll(int fd, void* buf, size_t n, uint64_t offset) {
  auto* p = static_cast<uint8_t*>(buf);
  while (n > 0) {
    const ssize_t got = ::pread(fd, p, n, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      if (got == 0) errno = 0;
      return false;
    }
    p += got;
    n -= static_cast<size_t>(got);
    offset += static_cast<uint64_t>(got);
  }
  return true;
}

bool writeAll(int fd, const void* buf, size_t n) {
  const auto* p = static_cast<const uint8_t*>(buf);
  while (n > 0) {
    const ssize_t put = ::write(fd, p, n);
    if (put < 0 && errno == EINTR) continue;
    if (put < 0) return false;
    p += put;
    n -= static_cast<size_t>(put);
  }
  return true;
}

// Closes the descriptor when the scope ends, whatever path leaves it.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  int release() {
    int f = fd;
    fd = -1;
    return f;
  }
};

std::string offsetsString(int64_t begin, int64_t end) { return fmt::format("[{}, {}]", begin, end); }

// One header entry, checked and ready to read.
struct Entry {
  NamedTensor tensor;
  int64_t begin = 0, end = 0;  // within the data section
};

// Validates one tensor entry of the header. dataSize is the size of the data section.
Expected<Entry> parseEntry(const std::string& name, const Json& info, uint64_t dataSize) {
  const auto fail = [&](std::string msg) { return Error(fmt::format("tensor '{}': {}", name, msg)); };
  if (!info.isObject()) return fail("entry is not an object");
  const Json* dtype = info.find("dtype");
  const Json* shape = info.find("shape");
  const Json* offsets = info.find("data_offsets");
  if (!dtype) return fail("missing 'dtype'");
  if (!shape) return fail("missing 'shape'");
  if (!offsets) return fail("missing 'data_offsets'");
  if (!dtype->isString()) return fail(fmt::format("'dtype' is {}, not a string", writeJson(*dtype)));
  auto type = parseElemType(dtype->asString());
  if (!type) return fail(type.error().message());

  Entry e;
  e.tensor.name = name;
  e.tensor.type = *type;
  if (!shape->isArray()) return fail(fmt::format("'shape' is {}, not an array", writeJson(*shape)));
  for (const Json& d : shape->asArray()) {
    if (!d.isInt()) return fail(fmt::format("'shape' {} holds a non-integer", writeJson(*shape)));
    e.tensor.shape.push_back(d.asInt());
  }
  auto numel = checkedNumel(e.tensor.shape, "");
  if (!numel) return fail(numel.error().message());

  const bool pair = offsets->isArray() && offsets->asArray().size() == 2 && offsets->asArray()[0].isInt() &&
                    offsets->asArray()[1].isInt();
  if (!pair) return fail(fmt::format("'data_offsets' is {}, not [begin, end]", writeJson(*offsets)));
  e.begin = offsets->asArray()[0].asInt();
  e.end = offsets->asArray()[1].asInt();
  if (e.begin < 0 || e.begin > e.end)
    return fail(
        fmt::format("data_offsets {} must be [begin, end] with 0 <= begin <= end", offsetsString(e.begin, e.end)));
  if (static_cast<uint64_t>(e.end) > dataSize)
    return fail(fmt::format("data_offsets {} reach past the end of the data section ({} bytes)",
                            offsetsString(e.begin, e.end), dataSize));
  int64_t needed = 0;
  if (__builtin_mul_overflow(*numel, static_cast<int64_t>(elemSize(*type)), &needed))
    return fail(fmt::format("shape {} of {} is too large", shapeString(e.tensor.shape), elemTypeName(*type)));
  if (e.end - e.begin != needed)
    return fail(fmt::format("data_offsets {} hold {} bytes but shape {} of {} needs {}", offsetsString(e.begin, e.end),
                            e.end - e.begin, shapeString(e.tensor.shape), elemTypeName(*type), needed));
  return e;
}

Expected<std::vector<std::pair<std::string, std::string>>> parseMetadata(const Json& meta) {
  if (!meta.isObject()) return Error(fmt::format("'__metadata__' is {}, not a string-to-string map", writeJson(meta)));
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [k, v] : meta.asObject()) {
    if (!v.isString()) return Error(fmt::format("'__metadata__' entry '{}' is {}, not a string", k, writeJson(v)));
    out.emplace_back(k, v.asString());
  }
  return out;
}

// The 8-byte little-endian header size at the start of a file of fileSize bytes, checked against the
// bytes that follow it before anything is allocated for the header.
Expected<uint64_t> headerSizeOf(const uint8_t (&sizeBytes)[8], uint64_t fileSize) {
  uint64_t headerSize = 0;
  for (int k = 7; k >= 0; --k) headerSize = headerSize << 8 | sizeBytes[k];  // little-endian u64
  if (headerSize > kMaxHeaderBytes)
    return Error(fmt::format("header size {} is absurd (more than {} bytes): not a safetensors file?", headerSize,
                             kMaxHeaderBytes));
  if (headerSize > fileSize - 8)
    return Error(fmt::format("header size {} is larger than the {} bytes that follow it", headerSize, fileSize - 8));
  return headerSize;
}

Status checkFileSize(uint64_t fileSize) {
  if (fileSize < 8)
    return Error(fmt::format("file is {} bytes, too short for a safetensors header (at least 8)", fileSize));
  return ok();
}

// What the header says: the metadata, and the tensors (without their data) with their ranges.
struct Layout {
  std::vector<std::pair<std::string, std::string>> metadata;
  std::vector<Entry> entries;
};

std::string rangeOf(const Entry& e) { return fmt::format("'{}' {}", e.tensor.name, offsetsString(e.begin, e.end)); }

// The ranges must tile the data section exactly, as the format requires: sorted by start, each begins
// where the previous one ended, the first at 0 and the last at the end. Overlap would make a file
// ambiguous, and bytes no tensor owns could hide another file in it (a polyglot). Empty tensors hold no
// bytes and may sit anywhere within the section.
Status checkCoverage(const std::vector<Entry>& entries, uint64_t dataSize) {
  std::vector<const Entry*> order;
  for (const Entry& e : entries)
    if (e.begin != e.end) order.push_back(&e);
  // Stable: of two ranges with the same start, the message names them in header order.
  std::stable_sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) { return a->begin < b->begin; });
  const auto gap = [](int64_t begin, int64_t end, std::string where) {
    return Error(fmt::format("data section bytes {}{} belong to no tensor (the format allows no gaps)",
                             offsetsString(begin, end), where));
  };
  const Entry* prev = nullptr;
  for (const Entry* cur : order) {
    const int64_t covered = prev ? prev->end : 0;
    if (cur->begin < covered)
      return Error(fmt::format("tensors {} and {} overlap", rangeOf(*prev), rangeOf(*cur)));
    if (cur->begin > covered)
      return gap(covered, cur->begin,
                 prev ? fmt::format(" between tensors {} and {}", rangeOf(*prev), rangeOf(*cur))
                      : fmt::format(" before tensor {}", rangeOf(*cur)));
    prev = cur;
  }
  const int64_t covered = prev ? prev->end : 0;
  if (static_cast<uint64_t>(covered) != dataSize)
    return gap(covered, static_cast<int64_t>(dataSize), prev ? fmt::format(" after tensor {}", rangeOf(*prev)) : "");
  return ok();
}

// Validates the header (its JSON text, as the file holds it) against a data section of dataSize bytes.
Expected<Layout> parseHeader(std::string_view header, uint64_t dataSize) {
  size_t bad = 0;
  if (!isValidUtf8(header, &bad)) return Error(fmt::format("header is not valid UTF-8 (at byte {})", bad));
  auto json = parseJson(header);
  if (!json) return Error(fmt::format("header is not valid JSON: {}", json.error().message()));
  if (!json->isObject()) return Error("header is not a JSON object");

  Layout layout;
  std::set<std::string_view> seen;
  for (const auto& [name, info] : json->asObject()) {
    if (!seen.insert(name).second) return Error(fmt::format("duplicate entry '{}' in the header", name));
    if (name == "__metadata__") {
      auto meta = parseMetadata(info);
      if (!meta) return std::move(meta.error());
      layout.metadata = meta.take();
      continue;
    }
    auto entry = parseEntry(name, info, dataSize);
    if (!entry) return std::move(entry.error());
    layout.entries.push_back(entry.take());
  }
  if (Status s = checkCoverage(layout.entries, dataSize); !s) return s.error();
  return layout;
}

Expected<TensorFile> parseImpl(std::span<const uint8_t> bytes) {
  if (Status s = checkFileSize(bytes.size()); !s) return s.error();
  uint8_t sizeBytes[8];
  std::memcpy(sizeBytes, bytes.data(), 8);
  auto headerSize = headerSizeOf(sizeBytes, bytes.size());
  if (!headerSize) return std::move(headerSize.error());
  const std::span<const uint8_t> data = bytes.subspan(8 + *headerSize);
  auto layout = parseHeader(
      std::string_view(reinterpret_cast<const char*>(bytes.data()) + 8, static_cast<size_t>(*headerSize)),
      data.size());
  if (!layout) return std::move(layout.error());

  TensorFile file{{}, std::move(layout->metadata)};
  for (Entry& e : layout->entries) {
    const auto range = data.subspan(static_cast<size_t>(e.begin), static_cast<size_t>(e.end - e.begin));
    e.tensor.bytes.assign(range.begin(), range.end());
    file.tensors.push_back(std::move(e.tensor));
  }
  return file;
}

// As parseImpl, but reads only the header into memory and each tensor's bytes straight into the tensor.
Expected<TensorFile> readImpl(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.fd < 0) return Error(fmt::format("cannot open: {}", errnoText()));
  struct stat st {};
  if (::fstat(fd.fd, &st) != 0) return Error(fmt::format("cannot stat: {}", errnoText()));
  if (!S_ISREG(st.st_mode)) return Error("not a regular file");
  const auto fileSize = static_cast<uint64_t>(st.st_size);
  if (Status s = checkFileSize(fileSize); !s) return s.error();

  uint8_t sizeBytes[8];
  if (!preadAll(fd.fd, sizeBytes, 8, 0)) return Error(fmt::format("cannot read: {}", errnoText()));
  auto headerSize = headerSizeOf(sizeBytes, fileSize);
  if (!headerSize) return std::move(headerSize.error());
  const uint64_t dataStart = 8 + *headerSize;

  std::string header(*headerSize, '\0');
  if (!preadAll(fd.fd, header.data(), header.size(), 8))
    return Error(fmt::format("cannot read header: {}", errnoText()));
  auto layout = parseHeader(header, fileSize - dataStart);
  if (!layout) return std::move(layout.error());

  TensorFile file{{}, std::move(layout->metadata)};
  for (Entry& e : layout->entries) {
    e.tensor.bytes.resize(static_cast<size_t>(e.end - e.begin));
    if (!preadAll(fd.fd, e.tensor.bytes.data(), e.tensor.bytes.size(), dataStart + static_cast<uint64_t>(e.begin)))
      return Error(fmt::format("tensor '{}': cannot read data: {}", e.tensor.name,
                               errno ? errnoText() : std::string("file shrank while reading")));
    file.tensors.push_back(std::move(e.tensor));
  }
  return file;
}

Status validateForWrite(const TensorFile& file) {
  // The header must be UTF-8 JSON; a name that is not UTF-8 would make a file no reader accepts.
  for (const auto& [k, v] : file.metadata)
    if (!isValidUtf8(k) || !isValidUtf8(v)) return Error(fmt::format("metadata entry '{}' is not valid UTF-8", k));
  std::set<std::string_view> seen;
  for (const NamedTensor& t : file.tensors) {
    if (!isValidUtf8(t.name)) return Error(fmt::format("tensor name '{}' is not valid UTF-8", t.name));
    if (t.name == "__metadata__") return Error("the name '__metadata__' is reserved for metadata");
    if (!seen.insert(t.name).second) return Error(fmt::format("duplicate tensor name '{}'", t.name));
    auto numel = checkedNumel(t.shape, t.name);
    if (!numel) return std::move(numel.error());
    int64_t needed = 0;
    if (__builtin_mul_overflow(*numel, static_cast<int64_t>(elemSize(t.type)), &needed) ||
        static_cast<uint64_t>(needed) != t.bytes.size())
      return Error(fmt::format("tensor '{}': holds {} bytes but shape {} of {} needs {}", t.name, t.bytes.size(),
                               shapeString(t.shape), elemTypeName(t.type), needed));
  }
  return ok();
}

std::string buildHeader(const TensorFile& file) {
  Json header = Json::object();
  if (!file.metadata.empty()) {
    Json meta = Json::object();
    for (const auto& [k, v] : file.metadata) meta.asObject().emplace_back(k, Json(v));
    header.asObject().emplace_back("__metadata__", std::move(meta));
  }
  uint64_t offset = 0;
  for (const NamedTensor& t : file.tensors) {
    Json shape = Json::array();
    for (int64_t d : t.shape) shape.push(Json(d));
    Json info = Json::object();
    info.set("dtype", Json(elemTypeName(t.type)));
    info.set("shape", std::move(shape));
    info.set("data_offsets", Json(Json::Array{Json(offset), Json(offset + t.bytes.size())}));
    offset += t.bytes.size();
    header.asObject().emplace_back(t.name, std::move(info));
  }
  std::string text = writeJson(header);
  // Spaces after the JSON keep the data 8-byte aligned for readers that map the file (the spec allows it).
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

}  // namespace

size_t elemSize(ElemType type) {
  switch (type) {
    case ElemType::F64:
      return 8;
    case ElemType::F32:
      return 4;
    case ElemType::I64:
      return 8;
    case ElemType::I32:
      return 4;
    case ElemType::U8:
      return 1;
  }
  return 0;
}

std::string_view elemTypeName(ElemType type) {
  switch (type) {
    case ElemType::F64:
      return "F64";
    case ElemType::F32:
      return "F32";
    case ElemType::I64:
      return "I64";
    case ElemType::I32:
      return "I32";
    case ElemType::U8:
      return "U8";
  }
  return "?";
}

Expected<ElemType> parseElemType(std::string_view name) {
  for (ElemType t : kAllTypes)
    if (elemTypeName(t) == name) return t;
  return Error(fmt::format("unsupported dtype '{}' (supported: F64, F32, I64, I32, U8)", name));
}

NamedTensor NamedTensor::fromFloats(std::string name, std::vector<int64_t> shape, std::span<const float> values) {
  return fromValues(std::move(name), std::move(shape), ElemType::F32, values);
}
NamedTensor NamedTensor::fromDoubles(std::string name, std::vector<int64_t> shape, std::span<const double> values) {
  return fromValues(std::move(name), std::move(shape), ElemType::F64, values);
}
NamedTensor NamedTensor::fromInt32s(std::string name, std::vector<int64_t> shape, std::span<const int32_t> values) {
  return fromValues(std::move(name), std::move(shape), ElemType::I32, values);
}
NamedTensor NamedTensor::fromInt64s(std::string name, std::vector<int64_t> shape, std::span<const int64_t> values) {
  return fromValues(std::move(name), std::move(shape), ElemType::I64, values);
}
NamedTensor NamedTensor::fromBytes(std::string name, std::vector<int64_t> shape, std::span<const uint8_t> values) {
  return fromValues(std::move(name), std::move(shape), ElemType::U8, values);
}

size_t NamedTensor::size() const { return bytes.size() / elemSize(type); }

double NamedTensor::at(size_t i) const {
  assert(i < size());
  switch (type) {
    case ElemType::F64:
      return loadAt<double>(bytes, i);
    case ElemType::F32:
      return loadAt<float>(bytes, i);
    case ElemType::I64:
      return static_cast<double>(loadAt<int64_t>(bytes, i));
    case ElemType::I32:
      return loadAt<int32_t>(bytes, i);
    case ElemType::U8:
      return bytes[i];
  }
  return 0;
}

std::vector<double> NamedTensor::toDoubles() const {
  std::vector<double> out(size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = at(i);
  return out;
}

std::vector<float> NamedTensor::toFloats() const {
  std::vector<float> out(size());
  if (type == ElemType::F32) {
    if (!out.empty()) std::memcpy(out.data(), bytes.data(), out.size() * sizeof(float));
    return out;
  }
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<float>(at(i));
  return out;
}

Expected<int64_t> checkedNumel(std::span<const int64_t> shape, std::string_view what) {
  const std::string prefix = what.empty() ? std::string() : fmt::format("tensor '{}': ", what);
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return Error(fmt::format("{}shape {} has a negative dimension", prefix, shapeString(shape)));
    if (__builtin_mul_overflow(n, d, &n))
      return Error(fmt::format("{}shape {} has more elements than fit in 64 bits", prefix, shapeString(shape)));
  }
  return n;
}

std::string shapeString(std::span<const int64_t> shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

const NamedTensor* TensorFile::find(std::string_view name) const {
  for (const NamedTensor& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

Expected<TensorFile> readSafetensors(const std::string& path) {
  auto file = readImpl(path);
  if (!file) return Error(fmt::format("{}: {}", path, file.error().message()));
  return file;
}

Expected<TensorFile> parseSafetensors(std::span<const uint8_t> bytes, std::string_view name) {
  auto file = parseImpl(bytes);
  if (!file) return Error(fmt::format("{}: {}", name, file.error().message()));
  return file;
}

Status writeSafetensors(const std::string& path, const TensorFile& file) {
  const auto fail = [&](std::string msg) { return Error(fmt::format("{}: {}", path, msg)); };
  if (auto valid = validateForWrite(file); !valid) return fail(valid.error().message());

  const std::string header = buildHeader(file);
  uint8_t sizeBytes[8];
  for (int k = 0; k < 8; ++k) sizeBytes[k] = static_cast<uint8_t>(static_cast<uint64_t>(header.size()) >> (8 * k));

  // The temporary lives beside the target so that rename() stays within one filesystem and is atomic.
  const std::string tmp = fmt::format("{}.tmp.{}", path, ::getpid());
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666));
  if (fd.fd < 0) return fail(fmt::format("cannot create {}: {}", tmp, errnoText()));
  const auto abandon = [&](std::string what) {
    const std::string msg = fmt::format("{}: {}", what, errnoText());
    if (fd.fd >= 0) ::close(fd.release());
    ::unlink(tmp.c_str());
    return fail(msg);
  };
  bool written = writeAll(fd.fd, sizeBytes, 8) && writeAll(fd.fd, header.data(), header.size());
  for (size_t i = 0; written && i < file.tensors.size(); ++i)
    written = writeAll(fd.fd, file.tensors[i].bytes.data(), file.tensors[i].bytes.size());
  if (!written) return abandon(fmt::format("cannot write {}", tmp));
  if (::fsync(fd.fd) != 0) return abandon(fmt::format("cannot fsync {}", tmp));
  // close() can report a deferred write error (NFS, quota): check it before the rename commits the file.
  if (::close(fd.release()) != 0) return abandon(fmt::format("cannot close {}", tmp));
  if (::rename(tmp.c_str(), path.c_str()) != 0) return abandon(fmt::format("cannot rename {} to {}", tmp, path));

  // The rename is durable only once the directory entry is on disk.
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  const std::string dir = parent.empty() ? std::string(".") : parent.string();
  Fd dirFd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dirFd.fd < 0) return fail(fmt::format("cannot open directory {} to sync it: {}", dir, errnoText()));
  // Some filesystems cannot fsync a directory (EINVAL); the data itself is already synced.
  if (::fsync(dirFd.fd) != 0 && errno != EINVAL)
    return fail(fmt::format("cannot fsync directory {}: {}", dir, errnoText()));
  return ok();
}

}  // namespace sinter
