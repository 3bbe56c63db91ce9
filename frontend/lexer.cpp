// The .nn lexer. Hand-written: one pass over the bytes, one token per call to next().
#include "frontend/lexer.h"

#include <charconv>

namespace sinter {
namespace {

bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isIdentStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool isIdentChar(char c) { return isIdentStart(c) || isDigit(c); }

// Tokens after which an expression cannot end, so a line break inside brackets continues it.
bool expectsMore(Tok kind) {
  switch (kind) {
    case Tok::LParen: case Tok::LBracket: case Tok::Comma: case Tok::Equal: case Tok::Colon:
    case Tok::Plus: case Tok::Minus: case Tok::Star: case Tok::Slash: case Tok::At:
      return true;
    default:
      return false;
  }
}

class Lexer {
 public:
  explicit Lexer(const SourceFile& source) : src_(source), s_(source.text) {}

  std::vector<Token> run() {
    while (true) {
      skipSpaceAndComments();
      if (pos_ >= s_.size()) break;
      char c = s_[pos_];
      if (c == '\n') newline();
      else if (isIdentStart(c)) identifier();
      else if (isDigit(c) || (c == '.' && pos_ + 1 < s_.size() && isDigit(s_[pos_ + 1]))) number();
      else punctuation();
    }
    Token eof;
    eof.kind = Tok::Eof;
    eof.loc = afterLastToken();
    out_.push_back(std::move(eof));
    return std::move(out_);
  }

 private:
  char peekAt(size_t i) const { return i < s_.size() ? s_[i] : '\0'; }
  uint32_t col(size_t offset) const { return static_cast<uint32_t>(offset - lineStart_ + 1); }

  Token& emit(Tok kind, size_t begin) {
    Token t;
    t.kind = kind;
    t.text = s_.substr(begin, pos_ - begin);
    t.loc = src_.loc(line_, col(begin), static_cast<uint32_t>(pos_ - begin));
    out_.push_back(std::move(t));
    return out_.back();
  }

  void error(size_t begin, std::string message) { emit(Tok::Error, begin).message = std::move(message); }

  void skipSpaceAndComments() {
    while (pos_ < s_.size()) {
      char c = s_[pos_];
      if (c == ' ' || c == '\t' || c == '\r') ++pos_;
      else if (c == '#') while (pos_ < s_.size() && s_[pos_] != '\n') ++pos_;
      else break;
    }
  }

  // Right after the previous token when it is on this line (where clang puts a missing-token caret),
  // else at the start of the current line.
  SourceLoc afterLastToken() const {
    for (auto it = out_.rbegin(); it != out_.rend(); ++it) {
      if (it->kind == Tok::Newline) continue;
      return src_.loc(it->loc.line, it->loc.col + it->loc.len);
    }
    return src_.loc(1, 1);
  }

  // Does the next non-blank, non-comment character start a continuation of a bracketed expression?
  bool nextLineContinues() const {
    size_t i = pos_;
    while (i < s_.size()) {
      char c = s_[i];
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n') ++i;
      else if (c == '#') while (i < s_.size() && s_[i] != '\n') ++i;
      else return c == ')' || c == ']' || c == ',' || c == '+' || c == '-' || c == '*' || c == '/' || c == '@';
    }
    return false;
  }

  void newline() {
    SourceLoc loc = afterLastToken();
    if (out_.empty() || out_.back().loc.line != line_) loc = src_.loc(line_, col(pos_));
    ++pos_;
    ++line_;
    lineStart_ = pos_;
    if (depth_ > 0) {
      if ((!out_.empty() && expectsMore(out_.back().kind)) || nextLineContinues()) return;
      // An unclosed bracket: the statement ends here and the next line starts afresh.
      depth_ = 0;
    }
    if (out_.empty() || out_.back().kind == Tok::Newline) return;
    Token t;
    t.kind = Tok::Newline;
    t.text = "\n";
    t.loc = loc;
    out_.push_back(std::move(t));
  }

  void identifier() {
    size_t begin = pos_;
    while (isIdentChar(peekAt(pos_))) ++pos_;
    // `fc1.weight`: a dot between identifier parts joins them into one name.
    while (peekAt(pos_) == '.' && isIdentStart(peekAt(pos_ + 1))) {
      ++pos_;
      while (isIdentChar(peekAt(pos_))) ++pos_;
    }
    emit(Tok::Ident, begin);
  }

