// The .nn parser. Recursive descent over the lexer's tokens, one function per grammar rule:
//
//   program   := (model | train | block)*              at most one model and train; a model is required
//   model     := 'model' NAME '{' stmt* '}'
//   block     := 'block' NAME '(' (bparam (',' bparam)*)? ')' '{' stmt* 'return' expr '}'
//   bparam    := NAME ('=' expr)?                        defaults are literals, after the positional ones
//   stmt      := 'input' NAME ':' type | 'param' NAME ':' type '=' init
//              | 'output' NAME ('=' expr)? | 'loss' expr | NAME '=' expr
//   type      := NAME '[' (dim (',' dim)*)? ']'         dim := INT | NAME
//   train     := 'train' '{' entry* '}'
//   entry     := NAME '(' args ')' | NAME expr (',' expr)*
//   expr      := term (('+' | '-') term)*
//   term      := unary (('*' | '/' | '@') unary)*
//   unary     := '-' unary | primary
//   primary   := INT | FLOAT | 'true' | 'false' | NAME | NAME '(' args ')' | '(' expr ')'
//              | '[' (expr (',' expr)* ','?)? ']'
//   args      := (arg (',' arg)* ','?)?                 arg := expr | NAME '=' expr
//
// Statement keywords are contextual: `input x: ...` declares an input, `loss = x` binds a name.
// Errors: the first error in a statement sets `panic_`, which silences the rest of that statement;
// the block loop then skips to the next line (the lexer makes newlines reliable statement ends).
#include "frontend/parser.h"

#include "frontend/lexer.h"

#include <algorithm>

namespace sinter {
namespace {

using ast::ExprPtr;

class Parser {
 public:
  explicit Parser(const SourceFile& source) : src_(source), toks_(lex(source)) { skipErrorTokens(); }

  Expected<ast::Program> program();
  Expected<ExprPtr> wholeExpression();

 private:
  // ---- tokens ----
  const Token& cur() const { return toks_[pos_]; }
  const Token& next() const { return toks_[std::min(pos_ + 1, toks_.size() - 1)]; }
  bool check(Tok kind) const { return cur().kind == kind; }
  bool checkWord(std::string_view word) const { return check(Tok::Ident) && cur().text == word; }

  // Consumes the current token; lexer errors after it are reported here, in source order.
  Token advance() {
    Token t = cur();
    if (pos_ + 1 < toks_.size()) ++pos_;
    prevLoc_ = t.loc;
    prevKind_ = t.kind;
    skipErrorTokens();
    return t;
  }
  bool match(Tok kind) {
    if (!check(kind)) return false;
    advance();
    return true;
  }
  // Consumes a token of `kind` or reports "expected {what}, found ...".
  bool expect(Tok kind, std::string_view what) {
    if (match(kind)) return true;
    errorAtCurrent(what);
    return false;
  }
  void skipErrorTokens() {
    while (cur().kind == Tok::Error) {
      errorAt(cur().loc, cur().message);
      ++pos_;
    }
  }
  void skipNewlines() {
    while (match(Tok::Newline)) {}
  }

  // ---- nesting ----
  // Every nested expression and every operator applied counts a level; the bound keeps the
  // recursive parser, lowering and AST destruction within the stack on any input.
  static constexpr int kMaxDepth = 256;
  struct DepthScope {
    int& depth;
    int saved = depth;
    ~DepthScope() { depth = saved; }
  };
  bool nest() {
    if (++depth_ <= kMaxDepth) return true;
    errorAt(cur().loc, fmt::format("expression is nested too deeply (more than {} levels)", kMaxDepth));
    return false;
  }

  // ---- errors ----
  // Records an error unless the parser is already recovering from one; returns it to attach notes.
  Diag* errorAt(const SourceLoc& loc, std::string message) {
    if (panic_ || stopped_) return nullptr;
    panic_ = true;
    if (diags_.size() == kMaxParseErrors) {
      stopped_ = true;
      diags_.push_back({SourceLoc{}, "too many errors, stopping now", {}});
      return nullptr;
    }
    diags_.push_back({loc, std::move(message), {}});
    return &diags_.back();
  }
  Diag* errorAtCurrent(std::string_view expected) {
    return errorAt(cur().loc, fmt::format("expected {}, found {}", expected, describe(cur())));
  }
  // Skips the rest of a broken statement: to its newline, or to the `}` that ends the block.
  void syncStatement() {
    while (!check(Tok::Newline) && !check(Tok::RBrace) && !check(Tok::Eof)) advance();
    panic_ = false;
  }
  // Skips to the next `model` or `train` that starts a line, after a broken block header.
  void syncTopLevel() {
    while (!check(Tok::Eof)) {
      bool lineStart = prevKind_ == Tok::Newline;
      if (lineStart && (checkWord("model") || checkWord("train") || checkWord("block"))) break;
      advance();
    }
    panic_ = false;
  }

