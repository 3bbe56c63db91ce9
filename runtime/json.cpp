// JSON parser and writer: recursive descent over bytes, with offsets in every error.
#include "runtime/json.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace sinter {

Json::Json(double d) {
  // Integral doubles strictly inside the int64 range also carry the exact integer (the bounds are powers
  // of two, so the comparisons are exact and the cast below is defined). -0.0 stays a double so that
  // writing it keeps the sign.
  const bool exact = std::isfinite(d) && d == std::trunc(d) && d >= -9223372036854775808.0 &&
                     d < 9223372036854775808.0 && !(d == 0 && std::signbit(d));
  v_ = Number{d, exact ? static_cast<int64_t>(d) : 0, exact};
}

bool Json::asBool() const {
  assert(isBool());
  return std::get<bool>(v_);
}
double Json::asDouble() const {
  assert(isNumber());
  return std::get<Number>(v_).d;
}
int64_t Json::asInt() const {
  assert(isInt());
  return std::get<Number>(v_).i;
}
const std::string& Json::asString() const {
  assert(isString());
  return std::get<std::string>(v_);
}
const Json::Array& Json::asArray() const {
  assert(isArray());
  return std::get<Array>(v_);
}
Json::Array& Json::asArray() {
  assert(isArray());
  return std::get<Array>(v_);
}
const Json::Object& Json::asObject() const {
  assert(isObject());
  return std::get<Object>(v_);
}
Json::Object& Json::asObject() {
  assert(isObject());
  return std::get<Object>(v_);
}

const Json* Json::find(std::string_view key) const {
  if (!isObject()) return nullptr;
  for (const auto& [k, v] : std::get<Object>(v_))
    if (k == key) return &v;
  return nullptr;
}

Json& Json::set(std::string key, Json value) {
  auto& members = asObject();
  for (auto& [k, v] : members)
    if (k == key) return v = std::move(value);
  members.emplace_back(std::move(key), std::move(value));
  return members.back().second;
}

Json& Json::push(Json value) {
  auto& elements = asArray();
  elements.push_back(std::move(value));
  return elements.back();
}

bool operator==(const Json& a, const Json& b) { return a.v_ == b.v_; }

bool isValidUtf8(std::string_view text, size_t* badOffset) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const unsigned c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    unsigned lo = 0x80, hi = 0xBF;  // allowed range of the second byte (Unicode Table 3-7)
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0)
        lo = 0xA0;  // no overlongs
      else if (c == 0xED)
        hi = 0x9F;  // no UTF-16 surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0)
        lo = 0x90;  // no overlongs
      else if (c == 0xF4)
        hi = 0x8F;  // nothing past U+10FFFF
    } else {
      if (badOffset) *badOffset = i;
      return false;
    }
    bool good = i + len <= n && s[i + 1] >= lo && s[i + 1] <= hi;
    for (size_t k = 2; good && k < len; ++k) good = s[i + k] >= 0x80 && s[i + k] <= 0xBF;
    if (!good) {
      if (badOffset) *badOffset = i;
      return false;
    }
    i += len;
  }
  return true;
}

namespace {

void appendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// How a byte reads in "found ..." of an error message.
std::string describeByte(std::string_view text, size_t pos) {
  if (pos >= text.size()) return "end of input";
  const auto c = static_cast<unsigned char>(text[pos]);
  if (c >= 0x20 && c < 0x7F) return fmt::format("'{}'", static_cast<char>(c));
  return fmt::format("byte 0x{:02x}", c);
}

// For a number that is not zero, roughly log10 of its magnitude: positive for |x| >= 1, at most 0
// for |x| < 1. Only its sign matters (a number out of double range is either huge or tiny).
int64_t decimalMagnitude(std::string_view num) {
  size_t i = num.empty() || num[0] != '-' ? 0 : 1;
  int64_t intDigits = 0, leadingFractionZeros = 0;
  bool seenNonzero = false;
  for (; i < num.size() && num[i] >= '0' && num[i] <= '9'; ++i)
    if (seenNonzero || num[i] != '0') {
      seenNonzero = true;
      ++intDigits;
    }
  if (i < num.size() && num[i] == '.')
    for (++i; i < num.size() && num[i] >= '0' && num[i] <= '9'; ++i)
      if (!seenNonzero) {
        if (num[i] == '0')
          ++leadingFractionZeros;
        else
          seenNonzero = true;
      }
  int64_t exponent = 0;
  if (i < num.size() && (num[i] == 'e' || num[i] == 'E')) {
    ++i;
    const bool negative = i < num.size() && num[i] == '-';
    if (i < num.size() && (num[i] == '-' || num[i] == '+')) ++i;
    for (; i < num.size(); ++i) exponent = std::min<int64_t>(exponent * 10 + (num[i] - '0'), int64_t{1} << 40);
    if (negative) exponent = -exponent;
  }
  return (intDigits > 0 ? intDigits : -leadingFractionZeros) + exponent;
}

class Parser {
 public:
  Parser(std::string_view text, const JsonParseOptions& options) : text_(text), options_(options) {}

