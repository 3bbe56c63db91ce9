// fuse-epilogues: a bias add and a ReLU after a library convolution or matmul run inside it (oneDNN's
// bias argument and an eltwise post-op), and a ReLU after a library batch norm (oneDNN's
// fuse_norm_relu), instead of as a loop that reads and writes the whole result once more.
//
// Algorithm. For each Library kernel L of an op the library fuses (LibraryOps::epilogueOps) whose
// result r is a work temp of its own (no alias, not a result) touched by exactly one other kernel,
// a loop E without a reduction: E must compute relu(r + bias), r + bias or relu(r) with r read at
// the element E writes (the same strides as E's output, which has r's type and layout), and bias a
// per-channel vector: for a convolution [N,F,H,W] read with stride 1 along F (F/16 and 16 where
// the layout is blocked), for a matmul [M,N] along N; bias must not be written between L and E.
// Then L takes bias as one more operand (attribute epilogue_bias: its operand index) and
// epilogue_relu, writes E's output, and E goes.
// Must not fire: a result with a second reader (the cross-entropy's logits feed softmax too), a
// loop that reduces, or any other expression (batch norm's sub, a residual add), a target without a
// library.
#include <algorithm>
#include <optional>

#include "codegen/kernel_passes.h"

namespace sinter::kir {

namespace {

struct Epilogue {
  int32_t bias = -1;  // E's argument index of the bias, -1 for none
  bool relu = false;
};

const Expr* readOf(const Kernel& e, int32_t index) {
  const Expr& x = e.exprs[static_cast<size_t>(index)];
  return x.kind == ExprKind::Read ? &x : nullptr;
}

// Whether `read` takes the bias of L's result: one element per output channel (conv) or column
// (matmul), the channel walked contiguously.
bool isBiasRead(const KProgram& p, const Kernel& l, const Kernel& e, const Expr& read) {
  const Buffer& bias = p.buffers[e.args[static_cast<size_t>(read.arg)]];
  const Buffer& out = p.buffers[e.args[0]];
  if (l.op != OpKind::Conv2d && l.op != OpKind::MatMul) return false;  // batch norm fuses a ReLU only
  const bool conv = l.op == OpKind::Conv2d;
  const int64_t channels = l.resultType.dims[1];  // conv: F of [N,F,H,W]; matmul: N of [M,N]
  if (bias.type.hasBatch() || bias.type.numel(1) != channels || bias.type.dtype != DType::F32) return false;
  std::vector<Lin> want(e.space.size(), Lin{});
  if (!conv) {
    if (e.space.size() != 2) return false;
    want[1] = Lin{0, 1};
  } else if (out.layout == Layout::NChw16c) {
    if (e.space.size() != 5) return false;
    want[1] = Lin{0, kChannelBlock};
    want[4] = Lin{0, 1};
  } else {
    if (e.space.size() != 4) return false;
    want[1] = Lin{0, 1};
  }
  return read.strides == want;
}

// E's epilogue of L's result (E's argument `r`), if it is one L can run.
std::optional<Epilogue> match(const KProgram& p, const Kernel& l, const Kernel& e, int32_t r) {
  if (e.kind != KernelKind::Loop || e.reduceRoot >= 0 || e.root < 0) return std::nullopt;
  const Buffer& rb = p.buffers[e.args[static_cast<size_t>(r)]];
  const Buffer& out = p.buffers[e.args[0]];
  if (out.type != rb.type || out.layout != rb.layout || out.storage == rb.storage) return std::nullopt;
  auto isResult = [&](int32_t index) {
    const Expr* x = readOf(e, index);
    return x && x->arg == r && x->strides == e.outStrides;
  };
  Epilogue ep;
  int32_t root = e.root;
  if (e.exprs[static_cast<size_t>(root)].kind == ExprKind::Op && e.exprs[static_cast<size_t>(root)].op == OpKind::Relu) {
    ep.relu = true;
    root = e.exprs[static_cast<size_t>(root)].operands[0];
  }
  if (isResult(root)) return ep.relu ? std::optional(ep) : std::nullopt;
  const Expr& add = e.exprs[static_cast<size_t>(root)];
  if (add.kind != ExprKind::Op || add.op != OpKind::Add || add.operands.size() != 2) return std::nullopt;
  for (int side = 0; side < 2; ++side) {
    const Expr* bias = readOf(e, add.operands[static_cast<size_t>(1 - side)]);
    if (isResult(add.operands[static_cast<size_t>(side)]) && bias && bias->arg != r && isBiasRead(p, l, e, *bias)) {
      ep.bias = bias->arg;
      return ep;
    }
  }
  return std::nullopt;
}

}  // namespace

Expected<bool> fuseEpilogues(KProgram& p) {
  if (p.library.epilogueOps.empty()) return false;
  bool changed = false;
  for (size_t fi = 0; fi < p.functions.size(); ++fi) {
    KFunction& f = p.functions[fi];
    auto storage = [&](int32_t b) { return p.buffers[b].storage; };
    for (size_t li = 0; li < f.kernels.size(); ++li) {
      Kernel& l = f.kernels[li];
      if (l.kind != KernelKind::Library || !p.library.fusesEpilogue(l.op) || l.attrs.has("epilogue_relu")) continue;
      const int32_t r = l.args[0];
      const Buffer& rb = p.buffers[r];
      if (rb.role != BufferRole::Temp || rb.persistent || storage(r) != r) continue;
      bool aliased = false;
      for (size_t b = 0; b < p.buffers.size(); ++b) aliased = aliased || (static_cast<int32_t>(b) != r && storage(static_cast<int32_t>(b)) == r);
      for (const auto& [name, b] : f.results) aliased = aliased || storage(b) == r;
      if (aliased) continue;
      // The one other kernel touching r, after L.
      size_t ei = f.kernels.size();
      int users = 0;
      for (size_t k = 0; k < f.kernels.size(); ++k) {
        if (k == li) continue;
        if (std::any_of(f.kernels[k].args.begin(), f.kernels[k].args.end(), [&](int32_t b) { return storage(b) == r; })) {
          ++users;
          ei = k;
        }
      }
      if (users != 1 || ei < li) continue;
      const Kernel& e = f.kernels[ei];
      int32_t rArg = -1;
      for (size_t a = 1; a < e.args.size(); ++a)
        if (e.args[a] == r) rArg = static_cast<int32_t>(a);
      if (rArg < 0) continue;
      std::optional<Epilogue> ep = match(p, l, e, rArg);
      if (!ep) continue;
      // The bias must hold its value from L to E.
      if (ep->bias >= 0) {
        const int32_t bias = storage(e.args[static_cast<size_t>(ep->bias)]);
        bool written = false;
        for (size_t k = li; k < ei; ++k) written = written || storage(f.kernels[k].args[0]) == bias;
        if (written) continue;
        l.attrs.set("epilogue_bias", static_cast<int64_t>(l.args.size() - 1));
        l.args.push_back(e.args[static_cast<size_t>(ep->bias)]);
        l.operandTypes.push_back(p.buffers[e.args[static_cast<size_t>(ep->bias)]].type);
        l.ops.push_back(OpKind::Add);
      }
      l.attrs.set("epilogue_relu", ep->relu);
      if (ep->relu) l.ops.push_back(OpKind::Relu);
      l.args[0] = e.args[0];
      // r is read and written by nothing now: a view of E's output, so the memory plan has
      // nothing to place for it.
      p.buffers[r].storage = storage(e.args[0]);
      f.kernels.erase(f.kernels.begin() + static_cast<std::ptrdiff_t>(ei));
      changed = true;
    }
    renameKernels(f);  // names carry the ops too: the fused epilogue's are gone
  }
  return changed;
}

}  // namespace sinter::kir
