// concat-loops: identical elementwise loops over different buffers (the optimizer's update of each
// parameter) become one loop over those buffers laid end to end: a multi-tensor apply.
//
// Why: the training step updated each parameter in a loop of its own. cifar_cnn's 22 parameters
// took 22 kernel calls, most of them over 32 to 256 elements, where the call and the thread pool's
// fork cost more than the work and the small ones ran on one thread; a GPU would pay a launch for
// each. One loop over every parameter is one call, split evenly across the threads.
//
// Algorithm. A candidate is a loop kernel over one constant dim (collapse-loops made contiguous
// loops one dim), without reduction, whose every argument is either a column (every result, and
// reads at stride 1) whose storage is exactly that buffer, or shared (read at stride 0: the
// learning rate). Candidates with equal expressions, results and shared arguments join one set, in
// kernel order, while each earlier member may move down to the latest (no kernel between writes
// what it reads or touches what it writes), the members' storages are disjoint, and their columns
// name storages in the same pattern (an in-place update reads and writes the weight: two columns,
// one storage). A set of two or more becomes one kernel at its last member's place: per column
// pattern, the members' storages are laid end to end in one new buffer (a group) and become its
// aliases at byte offsets, and the kernel loops over the group's elements. plan-memory places the
// group as one buffer. Members whose size is a multiple of 64 bytes come first, so that they stay
// 64-byte aligned; the others need only their element's alignment, as every kernel's loads do.
// Cost: a group of gradients lives from the first member's producer to the update, where each
// gradient lived from its own producer (the parameters' size, about 3 MB for cifar_cnn).
// Must not fire: loops over the batch (their extent changes from call to call), reductions, reads
// along a dim that is not contiguous, a loop that reads what another member writes (it cannot
// move past it), loops whose expressions differ, and a set of one.
#include <algorithm>
#include <map>
#include <optional>

#include "codegen/kernel_passes.h"

