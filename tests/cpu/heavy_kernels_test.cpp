// The CPU target's heavy kernels against the reference evaluator: each op over many shapes (odd
// sizes, remainders, batch 1/7/64, every transpose combination, stride/padding/dilation/groups),
// JIT-compiled and run over the whole extent and over 3 random slices. Half the cases are tiled for
// the other vector ISA than the host's (AVX-512 tiles still run on AVX2 machines, in halves).
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Support/raw_ostream.h>

#include <cmath>
#include <random>

#include "codegen/cpu/heavy_kernels.h"
#include "codegen/cpu/jit.h"
#include "runtime/plan.h"
#include "tests/ref/ref_test_util.h"

using namespace sinter;
using namespace sinter::ref::testing;

namespace {

cpu::Jit& jit() {
  static std::unique_ptr<cpu::Jit> j = [] {
    auto made = cpu::Jit::create();
    REQUIRE_MESSAGE(made.ok(), "cannot create the JIT");
    return made.take();
  }();
  return *j;
}

// The host's tiling for even seeds, the other register file's for odd ones.
cpu::HeavyTarget targetFor(uint32_t seed) {
  const cpu::HeavyTarget host = cpu::HeavyTarget::host();
  if (seed % 2 == 0) return host;
  return host.registers >= 32 ? cpu::HeavyTarget{256, 16} : cpu::HeavyTarget{512, 32};
}

Dims bind(Dims d, int64_t batch) {
  for (int64_t& x : d)
    if (x == kBatch) x = batch;
  return d;
}

// Element i of a row-major [N, C, H, W] tensor's position in the NChw16c layout.
size_t blockedIndex(const Dims& d, size_t i) {
  const auto hw = static_cast<size_t>(d[2] * d[3]), c = static_cast<size_t>(d[1]);
  const size_t n = i / (c * hw), ch = i / hw % c, s = i % hw;
  return ((n * (c / 16) + ch / 16) * hw + s) * 16 + ch % 16;
}

// Compiles the kernel of `op` over the symbolic operand types, runs it at `batch` over one slice and
// over 3 random slices, and compares each run with the reference evaluator's F32 result:
// |got - want| <= tol * max|want| everywhere (tol 0: bit-exact). `blocked`: the kernel's operands
// and result are in the NChw16c layout.
void check(OpKind op, const Attrs& attrs, const std::vector<TensorType>& types, int64_t batch, double tol, uint32_t seed,
           bool ties = false, bool blocked = false) {
  const cpu::HeavyTarget target = targetFor(seed);
  const std::string what = fmt::format("{} {} {} batch {} vector bits {}", mnemonic(op), formatAttrs(attrs),
                                       formatType(types[0]) + (types.size() > 1 ? " " + formatType(types[1]) : ""), batch,
                                       target.vectorBits);
  INFO(what);
  Expected<TensorType> result = opInfo(op).infer(op, types, attrs);
  REQUIRE_MESSAGE(result.ok(), "shape rule: ", result.ok() ? "" : result.error().message());
  std::vector<ref::Tensor> operands;
  for (size_t i = 0; i < types.size(); ++i) {
    operands.push_back(randomTensor(bind(types[i].dims, batch), seed * 7 + static_cast<uint32_t>(i)));
    if (ties)
      for (double& v : operands.back().data) v = std::round(v * 2) / 2;
  }
  ref::Tensor want = mustRun(op, operands, attrs, ref::Precision::F32);

  auto ctx = std::make_unique<llvm::LLVMContext>();
  auto mod = std::make_unique<llvm::Module>("test", *ctx);
  static int counter = 0;
  const std::string name = fmt::format("k{}", counter++);
  Expected<cpu::HeavyKernel> k = cpu::emitHeavyKernel(*mod, op, attrs, types, *result, name, target, blocked);
  REQUIRE_MESSAGE(k.ok(), "emit: ", k.ok() ? "" : k.error().message());
  std::string err;
  llvm::raw_string_ostream os(err);
  REQUIRE_MESSAGE(!llvm::verifyModule(*mod, &os), "invalid IR: ", os.str());
  const cpu::HeavyKernel kernel = *k;
  REQUIRE(jit().add(*mod).ok());
  Expected<void*> sym = jit().lookup(name);
  REQUIRE(sym.ok());
  auto fn = reinterpret_cast<KernelFn>(*sym);

  std::vector<std::vector<float>> data;
  data.emplace_back(want.data.size());
  for (const ref::Tensor& t : operands) {
    data.emplace_back(t.data.size());
    for (size_t i = 0; i < t.data.size(); ++i) data.back()[blocked ? blockedIndex(t.dims, i) : i] = static_cast<float>(t.data[i]);
  }
  std::vector<void*> bufs;
  for (auto& d : data) bufs.push_back(d.data());

  const int64_t extent = kernel.extent(batch);
  REQUIRE(extent > 0);
  std::mt19937 rng(seed);
  double maxRef = 0;
  for (double v : want.data) maxRef = std::max(maxRef, std::fabs(v));
  for (int slices : {1, 3}) {
    std::vector<int64_t> cuts = {0, extent};
    for (int i = 1; i < slices; ++i) cuts.push_back(std::uniform_int_distribution<int64_t>(0, extent)(rng));
    std::sort(cuts.begin(), cuts.end());
    std::fill(data[0].begin(), data[0].end(), std::nanf(""));
    for (size_t i = cuts.size() - 1; i > 0; --i) fn(bufs.data(), batch, cuts[i - 1], cuts[i]);
    std::string report;
    int bad = 0;
    for (size_t i = 0; i < want.data.size(); ++i) {
      const double got = data[0][blocked ? blockedIndex(want.dims, i) : i], err = std::fabs(got - want.data[i]);
      if (!(err <= tol * maxRef) && bad++ < 5) report += fmt::format(" [{}] got {} want {};", i, got, want.data[i]);
    }
    CHECK_MESSAGE(bad == 0, slices, " slices: ", bad, " mismatches of ", want.data.size(), ":", report);
  }
}

TensorType f32(Dims d) { return {DType::F32, std::move(d)}; }

Attrs convAttrs(int64_t stride, int64_t pad, int64_t dil, int64_t groups) {
  return {{"stride", std::vector<int64_t>{stride, stride}},
          {"padding", std::vector<int64_t>{pad, pad}},
          {"dilation", std::vector<int64_t>{dil, dil}},
          {"groups", groups}};
}

struct ConvCase {
  int64_t c, h, w, f, kh, kw, stride, pad, dil, groups;
};

// Runs conv2d and its two gradients over [B, c, h, w] * [f, c/groups, kh, kw].
void checkConv(const ConvCase& k, int64_t batch, uint32_t seed) {
  const Attrs a = convAttrs(k.stride, k.pad, k.dil, k.groups);
  const TensorType x = f32({kBatch, k.c, k.h, k.w}), w = f32({k.f, k.c / k.groups, k.kh, k.kw});
  std::vector<TensorType> xs = {x, w};
  Expected<TensorType> y = opInfo(OpKind::Conv2d).infer(OpKind::Conv2d, xs, a);
  REQUIRE(y.ok());
  check(OpKind::Conv2d, a, {x, w}, batch, 1e-5, seed);
  Attrs gi = a, gw = a;
  gi.set("input_hw", std::vector<int64_t>{k.h, k.w});
  gw.set("kernel", std::vector<int64_t>{k.kh, k.kw});
  check(OpKind::Conv2dGradInput, gi, {*y, w}, batch, 1e-5, seed + 1);
  check(OpKind::Conv2dGradWeight, gw, {x, *y}, batch, 1e-5, seed + 2);
}

Attrs poolAttrs(int64_t k, int64_t s, int64_t p) {
  return {{"kernel", std::vector<int64_t>{k, k}}, {"stride", std::vector<int64_t>{s, s}}, {"padding", std::vector<int64_t>{p, p}}};
}

}  // namespace