  // ---- locations ----
  // From the start of `first` to the end of the last consumed token, clipped to first's line.
  SourceLoc spanFrom(const SourceLoc& first) const {
    SourceLoc loc = first;
    if (prevLoc_.line == first.line) {
      loc.len = std::max(prevLoc_.col + prevLoc_.len - first.col, first.len);
    } else {
      auto lineLen = static_cast<uint32_t>(src_.line(first.line).size());
      loc.len = lineLen >= first.col ? lineLen - first.col + 1 : 1;
    }
    return loc;
  }
  ExprPtr node(const SourceLoc& first, auto value) {
    auto e = std::make_unique<ast::Expr>();
    e->node = std::move(value);
    e->loc = spanFrom(first);
    return e;
  }

  // ---- grammar ----
  std::optional<ast::Model> model();
  std::optional<ast::TrainBlock> train();
  std::optional<ast::Block> block();
  bool blockParams(ast::Block& block);
  template <typename F> bool blockBody(const SourceLoc& open, std::string_view what, F&& statement);
  std::optional<ast::Stmt> statement();
  std::optional<ast::Stmt> binding();
  std::optional<ast::Stmt> input();
  std::optional<ast::Stmt> param();
  std::optional<ast::Stmt> output();
  std::optional<ast::Stmt> loss();
  std::optional<ast::Type> type();
  std::optional<ast::TrainEntry> trainEntry();
  ExprPtr expression();
  ExprPtr term();
  ExprPtr unary();
  ExprPtr primary();
  ExprPtr call();
  ExprPtr list();
  bool arguments(ast::Call& call);
  std::optional<std::string> name(std::string_view what, SourceLoc& loc);

  static bool startsExpression(Tok kind) {
    return kind == Tok::Int || kind == Tok::Float || kind == Tok::Ident || kind == Tok::LParen ||
           kind == Tok::LBracket || kind == Tok::Minus;
  }

