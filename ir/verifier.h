// The IR verifier: the invariants every pass must keep.
#pragma once

#include "ir/module.h"

namespace sinter {

// Checks: operands are earlier values; each op's result type is what its shape rule says;
// inputs come first; loads and stores name existing globals of the right type; results exist
// and have distinct names. The first violation is returned, located at the offending op.
Status verifyModule(const Module&);

}  // namespace sinter
