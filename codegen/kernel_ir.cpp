// The kernel-level IR: lowering a graph function to loop kernels (one per pointwise op or
// reduction; the fuse-loops pass fuses them) and op kernels (see kernel_ir.h), the kernels dump,
// and the memory plan's verifier.
#include "codegen/kernel_ir.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "ir/verifier.h"

namespace sinter::kir {

namespace {

Lin mul(Lin a, Lin b) { return {a.perBatch * b.constant + a.constant * b.perBatch, a.constant * b.constant}; }

}  // namespace

std::vector<Lin> contiguousStrides(const Dims& dims) {
  std::vector<Lin> s(dims.size(), Lin{0, 1});
  for (size_t k = dims.size(); k-- > 1;) s[k - 1] = mul(s[k], dimLin(dims[k]));
  return s;
}

namespace {

int64_t bytesAt(const TensorType& t, int64_t batch) { return std::max<int64_t>(t.numel(batch), 1) * dtypeSize(t.dtype); }

// How a node takes part in a kernel.
enum class Role { Input, Load, Const, Count, View, Pointwise, Reduction, Single, Store };

Role roleOf(const Node& n) {
  switch (opInfo(n.op).fusion) {
    case FusionClass::Elementwise:
    case FusionClass::Broadcast: return Role::Pointwise;
    case FusionClass::Reduction: return Role::Reduction;
    case FusionClass::Injective: return viewKind(n.op) == ViewKind::None ? Role::Single : Role::View;
    case FusionClass::OutFusable:
    case FusionClass::Opaque:
    case FusionClass::Mode: return Role::Single;
    case FusionClass::Structural: break;
  }
  // Function plumbing: the four structural ops each have their own meaning.
  switch (n.op) {
    case OpKind::Input: return Role::Input;
    case OpKind::Load: return Role::Load;
    case OpKind::Store: return Role::Store;
    case OpKind::Numel: return Role::Count;
    default: return Role::Const;
  }
}

// Builds the kernels of one function into the program.
class FunctionBuilder {
 public:
  FunctionBuilder(const Module& m, const Function& fn, KProgram& p, int32_t index,
                  std::map<std::string, int32_t>& inputBuffers, const std::vector<int32_t>& globalBuffers)
      : m_(m), fn_(fn), p_(p), index_(index), inputBuffers_(inputBuffers), globalBuffers_(globalBuffers) {}

  Expected<KFunction> build();

 private:
  const Node& node(ValueId v) const { return fn_.nodes[v]; }
  Role role(ValueId v) const { return roleOf(node(v)); }
  void countUses();
  int32_t materialize(ValueId v);
  int32_t newBuffer(const std::string& name, BufferRole role, const TensorType& type);
  int32_t storageOf(int32_t b) const { return p_.buffers[b].storage; }
  ValueId constBase(ValueId v) const;
  int32_t buildLoop(ValueId root, int32_t out);
  int32_t buildCopy(int32_t from, int32_t out, const TensorType& type);
  void finishKernel(Kernel k);
  void emitStores();

  // Loop-kernel construction state.
  struct LoopState {
    Kernel k;
    std::vector<int> outToSpace;  // root dim -> space dim (-1: extent-1 dim)
    std::vector<int> inToSpace;   // reduction input dim -> space dim
  };
  int32_t root(LoopState& s, ValueId v);
  int32_t leaf(LoopState& s, ValueId v, const std::vector<int>& axisOf);
  int32_t read(LoopState& s, int32_t buffer, const Dims& dims, const std::vector<int>& axisOf);
  std::vector<int> broadcastAxes(const Dims& from, const Dims& to, const std::vector<int>& axisOf) const;
  std::string bufferName(ValueId v) const;

