// Times each heavy kernel of the MLP 784-128-64-10 and LeNet-5 training steps at batch 64 on one
// thread (best of many runs) and prints microseconds and GFLOP/s.
//   kernels_bench [batch] [--only NAME-SUBSTRING] [--asm NAME-SUBSTRING]
// (--only times just the matching kernels; --asm prints the matching kernels' assembly)
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Target/TargetMachine.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <random>
#include <string>

#include "codegen/cpu/heavy_kernels.h"
#include "codegen/plan_builder.h"
#include "codegen/cpu/jit.h"
#include "runtime/plan.h"

using namespace sinter;

namespace {

struct Bench {
  const char* name;
  OpKind op;
  Attrs attrs;
  std::vector<TensorType> in;
};

TensorType f32(Dims d) { return {DType::F32, std::move(d)}; }

Attrs mm(bool ta, bool tb) { return {{"transpose_a", ta}, {"transpose_b", tb}}; }

Attrs conv(int64_t pad, const char* extra = nullptr, std::vector<int64_t> v = {}) {
  Attrs a = {{"stride", std::vector<int64_t>{1, 1}},
             {"padding", std::vector<int64_t>{pad, pad}},
             {"dilation", std::vector<int64_t>{1, 1}},
             {"groups", int64_t{1}}};
  if (extra) a.set(extra, std::move(v));
  return a;
}

Attrs pool(const char* extra = nullptr, std::vector<int64_t> v = {}) {
  Attrs a = {{"kernel", std::vector<int64_t>{2, 2}}, {"stride", std::vector<int64_t>{2, 2}}, {"padding", std::vector<int64_t>{0, 0}}};
  if (extra) a.set(extra, std::move(v));
  return a;
}

// A linear layer y = x @ w^T (w [out, in]) and its two gradients.
void linear(std::vector<Bench>& out, const char* name, int64_t in, int64_t o) {
  static std::deque<std::string> names;  // stable: Bench keeps c_str() pointers
  names.push_back(std::string(name) + " fwd");
  names.push_back(std::string(name) + " dx");
  names.push_back(std::string(name) + " dw");
  const char* n0 = names[names.size() - 3].c_str();
  out.push_back({n0, OpKind::MatMul, mm(false, true), {f32({kBatch, in}), f32({o, in})}});
  out.push_back({names[names.size() - 2].c_str(), OpKind::MatMul, mm(false, false), {f32({kBatch, o}), f32({o, in})}});
  out.push_back({names.back().c_str(), OpKind::MatMul, mm(true, false), {f32({kBatch, o}), f32({kBatch, in})}});
}

// A 3x3 convolution with padding 1 over [B, c, hw, hw] to f channels, and its two gradients.
void conv3x3(std::vector<Bench>& out, const char* name, int64_t c, int64_t f, int64_t hw) {
  static std::deque<std::string> names;  // stable: Bench keeps c_str() pointers
  for (const char* part : {" fwd", " dx", " dw"}) names.push_back(std::string(name) + part);
  const TensorType x = f32({kBatch, c, hw, hw}), w = f32({f, c, 3, 3}), y = f32({kBatch, f, hw, hw});
  out.push_back({names[names.size() - 3].c_str(), OpKind::Conv2d, conv(1), {x, w}});
  out.push_back({names[names.size() - 2].c_str(), OpKind::Conv2dGradInput, conv(1, "input_hw", {hw, hw}), {y, w}});
  out.push_back({names.back().c_str(), OpKind::Conv2dGradWeight, conv(1, "kernel", {3, 3}), {x, y}});
}

}  // namespace

