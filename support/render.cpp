// Clang-style rendering of diagnostics with the quoted source line and a caret under the range.
#include "support/render.h"

#include <algorithm>

namespace sinter {
namespace {

constexpr uint32_t kTabStop = 4;

// The display column (0-based) of byte offset `offset` in `line`: tabs expand to the next tab stop
// and UTF-8 continuation bytes take no column, so the caret lines up under what the terminal shows.
uint32_t displayColumn(std::string_view line, size_t offset) {
  uint32_t col = 0;
  for (size_t i = 0; i < offset && i < line.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(line[i]);
    if (c == '\t') col = (col / kTabStop + 1) * kTabStop;
    else if ((c & 0xC0) != 0x80) ++col;
  }
  return col;
}

std::string expandTabs(std::string_view line) {
  std::string out;
  for (char c : line) {
    if (c == '\t') out.append(kTabStop - out.size() % kTabStop, ' ');
    else out.push_back(c);
  }
  return out;
}

bool inSource(const SourceLoc& loc, const SourceFile& source) {
  if (!loc.known() || loc.line > source.lineCount()) return false;
  // Locations carry a shared name; compare text too, so a copy of the same name still matches.
  return loc.file == source.name || (loc.file && source.name && *loc.file == *source.name);
}

void renderOne(std::string& out, const Diag& diag, std::string_view severity, const SourceFile& source,
               std::string_view tool) {
  if (!diag.loc.known()) {
    // An unlocated note belongs to the error above it, so it takes no program name.
    const bool named = !tool.empty() && severity != "note";
    out += fmt::format("{}{}{}: {}\n", named ? tool : "", named ? ": " : "", severity, diag.message);
    return;
  }
  out += fmt::format("{}: {}: {}\n", diag.loc.str(), severity, diag.message);
  if (!inSource(diag.loc, source)) return;

  std::string_view text = source.line(diag.loc.line);
  // The range is clipped to the line: a multi-line range underlines the rest of its first line.
  size_t begin = std::min<size_t>(diag.loc.col - 1, text.size());
  size_t end = std::min<size_t>(begin + std::max<uint32_t>(diag.loc.len, 1), text.size());
  uint32_t first = displayColumn(text, begin);
  uint32_t last = std::max(displayColumn(text, end), first + 1);
  out += fmt::format("{:>5} | {}\n", diag.loc.line, expandTabs(text));
  out += fmt::format("{:>5} | {}^{}\n", "", std::string(first, ' '), std::string(last - first - 1, '~'));
}

}  // namespace

std::string renderDiagnostics(const Error& error, const SourceFile& source, std::string_view tool) {
  std::string out;
  for (const Diag& diag : error.diags) {
    renderOne(out, diag, "error", source, tool);
    for (const Diag& note : diag.notes) renderOne(out, note, "note", source, tool);
  }
  return out;
}

}  // namespace sinter
