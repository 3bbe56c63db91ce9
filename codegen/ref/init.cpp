// Initial values of a module's globals, drawn with Philox so that a seed means the same weights on every backend.
#include <cmath>
#include <numbers>

#include "codegen/ref/kernels.h"
#include "support/philox.h"

namespace sinter::ref {

namespace {

// Init arguments the IR text may omit default to the frontend's defaults.
double arg(const Init& init, const std::string& key, double fallback) {
  const Attr* a = init.args.find(key);
  if (a && std::holds_alternative<double>(*a)) return std::get<double>(*a);
  if (a && std::holds_alternative<int64_t>(*a)) return static_cast<double>(std::get<int64_t>(*a));
  return fallback;
}

Tensor initGlobal(const Global& g, uint32_t index, uint64_t seed) {
  Tensor t{g.type.dtype, g.type.dims, {}};
  const auto n = static_cast<size_t>(numel(t.dims));
  const std::array<uint32_t, 2> key = {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)};
  auto draw = [&](size_t j) {
    return philox4x32_10({static_cast<uint32_t>(j), index, static_cast<uint32_t>(uint64_t{j} >> 32), 0}, key);
  };
  const Init& init = g.init;
  t.data.resize(n);
  for (size_t j = 0; j < n; ++j) {
    double v;
    if (init.kind == "zeros") {
      v = 0;
    } else if (init.kind == "ones") {
      v = 1;
    } else if (init.kind == "constant") {
      v = arg(init, "value", 0);
    } else if (init.kind == "uniform") {
      const double low = arg(init, "low", 0), high = arg(init, "high", 1);
      v = low + (high - low) * static_cast<double>(uniformFromBits(draw(j)[0]));
    } else if (init.kind == "normal") {
      // Box-Muller; 1 - u lies in (0, 1], so the logarithm is finite.
      const auto r = draw(j);
      const double u1 = 1.0 - static_cast<double>(uniformFromBits(r[0]));
      const double u2 = static_cast<double>(uniformFromBits(r[1]));
      const double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
      v = arg(init, "mean", 0) + arg(init, "std", 1) * z;
    } else {
      v = std::nan("");
    }
    // Weights are f32 on every backend; an i32 state buffer holds whole numbers.
    t.data[j] = g.type.dtype == DType::I32 ? std::nearbyint(v) : roundToFloat(v);
  }
  return t;
}

}  // namespace

TensorMap initGlobals(const Module& m, uint64_t seed) {
  TensorMap out;
  for (size_t g = 0; g < m.globals.size(); ++g)
    out[m.globals[g].name] = initGlobal(m.globals[g], static_cast<uint32_t>(g), seed);
  return out;
}

}  // namespace sinter::ref
