// The IR printer. Grammar (the parser in ir/parser.cpp reads exactly this):
//   module @NAME source="FILE" {ATTRS}
//   param|state @GLOBAL : TYPE = INIT(ARGS) loc(L:C,LEN)
//   func @NAME(%in : TYPE, ...) {
//     %v = OP(%a, %b) {ATTRS} : TYPE loc(L:C,LEN)
//     store(%v) {global="..."}
//     return name=%v, ...
//   }
// Named values print as %name; unnamed ones are numbered %0, %1, ... in order.
#include <set>
#include <unordered_map>

#include "ir/printer.h"

namespace sinter {

namespace {

std::string locText(const SourceLoc& loc) {
  if (!loc.known()) return "";
  return fmt::format(" loc({}:{},{})", loc.line, loc.col, loc.len);
}

std::string initText(const Init& init) {
  std::string args;
  for (auto& [k, v] : init.args.items()) args += (args.empty() ? "" : ", ") + k + "=" + formatAttr(v);
  return init.kind + "(" + args + ")";
}

// Chooses the printed names of a function's values: the node's name when it is free, else a number.
std::vector<std::string> valueNames(const Function& fn) {
  std::vector<std::string> names(fn.nodes.size());
  std::set<std::string> used;
  int next = 0;
  for (size_t i = 0; i < fn.nodes.size(); ++i) {
    const std::string& want = fn.nodes[i].name;
    std::string name = want;
    for (int k = 1; !name.empty() && used.count(name); ++k) name = fmt::format("{}.{}", want, k);
    if (name.empty()) name = std::to_string(next++);
    used.insert(name);
    names[i] = name;
  }
  return names;
}

}  // namespace

std::string printFunction(const Module&, const Function& fn) {
  std::vector<std::string> names = valueNames(fn);
  std::string out = "func @" + fn.name + "(";
  bool first = true;
  for (ValueId v : fn.inputs()) {
    out += fmt::format("{}%{} : {}", first ? "" : ", ", names[v], formatType(fn.nodes[v].type));
    first = false;
  }
  out += ") {\n";
  for (size_t i = 0; i < fn.nodes.size(); ++i) {
    const Node& n = fn.nodes[i];
    if (n.op == OpKind::Input) continue;
    std::string operands;
    for (size_t k = 0; k < n.operands.size(); ++k) operands += (k ? ", %" : "%") + names[n.operands[k]];
    std::string attrs = formatAttrs(n.attrs);
    out += "  ";
    if (!n.type.isVoid()) out += "%" + names[i] + " = ";
    out += fmt::format("{}({})", mnemonic(n.op), operands);
    if (!attrs.empty()) out += " " + attrs;
    if (!n.type.isVoid()) out += " : " + formatType(n.type);
    out += locText(n.loc) + "\n";
  }
  out += "  return";
  for (size_t k = 0; k < fn.results.size(); ++k)
    out += fmt::format("{} {}=%{}", k ? "," : "", fn.results[k].first, names[fn.results[k].second]);
  return out + "\n}\n";
}

std::string printModule(const Module& m) {
  std::string out = "module @" + m.name;
  if (!m.source.empty()) out += " source=" + formatAttr(m.source);
  std::string attrs = formatAttrs(m.attrs);
  out += (attrs.empty() ? "" : " " + attrs) + "\n";
  if (!m.globals.empty()) out += "\n";
  for (const Global& g : m.globals)
    out += fmt::format("{} @{} : {} = {}{}\n", g.kind == GlobalKind::Param ? "param" : "state", g.name, formatType(g.type),
                       initText(g.init), locText(g.loc));
  for (const Function& fn : m.functions) out += "\n" + printFunction(m, fn);
  return out;
}

std::string printDot(const Module& m) {
  std::string out = "digraph \"" + m.name + "\" {\n  node [shape=box, fontname=\"monospace\", fontsize=10];\n";
  for (size_t f = 0; f < m.functions.size(); ++f) {
    const Function& fn = m.functions[f];
    std::vector<std::string> names = valueNames(fn);
    out += fmt::format("  subgraph cluster_{} {{\n    label=\"@{}\";\n", f, fn.name);
    for (size_t i = 0; i < fn.nodes.size(); ++i) {
      const Node& n = fn.nodes[i];
      std::string label = n.op == OpKind::Input || n.op == OpKind::Load
                              ? fmt::format("{} {}\\n{}", mnemonic(n.op), names[i], formatType(n.type))
                              : fmt::format("%{} = {}\\n{}", names[i], mnemonic(n.op), formatType(n.type));
      const char* style = n.op == OpKind::Load || n.op == OpKind::Store ? ", style=filled, fillcolor=lightyellow"
                          : n.op == OpKind::Input                     ? ", style=filled, fillcolor=lightblue"
                                                                      : "";
      out += fmt::format("    f{}n{} [label=\"{}\"{}];\n", f, i, label, style);
      for (ValueId v : n.operands) out += fmt::format("    f{}n{} -> f{}n{};\n", f, v, f, i);
    }
    for (size_t r = 0; r < fn.results.size(); ++r) {
      out += fmt::format("    f{}r{} [label=\"{}\", shape=ellipse, style=filled, fillcolor=lightgreen];\n", f, r, fn.results[r].first);
      out += fmt::format("    f{}n{} -> f{}r{};\n", f, fn.results[r].second, f, r);
    }
    out += "  }\n";
  }
  return out + "}\n";
}

}  // namespace sinter
