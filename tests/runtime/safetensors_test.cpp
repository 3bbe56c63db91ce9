// Safetensors: round trips of every dtype, a file laid out as Python writes it, and every validation error.
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <limits>

#include "runtime/tensor_file.h"
#include "tests/runtime/test_util.h"

using namespace sinter;
using sinter::test::TempDir;

namespace {

// A safetensors file from its parts: the 8-byte little-endian header size (given, or the true one),
// the header text, then the data bytes.
std::string safetensorsBytes(std::string_view header, std::string_view data, uint64_t headerSize = UINT64_MAX) {
  if (headerSize == UINT64_MAX) headerSize = header.size();
  std::string out;
  for (int k = 0; k < 8; ++k) out += static_cast<char>(headerSize >> (8 * k) & 0xFF);
  out += header;
  out += data;
  return out;
}

// Writes a file with the given header over data bytes and returns readSafetensors's error.
std::string readError(const TempDir& dir, std::string_view header, size_t dataSize = 16) {
  const std::string path = dir.file("bad.safetensors");
  test::writeBytes(path, safetensorsBytes(header, std::string(dataSize, '\0')));
  auto r = readSafetensors(path);
  INFO(header);
  REQUIRE_FALSE(r.ok());
  const std::string prefix = path + ": ";
  REQUIRE(r.error().message().substr(0, prefix.size()) == prefix);  // every error names the file
  return r.error().message().substr(prefix.size());
}

}  // namespace

TEST_CASE("safetensors: element types") {
  CHECK(elemSize(ElemType::F64) == 8);
  CHECK(elemSize(ElemType::F32) == 4);
  CHECK(elemSize(ElemType::I64) == 8);
  CHECK(elemSize(ElemType::I32) == 4);
  CHECK(elemSize(ElemType::U8) == 1);
  for (ElemType t : {ElemType::F64, ElemType::F32, ElemType::I64, ElemType::I32, ElemType::U8})
    CHECK(*parseElemType(elemTypeName(t)) == t);
  CHECK(parseElemType("BF16").error().message() == "unsupported dtype 'BF16' (supported: F64, F32, I64, I32, U8)");
  CHECK_FALSE(parseElemType("f32").ok());
}

TEST_CASE("safetensors: NamedTensor helpers convert elements") {
  const std::vector<float> f = {1.5f, -2.0f, 3.25f};
  const NamedTensor t = NamedTensor::fromFloats("w", {3}, f);
  CHECK(t.type == ElemType::F32);
  CHECK(t.bytes.size() == 12);
  CHECK(t.size() == 3);
  CHECK(t.toFloats() == f);
  CHECK(t.toDoubles() == std::vector<double>{1.5, -2.0, 3.25});

  const std::vector<int32_t> labels = {7, -1, 0, 2147483647};
  const NamedTensor l = NamedTensor::fromInt32s("label", {2, 2}, labels);
  CHECK(l.at(3) == 2147483647.0);
  CHECK(l.toFloats()[1] == -1.0f);

  const std::vector<double> d = {0.1, 1e300};
  CHECK(NamedTensor::fromDoubles("d", {2}, d).toDoubles() == d);
  const std::vector<int64_t> big = {int64_t{1} << 40};
  CHECK(NamedTensor::fromInt64s("step", {}, big).at(0) == 1099511627776.0);
  const std::vector<uint8_t> px = {0, 255};
  CHECK(NamedTensor::fromBytes("px", {2}, px).toDoubles() == std::vector<double>{0, 255});
}

