// `sinter run --target T --grads` against PyTorch for T = cpu and dnnl, through the command line a user types: every
// model with reference data (tests/reference/README.md), the JIT'd f32 plan's outputs, loss and
// parameter gradients in training mode against the float64 PyTorch results. The tolerance is the
// float32 one reference_test.cpp applies to the reference evaluator in f32 (normwise 1e-4).
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>

#include "runtime/executor.h"
#include "tests/passes/reference_util.h"

using namespace sinter;
using namespace sinter::testing;

// The sinter tool this build made, or SINTER_TOOL from the environment (another machine's copy).
std::string tool() {
  const char* moved = std::getenv("SINTER_TOOL");
  return moved && *moved ? moved : SINTER_TOOL;
}

void checkTargetAgainstPyTorch(const std::string& target) {
  const std::string data = sourcePath("tests/reference/data/");
  const std::filesystem::path out = std::filesystem::temp_directory_path() / ("sinter_run_reference_" + target);
  std::filesystem::create_directories(out);
  int models = 0;
  for (const auto& entry : std::filesystem::directory_iterator(data)) {
    const std::string file = entry.path().filename().string();
    const std::string suffix = ".train.safetensors";
    if (file.size() <= suffix.size() || !file.ends_with(suffix)) continue;
    const std::string model = file.substr(0, file.size() - suffix.size());
    std::string source = sourcePath("tests/reference/models/" + model + ".nn");
    if (!std::filesystem::exists(source)) source = sourcePath("examples/" + model + ".nn");
    const std::string result = (out / (model + ".safetensors")).string();
    const std::string command =
        fmt::format("'{}' run '{}' --weights '{}{}.weights.safetensors' --inputs '{}{}.inputs.safetensors' -o '{}' "
                    "--grads --target {} --threads 2",
                    tool(), source, data, model, data, model, result, target);
    INFO(command);
    REQUIRE(std::system(command.c_str()) == 0);
    const ref::TensorMap got = readTensors(result);
    const ref::TensorMap want = readTensors(entry.path().string());
    REQUIRE(!want.empty());
    for (const auto& [name, w] : want) {
      auto it = got.find(name);
      CHECK_MESSAGE(it != got.end(), model, ": no result '", name, "'");
      if (it != got.end()) checkClose(target + " " + model + " " + name, it->second, w, 1.0, 1e-4);
    }
    ++models;
  }
  CHECK(models >= 21);
  std::filesystem::remove_all(out);
}

TEST_CASE("sinter run --target cpu --grads matches PyTorch for every reference model") { checkTargetAgainstPyTorch("cpu"); }

// oneDNN's convolutions, matmuls and pooling in place of the generated ones: the same tolerance.
TEST_CASE("sinter run --target dnnl --grads matches PyTorch for every reference model") { checkTargetAgainstPyTorch("dnnl"); }

// The GPU: generated PTX kernels, cuBLAS and cuDNN (no TF32), the same tolerance. Skipped where
// this machine has no GPU (CI); tests/cuda/device_check.sh runs it on one.
TEST_CASE("sinter run --target cuda --grads matches PyTorch for every reference model") {
  if (Status s = canRun("cuda"); !s) {
    MESSAGE("skipped: ", s.error().message());
    return;
  }
  checkTargetAgainstPyTorch("cuda");
}
