// Source locations, errors as values, and the Expected<T> that carries them through the compiler.
#pragma once

#include <fmt/format.h>

#include <cassert>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace sinter {

// A place in a source file. line and col are 1-based; len is the width of the range (at least 1).
// A default-constructed location (line 0) means "no location" (e.g. IR built by a pass from nothing).
struct SourceLoc {
  std::shared_ptr<const std::string> file;  // shared so every op of a model points at one name
  uint32_t line = 0;
  uint32_t col = 0;
  uint32_t len = 1;

  bool known() const { return line != 0; }
  // "file:line:col", or "<unknown>".
  std::string str() const {
    if (!known()) return "<unknown>";
    return fmt::format("{}:{}:{}", file ? *file : std::string("<input>"), line, col);
  }
};

// A located message: the error itself, or a note attached to an error.
struct Diag {
  SourceLoc loc;
  std::string message;
  std::vector<Diag> notes;  // "`fc1` was defined here" and the like
};

// An error: one or more diagnostics (the parser reports every independent error it finds).
struct Error {
  std::vector<Diag> diags;

  Error() = default;
  Error(SourceLoc loc, std::string message) { diags.push_back({std::move(loc), std::move(message), {}}); }
  explicit Error(std::string message) : Error(SourceLoc{}, std::move(message)) {}
  Error& note(SourceLoc loc, std::string message) {
    diags.back().notes.push_back({std::move(loc), std::move(message), {}});
    return *this;
  }
  // The first message, for tests and one-line reports.
  const std::string& message() const { return diags.front().message; }
};

// A value or an Error. Errors are values in the compiler; the tools turn them into diagnostics.
template <typename T>
class [[nodiscard]] Expected {
 public:
  Expected(T value) : v_(std::move(value)) {}
  Expected(Error error) : v_(std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& operator*() { assert(ok()); return std::get<0>(v_); }
  const T& operator*() const { assert(ok()); return std::get<0>(v_); }
  T* operator->() { return &**this; }
  const T* operator->() const { return &**this; }
  Error& error() { assert(!ok()); return std::get<1>(v_); }
  const Error& error() const { assert(!ok()); return std::get<1>(v_); }
  T take() { return std::move(**this); }

 private:
  std::variant<T, Error> v_;
};

// Expected<void>: success or an Error.
struct Ok {};
using Status = Expected<Ok>;
inline Status ok() { return Ok{}; }

}  // namespace sinter
