// The op registry: ops.def's static facts joined with the families' shape and gradient rules.
#include "ir/op.h"

#include <array>
#include <cstdio>
#include <cstdlib>

namespace sinter {

namespace {

std::array<OpInfo, kNumOps> buildRegistry() {
  std::array<OpInfo, kNumOps> table{{
#define OP(Enum, mnem, arity, cls) OpInfo{mnem, arity, FusionClass::cls},
#include "ir/ops.def"
#undef OP
  }};
  for (auto family : {elementwiseRules(), reductionRules(), shapeRules(), linalgRules(), nnRules(), structuralRules()}) {
    for (const OpRules& r : family) {
      OpInfo& info = table[static_cast<size_t>(r.op)];
      if (info.infer) {
        std::fprintf(stderr, "sinter: internal error: op '%s' has two rule entries\n", std::string(info.mnemonic).c_str());
        std::abort();
      }
      info.infer = r.infer;
      info.grad = r.grad;
    }
  }
  return table;
}

}  // namespace

const OpInfo& opInfo(OpKind op) {
  static const std::array<OpInfo, kNumOps> table = buildRegistry();
  return table[static_cast<size_t>(op)];
}

std::optional<OpKind> opFromMnemonic(std::string_view m) {
  for (int k = 0; k < kNumOps; ++k)
    if (opInfo(static_cast<OpKind>(k)).mnemonic == m) return static_cast<OpKind>(k);
  return std::nullopt;
}

}  // namespace sinter
