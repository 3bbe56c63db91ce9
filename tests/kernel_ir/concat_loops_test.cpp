// concat-loops on kernel programs built by hand: where it fires (with the offsets plan-memory then
// gives the members), and the cases where it must not that no model produces today.
#include <doctest/doctest.h>

#include "codegen/kernel_passes.h"

using namespace sinter;
using namespace sinter::kir;

namespace {

// Params w0 (f32[16]) and w1 (f32[3]; f32[16] with readsW0), their gradients g0 and g1 (temps of
// @f), and lr (f32[]). Each update kernel is w = w - lr * g in place; `readsW0` makes the second
// update read w0 instead of its own gradient (what the first writes); `otherOp` makes it compute
// w + lr * g.
struct Hand {
  KProgram p;
  int32_t w0, w1, g0, g1, lr;
};

Hand program(bool readsW0, bool otherOp) {
  Hand h;
  KProgram& p = h.p;
  p.model = "hand";
  auto buffer = [&](const char* name, BufferRole role, int64_t n, int32_t global) {
    Buffer b;
    b.name = name;
    b.role = role;
    b.type = TensorType{DType::F32, n ? std::vector<int64_t>{n} : std::vector<int64_t>{}};
    b.persistent = global >= 0;
    b.bytesAtMax = std::max<int64_t>(n, 1) * 4;
    b.storage = static_cast<int32_t>(p.buffers.size());
    b.global = global;
    b.function = global >= 0 ? -1 : 0;
    p.buffers.push_back(b);
    return b.storage;
  };
  h.w0 = buffer("w0", BufferRole::Param, 16, 0);
  const int64_t n1 = readsW0 ? 16 : 3;
  h.w1 = buffer("w1", BufferRole::Param, n1, 1);
  h.lr = buffer("lr", BufferRole::State, 0, 2);
  h.g0 = buffer("f.g0", BufferRole::Temp, 16, -1);
  h.g1 = buffer("f.g1", BufferRole::Temp, n1, -1);
  // g = neg(w) and g = exp(w): something that writes the gradients before the updates (two loops
  // that differ, so that they stay apart).
  auto produce = [&](int32_t g, int32_t w, int64_t n, OpKind op) {
    Kernel k;
    k.args = {g, w};
    k.ops = {op};
    k.space = {Lin{0, n}};
    k.numKept = 1;
    k.outStrides = {Lin{0, 1}};
    k.exprs = {Expr{.kind = ExprKind::Read, .arg = 1, .strides = {Lin{0, 1}}},
               Expr{.kind = ExprKind::Op, .op = op, .operands = {0}}};
    k.root = 1;
    return k;
  };
  auto update = [&](int32_t w, int32_t g, int64_t n, OpKind op) {
    Kernel k;
    k.args = {w, g, h.lr};
    k.ops = {OpKind::Mul, op};
    k.space = {Lin{0, n}};
    k.numKept = 1;
    k.outStrides = {Lin{0, 1}};
    k.outputAliasesArg = true;
    k.exprs = {Expr{.kind = ExprKind::Read, .arg = 0, .strides = {Lin{0, 1}}},
               Expr{.kind = ExprKind::Read, .arg = 1, .strides = {Lin{0, 1}}},
               Expr{.kind = ExprKind::Read, .arg = 2, .strides = {Lin{0, 0}}},
               Expr{.kind = ExprKind::Op, .op = OpKind::Mul, .operands = {2, 1}},
               Expr{.kind = ExprKind::Op, .op = op, .operands = {0, 3}}};
    k.root = 4;
    return k;
  };
  KFunction f;
  f.name = "f";
  f.kernels = {produce(h.g0, h.w0, 16, OpKind::Neg), produce(h.g1, h.w1, n1, OpKind::Exp), update(h.w0, h.g0, 16, OpKind::Sub),
               update(h.w1, readsW0 ? h.w0 : h.g1, n1, otherOp ? OpKind::Add : OpKind::Sub)};
  renameKernels(f);
  p.functions.push_back(f);
  return h;
}

}  // namespace

TEST_CASE("concat-loops: two parameters' updates become one loop over groups laid end to end") {
  Hand h = program(false, false);
  KProgram& p = h.p;
  Expected<bool> changed = concatLoops(p);
  REQUIRE(changed);
  CHECK(*changed);
  const KFunction& f = p.functions[0];
  REQUIRE(f.kernels.size() == 3);
  const Kernel& k = f.kernels[2];
  CHECK(k.name == "f_k2_mul_sub");
  CHECK(k.space == std::vector<Lin>{Lin{0, 19}});
  // args: the weights' group (written and read), the gradients' group, lr.
  REQUIRE(k.args.size() == 3);
  const Buffer &weights = p.buffers[k.args[0]], &grads = p.buffers[k.args[1]];
  CHECK(weights.name == "w0..w1");
  CHECK(weights.persistent);
  CHECK(grads.name == "f.g0..f.g1");
  CHECK(grads.function == 0);
  CHECK(k.args[2] == h.lr);
  CHECK(p.buffers[h.w0].storage == k.args[0]);
  CHECK(p.buffers[h.w0].storageOffset == 0);
  CHECK(p.buffers[h.w1].storage == k.args[0]);
  CHECK(p.buffers[h.w1].storageOffset == 64);
  CHECK(p.buffers[h.g1].storageOffset == 64);
  // The producers still write their own gradients, now members of the group.
  CHECK(f.kernels[1].args[0] == h.g1);

  REQUIRE(planMemory(p));
  CHECK(p.buffers[h.w1].offset == p.buffers[h.w0].offset + 64);
  CHECK(p.buffers[h.g1].offset == p.buffers[h.g0].offset + 64);
  CHECK(p.buffers[h.lr].offset == 128);  // the group (76 bytes, aligned to 128), then lr
  CHECK(verifyMemoryPlan(p));
}

TEST_CASE("concat-loops must not fire: an update that reads another update's result") {
  Hand h = program(true, false);
  CHECK_FALSE(*concatLoops(h.p));
  CHECK(h.p.functions[0].kernels.size() == 4);
  CHECK(h.p.buffers[h.w1].storage == h.w1);
}

TEST_CASE("concat-loops must not fire: updates that compute different things") {
  Hand h = program(false, true);
  CHECK_FALSE(*concatLoops(h.p));
  CHECK(h.p.functions[0].kernels.size() == 4);
}

TEST_CASE("concat-loops must not fire: a kernel between the updates that reads a weight") {
  Hand h = program(false, false);
  KFunction& f = h.p.functions[0];
  // g1's producer moves between the updates and reads w0: w0's update cannot move down past it.
  std::swap(f.kernels[1], f.kernels[2]);
  f.kernels[2].args[1] = h.w0;
  CHECK_FALSE(*concatLoops(h.p));
  CHECK(f.kernels.size() == 4);
}
