// fuse-loops: producer-consumer fusion of loop kernels. lower-to-kernels gives every pointwise op
// and reduction a loop of its own; this pass computes a value inside the loops that read it, so
// that a chain of them is one loop nest with no intermediate buffer.
//
// Algorithm. For each loop kernel P in order (kernels are in dependence order), whose one result r
// is a work temp of its own (not persistent, no alias, not a function result), read only by loop
// kernels that are not store copies:
//  1. Inline: P does not reduce, and every read of r is at exactly the element P writes (a
//     bijection between the reader's loop dims and P's, extent-1 dims aside; a read in a
//     reduction's root sees only the kept dims). With one read, or with several when computing P
//     reads at most one buffer of r's size and no larger ones (recompute: batch norm's x - mean,
//     read by the variance and by the normalization, costs what reading it back would), each read
//     becomes a copy of P's expression tree with its reads re-indexed, and P goes.
//  2. Extend: P reduces and its one reader C does not, reading r once at exactly P's element over
//     P's kept dims. C's expressions join P's (the read of r becomes P's root), P writes C's result
//     and takes C's place; C goes. This is how a reduction's consumer, such as rsqrt(var + eps),
//     becomes the accumulator's epilogue.
// Repeat until nothing changes; then the buffers no kernel reads are dropped.
// Must not fire: a consumer over other dims (x - mean reads the mean broadcast: recomputing it per
// element would redo the reduction), a reduction into a reduction (one accumulator per kernel), a
// value a library call, op kernel or store reads (it must be in memory), a multi-use value whose
// computation reads two full-size buffers (each consumer would read both), a function result.
#include <algorithm>
#include <cstdint>
#include <optional>

#include "codegen/kernel_passes.h"

