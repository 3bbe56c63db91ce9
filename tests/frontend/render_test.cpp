// Diagnostic rendering tests: exact clang-style text, notes, tabs, unknown and foreign locations.
#include "support/render.h"

#include <doctest/doctest.h>

namespace sinter {
namespace {

TEST_CASE("render: error with a range and a note, exactly as clang prints them") {
  SourceFile src = sourceFromString("lenet.nn", "model m {\n  a = x\n  x = a + b\n}\n");
  Error e(src.loc(3, 7, 5), "cannot add f32[B,4] and f32[B,5]");
  e.note(src.loc(2, 3), "`a` was defined here");
  CHECK(renderDiagnostics(e, src) ==
        "lenet.nn:3:7: error: cannot add f32[B,4] and f32[B,5]\n"
        "    3 |   x = a + b\n"
        "      |       ^~~~~\n"
        "lenet.nn:2:3: note: `a` was defined here\n"
        "    2 |   a = x\n"
        "      |   ^\n");
}

TEST_CASE("render: several diagnostics, wide line numbers, ranges clipped to the line") {
  std::string text;
  for (int i = 1; i < 12; ++i) text += "\n";
  text += "  x = f(a,";
  SourceFile src = sourceFromString("m.nn", text);
  Error e;
  e.diags.push_back({src.loc(12, 7, 40), "first", {}});
  e.diags.push_back({src.loc(12, 11), "expected an expression, found end of file", {}});
  CHECK(renderDiagnostics(e, src) ==
        "m.nn:12:7: error: first\n"
        "   12 |   x = f(a,\n"
        "      |       ^~~~\n"
        "m.nn:12:11: error: expected an expression, found end of file\n"
        "   12 |   x = f(a,\n"
        "      |           ^\n");
}

TEST_CASE("render: tabs expand and the caret follows them") {
  SourceFile src = sourceFromString("t.nn", "\tx =\t$\n");
  Error e(src.loc(1, 6), "unexpected character '$'");
  CHECK(renderDiagnostics(e, src) ==
        "t.nn:1:6: error: unexpected character '$'\n"
        "    1 |     x = $\n"
        "      |         ^\n");
}

TEST_CASE("render: unknown locations and other files print no quote") {
  SourceFile src = sourceFromString("t.nn", "x\n");
  Error e("too many errors, stopping now");
  e.note(sourceFromString("other.nn", "y\n").loc(1, 1), "declared here");
  e.diags.push_back({src.loc(9, 1), "past the end", {}});
  CHECK(renderDiagnostics(e, src) ==
        "sinter: error: too many errors, stopping now\n"
        "other.nn:1:1: note: declared here\n"
        "t.nn:9:1: error: past the end\n");
}

TEST_CASE("source: lines, CRLF and a missing file") {
  SourceFile src = sourceFromString("t.nn", "a\r\nbb\n\nccc");
  CHECK(src.lineCount() == 4);
  CHECK(src.line(1) == "a");
  CHECK(src.line(2) == "bb");
  CHECK(src.line(3) == "");
  CHECK(src.line(4) == "ccc");
  CHECK(src.line(5) == "");
  CHECK(src.line(0) == "");
  CHECK(sourceFromString("e.nn", "").lineCount() == 1);

  auto missing = loadSource("/nonexistent/x.nn");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message() == "cannot open '/nonexistent/x.nn': No such file or directory");
  auto dir = loadSource(SINTER_SOURCE_DIR);
  REQUIRE_FALSE(dir.ok());
  CHECK(dir.error().message() == fmt::format("cannot open '{}': Is a directory", SINTER_SOURCE_DIR));
  auto lenet = loadSource(std::string(SINTER_SOURCE_DIR) + "/examples/lenet.nn");
  REQUIRE(lenet.ok());
  CHECK(lenet->line(2) == "model lenet {");
  CHECK(*lenet->name == std::string(SINTER_SOURCE_DIR) + "/examples/lenet.nn");
}

}  // namespace
}  // namespace sinter
