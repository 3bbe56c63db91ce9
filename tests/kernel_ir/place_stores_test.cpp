// place-stores on kernel programs built by hand: where it fires, and the cases where it must not
// (no model of the language produces those today, so a golden dump cannot show them).
#include <doctest/doctest.h>

#include "codegen/kernel_passes.h"

using namespace sinter;
using namespace sinter::kir;

namespace {

// Buffers: %0 the global g (a param f32[4]), %1 the temp r the update produces, %2 a result.
// @f: k0 computes r from g (reading g at `gStride`, reducing when `reduce`), optionally k1 reads g
// after it, and the last kernel copies r into g (the store).
KProgram program(bool readerAfter, bool reduce, int64_t gStride) {
  KProgram p;
  p.model = "hand";
  const TensorType t{DType::F32, {4}};
  auto buffer = [&](const char* name, BufferRole role, bool persistent, int32_t global) {
    Buffer b;
    b.name = name;
    b.role = role;
    b.type = t;
    b.persistent = persistent;
    b.bytesAtMax = 16;
    b.storage = static_cast<int32_t>(p.buffers.size());
    b.global = global;
    b.function = persistent ? -1 : 0;
    p.buffers.push_back(b);
  };
  buffer("g", BufferRole::Param, true, 0);
  buffer("f.r", BufferRole::Temp, false, -1);
  buffer("f.out", BufferRole::Output, false, -1);
  auto loop = [&](int32_t out, int32_t in, int64_t stride, OpKind op) {
    Kernel k;
    k.kind = KernelKind::Loop;
    k.args = {out, in};
    k.ops = {op};
    k.space = {Lin{0, 4}};
    k.numKept = 1;
    k.outStrides = {Lin{0, 1}};
    Expr read{ExprKind::Read};
    read.arg = 1;
    read.strides = {Lin{0, stride}};
    k.exprs.push_back(read);
    k.root = 0;
    return k;
  };
  KFunction f;
  f.name = "f";
  Kernel producer = loop(1, 0, gStride, OpKind::Neg);
  if (reduce) producer.reduceRoot = 0;
  f.kernels.push_back(producer);
  if (readerAfter) f.kernels.push_back(loop(2, 0, 1, OpKind::Neg));
  f.kernels.push_back(loop(0, 1, 1, OpKind::Store));
  for (size_t k = 0; k < f.kernels.size(); ++k) f.kernels[k].name = kernelName("f", k, f.kernels[k].ops);
  f.results = {{"out", 2}};
  p.functions.push_back(f);
  return p;
}

}  // namespace

TEST_CASE("place-stores: an update that reads the old value only where it writes goes in place") {
  KProgram p = program(false, false, 1);
  Expected<bool> changed = placeStores(p);
  REQUIRE(changed);
  CHECK(*changed);
  REQUIRE(p.functions[0].kernels.size() == 1);  // the copy is gone
  CHECK(p.buffers[1].storage == 0);
  CHECK(p.buffers[1].persistent);
  CHECK(p.functions[0].kernels[0].outputAliasesArg);
  CHECK(p.functions[0].kernels[0].name == "f_k0_neg");
}

TEST_CASE("place-stores must not fire: a reader of the old value after the producer") {
  KProgram p = program(true, false, 1);
  Expected<bool> changed = placeStores(p);
  REQUIRE(changed);
  CHECK_FALSE(*changed);
  CHECK(p.functions[0].kernels.size() == 3);
  CHECK(p.buffers[1].storage == 1);
}

TEST_CASE("place-stores must not fire: a producer that reduces while it reads the old value") {
  KProgram p = program(false, true, 1);
  CHECK_FALSE(*placeStores(p));
  CHECK(p.functions[0].kernels.size() == 2);
}

TEST_CASE("place-stores must not fire: a producer that reads the old value at other elements") {
  KProgram p = program(false, false, 0);  // every element reads g[0]
  CHECK_FALSE(*placeStores(p));
  CHECK(p.functions[0].kernels.size() == 2);
}
