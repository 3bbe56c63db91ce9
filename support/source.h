// A model's source text, its name, and line lookup for diagnostics.
#pragma once

#include "support/error.h"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sinter {

// One .nn file in memory. Build it with loadSource or sourceFromString, which index the lines.
struct SourceFile {
  std::shared_ptr<const std::string> name;  // shared with every SourceLoc that points into the file
  std::string text;
  std::vector<uint32_t> lineStarts;         // byte offset of each line's first character

  // Line n (1-based) without its line terminator; empty when n is out of range.
  std::string_view line(uint32_t n) const;
  uint32_t lineCount() const { return static_cast<uint32_t>(lineStarts.size()); }
  // A location in this file.
  SourceLoc loc(uint32_t line, uint32_t col, uint32_t len = 1) const { return {name, line, col, len}; }
};

// Reads a file; a missing or unreadable file is an Error naming it and the system's reason.
Expected<SourceFile> loadSource(const std::string& path);
// A source held in memory (tests, stdin, generated models).
SourceFile sourceFromString(std::string name, std::string text);

}  // namespace sinter
