// libFuzzer entry point for the IR text parser and the verifier: any text gives a module or an error
// at a line and column; a module that verifies prints to text that parses back and prints the same.
#include "ir/printer.h"
#include "ir/verifier.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sinter;
  using namespace sinter::fuzz;
  auto module = parseModule(text(data, size), "fuzz.ir");
  if (!module) return 0;
  if (!verifyModule(*module)) return 0;
  const std::string printed = printModule(*module);
  auto again = parseModule(printed, "fuzz.ir");
  require(again.ok() && printModule(*again) == printed);
  return 0;
}
