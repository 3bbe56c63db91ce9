// The frontend as one call: parse, read the train block, lower to IR, verify.
#include "frontend/compile.h"

#include "frontend/lower.h"
#include "frontend/parser.h"
#include "ir/verifier.h"

namespace sinter {

Attrs trainAttrs(const TrainConfig& c) {
  const OptimizerConfig& o = c.optimizer;
  Attrs a = {{"optimizer", std::string(optimizerName(o.kind))}, {"lr", o.lr}, {"weight_decay", o.weightDecay}};
  // The hyperparameters of the chosen optimizer alone, as passes/optimizer.cpp reads them.
  switch (o.kind) {
    case OptimizerKind::Sgd:
      a.set("momentum", o.momentum);
      a.set("dampening", o.dampening);
      a.set("nesterov", o.nesterov);
      break;
    case OptimizerKind::Adam:
    case OptimizerKind::AdamW:
      a.set("beta1", o.beta1);
      a.set("beta2", o.beta2);
      a.set("eps", o.eps);
      break;
    case OptimizerKind::RmsProp:
      a.set("alpha", o.alpha);
      a.set("eps", o.eps);
      a.set("momentum", o.momentum);
      a.set("centered", o.centered);
      break;
    case OptimizerKind::Adagrad:
      a.set("lr_decay", o.lrDecay);
      a.set("initial_accumulator_value", o.initialAccumulator);
      a.set("eps", o.eps);
      break;
    case OptimizerKind::Adadelta:
      a.set("rho", o.rho);
      a.set("eps", o.eps);
      break;
  }
  // Only when set: the IR of models without them stays as it was.
  if (o.decayExcludesBias) a.set("weight_decay_exclude_bias", true);
  if (o.decayExcludesBatchnorm) a.set("weight_decay_exclude_batchnorm", true);
  a.set("batch", c.batch);
  return a;
}

FrontendResult compileSource(SourceFile source, bool parseOnly) {
  FrontendResult r;
  r.source = std::move(source);
  Expected<ast::Program> program = parseProgram(*r.source);
  if (!program) {
    r.error = program.error();
    return r;
  }
  r.program = program.take();
  if (parseOnly) return r;
  Error errors;
  Expected<TrainConfig> train = readTrainConfig(r.program->train ? &*r.program->train : nullptr);
  if (train) r.train = train.take();
  else errors = train.error();
  Expected<Module> module = lowerModel(*r.program, *r.source->name);
  if (!module) {
    // Model errors come before train-block errors only when the model is first in the file. An
    // error inside a block sorts where its outermost call is, so a block's errors follow the calls.
    for (auto& d : module.error().diags) errors.diags.push_back(d);
    auto anchor = [](const Diag& d) {
      const SourceLoc* loc = &d.loc;
      for (const Diag& note : d.notes)
        if (note.message.starts_with(kInBlockNote)) loc = &note.loc;
      return std::pair(loc->line, loc->col);
    };
    std::stable_sort(errors.diags.begin(), errors.diags.end(), [&](const Diag& a, const Diag& b) { return anchor(a) < anchor(b); });
  }
  if (!errors.diags.empty()) {
    r.error = errors;
    return r;
  }
  module->attrs = trainAttrs(r.train);
  if (Status s = verifyModule(*module); !s) {
    r.error = s.error();
    return r;
  }
  r.module = module.take();
  return r;
}

FrontendResult compileFile(const std::string& path, bool parseOnly) {
  Expected<SourceFile> source = loadSource(path);
  if (!source) {
    FrontendResult r;
    r.error = source.error();
    return r;
  }
  return compileSource(source.take(), parseOnly);
}

}  // namespace sinter
