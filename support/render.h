// Clang-style rendering of diagnostics: "file:line:col: error: message", the quoted line, a caret.
#pragma once

#include "support/source.h"
#include "support/error.h"

#include <string>
#include <string_view>

namespace sinter {

// Renders every Diag of `error` and its notes, each followed by its source line and a caret with
// tildes under the located range. A Diag without a location renders as "sinter: error: message"
// (`tool` names the program, "" for none) and a note without one as "note: message"; one in
// another file (or past the end of `source`) renders its header without a quoted line.
std::string renderDiagnostics(const Error& error, const SourceFile& source, std::string_view tool = "sinter");

}  // namespace sinter
