// collapse-loops: adjacent loop dims that every access walks as one contiguous run become one dim,
// so the innermost loop is as long as the data allows.
//
// Why: a loop kernel's space is the shape of the tensors it touches, so a batch-norm statistic
// over [C, r:B, r:H, r:W] ran its innermost loop over W alone (8 to 32 floats): the vectorizer's
// lane partial sums were summed across lanes at every W row, and its loop overheads paid every few
// vectors. Reductions ran at a third of the memory bandwidth that pointwise loops reach.
//
// Algorithm. Dims d and d+1 merge when both are kept or both are reduced, neither is the kept dim
// a reduction iterates inside its reduced dims (Kernel::innerKept), and for every read and for
// the output (when kept) stride[d] == stride[d+1] * extent[d+1]: the pair then walks addresses
// exactly as one dim of extent[d] * extent[d+1] with stride[d+1] does. Extents and strides are
// linear in the batch B; a product with B in both factors is not, and such a pair stays apart.
// Nothing else changes: the iteration order, the values computed and their summation order per
// accumulator are the same (the reduced count of a mean is the product of the same extents).
// Must not fire: dims that a transposed or broadcast read walks differently (a broadcast's stride
// 0 against a following dim's nonzero stride), and the kept/reduced boundary.
#include <optional>

#include "codegen/kernel_passes.h"

namespace sinter::kir {

namespace {

// a * b when at most one of them depends on B; nullopt otherwise.
std::optional<Lin> product(Lin a, Lin b) {
  if (a.perBatch && b.perBatch) return std::nullopt;
  return Lin{a.perBatch * b.constant + a.constant * b.perBatch, a.constant * b.constant};
}

bool walksAsOne(const std::vector<Lin>& strides, size_t d, Lin innerExtent) {
  const std::optional<Lin> outer = product(strides[d + 1], innerExtent);
  return outer && *outer == strides[d];
}

// Merges dims d and d+1 of loop kernel k when that is exact; says whether it did.
bool collapsePair(Kernel& k, size_t d) {
  const auto kept = static_cast<size_t>(k.numKept);
  if ((d < kept) != (d + 1 < kept)) return false;
  if (k.innerKept && (d + 1 == kept - 1 || d == kept - 1)) return false;
  const std::optional<Lin> extent = product(k.space[d], k.space[d + 1]);
  if (!extent) return false;
  if (d + 1 < kept && !walksAsOne(k.outStrides, d, k.space[d + 1])) return false;
  for (const Expr& e : k.exprs)
    if (e.kind == ExprKind::Read && !walksAsOne(e.strides, d, k.space[d + 1])) return false;
  auto drop = [&](std::vector<Lin>& s) { s.erase(s.begin() + static_cast<std::ptrdiff_t>(d)); };
  k.space[d + 1] = *extent;
  drop(k.space);
  if (d + 1 < kept) {
    drop(k.outStrides);
    --k.numKept;
  }
  for (Expr& e : k.exprs)
    if (e.kind == ExprKind::Read) drop(e.strides);
  return true;
}

}  // namespace

Expected<bool> collapseLoops(KProgram& p) {
  bool changed = false;
  for (KFunction& f : p.functions)
    for (Kernel& k : f.kernels) {
      if (k.kind != KernelKind::Loop) continue;
      for (size_t d = k.space.size(); d-- > 1;)
        if (d < k.space.size() && collapsePair(k, d - 1)) changed = true;
    }
  return changed;
}

}  // namespace sinter::kir