TEST_CASE("safetensors: every dtype round-trips, with metadata, scalars and empty tensors") {
  TempDir dir;
  const std::vector<double> f64 = {1.0 / 3, -0.0, 1e-310, std::numeric_limits<double>::infinity()};
  const std::vector<float> f32 = {0.5f, -1.25f, 3.0e38f, 1e-45f, 7.0f, 8.0f};
  const std::vector<int64_t> i64 = {INT64_MIN, INT64_MAX, 0};
  const std::vector<int32_t> i32 = {INT32_MIN, 42};
  const std::vector<uint8_t> u8 = {0, 1, 128, 255, 9};
  TensorFile file;
  file.tensors.push_back(NamedTensor::fromDoubles("f64", {2, 2}, f64));
  file.tensors.push_back(NamedTensor::fromFloats("fc1.weight", {2, 3}, f32));
  file.tensors.push_back(NamedTensor::fromInt64s("i64", {3}, i64));
  file.tensors.push_back(NamedTensor::fromInt32s("i32", {1, 2, 1}, i32));
  file.tensors.push_back(NamedTensor::fromBytes("u8", {5}, u8));
  file.tensors.push_back(NamedTensor::fromInt64s("epoch", {}, std::vector<int64_t>{3}));  // a scalar
  file.tensors.push_back(NamedTensor::fromFloats("empty", {0, 4}, std::vector<float>{}));
  file.metadata = {{"format", "pt"}, {"sinter", "lenet \"v1\" \xc3\xa9"}};

  const std::string path = dir.file("all.safetensors");
  auto st = writeSafetensors(path, file);
  REQUIRE_MESSAGE(st.ok(), (st.ok() ? "" : st.error().message()));
  auto back = readSafetensors(path);
  REQUIRE_MESSAGE(back.ok(), (back.ok() ? "" : back.error().message()));
  REQUIRE(back->tensors.size() == file.tensors.size());
  for (size_t i = 0; i < file.tensors.size(); ++i) {
    CAPTURE(file.tensors[i].name);
    CHECK(back->tensors[i].name == file.tensors[i].name);  // the given order is kept
    CHECK(back->tensors[i].type == file.tensors[i].type);
    CHECK(back->tensors[i].shape == file.tensors[i].shape);
    CHECK(back->tensors[i].bytes == file.tensors[i].bytes);
  }
  CHECK(back->metadata == file.metadata);
  REQUIRE(back->find("i64") != nullptr);
  CHECK(back->find("i64")->at(1) == static_cast<double>(INT64_MAX));
  CHECK(back->find("nope") == nullptr);

  // The data starts 8-byte aligned and the header is padded with spaces.
  const std::string raw = test::readBytes(path);
  uint64_t headerSize = 0;
  std::memcpy(&headerSize, raw.data(), 8);
  CHECK((8 + headerSize) % 8 == 0);
  CHECK(raw.substr(8, 2) == "{\"");
  CHECK(raw.substr(8, 16) == R"({"__metadata__":)");
  const size_t close = raw.rfind('}', 8 + headerSize);
  CHECK(raw.substr(close + 1, 8 + headerSize - close - 1) == std::string(8 + headerSize - close - 1, ' '));
}

TEST_CASE("safetensors: exact bytes of a small file") {
  TempDir dir;
  TensorFile file;
  file.tensors.push_back(NamedTensor::fromFloats("b", {2}, std::vector<float>{1.0f, 2.0f}));
  const std::string path = dir.file("small.safetensors");
  REQUIRE(writeSafetensors(path, file).ok());
  // 54 bytes of JSON and 2 spaces, so the data starts at 8 + 56 = 64.
  const std::string header = R"({"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})" + std::string("  ");
  const char data[] = {0, 0, '\x80', '\x3f', 0, 0, 0, '\x40'};  // 1.0f and 2.0f, little-endian
  CHECK(test::readBytes(path) == safetensorsBytes(header, std::string_view(data, 8)));
}

