// Times one whole training step (forward, backward, optimizer update) of a model compiled by the
// CPU JIT, the way `sinter train` compiles it, on random inputs. A benchmark, not a test.
//   step_bench MODEL.nn [--target cpu] [--batch 64] [--threads 1] [--steps N] [--profile]
// Prints `sinter MODEL threads=T batch=B us_per_step=X gflops=Y` (bench/step.sh parses it), then
// the peak RSS; --profile adds each kernel call's time (on --threads), slowest first.
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

#include "codegen/target.h"
#include "frontend/compile.h"
#include "support/render.h"
#include "passes/pass.h"
#include "runtime/executor.h"

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
  std::string target = "cpu";
  int64_t batch = 64;
  int threads = 1;
  int64_t steps = 0;  // 0: as many as fit in about 2 s
  bool profile = false;
};

Options parseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto text = [&] {
      if (i + 1 >= argc) fail(fmt::format("{} needs a value", a));
      return std::string(argv[++i]);
    };
    auto value = [&] { return std::atoll(text().c_str()); };
    if (a == "--target") o.target = text();
    else if (a == "--batch") o.batch = value();
    else if (a == "--threads") o.threads = static_cast<int>(value());
    else if (a == "--steps") o.steps = value();
    else if (a == "--profile") o.profile = true;
    else if (a.starts_with("--")) fail(fmt::format("unknown flag '{}'", a));
    else o.model = a;
  }
  if (o.model.empty()) fail("usage: step_bench MODEL.nn [--target cpu] [--batch 64] [--threads N] [--steps N] [--profile]");
  if (o.batch < 1 || o.threads < 1) fail("--batch and --threads must be at least 1");
  return o;
}

// `sinter train`'s path (tools/build.cpp trainCommand): frontend, grad pipeline, drop @grad (the
// trainer never runs it), compiled in memory for `target` with the plan sized for `batch`.
CompiledProgram compile(const std::string& path, const std::string& targetName, int64_t batch) {
  Expected<const Target*> target = findTarget(targetName);
  if (!target) fail(target.error().message());
  FrontendResult r = compileFile(path);
  if (r.error) fail(r.source ? renderDiagnostics(*r.error, *r.source) : r.error->message());
  Module m = *r.module;
  PassManagerOptions pm;
  pm.targetTakes = [t = *target](OpKind op, const TensorType& x) { return t->libraryRuns(op, x); };
  if (Status s = runGradPipeline(m, pm); !s) fail(s.error().message());
  std::erase_if(m.functions, [](const Function& f) { return f.name == "grad"; });
  TargetOptions options;
  options.maxBatch = batch;
  Expected<CompiledProgram> c = (*target)->compiler->compileForJit(m, options);
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
void fillInputs(Executor& p, const PlanFunction& fn, int64_t batch) {
  std::mt19937 rng(0);
  for (int32_t i = 0; i < fn.numInputs; ++i) {
    const PlanBuffer& b = p.table().buffers[fn.inputs[i]];
    const int64_t n = p.elements(b, batch);
    if (b.type == BufferType::F32) {
      std::uniform_real_distribution<float> d(-1.0f, 1.0f);
      std::vector<float> v(static_cast<size_t>(n));
      for (float& x : v) x = d(rng);
      p.writeFrom<float>(b, batch, v);
    } else {
      std::uniform_int_distribution<int32_t> d(0, 9);
      std::vector<int32_t> v(static_cast<size_t>(n));
      for (int32_t& x : v) x = d(rng);
      p.writeFrom<int32_t>(b, batch, v);
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

// The step with each call timed separately (Executor::profile, on the run's threads), so the times
// add up to a step.
void profile(Executor& p, const PlanFunction& fn, int64_t batch, int64_t steps) {
  std::vector<double> total(static_cast<size_t>(fn.numCalls), 0.0);
  for (int64_t s = 0; s < steps; ++s)
    if (Status st = p.profile(fn.name, batch, total); !st) fail(st.error().message());
  std::vector<int32_t> order(static_cast<size_t>(fn.numCalls));
  for (int32_t c = 0; c < fn.numCalls; ++c) order[c] = c;
  std::ranges::sort(order, [&](int32_t a, int32_t b) { return total[a] > total[b]; });
  double sum = 0;
  for (double t : total) sum += t;
  fmt::print("profile: {} calls, {:.1f} us per step ({} steps), slowest first\n", fn.numCalls,
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
  const CompiledProgram compiled = compile(o.model, o.target, o.batch);
  const PlanTable& table = compiled.table();
  auto executor = makeExecutor(table, o.threads, 0);
  if (!executor) fail(executor.error().message());
  Executor& program = **executor;
  const PlanFunction& step = findFunction(table, "train_step");
  if (Status s = program.prepare(o.batch); !s) fail(s.error().message());
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