  Expected<Json> parseDocument() {
    skipSpace();
    Json value;
    if (!parseValue(value, 0)) return std::move(error_);
    skipSpace();
    if (pos_ != text_.size()) return fail("expected end of input after the value");
    return value;
  }

 private:
  // Records the first error; parse functions return false all the way up.
  Error fail(std::string_view expected) { return failAt(pos_, expected); }
  Error failAt(size_t at, std::string_view expected) {
    error_ = Error(fmt::format("at byte {}: {}, found {}", at, expected, describeByte(text_, at)));
    return error_;
  }
  bool failed(std::string_view expected) {
    fail(expected);
    return false;
  }

  void skipSpace() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r'))
      ++pos_;
  }
  bool consume(char c) {
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool literal(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  bool parseValue(Json& out, int depth) {
    if (pos_ >= text_.size()) return failed("expected a value");
    switch (text_[pos_]) {
      case '{':
        return parseObject(out, depth + 1);
      case '[':
        return parseArray(out, depth + 1);
      case '"': {
        std::string s;
        if (!parseString(s)) return false;
        out = Json(std::move(s));
        return true;
      }
      case 't':
        if (literal("true")) {
          out = Json(true);
          return true;
        }
        break;
      case 'f':
        if (literal("false")) {
          out = Json(false);
          return true;
        }
        break;
      case 'n':
        if (literal("null")) {
          out = Json();
          return true;
        }
        break;
      default:
        if (text_[pos_] == '-' || (text_[pos_] >= '0' && text_[pos_] <= '9')) return parseNumber(out);
    }
    return failed("expected a value (object, array, string, number, true, false or null)");
  }

  bool enter(int depth) {
    if (depth <= options_.maxDepth) return true;
    error_ = Error(fmt::format("at byte {}: nesting deeper than {} levels", pos_, options_.maxDepth));
    return false;
  }

  bool parseObject(Json& out, int depth) {
    if (!enter(depth)) return false;
    ++pos_;  // '{'
    Json::Object members;
    skipSpace();
    if (consume('}')) {
      out = Json(std::move(members));
      return true;
    }
    for (;;) {
      skipSpace();
      if (pos_ >= text_.size() || text_[pos_] != '"') return failed("expected a string key");
      std::string key;
      if (!parseString(key)) return false;
      skipSpace();
      if (!consume(':')) return failed("expected ':' after an object key");
      skipSpace();
      Json value;
      if (!parseValue(value, depth)) return false;
      members.emplace_back(std::move(key), std::move(value));
      skipSpace();
      if (consume('}')) break;
      if (!consume(',')) return failed("expected ',' or '}' after an object member");
    }
    out = Json(std::move(members));
    return true;
  }

  bool parseArray(Json& out, int depth) {
    if (!enter(depth)) return false;
    ++pos_;  // '['
    Json::Array elements;
    skipSpace();
    if (consume(']')) {
      out = Json(std::move(elements));
      return true;
    }
    for (;;) {
      skipSpace();
      Json value;
      if (!parseValue(value, depth)) return false;
      elements.push_back(std::move(value));
      skipSpace();
      if (consume(']')) break;
      if (!consume(',')) return failed("expected ',' or ']' after an array element");
    }
    out = Json(std::move(elements));
    return true;
  }

  bool parseHex4(uint32_t& out) {
    out = 0;
    for (int k = 0; k < 4; ++k, ++pos_) {
      if (pos_ >= text_.size()) return failed("expected 4 hex digits after \\u");
      const char c = text_[pos_];
      uint32_t digit;
      if (c >= '0' && c <= '9')
        digit = static_cast<uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f')
        digit = static_cast<uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        digit = static_cast<uint32_t>(c - 'A' + 10);
      else
        return failed("expected 4 hex digits after \\u");
      out = out * 16 + digit;
    }
    return true;
  }

  bool parseString(std::string& out) {
    ++pos_;  // opening quote
    for (;;) {
      // Copy the run of ordinary bytes in one go; it is validated as UTF-8 below.
      const size_t start = pos_;
      while (pos_ < text_.size() && text_[pos_] != '"' && text_[pos_] != '\\' &&
             static_cast<unsigned char>(text_[pos_]) >= 0x20)
        ++pos_;
      const std::string_view run = text_.substr(start, pos_ - start);
      size_t bad = 0;
      if (!isValidUtf8(run, &bad)) {
        failAt(start + bad, "expected valid UTF-8 in a string");
        return false;
      }
      out.append(run);
      if (pos_ >= text_.size()) return failed("expected '\"' to close the string");
      const char c = text_[pos_];
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c != '\\') return failed("expected an escape (control characters must be escaped in a string)");
      ++pos_;
      if (pos_ >= text_.size()) return failed("expected an escape character after '\\'");
      switch (text_[pos_++]) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          const size_t escStart = pos_ - 2;
          uint32_t cp;
          if (!parseHex4(cp)) return false;
          if (cp >= 0xDC00 && cp <= 0xDFFF) {
            failAt(escStart, "expected a high surrogate before a low surrogate \\u escape");
            return false;
          }
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            // A high surrogate must be followed by an escaped low surrogate; together they are one code point.
            if (!literal("\\u")) return failed("expected a \\u low surrogate after a high surrogate");
            uint32_t low;
            if (!parseHex4(low)) return false;
            if (low < 0xDC00 || low > 0xDFFF) {
              failAt(pos_ - 6, "expected a \\u low surrogate (DC00-DFFF) after a high surrogate");
              return false;
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          appendUtf8(out, cp);
          break;
        }
        default:
          --pos_;
          return failed("expected one of \" \\ / b f n r t u after '\\'");
      }
    }
  }

