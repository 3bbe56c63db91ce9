// The cuda executor (see executor.h).
#include "runtime/cuda/executor.h"

#include <fmt/format.h>

#include <chrono>
#include <cstring>
#include <map>

#include "runtime/cuda/driver.h"
#include "runtime/cuda/library.h"
#include "runtime/program.h"

namespace sinter::cuda {

namespace {

// Threads per block of a generated kernel: grid thread t computes index t of the call's extent.
constexpr unsigned kBlock = 256;

class DeviceProgram final : public Executor {
 public:
  DeviceProgram(const PlanTable& table, const Driver& d) : table_(table), d_(d) {}
  ~DeviceProgram() override;

  Status init(uint64_t seed);
  const PlanTable& table() const override { return table_; }
  int threads() const override { return 1; }
  Status prepare(int64_t batch) override;
  Status run(std::string_view name, int64_t batch) override;
  Status profile(std::string_view name, int64_t batch, std::vector<double>& seconds) override;
  void read(const PlanBuffer& b, int64_t batch, std::span<std::byte> bytes) override;
  void write(const PlanBuffer& b, int64_t batch, std::span<const std::byte> bytes) override;
  std::vector<std::string> libraryCalls() const override;

 private:
  struct Call {
    CUfunction fn = nullptr;             // a generated kernel
    std::unique_ptr<LibraryKernel> lib;  // or a library call
    CUdeviceptr bufs = 0;                // its argument addresses, in device memory (kernel parameter)
    std::vector<void*> args;             // the same on the host (library calls)
  };
  CUdeviceptr address(const PlanBuffer& b) const { return (b.persistent ? state_ : work_) + static_cast<CUdeviceptr>(b.offset); }
  Expected<int32_t> functionIndex(std::string_view name, int64_t batch) const;
  // Queues call c of function f on the stream.
  Status enqueue(int32_t f, int32_t c, int64_t batch);
  Status sync() const { return d_.check(d_.cuStreamSynchronize(stream_), "cuStreamSynchronize"); }
  // A failed transfer leaves the executor's state unknown: stop with the driver's message.
  void mustSucceed(const Status& s) const;
  // An input's two pinned staging buffers, used in turn, and the event after each one's last copy.
  struct Staging {
    void* host[2] = {nullptr, nullptr};
    CUevent copied[2] = {nullptr, nullptr};
    int next = 0;
  };
  Status stageInputs();