  // Integers and floats: 12, 0.5, 1., .5, 1e3, 5e-4, 2.5E+3. A number running into letters, digits
  // or dots (`1e`, `1.2.3`, `3x`) is one malformed-number error covering the whole run.
  void number() {
    size_t begin = pos_;
    bool isFloat = false;
    while (isDigit(peekAt(pos_))) ++pos_;
    if (peekAt(pos_) == '.') {
      isFloat = true;
      ++pos_;
      while (isDigit(peekAt(pos_))) ++pos_;
    }
    char e = peekAt(pos_);
    if (e == 'e' || e == 'E') {
      size_t digits = pos_ + 1;
      if (peekAt(digits) == '+' || peekAt(digits) == '-') ++digits;
      if (isDigit(peekAt(digits))) {
        isFloat = true;
        pos_ = digits;
        while (isDigit(peekAt(pos_))) ++pos_;
      } else if (!isIdentChar(peekAt(digits)) && peekAt(digits) != '.') {
        pos_ = digits;
        error(begin, fmt::format("malformed number '{}': the exponent has no digits", s_.substr(begin, pos_ - begin)));
        return;
      }
    }
    if (isIdentChar(peekAt(pos_)) || peekAt(pos_) == '.') {
      while (isIdentChar(peekAt(pos_)) || peekAt(pos_) == '.') ++pos_;
      error(begin, fmt::format("malformed number '{}'", s_.substr(begin, pos_ - begin)));
      return;
    }

    std::string_view text = s_.substr(begin, pos_ - begin);
    if (!isFloat) {
      int64_t value = 0;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (ec != std::errc() || end != text.data() + text.size()) {
        error(begin, fmt::format("integer '{}' is too large", text));
        return;
      }
      Token& t = emit(Tok::Int, begin);
      t.intValue = value;
      t.floatValue = static_cast<double>(value);
      return;
    }
    double value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size()) {
      error(begin, fmt::format("number '{}' is out of range", text));
      return;
    }
    emit(Tok::Float, begin).floatValue = value;
  }

  void punctuation() {
    size_t begin = pos_;
    char c = s_[pos_++];
    Tok kind;
    switch (c) {
      case '=': kind = Tok::Equal; break;
      case '(': kind = Tok::LParen; ++depth_; break;
      case '[': kind = Tok::LBracket; ++depth_; break;
      case ')': kind = Tok::RParen; if (depth_ > 0) --depth_; break;
      case ']': kind = Tok::RBracket; if (depth_ > 0) --depth_; break;
      case '{': kind = Tok::LBrace; break;
      case '}': kind = Tok::RBrace; break;
      case ',': kind = Tok::Comma; break;
      case ':': kind = Tok::Colon; break;
      case '+': kind = Tok::Plus; break;
      case '-': kind = Tok::Minus; break;
      case '*': kind = Tok::Star; break;
      case '/': kind = Tok::Slash; break;
      case '@': kind = Tok::At; break;
      case '.': kind = Tok::Dot; break;
      default: badCharacter(begin); return;
    }
    emit(kind, begin);
  }

  // Quotes a printable character as itself, a UTF-8 sequence whole, and anything else as \xNN.
  void badCharacter(size_t begin) {
    unsigned char c = static_cast<unsigned char>(s_[begin]);
    if (c >= 0x80) {
      size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
      while (pos_ < s_.size() && pos_ - begin < len && (static_cast<unsigned char>(s_[pos_]) & 0xC0) == 0x80) ++pos_;
      if (pos_ - begin == len && len > 1) {
        error(begin, fmt::format("unexpected character '{}'", s_.substr(begin, len)));
        return;
      }
    }
    if (c < 0x20 || c >= 0x7F) error(begin, fmt::format("unexpected character '\\x{:02x}'", c));
    else error(begin, fmt::format("unexpected character '{}'", static_cast<char>(c)));
  }

  const SourceFile& src_;
  std::string_view s_;
  size_t pos_ = 0;
  size_t lineStart_ = 0;
  uint32_t line_ = 1;
  int depth_ = 0;  // open ( and [ on the current statement
  std::vector<Token> out_;
};

}  // namespace

std::vector<Token> lex(const SourceFile& source) { return Lexer(source).run(); }

std::string_view spelling(Tok kind) {
  switch (kind) {
    case Tok::Ident: return "identifier";
    case Tok::Int: return "integer";
    case Tok::Float: return "number";
    case Tok::Equal: return "=";
    case Tok::LParen: return "(";
    case Tok::RParen: return ")";
    case Tok::LBracket: return "[";
    case Tok::RBracket: return "]";
    case Tok::LBrace: return "{";
    case Tok::RBrace: return "}";
    case Tok::Comma: return ",";
    case Tok::Colon: return ":";
    case Tok::Plus: return "+";
    case Tok::Minus: return "-";
    case Tok::Star: return "*";
    case Tok::Slash: return "/";
    case Tok::At: return "@";
    case Tok::Dot: return ".";
    case Tok::Newline: return "newline";
    case Tok::Eof: return "end of file";
    case Tok::Error: return "invalid token";
  }
  return "token";
}

std::string describe(const Token& token) {
  switch (token.kind) {
    case Tok::Newline: case Tok::Eof: case Tok::Error:
      return std::string(spelling(token.kind));
    default:
      return fmt::format("'{}'", token.text);
  }
}

}  // namespace sinter
