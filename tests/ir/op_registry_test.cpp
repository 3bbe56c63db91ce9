// The op registry: every op of ops.def has a shape rule (the verifier and the builder refuse one
// that has none instead of calling a null rule), and mnemonics round-trip.
#include <doctest/doctest.h>

#include "ir/op.h"

using namespace sinter;

TEST_CASE("every op of ops.def has a shape rule and its mnemonic names it") {
  for (int i = 0; i < kNumOps; ++i) {
    const auto op = static_cast<OpKind>(i);
    const OpInfo& info = opInfo(op);
    INFO(std::string(info.mnemonic));
    CHECK(static_cast<bool>(info.infer));
    CHECK(opFromMnemonic(info.mnemonic) == op);
  }
  CHECK_FALSE(opFromMnemonic("no_such_op").has_value());
}
