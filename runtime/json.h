// A small JSON value with a validating parser and a compact writer, for safetensors headers and --log lines.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "support/error.h"

namespace sinter {

// A JSON value. Numbers keep a double and, when the value is an integer that fits, the exact int64:
// safetensors offsets go past 2^53 in principle, and a double would silently round them.
// Objects keep their members in source order (and keep duplicate keys: callers decide what a duplicate
// means; find() returns the first).
class Json {
 public:
  enum class Kind { Null, Bool, Number, String, Array, Object };
  using Array = std::vector<Json>;
  using Object = std::vector<std::pair<std::string, Json>>;

  Json() = default;
  Json(std::nullptr_t) {}
  Json(bool b) : v_(b) {}
  Json(double d);
  // Any integer type (not bool): exact unless an unsigned value exceeds int64.
  template <std::integral T>
  requires(!std::same_as<T, bool>) Json(T i) {
    if constexpr (std::is_signed_v<T>) {
      v_ = Number{static_cast<double>(i), static_cast<int64_t>(i), true};
    } else if (static_cast<uint64_t>(i) <= static_cast<uint64_t>(INT64_MAX)) {
      v_ = Number{static_cast<double>(i), static_cast<int64_t>(i), true};
    } else {
      v_ = Number{static_cast<double>(i), 0, false};
    }
  }
  Json(std::string s) : v_(std::move(s)) {}
  Json(std::string_view s) : v_(std::string(s)) {}
  Json(const char* s) : v_(std::string(s)) {}
  Json(Array a) : v_(std::move(a)) {}
  Json(Object o) : v_(std::move(o)) {}
  static Json array() { return Json(Array{}); }
  static Json object() { return Json(Object{}); }

  Kind kind() const { return static_cast<Kind>(v_.index()); }
  bool isNull() const { return kind() == Kind::Null; }
  bool isBool() const { return kind() == Kind::Bool; }
  bool isNumber() const { return kind() == Kind::Number; }
  // An integral number that fits in int64 exactly.
  bool isInt() const { return isNumber() && std::get<Number>(v_).exact; }
  bool isString() const { return kind() == Kind::String; }
  bool isArray() const { return kind() == Kind::Array; }
  bool isObject() const { return kind() == Kind::Object; }

  // Accessors assert the kind; check it first (is*()) when the input is untrusted.
  bool asBool() const;
  double asDouble() const;
  int64_t asInt() const;
  const std::string& asString() const;
  const Array& asArray() const;
  Array& asArray();
  const Object& asObject() const;
  Object& asObject();

  // Object member lookup: the first member named key, or nullptr (also when this is not an object).
  const Json* find(std::string_view key) const;
  // Object: replace the first member named key, or append it. Array: append.
  Json& set(std::string key, Json value);
  Json& push(Json value);

  friend bool operator==(const Json& a, const Json& b);

 private:
  struct Number {
    double d = 0;
    int64_t i = 0;
    bool exact = false;
    bool operator==(const Number& o) const { return d == o.d && exact == o.exact && (!exact || i == o.i); }
  };
  std::variant<std::monostate, bool, Number, std::string, Array, Object> v_;
};

struct JsonParseOptions {
  int maxDepth = 128;  // arrays and objects nested deeper are rejected: recursion must not blow the stack
};

// Parses exactly one JSON value (RFC 8259) surrounded by optional whitespace. Errors read
// "at byte 17: expected ',' or '}' after an object member, found 'x'".
Expected<Json> parseJson(std::string_view text, const JsonParseOptions& options = {});

// Compact JSON (no spaces), members in order. Non-finite numbers, which JSON cannot hold, are written
// as null (as JavaScript's JSON.stringify does). Strings are written as UTF-8 with the required escapes.
std::string writeJson(const Json& value);

// Whether text is well-formed UTF-8 (no overlongs, no surrogates, nothing past U+10FFFF). On failure,
// *badOffset (when given) is the byte offset of the first bad sequence.
bool isValidUtf8(std::string_view text, size_t* badOffset = nullptr);

}  // namespace sinter