TEST_CASE("safetensors: reads a file laid out as Python's safetensors writes it") {
  // Built by hand following the format rules: __metadata__ first, tensors ordered by the writer (here by
  // descending alignment, then name, as the Rust core does), data packed without gaps, header padded
  // with spaces to a multiple of 8.
  std::string header =
      R"({"__metadata__":{"format":"pt"},"fc.weight":{"dtype":"F64","shape":[1,2],"data_offsets":[0,16]},)"
      R"("fc.bias":{"dtype":"F32","shape":[1],"data_offsets":[16,20]},"steps":{"dtype":"I32","shape":[],"data_offsets":[20,24]}})";
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string data;
  const double w[2] = {0.25, -4.0};
  const float b = 1.5f;
  const int32_t steps = 1000;
  data.append(reinterpret_cast<const char*>(w), 16);
  data.append(reinterpret_cast<const char*>(&b), 4);
  data.append(reinterpret_cast<const char*>(&steps), 4);

  TempDir dir;
  const std::string path = dir.file("torch.safetensors");
  test::writeBytes(path, safetensorsBytes(header, data));
  auto f = readSafetensors(path);
  REQUIRE_MESSAGE(f.ok(), (f.ok() ? "" : f.error().message()));
  REQUIRE(f->tensors.size() == 3);
  CHECK(f->metadata == std::vector<std::pair<std::string, std::string>>{{"format", "pt"}});
  CHECK(f->tensors[0].name == "fc.weight");
  CHECK(f->tensors[0].shape == std::vector<int64_t>{1, 2});
  CHECK(f->tensors[0].toDoubles() == std::vector<double>{0.25, -4.0});
  CHECK(f->find("fc.bias")->toFloats() == std::vector<float>{1.5f});
  CHECK(f->find("steps")->shape.empty());
  CHECK(f->find("steps")->at(0) == 1000.0);

  // Whitespace inside the header (a pretty-printing writer) is fine too.
  test::writeBytes(
      path, safetensorsBytes("{ \"x\" : { \"dtype\" : \"U8\" , \"shape\" : [ 2 ] , \"data_offsets\" : [ 0 , 2 ] } }\n",
                             "ab"));
  auto g = readSafetensors(path);
  REQUIRE(g.ok());
  CHECK(g->find("x")->bytes == std::vector<uint8_t>{'a', 'b'});
}

TEST_CASE("safetensors: file-level errors") {
  TempDir dir;
  const std::string path = dir.file("lenet.safetensors");
  auto errorOf = [&](const std::string& bytes) {
    test::writeBytes(path, bytes);
    auto r = readSafetensors(path);
    REQUIRE_FALSE(r.ok());
    return r.error().message();
  };
  CHECK(errorOf("abc") == path + ": file is 3 bytes, too short for a safetensors header (at least 8)");
  CHECK(errorOf(safetensorsBytes("{}", "", 100)) ==
        path + ": header size 100 is larger than the 2 bytes that follow it");
  CHECK(errorOf(safetensorsBytes("{}", "", 0x7fffffffffffffffULL)) ==
        path + ": header size 9223372036854775807 is absurd (more than 100000000 bytes): not a safetensors file?");
  CHECK(errorOf(safetensorsBytes("{\"a\xff\":1}", "")) == path + ": header is not valid UTF-8 (at byte 3)");
  CHECK(errorOf(safetensorsBytes("{\"a\":", "")) ==
        path + ": header is not valid JSON: at byte 5: expected a value, found end of input");
  CHECK(errorOf(safetensorsBytes("[1, 2]", "")) == path + ": header is not a JSON object");

  auto missing = readSafetensors(dir.file("absent.safetensors"));
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message() == dir.file("absent.safetensors") + ": cannot open: No such file or directory");
  auto directory = readSafetensors(dir.path().string());
  REQUIRE_FALSE(directory.ok());
  CHECK(directory.error().message() == dir.path().string() + ": not a regular file");
}

