// Lexer tests: every number form, locations, newline rules, bad characters and malformed numbers.
#include "frontend/lexer.h"

#include <doctest/doctest.h>

namespace sinter {
namespace {

// "kind:text" for each token, newline as "NL", for compact comparisons.
std::string kinds(const std::vector<Token>& tokens) {
  std::string out;
  for (const Token& t : tokens) {
    if (!out.empty()) out += ' ';
    if (t.kind == Tok::Newline) out += "NL";
    else if (t.kind == Tok::Eof) out += "EOF";
    else if (t.kind == Tok::Error) out += "ERR(" + t.message + ")";
    else out += std::string(t.text);
  }
  return out;
}

std::string lexed(const std::string& text) {
  SourceFile src = sourceFromString("t.nn", text);
  return kinds(lex(src));
}

TEST_CASE("lexer: integers and every float form") {
  SourceFile src = sourceFromString("t.nn", "12 0.5 5e-4 1. .5 1e3 2.5E+3 0");
  std::vector<Token> t = lex(src);
  REQUIRE(t.size() == 9);
  CHECK(t[0].kind == Tok::Int);
  CHECK(t[0].intValue == 12);
  CHECK(t[0].floatValue == 12.0);
  struct { size_t i; double v; } floats[] = {{1, 0.5}, {2, 5e-4}, {3, 1.0}, {4, 0.5}, {5, 1e3}, {6, 2.5e3}};
  for (auto [i, v] : floats) {
    CAPTURE(t[i].text);
    CHECK(t[i].kind == Tok::Float);
    CHECK(t[i].floatValue == v);
  }
  CHECK(t[7].kind == Tok::Int);
  CHECK(t[7].intValue == 0);
  CHECK(t[8].kind == Tok::Eof);
}

TEST_CASE("lexer: locations are line, column and length") {
  SourceFile src = sourceFromString("t.nn", "model m {\n  fc1 = dense(x, 128)  # comment\n}\n");
  std::vector<Token> t = lex(src);
  CHECK(kinds(t) == "model m { NL fc1 = dense ( x , 128 ) NL } NL EOF");
  CHECK(t[4].loc.line == 2);
  CHECK(t[4].loc.col == 3);
  CHECK(t[4].loc.len == 3);
  CHECK(t[10].text == "128");
  CHECK(t[10].loc.col == 18);
  CHECK(t[10].loc.len == 3);
  // The newline sits right after the last token of its line, where a missing token would go.
  CHECK(t[12].kind == Tok::Newline);
  CHECK(t[12].loc.line == 2);
  CHECK(t[12].loc.col == 22);
  CHECK(*t[0].loc.file == "t.nn");
}

TEST_CASE("lexer: punctuation and dotted names") {
  CHECK(lexed("= ( ) [ ] { } , : + - * / @") == "= ( ) [ ] { } , : + - * / @ EOF");
  SourceFile src = sourceFromString("t.nn", "l2(fc1.weight) + a_b.c2.d");
  std::vector<Token> t = lex(src);
  CHECK(kinds(t) == "l2 ( fc1.weight ) + a_b.c2.d EOF");
  CHECK(t[2].loc.len == 10);
  // A dot not followed by a name stays a separate token.
  CHECK(lexed("fc1. x") == "fc1 . x EOF");
}

TEST_CASE("lexer: comments, blank lines and newlines collapse") {
  CHECK(lexed("# header\n\n\na = 1 # c\n\n# c\nb = 2\n") == "a = 1 NL b = 2 NL EOF");
  CHECK(lexed("a = 1\r\nb = 2") == "a = 1 NL b = 2 EOF");
}

TEST_CASE("lexer: line breaks inside brackets continue a statement when the line is unfinished") {
  CHECK(lexed("x = f(a,\n  b)\ny = 1") == "x = f ( a , b ) NL y = 1 EOF");
  CHECK(lexed("x = f(\n  a\n)\n") == "x = f ( a ) NL EOF");
  CHECK(lexed("x = [1,\n 2\n , 3]\n") == "x = [ 1 , 2 , 3 ] NL EOF");
  CHECK(lexed("x = (a\n + b)\n") == "x = ( a + b ) NL EOF");
  // A finished line inside an unclosed bracket ends the statement, so the error stays on its line.
  CHECK(lexed("x = f(a, b\ny = 1\n") == "x = f ( a , b NL y = 1 NL EOF");
  // ... and the unclosed bracket does not leak into the next statement.
  CHECK(lexed("x = f(a\ny = g(\n1)\n") == "x = f ( a NL y = g ( 1 ) NL EOF");
  // Outside brackets a line break always ends the statement.
  CHECK(lexed("x = a +\nb") == "x = a + NL b EOF");
}

TEST_CASE("lexer: bad characters are located errors and lexing goes on") {
  SourceFile src = sourceFromString("t.nn", "a = $b\n\"s\" ~ \x01 é");
  std::vector<Token> t = lex(src);
  CHECK(kinds(t) == "a = ERR(unexpected character '$') b NL ERR(unexpected character '\"') s "
                    "ERR(unexpected character '\"') ERR(unexpected character '~') "
                    "ERR(unexpected character '\\x01') ERR(unexpected character 'é') EOF");
  CHECK(t[2].loc.line == 1);
  CHECK(t[2].loc.col == 5);
  CHECK(t[10].loc.line == 2);
  CHECK(t[10].loc.col == 9);
  CHECK(t[10].loc.len == 2);
}

TEST_CASE("lexer: malformed numbers cover the whole run") {
  CHECK(lexed("1e") == "ERR(malformed number '1e': the exponent has no digits) EOF");
  CHECK(lexed("1e+ 2") == "ERR(malformed number '1e+': the exponent has no digits) 2 EOF");
  CHECK(lexed("1.2.3") == "ERR(malformed number '1.2.3') EOF");
  CHECK(lexed("3x") == "ERR(malformed number '3x') EOF");
  CHECK(lexed("1e5e") == "ERR(malformed number '1e5e') EOF");
  CHECK(lexed("99999999999999999999") == "ERR(integer '99999999999999999999' is too large) EOF");
  CHECK(lexed("1e999") == "ERR(number '1e999' is out of range) EOF");
  SourceFile src = sourceFromString("t.nn", "x = 1.2.3)");
  std::vector<Token> t = lex(src);
  CHECK(t[2].loc.col == 5);
  CHECK(t[2].loc.len == 5);
  CHECK(t[3].kind == Tok::RParen);
}

TEST_CASE("lexer: describe names tokens for messages") {
  SourceFile src = sourceFromString("t.nn", "x =\n");
  std::vector<Token> t = lex(src);
  CHECK(describe(t[0]) == "'x'");
  CHECK(describe(t[1]) == "'='");
  CHECK(describe(t[2]) == "newline");
  CHECK(describe(t[3]) == "end of file");
}

}  // namespace
}  // namespace sinter
