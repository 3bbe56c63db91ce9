// Named tensors on disk: the safetensors format that PyTorch, JAX and Hugging Face read and write.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "support/error.h"

namespace sinter {

// The element types a checkpoint or tensor file may hold. Safetensors names them "F64", "F32", ...;
// other safetensors dtypes (F16, BF16, I8, BOOL, ...) are rejected when read.
enum class ElemType { F64, F32, I64, I32, U8 };

size_t elemSize(ElemType type);
std::string_view elemTypeName(ElemType type);  // "F32"
// The type a safetensors dtype string names, or an "unsupported dtype 'BF16'" error.
Expected<ElemType> parseElemType(std::string_view name);

// One tensor: raw little-endian bytes in row-major order, as safetensors stores them.
struct NamedTensor {
  std::string name;
  ElemType type = ElemType::F32;
  std::vector<int64_t> shape;  // empty: a scalar of one element
  std::vector<uint8_t> bytes;

  static NamedTensor fromFloats(std::string name, std::vector<int64_t> shape, std::span<const float> values);
  static NamedTensor fromDoubles(std::string name, std::vector<int64_t> shape, std::span<const double> values);
  static NamedTensor fromInt32s(std::string name, std::vector<int64_t> shape, std::span<const int32_t> values);
  static NamedTensor fromInt64s(std::string name, std::vector<int64_t> shape, std::span<const int64_t> values);
  static NamedTensor fromBytes(std::string name, std::vector<int64_t> shape, std::span<const uint8_t> values);

  // Elements held (bytes.size() / elemSize), which equals the product of shape in any valid tensor.
  size_t size() const;
  // Element i converted to double; i < size(). Int64 beyond 2^53 rounds.
  double at(size_t i) const;
  // All elements converted (with rounding where the type is wider than the result).
  std::vector<double> toDoubles() const;
  std::vector<float> toFloats() const;
};

// "nan", "inf" or "-inf", for messages about a non-finite value (a NaN's sign means nothing to the
// user).
inline std::string_view nonFiniteName(double v) { return v != v ? "nan" : v > 0 ? "inf" : "-inf"; }

// The product of shape as an element count, or an error if a dimension is negative or the product
// overflows int64. what names the tensor in the message.
Expected<int64_t> checkedNumel(std::span<const int64_t> shape, std::string_view what);
// "[128, 784]"
std::string shapeString(std::span<const int64_t> shape);

struct TensorFile {
  std::vector<NamedTensor> tensors;                           // in file order
  std::vector<std::pair<std::string, std::string>> metadata;  // the "__metadata__" map, in file order
  const NamedTensor* find(std::string_view name) const;
};

// Reads and fully validates a safetensors file: every error names the file and what is wrong, e.g.
// "lenet.safetensors: tensor 'fc1.weight': data_offsets [0, 100] hold 100 bytes but shape [128, 784]
// of F32 needs 401408". The tensors' ranges must cover the data section exactly, without overlaps or
// gaps. Only the header is read before it is validated; nothing is allocated from an unchecked size.
Expected<TensorFile> readSafetensors(const std::string& path);
// The same for a whole file already in memory; errors begin with name.
Expected<TensorFile> parseSafetensors(std::span<const uint8_t> bytes, std::string_view name);

// Writes the standard format (8-byte little-endian header size, JSON header in the given tensor order,
// padded with spaces so the data starts 8-byte aligned, then the data), atomically: a temporary file
// in the same directory is written and fsynced, renamed over path, and the directory is fsynced, so a
// crash leaves either the old file or the new one, never a torn checkpoint.
Status writeSafetensors(const std::string& path, const TensorFile& file);

}  // namespace sinter
