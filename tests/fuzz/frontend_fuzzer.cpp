// libFuzzer entry point for the parser and the whole frontend: any bytes, read as a .nn file, give
// either a verified module or diagnostics, never a crash, a leak or undefined behaviour.
#include <cstddef>
#include <cstdint>
#include <string>

#include "frontend/compile.h"
#include "support/render.h"
#include "ir/printer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sinter;
  std::string text(reinterpret_cast<const char*>(data), size);
  FrontendResult r = compileSource(sourceFromString("fuzz.nn", std::move(text)));
  // What the tools do next with the result must hold up too: render the diagnostics against the
  // source (locations stay in bounds) and print the module.
  if (r.error && r.source) (void)renderDiagnostics(*r.error, *r.source);
  if (r.module) (void)printModule(*r.module);
  return 0;
}
