// The malformed-model corpus for syntax and train-block errors: each tests/malformed/syntax_*.nn and
// train_*.nn lists, in `# expect: LINE:COL: error: MESSAGE` comments, every diagnostic it must
// produce, in order. Other prefixes in that folder are semantic cases run through `sinter check`.
#include "frontend/parser.h"
#include "frontend/train_config.h"

#include "tests/frontend/test_util.h"

#include <algorithm>
#include <filesystem>

namespace sinter {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> corpus() {
  std::vector<fs::path> files;
  for (const fs::directory_entry& e : fs::directory_iterator(fs::path(SINTER_SOURCE_DIR) / "tests/malformed")) {
    std::string name = e.path().filename().string();
    bool ours = name.starts_with("syntax_") || name.starts_with("train_");
    if (ours && name.ends_with(".nn")) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<std::string> expectations(const SourceFile& src) {
  std::vector<std::string> out;
  constexpr std::string_view kMarker = "# expect: ";
  for (uint32_t i = 1; i <= src.lineCount(); ++i) {
    std::string_view line = src.line(i);
    size_t at = line.find(kMarker);
    if (at != std::string_view::npos) out.emplace_back(line.substr(at + kMarker.size()));
  }
  return out;
}

// Parses, and for train_ cases reads the train block, returning "line:col: error: message" per error.
std::vector<std::string> diagnostics(const SourceFile& src, bool readTrain) {
  std::vector<Diag> diags;
  auto program = parseProgram(src);
  if (!program) {
    diags = program.error().diags;
  } else if (readTrain) {
    auto config = readTrainConfig(program->train ? &*program->train : nullptr);
    if (!config) diags = config.error().diags;
  }
  std::vector<std::string> out;
  for (const Diag& d : diags) out.push_back(fmt::format("{}:{}: error: {}", d.loc.line, d.loc.col, d.message));
  return out;
}

TEST_CASE("malformed corpus: syntax and train-block diagnostics match their expect lines") {
  std::vector<fs::path> files = corpus();
  size_t syntax = 0, train = 0;
  for (const fs::path& path : files) {
    std::string name = path.filename().string();
    CAPTURE(name);
    auto src = loadSource(path.string());
    REQUIRE(src.ok());
    std::vector<std::string> expected = expectations(*src);
    CHECK_MESSAGE(!expected.empty(), "a corpus file must expect at least one error");
    bool isTrain = name.starts_with("train_");
    (isTrain ? train : syntax) += 1;
    CHECK(diagnostics(*src, isTrain) == expected);
  }
  CHECK(syntax >= 20);
  CHECK(train >= 10);
}

}  // namespace
}  // namespace sinter
