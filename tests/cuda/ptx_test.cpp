// The cuda target's generated kernels without a GPU: the kernel program it compiles (library calls
// for the heavy ops, every buffer in device memory), and the PTX of its generated kernels (one
// entry per kernel, flattened extents, libdevice linked, the GPU architecture asked for).
// ptxas assembles every reference model's PTX in tests/e2e/ptx_check.sh.
#include <doctest/doctest.h>

#include <algorithm>

#include "codegen/cuda/ptx.h"
#include "codegen/kernel_passes.h"
#include "tests/passes/reference_util.h"

using namespace sinter;
using testing::compileForTraining;
using testing::sourcePath;

namespace {

kir::KProgram cudaKernels(const std::string& model) {
  const Target* cuda = *findTarget("cuda");
  Module m = compileForTraining(sourcePath(model), [&](OpKind op, const TensorType& x) { return cuda->libraryRuns(op, x); });
  kir::KernelOptions o;
  o.library = *cuda->library;
  o.space = cuda->space;
  Expected<kir::KProgram> k = kir::buildKernels(m, o);
  REQUIRE_MESSAGE(k, (k ? "" : k.error().message()));
  return k.take();
}

// Where Sinter was configured without the CUDA toolkit's libdevice, the kernels that call exp or
// log (every training step's cross-entropy) must be refused with an error that says so.
bool libdeviceFound() { return std::string(SINTER_LIBDEVICE_FOUND) == "1"; }
bool refusedForLibdevice(const Error& e) { return !libdeviceFound() && e.message().find("libdevice") != std::string::npos; }

}  // namespace

TEST_CASE("cuda: the heavy ops are library calls and every buffer is in device memory") {
  const kir::KProgram p = cudaKernels("examples/cifar_cnn.nn");
  CHECK(std::all_of(p.buffers.begin(), p.buffers.end(), [](const kir::Buffer& b) { return b.space == kir::MemorySpace::Device; }));
  int library = 0;
  for (const kir::KFunction& f : p.functions)
    for (const kir::Kernel& k : f.kernels) {
      if (k.kind == kir::KernelKind::Op) CHECK_MESSAGE(!cuda::kLibrary.takes(k.op), k.name);
      if (k.kind != kir::KernelKind::Library) continue;
      CHECK(k.library == "cuda");
      ++library;
    }
  // @train_step alone: 6 convolutions forward and 6 + 5 backward, 3 pools and their gradients,
  // 6 batch norms forward and backward (paired with their statistics), 2 matmuls forward.
  CHECK(library > 40);
}

TEST_CASE("cuda: one PTX entry per generated kernel, over the flattened kept dims") {
  const kir::KProgram p = cudaKernels("examples/mlp.nn");
  Expected<cuda::Ptx> ptx = cuda::emitPtx(p, {});
  if (!ptx && refusedForLibdevice(ptx.error())) return;
  REQUIRE_MESSAGE(ptx, (ptx ? "" : ptx.error().message()));
  CHECK(ptx->text.find(".target sm_90") != std::string::npos);
  REQUIRE(ptx->bindings.size() == p.functions.size());
  for (size_t f = 0; f < p.functions.size(); ++f)
    for (size_t i = 0; i < p.functions[f].kernels.size(); ++i) {
      const kir::Kernel& k = p.functions[f].kernels[i];
      const bool entry = ptx->text.find(".entry " + k.name + "(") != std::string::npos;
      CHECK_MESSAGE(entry == (k.kind != kir::KernelKind::Library), k.name);
      // A thread per element of a pointwise loop over [B, 128]: the extent is 128 B.
      if (k.kind == kir::KernelKind::Loop && k.space == std::vector<kir::Lin>{{1, 0}, {0, 128}} && k.reduceRoot < 0) {
        CHECK(ptx->bindings[f][i].extentPerBatch == 128);
        CHECK(ptx->bindings[f][i].extentConst == 0);
      }
    }
  // exp and log (softmax, cross-entropy, Adam's bias correction) come from libdevice, linked in.
  CHECK(ptx->text.find(".extern .func") == std::string::npos);
}

TEST_CASE("cuda: the GPU architecture is --cpu's; an unknown one is an error") {
  const kir::KProgram p = cudaKernels("tests/reference/models/ops_elementwise.nn");
  Expected<std::string> sm80 = cuda::ptxText(p, MachineOptions{.cpu = "sm_80"});
  if (sm80 || !refusedForLibdevice(sm80.error())) {
    REQUIRE_MESSAGE(sm80, (sm80 ? "" : sm80.error().message()));
    CHECK(sm80->find(".target sm_80") != std::string::npos);
  }
  Expected<std::string> bad = cuda::ptxText(p, MachineOptions{.cpu = "sm_1234"});
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message().find("unknown GPU architecture 'sm_1234'") != std::string::npos);
}

TEST_CASE("cuda: the target is in the table, with device code; an unknown target names the built ones") {
  Expected<const Target*> row = findTarget("cuda");
  REQUIRE(row);
  CHECK(static_cast<bool>((*row)->deviceCode));
  CHECK((*row)->space == kir::MemorySpace::Device);
  Expected<const Target*> tpu = findTarget("tpu");
  REQUIRE_FALSE(tpu);
  CHECK(tpu.error().message() == "unknown target 'tpu' (built: cpu, dnnl, cuda)");
}