TEST_CASE("safetensors: entry errors name the tensor and the problem") {
  TempDir dir;
  CHECK(readError(dir, R"({"w":{"shape":[2],"data_offsets":[0,8]}})") == "tensor 'w': missing 'dtype'");
  CHECK(readError(dir, R"({"w":{"dtype":"F32","data_offsets":[0,8]}})") == "tensor 'w': missing 'shape'");
  CHECK(readError(dir, R"({"w":{"dtype":"F32","shape":[2]}})") == "tensor 'w': missing 'data_offsets'");
  CHECK(readError(dir, R"({"w":7})") == "tensor 'w': entry is not an object");
  CHECK(readError(dir, R"({"w":{"dtype":32,"shape":[2],"data_offsets":[0,8]}})") ==
        "tensor 'w': 'dtype' is 32, not a string");
  CHECK(readError(dir, R"({"w":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}})") ==
        "tensor 'w': unsupported dtype 'BF16' (supported: F64, F32, I64, I32, U8)");
  CHECK(readError(dir, R"({"w":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})") ==
        "tensor 'w': 'shape' is 2, not an array");
  CHECK(readError(dir, R"({"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})") ==
        "tensor 'w': 'shape' [2.5] holds a non-integer");
  CHECK(readError(dir, R"({"w":{"dtype":"F32","shape":[2,-1],"data_offsets":[0,8]}})") ==
        "tensor 'w': shape [2, -1] has a negative dimension");
  CHECK(readError(dir, R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})") ==
        "tensor 'w': shape [4294967296, 4294967296] has more elements than fit in 64 bits");
  CHECK(readError(dir, R"({"w":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,8]}})") ==
        "tensor 'w': shape [2305843009213693952] of F64 is too large");
  CHECK(readError(dir, R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}})") ==
        "tensor 'w': 'data_offsets' is [0], not [begin, end]");
  CHECK(readError(dir, R"({"w":{"dtype":"F32","shape":[2],"data_offsets":["0",8]}})") ==
        "tensor 'w': 'data_offsets' is [\"0\",8], not [begin, end]");
  CHECK(readError(dir, R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})") ==
        "tensor 'w': data_offsets [8, 0] must be [begin, end] with 0 <= begin <= end");
  CHECK(readError(dir, R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})") ==
        "tensor 'w': data_offsets [-8, 0] must be [begin, end] with 0 <= begin <= end");
  CHECK(readError(dir, R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}})") ==
        "tensor 'w': data_offsets [12, 20] reach past the end of the data section (16 bytes)");
  CHECK(readError(dir, R"({"fc1.weight":{"dtype":"F32","shape":[128,784],"data_offsets":[0,100]}})", 100) ==
        "tensor 'fc1.weight': data_offsets [0, 100] hold 100 bytes but shape [128, 784] of F32 needs 401408");
}

TEST_CASE("safetensors: overlaps, duplicates and metadata") {
  TempDir dir;
  CHECK(
      readError(
          dir,
          R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})") ==
      "tensors 'a' [0, 8] and 'b' [4, 12] overlap");
  // Order in the header does not matter; empty tensors never overlap.
  CHECK(
      readError(
          dir,
          R"({"b":{"dtype":"U8","shape":[8],"data_offsets":[8,16]},"e":{"dtype":"U8","shape":[0],"data_offsets":[9,9]},"a":{"dtype":"U8","shape":[9],"data_offsets":[0,9]}})") ==
      "tensors 'a' [0, 9] and 'b' [8, 16] overlap");
  CHECK(
      readError(
          dir,
          R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})") ==
      "duplicate entry 'a' in the header");
  CHECK(readError(dir, R"({"__metadata__":{"format":1}})") == "'__metadata__' entry 'format' is 1, not a string");
  CHECK(readError(dir, R"({"__metadata__":["pt"]})") == "'__metadata__' is [\"pt\"], not a string-to-string map");
  CHECK(readError(dir, R"({"__metadata__":{},"__metadata__":{}})") == "duplicate entry '__metadata__' in the header");

  // Back-to-back and empty tensors are fine; an empty tensor may sit anywhere in the data section.
  const std::string path = dir.file("ok.safetensors");
  test::writeBytes(
      path,
      safetensorsBytes(
          R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"e":{"dtype":"F32","shape":[0],"data_offsets":[2,2]},"b":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}})",
          "abcdefgh"));
  auto f = readSafetensors(path);
  REQUIRE_MESSAGE(f.ok(), (f.ok() ? "" : f.error().message()));
  CHECK(f->find("b")->bytes == std::vector<uint8_t>{'e', 'f', 'g', 'h'});
  CHECK(f->find("e")->bytes.empty());
}

TEST_CASE("safetensors: the tensors cover the data section exactly") {
  TempDir dir;
  // Two tensors with the same range, and one inside another: both named, whatever the header order.
  CHECK(
      readError(
          dir,
          R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})") ==
      "tensors 'a' [0, 16] and 'b' [0, 16] overlap");
  CHECK(
      readError(
          dir,
          R"({"in":{"dtype":"U8","shape":[2],"data_offsets":[4,6]},"out":{"dtype":"U8","shape":[16],"data_offsets":[0,16]}})") ==
      "tensors 'out' [0, 16] and 'in' [4, 6] overlap");
  // Bytes that no tensor owns, before, between and after the tensors (the spec allows no holes).
  CHECK(readError(dir, R"({"a":{"dtype":"U8","shape":[12],"data_offsets":[4,16]}})") ==
        "data section bytes [0, 4] before tensor 'a' [4, 16] belong to no tensor (the format allows no gaps)");
  CHECK(
      readError(
          dir,
          R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[10],"data_offsets":[6,16]}})") ==
      "data section bytes [4, 6] between tensors 'a' [0, 4] and 'b' [6, 16] belong to no tensor (the format allows "
      "no gaps)");
  CHECK(readError(dir, R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})") ==
        "data section bytes [8, 16] after tensor 'a' [0, 8] belong to no tensor (the format allows no gaps)");
  CHECK(readError(dir, R"({"__metadata__":{"format":"pt"}})") ==
        "data section bytes [0, 16] belong to no tensor (the format allows no gaps)");
}

