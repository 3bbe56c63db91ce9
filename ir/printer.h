// The IR's text form (printer and parser) and its Graphviz rendering.
#pragma once

#include <string>

#include "ir/module.h"

namespace sinter {

std::string printModule(const Module&);
std::string printFunction(const Module&, const Function&);
// Parses what printModule writes; errors name "<source>:line:col" of the IR text.
Expected<Module> parseModule(std::string_view text, const std::string& sourceName = "<ir>");
// Graphviz: one cluster per function, ops as nodes labelled with their result types.
std::string printDot(const Module&);

}  // namespace sinter
