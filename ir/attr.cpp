// Attributes: lookup and text form.
#include "ir/attr.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace sinter {

namespace {
[[noreturn]] void missing(const std::string& key, const char* want) {
  std::fprintf(stderr, "sinter: internal error: attribute '%s' missing or not %s\n", key.c_str(), want);
  std::abort();
}
}  // namespace

void Attrs::set(const std::string& key, Attr value) {
  for (auto& [k, v] : items_)
    if (k == key) { v = std::move(value); return; }
  items_.emplace_back(key, std::move(value));
}

const Attr* Attrs::find(const std::string& key) const {
  for (auto& [k, v] : items_)
    if (k == key) return &v;
  return nullptr;
}

int64_t Attrs::i(const std::string& key) const {
  const Attr* a = find(key);
  if (!a || !std::holds_alternative<int64_t>(*a)) missing(key, "an integer");
  return std::get<int64_t>(*a);
}

double Attrs::f(const std::string& key) const {
  const Attr* a = find(key);
  if (a && std::holds_alternative<double>(*a)) return std::get<double>(*a);
  if (a && std::holds_alternative<int64_t>(*a)) return static_cast<double>(std::get<int64_t>(*a));
  missing(key, "a number");
}

bool Attrs::b(const std::string& key) const {
  const Attr* a = find(key);
  if (!a || !std::holds_alternative<bool>(*a)) missing(key, "a bool");
  return std::get<bool>(*a);
}

const std::string& Attrs::s(const std::string& key) const {
  const Attr* a = find(key);
  if (!a || !std::holds_alternative<std::string>(*a)) missing(key, "a string");
  return std::get<std::string>(*a);
}

const std::vector<int64_t>& Attrs::ints(const std::string& key) const {
  const Attr* a = find(key);
  if (!a || !std::holds_alternative<std::vector<int64_t>>(*a)) missing(key, "an integer list");
  return std::get<std::vector<int64_t>>(*a);
}

std::vector<double> Attrs::floats(const std::string& key) const {
  const Attr* a = find(key);
  if (a && std::holds_alternative<std::vector<double>>(*a)) return std::get<std::vector<double>>(*a);
  return {f(key)};
}

std::string formatFloat(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
  std::string s = fmt::format("{}", v);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

std::string formatAttr(const Attr& a) {
  if (auto* i = std::get_if<int64_t>(&a)) return std::to_string(*i);
  if (auto* d = std::get_if<double>(&a)) return formatFloat(*d);
  if (auto* b = std::get_if<bool>(&a)) return *b ? "true" : "false";
  if (auto* s = std::get_if<std::string>(&a)) {
    std::string out = "\"";
    for (char c : *s) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    return out + "\"";
  }
  std::string out = "[";
  if (auto* is = std::get_if<std::vector<int64_t>>(&a)) {
    for (size_t k = 0; k < is->size(); ++k) out += (k ? "," : "") + ((*is)[k] == -1 ? std::string("B") : std::to_string((*is)[k]));
  } else {
    auto& fs = std::get<std::vector<double>>(a);
    for (size_t k = 0; k < fs.size(); ++k) out += (k ? "," : "") + formatFloat(fs[k]);
  }
  return out + "]";
}

std::string formatAttrs(const Attrs& attrs) {
  if (attrs.empty()) return "";
  std::string s = "{";
  bool first = true;
  for (auto& [k, v] : attrs.items()) {
    s += (first ? "" : ", ") + k + "=" + formatAttr(v);
    first = false;
  }
  return s + "}";
}

}  // namespace sinter