  const PlanTable& table_;
  const Driver& d_;
  CUdevice device_ = 0;
  CUcontext context_ = nullptr;
  CUstream stream_ = nullptr;
  CUmodule module_ = nullptr;
  CUdeviceptr state_ = 0, work_ = 0, argTable_ = 0;
  std::shared_ptr<LibraryContext> library_;
  std::vector<std::vector<Call>> calls_;
  int64_t preparedBatch_ = 0;
  std::map<std::pair<int32_t, int64_t>, CUgraphExec> graphs_;  // (function, batch)
  std::map<const PlanBuffer*, Staging> staging_;                // per input buffer
};

DeviceProgram::~DeviceProgram() {
  if (stream_) d_.cuStreamSynchronize(stream_);
  for (auto& [key, g] : graphs_) d_.cuGraphExecDestroy(g);
  for (auto& [b, s] : staging_)
    for (int i = 0; i < 2; ++i) {
      if (s.host[i]) d_.cuMemFreeHost(s.host[i]);
      if (s.copied[i]) d_.cuEventDestroy_v2(s.copied[i]);
    }
  calls_.clear();    // the library kernels, then their handles and scratch, before the context goes
  library_.reset();
  for (CUdeviceptr p : {state_, work_, argTable_})
    if (p) d_.cuMemFree_v2(p);
  if (module_) d_.cuModuleUnload(module_);
  if (stream_) d_.cuStreamDestroy_v2(stream_);
  if (context_) d_.cuDevicePrimaryCtxRelease_v2(device_);
}

Status DeviceProgram::init(uint64_t seed) {
  if (Status s = d_.check(d_.cuDeviceGet(&device_, 0), "cuDeviceGet"); !s) return s;
  if (Status s = d_.check(d_.cuDevicePrimaryCtxRetain(&context_, device_), "cuDevicePrimaryCtxRetain"); !s) return s;
  if (Status s = d_.check(d_.cuCtxSetCurrent(context_), "cuCtxSetCurrent"); !s) return s;
  if (Status s = d_.check(d_.cuStreamCreate(&stream_, CU_STREAM_NON_BLOCKING), "cuStreamCreate"); !s) return s;
  library_ = std::make_shared<LibraryContext>(d_, stream_);
  if (!table_.deviceCode || !*table_.deviceCode) return Error("the plan has no device code (PTX) for its generated kernels");
  if (Status s = d_.check(d_.cuModuleLoadData(&module_, table_.deviceCode), "cuModuleLoadData (the plan's PTX)"); !s) return s;
  auto alloc = [&](CUdeviceptr& p, size_t bytes, const char* what) -> Status {
    if (Status s = d_.check(d_.cuMemAlloc_v2(&p, std::max<size_t>(bytes, 64)), "cuMemAlloc"); !s)
      return Error(fmt::format("{} ({} bytes): {}", what, bytes, s.error().message()));
    return d_.check(d_.cuMemsetD8Async(p, 0, std::max<size_t>(bytes, 64), stream_), "cuMemsetD8Async");
  };
  if (Status s = alloc(state_, static_cast<size_t>(table_.stateBytes), "the state arena"); !s) return s;
  if (Status s = alloc(work_, static_cast<size_t>(table_.workBytes), "the work arena"); !s) return s;
  // Every call's argument addresses, one table in device memory that the kernels read.
  std::vector<CUdeviceptr> addresses;
  std::vector<std::vector<size_t>> starts;
  for (int32_t f = 0; f < table_.numFunctions; ++f) {
    const PlanFunction& fn = table_.functions[f];
    std::vector<Call>& calls = calls_.emplace_back(fn.numCalls);
    std::vector<size_t>& start = starts.emplace_back();
    for (int32_t c = 0; c < fn.numCalls; ++c) {
      const PlanCall& call = fn.calls[c];
      start.push_back(addresses.size());
      std::vector<const PlanBuffer*> buffers;
      for (int32_t a = 0; a < call.numArgs; ++a) {
        const PlanBuffer& b = table_.buffers[call.args[a]];
        buffers.push_back(&b);
        addresses.push_back(address(b));
        calls[c].args.push_back(reinterpret_cast<void*>(address(b)));
      }
      if (call.library && *call.library) {
        Expected<Json> descriptor = parseJson(call.library);
        if (!descriptor) return Error(fmt::format("plan call '{}': library descriptor: {}", call.name, descriptor.error().message()));
        Expected<std::unique_ptr<LibraryKernel>> k = makeLibraryKernel(*descriptor, buffers, library_);
        if (!k) return Error(fmt::format("plan call '{}': {}", call.name, k.error().message()));
        calls[c].lib = k.take();
      } else if (Status s = d_.check(d_.cuModuleGetFunction(&calls[c].fn, module_, call.name),
                                     "cuModuleGetFunction");
                 !s) {
        return Error(fmt::format("plan call '{}': no such kernel in the plan's PTX: {}", call.name, s.error().message()));
      }
    }
  }
  if (Status s = alloc(argTable_, addresses.size() * sizeof(CUdeviceptr), "the argument table"); !s) return s;
  if (Status s = d_.check(d_.cuMemcpyHtoDAsync_v2(argTable_, addresses.data(), addresses.size() * sizeof(CUdeviceptr), stream_),
                          "cuMemcpyHtoDAsync");
      !s)
    return s;
  for (size_t f = 0; f < calls_.size(); ++f)
    for (size_t c = 0; c < calls_[f].size(); ++c) calls_[f][c].bufs = argTable_ + starts[f][c] * sizeof(CUdeviceptr);
  if (Status s = stageInputs(); !s) return s;
  if (Status s = sync(); !s) return s;
  initializeState(*this, seed);
  return ok();
}

Status DeviceProgram::stageInputs() {
  for (int32_t i = 0; i < table_.numBuffers; ++i) {
    const PlanBuffer& b = table_.buffers[i];
    if (b.role != BufferRole::Input) continue;
    Staging& s = staging_[&b];
    for (int k = 0; k < 2; ++k) {
      if (Status st = d_.check(d_.cuMemHostAlloc(&s.host[k], static_cast<size_t>(std::max<int64_t>(b.bytesAtMaxBatch, 4)), 0), "cuMemHostAlloc");
          !st)
        return st;
      if (Status st = d_.check(d_.cuEventCreate(&s.copied[k], CU_EVENT_DISABLE_TIMING), "cuEventCreate"); !st) return st;
    }
  }
  return ok();
}

void DeviceProgram::mustSucceed(const Status& s) const {
  if (s) return;
  std::fprintf(stderr, "sinter: error: cuda: %s\n", s.error().message().c_str());
  std::abort();
}

Expected<int32_t> DeviceProgram::functionIndex(std::string_view name, int64_t batch) const {
  if (batch < 1 || batch > table_.maxBatch)
    return Error(fmt::format("batch {} is outside [1, {}] (the plan's maximum batch)", batch, table_.maxBatch));
  for (int32_t f = 0; f < table_.numFunctions; ++f)
    if (name == table_.functions[f].name) return f;
  return Error(fmt::format("the plan has no function '{}'", name));
}

Status DeviceProgram::enqueue(int32_t f, int32_t c, int64_t batch) {
  const PlanCall& pc = table_.functions[f].calls[c];
  Call& call = calls_[static_cast<size_t>(f)][static_cast<size_t>(c)];
  if (call.lib) {
    call.lib->run(call.args.data(), batch);
    Status s = library_->error;
    library_->error = ok();
    if (!s) return Error(fmt::format("{}: {}", pc.name, s.error().message()));
    return ok();
  }
  int64_t begin = 0, end = pc.extentPerBatch * batch + pc.extentConst;
  if (end <= 0) return ok();
  const int64_t blocks = (end + kBlock - 1) / kBlock;
  if (blocks > 0x7fffffff) return Error(fmt::format("{}: {} threads are more than one grid launches", pc.name, end));
  void* params[] = {&call.bufs, &batch, &begin, &end};
  return d_.check(d_.cuLaunchKernel(call.fn, static_cast<unsigned>(blocks), 1, 1, kBlock, 1, 1, 0, stream_, params, nullptr),
                  pc.name);
}

Status DeviceProgram::prepare(int64_t batch) {
  if (batch < 1 || batch > table_.maxBatch)
    return Error(fmt::format("batch {} is outside [1, {}] (the plan's maximum batch)", batch, table_.maxBatch));
  if (batch == preparedBatch_) return ok();
  for (const std::vector<Call>& calls : calls_)
    for (const Call& c : calls)
      if (c.lib)
        if (Status s = c.lib->prepare(batch); !s) return s;
  preparedBatch_ = batch;
  // Each function as one graph for this batch size, captured once.
  for (int32_t f = 0; f < table_.numFunctions; ++f) {
    if (graphs_.count({f, batch})) continue;
    if (Status s = d_.check(d_.cuStreamBeginCapture_v2(stream_, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL), "cuStreamBeginCapture"); !s)
      return s;
    Status queued = ok();
    for (int32_t c = 0; c < table_.functions[f].numCalls && queued; ++c) queued = enqueue(f, c, batch);
    CUgraph graph = nullptr;
    Status ended = d_.check(d_.cuStreamEndCapture(stream_, &graph), "cuStreamEndCapture");
    if (!queued) return Error(fmt::format("capturing @{}: {}", table_.functions[f].name, queued.error().message()));
    if (!ended) return ended;
    CUgraphExec exec = nullptr;
    Status made = d_.check(d_.cuGraphInstantiateWithFlags(&exec, graph, 0), "cuGraphInstantiate");
    d_.cuGraphDestroy(graph);
    if (!made) return made;
    graphs_[{f, batch}] = exec;
  }
  return ok();
}

Status DeviceProgram::run(std::string_view name, int64_t batch) {
  Expected<int32_t> f = functionIndex(name, batch);
  if (!f) return f.error();
  if (Status s = prepare(batch); !s) return s;
  return d_.check(d_.cuGraphLaunch(graphs_.at({*f, batch}), stream_), "cuGraphLaunch");
}

Status DeviceProgram::profile(std::string_view name, int64_t batch, std::vector<double>& seconds) {
  Expected<int32_t> f = functionIndex(name, batch);
  if (!f) return f.error();
  if (Status s = prepare(batch); !s) return s;
  seconds.resize(static_cast<size_t>(table_.functions[*f].numCalls));
  if (Status s = sync(); !s) return s;
  for (int32_t c = 0; c < table_.functions[*f].numCalls; ++c) {
    const auto start = std::chrono::steady_clock::now();
    if (Status s = enqueue(*f, c, batch); !s) return s;
    if (Status s = sync(); !s) return s;
    seconds[static_cast<size_t>(c)] += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  return ok();
}

void DeviceProgram::read(const PlanBuffer& b, int64_t batch, std::span<std::byte> bytes) {
  checkTransfer(b, batch, bytes.size());
  mustSucceed(d_.check(d_.cuMemcpyDtoHAsync_v2(bytes.data(), address(b), bytes.size(), stream_), "cuMemcpyDtoHAsync"));
  mustSucceed(sync());
}

// An input (a batch) goes through one of its two pinned staging buffers with an asynchronous copy
// queued after the work already queued (the step that reads the previous batch): the host neither
// waits for that step nor for the copy, only for the copy from the same staging buffer two writes
// ago. Any other buffer (parameters, checkpoints) is copied and waited for.
void DeviceProgram::write(const PlanBuffer& b, int64_t batch, std::span<const std::byte> bytes) {
  checkTransfer(b, batch, bytes.size());
  auto staged = staging_.find(&b);
  if (staged == staging_.end()) {
    mustSucceed(d_.check(d_.cuMemcpyHtoDAsync_v2(address(b), bytes.data(), bytes.size(), stream_), "cuMemcpyHtoDAsync"));
    mustSucceed(sync());  // the host bytes may go away when this returns
    return;
  }
  Staging& s = staged->second;
  const int k = s.next;
  s.next = 1 - k;
  mustSucceed(d_.check(d_.cuEventSynchronize(s.copied[k]), "cuEventSynchronize"));
  std::memcpy(s.host[k], bytes.data(), bytes.size());
  mustSucceed(d_.check(d_.cuMemcpyHtoDAsync_v2(address(b), s.host[k], bytes.size(), stream_), "cuMemcpyHtoDAsync"));
  mustSucceed(d_.check(d_.cuEventRecord(s.copied[k], stream_), "cuEventRecord"));
}

std::vector<std::string> DeviceProgram::libraryCalls() const {
  std::vector<std::string> out;
  for (const std::vector<Call>& calls : calls_)
    for (const Call& c : calls)
      if (c.lib) out.push_back(c.lib->describe());
  return out;
}

}  // namespace

Status available() {
  Expected<const Driver*> d = driver();
  if (!d) return Error(fmt::format("the cuda target needs an NVIDIA GPU: {}", d.error().message()));
  return ok();
}

Expected<std::unique_ptr<Executor>> makeExecutor(const PlanTable& table, int, uint64_t seed) {
  if (Status s = available(); !s) return s.error();
  const Driver* d = *driver();
  auto program = std::make_unique<DeviceProgram>(table, *d);
  if (Status s = program->init(seed); !s) return Error("cuda: " + s.error().message());
  return std::unique_ptr<Executor>(std::move(program));
}

}  // namespace sinter::cuda
