// Philox4x32-10 against Random123's known-answer vectors, and the float conversion's range.
#include "support/philox.h"

#include <doctest/doctest.h>

using namespace sinter;

using Words = std::array<uint32_t, 4>;

TEST_CASE("philox4x32_10 matches Random123's known-answer vectors") {
  CHECK(philox4x32_10({0, 0, 0, 0}, {0, 0}) == Words{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8});
  CHECK(philox4x32_10({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff}) ==
        Words{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd});
  CHECK(philox4x32_10({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}) ==
        Words{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1});
}

TEST_CASE("philox4x32_10 is usable at compile time and is stateless") {
  constexpr Words a = philox4x32_10({1, 2, 3, 4}, {5, 6});
  CHECK(philox4x32_10({1, 2, 3, 4}, {5, 6}) == a);
  CHECK(philox4x32_10({2, 2, 3, 4}, {5, 6}) != a);  // a neighbouring counter gives other bits
  CHECK(philox4x32_10({1, 2, 3, 4}, {5, 7}) != a);
}

TEST_CASE("uniformFromBits covers [0, 1) in steps of 2^-24") {
  CHECK(uniformFromBits(0) == 0.0f);
  CHECK(uniformFromBits(0xff) == 0.0f);  // the low 8 bits are dropped
  CHECK(uniformFromBits(0x100) == 1.0f / 16777216.0f);
  CHECK(uniformFromBits(0x80000000u) == 0.5f);
  CHECK(uniformFromBits(0xffffffffu) < 1.0f);
  CHECK(uniformFromBits(0xffffffffu) == 1.0f - 1.0f / 16777216.0f);

  // A million draws from consecutive counters: the mean is near 1/2 and everything is in range.
  double sum = 0;
  int n = 0, outside = 0;
  for (uint32_t i = 0; i < 250000; ++i)
    for (uint32_t w : philox4x32_10({i, 0, 0, 0}, {42, 0})) {
      const float u = uniformFromBits(w);
      outside += !(u >= 0.0f && u < 1.0f);
      sum += u;
      ++n;
    }
  CHECK(outside == 0);
  CHECK(sum / n == doctest::Approx(0.5).epsilon(0.002));
}
