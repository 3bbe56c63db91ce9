// The `sinter` command: check, dump, run and gradcheck models written in the .nn language; plot training logs.
#include <fmt/format.h>

#include <cstdio>

#include "codegen/kernel_passes.h"
#include "codegen/target.h"
#include "frontend/ast_dump.h"
#include "frontend/compile.h"
#include "support/render.h"
#include "ir/printer.h"
#include "tools/commands.h"
#include "tools/options.h"

namespace sinter {

namespace {

int checkCommand(const ToolOptions& o) {
  int status = 0;
  for (const std::string& file : o.files) {
    FrontendResult r = compileFile(file);
    if (reportErrors(r)) status = 1;
  }
  return status;
}

int dumpCommand(const ToolOptions& o) {
  FrontendResult r = compileFile(o.files[0], o.stage == "ast");
  if (reportErrors(r)) return 1;
  if (o.stage == "ast") {
    std::fputs(dumpAst(*r.program).c_str(), stdout);
    return 0;
  }
  Expected<Module> m = runStage(*r.module, o);
  if (!m) return reportError(m.error(), r);
  if (o.stage == "kernels" || o.stage == "ptx") {
    Expected<const Target*> target = findTarget(o.target.empty() ? "cpu" : o.target);
    if (!target) return reportError(target.error(), r);
    const Target& t = **target;
    if (o.stage == "ptx" && !t.deviceCode)
      return reportError(Error(fmt::format("--stage=ptx shows a GPU target's kernels (--target cuda); '{}' runs on the host "
                                           "(--stage=llvm)", t.name)),
                         r);
    kir::KernelOptions ko;
    if (t.library) ko.library = *t.library;
    ko.space = t.space;
    ko.maxBatch = o.maxBatch > 0 ? o.maxBatch : r.train.batch;
    ko.printAfterAll = o.printAfterAll;
    ko.printAfter = o.printAfter;
    ko.printChanged = o.printChanged;
    Expected<kir::KProgram> k = kir::buildKernels(*m, ko);
    if (!k) return reportError(k.error(), r);
    if (o.stage == "kernels") {
      std::fputs(kir::printKernels(*k).c_str(), stdout);
      return 0;
    }
    Expected<std::string> ptx = t.deviceCode(*k, MachineOptions{.cpu = o.cpu, .optLevel = o.optLevel});
    if (!ptx) return reportError(ptx.error(), r);
    std::fputs(ptx->c_str(), stdout);
    return 0;
  }
  if (o.stage == "llvm") {
    Expected<const Target*> target = findTarget(o.target.empty() ? "cpu" : o.target);
    if (!target) return reportError(target.error(), r);
    // The kernels and the plan; the model's own text (module and source, which `build` embeds too)
    // would only bury them.
    Expected<std::string> text = (*target)->compiler->emit(*m, {o.maxBatch > 0 ? o.maxBatch : r.train.batch, {}},
                                                           EmbeddedTexts{formatTrainConfig(r.train), {}}, EmitKind::Llvm);
    if (!text) return reportError(text.error(), r);
    std::fputs(text->c_str(), stdout);
    return 0;
  }
  std::fputs((o.format == "dot" ? printDot(*m) : printModule(*m)).c_str(), stdout);
  return 0;
}

}  // namespace

bool reportErrors(const FrontendResult& r) {
  if (!r.error) return false;
  reportError(*r.error, r);
  return true;
}

int reportError(const Error& e, const FrontendResult& r) {
  std::string text = r.source ? renderDiagnostics(e, *r.source) : renderDiagnostics(e, sourceFromString("", ""));
  std::fputs(text.c_str(), stderr);
  return 1;
}

}  // namespace sinter

int main(int argc, char** argv) {
  using namespace sinter;
  Expected<ToolOptions> parsed = parseOptions(argc, argv);
  if (!parsed) {
    std::fprintf(stderr, "sinter: error: %s\n", parsed.error().message().c_str());
    return 2;
  }
  const ToolOptions& o = *parsed;
  if (o.command == "help") { std::fputs(kUsage, stdout); return 0; }
  if (o.command == "version") { std::printf("sinter %s\n", SINTER_VERSION); return 0; }
  // files: how many FILE arguments the command takes (0: one or more), and what they are.
  struct Command { const char* name; int (*run)(const ToolOptions&); size_t files; const char* what; };
  static const Command commands[] = {
      {"check", checkCommand, 0, "model"},     {"dump", dumpCommand, 1, "model"},   {"run", runCommand, 1, "model"},
      {"gradcheck", gradcheckCommand, 1, "model"}, {"build", buildCommand, 1, "model"}, {"train", trainCommand, 1, "model"},
      {"plot", plotCommand, 0, "--log"},
  };
  for (const Command& c : commands) {
    if (o.command != c.name) continue;
    if (o.files.empty() || (c.files && o.files.size() != c.files)) {
      std::fprintf(stderr, "sinter: error: '%s' needs %s %s file\n", c.name, c.files ? "one" : "a", c.what);
      return 2;
    }
    return c.run(o);
  }
  std::fprintf(stderr, "sinter: error: unknown command '%s' (see sinter --help)\n", o.command.c_str());
  return 2;
}
