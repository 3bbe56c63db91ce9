// The plan runner: arenas, initial state, and kernel calls split over the thread pool.
#include "runtime/program.h"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <chrono>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numbers>

#include "runtime/thread_pool.h"
#include "support/philox.h"

namespace sinter {

namespace {

void* allocateArena(int64_t bytes) {
  const auto size = static_cast<size_t>((std::max<int64_t>(bytes, 1) + 63) / 64 * 64);
  void* p = std::aligned_alloc(64, size);
  if (!p) throw std::bad_alloc();
  std::memset(p, 0, size);
  return p;
}

struct Slices {
  KernelFn fn;
  void* const* bufs;
  int64_t batch, extent, count;
};

void runSlice(void* context, int64_t i) {
  const auto& s = *static_cast<const Slices*>(context);
  s.fn(s.bufs, s.batch, s.extent * i / s.count, s.extent * (i + 1) / s.count);
}

}  // namespace

Program::Program(const PlanTable& table, int threads, uint64_t seed)
    : Program(table, std::make_unique<ThreadPool>(threads), {}, seed) {}

Program::Program(const PlanTable& table, std::unique_ptr<Workers> workers, LibraryKernels library, uint64_t seed)
    : table_(table), pool_(std::move(workers)), library_(std::move(library)) {
  size_t calls = 0;
  for (int32_t f = 0; f < table.numFunctions; ++f) calls += static_cast<size_t>(table.functions[f].numCalls);
  library_.resize(calls);
  state_ = allocateArena(table.stateBytes);
  work_ = allocateArena(table.workBytes);
  for (int32_t f = 0; f < table.numFunctions; ++f) {
    callBase_.push_back(argStart_.size());
    const PlanFunction& fn = table.functions[f];
    for (int32_t c = 0; c < fn.numCalls; ++c) {
      const size_t index = argStart_.size();
      if (fn.calls[c].library && *fn.calls[c].library && !library_[index]) {
        std::fprintf(stderr, "sinter: internal error: no library kernel for call '%s'\n", fn.calls[c].name);
        std::abort();
      }
      argStart_.push_back(argPtrs_.size());
      for (int32_t a = 0; a < fn.calls[c].numArgs; ++a) argPtrs_.push_back(data(table.buffers[fn.calls[c].args[a]]));
    }
  }
  initializeState(*this, seed);
}

Program::~Program() {
  std::free(state_);
  std::free(work_);
}

void* Program::data(const PlanBuffer& b) { return static_cast<char*>(b.persistent ? state_ : work_) + b.offset; }

int Program::threads() const { return pool_->size(); }

// Generated kernels need nothing per batch size; library kernels build their primitives.
Status Program::prepare(int64_t batch) {
  if (batch < 1 || batch > table_.maxBatch)
    return Error(fmt::format("batch size {} is outside [1, {}] (the compiled maximum)", batch, table_.maxBatch));
  if (batch == preparedBatch_) return ok();
  for (const auto& k : library_)
    if (k)
      if (Status s = k->prepare(batch); !s) return s;
  preparedBatch_ = batch;
  return ok();
}

std::vector<std::string> Program::libraryCalls() const {
  std::vector<std::string> out;
  for (const auto& k : library_)
    if (k) out.push_back(k->describe());
  return out;
}

// Row-major element (n, c, h, w) of a blocked [N, C, H, W] buffer sits at
// (((n * C/16 + c/16) * H + h) * W + w) * 16 + c % 16; f(row-major index, blocked index).
template <typename F>
static void forEachBlocked(const PlanBuffer& b, int64_t batch, F f) {
  const int64_t n = b.dims[0] == kPlanBatch ? batch : b.dims[0], c = b.dims[1], hw = b.dims[2] * b.dims[3];
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t s = 0; s < hw; ++s) f((i * c + ch) * hw + s, ((i * (c / 16) + ch / 16) * hw + s) * 16 + ch % 16);
}

static bool isBlocked(const PlanBuffer& b) { return b.layout && *b.layout; }

void Program::read(const PlanBuffer& b, int64_t batch, std::span<std::byte> bytes) {
  checkTransfer(b, batch, bytes.size());
  if (!isBlocked(b)) return (void)std::memcpy(bytes.data(), data(b), bytes.size());
  const auto* from = static_cast<const std::byte*>(data(b));
  forEachBlocked(b, batch, [&](int64_t plain, int64_t blocked) { std::memcpy(&bytes[static_cast<size_t>(plain) * 4], from + blocked * 4, 4); });
}