TEST_CASE("heavy op list") {
  int heavy = 0;
  for (int i = 0; i < kNumOps; ++i) heavy += cpu::isHeavyOp(static_cast<OpKind>(i));
  CHECK(heavy == 8);
  CHECK(cpu::isHeavyOp(OpKind::MatMul));
  CHECK(!cpu::isHeavyOp(OpKind::Add));
}

TEST_CASE("matmul: every transpose combination, odd shapes, B in each position") {
  struct Shape {
    int64_t m, k, n;
  };
  const Shape shapes[] = {{1, 1, 1}, {7, 5, 3}, {13, 17, 33}, {6, 64, 64}, {25, 70, 100}, {9, 300, 130}};
  const int64_t batches[] = {1, 7, 64};
  uint32_t seed = 1;
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (const Shape& s : shapes)
        for (int role = 0; role < 4; ++role) {  // B stands for: nothing, M, K, N
          const int64_t m = role == 1 ? kBatch : s.m, k = role == 2 ? kBatch : s.k, n = role == 3 ? kBatch : s.n;
          const TensorType a = f32(ta ? Dims{k, m} : Dims{m, k}), b = f32(tb ? Dims{n, k} : Dims{k, n});
          check(OpKind::MatMul, {{"transpose_a", ta}, {"transpose_b", tb}}, {a, b}, batches[seed % 3], 1e-5, seed);
          ++seed;
        }
}

