// The JSON value, parser and writer: round trips, exact integers, escapes, and every kind of error.
#include "runtime/json.h"

#include <doctest/doctest.h>

#include <cmath>
#include <string>

using namespace sinter;

namespace {

Json parseOk(std::string_view text) {
  auto v = parseJson(text);
  INFO(text);
  REQUIRE_MESSAGE(v.ok(), (v.ok() ? std::string() : v.error().message()));
  return v.take();
}

std::string parseError(std::string_view text, const JsonParseOptions& options = {}) {
  auto v = parseJson(text, options);
  INFO(text);
  REQUIRE_FALSE(v.ok());
  return v.error().message();
}

}  // namespace

TEST_CASE("json: scalars and their kinds") {
  CHECK(parseOk("null").isNull());
  CHECK(parseOk("true").asBool());
  CHECK_FALSE(parseOk(" false ").asBool());
  CHECK(parseOk("\"hi\"").asString() == "hi");
  CHECK(parseOk("0.5").asDouble() == 0.5);
  CHECK_FALSE(parseOk("0.5").isInt());
  CHECK(parseOk("-12").asInt() == -12);
  CHECK(parseOk("1e3").isInt());  // integral after all
  CHECK(parseOk("1e3").asInt() == 1000);
  CHECK(parseOk("5E-4").asDouble() == 5e-4);
  CHECK(parseOk("-0").isInt());
}

TEST_CASE("json: integers stay exact beyond 2^53") {
  // 2^53 + 1 is not a double; a reader that went through double would say ...992.
  const Json v = parseOk("9007199254740993");
  REQUIRE(v.isInt());
  CHECK(v.asInt() == 9007199254740993LL);
  CHECK(writeJson(v) == "9007199254740993");
  CHECK(parseOk("9223372036854775807").asInt() == INT64_MAX);
  CHECK(parseOk("-9223372036854775808").asInt() == INT64_MIN);
  // One past int64: a (rounded) double, no longer an exact integer.
  const Json big = parseOk("9223372036854775808");
  CHECK_FALSE(big.isInt());
  CHECK(big.asDouble() == 9223372036854775808.0);
  CHECK(Json(uint64_t{18446744073709551615ULL}).isInt() == false);
  CHECK(Json(size_t{7}).asInt() == 7);
}

TEST_CASE("json: string escapes decode to UTF-8") {
  CHECK(parseOk(R"("a\"b\\c\/d\b\f\n\r\t")").asString() == "a\"b\\c/d\b\f\n\r\t");
  CHECK(parseOk(R"("\u0041\u00e9\u20AC")").asString() == "A\xc3\xa9\xe2\x82\xac");  // A é €
  CHECK(parseOk(R"("\ud83d\ude00")").asString() == "\xf0\x9f\x98\x80");             // 😀 from a surrogate pair
  CHECK(parseOk("\"\xc3\xa9\xf0\x9f\x98\x80\"").asString() == "\xc3\xa9\xf0\x9f\x98\x80");  // raw UTF-8 passes
  CHECK(parseOk(R"("\u0000")").asString() == std::string(1, '\0'));
}

TEST_CASE("json: objects keep order and duplicates; find returns the first") {
  const Json v = parseOk(R"({"z": 1, "a": [true, null, {}], "m": "x", "z": 2})");
  REQUIRE(v.isObject());
  const auto& members = v.asObject();
  REQUIRE(members.size() == 4);
  CHECK(members[0].first == "z");
  CHECK(members[1].first == "a");
  CHECK(members[2].first == "m");
  CHECK(v.find("z")->asInt() == 1);
  CHECK(v.find("a")->asArray().size() == 3);
  CHECK(v.find("missing") == nullptr);
  CHECK(Json(1).find("z") == nullptr);
}

TEST_CASE("json: write and parse round-trip") {
  Json obj = Json::object();
  obj.set("name", "fc1.weight");
  obj.set("shape", Json(Json::Array{Json(128), Json(784)}));
  obj.set("loss", 0.1);
  obj.set("tiny", 5e-324);
  obj.set("neg", -2.5e300);
  obj.set("flag", false);
  obj.set("none", nullptr);
  obj.set("text", "tab\there \"q\" back\\slash \x01 \xc3\xa9");
  obj.set("nested", Json(Json::Array{Json::object(), Json::array(), Json(Json::Array{Json(1)})}));
  obj.set("name", "replaced");  // set() replaces in place, keeping the position

  const std::string text = writeJson(obj);
  CHECK(text.substr(0, 40) == R"({"name":"replaced","shape":[128,784],"lo)");
  CHECK(text.find(R"("text":"tab\there \"q\" back\\slash \u0001 )") != std::string::npos);
  const Json back = parseOk(text);
  CHECK(back == obj);
  CHECK(writeJson(back) == text);

  // Doubles are written in the shortest form that reads back to the same value.
  CHECK(writeJson(Json(0.1)) == "0.1");
  CHECK(writeJson(Json(3.0)) == "3");
  CHECK(parseOk(writeJson(Json(1.0 / 3))).asDouble() == 1.0 / 3);
  // -0.0 keeps its sign through a round trip ("-0" would read back as the integer 0).
  CHECK(writeJson(Json(-0.0)) == "-0.0");
  const Json negZero = parseOk(writeJson(Json(-0.0)));
  CHECK(negZero == Json(-0.0));
  CHECK(std::signbit(negZero.asDouble()));
}