void Program::write(const PlanBuffer& b, int64_t batch, std::span<const std::byte> bytes) {
  checkTransfer(b, batch, bytes.size());
  if (!isBlocked(b)) return (void)std::memcpy(data(b), bytes.data(), bytes.size());
  auto* to = static_cast<std::byte*>(data(b));
  forEachBlocked(b, batch, [&](int64_t plain, int64_t blocked) { std::memcpy(to + blocked * 4, &bytes[static_cast<size_t>(plain) * 4], 4); });
}

Expected<int32_t> Program::functionIndex(std::string_view name, int64_t batch) {
  int32_t f = 0;
  while (f < table_.numFunctions && name != table_.functions[f].name) ++f;
  if (f == table_.numFunctions) return Error(fmt::format("the plan for model '{}' has no function '{}'", table_.model, name));
  if (Status s = prepare(batch); !s) return s.error();
  return f;
}

// One call of function f at `batch`, split across the workers as its grain allows.
void Program::runCall(int32_t f, int32_t c, int64_t batch) {
  const PlanCall& call = table_.functions[f].calls[c];
  const int64_t extent = call.extentPerBatch * batch + call.extentConst;
  if (extent <= 0) return;
  const size_t index = callBase_[f] + static_cast<size_t>(c);
  void* const* bufs = &argPtrs_[argStart_[index]];
  if (library_[index]) return library_[index]->run(bufs, batch);
  const int64_t slices = std::min<int64_t>(pool_->size(), std::max<int64_t>(1, extent / std::max<int64_t>(call.grain, 1)));
  if (slices <= 1) return call.fn(bufs, batch, 0, extent);
  Slices s{call.fn, bufs, batch, extent, slices};
  pool_->run(slices, runSlice, &s);
}

Status Program::profile(std::string_view name, int64_t batch, std::vector<double>& seconds) {
  Expected<int32_t> f = functionIndex(name, batch);
  if (!f) return f.error();
  const PlanFunction& fn = table_.functions[*f];
  seconds.resize(static_cast<size_t>(fn.numCalls), 0.0);
  for (int32_t c = 0; c < fn.numCalls; ++c) {
    const auto start = std::chrono::steady_clock::now();
    runCall(*f, c, batch);
    seconds[static_cast<size_t>(c)] += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  return ok();
}

Status Program::run(std::string_view name, int64_t batch) {
  Expected<int32_t> index = functionIndex(name, batch);
  if (!index) return index.error();
  for (int32_t c = 0; c < table_.functions[*index].numCalls; ++c) runCall(*index, c, batch);
  return ok();
}

// Exactly codegen/ref's initGlobals: element j of global g draws Philox4x32-10 with counter
// (j mod 2^32, g, j / 2^32, 0) and key (seed mod 2^32, seed / 2^32), computed in double and rounded
// to float (i32 buffers: to the nearest integer).
void initializeState(Executor& executor, uint64_t seed) {
  const PlanTable& t = executor.table();
  const std::array<uint32_t, 2> key = {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)};
  for (int32_t i = 0; i < t.numBuffers; ++i) {
    const PlanBuffer& b = t.buffers[i];
    if (!b.persistent || !isGlobalStorage(b)) continue;
    const std::string_view kind = b.init;
    const auto index = static_cast<uint32_t>(b.initStream);
    const int64_t n = Executor::elements(b, 1);
    std::vector<float> f32(b.type == BufferType::F32 ? static_cast<size_t>(n) : 0);
    std::vector<int32_t> i32(b.type == BufferType::I32 ? static_cast<size_t>(n) : 0);
    for (int64_t j = 0; j < n; ++j) {
      auto draw = [&] {
        return philox4x32_10({static_cast<uint32_t>(j), index, static_cast<uint32_t>(static_cast<uint64_t>(j) >> 32), 0}, key);
      };
      double v;
      if (kind == "zeros") {
        v = 0;
      } else if (kind == "ones") {
        v = 1;
      } else if (kind == "constant") {
        v = b.initA;
      } else if (kind == "uniform") {
        v = b.initA + (b.initB - b.initA) * static_cast<double>(uniformFromBits(draw()[0]));
      } else if (kind == "normal") {
        const auto r = draw();
        const double u1 = 1.0 - static_cast<double>(uniformFromBits(r[0]));
        const double u2 = static_cast<double>(uniformFromBits(r[1]));
        v = b.initA + b.initB * (std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2));
      } else {
        v = std::nan("");
      }
      if (b.type == BufferType::I32) i32[static_cast<size_t>(j)] = static_cast<int32_t>(std::nearbyint(v));
      else f32[static_cast<size_t>(j)] = static_cast<float>(v);
    }
    if (b.type == BufferType::I32) executor.writeFrom<int32_t>(b, 1, i32);
    else executor.writeFrom<float>(b, 1, f32);
  }
}

}  // namespace sinter
