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
#include <unistd.h>

#include <algorithm>

#include "codegen/kernel_passes.h"

namespace sinter::kir {

namespace {

std::string bytesText(int64_t bytes) {
  return bytes >= (int64_t{1} << 30) ? fmt::format("{:.1f} GiB", static_cast<double>(bytes) / (1 << 30))
                                     : fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1 << 20));
}

// A plan whose arenas cannot be allocated is refused when it is compiled, with the size it needs,
// rather than when the executable starts (or, past overcommit, when its pages are first touched).
// Host plans are measured against this machine's physical memory: the executable usually runs where
// it is built. (Device plans: the GPU is not known at compile time; the executor's allocation names
// the size when it fails.)
Status checkFitsMemory(const KProgram& p) {
  const bool host = std::none_of(p.buffers.begin(), p.buffers.end(), [](const Buffer& b) { return b.space == MemorySpace::Device; });
  const long pages = sysconf(_SC_PHYS_PAGES), pageSize = sysconf(_SC_PAGESIZE);
  if (!host || pages <= 0 || pageSize <= 0) return ok();
  const int64_t memory = static_cast<int64_t>(pages) * pageSize;
  if (p.stateBytes <= memory && p.workBytes <= memory - p.stateBytes) return ok();
  // The largest buffer by a name the user wrote: not a concat group's storage ('fc1.weight..fc2.bias').
  std::vector<bool> holdsOthers(p.buffers.size(), false);
  for (size_t i = 0; i < p.buffers.size(); ++i)
    if (p.buffers[i].storage != static_cast<int32_t>(i)) holdsOthers[p.buffers[i].storage] = true;
  const Buffer* largest = &p.buffers.front();
  for (size_t i = 0; i < p.buffers.size(); ++i)
    if (!holdsOthers[i] && p.buffers[i].bytesAtMax > largest->bytesAtMax) largest = &p.buffers[i];
  return Error(fmt::format("model '{}' needs {} of memory at batch {} (parameters and state {}, work arena {}), more than "
                           "this machine's {}; its largest buffer is '{}', {} {}",
                           p.model, bytesText(p.stateBytes + p.workBytes), p.maxBatch, bytesText(p.stateBytes),
                           bytesText(p.workBytes), bytesText(memory), largest->name, formatType(largest->type),
                           bytesText(largest->bytesAtMax)));
}

}  // namespace

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
  if (Status s = checkFitsMemory(p); !s) return s.error();
  return true;
}

}  // namespace sinter::kir