namespace sinter::kir {

namespace {

bool isOne(const Lin& l) { return l == Lin{0, 1}; }

// For a read with `strides` over the reader's dims `extents` of a buffer that P writes with
// `outStrides` over its dims `pExtents`: the reader dim of each P dim (-1 for P's extent-1 dims),
// when the two sets of dims of extent > 1 correspond one to one with equal extents and the read's
// stride is P's output stride; otherwise none.
std::optional<std::vector<int>> matchDims(const std::vector<Lin>& strides, const std::vector<Lin>& extents,
                                          const std::vector<Lin>& outStrides, const std::vector<Lin>& pExtents) {
  std::vector<int> at(pExtents.size(), -1);
  std::vector<bool> used(extents.size(), false);
  for (size_t k = 0; k < pExtents.size(); ++k) {
    if (isOne(pExtents[k])) continue;
    for (size_t d = 0; d < extents.size() && at[k] < 0; ++d)
      if (!used[d] && extents[d] == pExtents[k] && strides[d] == outStrides[k]) {
        at[k] = static_cast<int>(d);
        used[d] = true;
      }
    if (at[k] < 0) return std::nullopt;
  }
  for (size_t d = 0; d < extents.size(); ++d)
    if (!used[d] && !isOne(extents[d])) return std::nullopt;
  // Extent-1 dims pair up too where the strides say so, so that a value read at its own shape
  // keeps the strides lower-to-kernels gives (place-stores compares them).
  for (size_t k = 0; k < pExtents.size(); ++k)
    for (size_t d = 0; d < extents.size() && at[k] < 0; ++d)
      if (!used[d] && isOne(pExtents[k]) && isOne(extents[d]) && strides[d] == outStrides[k]) {
        at[k] = static_cast<int>(d);
        used[d] = true;
      }
  return at;
}

// The expressions of k that its reduction reads (reachable from reduceRoot; Acc ends the root's).
std::vector<bool> reduceTree(const Kernel& k) {
  std::vector<bool> in(k.exprs.size(), false);
  if (k.reduceRoot >= 0) {
    in[static_cast<size_t>(k.reduceRoot)] = true;
    for (size_t x = k.exprs.size(); x-- > 0;)
      if (in[x])
        for (int32_t o : k.exprs[x].operands) in[static_cast<size_t>(o)] = true;
  }
  return in;
}

// The dims a read of expression x of k walks: every dim in the reduction's tree, the kept dims in
// the root's.
std::vector<Lin> readDims(const Kernel& k, bool inReduce) {
  return inReduce ? k.space : std::vector<Lin>(k.space.begin(), k.space.begin() + k.numKept);
}

// Where P's result may be computed by its readers: the dim map of each read of `r` in each reader
// (kernel index, expression index), or none when some reader cannot.
struct Read {
  size_t kernel;
  size_t expr;
  std::vector<int> dims;  // P dim -> reader dim
};

std::optional<std::vector<Read>> readsOf(const KProgram& p, const KFunction& f, size_t pi) {
  const Kernel& P = f.kernels[pi];
  const int32_t r = P.args[0];
  std::vector<Read> reads;
  for (size_t j = 0; j < f.kernels.size(); ++j) {
    if (j == pi) continue;
    const Kernel& c = f.kernels[j];
    const bool touches = std::any_of(c.args.begin(), c.args.end(), [&](int32_t b) { return p.buffers[b].storage == r; });
    if (!touches) continue;
    if (c.kind != KernelKind::Loop || isStoreCopy(c) || j < pi || c.args[0] == r) return std::nullopt;
    const std::vector<bool> inReduce = reduceTree(c);
    for (size_t x = 0; x < c.exprs.size(); ++x) {
      const Expr& e = c.exprs[x];
      if (e.kind != ExprKind::Read || c.args[static_cast<size_t>(e.arg)] != r) continue;
      const std::vector<Lin> dims = readDims(c, inReduce[x]);
      std::optional<std::vector<int>> at =
          matchDims(std::vector<Lin>(e.strides.begin(), e.strides.begin() + static_cast<std::ptrdiff_t>(dims.size())), dims, P.outStrides,
                    std::vector<Lin>(P.space.begin(), P.space.begin() + P.numKept));
      if (!at) return std::nullopt;
      reads.push_back({j, x, std::move(*at)});
    }
  }
  return reads;
}

// Whether r is a work temp of its own that no function result holds.
bool isPrivateTemp(const KProgram& p, const KFunction& f, int32_t r) {
  const Buffer& b = p.buffers[r];
  if (b.storage != r || b.persistent || b.role != BufferRole::Temp) return false;
  for (size_t i = 0; i < p.buffers.size(); ++i)
    if (static_cast<int32_t>(i) != r && p.buffers[i].storage == r) return false;
  return std::none_of(f.results.begin(), f.results.end(), [&](const auto& res) { return p.buffers[res.second].storage == r; });
}

// Appends kernel `from`'s expressions to `out` (their reads re-indexed by `dims`, from's dim ->
// out dim, over `outRank` dims, their buffers made arguments of `into`), except expression
// `replaced`, which becomes `by`; returns where each expression went.
std::vector<int32_t> copyExprs(const Kernel& from, const std::vector<int>& dims, size_t outRank, Kernel& into, std::vector<Expr>& out,
                               size_t replaced = SIZE_MAX, int32_t by = -1) {
  std::vector<int32_t> at(from.exprs.size(), -1);
  for (size_t x = 0; x < from.exprs.size(); ++x) {
    if (x == replaced) {
      at[x] = by;
      continue;
    }
    Expr e = from.exprs[x];
    if (e.kind == ExprKind::Read) {
      std::vector<Lin> strides(outRank, Lin{});
      for (size_t k = 0; k < dims.size(); ++k)
        if (dims[k] >= 0) strides[static_cast<size_t>(dims[k])] = e.strides[k];
      e.strides = std::move(strides);
      e.arg = argIndex(into, from.args[static_cast<size_t>(e.arg)]);
    }
    for (int32_t& o : e.operands) o = at[static_cast<size_t>(o)];
    out.push_back(std::move(e));
    at[x] = static_cast<int32_t>(out.size() - 1);
  }
  return at;
}

// Rebuilds c's expressions with each read in `reads` (expression index -> P dim map) replaced by
// a copy of P's tree; the remaining indices follow.
void inlineInto(const Kernel& P, Kernel& c, const std::vector<std::pair<size_t, std::vector<int>>>& reads) {
  std::vector<Expr> out;
  std::vector<int32_t> at(c.exprs.size(), -1);
  const Kernel before = c;
  for (size_t x = 0; x < before.exprs.size(); ++x) {
    auto read = std::find_if(reads.begin(), reads.end(), [&](const auto& r) { return r.first == x; });
    if (read != reads.end()) {
      at[x] = copyExprs(P, read->second, before.space.size(), c, out)[static_cast<size_t>(P.root)];
      continue;
    }
    Expr e = before.exprs[x];
    for (int32_t& o : e.operands) o = at[static_cast<size_t>(o)];
    out.push_back(std::move(e));
    at[x] = static_cast<int32_t>(out.size() - 1);
  }
  c.exprs = std::move(out);
  c.root = at[static_cast<size_t>(c.root)];
  if (c.reduceRoot >= 0) c.reduceRoot = at[static_cast<size_t>(c.reduceRoot)];
  for (size_t copies = 0; copies < reads.size(); ++copies) c.ops.insert(c.ops.begin(), P.ops.begin(), P.ops.end());
  // P's result is no longer read here.
  for (size_t a = c.args.size(); a-- > 1;)
    if (c.args[a] == P.args[0]) removeArg(c, static_cast<int32_t>(a));
}

// Buffers of r's size or larger that computing P reads (recompute reads each in every consumer).
int fullReads(const KProgram& p, const Kernel& P) {
  constexpr int64_t kProbeBatch = 64;
  const int64_t size = p.buffers[P.args[0]].type.numel(kProbeBatch);
  int reads = 0;
  for (const Expr& e : P.exprs)
    if (e.kind == ExprKind::Read && p.buffers[P.args[static_cast<size_t>(e.arg)]].type.numel(kProbeBatch) * 8 > size) ++reads;
  return reads;
}

// Rule 1 for P at pi; true when it fired (P is gone).
bool tryInline(const KProgram& p, KFunction& f, size_t pi) {
  const Kernel& P = f.kernels[pi];
  std::optional<std::vector<Read>> reads = readsOf(p, f, pi);
  if (!reads || reads->empty()) return false;
  if (reads->size() > 1 && fullReads(p, P) > 1) return false;
  const Kernel producer = P;
  for (size_t j = pi + 1; j < f.kernels.size(); ++j) {
    std::vector<std::pair<size_t, std::vector<int>>> here;
    for (const Read& r : *reads)
      if (r.kernel == j) here.emplace_back(r.expr, r.dims);
    if (!here.empty()) inlineInto(producer, f.kernels[j], here);
  }
  f.kernels.erase(f.kernels.begin() + static_cast<std::ptrdiff_t>(pi));
  return true;
}

// Rule 2 for P at pi; true when it fired (P is gone, its reduction now in C's place).
bool tryExtend(const KProgram& p, KFunction& f, size_t pi) {
  std::optional<std::vector<Read>> reads = readsOf(p, f, pi);
  if (!reads || reads->size() != 1) return false;
  const Read& read = reads->front();
  const Kernel& c = f.kernels[read.kernel];
  if (c.reduceRoot >= 0 || !c.moreOutputs.empty()) return false;
  Kernel k = f.kernels[pi];
  // C's dims as P's kept dims: the inverse of the read's map (C's extent-1 dims have none).
  std::vector<int> cToP(c.space.size(), -1);
  for (size_t d = 0; d < read.dims.size(); ++d)
    if (read.dims[d] >= 0) cToP[static_cast<size_t>(read.dims[d])] = static_cast<int>(d);
  std::vector<Expr> exprs = k.exprs;
  const std::vector<int32_t> at = copyExprs(c, cToP, k.space.size(), k, exprs, read.expr, k.root);
  k.exprs = std::move(exprs);
  k.root = at[static_cast<size_t>(c.root)];
  std::vector<Lin> outStrides(static_cast<size_t>(k.numKept), Lin{});
  for (size_t d = 0; d < cToP.size(); ++d)
    if (cToP[d] >= 0) outStrides[static_cast<size_t>(cToP[d])] = c.outStrides[d];
  k.outStrides = std::move(outStrides);
  const int32_t r = k.args[0];
  k.args[0] = c.args[0];
  for (size_t a = k.args.size(); a-- > 1;)
    if (k.args[a] == r) removeArg(k, static_cast<int32_t>(a));
  k.ops.insert(k.ops.end(), c.ops.begin(), c.ops.end());
  f.kernels[read.kernel] = std::move(k);
  f.kernels.erase(f.kernels.begin() + static_cast<std::ptrdiff_t>(pi));
  return true;
}

}  // namespace

Expected<bool> fuseLoops(KProgram& p) {
  bool changed = false;
  for (KFunction& f : p.functions) {
    bool any = false;
    // Sweeps in dependence order until one fuses nothing (one usually suffices: a kernel's
    // readers come after it).
    for (bool swept = true; swept;) {
      swept = false;
      for (size_t i = 0; i < f.kernels.size();) {
        const Kernel& P = f.kernels[i];
        const bool candidate = P.kind == KernelKind::Loop && P.moreOutputs.empty() && P.root >= 0 && !isStoreCopy(P) &&
                               isPrivateTemp(p, f, P.args[0]);
        if (candidate && (P.reduceRoot < 0 ? tryInline(p, f, i) : tryExtend(p, f, i))) {
          any = swept = true;
          continue;  // the kernel now at i is the next one
        }
        ++i;
      }
    }
    if (!any) continue;
    renameKernels(f);
    changed = true;
  }
  if (changed) dropUnusedBuffers(p);
  return changed;
}

}  // namespace sinter::kir
