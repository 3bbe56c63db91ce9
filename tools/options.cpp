// The `sinter` command line parser.
#include "tools/options.h"

#include <fmt/format.h>

#include <cstdlib>

namespace sinter {

const char* const kUsage = R"(usage: sinter <command> [options] FILE

Sinter compiles neural networks written in the .nn model language.

commands:
  check FILE                 parse and type/shape-check a model; exit 1 on error
  dump FILE --stage=S        print a stage: ast, ir, grad, kernels (kernel IR and memory plan),
                             llvm (optimized LLVM IR of the CPU kernels), ptx (the cuda
                             target's generated kernels; --cpu=sm_NN picks the GPU, default sm_90)
        --target T           the target the grad, kernel and ptx stages are for (default cpu;
                             cpu, dnnl or cuda)
        --max-batch=N        the largest batch the plan is sized for (default 64)
        --format=text|dot    text (default) or Graphviz
        --print-after-all    print the IR after every pass
        --print-after=PASS   print the IR after PASS (repeatable)
        --print-changed      print the IR after each pass that changed it
        --passes=P1,P2       run exactly these passes on the forward IR
  run FILE --weights W --inputs I -o OUT [--grads] [--seed N] [--precision f64|f32]
        [--target ref|cpu|dnnl] [--threads N] [--check-numerics]
                             one forward (and with --grads, backward) pass on the reference
                             evaluator (default) or a target (f32, JIT); OUT holds every
                             output, `loss` and `p.grad`. A non-finite loss (with
                             --check-numerics, any non-finite value) is an error naming the
                             first op that made one and its model line
  gradcheck FILE [--seed N] [--step H] [--weights W] [--inputs I]
                             symbolic gradients vs central finite differences in float64
  build FILE [-o NAME] [--target cpu|dnnl] [-O0..3] [--cpu=NAME|-march=NAME] [--max-batch=N]
        [--emit=obj|llvm|asm] [--jobs=N] [--time-passes]
                             compile the training step and eval to native code and link them with
                             the runtime into an executable (`NAME train|eval|predict|info`) that
                             needs no LLVM; --emit stops at an object file, LLVM IR or assembly;
                             --jobs: threads that compile the kernels (default: all cores)
  train FILE [--data DIR] [--epochs N] [--batch N] [--lr X] [--threads N] [--seed N] [--save F]
        [--resume F] [--log F] [--plot F.svg] [--check-numerics] [--target cpu|dnnl]
        [--max-batch=N] [--jobs=N] [--time-passes]
                             the built executable's trainer, compiled through the JIT; --plot
                             draws the run's training curves (as `plot` does) at the end; a
                             non-finite loss names the op and model line that made it, and
                             --check-numerics replays every step to find one (slow)
  plot LOG.jsonl... -o F.svg training curves of train --log files: loss and accuracy per epoch,
                             one dash pattern per run, named by the log's file stem

options:
  --help                     this text
  --version                  the version
)";

Expected<ToolOptions> parseOptions(int argc, char** argv) {
  ToolOptions o;
  std::vector<std::string> args(argv + 1, argv + argc);
  auto value = [&](size_t& i, const std::string& flag, std::string& out) -> Status {
    const std::string& a = args[i];
    if (a.size() > flag.size() && a[flag.size()] == '=') { out = a.substr(flag.size() + 1); return ok(); }
    if (i + 1 >= args.size()) return Error(fmt::format("option '{}' needs a value", flag));
    out = args[++i];
    return ok();
  };
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto is = [&](const char* flag) { return a == flag || a.rfind(std::string(flag) + "=", 0) == 0; };
    Status s = ok();
    std::string v;
    if (a == "--help" || a == "-h") { o.command = "help"; return o; }
    if (a == "--version") { o.command = "version"; return o; }
    // `sinter train FILE ...`: the trainer's flags (all of which take a value but --check-numerics)
    // pass through.
    if (o.command == "train" && a.rfind("--", 0) == 0 && !is("--target") && !is("--max-batch") && !is("--cpu") &&
        !is("--jobs") && a != "--time-passes") {
      o.trainerArgs.push_back(a);
      if (a != "--check-numerics" && a.find('=') == std::string::npos && i + 1 < args.size()) o.trainerArgs.push_back(args[++i]);
      continue;
    }
    if (is("--stage")) s = value(i, "--stage", o.stage);
    else if (is("--format")) s = value(i, "--format", o.format);
    else if (a == "--print-after-all") o.printAfterAll = true;
    else if (a == "--print-changed") o.printChanged = true;
    else if (is("--print-after")) { s = value(i, "--print-after", v); o.printAfter.push_back(v); }
    else if (is("--passes")) {
      s = value(i, "--passes", v);
      for (size_t start = 0; start <= v.size();) {
        size_t comma = v.find(',', start);
        if (comma == std::string::npos) comma = v.size();
        if (comma > start) o.passes.push_back(v.substr(start, comma - start));
        start = comma + 1;
      }
    }
    else if (is("--weights")) s = value(i, "--weights", o.weights);
    else if (is("--inputs")) s = value(i, "--inputs", o.inputs);
    else if (a == "-o" || is("--output")) s = value(i, a == "-o" ? "-o" : "--output", o.output);
    else if (a == "--grads") o.grads = true;
    else if (a == "--check-numerics") o.checkNumerics = true;
    else if (is("--target")) s = value(i, "--target", o.target);
    else if (is("--emit")) {
      s = value(i, "--emit", o.emit);
      if (s && o.emit != "obj" && o.emit != "llvm" && o.emit != "asm")
        s = Error(fmt::format("--emit expects obj, llvm or asm, found '{}'", o.emit));
    }
    else if (a.size() == 3 && a[0] == '-' && a[1] == 'O' && a[2] >= '0' && a[2] <= '3') o.optLevel = a[2] - '0';
    else if (is("--cpu")) s = value(i, "--cpu", o.cpu);
    else if (a.rfind("-march=", 0) == 0) o.cpu = a.substr(7);
    else if (a == "--time-passes") o.timePasses = true;
    else if (is("--precision")) s = value(i, "--precision", o.precision);
    else if (is("--step")) {
      s = value(i, "--step", v);
      char* end = nullptr;
      o.fdStep = std::strtod(v.c_str(), &end);
      if (s && (v.empty() || *end || !(o.fdStep > 0))) s = Error(fmt::format("--step expects a positive number, found '{}'", v));
    }
    else if (is("--max-batch") || is("--threads") || is("--jobs")) {
      const char* flag = is("--max-batch") ? "--max-batch" : is("--threads") ? "--threads" : "--jobs";
      const bool batch = is("--max-batch");
      s = value(i, flag, v);
      char* end = nullptr;
      const long long n = std::strtoll(v.c_str(), &end, 10);
      if (s && (v.empty() || *end || n < (batch ? 1 : 0) || n > (1 << 20)))
        s = Error(fmt::format("{} expects {} integer, found '{}'", flag, batch ? "a positive" : "a non-negative", v));
      if (batch) o.maxBatch = n;
      else if (is("--threads")) o.threads = static_cast<int>(n);
      else o.jobs = static_cast<int>(n);
    }
    else if (is("--seed")) {
      s = value(i, "--seed", v);
      char* end = nullptr;
      o.seed = std::strtoull(v.c_str(), &end, 10);
      if (s && (v.empty() || *end)) s = Error(fmt::format("--seed expects a non-negative integer, found '{}'", v));
    }
    else if (a.size() > 1 && a[0] == '-') s = Error(fmt::format("unknown option '{}' (see sinter --help)", a));
    else if (o.command.empty()) o.command = a;
    else o.files.push_back(a);
    if (!s) return s.error();
  }
  if (o.command.empty()) return Error("no command given (see sinter --help)");
  return o;
}

}  // namespace sinter
