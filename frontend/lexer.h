// The .nn lexer: source text to located tokens, newlines as statement terminators.
#pragma once

#include "support/source.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sinter {

enum class Tok : uint8_t {
  Ident,     // a name; dotted names (`fc1.weight`) are one token
  Int,
  Float,
  Equal, LParen, RParen, LBracket, RBracket, LBrace, RBrace, Comma, Colon,
  Plus, Minus, Star, Slash, At, Dot,
  Newline,   // ends a statement; see lex() for when a newline inside brackets is one
  Eof,
  Error,     // a bad character or malformed number; `message` says what is wrong
};

struct Token {
  Tok kind = Tok::Eof;
  std::string_view text;  // points into the SourceFile, which must outlive the tokens
  SourceLoc loc;
  int64_t intValue = 0;   // Int
  double floatValue = 0;  // Int and Float
  std::string message;    // Error
};

// Splits `source` into tokens ending with Eof. Errors do not stop the lexer: each becomes an Error
// token in place, so the parser reports it in order and recovers at the statement boundary.
//
// Newlines: blank lines and comments collapse into one Newline. Inside ( ) and [ ] a line break
// continues the statement when the line ends in a token that cannot end an expression (`(`, `,`,
// `=`, an operator) or the next line starts with `)`, `]`, `,` or a binary operator; any other line
// break inside brackets is a Newline, so a missing `)` is reported on its own line rather than on the
// next statement.
std::vector<Token> lex(const SourceFile& source);

// How a token is named in "expected X, found Y" messages: 'x', '=', newline, end of file.
std::string describe(const Token& token);
// The spelling of a punctuation kind, or its name ("identifier") for the others.
std::string_view spelling(Tok kind);

}  // namespace sinter
