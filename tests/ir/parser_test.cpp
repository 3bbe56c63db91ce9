// The IR text parser at its boundary: text that no compiler wrote (huge numbers, negative or oversized
// shapes, attributes whose shape arithmetic would overflow) is an error at its line and column.
#include <doctest/doctest.h>

#include <string>

#include "ir/printer.h"

using namespace sinter;

namespace {

// "line:col: message" of the first error in parsing a module that holds one function with `body`.
std::string errorOf(const std::string& params, const std::string& body) {
  const std::string text = "module @m\n\nfunc @f(" + params + ") {\n" + body + "\n}\n";
  Expected<Module> m = parseModule(text, "t.ir");
  INFO(text);
  REQUIRE_FALSE(m.ok());
  const Diag& d = m.error().diags.front();
  return fmt::format("{}:{}: {}", d.loc.line, d.loc.col, d.message);
}

const std::string kConvIn = "%x : f32[B,1,8,8], %w : f32[2,1,3,3]";

std::string conv(const std::string& attrs) {
  return "  %y = conv2d(%x, %w) {" + attrs + "} : f32[B,2,8,8]\n  return y=%y";
}

}  // namespace

TEST_CASE("ir parser: numbers out of range and types no frontend makes") {
  CHECK(errorOf("%x : f32[99999999999999999999]", "  return x=%x") == "3:18: number '99999999999999999999' is out of range");
  CHECK(errorOf("%x : f32[B]", "  %c = constant() {value=1e999, dtype=\"f32\"} : f32[]\n  return c=%c") ==
        "4:26: number '1e999' is out of range");
  CHECK(errorOf("%x : f32[2,-3]", "  return x=%x") == "3:14: dimension -3 of f32[2,-3] is negative");
  CHECK(errorOf("%x : f32[B,B]", "  return x=%x") == "3:14: f32[B,B] has B twice");
  CHECK(errorOf("%x : f32[B,2097152,2097152]", "  return x=%x") ==
        "3:14: f32[B,2097152,2097152] has more than 2^40 elements per batch item");
}

TEST_CASE("ir parser: attributes whose shape arithmetic would overflow are errors") {
  CHECK(errorOf(kConvIn, conv("stride=[1,1], padding=[9223372036854775807,1], dilation=[1,1], groups=1")) ==
        "4:8: kernel 3x3 (dilation 1) does not fit the 8x8 input with padding 9223372036854775807");
  CHECK(errorOf(kConvIn, conv("stride=[1,1], padding=[1,1], dilation=[4611686018427387904,1], groups=1")) ==
        "4:8: kernel 3x3 (dilation 4611686018427387904) does not fit the 8x8 input with padding 1");
  CHECK(errorOf("%x : f32[B,0,8,8], %w : f32[0,2,3,3]",
                "  %y = conv2d(%x, %w) {stride=[1,1], padding=[0,0], dilation=[1,1], groups=4611686018427387904} : "
                "f32[B,0,6,6]\n  return y=%y") ==
        "4:8: weight [0,2,3,3] with groups = 4611686018427387904 expects more input channels than fit in 64 bits");
  CHECK(errorOf("%x : f32[B,4,4,4]",
                "  %y = maxpool2d(%x) {kernel=[2,2], stride=[1,1], padding=[9223372036854775807,0]} : f32[B,4,4,4]\n"
                "  return y=%y") == "4:8: padding 9223372036854775807 must be between 0 and half the kernel 2");
  CHECK(errorOf("%x : f32[B,4]",
                "  %y = reshape(%x) {shape=[B,4294967296,4294967296,4294967296]} : f32[B,4]\n  return y=%y") ==
        "4:8: cannot reshape f32[B,4] to [B,4294967296,4294967296,4294967296]");
  CHECK(errorOf("%x : f32[B,4]",
                "  %y = pad(%x) {axis=1, before=9223372036854775807, after=1} : f32[B,4]\n  return y=%y") ==
        "4:8: padding 9223372036854775807 and 1 of an extent 4 is more than fits in 64 bits");
  CHECK(errorOf("%x : f32[B,4]", "  %y = broadcast(%x) {shape=[B,-5]} : f32[B,4]\n  return y=%y") ==
        "4:8: cannot broadcast f32[B,4] to [B,-5]");
}
