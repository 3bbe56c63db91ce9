// Text forms of the AST: an indented tree for `sinter dump --stage=ast`, and expressions as source.
#pragma once

#include "frontend/ast.h"

#include <string>

namespace sinter {

// One node per line, indented by depth, each ending with its `@line:col`:
//   model lenet @2:7
//     input image: f32[B, 1, 28, 28] @3:10
//     binding fc1 @8:3
//       call relu @8:12
std::string dumpAst(const ast::Program& program);

// An expression written back as source with only the parentheses precedence needs, for messages
// such as "'batch' expects a positive integer, found 0.5".
std::string formatExpr(const ast::Expr& expr);

}  // namespace sinter
