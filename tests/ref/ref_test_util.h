// Helpers for the reference evaluator's tests: one-op modules, tensors from lists, and comparisons
// that print the first mismatching elements with their indices.
#pragma once

#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "codegen/ref/evaluator.h"

namespace sinter::ref::testing {

inline Tensor tensor(Dims dims, std::vector<double> data, DType dtype = DType::F32) {
  return {dtype, std::move(dims), std::move(data)};
}

// A tensor of `dims` with deterministic pseudo-random values in [-1, 1) (a small LCG: the tests need
// varied numbers, not quality randomness).
inline Tensor randomTensor(Dims dims, uint32_t seed) {
  Tensor t{DType::F32, dims, {}};
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  uint32_t s = seed * 2654435761u + 12345u;
  for (int64_t i = 0; i < n; ++i) {
    s = s * 1664525u + 1013904223u;
    t.data.push_back(static_cast<double>(s >> 8) / 8388608.0 - 1.0);
  }
  return t;
}

// Runs one op on the given operands (passed as inputs x0, x1, ... of their exact types) and returns
// its value, or the builder's or evaluator's error.
inline Expected<Tensor> runOp(OpKind op, const std::vector<Tensor>& operands, Attrs attrs = {},
                              Precision p = Precision::F64) {
  Module m;
  m.name = "test";
  m.functions.push_back(Function{"f", {}, {}});
  Function& fn = m.functions.back();
  Builder b(m, fn);
  TensorMap inputs;
  std::vector<ValueId> args;
  for (size_t i = 0; i < operands.size(); ++i) {
    const std::string name = "x" + std::to_string(i);
    args.push_back(b.input(name, {operands[i].dtype, operands[i].dims}));
    inputs[name] = operands[i];
  }
  ValueId y = b.create(op, args, std::move(attrs));
  if (b.failed()) return *b.error();
  fn.results.push_back({"y", y});
  TensorMap globals;
  Expected<TensorMap> out = evaluate(m, "f", inputs, globals, p);
  if (!out) return out.error();
  return out->at("y");
}

inline Tensor mustRun(OpKind op, const std::vector<Tensor>& operands, Attrs attrs = {}, Precision p = Precision::F64) {
  Expected<Tensor> t = runOp(op, operands, std::move(attrs), p);
  if (!t) FAIL(t.error().message());
  return t.take();
}

inline double dot(const Tensor& a, const Tensor& b) {
  double s = 0;
  for (size_t i = 0; i < a.data.size(); ++i) s += a.data[i] * b.data[i];
  return s;
}

// |a_i - want_i| <= tol * max(1, |want_i|) everywhere; reports up to five mismatches by index.
inline void checkValues(const Tensor& a, const std::vector<double>& want, double tol = 1e-12) {
  REQUIRE(a.data.size() == want.size());
  std::string report;
  int bad = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double err = std::fabs(a.data[i] - want[i]);
    const bool same = (std::isnan(want[i]) && std::isnan(a.data[i])) || a.data[i] == want[i] ||
                      err <= tol * std::max(1.0, std::fabs(want[i]));
    if (!same && bad++ < 5) report += fmt::format(" [{}] got {} want {};", i, a.data[i], want[i]);
  }
  CHECK_MESSAGE(bad == 0, bad, " mismatches:", report);
}

inline void checkTensor(const Tensor& a, const Dims& dims, const std::vector<double>& want, double tol = 1e-12) {
  CHECK(a.dims == dims);
  checkValues(a, want, tol);
}

}  // namespace sinter::ref::testing
