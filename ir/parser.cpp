// The IR parser: reads the text that ir/printer.cpp writes (grammar there) back into a Module,
// re-running every op's shape rule so a hand-edited dump is type-checked as it is read.
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <map>

#include "ir/printer.h"

namespace sinter {

namespace {

class IrParser {
 public:
  IrParser(std::string_view text, const std::string& source)
      : text_(text), source_(std::make_shared<const std::string>(source)) {}

  Expected<Module> parse() {
    Module m;
    if (!expectWord("module") || !expectSigil('@', m.name)) return fail();
    if (peekWord("source")) {
      word();
      Attr a;
      if (!expect('=') || !attrValue(a) || !std::holds_alternative<std::string>(a)) return fail("expected a quoted source name");
      m.source = std::get<std::string>(a);
    }
    if (peek('{') && !attrs(m.attrs)) return fail();
    while (!atEnd()) {
      if (peekWord("param") || peekWord("state")) {
        if (!global(m)) return fail();
      } else if (peekWord("func")) {
        if (!function(m)) return fail();
      } else {
        return fail("expected 'param', 'state' or 'func'");
      }
    }
    return m;
  }

 private:
  std::string_view text_;
  size_t pos_ = 0;
  uint32_t line_ = 1, col_ = 1;
  std::shared_ptr<const std::string> source_;
  std::optional<Error> error_;

  // --- characters and tokens ---
  void skipSpace() {
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (c == '#') {
        while (pos_ < text_.size() && text_[pos_] != '\n') advance();
      } else if (std::isspace(static_cast<unsigned char>(c))) {
        advance();
      } else {
        break;
      }
    }
  }
  void advance() {
    if (text_[pos_++] == '\n') { ++line_; col_ = 1; }
    else ++col_;
  }
  bool atEnd() { skipSpace(); return pos_ >= text_.size(); }
  bool peek(char c) { skipSpace(); return pos_ < text_.size() && text_[pos_] == c; }
  static bool nameChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.'; }
  std::string_view peekName() {
    skipSpace();
    size_t end = pos_;
    while (end < text_.size() && nameChar(text_[end])) ++end;
    return text_.substr(pos_, end - pos_);
  }
  bool peekWord(std::string_view w) { return peekName() == w; }
  std::string word() {
    std::string w(peekName());
    for (size_t i = 0; i < w.size(); ++i) advance();
    return w;
  }

  SourceLoc here() { skipSpace(); return SourceLoc{source_, line_, col_, 1}; }
  bool error(std::string message) { return errorAt(here(), std::move(message)); }
  bool errorAt(SourceLoc at, std::string message) {
    if (!error_) error_ = Error(std::move(at), std::move(message));
    return false;
  }
  Error fail(std::string message = "") {
    if (!error_) error(std::move(message));
    return *error_;
  }
  std::string found() {
    skipSpace();
    if (pos_ >= text_.size()) return "end of input";
    std::string_view n = peekName();
    return fmt::format("'{}'", n.empty() ? text_.substr(pos_, 1) : n);
  }
  bool expect(char c) {
    if (!peek(c)) return error(fmt::format("expected '{}', found {}", c, found()));
    advance();
    return true;
  }
  bool expectWord(std::string_view w) {
    if (!peekWord(w)) return error(fmt::format("expected '{}', found {}", w, found()));
    word();
    return true;
  }
  bool expectSigil(char sigil, std::string& name) {
    if (!expect(sigil)) return false;
    if (peekName().empty()) return error(fmt::format("expected a name after '{}'", sigil));
    name = word();
    return true;
  }

  // --- values ---
  bool number(Attr& out) {
    const SourceLoc at = here();
    size_t start = pos_;
    if (pos_ < text_.size() && (text_[pos_] == '-' || text_[pos_] == '+')) advance();
    std::string_view n = peekName();
    if (n == "inf" || n == "nan") {
      word();
      double v = n == "inf" ? HUGE_VAL : std::nan("");
      out = text_[start] == '-' ? -v : v;
      return true;
    }
    // A number may hold 'e-' / 'e+', which peekName stops at.
    size_t end = pos_;
    while (end < text_.size() && (nameChar(text_[end]) ||
                                  ((text_[end] == '-' || text_[end] == '+') && (text_[end - 1] == 'e' || text_[end - 1] == 'E'))))
      ++end;
    std::string literal(text_.substr(start, end - start));
    while (pos_ < end) advance();
    bool isFloat = literal.find_first_of(".eE") != std::string::npos;
    char* stop = nullptr;
    errno = 0;
    if (isFloat) out = std::strtod(literal.c_str(), &stop);
    else out = static_cast<int64_t>(std::strtoll(literal.c_str(), &stop, 10));
    if (literal.empty() || *stop != '\0') return error(fmt::format("malformed number '{}'", literal));
    // Overflow only: the printer writes infinities as inf, and a denormal or zero reads back as written.
    const bool overflow = errno == ERANGE && (!isFloat || std::isinf(std::get<double>(out)));
    if (overflow) return errorAt(at, fmt::format("number '{}' is out of range", literal));
    return true;
  }

