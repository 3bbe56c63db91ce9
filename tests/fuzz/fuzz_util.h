// What the fuzz targets share: the input as bytes or text, and checks that stop the fuzzer (an
// invariant broken is a finding, as a crash is).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace sinter::fuzz {

inline std::span<const uint8_t> bytes(const uint8_t* data, size_t size) { return {data, size}; }
inline std::string_view text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// __builtin_trap, not assert: the check must hold in every build the fuzzer runs.
inline void require(bool condition) {
  if (!condition) __builtin_trap();
}

inline bool startsWith(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

}  // namespace sinter::fuzz
