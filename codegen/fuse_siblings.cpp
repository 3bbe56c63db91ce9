// fuse-siblings: loop kernels over the same iteration space that read the same buffer, or where one
// reads what the other writes, become one kernel with several results (multi-output fusion).
//
// Why: batch norm's backward pass reduced the same gradient twice (sum(g) and sum(g * x-hat) over
// [C, r:B, r:H*W]), reading it from memory once per statistic; an optimizer updated each
// parameter in three loops (the decayed gradient, the momentum buffer, the weight), each writing a
// parameter-sized buffer that the next one read back.
//
// Algorithm. For each loop kernel B in order, the nearest earlier loop kernel A that
//  - has B's space, kept dims and reduction shape (both reduce or neither; Kernel::innerKept equal),
//  - shares a read buffer with B, or writes a buffer that B reads,
//  - B writes no storage A writes, and a storage A reads only where A reads it at the element B
//    writes (A does not reduce): SGD's weight update overwrites the weight that the decayed
//    gradient's loop read,
//  - if B reads a result of A: A does not reduce, and B reads that result exactly at the element A
//    writes (the same buffer, strides equal to A's output strides): B's read becomes A's
//    expression, computed in registers, and
//  - no kernel between A and B writes a storage B reads, or touches a storage B writes,
// absorbs B: B's arguments join A's, its expressions are appended (reads of A's results replaced
// by A's roots), and its results become further results of A (Kernel::moreOutputs). Every root
// is computed before any result is stored, so in-place results stay element-wise.
// Then a result of a fused kernel that no other kernel reads, which is no function's result and
// not persistent, is dropped with its buffer: the decayed gradient of SGD with weight decay.
// Library calls pair the same way where one call of the library computes both results
// (LibraryOps::pairs: oneDNN's batch normalization forward writes y and the batch statistics, its
// backward dx and the parameters' gradients): the kernel of the op gets the partner's result as a
// further result, at the earlier kernel's place.
// Must not fire: kernels of different spaces (a pointwise producer feeding a reduction), a reducing
// producer (its result exists only after the whole reduction), and a kernel that must wait for
// one in between (batch norm's final backward loop reads the statistics computed after the ReLU
// gradient it also reads).
#include <algorithm>

#include "codegen/kernel_passes.h"