TEST_CASE("safetensors: hostile files give errors, and memory only for what the file holds") {
  TempDir dir;
  // Data cut short: the tensor's range reaches past the end of the file.
  CHECK(readError(dir, R"({"w":{"dtype":"F32","shape":[1000000],"data_offsets":[0,4000000]}})", 64) ==
        "tensor 'w': data_offsets [0, 4000000] reach past the end of the data section (64 bytes)");
  // Offsets and shapes beyond anything a file holds.
  CHECK(readError(dir, R"({"w":{"dtype":"U8","shape":[9223372036854775807],"data_offsets":[0,9223372036854775807]}})") ==
        "tensor 'w': data_offsets [0, 9223372036854775807] reach past the end of the data section (16 bytes)");
  CHECK(readError(dir, R"({"w":{"dtype":"U8","shape":[16],"data_offsets":[0,18446744073709551616]}})") ==
        "tensor 'w': 'data_offsets' is [0,1.8446744073709552e+19], not [begin, end]");
  // A wrong dtype, and a shape that does not match the bytes.
  CHECK(readError(dir, R"({"w":{"dtype":"f32","shape":[4],"data_offsets":[0,16]}})") ==
        "tensor 'w': unsupported dtype 'f32' (supported: F64, F32, I64, I32, U8)");
  CHECK(readError(dir, R"({"w":{"dtype":"F64","shape":[4],"data_offsets":[0,16]}})") ==
        "tensor 'w': data_offsets [0, 16] hold 16 bytes but shape [4] of F64 needs 32");
  // A JSON nesting bomb in the header.
  CHECK(readError(dir, std::string(100000, '[')) ==
        "header is not valid JSON: at byte 128: nesting deeper than 128 levels");
  // A header that claims the whole file, and every truncation of a good file.
  TensorFile good;
  good.tensors.push_back(NamedTensor::fromFloats("w", {2}, std::vector<float>{1, 2}));
  REQUIRE(writeSafetensors(dir.file("good.safetensors"), good).ok());
  const std::string bytes = test::readBytes(dir.file("good.safetensors"));
  for (size_t n = 0; n < bytes.size(); ++n) {
    const std::string path = dir.file("cut.safetensors");
    test::writeBytes(path, bytes.substr(0, n));
    INFO(n);
    CHECK_FALSE(readSafetensors(path).ok());
  }
}

TEST_CASE("safetensors: bytes in memory read as the file does") {
  TempDir dir;
  TensorFile file;
  file.metadata = {{"format", "pt"}};
  file.tensors.push_back(NamedTensor::fromFloats("w", {2, 2}, std::vector<float>{1, 2, 3, 4}));
  file.tensors.push_back(NamedTensor::fromInt64s("n", {}, std::vector<int64_t>{7}));
  const std::string path = dir.file("m.safetensors");
  REQUIRE(writeSafetensors(path, file).ok());
  const std::string bytes = test::readBytes(path);
  auto parsed = parseSafetensors(std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()), "mem");
  REQUIRE(parsed.ok());
  CHECK(parsed->metadata == file.metadata);
  REQUIRE(parsed->tensors.size() == 2);
  CHECK(parsed->find("w")->toFloats() == std::vector<float>{1, 2, 3, 4});
  CHECK(parsed->find("n")->at(0) == 7.0);
  // The same errors, named after what the caller says the bytes are.
  const std::string cut = bytes.substr(0, bytes.size() - 1);
  auto bad = parseSafetensors(std::span(reinterpret_cast<const uint8_t*>(cut.data()), cut.size()), "mem");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message() ==
        "mem: tensor 'n': data_offsets [16, 24] reach past the end of the data section (23 bytes)");
  test::writeBytes(path, cut);
  auto fromFile = readSafetensors(path);
  REQUIRE_FALSE(fromFile.ok());
  CHECK(fromFile.error().message() == path + bad.error().message().substr(3));
}

