// Reverse-mode differentiation of IR by IR: the gradient ops are appended to the same function.
#pragma once

#include <map>

#include "ir/module.h"

namespace sinter {

// Appends to b's function the ops computing d(loss)/d(v) for every v in `wrt`, returning them in
// order. Only ops on a path from some `wrt` to `loss` are differentiated.
Expected<std::vector<ValueId>> differentiate(Builder& b, ValueId loss, const std::vector<ValueId>& wrt);

}  // namespace sinter
