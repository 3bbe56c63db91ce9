// Times one whole training step (forward, backward, optimizer update) of a model compiled by the
// CPU JIT, the way `sinter train` compiles it, on random inputs. A benchmark, not a test.
//   step_bench MODEL.nn [--batch 64] [--threads 1] [--steps N] [--profile]
// Prints `sinter MODEL threads=T batch=B us_per_step=X gflops=Y` (bench/step.sh parses it), then
// the peak RSS; --profile adds each kernel call's time on one thread, slowest first.
#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "codegen/cpu/compile.h"
#include "frontend/compile.h"
#include "frontend/render.h"
#include "passes/pass.h"
#include "runtime/program.h"

using namespace sinter;

namespace {

using Clock = std::chrono::steady_clock;

double seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

[[noreturn]] void fail(const std::string& message) {
  fmt::print(stderr, "step_bench: error: {}\n", message);
  std::exit(1);
}

struct Options {
  std::string model;
  int64_t batch = 64;
  int threads = 1;
  int64_t steps = 0;  // 0: as many as fit in about 2 s
  bool profile = false;
};

Options parseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&] {
      if (i + 1 >= argc) fail(fmt::format("{} needs a value", a));
      return std::atoll(argv[++i]);
    };
    if (a == "--batch") o.batch = value();
    else if (a == "--threads") o.threads = static_cast<int>(value());
    else if (a == "--steps") o.steps = value();
    else if (a == "--profile") o.profile = true;
    else if (a.starts_with("--")) fail(fmt::format("unknown flag '{}'", a));
    else o.model = a;
  }
  if (o.model.empty()) fail("usage: step_bench MODEL.nn [--batch 64] [--threads N] [--steps N] [--profile]");
  if (o.batch < 1 || o.threads < 1) fail("--batch and --threads must be at least 1");
  return o;
}

// `sinter train`'s path (tools/build.cpp trainCommand): frontend, grad pipeline, drop @grad (the
// trainer never runs it), JIT with the plan sized for `batch`.
cpu::CompiledProgram compile(const std::string& path, int64_t batch) {
  FrontendResult r = compileFile(path);
  if (r.error) fail(r.source ? renderDiagnostics(*r.error, *r.source) : r.error->message());
  Module m = *r.module;
  if (Status s = runGradPipeline(m, {}); !s) fail(s.error().message());
  std::erase_if(m.functions, [](const Function& f) { return f.name == "grad"; });
  cpu::CpuOptions options;
  options.maxBatch = batch;
  Expected<cpu::CompiledProgram> c = cpu::compileForJit(m, options);
  if (!c) fail(c.error().message());
  return c.take();
}

const PlanFunction& findFunction(const PlanTable& t, std::string_view name) {
  for (int32_t f = 0; f < t.numFunctions; ++f)
    if (name == t.functions[f].name) return t.functions[f];
  fail(fmt::format("model '{}' has no function '{}' (does it have a loss?)", t.model, name));
}

// f32 inputs (images) uniform in [-1, 1], i32 inputs (labels) uniform in [0, 10): the step's cost
// does not depend on the values, but NaNs or denormals would distort it.
void fillInputs(Program& p, const PlanFunction& fn, int64_t batch) {
  std::mt19937 rng(0);
  for (int32_t i = 0; i < fn.numInputs; ++i) {
    const PlanBuffer& b = p.table().buffers[fn.inputs[i]];
    const int64_t n = p.elements(b, batch);
    if (b.type == BufferType::F32) {
      std::uniform_real_distribution<float> d(-1.0f, 1.0f);
      for (int64_t j = 0; j < n; ++j) static_cast<float*>(p.data(b))[j] = d(rng);
    } else {
      std::uniform_int_distribution<int32_t> d(0, 9);
      for (int64_t j = 0; j < n; ++j) static_cast<int32_t*>(p.data(b))[j] = d(rng);
    }
  }
}

