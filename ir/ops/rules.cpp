// Helpers shared by the op families' shape and gradient rules.
#include "ir/ops/rules.h"

namespace sinter::rules {

Status needInt(const Attrs& a, const char* key) {
  const Attr* v = a.find(key);
  if (!v || !std::holds_alternative<int64_t>(*v)) return Error(fmt::format("attribute '{}' must be an integer", key));
  return ok();
}

Status needFloat(const Attrs& a, const char* key) {
  const Attr* v = a.find(key);
  if (!v || !(std::holds_alternative<double>(*v) || std::holds_alternative<int64_t>(*v)))
    return Error(fmt::format("attribute '{}' must be a number", key));
  return ok();
}

Status needBool(const Attrs& a, const char* key) {
  const Attr* v = a.find(key);
  if (!v || !std::holds_alternative<bool>(*v)) return Error(fmt::format("attribute '{}' must be true or false", key));
  return ok();
}

Status needInts(const Attrs& a, const char* key, int count) {
  const Attr* v = a.find(key);
  if (!v || !std::holds_alternative<std::vector<int64_t>>(*v))
    return Error(fmt::format("attribute '{}' must be a list of integers", key));
  if (count >= 0 && std::get<std::vector<int64_t>>(*v).size() != static_cast<size_t>(count))
    return Error(fmt::format("attribute '{}' must have {} elements", key, count));
  return ok();
}

Status needF32(std::string_view op, const TensorType& t, const char* what) {
  if (t.dtype != DType::F32) return Error(fmt::format("'{}' expects an f32 {}, found {}", op, what, formatType(t)));
  return ok();
}

Status checkAxes(const std::vector<int64_t>& axes, int rank) {
  for (size_t i = 0; i < axes.size(); ++i) {
    if (axes[i] < 0 || axes[i] >= rank) return Error(fmt::format("axis {} is out of range for rank {}", axes[i], rank));
    if (i && axes[i] <= axes[i - 1]) return Error("axes must be sorted and distinct");
  }
  return ok();
}

Dims reducedDims(const Dims& dims, const std::vector<int64_t>& axes, bool keepdims) {
  Dims out;
  for (int64_t i = 0; i < static_cast<int64_t>(dims.size()); ++i) {
    bool reduced = std::find(axes.begin(), axes.end(), i) != axes.end();
    if (!reduced) out.push_back(dims[i]);
    else if (keepdims) out.push_back(1);
  }
  return out;
}

ValueId expandReduced(Builder& b, ValueId dy, const Dims& dims, const std::vector<int64_t>& axes, bool keepdims) {
  if (!keepdims) dy = b.reshape(dy, reducedDims(dims, axes, true));
  return b.broadcast(dy, dims);
}

std::vector<ValueId> zeroGradient(Builder&, const Node& n, ValueId, ValueId) {
  return std::vector<ValueId>(n.operands.size(), kNoValue);
}

int64_t windowOut(int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dil) {
  // Attributes read from IR text may be any int64: a window too large to compute fits nowhere.
  int64_t padded = 0, reach = 0, span = 0;
  if (__builtin_mul_overflow(pad, 2, &padded) || __builtin_add_overflow(in, padded, &padded) ||
      __builtin_mul_overflow(dil, k - 1, &reach) || __builtin_sub_overflow(padded, reach, &span) ||
      __builtin_sub_overflow(span, 1, &span))
    return -1;
  if (span < 0 || stride <= 0) return -1;
  return span / stride + 1;
}

}  // namespace sinter::rules
