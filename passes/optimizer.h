// Optimizer updates as IR: SGD (momentum, dampening, nesterov, weight decay), Adam, AdamW, RMSprop,
// Adagrad and Adadelta.
#pragma once

#include "ir/module.h"

namespace sinter {

struct ParamGrad {
  std::string name;  // the parameter global
  ValueId value;     // its load
  ValueId grad;      // d(loss)/d(param)
};

// Appends to b's function the update of every parameter, reading the optimizer and its
// hyperparameters from the module's attributes (the train block), keeping its state (momentum
// buffers, moments, running averages) in state globals `<param>.<slot>`, the learning rate in
// `train.lr` and the step count in `train.step`, which it increments.
Status appendOptimizerUpdate(Builder& b, const std::vector<ParamGrad>& params);

}  // namespace sinter
