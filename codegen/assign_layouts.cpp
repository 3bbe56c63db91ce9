// assign-layouts: activations that a vendor library's calls produce and consume stay in its blocked
// layout (NChw16c) instead of being reordered to row-major and back around every call; the
// generated loops between them (batch norm, ReLU, their gradients) index the blocked bytes.
//
// Algorithm.
//  1. Candidates: work temps of rank 4 [N, C, H, W] with C a multiple of 16 and H, W > 1, that are
//     their own storage, have no alias (a reshape view would see the wrong order) and are no
//     function's result, in a function that calls the library.
//  2. Fixed point: a candidate stays blocked while every kernel touching it accepts that. A library
//     call accepts the arguments its LibraryOps::blockedArgs lists; a loop accepts when each blocked
//     buffer it reads or writes is read along one loop dim per logical dim (strides equal to the
//     row-major strides N: CHW, C: HW, H: W, W: 1, or 0 for a broadcast), the C dim spans all C
//     channels, and every blocked buffer agrees on which loop dim is C; a generated op kernel of
//     LibraryOps::generatedBlocked (the max-pool gradient) when all its arguments are blocked. Any
//     other kernel (softmax, copies into globals) refuses.
//     Then only the buffers that a library call reaches through loops and such op kernels stay
//     blocked.
//  3. Rewrite: each loop touching a blocked buffer splits its C dim into C/16 and 16; the 16 go
//     innermost among the kept dims (or last, when C is reduced), so the blocked accesses run over
//     contiguous floats; a reduction keeping C iterates those 16 inside its reduction
//     (Kernel::innerKept), with 16 accumulators, rather than one strided pass per channel.
//     Row-major buffers get strides 16*s and s for the two halves of stride s.
// Must not fire: a target without a library (cpu), a buffer that reaches a reshape, a store, a
// result or an op kernel, and channels that are not a multiple of 16 (the first convolution's 3).
#include <algorithm>
#include <array>

#include "codegen/kernel_passes.h"

