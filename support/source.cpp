// Loading .nn files and indexing their lines.
#include "support/source.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace sinter {

std::string_view SourceFile::line(uint32_t n) const {
  if (n == 0 || n > lineStarts.size()) return {};
  size_t begin = lineStarts[n - 1];
  size_t end = n < lineStarts.size() ? lineStarts[n] : text.size();
  std::string_view s(text.data() + begin, end - begin);
  // Strip "\n" and a preceding "\r" so Windows line endings quote cleanly.
  if (!s.empty() && s.back() == '\n') s.remove_suffix(1);
  if (!s.empty() && s.back() == '\r') s.remove_suffix(1);
  return s;
}

SourceFile sourceFromString(std::string name, std::string text) {
  SourceFile src;
  src.name = std::make_shared<const std::string>(std::move(name));
  src.text = std::move(text);
  src.lineStarts.push_back(0);
  for (size_t i = 0; i < src.text.size(); ++i) {
    // A final "\n" ends the last line rather than starting an empty one.
    if (src.text[i] == '\n' && i + 1 < src.text.size()) src.lineStarts.push_back(static_cast<uint32_t>(i + 1));
  }
  return src;
}

Expected<SourceFile> loadSource(const std::string& path) {
  // A directory opens as a stream on Linux and fails only on reading: say so up front.
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return Error(fmt::format("cannot open '{}': {}", path, std::strerror(EISDIR)));
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error(fmt::format("cannot open '{}': {}", path, std::strerror(errno)));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return Error(fmt::format("cannot read '{}': {}", path, std::strerror(errno)));
  return sourceFromString(path, std::move(buffer).str());
}

}  // namespace sinter
