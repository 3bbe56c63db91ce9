// Shared by the frontend tests: doctest prints a vector of strings one per line on a mismatch.
#pragma once

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace doctest {
template <>
struct StringMaker<std::vector<std::string>> {
  static String convert(const std::vector<std::string>& lines) {
    std::string out = "{";
    for (const std::string& l : lines) out += "\n    \"" + l + "\"";
    return String((out + "\n  }").c_str());
  }
};
}  // namespace doctest