  bool attrValue(Attr& out) {
    skipSpace();
    if (peek('"')) {
      advance();
      std::string s;
      while (pos_ < text_.size() && text_[pos_] != '"') {
        if (text_[pos_] == '\\' && pos_ + 1 < text_.size()) advance();
        s += text_[pos_];
        advance();
      }
      if (!expect('"')) return false;
      out = std::move(s);
      return true;
    }
    if (peekWord("true") || peekWord("false")) {
      out = word() == "true";
      return true;
    }
    if (peek('[')) {
      advance();
      std::vector<int64_t> ints;
      std::vector<double> floats;
      bool anyFloat = false;
      while (!peek(']')) {
        if (!ints.empty() || !floats.empty())
          if (!expect(',')) return false;
        if (peekWord("B")) {
          word();
          ints.push_back(kBatch);
          floats.push_back(kBatch);
          continue;
        }
        Attr e;
        if (!number(e)) return false;
        if (auto* d = std::get_if<double>(&e)) {
          anyFloat = true;
          floats.push_back(*d);
          ints.push_back(0);
        } else {
          ints.push_back(std::get<int64_t>(e));
          floats.push_back(static_cast<double>(std::get<int64_t>(e)));
        }
      }
      advance();
      if (anyFloat) out = floats;
      else out = ints;
      return true;
    }
    return number(out);
  }

  bool attrs(Attrs& out) {
    if (!expect('{')) return false;
    while (!peek('}')) {
      if (!out.empty() && !expect(',')) return false;
      std::string key = word();
      if (key.empty()) return error(fmt::format("expected an attribute name, found {}", found()));
      Attr v;
      if (!expect('=') || !attrValue(v)) return false;
      out.set(key, std::move(v));
    }
    return expect('}');
  }

  bool type(TensorType& t) {
    const SourceLoc at = here();
    std::string name = word();
    if (name == "f32") t.dtype = DType::F32;
    else if (name == "i32") t.dtype = DType::I32;
    else return error(fmt::format("expected a type such as f32[...], found '{}'", name));
    Attr dims;
    if (!peek('[')) return error("expected '[' after the element type");
    if (!attrValue(dims) || !std::holds_alternative<std::vector<int64_t>>(dims)) return error("expected integer dimensions");
    t.dims = std::get<std::vector<int64_t>>(dims);
    // What the frontend guarantees of every type, so that the shape rules' arithmetic cannot overflow.
    for (int64_t d : t.dims)
      if (d < 0 && d != kBatch) return errorAt(at, fmt::format("dimension {} of {} is negative", d, formatType(t)));
    if (std::count(t.dims.begin(), t.dims.end(), kBatch) > 1)
      return errorAt(at, fmt::format("{} has B twice", formatType(t)));
    if (!withinElementLimit(t.dims))
      return errorAt(at, fmt::format("{} has more than 2^40 elements per batch item", formatType(t)));
    return true;
  }

  bool loc(SourceLoc& l) {
    if (!peekWord("loc")) return true;
    word();
    Attr line, col, len;
    if (!expect('(') || !number(line) || !expect(':') || !number(col) || !expect(',') || !number(len) || !expect(')'))
      return false;
    auto* a = std::get_if<int64_t>(&line);
    auto* b = std::get_if<int64_t>(&col);
    auto* c = std::get_if<int64_t>(&len);
    if (!a || !b || !c || *a < 1 || *b < 1 || *c < 1) return error("malformed location");
    l = SourceLoc{locFile_, static_cast<uint32_t>(*a), static_cast<uint32_t>(*b), static_cast<uint32_t>(*c)};
    return true;
  }
  std::shared_ptr<const std::string> locFile_;

  // --- module pieces ---
  bool global(Module& m) {
    Global g;
    g.kind = word() == "param" ? GlobalKind::Param : GlobalKind::State;
    if (!expectSigil('@', g.name) || !expect(':') || !type(g.type) || !expect('=')) return false;
    g.init.kind = word();
    if (g.init.kind.empty()) return error("expected an initializer");
    if (!expect('(')) return false;
    while (!peek(')')) {
      if (!g.init.args.empty() && !expect(',')) return false;
      std::string key = word();
      Attr v;
      if (key.empty() || !expect('=') || !attrValue(v)) return error("expected initializer arguments as key=value");
      g.init.args.set(key, std::move(v));
    }
    advance();
    if (!loc(g.loc)) return false;
    if (m.global(g.name)) return error(fmt::format("global @{} is defined twice", g.name));
    m.globals.push_back(std::move(g));
    return true;
  }