namespace sinter::kir {

namespace {

Lin scaled(Lin l, int64_t k) { return {l.perBatch * k, l.constant * k}; }

// The row-major strides of a rank-4 buffer: N, C, H, W.
std::array<Lin, 4> plainStrides(const Buffer& b) {
  const Dims& d = b.type.dims;
  return {Lin{0, d[1] * d[2] * d[3]}, Lin{0, d[2] * d[3]}, Lin{0, d[3]}, Lin{0, 1}};
}

// An op kernel the code generator emits for the blocked layout (LibraryOps::generatedBlocked).
bool generatesBlocked(const KProgram& p, const Kernel& k) {
  const auto& ops = p.library.generatedBlocked;
  return k.kind == KernelKind::Op && std::find(ops.begin(), ops.end(), k.op) != ops.end();
}

bool isCandidate(const KProgram& p, const KFunction& f, int32_t b) {
  const Buffer& buf = p.buffers[b];
  const Dims& d = buf.type.dims;
  if (buf.role != BufferRole::Temp || buf.persistent || buf.storage != b || buf.type.dtype != DType::F32 || d.size() != 4) return false;
  if (d[1] == kBatch || d[2] == kBatch || d[3] == kBatch || d[1] % kChannelBlock != 0 || d[2] < 2 || d[3] < 2) return false;
  for (size_t i = 0; i < p.buffers.size(); ++i)
    if (static_cast<int32_t>(i) != b && p.buffers[i].storage == b) return false;
  for (const auto& [name, r] : f.results)
    if (p.buffers[r].storage == b) return false;
  return true;
}

// The loop dim each logical dim (N, C, H, W) of a blocked access uses, from its strides over the
// loop's dims (`dims` of them); -1 for a logical dim not iterated. Empty if the access is not a
// plain walk over the buffer.
std::vector<int> accessDims(const Kernel& k, const Buffer& b, const std::vector<Lin>& strides) {
  const auto plain = plainStrides(b);
  std::vector<int> logical(4, -1);
  for (size_t d = 0; d < strides.size(); ++d) {
    if (strides[d] == Lin{} || k.space[d] == Lin{0, 1}) continue;
    const auto it = std::find(plain.begin(), plain.end(), strides[d]);
    if (it == plain.end()) return {};
    const auto l = static_cast<size_t>(it - plain.begin());
    if (logical[l] >= 0) return {};
    logical[l] = static_cast<int>(d);
  }
  return logical;
}

// The loop dim that is C for every blocked buffer loop `k` touches; -1 if it touches none, -2 if
// it cannot index them all.
int channelDim(const KProgram& p, const Kernel& k, const std::vector<bool>& blocked) {
  int dc = -1;
  auto visit = [&](int32_t arg, const std::vector<Lin>& strides) {
    const int32_t b = k.args[static_cast<size_t>(arg)];
    if (!blocked[static_cast<size_t>(b)] || dc == -2) return;
    const std::vector<int> logical = accessDims(k, p.buffers[b], strides);
    const int c = logical.empty() ? -2 : logical[1];
    if (c < 0 || k.space[static_cast<size_t>(c)] != Lin{0, p.buffers[b].type.dims[1]} || (dc >= 0 && dc != c)) dc = -2;
    else dc = c;
  };
  visit(0, k.outStrides);
  for (const Expr& e : k.exprs)
    if (e.kind == ExprKind::Read) visit(e.arg, e.strides);
  return dc;
}

// Strides of an access after the loop's C dim `dc` is split, the 16 inserted at `at`.
std::vector<Lin> splitStrides(const Kernel& k, const Buffer& b, std::vector<Lin> s, int dc, int at, bool blocked) {
  if (static_cast<size_t>(dc) >= s.size()) return s;  // output strides of a reduced C: unchanged
  if (!blocked) {
    const Lin c = s[static_cast<size_t>(dc)];
    s[static_cast<size_t>(dc)] = scaled(c, kChannelBlock);
    s.insert(s.begin() + at, c);
    return s;
  }
  const std::vector<int> logical = accessDims(k, b, s);
  std::vector<Lin> out(s.size(), Lin{});
  // Blocked: N keeps its stride (C*H*W), C/16 steps H*W*16, H steps W*16, W steps 16, c%16 steps 1.
  const auto plain = plainStrides(b);
  for (int l = 0; l < 4; ++l) {
    if (logical[static_cast<size_t>(l)] < 0) continue;
    out[static_cast<size_t>(logical[static_cast<size_t>(l)])] = l == 0 ? plain[0] : scaled(plain[static_cast<size_t>(l)], kChannelBlock);
  }
  out.insert(out.begin() + at, Lin{0, 1});
  return out;
}

void splitLoop(const KProgram& p, Kernel& k, int dc, const std::vector<bool>& blocked) {
  const bool kept = dc < k.numKept;
  const int at = kept ? k.numKept : static_cast<int>(k.space.size());
  auto isBlocked = [&](int32_t arg) { return blocked[static_cast<size_t>(k.args[static_cast<size_t>(arg)])]; };
  k.outStrides = splitStrides(k, p.buffers[k.args[0]], k.outStrides, dc, at, isBlocked(0));
  for (Expr& e : k.exprs)
    if (e.kind == ExprKind::Read) e.strides = splitStrides(k, p.buffers[k.args[static_cast<size_t>(e.arg)]], e.strides, dc, at, isBlocked(e.arg));
  k.space[static_cast<size_t>(dc)].constant /= kChannelBlock;
  k.space.insert(k.space.begin() + at, Lin{0, kChannelBlock});
  if (kept) ++k.numKept;
  k.innerKept = kept && k.reduceRoot >= 0;
}

// Before a generated op kernel of LibraryOps::generatedBlocked whose other arguments can be
// blocked, an operand that cannot (a reshape's view: the max-pool gradient's dy after flatten) is
// copied into a temp of its own that can, so that the kernel need not run row-major and drag its
// blocked neighbours with it. Returns whether it added any copy.
bool copyUnblockableOperands(KProgram& p) {
  bool any = false;
  for (size_t fi = 0; fi < p.functions.size(); ++fi) {
    KFunction& f = p.functions[fi];
    for (size_t ki = 0; ki < f.kernels.size(); ++ki) {
      if (!generatesBlocked(p, f.kernels[ki])) continue;
      std::vector<size_t> unblockable;
      for (size_t a = 0; a < f.kernels[ki].args.size(); ++a)
        if (!isCandidate(p, f, f.kernels[ki].args[a])) unblockable.push_back(a);
      if (unblockable.empty() || unblockable.front() == 0 || unblockable.size() + 1 >= f.kernels[ki].args.size()) continue;
      for (size_t a : unblockable) {
        const int32_t from = f.kernels[ki].args[a];
        Buffer copy = p.buffers[static_cast<size_t>(from)];
        copy.name += ".blocked";
        copy.role = BufferRole::Temp;
        copy.persistent = false;
        copy.global = -1;
        copy.function = static_cast<int32_t>(fi);
        copy.storage = static_cast<int32_t>(p.buffers.size());
        p.buffers.push_back(copy);
        f.kernels[ki].args[a] = copy.storage;
        f.kernels.insert(f.kernels.begin() + static_cast<std::ptrdiff_t>(ki), copyLoop(from, copy.storage, copy.type, OpKind::Reshape));
        ++ki;
        any = true;
      }
    }
    renameKernels(f);
  }
  return any;
}

}  // namespace

Expected<bool> assignLayouts(KProgram& p) {
  if (p.library.blockedArgs.empty()) return false;
  const bool copied = copyUnblockableOperands(p);
  std::vector<bool> blocked(p.buffers.size(), false);
  // 1. Every candidate of a function that calls the library.
  for (const KFunction& f : p.functions) {
    const bool library = std::any_of(f.kernels.begin(), f.kernels.end(), [](const Kernel& k) { return k.kind == KernelKind::Library; });
    for (const Kernel& k : f.kernels)
      for (int32_t b : k.args) blocked[static_cast<size_t>(b)] = blocked[static_cast<size_t>(b)] || (library && isCandidate(p, f, b));
  }
  // 2. Drop what some kernel cannot take, to a fixed point.
  for (bool changed = true; changed;) {
    changed = false;
    auto refuse = [&](int32_t b) {
      if (!blocked[static_cast<size_t>(b)]) return;
      blocked[static_cast<size_t>(b)] = false;
      changed = true;
    };
    for (const KFunction& f : p.functions)
      for (const Kernel& k : f.kernels) {
        if (k.kind == KernelKind::Library) {
          for (size_t a = 0; a < k.args.size(); ++a)
            if (!p.library.takesBlocked(k.op, static_cast<int32_t>(a))) refuse(k.args[a]);
        } else if (generatesBlocked(p, k)) {
          // All of its arguments blocked, or none.
          if (!std::all_of(k.args.begin(), k.args.end(), [&](int32_t b) { return blocked[static_cast<size_t>(b)]; }))
            for (int32_t b : k.args) refuse(b);
        } else if (k.kind != KernelKind::Loop || channelDim(p, k, blocked) == -2) {
          for (int32_t b : k.args) refuse(b);
        }
      }
  }
  // Keep only what a library call reaches through the loops between the calls: a region of loops
  // alone gains nothing from the blocked layout.
  std::vector<bool> reached(p.buffers.size(), false);
  for (const KFunction& f : p.functions)
    for (const Kernel& k : f.kernels)
      if (k.kind == KernelKind::Library)
        for (int32_t b : k.args) reached[static_cast<size_t>(b)] = blocked[static_cast<size_t>(b)];
  for (bool grew = true; grew;) {
    grew = false;
    for (const KFunction& f : p.functions)
      for (const Kernel& k : f.kernels) {
        if (k.kind != KernelKind::Loop && !generatesBlocked(p, k)) continue;
        const bool touches = std::any_of(k.args.begin(), k.args.end(), [&](int32_t b) { return reached[static_cast<size_t>(b)]; });
        for (int32_t b : k.args)
          if (touches && blocked[static_cast<size_t>(b)] && !reached[static_cast<size_t>(b)]) reached[static_cast<size_t>(b)] = grew = true;
      }
  }
  blocked = reached;
  // 3. Loops index the blocked buffers.
  bool any = false;
  for (KFunction& f : p.functions)
    for (Kernel& k : f.kernels)
      if (k.kind == KernelKind::Loop)
        if (const int dc = channelDim(p, k, blocked); dc >= 0) splitLoop(p, k, dc, blocked);
  for (size_t b = 0; b < p.buffers.size(); ++b)
    if (blocked[b]) {
      p.buffers[b].layout = Layout::NChw16c;
      any = true;
    }
  return any || copied;
}

}  // namespace sinter::kir
