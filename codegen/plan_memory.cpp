// plan-memory: byte offsets for every buffer in the two arenas.
//
// Algorithm. Params and state sit in the state arena in module order (a group of concat-loops where
// its first member would be). Inputs sit at the start of
// the work arena (the caller writes them before a run, so they must not share bytes with anything).
// Each function's temps get intervals [first kernel, last kernel] (results: to the end) and are
// placed first-fit, largest first, at 64-byte aligned offsets; functions never run at the same
// time, so the work arena is the maximum over functions, sized at maxBatch. Aliases (reshapes,
// in-place stores, the members of a group) take their storage's offset plus their own within it. Must not share bytes: two buffers of one function
// whose intervals overlap (verifyMemoryPlan checks every pair after the pipeline).
#include <algorithm>

#include "codegen/kernel_passes.h"

namespace sinter::kir {

Expected<bool> planMemory(KProgram& p) {
  auto ownsStorage = [&](const Buffer& b) { return b.storage == static_cast<int32_t>(&b - p.buffers.data()); };
  p.stateBytes = 0;
  std::vector<bool> placedState(p.buffers.size(), false);
  for (const Buffer& b : p.buffers)
    if (b.persistent && !placedState[b.storage]) {
      placedState[b.storage] = true;
      p.buffers[b.storage].offset = p.stateBytes;
      p.stateBytes += alignUp(p.buffers[b.storage].bytesAtMax);
    }
  int64_t base = 0;
  p.unplannedBytes = 0;
  for (Buffer& b : p.buffers)
    if (b.role == BufferRole::Input && ownsStorage(b)) {
      b.offset = base;
      base += alignUp(b.bytesAtMax);
      p.unplannedBytes += alignUp(b.bytesAtMax);
    }
  p.workBytes = base;
  for (size_t fi = 0; fi < p.functions.size(); ++fi) {
    auto live = liveRanges(p, p.functions[fi], static_cast<int32_t>(fi));
    std::vector<int32_t> order;
    for (const auto& [s, range] : live) order.push_back(s);
    std::stable_sort(order.begin(), order.end(),
                     [&](int32_t a, int32_t b) { return p.buffers[a].bytesAtMax > p.buffers[b].bytesAtMax; });
    std::vector<int32_t> placed;
    for (int32_t s : order) {
      const int64_t size = alignUp(p.buffers[s].bytesAtMax);
      p.unplannedBytes += size;
      std::vector<std::pair<int64_t, int64_t>> busy;
      for (int32_t q : placed) {
        const auto &a = live[s], &b = live[q];
        if (a.first <= b.second && b.first <= a.second) busy.emplace_back(p.buffers[q].offset, alignUp(p.buffers[q].bytesAtMax));
      }
      std::sort(busy.begin(), busy.end());
      int64_t at = base;
      for (const auto& [off, len] : busy) {
        if (off >= at + size) break;
        at = std::max(at, off + len);
      }
      p.buffers[s].offset = at;
      p.workBytes = std::max(p.workBytes, at + size);
      placed.push_back(s);
    }
  }
  for (Buffer& b : p.buffers) {
    const Buffer& s = p.buffers[b.storage];
    b.offset = s.offset + b.storageOffset;
    b.persistent = s.persistent;
  }
  return true;
}

}  // namespace sinter::kir
