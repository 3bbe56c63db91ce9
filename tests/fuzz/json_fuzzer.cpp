// libFuzzer entry point for the JSON parser and writer: any bytes give a value or an error at a byte
// offset, and a value written out reads back as the same value, written the same way.
#include "runtime/json.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sinter;
  using namespace sinter::fuzz;
  auto value = parseJson(text(data, size));
  if (!value) {
    require(startsWith(value.error().message(), "at byte "));
    return 0;
  }
  const std::string written = writeJson(*value);
  auto again = parseJson(written);
  require(again.ok() && *again == *value && writeJson(*again) == written);
  return 0;
}
