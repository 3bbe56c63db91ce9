// Op and module attributes: small typed values keyed by name, kept in insertion order so the
// text form prints them back exactly as parsed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace sinter {

// Int lists print -1 as B (shapes are int lists; no other int list holds negatives).
using Attr = std::variant<int64_t, double, bool, std::string, std::vector<int64_t>, std::vector<double>>;

class Attrs {
 public:
  Attrs() = default;
  Attrs(std::initializer_list<std::pair<std::string, Attr>> init) : items_(init) {}

  void set(const std::string& key, Attr value);
  const Attr* find(const std::string& key) const;
  bool has(const std::string& key) const { return find(key) != nullptr; }

  // Typed getters. Verified IR has every attribute its op needs; a missing one is a compiler bug.
  int64_t i(const std::string& key) const;
  double f(const std::string& key) const;  // accepts an int too
  bool b(const std::string& key) const;
  const std::string& s(const std::string& key) const;
  const std::vector<int64_t>& ints(const std::string& key) const;
  std::vector<double> floats(const std::string& key) const;  // accepts a single number too

  const std::vector<std::pair<std::string, Attr>>& items() const { return items_; }
  bool empty() const { return items_.empty(); }
  bool operator==(const Attrs&) const = default;

 private:
  std::vector<std::pair<std::string, Attr>> items_;
};

std::string formatAttr(const Attr&);
std::string formatAttrs(const Attrs&);  // "{stride=[1,1], groups=1}", or "" when empty
std::string formatFloat(double);        // shortest text that reads back to the same double

}  // namespace sinter
