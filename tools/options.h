// The `sinter` command line: one options struct that every subcommand reads (no environment
// variables, no hidden globals).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ir/diagnostic.h"

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
  std::string target = "ref";
  uint64_t seed = 0;
  std::string precision = "f64";     // run on the reference evaluator
  double fdStep = 1e-6;              // gradcheck --step: the finite-difference step
  int64_t maxBatch = 64;             // --max-batch: the largest batch a compiled plan runs
  int threads = 0;                   // --threads: kernel threads for --target cpu (0 = all cores)
};

// Parses argv[1..]; `--help`/`--version` set command to "help"/"version".
Expected<ToolOptions> parseOptions(int argc, char** argv);
extern const char* const kUsage;

}  // namespace sinter
