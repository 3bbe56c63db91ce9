// Philox4x32-10, the counter-based RNG every backend uses so that a seed gives the same numbers on CPU and GPU.
#pragma once

#include <array>
#include <cstdint>

namespace sinter {

// Random123's Philox4x32 with 10 rounds (Salmon et al., "Parallel Random Numbers: As Easy as 1, 2, 3",
// SC'11). It is a keyed bijection of a 128-bit counter: stateless, so element i of a tensor draws from
// counter i on any backend, in any order, on any thread, and the results agree bit for bit.
inline constexpr uint32_t kPhiloxM0 = 0xD2511F53u;
inline constexpr uint32_t kPhiloxM1 = 0xCD9E8D57u;
inline constexpr uint32_t kPhiloxW0 = 0x9E3779B9u;  // golden ratio
inline constexpr uint32_t kPhiloxW1 = 0xBB67AE85u;  // sqrt(3) - 1

namespace detail {
inline constexpr std::array<uint32_t, 4> philoxRound(std::array<uint32_t, 4> c, std::array<uint32_t, 2> k) {
  const uint64_t p0 = uint64_t{kPhiloxM0} * c[0];
  const uint64_t p1 = uint64_t{kPhiloxM1} * c[2];
  const auto hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
  const auto hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
  return {hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0};
}
}  // namespace detail

// Ten rounds with the key bumped by the Weyl constants between rounds (not before the first), exactly
// as Random123's philox4x32_R(10, ...) does, so its known-answer vectors apply.
inline constexpr std::array<uint32_t, 4> philox4x32_10(std::array<uint32_t, 4> counter, std::array<uint32_t, 2> key) {
  counter = detail::philoxRound(counter, key);
  for (int round = 1; round < 10; ++round) {
    key[0] += kPhiloxW0;  // unsigned: wraps by definition
    key[1] += kPhiloxW1;
    counter = detail::philoxRound(counter, key);
  }
  return counter;
}

// A float uniform in [0, 1) from 32 random bits: the top 24 bits are exactly representable in a float, so
// every value is a multiple of 2^-24 and 1.0 is never produced (rounding a 32-bit value could give 1.0).
inline constexpr float uniformFromBits(uint32_t x) { return static_cast<float>(x >> 8) * (1.0f / 16777216.0f); }

}  // namespace sinter