namespace sinter::kir {

namespace {

const Lin kContiguous{0, 1}, kShared{0, 0};

// Per argument of a candidate: whether it is a column (true) or shared (false); nullopt when the
// kernel is not a candidate.
std::optional<std::vector<bool>> columnsOf(const KProgram& p, const Kernel& k) {
  if (k.kind != KernelKind::Loop || k.space.size() != 1 || k.numKept != 1 || !k.space[0].isConst() || k.innerKept)
    return std::nullopt;
  std::vector<int> stride(k.args.size(), -1);  // -1 unused, 0 shared, 1 column
  auto see = [&](size_t arg, const std::vector<Lin>& strides) {
    const int s = strides == std::vector{kContiguous} ? 1 : strides == std::vector{kShared} ? 0 : -2;
    if (s == -2 || (stride[arg] != -1 && stride[arg] != s)) return false;
    stride[arg] = s;
    return true;
  };
  for (const LoopOutput& o : loopOutputs(k))
    if (o.reduceRoot >= 0 || !see(static_cast<size_t>(o.arg), o.outStrides)) return std::nullopt;
  for (const Expr& e : k.exprs)
    if (e.kind == ExprKind::Read && !see(static_cast<size_t>(e.arg), e.strides)) return std::nullopt;
  std::vector<bool> columns(k.args.size());
  for (size_t a = 0; a < k.args.size(); ++a) {
    if (stride[a] < 0) return std::nullopt;
    columns[a] = stride[a] == 1;
    if (!columns[a]) continue;
    // A column is a whole plain storage that no other function's bytes depend on being apart.
    const Buffer& b = p.buffers[k.args[a]];
    const Buffer& s = p.buffers[b.storage];
    if (b.storageOffset != 0 || b.bytesAtMax != s.bytesAtMax || s.storageOffset != 0 || s.layout != Layout::Plain ||
        b.bytesAtMax != k.space[0].constant * dtypeSize(b.type.dtype) || s.role == BufferRole::Input || s.role == BufferRole::Output)
      return std::nullopt;
  }
  return columns;
}

// Whether b computes what a computes, on its own columns and a's shared arguments.
bool sameComputation(const Kernel& a, const Kernel& b, const std::vector<bool>& columns) {
  if (a.exprs != b.exprs || a.root != b.root || a.outStrides != b.outStrides || a.moreOutputs != b.moreOutputs ||
      a.ops != b.ops || a.args.size() != b.args.size() || a.outputAliasesArg != b.outputAliasesArg)
    return false;
  for (size_t x = 0; x < a.args.size(); ++x)
    if (!columns[x] && a.args[x] != b.args[x]) return false;
  return true;
}

// The storage of each column (shared arguments: -1).
std::vector<int32_t> columnStorages(const KProgram& p, const Kernel& k, const std::vector<bool>& columns) {
  std::vector<int32_t> s(k.args.size(), -1);
  for (size_t a = 0; a < k.args.size(); ++a)
    if (columns[a]) s[a] = p.buffers[k.args[a]].storage;
  return s;
}

struct Set {
  std::vector<size_t> members;  // kernel indices, ascending
  std::vector<bool> columns;
};

// Whether kernel j joins set s (see the file comment).
bool joins(const KProgram& p, const KFunction& f, const Set& s, size_t j, const std::vector<bool>& columns) {
  const Kernel& first = f.kernels[s.members.front()];
  if (columns != s.columns || !sameComputation(first, f.kernels[j], columns)) return false;
  const std::vector<int32_t> mine = columnStorages(p, f.kernels[j], columns), theirs = columnStorages(p, first, columns);
  std::set<int32_t> shared, used(mine.begin(), mine.end());
  used.erase(-1);
  for (size_t a = 0; a < columns.size(); ++a) {
    if (!columns[a]) shared.insert(p.buffers[first.args[a]].storage);
    if (!columns[a]) continue;
    const Buffer &x = p.buffers[mine[a]], &y = p.buffers[theirs[a]];
    if (x.persistent != y.persistent || x.space != y.space || x.type.dtype != y.type.dtype) return false;
    for (size_t b = 0; b < a; ++b)
      if (columns[b] && (mine[a] == mine[b]) != (theirs[a] == theirs[b])) return false;
  }
  if (meets(used, shared)) return false;
  for (size_t m : s.members) {
    std::vector<int32_t> other = columnStorages(p, f.kernels[m], columns);
    if (meets(used, std::set<int32_t>(other.begin(), other.end()))) return false;
  }
  return std::all_of(s.members.begin(), s.members.end(), [&](size_t m) { return commutesWithBetween(p, f, m, m, j); });
}

// Lays the set's storages end to end and returns its one kernel.
Kernel concatenate(KProgram& p, const KFunction& f, int32_t fi, const Set& s) {
  std::vector<size_t> order = s.members;
  std::stable_partition(order.begin(), order.end(), [&](size_t m) {
    const Kernel& k = f.kernels[m];
    return k.space[0].constant * dtypeSize(p.buffers[k.args[0]].type.dtype) % kAlign == 0;
  });
  Kernel merged = f.kernels[s.members.back()];
  std::map<int32_t, int32_t> groupOf;  // the first member's storage of a column -> its group buffer
  std::map<int32_t, std::pair<int32_t, int64_t>> moved;  // a member storage -> (group, byte offset)
  const std::vector<int32_t> lead = columnStorages(p, f.kernels[order.front()], s.columns);
  for (size_t a = 0; a < s.columns.size(); ++a) {
    if (!s.columns[a]) continue;
    if (auto g = groupOf.find(lead[a]); g != groupOf.end()) {
      merged.args[a] = g->second;
      continue;
    }
    const Buffer& first = p.buffers[lead[a]];
    Buffer group;
    group.space = first.space;
    group.role = BufferRole::Temp;
    group.persistent = first.persistent;
    group.function = first.persistent ? -1 : fi;
    group.storage = static_cast<int32_t>(p.buffers.size());
    int64_t elements = 0;
    std::string last;
    for (size_t m : order) {
      const int32_t storage = p.buffers[f.kernels[m].args[a]].storage;
      moved[storage] = {group.storage, group.bytesAtMax};
      group.bytesAtMax += p.buffers[storage].bytesAtMax;
      elements += p.buffers[storage].type.numel(0);
      last = p.buffers[storage].name;
    }
    group.type = TensorType{first.type.dtype, {elements}};
    group.name = fmt::format("{}..{}", first.name, last);
    groupOf[lead[a]] = group.storage;
    merged.args[a] = group.storage;
    p.buffers.push_back(std::move(group));
  }
  for (Buffer& b : p.buffers)
    if (auto m = moved.find(b.storage); m != moved.end()) {
      b.storage = m->second.first;
      b.storageOffset += m->second.second;
    }
  merged.space = {Lin{0, p.buffers[merged.args[0]].type.dims[0]}};
  return merged;
}

}  // namespace

Expected<bool> concatLoops(KProgram& p) {
  bool changed = false;
  for (size_t fi = 0; fi < p.functions.size(); ++fi) {
    KFunction& f = p.functions[fi];
    std::vector<Set> sets;
    for (size_t j = 0; j < f.kernels.size(); ++j) {
      const std::optional<std::vector<bool>> columns = columnsOf(p, f.kernels[j]);
      if (!columns) continue;
      auto open = std::find_if(sets.begin(), sets.end(), [&](const Set& s) { return joins(p, f, s, j, *columns); });
      if (open != sets.end()) open->members.push_back(j);
      else sets.push_back(Set{{j}, *columns});
    }
    std::vector<bool> drop(f.kernels.size(), false);
    bool merged = false;
    for (const Set& s : sets) {
      // A set whose storages an earlier set's group took (a gradient two sets read) stays apart.
      const auto whole = [&](size_t m) { return columnsOf(p, f.kernels[m]).has_value(); };
      if (s.members.size() < 2 || !std::all_of(s.members.begin(), s.members.end(), whole)) continue;
      for (size_t m : s.members) drop[m] = true;
      drop[s.members.back()] = false;
      f.kernels[s.members.back()] = concatenate(p, f, static_cast<int32_t>(fi), s);
      merged = true;
    }
    if (!merged) continue;
    std::vector<Kernel> kept;
    for (size_t k = 0; k < f.kernels.size(); ++k)
      if (!drop[k]) kept.push_back(std::move(f.kernels[k]));
    f.kernels = std::move(kept);
    renameKernels(f);
    changed = true;
  }
  return changed;
}

}  // namespace sinter::kir
