// libFuzzer entry point for the training settings' text form (what a built executable embeds): any
// text gives settings or an error naming the line; settings format to text that parses back to the
// same text.
#include "support/train_config.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sinter;
  using namespace sinter::fuzz;
  auto config = parseTrainConfig(text(data, size));
  if (!config) {
    require(startsWith(config.error().message(), "train settings line "));
    return 0;
  }
  const std::string formatted = formatTrainConfig(*config);
  auto again = parseTrainConfig(formatted);
  require(again.ok() && formatTrainConfig(*again) == formatted);
  return 0;
}
