// The .nn abstract syntax tree: what the parser produces and AST -> IR consumes. Every node is located.
#pragma once

#include "support/error.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace sinter::ast {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

// 3, 0.5, 5e-4. `isInteger` records how it was written: `2` and `2.0` differ for integer arguments.
struct Number {
  double value = 0;
  int64_t intValue = 0;  // meaningful when isInteger
  bool isInteger = false;
};

struct Bool {
  bool value = false;
};

// `x` or a dotted parameter name `fc1.weight`, as written.
struct Name {
  std::string text;
};

struct KeywordArg {
  std::string name;
  SourceLoc nameLoc;
  ExprPtr value;
};

// f(positional..., key = value...). Keyword names are unique within a call (the parser checks).
struct Call {
  std::string callee;
  SourceLoc calleeLoc;
  std::vector<ExprPtr> args;
  std::vector<KeywordArg> kwargs;
};

// lhs op rhs, op one of + - * / @.
struct Binary {
  char op = '+';
  SourceLoc opLoc;
  ExprPtr lhs, rhs;
};

// -operand
struct Neg {
  ExprPtr operand;
};

// [a, b, c]
struct List {
  std::vector<ExprPtr> elements;
};

// An expression: a location covering all of it (clipped to its first line) and the node itself.
struct Expr {
  SourceLoc loc;
  std::variant<Number, Bool, Name, Call, Binary, Neg, List> node;

  template <typename T> const T* as() const { return std::get_if<T>(&node); }
  template <typename T> T* as() { return std::get_if<T>(&node); }
};

// A literal number, looking through unary minus (`-1` parses as Neg(1)); nullopt for anything else.
inline std::optional<Number> literalNumber(const Expr& e) {
  if (const Number* n = e.as<Number>()) return *n;
  if (const Neg* neg = e.as<Neg>()) {
    std::optional<Number> inner = literalNumber(*neg->operand);
    if (!inner) return std::nullopt;
    // The lexer keeps integers within [0, INT64_MAX], so negating one never overflows.
    return Number{-inner->value, -inner->intValue, inner->isInteger};
  }
  return std::nullopt;
}

// One dimension of a type: an integer size or a named (batch) dimension such as B.
struct Dim {
  SourceLoc loc;
  std::optional<int64_t> size;  // set for `28`
  std::string name;             // set for `B`
};

// f32[B, 1, 28, 28]. The dtype is any identifier here; semantics checks it is a known one.
struct Type {
  SourceLoc loc;
  std::string dtype;
  SourceLoc dtypeLoc;
  std::vector<Dim> dims;
};

// input NAME: type
struct Input {
  std::string name;
  SourceLoc nameLoc;
  Type type;
};

// param NAME: type = init, where init is a Name (`zeros`) or a Call (`normal(std = 0.01)`).
struct Param {
  std::string name;
  SourceLoc nameLoc;
  Type type;
  ExprPtr init;
};

// NAME = expr
struct Binding {
  std::string name;
  SourceLoc nameLoc;
  ExprPtr value;
};

// output NAME = expr, or output NAME (value null: the output is the existing binding NAME).
struct Output {
  std::string name;
  SourceLoc nameLoc;
  ExprPtr value;
};

// loss expr
struct Loss {
  ExprPtr value;
};

// A model statement; loc covers the statement (clipped to its first line).
struct Stmt {
  SourceLoc loc;
  std::variant<Input, Param, Binding, Output, Loss> node;

  template <typename T> const T* as() const { return std::get_if<T>(&node); }
};

struct Model {
  std::string name;
  SourceLoc loc;      // the `model` keyword
  SourceLoc nameLoc;
  std::vector<Stmt> body;
};

// A train setting. `KEY v1, v2` (`augment random_crop(padding = 4), hflip`) holds the values in
// order; the call form `KEY(kwargs)` (`early_stopping(patience = 5)`) holds one Call whose callee is
// KEY and sets isCall, so both forms are read with the same expression helpers.
struct TrainEntry {
  std::string key;
  SourceLoc loc;      // the whole entry (clipped to its line)
  SourceLoc keyLoc;
  bool isCall = false;
  std::vector<ExprPtr> values;
};

struct TrainBlock {
  SourceLoc loc;      // the `train` keyword
  std::vector<TrainEntry> entries;
};

// One parameter of a block: positional when it has no default, a keyword parameter otherwise.
// Defaults are literals (numbers, booleans, lists): a tensor always comes from the caller.
struct BlockParam {
  std::string name;
  SourceLoc loc;
  ExprPtr defaultValue;
};

// block NAME(params) { stmt* return expr }: a reusable piece of a model, expanded at each call.
// The body holds params and bindings only; the returned expression is the call's value.
struct Block {
  std::string name;
  SourceLoc loc;      // the `block` keyword
  SourceLoc nameLoc;
  std::vector<BlockParam> params;
  std::vector<Stmt> body;
  ExprPtr result;
  SourceLoc resultLoc;  // the `return` statement
};

// A parsed file: exactly one model, at most one train block, and any number of blocks.
struct Program {
  Model model;
  std::optional<TrainBlock> train;
  std::vector<Block> blocks;  // in source order
};

}  // namespace sinter::ast
