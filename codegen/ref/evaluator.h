// The reference evaluator: a deliberately plain interpreter of the graph IR, the oracle every backend is tested against.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "ir/module.h"

namespace sinter::ref {

// F64: every op in exact double arithmetic (finite differences, gradient checks). F32: each op is
// computed in double and its f32 result rounded to float, i.e. the most accurate float32 answer.
enum class Precision { F64, F32 };

// A concrete tensor: dims hold no kBatch. Elements are doubles whatever the dtype: i32 values are
// stored exactly, and in F32 mode every f32 result holds float-representable values only.
struct Tensor {
  DType dtype = DType::F32;
  Dims dims;
  std::vector<double> data;
};

using TensorMap = std::map<std::string, Tensor>;

// Called after each op with the op's value number, its operands and its result (in F32 mode already
// rounded). An error it returns stops the evaluation and becomes evaluate's result: that is how
// --check-numerics stops at the first op whose output is not finite (runtime/numerics.h).
using OpObserver = std::function<Status(const Node& n, ValueId v, std::span<const Tensor* const> operands, const Tensor& out)>;

// Runs function `fn` of `m` (which must verify). `inputs` binds each Input by name: dtype must match
// and dims must match the declared type with B bound to one batch size >= 1 for all inputs; inputs
// the function does not take are ignored. `globals` holds every global the function loads (missing
// or wrong shape: an Error naming it). Stores take effect when the function returns (loads see the
// values at entry) and are written back into `globals`. Returns the function's results by name.
Expected<TensorMap> evaluate(const Module& m, const std::string& fn, const TensorMap& inputs, TensorMap& globals,
                             Precision p, const OpObserver& observe = {});

// Every global's initial value from its Init: zeros, ones, constant{value}, normal{mean,std} or
// uniform{low,high}. Element j of global number g draws from Philox4x32-10 with counter
// (j mod 2^32, g, j / 2^32, 0) and key (seed mod 2^32, seed / 2^32): uniform uses word 0, normal uses
// words 0 and 1 through Box-Muller. So one seed gives the same weights on every backend. f32 values are
// rounded to float; an unknown init kind (the IR parser accepts any word) gives NaNs, never plausible
// numbers.
TensorMap initGlobals(const Module& m, uint64_t seed);

}  // namespace sinter::ref
