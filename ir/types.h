// Tensor types: an element type and a shape whose dimensions may be the symbolic batch size B.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "support/error.h"

namespace sinter {

enum class DType : uint8_t { F32, I32, Void };

// A dimension is a non-negative extent, or kBatch: the batch size, bound at run time (at most the
// compiled maximum). B appears at most once per shape and only as its own dimension, never in a
// product, so every extent is "a constant" or "B" and shape rules stay exact.
constexpr int64_t kBatch = -1;
using Dims = std::vector<int64_t>;
// The most elements a tensor holds per batch item. Shapes past it are refused where they are made
// (frontend types and parameters, Builder::create), so size arithmetic cannot overflow.
constexpr int64_t kMaxElements = int64_t{1} << 40;
// Whether the constant extents of `dims` are non-negative and multiply to at most kMaxElements
// (checked without overflow).
bool withinElementLimit(const Dims& dims);

struct TensorType {
  DType dtype = DType::Void;
  Dims dims;

  bool isVoid() const { return dtype == DType::Void; }
  int rank() const { return static_cast<int>(dims.size()); }
  bool hasBatch() const;
  // Number of elements with B bound to `batch`.
  int64_t numel(int64_t batch) const;
  bool operator==(const TensorType&) const = default;
};

std::string dtypeName(DType);
// Bytes per element: 4 for f32 and i32 (0 for void).
int64_t dtypeSize(DType);
std::string formatDims(const Dims&);       // "[B,1,28,28]"
std::string formatType(const TensorType&); // "f32[B,1,28,28]", "void"

// Numpy broadcasting of two shapes; B broadcasts with B and with 1 only.
Expected<Dims> broadcastDims(const Dims& a, const Dims& b);

// Product of extents along `axes` with B bound to `batch`.
int64_t extentProduct(const Dims& dims, const std::vector<int64_t>& axes, int64_t batch);

}  // namespace sinter
