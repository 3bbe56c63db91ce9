// Helpers for trainer tests: the MNIST subset, captured output, and buffer snapshots.
#pragma once

#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "runtime/dataset.h"
#include "runtime/program.h"

namespace sinter::test {

inline const std::string kMnistDir = SINTER_SOURCE_DIR "/../shared/data/mnist";

// The first `count` images of d.
inline Dataset head(const Dataset& d, int64_t count) {
  Dataset out = d;
  out.count = std::min(d.count, count);
  out.pixels.assign(d.pixels.begin(), d.pixels.begin() + out.count * d.imageSize());
  out.labels.assign(d.labels.begin(), d.labels.begin() + out.count);
  return out;
}

inline const DataSplits& mnist() {
  static const DataSplits splits = [] {
    auto data = loadDataDir(kMnistDir);
    if (!data) FAIL(data.error().message());
    return data.take();
  }();
  return splits;
}

// The first `train` MNIST training images and the first `test` test images.
inline DataSplits mnistHead(int64_t train, int64_t test) {
  return {head(mnist().train, train), head(mnist().test, test), mnist().description};
}

// The first 2000 training and 1000 test images, made once.
inline const DataSplits& mnistSubset() {
  static const DataSplits splits = mnistHead(2000, 1000);
  return splits;
}

// A temporary FILE* whose contents can be read back.
class Capture {
 public:
  Capture() : f_(std::tmpfile()) { REQUIRE(f_ != nullptr); }
  ~Capture() { std::fclose(f_); }
  Capture(const Capture&) = delete;
  Capture& operator=(const Capture&) = delete;
  std::FILE* file() const { return f_; }
  std::string text() const {
    std::fflush(f_);
    std::rewind(f_);
    std::string out;
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, f_)) > 0;) out.append(buf, n);
    return out;
  }

 private:
  std::FILE* f_;
};

// The bytes of every Param and State buffer, in plan order.
inline std::vector<std::vector<uint8_t>> persistentBytes(Program& program) {
  std::vector<std::vector<uint8_t>> out;
  const PlanTable& t = program.table();
  for (int32_t i = 0; i < t.numBuffers; ++i) {
    const PlanBuffer& b = t.buffers[i];
    if (!b.persistent) continue;
    std::vector<uint8_t> bytes(static_cast<size_t>(program.elements(b, 1) * 4));
    program.read(b, 1, std::as_writable_bytes(std::span(bytes)));
    out.push_back(std::move(bytes));
  }
  return out;
}

}  // namespace sinter::test
