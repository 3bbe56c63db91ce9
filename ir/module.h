// The graph IR: a module of globals (parameters and state buffers) and functions; a function is a
// topologically ordered list of nodes in SSA form, each producing at most one typed value.
#pragma once

#include <string>
#include <vector>

#include "ir/attr.h"
#include "ir/op.h"
#include "ir/types.h"
#include "support/error.h"

namespace sinter {

// One op application. Its value is named by its index in Function::nodes (a ValueId); operands
// always refer to earlier nodes, so the node list is a topological order.
struct Node {
  OpKind op;
  std::vector<ValueId> operands;
  Attrs attrs;
  TensorType type;   // void for ops without a result (store)
  std::string name;  // optional, for people: "fc1", "fc1.weight.grad"; printed as %name
  SourceLoc loc;
};

struct Function {
  std::string name;
  std::vector<Node> nodes;
  std::vector<std::pair<std::string, ValueId>> results;  // named results, in order

  std::vector<ValueId> inputs() const;  // the Input nodes, in order
  ValueId result(std::string_view name) const;  // kNoValue if absent
};

// Trainable parameters get gradients and optimizer updates; state buffers (batchnorm running
// statistics, optimizer moments, the step counter, the learning rate) persist across steps.
enum class GlobalKind : uint8_t { Param, State };

// How a global starts: `kind` is zeros, ones, constant{value}, normal{mean,std} or uniform{low,high}.
struct Init {
  std::string kind = "zeros";
  Attrs args;
  bool operator==(const Init&) const = default;
};

struct Global {
  std::string name;  // "fc1.weight"
  GlobalKind kind;
  TensorType type;   // never has B
  Init init;
  SourceLoc loc;
};

struct Module {
  std::string name;
  std::string source;  // the .nn file it came from, for locations
  Attrs attrs;         // the train block's settings (optimizer, lr, batch, ...)
  std::vector<Global> globals;
  std::vector<Function> functions;

  Function* function(std::string_view name);
  const Function* function(std::string_view name) const;
  const Global* global(std::string_view name) const;
};

// Appends nodes to a function, running each op's shape rule. Errors are sticky: the first failure
// is recorded (with the location given) and every later call returns kNoValue, so rules can emit
// straight-line code and the caller checks `error()` once at the end.
class Builder {
 public:
  Builder(Module& module, Function& fn) : module_(module), fn_(fn) {}

  ValueId create(OpKind op, std::vector<ValueId> operands, Attrs attrs = {}, std::string name = {});
  // Function arguments and global reads, whose types come from the signature and the module.
  ValueId input(const std::string& name, TensorType type);
  ValueId load(const Global& global);
  void store(const std::string& global, ValueId value) { create(OpKind::Store, {value}, {{"global", global}}); }
  // Copies: creating ops grows the node list, so references into it would dangle.
  TensorType type(ValueId v) const { return fn_.nodes[v].type; }
  const Node& node(ValueId v) const { return fn_.nodes[v]; }
  Module& module() { return module_; }
  Function& function() { return fn_; }

  // The location given to every node created from now on (autodiff sets the forward op's).
  void setLoc(SourceLoc loc) { loc_ = std::move(loc); }
  bool failed() const { return error_.has_value(); }
  const std::optional<Error>& error() const { return error_; }
  void fail(Error e) { if (!error_) error_ = std::move(e); }
  void clearError() { error_.reset(); }

  // Shorthands used by the frontend and the gradient rules.
  ValueId constant(double value, DType dtype = DType::F32) {
    return create(OpKind::Constant, {}, {{"value", value}, {"dtype", dtypeName(dtype)}});
  }
  ValueId unary(OpKind op, ValueId x, Attrs attrs = {}) { return create(op, {x}, std::move(attrs)); }
  ValueId binary(OpKind op, ValueId a, ValueId b) { return create(op, {a, b}); }
  ValueId add(ValueId a, ValueId b) { return binary(OpKind::Add, a, b); }
  ValueId sub(ValueId a, ValueId b) { return binary(OpKind::Sub, a, b); }
  ValueId mul(ValueId a, ValueId b) { return binary(OpKind::Mul, a, b); }
  ValueId div(ValueId a, ValueId b) { return binary(OpKind::Div, a, b); }
  ValueId neg(ValueId a) { return unary(OpKind::Neg, a); }
  ValueId scale(ValueId a, double k) { return mul(a, constant(k)); }
  ValueId reduce(OpKind op, ValueId x, std::vector<int64_t> axes, bool keepdims) {
    return create(op, {x}, {{"axes", std::move(axes)}, {"keepdims", keepdims}});
  }
  ValueId reshape(ValueId x, Dims shape) { return create(OpKind::Reshape, {x}, {{"shape", std::move(shape)}}); }
  ValueId broadcast(ValueId x, Dims shape) { return create(OpKind::Broadcast, {x}, {{"shape", std::move(shape)}}); }
  ValueId transpose(ValueId x, std::vector<int64_t> perm) { return create(OpKind::Transpose, {x}, {{"perm", std::move(perm)}}); }

 private:
  Module& module_;
  Function& fn_;
  SourceLoc loc_;
  std::optional<Error> error_;
};

}  // namespace sinter
