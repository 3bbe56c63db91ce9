// `sinter build` (an executable, or --emit=obj|llvm|asm) and `sinter train` (the same trainer
// through the JIT).
#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "codegen/target.h"
#include "ir/printer.h"
#include "runtime/trainer_main.h"
#include "tools/commands.h"

extern char** environ;

namespace sinter {

namespace {

void printTimings(const Timings& t) {
  double total = 0;
  for (const auto& [_, s] : t) total += s;
  std::string out = "===- sinter compile time -===\n";
  for (const auto& [phase, s] : t) out += fmt::format("  {:8.4f} s  {:5.1f}%  {}\n", s, total > 0 ? 100 * s / total : 0, phase);
  out += fmt::format("  {:8.4f} s          total\n", total);
  std::fputs(out.c_str(), stderr);
}

// The largest batch the plan is sized for: --max-batch, else the model's train batch.
int64_t planBatch(const ToolOptions& o, const FrontendResult& r) { return o.maxBatch > 0 ? o.maxBatch : r.train.batch; }

TargetOptions targetOptions(const ToolOptions& o, int64_t maxBatch, Timings* timings) {
  TargetOptions c;
  c.maxBatch = maxBatch;
  c.machine.cpu = o.cpu;
  c.machine.optLevel = o.optLevel;
  c.compileThreads = o.jobs;
  c.timings = timings;
  return c;
}

// The model file through the frontend and the grad pipeline into `m`, timed, and the --target it
// is compiled for (cpu by default); a nonzero exit status after reporting an error. The trainer
// runs train_step and eval: @grad (for `sinter run --grads`) is dropped rather than compiled.
int compileToTrainer(const ToolOptions& o, PhaseClock& clock, FrontendResult& r, Module& m, const Target*& target) {
  r = compileFile(o.files[0]);
  if (reportErrors(r)) return 1;
  Expected<const Target*> t = findTarget(o.target.empty() ? "cpu" : o.target);
  if (!t) return reportError(t.error(), r);
  target = *t;
  clock.mark("frontend (parse, check, lower to IR)");
  Expected<Module> training = trainingModule(r, target);
  if (!training) return reportError(training.error(), r);
  m = training.take();
  std::erase_if(m.functions, [](const Function& f) { return f.name == "grad"; });
  clock.mark("autodiff, training step, simplification");
  return 0;
}

Status writeFile(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) return Error(fmt::format("cannot open '{}' for writing", path));
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  f.close();
  if (!f) return Error(fmt::format("cannot write '{}'", path));
  return ok();
}

// Links the model's objects with the runtime into an executable, with the C++ compiler that built
// Sinter (the runtime's libraries are C++).
Status link(const std::vector<std::string>& objects, const std::string& output) {
  std::vector<std::string> args = {SINTER_LINKER, "-o", output};
  args.insert(args.end(), objects.begin(), objects.end());
  // The reference evaluator and the IR come along to trace a non-finite loss (runtime/numerics.h).
  args.insert(args.end(), {SINTER_MODEL_MAIN_LIB, SINTER_RUNTIME_LIB, SINTER_REF_LIB, SINTER_IR_LIB, SINTER_SUPPORT_LIB,
                           "-lpng", "-lz", "-pthread", "-lm"});
  for (std::string flags = SINTER_MODEL_LINK_FLAGS; !flags.empty();) {
    size_t space = flags.find(' ');
    if (space != 0) args.push_back(flags.substr(0, space));
    flags = space == std::string::npos ? "" : flags.substr(space + 1);
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (int err = posix_spawnp(&pid, argv[0], nullptr, nullptr, argv.data(), environ); err != 0)
    return Error(fmt::format("cannot run the linker '{}': {}", argv[0], std::strerror(err)));
  int status = 0;
  if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return Error(fmt::format("linking '{}' failed (command: {})", output, fmt::join(args, " ")));
  return ok();
}

// The train block, and the module with the model's source: a non-finite loss is traced to its line.
EmbeddedTexts embeddedTexts(const FrontendResult& r, const Module& m) {
  return {formatTrainConfig(r.train), {printModule(m), r.source ? r.source->text : std::string()}};
}

std::string defaultOutput(const ToolOptions& o) {
  std::string stem = std::filesystem::path(o.files[0]).stem().string();
  if (o.emit == "obj") return stem + ".o";
  if (o.emit == "llvm") return stem + ".ll";
  if (o.emit == "asm") return stem + ".s";
  return stem;
}

}  // namespace

int buildCommand(const ToolOptions& o) {
  Timings timings;
  PhaseClock clock(&timings);
  FrontendResult r;
  Module m;
  const Target* target = nullptr;
  if (int status = compileToTrainer(o, clock, r, m, target)) return status;
  const TargetOptions options = targetOptions(o, planBatch(o, r), &timings);
  const std::string output = o.output.empty() ? defaultOutput(o) : o.output;
  if (!o.emit.empty()) {
    const EmitKind emit = o.emit == "llvm" ? EmitKind::Llvm : o.emit == "asm" ? EmitKind::Asm : EmitKind::Obj;
    Expected<std::string> code = target->compiler->emit(m, options, embeddedTexts(r, m), emit);
    if (!code) return reportError(code.error(), r);
    if (Status s = writeFile(output, *code); !s) return reportError(s.error(), r);
  } else {
    Expected<std::vector<std::string>> code = target->compiler->compileObjects(m, options, embeddedTexts(r, m));
    if (!code) return reportError(code.error(), r);
    clock.restart();
    std::vector<std::string> objects;
    Status s = ok();
    for (size_t i = 0; i < code->size() && s; ++i) {
      objects.push_back(fmt::format("{}.sinter{}.o", output, i));
      s = writeFile(objects.back(), (*code)[i]);
    }
    if (s) s = link(objects, output);
    for (const std::string& object : objects) std::filesystem::remove(object);
    if (!s) return reportError(s.error(), r);
    clock.mark("linking with the runtime");
  }
  if (o.timePasses) printTimings(timings);
  return 0;
}

int trainCommand(const ToolOptions& o) {
  Timings timings;
  PhaseClock clock(&timings);
  FrontendResult r;
  Module m;
  const Target* target = nullptr;
  if (int status = compileToTrainer(o, clock, r, m, target)) return status;
  // Size the plan for the batch the trainer will run (--batch, else the model's).
  int64_t maxBatch = planBatch(o, r);
  for (size_t i = 0; i + 1 < o.trainerArgs.size(); ++i)
    if (o.trainerArgs[i] == "--batch") maxBatch = std::max<int64_t>(maxBatch, std::atoll(o.trainerArgs[i + 1].c_str()));
  for (const std::string& a : o.trainerArgs)
    if (a.rfind("--batch=", 0) == 0) maxBatch = std::max<int64_t>(maxBatch, std::atoll(a.c_str() + 8));
  Expected<CompiledProgram> c = target->compiler->compileForJit(m, targetOptions(o, maxBatch, &timings));
  if (!c) return reportError(c.error(), r);
  if (o.timePasses) printTimings(timings);
  std::vector<std::string> args = {"sinter train", "train"};
  args.insert(args.end(), o.trainerArgs.begin(), o.trainerArgs.end());
  return trainerMain(c->table(), r.train, args, stdout, stderr, embeddedTexts(r, m).model);
}

}  // namespace sinter
