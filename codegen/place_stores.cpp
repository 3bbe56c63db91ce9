// place-stores: a stored value written straight into its global instead of through a copy.
//
// Algorithm. lower-to-kernels ends each function with one copy kernel per store (a Loop kernel of
// the single op `store` whose output is the global's buffer). For each, let r be the storage of the
// value it copies and g the global's. The copy is dropped and r's buffers become g when
//  - r is a temp of this function, not a result, of g's size, written by a producer kernel, and
//  - no kernel after the producer reads or writes g (other than this copy), and if the producer
//    itself reads g, it is a loop without a reduction that writes r directly (not through an
//    alias) and reads g only at the element it writes.
// Then every reader of g's entry value has run when the producer overwrites it, element by element.
// Must not fire: a producer that reduces (batch norm's running statistics reduce over the batch
// while reading the old value), or a global read after the producer.
#include <algorithm>

#include "codegen/kernel_passes.h"

namespace sinter::kir {

namespace {

// A store's copy into its global (not a result's).
bool isGlobalCopy(const KProgram& p, const Kernel& k) { return isStoreCopy(k) && k.args.size() == 2 && p.buffers[k.args[0]].global >= 0; }

// The producer of the copied value when the copy can be dropped, else -1.
int producerIfPlaceable(const KProgram& p, const KFunction& f, int32_t fi, size_t copy) {
  auto storage = [&](int32_t b) { return p.buffers[b].storage; };
  const int32_t g = storage(f.kernels[copy].args[0]);
  const int32_t r = storage(f.kernels[copy].args[1]);
  const Buffer& rb = p.buffers[r];
  if (r == g || rb.function != fi || rb.role != BufferRole::Temp || rb.bytesAtMax != p.buffers[g].bytesAtMax) return -1;
  for (const auto& [name, b] : f.results)
    if (storage(b) == r) return -1;
  size_t producer = f.kernels.size();
  for (size_t k = 0; k < f.kernels.size() && producer == f.kernels.size(); ++k)
    if (storage(f.kernels[k].args[0]) == r) producer = k;
  if (producer == f.kernels.size()) return -1;
  for (size_t k = 0; k < f.kernels.size(); ++k) {
    if (k == copy) continue;
    const Kernel& kn = f.kernels[k];
    const bool touchesG = std::any_of(kn.args.begin(), kn.args.end(), [&](int32_t b) { return storage(b) == g; });
    if (!touchesG) continue;
    if (k > producer) return -1;
    if (k != producer) continue;
    if (kn.kind != KernelKind::Loop || kn.reduceRoot >= 0 || kn.args[0] != r) return -1;
    for (const Expr& e : kn.exprs)
      if (e.kind == ExprKind::Read && storage(kn.args[e.arg]) == g && e.strides != kn.outStrides) return -1;
  }
  return static_cast<int>(producer);
}

}  // namespace

Expected<bool> placeStores(KProgram& p) {
  bool changed = false;
  for (size_t fi = 0; fi < p.functions.size(); ++fi) {
    KFunction& f = p.functions[fi];
    bool removed = false;
    for (size_t c = 0; c < f.kernels.size();) {
      const int producer = isGlobalCopy(p, f.kernels[c]) ? producerIfPlaceable(p, f, static_cast<int32_t>(fi), c) : -1;
      if (producer < 0) {
        ++c;
        continue;
      }
      const int32_t g = p.buffers[f.kernels[c].args[0]].storage;
      const int32_t r = p.buffers[f.kernels[c].args[1]].storage;
      for (Buffer& b : p.buffers)
        if (b.storage == r) {
          b.storage = g;
          b.persistent = true;
        }
      Kernel& pk = f.kernels[static_cast<size_t>(producer)];
      for (size_t a = 1; a < pk.args.size(); ++a) pk.outputAliasesArg = pk.outputAliasesArg || p.buffers[pk.args[a]].storage == g;
      f.kernels.erase(f.kernels.begin() + static_cast<std::ptrdiff_t>(c));
      removed = changed = true;
    }
    if (removed) renameKernels(f);
  }
  return changed;
}

}  // namespace sinter::kir
