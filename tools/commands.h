// The `sinter` subcommands beyond check and dump, and the shared error reporting.
#pragma once

#include "frontend/compile.h"
#include "tools/options.h"

namespace sinter {

// Renders diagnostics to stderr; true if there were any.
bool reportErrors(const FrontendResult& r);
int reportError(const Error& e, const FrontendResult& r);

struct Target;

// The module after the stage that `dump --stage` names (ir, grad), printing passes as asked; the
// grad pipeline keeps what --target's library runs.
Expected<Module> runStage(Module m, const ToolOptions& o);

// The module after the grad pipeline: @eval, @grad and @train_step, simplified, keeping the ops
// that `target`'s library runs (none: the reference evaluator).
Expected<Module> trainingModule(const FrontendResult& r, const Target* target);

int runCommand(const ToolOptions& o);
int buildCommand(const ToolOptions& o);
int trainCommand(const ToolOptions& o);
int gradcheckCommand(const ToolOptions& o);
int plotCommand(const ToolOptions& o);

}  // namespace sinter