TEST_CASE("safetensors: atomic write replaces the file and leaves no temporary") {
  TempDir dir;
  const std::string path = dir.file("ckpt.safetensors");
  TensorFile one;
  one.tensors.push_back(NamedTensor::fromFloats("w", {1}, std::vector<float>{1.0f}));
  REQUIRE(writeSafetensors(path, one).ok());
  TensorFile two;
  two.tensors.push_back(NamedTensor::fromFloats("w", {2}, std::vector<float>{2.0f, 3.0f}));
  REQUIRE(writeSafetensors(path, two).ok());
  auto back = readSafetensors(path);
  REQUIRE(back.ok());
  CHECK(back->find("w")->toFloats() == std::vector<float>{2.0f, 3.0f});

  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) names.push_back(e.path().filename().string());
  CHECK(names == std::vector<std::string>{"ckpt.safetensors"});

  // A relative path (no directory part) syncs the current directory.
  const auto cwd = std::filesystem::current_path();
  std::filesystem::current_path(dir.path());
  const bool relativeOk = writeSafetensors("rel.safetensors", one).ok();
  std::filesystem::current_path(cwd);
  CHECK(relativeOk);
  CHECK(std::filesystem::exists(dir.file("rel.safetensors")));
}

TEST_CASE("safetensors: write errors are values") {
  TempDir dir;
  TensorFile file;
  file.tensors.push_back(NamedTensor::fromFloats("w", {1}, std::vector<float>{1.0f}));

  const std::string noDir = dir.file("missing/ckpt.safetensors");
  auto st = writeSafetensors(noDir, file);
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().message().find(noDir + ": cannot create " + noDir + ".tmp.") == 0);
  CHECK(st.error().message().find("No such file or directory") != std::string::npos);

  // The target is a directory: the rename fails and the temporary is cleaned up.
  std::filesystem::create_directory(dir.file("taken"));
  std::filesystem::create_directory(dir.file("taken/inner"));
  auto clash = writeSafetensors(dir.file("taken"), file);
  REQUIRE_FALSE(clash.ok());
  CHECK(clash.error().message().find("cannot rename") != std::string::npos);
  size_t entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++entries;
  CHECK(entries == 1);  // only "taken"

  TensorFile bad;
  bad.tensors.push_back(NamedTensor::fromFloats("w", {3}, std::vector<float>{1.0f}));
  auto mismatch = writeSafetensors(dir.file("x.safetensors"), bad);
  REQUIRE_FALSE(mismatch.ok());
  CHECK(mismatch.error().message() ==
        dir.file("x.safetensors") + ": tensor 'w': holds 4 bytes but shape [3] of F32 needs 12");

  TensorFile dup;
  dup.tensors.push_back(file.tensors[0]);
  dup.tensors.push_back(file.tensors[0]);
  CHECK(writeSafetensors(dir.file("x.safetensors"), dup).error().message() ==
        dir.file("x.safetensors") + ": duplicate tensor name 'w'");
  TensorFile reserved;
  reserved.tensors.push_back(NamedTensor::fromFloats("__metadata__", {1}, std::vector<float>{1.0f}));
  CHECK_FALSE(writeSafetensors(dir.file("x.safetensors"), reserved).ok());
  TensorFile latin1;
  latin1.tensors.push_back(NamedTensor::fromFloats("caf\xe9", {1}, std::vector<float>{1.0f}));
  CHECK(writeSafetensors(dir.file("x.safetensors"), latin1).error().message() ==
        dir.file("x.safetensors") + ": tensor name 'caf\xe9' is not valid UTF-8");
  TensorFile badMeta;
  badMeta.metadata = {{"k", "\xff"}};
  CHECK_FALSE(writeSafetensors(dir.file("x.safetensors"), badMeta).ok());
  CHECK_FALSE(std::filesystem::exists(dir.file("x.safetensors")));
}
