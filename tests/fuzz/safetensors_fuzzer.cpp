// libFuzzer entry point for the safetensors reader and a checkpoint's metadata: any bytes, read as a
// .safetensors file, give tensors that hold exactly what their shapes need, or an error that names the
// file; never a crash, a leak, undefined behaviour or memory the bytes do not account for.
#include "runtime/checkpoint.h"
#include "runtime/tensor_file.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sinter;
  using namespace sinter::fuzz;
  constexpr std::string_view kName = "fuzz.safetensors";
  auto file = parseSafetensors(bytes(data, size), kName);
  if (!file) {
    require(startsWith(file.error().message(), std::string(kName) + ": "));
    return 0;
  }
  // The tensors tile the data section, so together they hold no more than the input.
  size_t total = 0;
  for (const NamedTensor& t : file->tensors) {
    auto numel = checkedNumel(t.shape, t.name);
    require(numel.ok() && static_cast<uint64_t>(*numel) * elemSize(t.type) == t.bytes.size());
    total += t.bytes.size();
    (void)t.toDoubles();
  }
  require(total <= size);
  auto ckpt = checkpointOf(std::string(kName), file.take());
  if (!ckpt) require(startsWith(ckpt.error().message(), std::string(kName) + ": "));
  return 0;
}