// Exact training FLOPs per step at batch 64 (/work/shared/notes/machines.md: no gradient for the
// input); the plan's own count (table.flopsPerStep) also counts a few elementwise ops, so it is
// used only for other models and batches.
double flopsPerStep(const PlanTable& t, int64_t batch) {
  const std::map<std::string, double> exact = {{"mlp", 29.1e6}, {"lenet", 144.9e6}};
  if (auto it = exact.find(t.model); it != exact.end() && batch == 64) return it->second;
  return t.flopsPerStep;
}

// Program::run's loop with each call timed separately, on the calling thread only (one slice per
// call), so the times add up to a one-thread step.
void profile(Program& p, const PlanFunction& fn, int64_t batch, int64_t steps) {
  std::vector<std::vector<void*>> bufs(static_cast<size_t>(fn.numCalls));
  for (int32_t c = 0; c < fn.numCalls; ++c)
    for (int32_t a = 0; a < fn.calls[c].numArgs; ++a) bufs[c].push_back(p.data(p.table().buffers[fn.calls[c].args[a]]));
  std::vector<double> total(static_cast<size_t>(fn.numCalls), 0.0);
  for (int64_t s = 0; s < steps; ++s) {
    for (int32_t c = 0; c < fn.numCalls; ++c) {
      const PlanCall& call = fn.calls[c];
      const int64_t extent = call.extentPerBatch * batch + call.extentConst;
      if (extent <= 0) continue;
      const auto t0 = Clock::now();
      call.fn(bufs[c].data(), batch, 0, extent);
      total[c] += seconds(t0, Clock::now());
    }
  }
  std::vector<int32_t> order(static_cast<size_t>(fn.numCalls));
  for (int32_t c = 0; c < fn.numCalls; ++c) order[c] = c;
  std::ranges::sort(order, [&](int32_t a, int32_t b) { return total[a] > total[b]; });
  double sum = 0;
  for (double t : total) sum += t;
  fmt::print("profile: {} calls, {:.1f} us per step on 1 thread ({} steps), slowest first\n", fn.numCalls,
             sum / static_cast<double>(steps) * 1e6, steps);
  double shown = 0;
  for (int32_t c : order) {
    if (shown > 0.95 * sum) break;  // the long tail of tiny elementwise kernels says little
    shown += total[c];
    fmt::print("  {:>9.1f} us  {:5.1f}%  {}\n", total[c] / static_cast<double>(steps) * 1e6, 100 * total[c] / sum,
               fn.calls[c].name);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parseArgs(argc, argv);
  const cpu::CompiledProgram compiled = compile(o.model, o.batch);
  const PlanTable& table = compiled.table;
  Program program(table, o.threads, 0);
  const PlanFunction& step = findFunction(table, "train_step");
  fillInputs(program, step, o.batch);

  auto runSteps = [&](int64_t n) {
    const auto t0 = Clock::now();
    for (int64_t i = 0; i < n; ++i)
      if (Status s = program.run("train_step", o.batch); !s) fail(s.error().message());
    return seconds(t0, Clock::now());
  };
  // Warm up (page faults in the arenas, caches, thread pool) and size the run from it.
  double warm = runSteps(10) / 10;
  const int64_t steps = o.steps > 0 ? o.steps : std::max<int64_t>(20, static_cast<int64_t>(2.0 / warm));
  const double perStep = runSteps(steps) / static_cast<double>(steps);

  const double flops = flopsPerStep(table, o.batch);
  fmt::print("sinter {} threads={} batch={} us_per_step={:.1f} gflops={:.1f}\n", table.model, o.threads, o.batch,
             perStep * 1e6, flops / perStep * 1e-9);
  fmt::print("  {} steps, {:.1f} MFLOP per step, {} kernel calls\n", steps, flops * 1e-6, step.numCalls);
  if (o.profile) profile(program, step, o.batch, std::max<int64_t>(20, steps / 4));
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  fmt::print("peak RSS {:.1f} MB\n", static_cast<double>(usage.ru_maxrss) / 1024.0);
  return 0;
}
