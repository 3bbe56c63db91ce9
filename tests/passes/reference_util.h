// Helpers for the passes' end-to-end tests: compile a model through the grad pipeline, read
// safetensors files as reference-evaluator tensors, and compare tensors with the tolerance formula
// of tests/reference/README.md, printing the first mismatching elements with their indices.
#pragma once

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <cmath>
#include <string>

#include "codegen/ref/evaluator.h"
#include "frontend/compile.h"
#include "passes/pass.h"
#include "runtime/tensor_file.h"

namespace sinter::testing {

// A file of the source tree; SINTER_SOURCE_DIR in the environment moves it (the test binaries run
// from another checkout on the GPU machine, tests/cuda/device_check.sh).
inline std::string sourcePath(const std::string& relative) {
  const char* moved = std::getenv("SINTER_SOURCE_DIR");
  return std::string(moved && *moved ? moved : SINTER_SOURCE_DIR) + "/" + relative;
}

// The model after the grad pipeline (@eval, and with a loss @grad and @train_step), keeping the
// ops `takes` says a target's library runs.
inline Module compileForTraining(const std::string& path, const TargetTakes& takes = nullptr) {
  FrontendResult r = compileFile(path);
  if (r.error) FAIL(path, ": ", r.error->message());
  REQUIRE(r.module);
  Module m = *r.module;
  PassManagerOptions pm;
  pm.targetTakes = takes;
  Status s = runGradPipeline(m, pm);
  if (!s) FAIL(path, ": ", s.error().message());
  return m;
}

// Every tensor of a safetensors file, as doubles; I32/I64/U8 tensors become i32 tensors.
inline ref::TensorMap readTensors(const std::string& path) {
  Expected<TensorFile> file = readSafetensors(path);
  if (!file) FAIL(file.error().message());
  ref::TensorMap out;
  for (const NamedTensor& t : file->tensors) {
    bool isInt = t.type == ElemType::I32 || t.type == ElemType::I64 || t.type == ElemType::U8;
    out[t.name] = ref::Tensor{isInt ? DType::I32 : DType::F32, Dims(t.shape.begin(), t.shape.end()), t.toDoubles()};
  }
  return out;
}

// The module's initial globals (seed 0) with every tensor of `weights` put in place; each must be
// a global of the model with the same shape.
inline ref::TensorMap globalsFrom(const Module& m, const ref::TensorMap& weights) {
  ref::TensorMap globals = ref::initGlobals(m, 0);
  for (const auto& entry : weights) {  // not a structured binding: clang cannot capture one in a MESSAGE
    const std::string& name = entry.first;
    const ref::Tensor& t = entry.second;
    const Global* g = m.global(name);
    if (!g) FAIL("'", name, "' is not a global of model ", m.name);
    REQUIRE_MESSAGE(g->type.dims == t.dims, name, ": shape ", formatDims(t.dims), " vs ", formatDims(g->type.dims));
    globals[name] = ref::Tensor{g->type.dtype, t.dims, t.data};
  }
  return globals;
}

inline ref::TensorMap mustEvaluate(const Module& m, const std::string& fn, const ref::TensorMap& inputs,
                                   ref::TensorMap& globals, ref::Precision p) {
  Expected<ref::TensorMap> out = ref::evaluate(m, fn, inputs, globals, p);
  if (!out) FAIL(m.name, " @", fn, ": ", out.error().message());
  return out.take();
}

// err(a, b) = max_i |a_i - b_i| / max(|b_i|, tau * max_j |b_j|)   (tests/reference/README.md);
// tau = 1 is the normwise max|a - b| / max|b|. `report` gets the first five elements whose own
// ratio exceeds `tol`, with their indices and both values.
inline double relativeError(const std::vector<double>& a, const std::vector<double>& b, double tau, double tol,
                            std::string* report = nullptr) {
  double maxB = 0;
  for (double x : b) maxB = std::max(maxB, std::fabs(x));
  double worst = 0;
  int shown = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    double denom = std::max(std::fabs(b[i]), tau * maxB);
    double err = a[i] == b[i] ? 0.0 : std::fabs(a[i] - b[i]) / denom;
    if (std::isnan(err)) err = INFINITY;
    worst = std::max(worst, err);
    if (report && err > tol && shown++ < 5) *report += fmt::format(" [{}] got {:.17g} want {:.17g};", i, a[i], b[i]);
  }
  return worst;
}

// Compares `got` with `want` (same shape, err <= tol) and returns err; a failure names `what`.
inline double checkClose(const std::string& what, const ref::Tensor& got, const ref::Tensor& want, double tau,
                         double tol) {
  CHECK_MESSAGE(got.dims == want.dims, what, ": shape ", formatDims(got.dims), ", want ", formatDims(want.dims));
  if (got.dims != want.dims) return INFINITY;
  std::string report;
  double err = relativeError(got.data, want.data, tau, tol, &report);
  CHECK_MESSAGE(err <= tol, what, ": relative error ", err, " > ", tol, ";", report);
  return err;
}

}  // namespace sinter::testing
