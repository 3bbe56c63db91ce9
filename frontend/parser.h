// The .nn parser: recursive descent from tokens to a located AST, reporting every independent error.
#pragma once

#include "frontend/ast.h"
#include "support/source.h"

namespace sinter {

// Parses a whole file: one `model NAME { ... }` and an optional `train { ... }`, in either order.
// On syntax errors the parser reports the error, skips to the next statement and goes on (clox's
// panic mode), so the Error holds every independent error in source order, at most kMaxParseErrors.
// The returned AST refers to `source` only through shared file names: it may outlive it.
Expected<ast::Program> parseProgram(const SourceFile& source);

// Parses one expression filling the whole source (tests, and flags such as --schedule=cosine()).
Expected<ast::ExprPtr> parseExpression(const SourceFile& source);

inline constexpr size_t kMaxParseErrors = 20;

}  // namespace sinter