TEST_CASE("matmul: the MLP's shapes at batch 64, and B as both output dimensions") {
  const Attrs nt = {{"transpose_a", false}, {"transpose_b", true}};
  const Attrs nn = {{"transpose_a", false}, {"transpose_b", false}};
  const Attrs tn = {{"transpose_a", true}, {"transpose_b", false}};
  check(OpKind::MatMul, nt, {f32({kBatch, 784}), f32({128, 784})}, 64, 1e-5, 1);
  check(OpKind::MatMul, nn, {f32({kBatch, 128}), f32({128, 784})}, 64, 1e-5, 2);
  check(OpKind::MatMul, tn, {f32({kBatch, 128}), f32({kBatch, 784})}, 64, 1e-5, 3);
  check(OpKind::MatMul, nt, {f32({kBatch, 10}), f32({kBatch, 10})}, 37, 1e-5, 4);
  check(OpKind::MatMul, {{"transpose_a", true}, {"transpose_b", true}}, {f32({600, 5}), f32({9, 600})}, 1, 1e-5, 5);
}

TEST_CASE("conv2d and its gradients: LeNet shapes") {
  checkConv({1, 28, 28, 6, 5, 5, 1, 2, 1, 1}, 64, 10);
  checkConv({6, 14, 14, 16, 5, 5, 1, 0, 1, 1}, 64, 20);
  checkConv({1, 28, 28, 6, 5, 5, 1, 2, 1, 1}, 7, 31);
  checkConv({6, 14, 14, 16, 5, 5, 1, 0, 1, 1}, 1, 41);
}

TEST_CASE("conv2d and its gradients: stride, padding, dilation, groups") {
  const ConvCase cases[] = {
      {3, 5, 5, 4, 3, 3, 1, 0, 1, 1},    // plain
      {3, 7, 6, 2, 3, 2, 2, 1, 1, 1},    // stride 2, padding, non-square kernel
      {2, 7, 7, 3, 3, 3, 1, 2, 2, 1},    // dilation 2
      {4, 5, 5, 6, 3, 3, 1, 1, 1, 2},    // groups 2
      {6, 4, 4, 6, 1, 1, 1, 0, 1, 6},    // depthwise 1x1
      {4, 6, 5, 4, 2, 3, 2, 1, 2, 4},    // everything at once
      {3, 19, 37, 13, 3, 3, 1, 1, 1, 1}, // wide rows: several column vectors, 13 filters
      {2, 9, 9, 5, 3, 3, 3, 4, 1, 1},    // padding larger than the kernel, stride 3
      {8, 40, 40, 16, 3, 3, 1, 1, 1, 1}, // more than one panel block of rows
      {1, 1, 1, 1, 1, 1, 1, 0, 1, 1},    // a single element
      {5, 15, 15, 7, 3, 3, 1, 1, 1, 1},  // rows of one masked vector (AVX-512), 15 rows: a short tile
      {4, 16, 16, 13, 3, 3, 1, 1, 1, 1}, // rows of exactly one AVX-512 vector
      {3, 7, 7, 5, 3, 3, 1, 1, 1, 1},    // rows of one masked AVX2 vector
      {128, 8, 8, 9, 3, 3, 1, 1, 1, 1},  // reduction of 1152: a panel of several packed rows
  };
  uint32_t seed = 100;
  for (const ConvCase& c : cases) {
    checkConv(c, seed % 2 ? 1 : 7, seed);
    seed += 3;
  }
}