  const Module& m_;
  const Function& fn_;
  KProgram& p_;
  int32_t index_;
  std::map<std::string, int32_t>& inputBuffers_;
  const std::vector<int32_t>& globalBuffers_;
  std::vector<int> uses_;
  std::vector<int32_t> buffer_;
  KFunction out_;
};

std::string FunctionBuilder::bufferName(ValueId v) const {
  const Node& n = node(v);
  return fmt::format("{}.{}", fn_.name, n.name.empty() ? fmt::format("%{}", v) : n.name);
}

int32_t FunctionBuilder::newBuffer(const std::string& name, BufferRole role, const TensorType& type) {
  Buffer b;
  b.name = name;
  b.role = role;
  b.type = type;
  b.bytesAtMax = bytesAt(type, p_.maxBatch);
  b.storage = static_cast<int32_t>(p_.buffers.size());
  b.function = index_;
  p_.buffers.push_back(b);
  return b.storage;
}

// How many ops read each value. numel reads only its operand's shape (it is an immediate): not a
// use that needs the value's elements.
void FunctionBuilder::countUses() {
  uses_.assign(fn_.nodes.size(), 0);
  for (const Node& nd : fn_.nodes)
    if (roleOf(nd) != Role::Count)
      for (ValueId v : nd.operands) ++uses_[v];
  for (const auto& [name, v] : fn_.results) ++uses_[v];
}

// A view chain ending in a constant or numel is an immediate: every element has its value.
ValueId FunctionBuilder::constBase(ValueId v) const {
  while (role(v) == Role::View) v = node(v).operands[0];
  return role(v) == Role::Const || role(v) == Role::Count ? v : kNoValue;
}

// Numpy broadcasting, right-aligned: an extent-1 dim of `from` against a larger one stays at 0.
std::vector<int> FunctionBuilder::broadcastAxes(const Dims& from, const Dims& to, const std::vector<int>& axisOf) const {
  std::vector<int> out(from.size(), -1);
  const size_t lead = to.size() - from.size();
  for (size_t k = 0; k < from.size(); ++k) out[k] = (from[k] == 1 && to[lead + k] != 1) ? -1 : axisOf[lead + k];
  return out;
}

int32_t FunctionBuilder::read(LoopState& s, int32_t buffer, const Dims& dims, const std::vector<int>& axisOf) {
  Expr e;
  e.kind = ExprKind::Read;
  e.dtype = p_.buffers[buffer].type.dtype;
  e.arg = argIndex(s.k, buffer);
  e.strides.assign(s.k.space.size(), Lin{});
  const std::vector<Lin> cs = contiguousStrides(dims);
  for (size_t k = 0; k < dims.size(); ++k)
    if (axisOf[k] >= 0) {
      Lin& st = e.strides[axisOf[k]];
      st = {st.perBatch + cs[k].perBatch, st.constant + cs[k].constant};
    }
  s.k.exprs.push_back(std::move(e));
  return static_cast<int32_t>(s.k.exprs.size() - 1);
}

// A value the kernel reads rather than computes: views become index maps, immediates inline.
int32_t FunctionBuilder::leaf(LoopState& s, ValueId v, const std::vector<int>& axisOf) {
  if (ValueId c = constBase(v); c != kNoValue) {
    Expr e;
    e.dtype = node(v).type.dtype;
    if (role(c) == Role::Const) {
      e.kind = ExprKind::Const;
      e.value = node(c).attrs.f("value");
    } else {
      e.kind = ExprKind::Count;
      Lin count{0, 1};
      for (int64_t a : node(c).attrs.ints("axes")) count = mul(count, dimLin(node(node(c).operands[0]).type.dims[a]));
      e.count = count;
    }
    s.k.exprs.push_back(std::move(e));
    return static_cast<int32_t>(s.k.exprs.size() - 1);
  }
  const Node& n = node(v);
  if (role(v) == Role::View && viewKind(n.op) != ViewKind::Reshape) {
    const Node& u = node(n.operands[0]);
    if (viewKind(n.op) == ViewKind::Broadcast) return leaf(s, n.operands[0], broadcastAxes(u.type.dims, n.type.dims, axisOf));
    const auto& perm = n.attrs.ints("perm");
    std::vector<int> inner(perm.size(), -1);
    for (size_t k = 0; k < perm.size(); ++k) inner[perm[k]] = axisOf[k];
    return leaf(s, n.operands[0], inner);
  }
  return read(s, materialize(v), n.type.dims, axisOf);
}

// The kernel's root: v's op over its operands, read from memory (or immediates and views of them).
int32_t FunctionBuilder::root(LoopState& s, ValueId v) {
  const Node& n = node(v);
  if (role(v) == Role::Reduction) {
    s.k.reduceOp = n.op;
    s.k.reduceRoot = leaf(s, n.operands[0], s.inToSpace);
    s.k.ops.push_back(n.op);
    Expr acc;
    acc.kind = ExprKind::Acc;
    s.k.exprs.push_back(acc);
    return static_cast<int32_t>(s.k.exprs.size() - 1);
  }
  Expr e;
  e.kind = ExprKind::Op;
  e.op = n.op;
  e.attrs = n.attrs;
  e.dtype = n.type.dtype;
  for (ValueId u : n.operands) e.operands.push_back(leaf(s, u, broadcastAxes(node(u).type.dims, n.type.dims, s.outToSpace)));
  s.k.ops.push_back(n.op);
  s.k.exprs.push_back(std::move(e));
  return static_cast<int32_t>(s.k.exprs.size() - 1);
}

// A loop kernel computing `value` into buffer `out`.
int32_t FunctionBuilder::buildLoop(ValueId value, int32_t out) {
  LoopState s;
  s.k.kind = KernelKind::Loop;
  s.k.args.push_back(out);
  const Dims& dims = node(value).type.dims;
  const ValueId red = role(value) == Role::Reduction ? value : kNoValue;
  if (red == kNoValue) {
    for (int64_t d : dims) s.k.space.push_back(dimLin(d));
    s.k.numKept = static_cast<int32_t>(dims.size());
    for (size_t k = 0; k < dims.size(); ++k) s.outToSpace.push_back(static_cast<int>(k));
  } else {
    const Node& r = node(red);
    const Dims& in = node(r.operands[0]).type.dims;
    const auto& axes = r.attrs.ints("axes");
    const bool keep = r.attrs.b("keepdims");
    auto reduced = [&](size_t k) { return std::find(axes.begin(), axes.end(), static_cast<int64_t>(k)) != axes.end(); };
    s.inToSpace.assign(in.size(), -1);
    for (size_t k = 0; k < in.size(); ++k)
      if (!reduced(k)) { s.inToSpace[k] = static_cast<int>(s.k.space.size()); s.k.space.push_back(dimLin(in[k])); }
    s.k.numKept = static_cast<int32_t>(s.k.space.size());
    for (size_t k = 0; k < in.size(); ++k)
      if (reduced(k)) { s.inToSpace[k] = static_cast<int>(s.k.space.size()); s.k.space.push_back(dimLin(in[k])); }
    int kept = 0;
    for (size_t k = 0; k < in.size(); ++k) {
      if (reduced(k)) { if (keep) s.outToSpace.push_back(-1); }
      else s.outToSpace.push_back(kept++);
    }
  }
  const std::vector<Lin> cs = contiguousStrides(dims);
  s.k.outStrides.assign(s.k.numKept, Lin{});
  for (size_t k = 0; k < dims.size(); ++k)
    if (s.outToSpace[k] >= 0) s.k.outStrides[s.outToSpace[k]] = cs[k];
  if (role(value) == Role::Pointwise || role(value) == Role::Reduction) {
    s.k.root = root(s, value);
  } else if (constBase(value) != kNoValue) {
    s.k.root = leaf(s, value, s.outToSpace);
  } else {
    // A view (broadcast, transpose) materialized by a copy.
    const Node& n = node(value);
    std::vector<int> axisOf = s.outToSpace;
    if (viewKind(n.op) == ViewKind::Broadcast) {
      axisOf = broadcastAxes(node(n.operands[0]).type.dims, dims, axisOf);
    } else {
      const auto& perm = n.attrs.ints("perm");
      axisOf.assign(perm.size(), -1);
      for (size_t k = 0; k < perm.size(); ++k) axisOf[perm[k]] = s.outToSpace[k];
    }
    s.k.root = leaf(s, n.operands[0], axisOf);
    s.k.ops.push_back(n.op);
  }
  if (s.k.ops.empty()) s.k.ops.push_back(node(value).op);
  finishKernel(std::move(s.k));
  return out;
}

int32_t FunctionBuilder::buildCopy(int32_t from, int32_t out, const TensorType& type) {
  finishKernel(copyLoop(from, out, type, OpKind::Store));
  return out;
}

void FunctionBuilder::finishKernel(Kernel k) {
  k.name = kernelName(fn_.name, out_.kernels.size(), k.ops);
  out_.kernels.push_back(std::move(k));
}

int32_t FunctionBuilder::materialize(ValueId v) {
  if (buffer_[v] >= 0) return buffer_[v];
  const Node& n = node(v);
  int32_t b = -1;
  switch (role(v)) {
    case Role::Input: {
      const std::string& name = n.attrs.s("name");
      auto it = inputBuffers_.find(name);
      if (it == inputBuffers_.end()) {
        b = newBuffer(name, BufferRole::Input, n.type);
        p_.buffers[b].function = -1;
        inputBuffers_[name] = b;
      } else {
        b = it->second;
      }
      break;
    }
    case Role::Load: {
      const std::string& name = n.attrs.s("global");
      for (size_t g = 0; g < m_.globals.size(); ++g)
        if (m_.globals[g].name == name) b = globalBuffers_[g];
      break;
    }
    case Role::View:
      if (viewKind(n.op) == ViewKind::Reshape && constBase(v) == kNoValue) {
        // Same bytes, another shape: an alias of the operand's storage.
        const int32_t base = materialize(n.operands[0]);
        b = newBuffer(bufferName(v), p_.buffers[base].role == BufferRole::Output ? BufferRole::Temp : p_.buffers[base].role,
                      n.type);
        p_.buffers[b].storage = storageOf(base);
        p_.buffers[b].persistent = p_.buffers[base].persistent;
        p_.buffers[b].global = p_.buffers[base].global;
        break;
      }
      [[fallthrough]];
    case Role::Const:
    case Role::Count:
    case Role::Pointwise:
    case Role::Reduction:
      b = buildLoop(v, newBuffer(bufferName(v), BufferRole::Temp, n.type));
      break;
    case Role::Single: {
      Kernel k;
      k.kind = KernelKind::Op;
      k.op = n.op;
      k.attrs = n.attrs;
      k.resultType = n.type;
      std::vector<int32_t> operands;
      for (ValueId u : n.operands) {
        operands.push_back(materialize(u));
        k.operandTypes.push_back(node(u).type);
      }
      b = newBuffer(bufferName(v), BufferRole::Temp, n.type);
      k.args.push_back(b);
      for (int32_t u : operands) k.args.push_back(u);  // duplicates stay: the kernel sees operands by position
      k.ops.push_back(n.op);
      finishKernel(std::move(k));
      break;
    }
    case Role::Store: break;
  }
  buffer_[v] = b;
  return b;
}

// Each store copies its value into the global after every other kernel; the place-stores pass
// (codegen/place_stores.cpp) turns the copies it can prove unneeded into in-place writes.
void FunctionBuilder::emitStores() {
  for (const Node& n : fn_.nodes) {
    if (n.op != OpKind::Store) continue;
    size_t gi = 0;
    while (gi + 1 < m_.globals.size() && m_.globals[gi].name != n.attrs.s("global")) ++gi;
    buildCopy(materialize(n.operands[0]), globalBuffers_[gi], node(n.operands[0]).type);
  }
}

Expected<KFunction> FunctionBuilder::build() {
  out_.name = fn_.name;
  countUses();
  buffer_.assign(fn_.nodes.size(), -1);
  for (ValueId v : fn_.inputs()) out_.inputs.push_back(materialize(v));
  for (size_t i = 0; i < fn_.nodes.size(); ++i) {
    const auto v = static_cast<ValueId>(i);
    const Role r = role(v);
    if (fn_.nodes[i].op == OpKind::Dropout || fn_.nodes[i].op == OpKind::BatchNorm)
      return Error(fn_.nodes[i].loc, fmt::format("'{}' must be specialized by the training-step pass before codegen",
                                                 mnemonic(fn_.nodes[i].op)));
    // A loop value that only numel reads (uses_ leaves those out) needs no kernel: its shape is
    // an immediate.
    const bool loopValue = (r == Role::Pointwise || r == Role::Reduction) && uses_[v] > 0;
    if (loopValue || r == Role::Single) materialize(v);
  }
  for (const auto& [name, v] : fn_.results) {
    int32_t b = materialize(v);
    Buffer& buf = p_.buffers[b];
    const Buffer& root = p_.buffers[buf.storage];
    if (root.function == index_ && root.role != BufferRole::Input && !root.persistent && buf.role != BufferRole::Output) {
      buf.role = BufferRole::Output;
      buf.name = fmt::format("{}.{}", fn_.name, name);
    } else {
      b = buildCopy(b, newBuffer(fmt::format("{}.{}", fn_.name, name), BufferRole::Output, node(v).type), node(v).type);
    }
    out_.results.emplace_back(name, b);
  }
  emitStores();
  return std::move(out_);
}

}  // namespace

// Intervals of one function's work storages: [first kernel, last kernel] over every buffer that
// shares the storage; results live to the end.
std::map<int32_t, std::pair<int, int>> liveRanges(const KProgram& p, const KFunction& f, int32_t fi) {
  std::map<int32_t, std::pair<int, int>> live;
  const int n = static_cast<int>(f.kernels.size());
  auto touch = [&](int32_t b, int k) {
    const int32_t s = p.buffers[b].storage;
    const Buffer& sb = p.buffers[s];
    if (sb.persistent || sb.role == BufferRole::Input || sb.function != fi) return;
    auto [it, fresh] = live.try_emplace(s, k, k);
    if (!fresh) { it->second.first = std::min(it->second.first, k); it->second.second = std::max(it->second.second, k); }
  };
  for (int k = 0; k < n; ++k)
    for (int32_t b : f.kernels[k].args) touch(b, k);
  for (const auto& [name, b] : f.results) {
    touch(b, n);
    const int32_t s = p.buffers[b].storage;
    if (live.count(s)) live[s].second = n;
  }
  return live;
}

std::vector<LoopOutput> loopOutputs(const Kernel& k) {
  std::vector<LoopOutput> outs{LoopOutput{0, k.root, k.reduceRoot, k.reduceOp, k.outStrides}};
  outs.insert(outs.end(), k.moreOutputs.begin(), k.moreOutputs.end());
  return outs;
}

bool writesArg(const Kernel& k, size_t argIndex) {
  return argIndex == 0 || std::any_of(k.moreOutputs.begin(), k.moreOutputs.end(),
                                      [&](const LoopOutput& o) { return static_cast<size_t>(o.arg) == argIndex; });
}

Lin dimLin(int64_t dim) { return dim == kBatch ? Lin{1, 0} : Lin{0, dim}; }

std::string formatLin(const Lin& l) {
  if (l.perBatch == 0) return std::to_string(l.constant);
  std::string b = l.perBatch == 1 ? "B" : fmt::format("{}*B", l.perBatch);
  return l.constant ? fmt::format("{}+{}", b, l.constant) : b;
}

ViewKind viewKind(OpKind op) {
  // The Injective ops that are pure index maps of one operand; the others move data in ways a
  // loop kernel's strided read cannot express and get kernels of their own.
  static const std::pair<OpKind, ViewKind> kViews[] = {
      {OpKind::Reshape, ViewKind::Reshape}, {OpKind::Broadcast, ViewKind::Broadcast}, {OpKind::Transpose, ViewKind::Transpose}};
  for (const auto& [o, v] : kViews)
    if (o == op) return v;
  return ViewKind::None;
}

Expected<KProgram> lowerToKernels(const Module& m, int64_t maxBatch) {
  if (Status s = verifyModule(m); !s) return s.error();
  if (maxBatch < 1) return Error("the maximum batch size must be at least 1");
  KProgram p;
  p.model = m.name;
  p.maxBatch = maxBatch;
  // Globals first, in module order (plan-memory lays the state arena out in this order).
  std::vector<int32_t> globalBuffers;
  for (size_t g = 0; g < m.globals.size(); ++g) {
    const Global& gl = m.globals[g];
    Buffer b;
    b.name = gl.name;
    b.role = gl.kind == GlobalKind::Param ? BufferRole::Param : BufferRole::State;
    b.type = gl.type;
    b.persistent = true;
    b.bytesAtMax = bytesAt(gl.type, maxBatch);
    b.storage = static_cast<int32_t>(p.buffers.size());
    b.global = static_cast<int32_t>(g);
    globalBuffers.push_back(b.storage);
    p.buffers.push_back(b);
  }
  std::map<std::string, int32_t> inputs;
  const bool hasEval = m.function("eval") != nullptr;
  for (const Function& fn : m.functions) {
    if (hasEval && fn.name == "forward") continue;
    FunctionBuilder fb(m, fn, p, static_cast<int32_t>(p.functions.size()), inputs, globalBuffers);
    Expected<KFunction> f = fb.build();
    if (!f) return f.error();
    p.functions.push_back(f.take());
  }
  return p;
}

Kernel copyLoop(int32_t from, int32_t to, const TensorType& type, OpKind op) {
  Kernel k;
  k.kind = KernelKind::Loop;
  k.args = {to, from};
  for (int64_t d : type.dims) k.space.push_back(dimLin(d));
  k.numKept = static_cast<int32_t>(k.space.size());
  k.outStrides = contiguousStrides(type.dims);
  k.exprs.push_back(Expr{.kind = ExprKind::Read, .dtype = type.dtype, .arg = 1, .strides = k.outStrides});
  k.root = 0;
  k.ops = {op};
  return k;
}

bool isStoreCopy(const Kernel& k) { return k.kind == KernelKind::Loop && k.ops == std::vector<OpKind>{OpKind::Store}; }

int32_t argIndex(Kernel& k, int32_t buffer) {
  for (size_t i = 0; i < k.args.size(); ++i)
    if (k.args[i] == buffer) return static_cast<int32_t>(i);
  k.args.push_back(buffer);
  return static_cast<int32_t>(k.args.size() - 1);
}

void removeArg(Kernel& k, int32_t arg) {
  k.args.erase(k.args.begin() + arg);
  for (Expr& e : k.exprs)
    if (e.kind == ExprKind::Read && e.arg > arg) --e.arg;
  for (LoopOutput& o : k.moreOutputs)
    if (o.arg > arg) --o.arg;
}

// Buffers that no kernel, function or alias refers to any more are removed, and every index into
// the buffer table renumbered.
void dropUnusedBuffers(KProgram& p) {
  std::vector<bool> used(p.buffers.size(), false);
  for (const Buffer& b : p.buffers)
    if (b.persistent || b.role != BufferRole::Temp) used[static_cast<size_t>(&b - p.buffers.data())] = true;
  for (const KFunction& f : p.functions) {
    for (const Kernel& k : f.kernels)
      for (int32_t b : k.args) used[b] = true;
    for (int32_t b : f.inputs) used[b] = true;
    for (const auto& [name, b] : f.results) used[b] = true;
  }
  for (size_t b = 0; b < p.buffers.size(); ++b)
    if (used[b]) used[p.buffers[b].storage] = true;
  std::vector<int32_t> at(p.buffers.size(), -1);
  std::vector<Buffer> kept;
  for (size_t b = 0; b < p.buffers.size(); ++b)
    if (used[b]) {
      at[b] = static_cast<int32_t>(kept.size());
      kept.push_back(p.buffers[b]);
    }
  for (Buffer& b : kept) b.storage = at[b.storage];
  p.buffers = std::move(kept);
  for (KFunction& f : p.functions) {
    for (Kernel& k : f.kernels)
      for (int32_t& b : k.args) b = at[b];
    for (int32_t& b : f.inputs) b = at[b];
    for (auto& [name, b] : f.results) b = at[b];
  }
}

Access accessOf(const KProgram& p, const Kernel& k) {
  Access a;
  for (size_t i = 0; i < k.args.size(); ++i) {
    const int32_t s = p.buffers[k.args[i]].storage;
    if (writesArg(k, i)) a.writes.insert(s);
    else if (k.kind != KernelKind::Loop) a.reads.insert(s);
  }
  if (k.kind == KernelKind::Loop)
    for (const Expr& e : k.exprs)
      if (e.kind == ExprKind::Read) a.reads.insert(p.buffers[k.args[e.arg]].storage);
  return a;
}

bool meets(const std::set<int32_t>& x, const std::set<int32_t>& y) {
  return std::any_of(x.begin(), x.end(), [&](int32_t s) { return y.count(s) > 0; });
}

bool commutesWithBetween(const KProgram& p, const KFunction& f, size_t k, size_t i, size_t j) {
  const Access ak = accessOf(p, f.kernels[k]);
  for (size_t x = std::min(i, j) + 1; x < std::max(i, j); ++x) {
    const Access ax = accessOf(p, f.kernels[x]);
    if (meets(ax.writes, ak.reads) || meets(ax.writes, ak.writes) || meets(ax.reads, ak.writes)) return false;
  }
  return true;
}

void renameKernels(KFunction& f) {
  for (size_t k = 0; k < f.kernels.size(); ++k) f.kernels[k].name = kernelName(f.name, k, f.kernels[k].ops);
}

std::string kernelName(const std::string& function, size_t index, const std::vector<OpKind>& ops) {
  std::string suffix;
  for (OpKind op : ops) suffix += "_" + std::string(mnemonic(op));
  if (suffix.size() > 40) suffix = suffix.substr(0, 40);
  std::string name = fmt::format("{}_k{}{}", function, index, suffix);
  for (char& c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) c = '_';
  return name;
}

Status verifyMemoryPlan(const KProgram& p) {
  for (const Buffer& b : p.buffers) {
    // A group's members (concat-loops) are aligned to their elements only.
    const bool owner = b.storage == static_cast<int32_t>(&b - p.buffers.data());
    const int64_t align = owner || b.storageOffset == 0 ? kAlign : dtypeSize(b.type.dtype);
    if (b.offset % align) return Error(fmt::format("buffer '{}' at offset {} is not {}-byte aligned", b.name, b.offset, align));
    const Buffer& s = p.buffers[b.storage];
    if (b.storageOffset + b.bytesAtMax > s.bytesAtMax) return Error(fmt::format("alias '{}' ends past its storage '{}'", b.name, s.name));
    if (b.offset != s.offset + b.storageOffset) return Error(fmt::format("alias '{}' is not where its storage '{}' puts it", b.name, s.name));
    if (b.offset + b.bytesAtMax > (b.persistent ? p.stateBytes : p.workBytes))
      return Error(fmt::format("buffer '{}' ends past its arena", b.name));
  }
  if (p.workBytes > p.unplannedBytes) return Error("the work arena is larger than the sum of its buffers");
  for (size_t fi = 0; fi < p.functions.size(); ++fi) {
    auto live = liveRanges(p, p.functions[fi], static_cast<int32_t>(fi));
    std::vector<int32_t> all;
    for (const Buffer& b : p.buffers)
      if (!b.persistent && b.storage == static_cast<int32_t>(&b - p.buffers.data()) && b.role == BufferRole::Input)
        all.push_back(b.storage);
    for (const auto& [s, r] : live) all.push_back(s);
    for (size_t i = 0; i < all.size(); ++i)
      for (size_t j = i + 1; j < all.size(); ++j) {
        const Buffer &a = p.buffers[all[i]], &b = p.buffers[all[j]];
        const bool bothLive = live.count(all[i]) && live.count(all[j])
                                  ? live[all[i]].first <= live[all[j]].second && live[all[j]].first <= live[all[i]].second
                                  : true;
        if (bothLive && a.offset < b.offset + b.bytesAtMax && b.offset < a.offset + a.bytesAtMax)
          return Error(fmt::format("@{}: live buffers '{}' and '{}' overlap", p.functions[fi].name, a.name, b.name));
      }
  }
  return ok();
}

const char* layoutName(Layout l) { return l == Layout::NChw16c ? "nChw16c" : ""; }

std::string printKernels(const KProgram& p) {
  static const char* const kRoles[] = {"input", "output", "param", "state", "temp", "constant"};
  std::string out = fmt::format("kernels @{} max_batch={}\n", p.model, p.maxBatch);
  for (size_t i = 0; i < p.buffers.size(); ++i) {
    const Buffer& b = p.buffers[i];
    std::string alias = b.storage != static_cast<int32_t>(i) ? fmt::format(" alias of %{}", b.storage) : "";
    if (b.storageOffset) alias += fmt::format("+{}", b.storageOffset);
    std::string layout = b.layout == Layout::Plain ? "" : fmt::format(" {}", layoutName(b.layout));
    if (b.space == MemorySpace::Device) layout += " device";
    out += fmt::format("  %{} {} : {}{} {} {} @{} ({} bytes){}\n", i, b.name, formatType(b.type), layout, kRoles[static_cast<int>(b.role)],
                       b.persistent ? "state" : "work", b.offset, b.bytesAtMax, alias);
  }
  for (const KFunction& f : p.functions) {
    std::string ins;
    for (int32_t b : f.inputs) ins += fmt::format("{}%{}", ins.empty() ? "" : ", ", b);
    out += fmt::format("func @{}({}) {{\n", f.name, ins);
    for (const Kernel& k : f.kernels) {
      std::string ops, args, outs;
      for (OpKind op : k.ops) ops += fmt::format("{}{}", ops.empty() ? "" : " ", mnemonic(op));
      for (size_t a = 0; a < k.args.size(); ++a) {
        std::string& list = writesArg(k, a) ? outs : args;
        list += fmt::format("{}%{}", list.empty() ? "" : ", ", k.args[a]);
      }
      std::string shape;
      if (k.kind == KernelKind::Loop) {
        std::string dims;
        for (size_t d = 0; d < k.space.size(); ++d)
          dims += fmt::format("{}{}{}{}", d ? "," : "", static_cast<int>(d) >= k.numKept ? "r:" : "",
                              k.innerKept && static_cast<int>(d) + 1 == k.numKept ? "i:" : "", formatLin(k.space[d]));
        shape = fmt::format("loop[{}]", dims);
      } else if (k.kind == KernelKind::Library) {
        shape = "library " + k.library;
      } else {
        shape = "op";
      }
      out += fmt::format("  {} {}: {} ({} <- {}){}\n", k.name, shape, ops, outs, args, k.outputAliasesArg ? " in-place" : "");
    }
    std::string res;
    for (const auto& [name, b] : f.results) res += fmt::format("{}{}=%{}", res.empty() ? "" : ", ", name, b);
    out += fmt::format("  return {}\n}}\n", res);
    // This function's share of the work arena: the inputs and its own temps.
    int64_t peak = 0, sum = 0;
    const auto fi = static_cast<int32_t>(&f - p.functions.data());
    for (size_t i = 0; i < p.buffers.size(); ++i) {
      const Buffer& b = p.buffers[i];
      if (b.persistent || b.storage != static_cast<int32_t>(i) || (b.function != fi && b.role != BufferRole::Input)) continue;
      peak = std::max(peak, b.offset + alignUp(b.bytesAtMax));
      sum += alignUp(b.bytesAtMax);
    }
    out += fmt::format("// @{}: arena {} bytes (sum of buffers {} bytes)\n", f.name, peak, sum);
  }
  out += fmt::format("state {} bytes\n", p.stateBytes);
  out += fmt::format("arena {} bytes (sum of buffers {} bytes)\n", p.workBytes, p.unplannedBytes);
  return out;
}

}  // namespace sinter::kir
