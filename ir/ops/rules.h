// Helpers shared by the op families' shape and gradient rules.
#pragma once

#include <fmt/format.h>

#include <span>
#include <string>

#include "ir/module.h"

namespace sinter::rules {

inline TensorType f32(Dims dims) { return {DType::F32, std::move(dims)}; }

// Attribute presence and type checks: a shape rule fails with a message instead of aborting later.
Status needInt(const Attrs& a, const char* key);
Status needFloat(const Attrs& a, const char* key);
Status needBool(const Attrs& a, const char* key);
Status needInts(const Attrs& a, const char* key, int count = -1);  // count -1: any length

Status needF32(std::string_view op, const TensorType& t, const char* what = "operand");

// Sorted, unique, in-range axes (shape rules of reductions and their users).
Status checkAxes(const std::vector<int64_t>& axes, int rank);

// dims with the reduced axes kept as 1 (or removed).
Dims reducedDims(const Dims& dims, const std::vector<int64_t>& axes, bool keepdims);

// Reshapes a reduction's gradient back to keepdims form, then broadcasts it to `dims`.
ValueId expandReduced(Builder& b, ValueId dy, const Dims& dims, const std::vector<int64_t>& axes, bool keepdims);

// Output extent of a window op: (in + 2*pad - dil*(k-1) - 1) / stride + 1, or -1 if the window
// does not fit.
int64_t windowOut(int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dil);

// The gradient rule of ops whose value does not vary with their operands' values (step, sign,
// eq, cast, and ops that read only an operand's shape such as numel and dropout_mask): zero.
std::vector<ValueId> zeroGradient(Builder& b, const Node& n, ValueId self, ValueId dy);

}  // namespace sinter::rules