namespace sinter::kir {

namespace {

bool sameShape(const Kernel& a, const Kernel& b) {
  return a.kind == KernelKind::Loop && b.kind == KernelKind::Loop && a.space == b.space && a.numKept == b.numKept &&
         a.innerKept == b.innerKept && (a.reduceRoot >= 0) == (b.reduceRoot >= 0);
}

// A's result that B's read `e` takes, when B reads it exactly where A writes it; -1 when the read
// is of something else; -2 when it reads a result of A some other way.
int resultRead(const KProgram& p, const Kernel& a, const Kernel& b, const Expr& e) {
  const int32_t buffer = b.args[e.arg];
  for (const LoopOutput& o : loopOutputs(a)) {
    const int32_t out = a.args[o.arg];
    if (buffer == out && e.strides == o.outStrides) return o.root;
    if (p.buffers[buffer].storage == p.buffers[out].storage) return -2;
  }
  return -1;
}

// Whether kernel j may run at i < j instead: it commutes with every kernel between.
bool mayMoveUp(const KProgram& p, const KFunction& f, size_t i, size_t j) { return commutesWithBetween(p, f, j, i, j); }

// Whether B (at index j) may join A (at index i < j), per the file comment.
bool canAbsorb(const KProgram& p, const KFunction& f, size_t i, size_t j) {
  const Kernel &a = f.kernels[i], &b = f.kernels[j];
  if (!sameShape(a, b)) return false;
  const Access aa = accessOf(p, a), ab = accessOf(p, b);
  if (meets(ab.writes, aa.writes)) return false;
  // B may overwrite what A reads only element by element: A reads it exactly where B writes it.
  for (const LoopOutput& o : loopOutputs(b)) {
    const int32_t s = p.buffers[b.args[o.arg]].storage;
    if (!aa.reads.count(s)) continue;
    if (a.reduceRoot >= 0) return false;
    for (const Expr& e : a.exprs)
      if (e.kind == ExprKind::Read && p.buffers[a.args[e.arg]].storage == s && e.strides != o.outStrides) return false;
  }
  bool readsResult = false;
  for (const Expr& e : b.exprs) {
    if (e.kind != ExprKind::Read) continue;
    const int r = resultRead(p, a, b, e);
    if (r == -2 || (r >= 0 && a.reduceRoot >= 0)) return false;
    readsResult = readsResult || r >= 0;
  }
  if (!readsResult && !meets(aa.reads, ab.reads)) return false;
  return mayMoveUp(p, f, i, j);
}

// Library kernels at i < j that one call computes (LibraryOps::pairs): an op and its partner whose
// operands are, in order, some of the op's (the same buffers), with the op's attributes where the
// partner has any, nothing else fused into either, and the later one free to move up.
bool canPair(const KProgram& p, const KFunction& f, size_t i, size_t j) {
  const Kernel &a = f.kernels[i], &b = f.kernels[j];
  if (a.kind != KernelKind::Library || b.kind != KernelKind::Library || !a.moreOutputs.empty() || !b.moreOutputs.empty()) return false;
  const bool aFirst = p.library.computesWith(a.op, b.op);
  if (!aFirst && !p.library.computesWith(b.op, a.op)) return false;
  const Kernel &op = aFirst ? a : b, &partner = aFirst ? b : a;
  auto next = op.args.begin() + 1;
  for (size_t x = 1; x < partner.args.size(); ++x) {
    next = std::find(next, op.args.end(), partner.args[x]);
    if (next == op.args.end()) return false;
  }
  for (const auto& [key, value] : partner.attrs.items())
    if (const Attr* mine = op.attrs.find(key); !mine || *mine != value) return false;
  return mayMoveUp(p, f, i, j);
}

// The paired call at i: the op's kernel with the partner's result as a further result.
void pair(const KProgram& p, Kernel& a, const Kernel& b) {
  const bool aFirst = p.library.computesWith(a.op, b.op);
  Kernel merged = aFirst ? a : b;
  const Kernel& partner = aFirst ? b : a;
  LoopOutput result;
  result.arg = argIndex(merged, partner.args[0]);
  merged.moreOutputs.push_back(result);
  merged.ops.insert(merged.ops.end(), partner.ops.begin(), partner.ops.end());
  merged.name = a.name;
  a = std::move(merged);
}

void absorb(const KProgram& p, Kernel& a, const Kernel& b) {
  std::vector<int32_t> exprAt(b.exprs.size(), -1);
  const Kernel before = a;  // A's results as B's reads see them
  for (size_t x = 0; x < b.exprs.size(); ++x) {
    Expr e = b.exprs[x];
    if (e.kind == ExprKind::Read) {
      if (const int r = resultRead(p, before, b, e); r >= 0) {
        exprAt[x] = r;
        continue;
      }
      e.arg = argIndex(a, b.args[e.arg]);
    }
    for (int32_t& o : e.operands) o = exprAt[o];
    a.exprs.push_back(std::move(e));
    exprAt[x] = static_cast<int32_t>(a.exprs.size() - 1);
  }
  for (const LoopOutput& o : loopOutputs(b)) {
    LoopOutput n = o;
    // B's results are new arguments of A: no other kernel's reads made them A's already.
    n.arg = argIndex(a, b.args[o.arg]);
    n.root = exprAt[o.root];
    n.reduceRoot = o.reduceRoot >= 0 ? exprAt[o.reduceRoot] : -1;
    a.moreOutputs.push_back(std::move(n));
  }
  a.ops.insert(a.ops.end(), b.ops.begin(), b.ops.end());
  a.outputAliasesArg = a.outputAliasesArg || b.outputAliasesArg;
}

// Drops the results of fused kernel k that nothing reads (see the file comment).
void dropDeadResults(const KProgram& p, KFunction& f, size_t ki) {
  Kernel& k = f.kernels[ki];
  if (k.kind != KernelKind::Loop) return;  // a library call writes all its results
  auto dead = [&](int32_t buffer) {
    const Buffer& b = p.buffers[buffer];
    if (b.storage != buffer || b.persistent || b.role != BufferRole::Temp) return false;
    for (const Buffer& other : p.buffers)
      if (other.storage == buffer && &other != &b) return false;
    for (const auto& [name, r] : f.results)
      if (p.buffers[r].storage == buffer) return false;
    for (size_t j = 0; j < f.kernels.size(); ++j)
      if (j != ki && std::find(f.kernels[j].args.begin(), f.kernels[j].args.end(), buffer) != f.kernels[j].args.end()) return false;
    for (const Expr& e : k.exprs)
      if (e.kind == ExprKind::Read && k.args[e.arg] == buffer) return false;
    return true;
  };
  for (size_t o = k.moreOutputs.size(); o-- > 0;)
    if (dead(k.args[k.moreOutputs[o].arg])) {
      const int32_t arg = k.moreOutputs[o].arg;
      k.moreOutputs.erase(k.moreOutputs.begin() + static_cast<std::ptrdiff_t>(o));
      removeArg(k, arg);
    }
  if (!k.moreOutputs.empty() && dead(k.args[0])) {
    // The first remaining further result becomes args[0].
    const LoopOutput first = k.moreOutputs.front();
    k.moreOutputs.erase(k.moreOutputs.begin());
    std::swap(k.args[0], k.args[first.arg]);
    for (Expr& e : k.exprs)
      if (e.kind == ExprKind::Read && e.arg == first.arg) e.arg = 0;
    k.root = first.root, k.reduceRoot = first.reduceRoot, k.reduceOp = first.reduceOp, k.outStrides = first.outStrides;
    removeArg(k, first.arg);
  }
}

}  // namespace

Expected<bool> fuseSiblings(KProgram& p) {
  bool changed = false;
  for (KFunction& f : p.functions) {
    std::vector<bool> fused(f.kernels.size(), false);
    for (size_t j = 1; j < f.kernels.size();) {
      size_t into = j;
      bool library = false;
      for (size_t i = j; i-- > 0 && into == j;)
        if (canAbsorb(p, f, i, j) || (library = canPair(p, f, i, j))) into = i;
      if (into == j) {
        ++j;
        continue;
      }
      if (library) pair(p, f.kernels[into], f.kernels[j]);
      else absorb(p, f.kernels[into], f.kernels[j]);
      fused[into] = true;
      f.kernels.erase(f.kernels.begin() + static_cast<std::ptrdiff_t>(j));
      fused.erase(fused.begin() + static_cast<std::ptrdiff_t>(j));
    }
    if (std::find(fused.begin(), fused.end(), true) == fused.end()) continue;
    for (size_t k = 0; k < f.kernels.size(); ++k)
      if (fused[k]) dropDeadResults(p, f, k);
    renameKernels(f);
    changed = true;
  }
  if (changed) dropUnusedBuffers(p);
  return changed;
}

}  // namespace sinter::kir