  bool parseNumber(Json& out) {
    // Check the RFC 8259 grammar ourselves: from_chars accepts forms JSON does not ("1.", "01", "inf").
    const size_t start = pos_;
    consume('-');
    if (consume('0')) {
      // a single leading zero
    } else if (pos_ < text_.size() && text_[pos_] >= '1' && text_[pos_] <= '9') {
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
    } else {
      return failed("expected a digit in the number");
    }
    bool integral = true;
    if (consume('.')) {
      integral = false;
      if (pos_ >= text_.size() || text_[pos_] < '0' || text_[pos_] > '9') return failed("expected a digit after '.'");
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
    }
    if (consume('e') || consume('E')) {
      integral = false;
      if (!consume('+')) consume('-');
      if (pos_ >= text_.size() || text_[pos_] < '0' || text_[pos_] > '9')
        return failed("expected a digit in the exponent");
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
    }
    const char* first = text_.data() + start;
    const char* last = text_.data() + pos_;
    if (integral) {
      int64_t i = 0;
      const auto r = std::from_chars(first, last, i);
      if (r.ec == std::errc() && r.ptr == last) {
        out = Json(i);
        return true;
      }
      // Out of int64 range: fall through to a (rounded) double.
    }
    double d = 0;
    const auto r = std::from_chars(first, last, d);
    if (r.ec == std::errc::result_out_of_range) {
      // Overflow is an error; underflow to zero is what every JSON reader does. from_chars leaves d
      // alone either way, so tell them apart by the magnitude the text denotes.
      if (decimalMagnitude(text_.substr(start, pos_ - start)) > 0) {
        failAt(start, "expected a number within double range");
        return false;
      }
      d = 0;
    } else if (r.ec != std::errc() || r.ptr != last) {
      failAt(start, "expected a number");
      return false;
    }
    out = Json(d);
    return true;
  }

  std::string_view text_;
  const JsonParseOptions& options_;
  size_t pos_ = 0;
  Error error_;
};

void writeString(std::string& out, std::string_view s) {
  out += '"';
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20)
          out += fmt::format("\\u{:04x}", c);
        else
          out += ch;
    }
  }
  out += '"';
}

void writeValue(std::string& out, const Json& v) {
  switch (v.kind()) {
    case Json::Kind::Null:
      out += "null";
      break;
    case Json::Kind::Bool:
      out += v.asBool() ? "true" : "false";
      break;
    case Json::Kind::Number:
      if (v.isInt())
        out += fmt::format("{}", v.asInt());
      else if (!std::isfinite(v.asDouble()))
        out += "null";
      else if (v.asDouble() == 0)
        out += "-0.0";  // the only zero that is no integer; "-0" would read back as the integer 0
      else
        out += fmt::format("{}", v.asDouble());  // shortest form that reads back to the same double
      break;
    case Json::Kind::String:
      writeString(out, v.asString());
      break;
    case Json::Kind::Array: {
      out += '[';
      bool first = true;
      for (const auto& e : v.asArray()) {
        if (!first) out += ',';
        first = false;
        writeValue(out, e);
      }
      out += ']';
      break;
    }
    case Json::Kind::Object: {
      out += '{';
      bool first = true;
      for (const auto& [k, e] : v.asObject()) {
        if (!first) out += ',';
        first = false;
        writeString(out, k);
        out += ':';
        writeValue(out, e);
      }
      out += '}';
      break;
    }
  }
}

}  // namespace

Expected<Json> parseJson(std::string_view text, const JsonParseOptions& options) {
  return Parser(text, options).parseDocument();
}

std::string writeJson(const Json& value) {
  std::string out;
  writeValue(out, value);
  return out;
}

}  // namespace sinter