  bool valueRef(const std::map<std::string, ValueId>& values, ValueId& v) {
    std::string name;
    if (!expectSigil('%', name)) return false;
    auto it = values.find(name);
    if (it == values.end()) return error(fmt::format("use of undefined value %{}", name));
    v = it->second;
    return true;
  }

  static std::string nodeName(const std::string& printed) {
    bool numeric = !printed.empty() && std::all_of(printed.begin(), printed.end(), ::isdigit);
    return numeric ? std::string() : printed;
  }

  bool function(Module& m) {
    word();
    Function fn;
    if (!expectSigil('@', fn.name) || !expect('(')) return false;
    std::map<std::string, ValueId> values;
    auto define = [&](const std::string& name, ValueId v) {
      if (!values.emplace(name, v).second) return error(fmt::format("value %{} is defined twice", name));
      return true;
    };
    m.functions.push_back(std::move(fn));
    Function& f = m.functions.back();
    Builder b(m, f);
    while (!peek(')')) {
      if (!f.nodes.empty() && !expect(',')) return false;
      std::string name;
      TensorType t;
      if (!expectSigil('%', name) || !expect(':') || !type(t)) return false;
      if (!define(name, b.input(name, t))) return false;
    }
    advance();
    if (!expect('{')) return false;
    while (!peekWord("return")) {
      if (atEnd()) return error("expected 'return' before the end of the function");
      std::string result;
      if (peek('%')) {
        if (!expectSigil('%', result) || !expect('=')) return false;
      }
      SourceLoc opLoc = here();
      std::string opName = word();
      std::optional<OpKind> op = opFromMnemonic(opName);
      if (!op) return error(fmt::format("unknown op '{}'", opName));
      std::vector<ValueId> operands;
      if (!expect('(')) return false;
      while (!peek(')')) {
        if (!operands.empty() && !expect(',')) return false;
        ValueId v;
        if (!valueRef(values, v)) return false;
        operands.push_back(v);
      }
      advance();
      Attrs a;
      if (peek('{') && !attrs(a)) return false;
      TensorType declared;
      if (!result.empty() && (!expect(':') || !type(declared))) return false;
      SourceLoc l;
      if (!loc(l)) return false;
      b.setLoc(l);
      ValueId v = kNoValue;
      if (*op == OpKind::Load) {
        const Attr* g = a.find("global");
        const Global* global = g && std::holds_alternative<std::string>(*g) ? m.global(std::get<std::string>(*g)) : nullptr;
        if (!global) return error(fmt::format("load of an undefined global"));
        v = b.load(*global);
      } else if (*op == OpKind::Input) {
        return error("inputs are declared in the function signature");
      } else {
        v = b.create(*op, operands, a);
      }
      if (b.failed()) {
        Error e = *b.error();
        e.diags.front().loc = opLoc;
        error_ = e;
        return false;
      }
      Node& n = f.nodes[v];
      n.loc = l;
      if (result.empty() != n.type.isVoid())
        return error(fmt::format("'{}' {} a result", opName, n.type.isVoid() ? "has no" : "needs"));
      if (!result.empty()) {
        if (n.type != declared)
          return error(fmt::format("'{}' produces {}, but the text says {}", opName, formatType(n.type), formatType(declared)));
        n.name = nodeName(result);
        if (!define(result, v)) return false;
      }
    }
    word();
    while (!peek('}')) {
      if (!f.results.empty() && !expect(',')) return false;
      std::string name = word();
      ValueId v;
      if (name.empty() || !expect('=') || !valueRef(values, v)) return error("expected results as name=%value");
      f.results.emplace_back(name, v);
    }
    advance();
    return true;
  }

 public:
  void setLocFile(const std::string& file) { locFile_ = std::make_shared<const std::string>(file); }
};

}  // namespace

Expected<Module> parseModule(std::string_view text, const std::string& sourceName) {
  IrParser p(text, sourceName);
  // Locations in the text refer to the model file named by `source=`; find it first.
  size_t at = text.find("source=\"");
  if (at != std::string_view::npos) {
    size_t end = text.find('"', at + 8);
    if (end != std::string_view::npos) p.setLocFile(std::string(text.substr(at + 8, end - at - 8)));
  }
  return p.parse();
}

}  // namespace sinter
