// Op kinds and the op registry: what each op is, its shape rule and its gradient rule, looked up
// by kind. The list of ops is ir/ops.def; the rules live per family in ir/ops/*.cpp.
#pragma once

#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "ir/attr.h"
#include "ir/types.h"
#include "support/error.h"

namespace sinter {

enum class OpKind : uint8_t {
#define OP(Enum, mnemonic, arity, cls) Enum,
#include "ir/ops.def"
#undef OP
};

enum class FusionClass : uint8_t { Elementwise, Broadcast, Injective, Reduction, OutFusable, Opaque, Structural, Mode };

constexpr int kNumOps = 0
#define OP(Enum, mnemonic, arity, cls) +1
#include "ir/ops.def"
#undef OP
    ;

struct Node;
class Builder;
using ValueId = int32_t;
constexpr ValueId kNoValue = -1;

// Shape rule: the result type from the operand types and attributes, or an error message (the
// caller attaches the source location). Also checks that the attributes the op needs are present.
using InferFn = Expected<TensorType> (*)(OpKind, std::span<const TensorType>, const Attrs&);

// Gradient rule: emits, with `b`, ordinary ops computing the gradient of each operand of `node`
// (whose value is `self`) from `dy`, the gradient of its result. Returns one ValueId per operand,
// kNoValue where no gradient flows. A gradient may have the node's broadcast result shape; the
// autodiff driver reduces it to the operand's shape.
using GradFn = std::vector<ValueId> (*)(Builder& b, const Node& node, ValueId self, ValueId dy);

struct OpRules {
  OpKind op;
  InferFn infer;
  GradFn grad;  // nullptr: not differentiable (autodiff reports it if a gradient must pass)
};

struct OpInfo {
  std::string_view mnemonic;
  int arity;
  FusionClass fusion;
  InferFn infer = nullptr;
  GradFn grad = nullptr;
};

const OpInfo& opInfo(OpKind);
std::optional<OpKind> opFromMnemonic(std::string_view);
inline std::string_view mnemonic(OpKind op) { return opInfo(op).mnemonic; }

// Rule tables of the op families (ir/ops/*.cpp), gathered by the registry.
std::span<const OpRules> elementwiseRules();
std::span<const OpRules> reductionRules();
std::span<const OpRules> shapeRules();
std::span<const OpRules> linalgRules();
std::span<const OpRules> nnRules();
std::span<const OpRules> structuralRules();

}  // namespace sinter