int main(int argc, char** argv) {
  int64_t batch = 64;
  std::string asmOf, only;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--asm" && i + 1 < argc)
      asmOf = argv[++i];
    else if (std::string(argv[i]) == "--only" && i + 1 < argc)
      only = argv[++i];
    else
      batch = std::atoll(argv[i]);
  }
  std::vector<Bench> benches;
  benches.reserve(64);
  linear(benches, "mlp fc1 784-128", 784, 128);
  linear(benches, "mlp fc2 128-64", 128, 64);
  linear(benches, "mlp fc3 64-10", 64, 10);
  benches.push_back({"lenet conv1 fwd", OpKind::Conv2d, conv(2), {f32({kBatch, 1, 28, 28}), f32({6, 1, 5, 5})}});
  benches.push_back({"lenet conv1 dw", OpKind::Conv2dGradWeight, conv(2, "kernel", {5, 5}),
                     {f32({kBatch, 1, 28, 28}), f32({kBatch, 6, 28, 28})}});
  benches.push_back({"lenet pool1 fwd", OpKind::MaxPool2d, pool(), {f32({kBatch, 6, 28, 28})}});
  benches.push_back({"lenet pool1 grad", OpKind::MaxPool2dGrad, pool(), {f32({kBatch, 6, 28, 28}), f32({kBatch, 6, 14, 14})}});
  benches.push_back({"lenet conv2 fwd", OpKind::Conv2d, conv(0), {f32({kBatch, 6, 14, 14}), f32({16, 6, 5, 5})}});
  benches.push_back({"lenet conv2 dx", OpKind::Conv2dGradInput, conv(0, "input_hw", {14, 14}),
                     {f32({kBatch, 16, 10, 10}), f32({16, 6, 5, 5})}});
  benches.push_back({"lenet conv2 dw", OpKind::Conv2dGradWeight, conv(0, "kernel", {5, 5}),
                     {f32({kBatch, 6, 14, 14}), f32({kBatch, 16, 10, 10})}});
  benches.push_back({"lenet pool2 fwd", OpKind::MaxPool2d, pool(), {f32({kBatch, 16, 10, 10})}});
  benches.push_back({"lenet pool2 grad", OpKind::MaxPool2dGrad, pool(), {f32({kBatch, 16, 10, 10}), f32({kBatch, 16, 5, 5})}});
  linear(benches, "lenet fc1 400-120", 400, 120);
  linear(benches, "lenet fc2 120-84", 120, 84);
  linear(benches, "lenet fc3 84-10", 84, 10);
  // examples/cifar_cnn.nn's second convolution of each block (the first has half the channels in).
  conv3x3(benches, "cifar conv2 32x32 32-32", 32, 32, 32);
  conv3x3(benches, "cifar conv4 16x16 64-64", 64, 64, 16);
  conv3x3(benches, "cifar conv6 8x8 128-128", 128, 128, 8);

  auto jit = cpu::Jit::create();
  if (!jit) {
    std::fprintf(stderr, "error: %s\n", jit.error().message().c_str());
    return 1;
  }
  std::printf("%-22s %10s %10s %8s\n", "kernel (1 thread)", "us", "GFLOP/s", "extent");
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1, 1);
  int id = 0;
  for (const Bench& bench : benches) {
    if (std::string(bench.name).find(only) == std::string::npos) continue;
    Expected<TensorType> result = opInfo(bench.op).infer(bench.op, bench.in, bench.attrs);
    if (!result) {
      std::fprintf(stderr, "%s: %s\n", bench.name, result.error().message().c_str());
      return 1;
    }
    auto ctx = std::make_unique<llvm::LLVMContext>();
    auto mod = std::make_unique<llvm::Module>("bench", *ctx);
    const std::string name = "bench" + std::to_string(id++);
    Expected<cpu::HeavyKernel> k = cpu::emitHeavyKernel(*mod, bench.op, bench.attrs, bench.in, *result, name);
    if (k && !asmOf.empty() && std::string(bench.name).find(asmOf) != std::string::npos) {
      auto tm = cpu::makeTargetMachine({});
      cpu::optimizeModule(*mod, **tm, {});
      if (auto text = cpu::emitMachineCode(*mod, **tm, true)) std::printf("%s\n", text->c_str());
    }
    if (!k || !(*jit)->add(*mod).ok()) {
      std::fprintf(stderr, "%s: cannot compile\n", bench.name);
      return 1;
    }
    auto fn = reinterpret_cast<KernelFn>(*(*jit)->lookup(name));
    std::vector<std::vector<float>> data;
    data.emplace_back(result->numel(batch));
    for (const TensorType& t : bench.in) {
      data.emplace_back(t.numel(batch));
      for (float& v : data.back()) v = dist(rng);
    }
    std::vector<void*> bufs;
    for (auto& d : data) bufs.push_back(d.data());
    const int64_t extent = k->extent(batch);
    double best = 1e30;
    auto start = std::chrono::steady_clock::now();
    for (int rep = 0; rep < 2000; ++rep) {
      auto t0 = std::chrono::steady_clock::now();
      fn(bufs.data(), batch, 0, extent);
      auto t1 = std::chrono::steady_clock::now();
      best = std::min(best, std::chrono::duration<double>(t1 - t0).count());
      if (rep >= 20 && std::chrono::duration<double>(t1 - start).count() > 0.3) break;
    }
    std::printf("%-22s %10.1f %10.1f %8lld\n", bench.name, best * 1e6, heavyOpFlops(bench.op, bench.attrs, bench.in, *result, batch) / best * 1e-9,
                static_cast<long long>(extent));
  }
  return 0;
}
