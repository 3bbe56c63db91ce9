// The `sinter` command line: one options struct that every subcommand reads (no environment
// variables, no hidden globals).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "support/error.h"

namespace sinter {

struct ToolOptions {
  std::string command;               // check, dump, run, gradcheck, ...
  std::vector<std::string> files;    // positional arguments
  std::string stage = "ir";          // dump --stage
  std::string format = "text";       // dump --format
  bool printAfterAll = false;
  std::vector<std::string> printAfter;  // --print-after=PASS (repeatable)
  bool printChanged = false;
  std::vector<std::string> passes;   // --passes=a,b: run exactly these passes
  std::string weights, inputs, output;  // run
  bool grads = false;
  bool checkNumerics = false;        // run: stop at the first non-finite value
  std::string target;                // --target: run's default is ref, build's and train's cpu
  uint64_t seed = 0;
  std::string precision = "f64";     // run on the reference evaluator
  double fdStep = 1e-6;              // gradcheck --step: the finite-difference step
  int64_t maxBatch = 0;              // --max-batch: the largest batch a compiled plan runs
                                     // (0: the model's train batch, at least 64 for `run`)
  int threads = 0;                   // --threads: kernel threads for --target cpu (0 = all cores)
  int jobs = 0;                      // --jobs: threads compiling the kernels (0 = all cores)
  // build
  std::string emit;                  // --emit=obj|llvm|asm: stop before linking
  int optLevel = 3;                  // -O0..-O3
  std::string cpu;                   // --cpu / -march: the CPU to generate code for (default: this one)
  bool timePasses = false;           // --time-passes
  // train: everything after the model file that is not a compiler option, for the trainer
  std::vector<std::string> trainerArgs;
};

// Parses argv[1..]; `--help`/`--version` set command to "help"/"version".
Expected<ToolOptions> parseOptions(int argc, char** argv);
extern const char* const kUsage;

}  // namespace sinter
