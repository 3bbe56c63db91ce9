// Tensor types: formatting and broadcasting.
#include "ir/types.h"

#include <algorithm>

namespace sinter {

bool TensorType::hasBatch() const { return std::find(dims.begin(), dims.end(), kBatch) != dims.end(); }

int64_t TensorType::numel(int64_t batch) const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d == kBatch ? batch : d;
  return n;
}

bool withinElementLimit(const Dims& dims) {
  for (int64_t d : dims)
    if (d < 0 && d != kBatch) return false;  // a negative extent is no shape at all
  if (std::find(dims.begin(), dims.end(), 0) != dims.end()) return true;
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d == kBatch) continue;
    if (d > kMaxElements / n) return false;
    n *= d;
  }
  return true;
}

std::string dtypeName(DType t) {
  switch (t) {
    case DType::F32: return "f32";
    case DType::I32: return "i32";
    case DType::Void: return "void";
  }
  return "?";
}

std::string formatDims(const Dims& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) s += ",";
    s += dims[i] == kBatch ? std::string("B") : std::to_string(dims[i]);
  }
  return s + "]";
}

std::string formatType(const TensorType& t) {
  if (t.isVoid()) return "void";
  return dtypeName(t.dtype) + formatDims(t.dims);
}

Expected<Dims> broadcastDims(const Dims& a, const Dims& b) {
  size_t n = std::max(a.size(), b.size());
  Dims out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t x = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t y = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (x == y || y == 1) out[i] = x;
    else if (x == 1) out[i] = y;
    else return Error(fmt::format("dimension {} differs ({} vs {})", i, x == kBatch ? "B" : std::to_string(x),
                                  y == kBatch ? "B" : std::to_string(y)));
  }
  return out;
}

int64_t extentProduct(const Dims& dims, const std::vector<int64_t>& axes, int64_t batch) {
  int64_t n = 1;
  for (int64_t a : axes) n *= dims[a] == kBatch ? batch : dims[a];
  return n;
}

int64_t dtypeSize(DType d) {
  switch (d) {
    case DType::F32:
    case DType::I32: return 4;
    case DType::Void: return 0;
  }
  return 0;
}

}  // namespace sinter