TEST_CASE("json: non-finite numbers are written as null") {
  CHECK(writeJson(Json(std::nan(""))) == "null");
  CHECK(writeJson(Json(HUGE_VAL)) == "null");
}

TEST_CASE("json: errors give the byte offset and what was expected") {
  CHECK(parseError("") == "at byte 0: expected a value, found end of input");
  CHECK(parseError("{\"a\": 1 x") == "at byte 8: expected ',' or '}' after an object member, found 'x'");
  CHECK(parseError("[1, 2") == "at byte 5: expected ',' or ']' after an array element, found end of input");
  CHECK(parseError("[1,]") ==
        "at byte 3: expected a value (object, array, string, number, true, false or null), found ']'");
  CHECK(parseError("{1: 2}") == "at byte 1: expected a string key, found '1'");
  CHECK(parseError("{\"a\" 2}") == "at byte 5: expected ':' after an object key, found '2'");
  CHECK(parseError("{\"a\":1,}") == "at byte 7: expected a string key, found '}'");
  CHECK(parseError("1 2") == "at byte 2: expected end of input after the value, found '2'");
  CHECK(parseError("tru") ==
        "at byte 0: expected a value (object, array, string, number, true, false or null), found 't'");
  CHECK(parseError("\"abc") == "at byte 4: expected '\"' to close the string, found end of input");
  CHECK(parseError("\"a\nb\"") ==
        "at byte 2: expected an escape (control characters must be escaped in a string), found byte 0x0a");
  CHECK(parseError(R"("\x")") == "at byte 2: expected one of \" \\ / b f n r t u after '\\', found 'x'");
  CHECK(parseError(R"("\u12G4")") == "at byte 5: expected 4 hex digits after \\u, found 'G'");
  CHECK(parseError(R"("\udc00")") ==
        "at byte 1: expected a high surrogate before a low surrogate \\u escape, found '\\'");
  CHECK(parseError(R"("\ud800x")") == "at byte 7: expected a \\u low surrogate after a high surrogate, found 'x'");
  CHECK(parseError(R"("\ud800\u0041")") ==
        "at byte 7: expected a \\u low surrogate (DC00-DFFF) after a high surrogate, found '\\'");
  CHECK(parseError("\"\xc3\x28\"") == "at byte 1: expected valid UTF-8 in a string, found byte 0xc3");
  CHECK(parseError("\"ab\xed\xa0\x80\"") ==
        "at byte 3: expected valid UTF-8 in a string, found byte 0xed");  // a surrogate
}

TEST_CASE("json: numbers follow the JSON grammar") {
  CHECK(parseError("01") == "at byte 1: expected end of input after the value, found '1'");
  CHECK(parseError("1.") == "at byte 2: expected a digit after '.', found end of input");
  CHECK(parseError("-") == "at byte 1: expected a digit in the number, found end of input");
  CHECK(parseError("+1").find("at byte 0: expected a value") == 0);
  CHECK(parseError(".5").find("at byte 0: expected a value") == 0);
  CHECK(parseError("1e") == "at byte 2: expected a digit in the exponent, found end of input");
  CHECK(parseError("1e999") == "at byte 0: expected a number within double range, found '1'");
  CHECK(parseError("-12.5e400") == "at byte 0: expected a number within double range, found '-'");
  CHECK(parseOk("1e-999").asDouble() == 0.0);
  CHECK(parseOk("-0.00001e-400").asDouble() == 0.0);
  CHECK(parseOk("123456e-400").asDouble() == 0.0);  // underflow rounds to zero, as every reader does
  CHECK(parseError("NaN").find("at byte 0: expected a value") == 0);
}

TEST_CASE("json: nesting is limited") {
  const std::string deep(200, '[');
  CHECK(parseError(deep) == "at byte 128: nesting deeper than 128 levels");
  const std::string ok = std::string(128, '[') + std::string(128, ']');
  CHECK(parseOk(ok).isArray());
  JsonParseOptions shallow;
  shallow.maxDepth = 2;
  CHECK(parseError(R"({"a": {"b": [1]}})", shallow) == "at byte 12: nesting deeper than 2 levels");
  CHECK(parseJson(R"({"a": {"b": 1}})", shallow).ok());
  // A nesting bomb: a megabyte of brackets stops at the limit, without recursing a million frames.
  const std::string bomb = std::string(1 << 20, '[') + std::string(1 << 20, ']');
  CHECK(parseError(bomb) == "at byte 128: nesting deeper than 128 levels");
  std::string objects;
  for (int i = 0; i < 100000; ++i) objects += R"({"a":)";
  CHECK(parseError(objects) == "at byte 640: nesting deeper than 128 levels");
}

TEST_CASE("json: UTF-8 validation") {
  size_t bad = 99;
  CHECK(isValidUtf8("plain ascii"));
  CHECK(isValidUtf8("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
  CHECK_FALSE(isValidUtf8("ab\xc0\xaf", &bad));  // overlong '/'
  CHECK(bad == 2);
  CHECK_FALSE(isValidUtf8("\xf4\x90\x80\x80", &bad));  // past U+10FFFF
  CHECK(bad == 0);
  CHECK_FALSE(isValidUtf8("x\xe2\x82", &bad));  // cut short
  CHECK(bad == 1);
  CHECK_FALSE(isValidUtf8("\x80"));
}