  const SourceFile& src_;
  std::vector<Token> toks_;
  size_t pos_ = 0;
  SourceLoc prevLoc_;
  Tok prevKind_ = Tok::Newline;  // the file starts as if after a newline
  std::vector<Diag> diags_;
  bool panic_ = false;
  bool stopped_ = false;
  int depth_ = 0;  // expression nesting, see nest()
};

Expected<ast::Program> Parser::program() {
  ast::Program program;
  std::optional<SourceLoc> modelAt, trainAt;
  while (!stopped_) {
    skipNewlines();
    panic_ = false;  // a bad character alone before this line was its own statement
    if (check(Tok::Eof)) break;
    bool isModel = checkWord("model"), isTrain = checkWord("train");
    std::optional<SourceLoc>& seen = isModel ? modelAt : trainAt;
    if (checkWord("block")) {
      if (auto b = block()) program.blocks.push_back(std::move(*b));
      bool closed = prevKind_ == Tok::RBrace;
      if (closed && !panic_ && !check(Tok::Newline) && !check(Tok::Eof)) errorAtCurrent("end of line after '}'");
    } else if (!isModel && !isTrain) {
      errorAtCurrent("a 'model', 'train' or 'block' declaration");
    } else if (seen) {
      if (Diag* d = errorAt(cur().loc, fmt::format("a file holds at most one '{}' block", cur().text)))
        d->notes.push_back({*seen, fmt::format("the first '{}' block is here", cur().text), {}});
      advance();  // so that recovery skips this block rather than stopping at its keyword
    } else {
      seen = cur().loc;
      if (isModel) {
        if (auto m = model()) program.model = std::move(*m);
      } else if (auto t = train()) {
        program.train = std::move(*t);
      }
      bool closed = prevKind_ == Tok::RBrace;  // an unclosed block was reported already
      if (closed && !panic_ && !check(Tok::Newline) && !check(Tok::Eof)) errorAtCurrent("end of line after '}'");
    }
    if (panic_) syncTopLevel();
  }
  if (!modelAt && !stopped_) errorAt(cur().loc, fmt::format("expected a 'model' block, found {}", describe(cur())));
  if (!diags_.empty()) {
    Error error;
    error.diags = std::move(diags_);
    return error;
  }
  return program;
}

Expected<ExprPtr> Parser::wholeExpression() {
  skipNewlines();
  ExprPtr e = expression();
  skipNewlines();
  if (e && !check(Tok::Eof)) errorAtCurrent("end of expression");
  if (!diags_.empty()) {
    Error error;
    error.diags = std::move(diags_);
    return error;
  }
  return e;
}

std::optional<std::string> Parser::name(std::string_view what, SourceLoc& loc) {
  if (!check(Tok::Ident)) {
    errorAtCurrent(what);
    return std::nullopt;
  }
  Token t = advance();
  loc = t.loc;
  return std::string(t.text);
}

// Parses statements up to the closing `}`, recovering at each line. Returns false when the block
// did not close; a `model`/`train` header inside it is taken as the next block (a forgotten `}`).
template <typename F>
bool Parser::blockBody(const SourceLoc& open, std::string_view what, F&& statement) {
  while (!stopped_) {
    skipNewlines();
    panic_ = false;  // a bad character alone before this line was its own statement
    if (match(Tok::RBrace)) return true;
    bool nextBlock = ((checkWord("model") || checkWord("block")) && next().kind == Tok::Ident) ||
                     (checkWord("train") && next().kind == Tok::LBrace);
    if (check(Tok::Eof) || nextBlock) {
      if (Diag* d = errorAtCurrent(fmt::format("'}}' to close {}", what)))
        d->notes.push_back({open, fmt::format("{} opens here", what), {}});
      panic_ = false;  // the next block, if any, parses normally
      return false;
    }
    statement();
    if (!panic_ && !check(Tok::Newline) && !check(Tok::RBrace) && !check(Tok::Eof))
      errorAtCurrent("end of line after the statement");
    if (panic_) syncStatement();
  }
  return false;
}

std::optional<ast::Model> Parser::model() {
  ast::Model m;
  m.loc = advance().loc;
  auto modelName = name("a model name after 'model'", m.nameLoc);
  if (!modelName) return std::nullopt;
  m.name = *modelName;
  skipNewlines();
  SourceLoc open = cur().loc;
  if (!expect(Tok::LBrace, "'{' after the model name")) return std::nullopt;
  blockBody(open, "the model block", [&] {
    if (auto s = statement(); s && !panic_) m.body.push_back(std::move(*s));
  });
  return m;
}

std::optional<ast::TrainBlock> Parser::train() {
  ast::TrainBlock block;
  block.loc = advance().loc;
  skipNewlines();
  SourceLoc open = cur().loc;
  if (!expect(Tok::LBrace, "'{' after 'train'")) return std::nullopt;
  blockBody(open, "the train block", [&] {
    if (auto e = trainEntry(); e && !panic_) block.entries.push_back(std::move(*e));
  });
  return block;
}

std::optional<ast::Block> Parser::block() {
  ast::Block blk;
  blk.loc = advance().loc;
  auto blockName = name("a block name after 'block'", blk.nameLoc);
  if (!blockName) return std::nullopt;
  blk.name = *blockName;
  if (!expect(Tok::LParen, fmt::format("'(' and the parameters of block '{}'", blk.name))) return std::nullopt;
  if (!blockParams(blk)) return std::nullopt;
  skipNewlines();
  SourceLoc open = cur().loc;
  if (!expect(Tok::LBrace, "'{' after the block's parameters")) return std::nullopt;
  bool returned = false;
  bool closed = blockBody(open, fmt::format("block '{}'", blk.name), [&] {
    if (checkWord("return") && next().kind != Tok::Equal) {
      SourceLoc first = advance().loc;
      if (returned) {
        if (Diag* d = errorAt(first, fmt::format("block '{}' has a second 'return'", blk.name)))
          d->notes.push_back({blk.resultLoc, "the first 'return' is here", {}});
        return;
      }
      returned = true;
      blk.resultLoc = first;
      blk.result = expression();
      if (blk.result) blk.resultLoc = spanFrom(first);
      return;
    }
    if (returned) {
      if (Diag* d = errorAt(cur().loc, "a statement after 'return'; 'return' is the last statement of a block"))
        d->notes.push_back({blk.resultLoc, "the 'return' is here", {}});
      return;
    }
    std::optional<ast::Stmt> s = statement();
    if (!s || panic_) return;
    if (s->as<ast::Input>()) errorAt(s->loc, "'input' cannot appear in a block; a block takes its tensors as parameters");
    else if (s->as<ast::Output>()) errorAt(s->loc, "'output' cannot appear in a block; a block gives its value with 'return'");
    else if (s->as<ast::Loss>()) errorAt(s->loc, "'loss' cannot appear in a block; the model's loss is declared in the model");
    else blk.body.push_back(std::move(*s));
  });
  if (closed && !returned) {
    errorAt(prevLoc_, fmt::format("block '{}' ends without 'return'; its last statement must be 'return expr'", blk.name));
    return std::nullopt;
  }
  return blk;
}

// After '(': NAME or NAME = literal, separated by commas, then ')'.
bool Parser::blockParams(ast::Block& blk) {
  while (!check(Tok::RParen)) {
    ast::BlockParam p;
    auto paramName = name("a parameter name", p.loc);
    if (!paramName) return false;
    p.name = *paramName;
    for (const ast::BlockParam& other : blk.params) {
      if (other.name != p.name) continue;
      if (Diag* d = errorAt(p.loc, fmt::format("block '{}' has two parameters named '{}'", blk.name, p.name)))
        d->notes.push_back({other.loc, "the first one is here", {}});
      return false;
    }
    if (match(Tok::Equal)) {
      p.defaultValue = expression();
      if (!p.defaultValue) return false;
      const ast::Expr& d = *p.defaultValue;
      if (!ast::literalNumber(d) && !d.as<ast::Bool>() && !d.as<ast::List>()) {
        errorAt(d.loc, "a parameter's default must be a number, true, false or a list; tensors come from the caller");
        return false;
      }
    } else if (!blk.params.empty() && blk.params.back().defaultValue) {
      if (Diag* d = errorAt(p.loc, fmt::format("parameter '{}' has no default but follows one that has", p.name)))
        d->notes.push_back({blk.params.back().loc, "parameters with defaults come after the positional ones", {}});
      return false;
    }
    blk.params.push_back(std::move(p));
    if (!match(Tok::Comma)) break;
  }
  return expect(Tok::RParen, "',' or ')' after a block parameter");
}

std::optional<ast::Stmt> Parser::statement() {
  if (!check(Tok::Ident)) {
    errorAtCurrent("a statement");
    return std::nullopt;
  }
  if (next().kind != Tok::Equal) {
    if (checkWord("input")) return input();
    if (checkWord("param")) return param();
    if (checkWord("output")) return output();
    if (checkWord("loss")) return loss();
  }
  return binding();
}

std::optional<ast::Stmt> Parser::binding() {
  SourceLoc first = cur().loc;
  ast::Binding b;
  b.name = std::string(advance().text);
  b.nameLoc = first;
  if (check(Tok::Ident)) {
    // `inptu image: f32[1]`: two names in a row is a misspelt statement keyword, not a binding.
    errorAt(first, fmt::format("unknown statement '{}'; statements are input, param, output, loss and "
                               "NAME = expr", b.name));
    return std::nullopt;
  }
  if (!expect(Tok::Equal, fmt::format("'=' after '{}'", b.name))) return std::nullopt;
  b.value = expression();
  if (!b.value) return std::nullopt;
  return ast::Stmt{spanFrom(first), std::move(b)};
}

std::optional<ast::Stmt> Parser::input() {
  SourceLoc first = advance().loc;
  ast::Input in;
  auto inputName = name("an input name after 'input'", in.nameLoc);
  if (!inputName) return std::nullopt;
  in.name = *inputName;
  if (!expect(Tok::Colon, fmt::format("':' and a type after '{}'", in.name))) return std::nullopt;
  auto t = type();
  if (!t) return std::nullopt;
  in.type = std::move(*t);
  return ast::Stmt{spanFrom(first), std::move(in)};
}

std::optional<ast::Stmt> Parser::param() {
  SourceLoc first = advance().loc;
  ast::Param p;
  auto paramName = name("a parameter name after 'param'", p.nameLoc);
  if (!paramName) return std::nullopt;
  p.name = *paramName;
  if (!expect(Tok::Colon, fmt::format("':' and a type after '{}'", p.name))) return std::nullopt;
  auto t = type();
  if (!t) return std::nullopt;
  p.type = std::move(*t);
  if (!expect(Tok::Equal, "'=' and an initializer after the parameter type")) return std::nullopt;
  if (!check(Tok::Ident) || checkWord("true") || checkWord("false")) {
    errorAtCurrent("an initializer such as 'zeros' or 'normal(std = 0.01)'");
    return std::nullopt;
  }
  p.init = next().kind == Tok::LParen ? call() : primary();
  if (!p.init) return std::nullopt;
  return ast::Stmt{spanFrom(first), std::move(p)};
}

std::optional<ast::Stmt> Parser::output() {
  SourceLoc first = advance().loc;
  ast::Output out;
  auto outputName = name("an output name after 'output'", out.nameLoc);
  if (!outputName) return std::nullopt;
  out.name = *outputName;
  if (match(Tok::Equal)) {
    out.value = expression();
    if (!out.value) return std::nullopt;
  }
  return ast::Stmt{spanFrom(first), std::move(out)};
}

std::optional<ast::Stmt> Parser::loss() {
  SourceLoc first = advance().loc;
  if (!startsExpression(cur().kind)) {
    errorAtCurrent("an expression after 'loss'");
    return std::nullopt;
  }
  ast::Loss l;
  l.value = expression();
  if (!l.value) return std::nullopt;
  return ast::Stmt{spanFrom(first), std::move(l)};
}

std::optional<ast::Type> Parser::type() {
  ast::Type t;
  t.loc = cur().loc;
  auto dtype = name("a type such as f32[B, 10]", t.dtypeLoc);
  if (!dtype) return std::nullopt;
  t.dtype = *dtype;
  if (!expect(Tok::LBracket, fmt::format("'[' and dimensions after '{}'", t.dtype))) return std::nullopt;
  if (!check(Tok::RBracket)) {
    do {
      ast::Dim dim;
      dim.loc = cur().loc;
      if (check(Tok::Int)) {
        dim.size = advance().intValue;
      } else if (check(Tok::Ident)) {
        dim.name = std::string(advance().text);
      } else {
        errorAtCurrent("a dimension (an integer or a name such as B)");
        return std::nullopt;
      }
      t.dims.push_back(std::move(dim));
    } while (match(Tok::Comma));
  }
  if (!expect(Tok::RBracket, "',' or ']' after a dimension")) return std::nullopt;
  t.loc = spanFrom(t.loc);
  return t;
}

std::optional<ast::TrainEntry> Parser::trainEntry() {
  ast::TrainEntry entry;
  entry.loc = cur().loc;
  auto key = name("a train setting such as 'batch 64'", entry.keyLoc);
  if (!key) return std::nullopt;
  entry.key = *key;
  if (check(Tok::LParen)) {
    // KEY(kwargs): the entry itself is a call named after the key.
    ast::Call c;
    c.callee = entry.key;
    c.calleeLoc = entry.keyLoc;
    advance();
    if (!arguments(c)) return std::nullopt;
    entry.isCall = true;
    entry.values.push_back(node(entry.keyLoc, std::move(c)));
  } else {
    if (!startsExpression(cur().kind)) {
      errorAtCurrent(fmt::format("a value after '{}'", entry.key));
      return std::nullopt;
    }
    do {
      ExprPtr value = expression();
      if (!value) return std::nullopt;
      entry.values.push_back(std::move(value));
    } while (match(Tok::Comma));
  }
  entry.loc = spanFrom(entry.loc);
  return entry;
}

ExprPtr Parser::expression() {
  DepthScope scope{depth_};
  if (!nest()) return nullptr;
  SourceLoc first = cur().loc;
  ExprPtr lhs = term();
  while (lhs && (check(Tok::Plus) || check(Tok::Minus))) {
    if (!nest()) return nullptr;
    Token op = advance();
    ExprPtr rhs = term();
    if (!rhs) return nullptr;
    lhs = node(first, ast::Binary{op.text[0], op.loc, std::move(lhs), std::move(rhs)});
  }
  return lhs;
}

ExprPtr Parser::term() {
  DepthScope scope{depth_};
  SourceLoc first = cur().loc;
  ExprPtr lhs = unary();
  while (lhs && (check(Tok::Star) || check(Tok::Slash) || check(Tok::At))) {
    if (!nest()) return nullptr;
    Token op = advance();
    ExprPtr rhs = unary();
    if (!rhs) return nullptr;
    lhs = node(first, ast::Binary{op.text[0], op.loc, std::move(lhs), std::move(rhs)});
  }
  return lhs;
}

ExprPtr Parser::unary() {
  if (!check(Tok::Minus)) return primary();
  DepthScope scope{depth_};
  if (!nest()) return nullptr;
  SourceLoc first = advance().loc;
  ExprPtr operand = unary();
  if (!operand) return nullptr;
  return node(first, ast::Neg{std::move(operand)});
}

ExprPtr Parser::primary() {
  SourceLoc first = cur().loc;
  switch (cur().kind) {
    case Tok::Int: {
      Token t = advance();
      return node(first, ast::Number{t.floatValue, t.intValue, true});
    }
    case Tok::Float: {
      Token t = advance();
      return node(first, ast::Number{t.floatValue, 0, false});
    }
    case Tok::Ident: {
      if (next().kind == Tok::LParen) return call();
      Token t = advance();
      if (t.text == "true" || t.text == "false") return node(first, ast::Bool{t.text == "true"});
      return node(first, ast::Name{std::string(t.text)});
    }
    case Tok::LParen: {
      advance();
      ExprPtr inner = expression();
      if (!inner || !expect(Tok::RParen, "')' after the expression")) return nullptr;
      inner->loc = spanFrom(first);  // the parentheses belong to the expression's range
      return inner;
    }
    case Tok::LBracket:
      return list();
    default:
      errorAtCurrent("an expression");
      return nullptr;
  }
}

ExprPtr Parser::call() {
  SourceLoc first = cur().loc;
  ast::Call c;
  c.callee = std::string(advance().text);
  c.calleeLoc = first;
  advance();  // '('
  if (!arguments(c)) return nullptr;
  return node(first, std::move(c));
}

// After '(': positional arguments, then keyword arguments, then ')'.
bool Parser::arguments(ast::Call& c) {
  while (!check(Tok::RParen)) {
    if (check(Tok::Ident) && next().kind == Tok::Equal) {
      ast::KeywordArg kw;
      kw.nameLoc = cur().loc;
      kw.name = std::string(advance().text);
      advance();  // '='
      for (const ast::KeywordArg& other : c.kwargs) {
        if (other.name != kw.name) continue;
        if (Diag* d = errorAt(kw.nameLoc, fmt::format("duplicate keyword argument '{}'", kw.name)))
          d->notes.push_back({other.nameLoc, fmt::format("'{}' was first given here", kw.name), {}});
        return false;
      }
      kw.value = expression();
      if (!kw.value) return false;
      c.kwargs.push_back(std::move(kw));
    } else {
      ExprPtr arg = expression();
      if (!arg) return false;
      if (!c.kwargs.empty()) {
        errorAt(arg->loc, fmt::format("positional argument after keyword argument '{}'", c.kwargs.back().name));
        return false;
      }
      c.args.push_back(std::move(arg));
    }
    if (!match(Tok::Comma)) break;
  }
  return expect(Tok::RParen, "')' after arguments");
}

ExprPtr Parser::list() {
  SourceLoc first = advance().loc;  // '['
  ast::List l;
  while (!check(Tok::RBracket)) {
    ExprPtr element = expression();
    if (!element) return nullptr;
    l.elements.push_back(std::move(element));
    if (!match(Tok::Comma)) break;
  }
  if (!expect(Tok::RBracket, "',' or ']' after a list element")) return nullptr;
  return node(first, std::move(l));
}

}  // namespace

Expected<ast::Program> parseProgram(const SourceFile& source) { return Parser(source).program(); }

Expected<ast::ExprPtr> parseExpression(const SourceFile& source) { return Parser(source).wholeExpression(); }

}  // namespace sinter