TEST_CASE("max-pool gradient in the blocked layout (the dnnl target's)") {
  // Non-overlapping windows (each dx written once, what no window covers zeroed) and overlapping,
  // padded ones (accumulated), with ties: the first maximum of each lane's window takes dy.
  struct PoolCase {
    Dims x;
    int64_t k, s, p;
  };
  const PoolCase cases[] = {
      {{kBatch, 32, 8, 8}, 2, 2, 0}, {{kBatch, 16, 9, 7}, 2, 2, 0}, {{kBatch, 16, 7, 9}, 3, 2, 1}, {{kBatch, 48, 5, 5}, 3, 1, 1},
  };
  uint32_t seed = 900;
  for (const PoolCase& c : cases) {
    const Attrs a = poolAttrs(c.k, c.s, c.p);
    std::vector<TensorType> xs = {f32(c.x)};
    Expected<TensorType> y = opInfo(OpKind::MaxPool2d).infer(OpKind::MaxPool2d, xs, a);
    REQUIRE(y.ok());
    for (bool ties : {false, true})
      for (int64_t batch : {1, 3}) check(OpKind::MaxPool2dGrad, a, {f32(c.x), *y}, batch, c.s < c.k ? 1e-6 : 0, seed++, ties, true);
  }
}

TEST_CASE("pools and their gradients") {
  struct PoolCase {
    Dims x;
    int64_t k, s, p;
  };
  const PoolCase cases[] = {
      {{kBatch, 6, 28, 28}, 2, 2, 0}, {{kBatch, 16, 10, 10}, 2, 2, 0}, {{kBatch, 3, 7, 9}, 3, 2, 1},
      {{kBatch, 2, 8, 8}, 3, 1, 1},   {{kBatch, 2, 5, 7}, 2, 1, 0},    {{kBatch, 1, 9, 9}, 4, 3, 2},
      {{3, 2, 6, 6}, 2, 2, 1},
  };
  uint32_t seed = 300;
  for (const PoolCase& c : cases) {
    const Attrs a = poolAttrs(c.k, c.s, c.p);
    const TensorType x = f32(c.x);
    std::vector<TensorType> xs = {x};
    Expected<TensorType> y = opInfo(OpKind::MaxPool2d).infer(OpKind::MaxPool2d, xs, a);
    REQUIRE(y.ok());
    const int64_t batch = seed % 3 == 0 ? 64 : seed % 3 == 1 ? 1 : 7;
    const bool overlap = c.s < c.k;
    for (bool ties : {false, true}) {
      check(OpKind::MaxPool2d, a, {x}, batch, 0, seed, ties);
      check(OpKind::MaxPool2dGrad, a, {x, *y}, batch, overlap ? 1e-6 : 0, seed + 1, ties);
    }
    check(OpKind::AvgPool2d, a, {x}, batch, 1e-6, seed + 2);
    Attrs g = a;
    g.set("input_hw", std::vector<int64_t>{c.x[2], c.x[3]});
    check(OpKind::AvgPool2dGrad, g, {*y}, batch, 1e-6, seed + 3);
    seed += 5;
  }
}
