// Reading the train block: one reader per setting, listed in kSettings; shared value checkers.
#include "frontend/train_config.h"

#include "frontend/ast_dump.h"

#include <algorithm>
#include <cmath>
#include <optional>

namespace sinter {

namespace {

using ast::Expr;

// A range a number must lie in, and how a message names it.
struct Bound {
  double lo;
  bool loInclusive;
  double hi;
  bool hiInclusive;
  std::string_view description;

  bool contains(double v) const {
    return (loInclusive ? v >= lo : v > lo) && (hiInclusive ? v <= hi : v < hi);
  }
};
constexpr double kInf = HUGE_VAL;
constexpr Bound kAnyNumber{-kInf, true, kInf, true, "a number"};
constexpr Bound kPositive{0, false, kInf, true, "a positive number"};
constexpr Bound kNonNegative{0, true, kInf, true, "a non-negative number"};
constexpr Bound kFraction{0, true, 1, false, "a number in [0, 1)"};
constexpr Bound kUnitInterval{0, true, 1, true, "a number in [0, 1]"};

// A bare name (`hflip`, `cosine`) or a call (`step(every = 10)`), read alike.
struct CallView {
  std::string_view name;
  SourceLoc loc;
  const std::vector<ast::ExprPtr>& args;
  const std::vector<ast::KeywordArg>& kwargs;
};

const std::vector<ast::ExprPtr> kNoArgs;
const std::vector<ast::KeywordArg> kNoKwargs;

std::optional<CallView> asCall(const Expr& e) {
  if (const auto* n = e.as<ast::Name>()) return CallView{n->text, e.loc, kNoArgs, kNoKwargs};
  if (const auto* c = e.as<ast::Call>()) return CallView{c->callee, e.loc, c->args, c->kwargs};
  return std::nullopt;
}

const Expr* kwarg(const CallView& c, std::string_view name) {
  for (const ast::KeywordArg& kw : c.kwargs)
    if (kw.name == name) return kw.value.get();
  return nullptr;
}

template <typename Names>
std::string joined(const Names& names) {
  std::string out;
  for (std::string_view n : names) out += fmt::format("{}{}", out.empty() ? "" : ", ", n);
  return out;
}

// Accumulates every error of the block; each reader reports and moves on.
class Reader {
 public:
  Error errors;

  Diag& error(const SourceLoc& loc, std::string message) {
    errors.diags.push_back({loc, std::move(message), {}});
    return errors.diags.back();
  }

  std::optional<double> number(const Expr& e, std::string_view what, const Bound& bound) {
    std::optional<ast::Number> n = ast::literalNumber(e);
    if (!n || !bound.contains(n->value)) {
      error(e.loc, fmt::format("'{}' expects {}, found {}", what, bound.description, formatExpr(e)));
      return std::nullopt;
    }
    return n->value;
  }

  std::optional<int64_t> integer(const Expr& e, std::string_view what, int64_t min) {
    std::optional<ast::Number> n = ast::literalNumber(e);
    if (!n || !n->isInteger || n->intValue < min) {
      error(e.loc, fmt::format("'{}' expects a {} integer, found {}", what, min > 0 ? "positive" : "non-negative",
                               formatExpr(e)));
      return std::nullopt;
    }
    return n->intValue;
  }

  std::optional<bool> boolean(const Expr& e, std::string_view what) {
    if (const auto* b = e.as<ast::Bool>()) return b->value;
    error(e.loc, fmt::format("'{}' expects true or false, found {}", what, formatExpr(e)));
    return std::nullopt;
  }

  // A number or a list of numbers (one per channel).
  std::optional<std::vector<double>> numbers(const Expr& e, std::string_view what, const Bound& bound) {
    const auto* list = e.as<ast::List>();
    if (!list) {
      std::optional<double> v = number(e, what, bound);
      return v ? std::optional(std::vector<double>{*v}) : std::nullopt;
    }
    if (list->elements.empty()) {
      error(e.loc, fmt::format("'{}' expects {} or a list of them, found []", what, bound.description));
      return std::nullopt;
    }
    std::vector<double> values;
    for (const ast::ExprPtr& el : list->elements) {
      std::optional<double> v = number(*el, what, bound);
      if (!v) return std::nullopt;
      values.push_back(*v);
    }
    return values;
  }

  // Every argument of `c` is a keyword from `known`; reports the others. False on any error.
  bool checkArgs(const CallView& c, std::initializer_list<std::string_view> known) {
    bool ok = true;
    if (!c.args.empty()) {
      error(c.args.front()->loc, fmt::format("{} takes only keyword arguments, found {}", c.name,
                                             formatExpr(*c.args.front())));
      ok = false;
    }
    for (const ast::KeywordArg& kw : c.kwargs) {
      if (std::find(known.begin(), known.end(), kw.name) != known.end()) continue;
      if (known.size() == 0) error(kw.nameLoc, fmt::format("{} takes no arguments, found '{}'", c.name, kw.name));
      else error(kw.nameLoc, fmt::format("{} has no argument '{}'; its arguments are {}", c.name, kw.name, joined(known)));
      ok = false;
    }
    return ok;
  }

  // A setting value that must be a name or a call, e.g. an optimizer.
  std::optional<CallView> call(const Expr& e, std::string_view what, std::string_view example) {
    std::optional<CallView> c = asCall(e);
    if (!c) error(e.loc, fmt::format("'{}' expects {}, found {}", what, example, formatExpr(e)));
    return c;
  }
};

// The keyword arguments of each optimizer: PyTorch's constructor arguments (less foreach,
// maximize and the like), with weight_decay_exclude for every one.
bool checkOptimizerArgs(Reader& r, const CallView& c, OptimizerKind kind) {
  switch (kind) {
    case OptimizerKind::Sgd:
      return r.checkArgs(c, {"lr", "momentum", "dampening", "nesterov", "weight_decay", "weight_decay_exclude"});
    case OptimizerKind::Adam:
    case OptimizerKind::AdamW:
      return r.checkArgs(c, {"lr", "betas", "eps", "weight_decay", "weight_decay_exclude"});
    case OptimizerKind::RmsProp:
      return r.checkArgs(c, {"lr", "alpha", "eps", "weight_decay", "momentum", "centered", "weight_decay_exclude"});
    case OptimizerKind::Adagrad:
      return r.checkArgs(c, {"lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps", "weight_decay_exclude"});
    case OptimizerKind::Adadelta:
      return r.checkArgs(c, {"lr", "rho", "eps", "weight_decay", "weight_decay_exclude"});
  }
  return false;
}

void readOptimizer(Reader& r, const ast::TrainEntry& entry, TrainConfig& config) {
  std::optional<CallView> c = r.call(*entry.values[0], "optimizer", "an optimizer such as sgd(lr = 0.01)");
  if (!c) return;
  const std::span<const std::string_view> names = optimizerNames();
  const auto named = std::find(names.begin(), names.end(), c->name);
  if (named == names.end()) {
    r.error(c->loc, fmt::format("unknown optimizer '{}'; known optimizers are {}", c->name, joined(names)));
    return;
  }
  const auto kind = static_cast<OptimizerKind>(named - names.begin());
  if (!checkOptimizerArgs(r, *c, kind)) return;

  OptimizerConfig o = defaultOptimizer(kind);
  // The numeric arguments, read in the order written so that their errors are in source order.
  struct NumberArg {
    std::string_view name;
    double OptimizerConfig::*field;
    const Bound& bound;
  };
  const NumberArg numberArgs[] = {
      {"lr", &OptimizerConfig::lr, kPositive},
      {"weight_decay", &OptimizerConfig::weightDecay, kNonNegative},
      {"momentum", &OptimizerConfig::momentum, kNonNegative},
      {"dampening", &OptimizerConfig::dampening, kNonNegative},
      {"eps", &OptimizerConfig::eps, kNonNegative},
      {"alpha", &OptimizerConfig::alpha, kUnitInterval},
      {"rho", &OptimizerConfig::rho, kUnitInterval},
      {"lr_decay", &OptimizerConfig::lrDecay, kNonNegative},
      {"initial_accumulator_value", &OptimizerConfig::initialAccumulator, kNonNegative},
  };
  for (const ast::KeywordArg& kw : c->kwargs)
    for (const NumberArg& a : numberArgs)
      if (kw.name == a.name)
        if (auto v = r.number(*kw.value, a.name, a.bound)) o.*a.field = *v;
  if (const Expr* e = kwarg(*c, "centered"))
    if (auto v = r.boolean(*e, "centered")) o.centered = *v;
  if (const Expr* e = kwarg(*c, "nesterov")) {
    if (auto v = r.boolean(*e, "nesterov")) o.nesterov = *v;
    // PyTorch's rule: Nesterov needs a momentum to look ahead with, and no dampening.
    if (o.nesterov && (o.momentum <= 0 || o.dampening != 0))
      r.error(e->loc, "nesterov momentum requires momentum > 0 and dampening = 0");
  }
  if (const Expr* e = kwarg(*c, "betas")) {
    const auto* list = e->as<ast::List>();
    if (!list || list->elements.size() != 2) {
      r.error(e->loc, fmt::format("'betas' expects a list of two numbers in [0, 1), found {}", formatExpr(*e)));
    } else {
      auto b1 = r.number(*list->elements[0], "betas", kFraction);
      auto b2 = r.number(*list->elements[1], "betas", kFraction);
      if (b1 && b2) o.beta1 = *b1, o.beta2 = *b2;
    }
  }
  if (const Expr* e = kwarg(*c, "weight_decay_exclude")) {
    const auto* list = e->as<ast::List>();
    if (!list) r.error(e->loc, fmt::format("'weight_decay_exclude' expects a list such as [bias, batchnorm], found {}", formatExpr(*e)));
    for (size_t i = 0; list && i < list->elements.size(); ++i) {
      const auto* name = list->elements[i]->as<ast::Name>();
      if (name && name->text == "bias") o.decayExcludesBias = true;
      else if (name && name->text == "batchnorm") o.decayExcludesBatchnorm = true;
      else
        r.error(list->elements[i]->loc,
                fmt::format("'weight_decay_exclude' takes bias and batchnorm, found {}", formatExpr(*list->elements[i])));
    }
  }
  config.optimizer = o;
}

void readBatch(Reader& r, const ast::TrainEntry& entry, TrainConfig& config) {
  if (auto v = r.integer(*entry.values[0], "batch", 1)) config.batch = *v;
}

void readEpochs(Reader& r, const ast::TrainEntry& entry, TrainConfig& config) {
  if (auto v = r.integer(*entry.values[0], "epochs", 1)) config.epochs = *v;
}

void readSeed(Reader& r, const ast::TrainEntry& entry, TrainConfig& config) {
  if (auto v = r.integer(*entry.values[0], "seed", 0)) config.seed = static_cast<uint64_t>(*v);
}

void readValidation(Reader& r, const ast::TrainEntry& entry, TrainConfig& config) {
  if (auto v = r.number(*entry.values[0], "validation", kFraction)) config.validation = *v;
}

// `schedule NAME(...)`, optionally after `warmup(epochs = N)`: `schedule warmup(epochs = 5), cosine()`.
void readSchedule(Reader& r, const ast::TrainEntry& entry, TrainConfig& config) {
  ScheduleConfig s;
  size_t at = 0;
  if (entry.values.size() > 2) {
    r.error(entry.values[2]->loc, "'schedule' takes a schedule, optionally after warmup(epochs = N)");
    return;
  }
  if (entry.values.size() == 2) {
    std::optional<CallView> w = r.call(*entry.values[0], "schedule", "warmup(epochs = 5)");
    if (!w) return;
    if (w->name != "warmup") {
      r.error(w->loc, fmt::format("only warmup(epochs = N) may come before the schedule, found '{}'", w->name));
      return;
    }
    if (!r.checkArgs(*w, {"epochs"})) return;
    const Expr* epochs = kwarg(*w, "epochs");
    if (!epochs) {
      r.error(w->loc, "warmup requires argument 'epochs', e.g. warmup(epochs = 5)");
      return;
    }
    if (auto v = r.integer(*epochs, "epochs", 1)) s.warmupEpochs = *v;
    at = 1;
  }
  std::optional<CallView> c = r.call(*entry.values[at], "schedule", "a schedule such as cosine()");
  if (!c) return;
  auto number = [&](const char* key, double& field, const Bound& bound) {
    if (const Expr* e = kwarg(*c, key))
      if (auto v = r.number(*e, key, bound)) field = *v;
  };
  auto required = [&](const char* key, const char* example) {
    if (kwarg(*c, key)) return true;
    r.error(c->loc, fmt::format("{} schedule requires argument '{}', e.g. {}", c->name, key, example));
    return false;
  };
  if (c->name == "none") {
    r.checkArgs(*c, {});
  } else if (c->name == "step") {
    s.kind = ScheduleKind::Step;
    if (!r.checkArgs(*c, {"every", "gamma"}) || !required("every", "step(every = 10)")) return;
    if (auto v = r.integer(*kwarg(*c, "every"), "every", 1)) s.every = *v;
    number("gamma", s.gamma, kPositive);
  } else if (c->name == "multistep") {
    s.kind = ScheduleKind::MultiStep;
    if (!r.checkArgs(*c, {"milestones", "gamma"}) || !required("milestones", "multistep(milestones = [80, 120])")) return;
    const auto* list = kwarg(*c, "milestones")->as<ast::List>();
    if (!list) {
      r.error(kwarg(*c, "milestones")->loc, "'milestones' expects a list of epochs such as [80, 120]");
      return;
    }
    for (const ast::ExprPtr& m : list->elements)
      if (auto v = r.integer(*m, "milestones", 1)) {
        if (!s.milestones.empty() && *v <= s.milestones.back()) r.error(m->loc, "'milestones' must increase");
        s.milestones.push_back(*v);
      }
    number("gamma", s.gamma, kPositive);
  } else if (c->name == "exponential") {
    s.kind = ScheduleKind::Exponential;
    if (!r.checkArgs(*c, {"gamma"}) || !required("gamma", "exponential(gamma = 0.95)")) return;
    number("gamma", s.gamma, kPositive);
  } else if (c->name == "cosine") {
    s.kind = ScheduleKind::Cosine;
    if (!r.checkArgs(*c, {"min_lr"})) return;
    number("min_lr", s.minLr, kNonNegative);
  } else if (c->name == "onecycle") {
    s.kind = ScheduleKind::OneCycle;
    if (!r.checkArgs(*c, {"max_lr", "pct_start"}) || !required("max_lr", "onecycle(max_lr = 0.1)")) return;
    number("max_lr", s.maxLr, kPositive);
    number("pct_start", s.pctStart, kFraction);
  } else if (c->name == "inv") {
    s.kind = ScheduleKind::Inv;
    if (!r.checkArgs(*c, {"gamma", "power"}) || !required("gamma", "inv(gamma = 1e-4, power = 0.75)") ||
        !required("power", "inv(gamma = 1e-4, power = 0.75)"))
      return;
    number("gamma", s.gamma, kNonNegative);
    number("power", s.power, kNonNegative);
  } else {
    r.error(c->loc, fmt::format("unknown schedule '{}'; known schedules are none, step, multistep, exponential, cosine, onecycle, inv",
                                c->name));
    return;
  }
  config.schedule = s;
}

void readAugment(Reader& r, const ast::TrainEntry& entry, TrainConfig& config) {
  std::vector<std::pair<Augmentation, SourceLoc>> seen;
  for (const ast::ExprPtr& value : entry.values) {
    std::optional<CallView> c = r.call(*value, "augment", "an augmentation such as hflip");
    if (!c) continue;
    Augmentation a;
    if (c->name == "hflip") {
      a.kind = AugmentKind::HFlip;
      if (!r.checkArgs(*c, {})) continue;
    } else if (c->name == "random_crop") {
      a.kind = AugmentKind::RandomCrop;
      if (!r.checkArgs(*c, {"padding"})) continue;
      const Expr* padding = kwarg(*c, "padding");
      if (!padding) {
        r.error(c->loc, "random_crop requires argument 'padding', e.g. random_crop(padding = 4)");
        continue;
      }
      auto v = r.integer(*padding, "padding", 1);
      if (!v) continue;
      a.padding = *v;
    } else {
      r.error(c->loc, fmt::format("unknown augmentation '{}'; known augmentations are random_crop, hflip", c->name));
      continue;
    }
    auto first = std::find_if(seen.begin(), seen.end(), [&](const auto& s) { return s.first.kind == a.kind; });
    if (first != seen.end()) {
      r.error(c->loc, fmt::format("duplicate augmentation '{}'", c->name))
          .notes.push_back({first->second, "first given here", {}});
      continue;
    }
    seen.emplace_back(a, c->loc);
  }
  config.augment.clear();
  for (const auto& [a, loc] : seen) config.augment.push_back(a);
}

void readNormalize(Reader& r, const ast::TrainEntry& entry, TrainConfig& config) {
  CallView c = *asCall(*entry.values[0]);  // the call form: the parser made the entry a Call
  if (!r.checkArgs(c, {"mean", "std"})) return;
  NormalizeConfig n;
  const Expr* meanExpr = kwarg(c, "mean");
  const Expr* stdExpr = kwarg(c, "std");
  if (meanExpr) {
    auto v = r.numbers(*meanExpr, "mean", kAnyNumber);
    if (!v) return;
    n.mean = std::move(*v);
  }
  if (stdExpr) {
    auto v = r.numbers(*stdExpr, "std", kPositive);
    if (!v) return;
    n.std = std::move(*v);
  }
  if (n.mean.size() > 1 && n.std.size() > 1 && n.mean.size() != n.std.size()) {
    r.error(stdExpr->loc, fmt::format("normalize has {} means but {} standard deviations", n.mean.size(), n.std.size()));
    return;
  }
  config.normalize = std::move(n);
}

void readEarlyStopping(Reader& r, const ast::TrainEntry& entry, TrainConfig& config) {
  CallView c = *asCall(*entry.values[0]);
  if (!r.checkArgs(c, {"patience", "min_delta"})) return;
  EarlyStoppingConfig e;
  e.enabled = true;
  if (const Expr* patience = kwarg(c, "patience"))
    if (auto v = r.integer(*patience, "patience", 1)) e.patience = *v;
  if (const Expr* minDelta = kwarg(c, "min_delta"))
    if (auto v = r.number(*minDelta, "min_delta", kNonNegative)) e.minDelta = *v;
  config.earlyStopping = e;
}

// The settings of a train block. `call` settings are written KEY(kwargs); `list` ones take several
// comma-separated values; the rest take exactly one value.
enum class Form : uint8_t { Value, List, Call };
struct Setting {
  std::string_view key;
  Form form;
  std::string_view example;
  void (*read)(Reader&, const ast::TrainEntry&, TrainConfig&);
};
constexpr Setting kSettings[] = {
    {"optimizer", Form::Value, "optimizer sgd(lr = 0.01)", readOptimizer},
    {"batch", Form::Value, "batch 64", readBatch},
    {"epochs", Form::Value, "epochs 10", readEpochs},
    {"schedule", Form::List, "schedule cosine()", readSchedule},
    {"augment", Form::List, "augment random_crop(padding = 4), hflip", readAugment},
    {"normalize", Form::Call, "normalize(mean = 0.5, std = 0.5)", readNormalize},
    {"validation", Form::Value, "validation 0.1", readValidation},
    {"early_stopping", Form::Call, "early_stopping(patience = 5)", readEarlyStopping},
    {"seed", Form::Value, "seed 0", readSeed},
};

std::string knownSettings() {
  std::string out;
  for (const Setting& s : kSettings) out += fmt::format("{}{}", out.empty() ? "" : ", ", s.key);
  return out;
}

}  // namespace

Expected<TrainConfig> readTrainConfig(const ast::TrainBlock* block) {
  TrainConfig config;
  if (!block) return config;
  Reader r;
  std::vector<const ast::TrainEntry*> seen;
  for (const ast::TrainEntry& entry : block->entries) {
    const Setting* setting = nullptr;
    for (const Setting& s : kSettings)
      if (s.key == entry.key) setting = &s;
    if (!setting) {
      r.error(entry.keyLoc, fmt::format("unknown train setting '{}'; known settings are {}", entry.key, knownSettings()));
      continue;
    }
    auto first = std::find_if(seen.begin(), seen.end(), [&](const ast::TrainEntry* e) { return e->key == entry.key; });
    if (first != seen.end()) {
      r.error(entry.keyLoc, fmt::format("duplicate train setting '{}'", entry.key))
          .notes.push_back({(*first)->keyLoc, fmt::format("'{}' was first set here", entry.key), {}});
      continue;
    }
    seen.push_back(&entry);
    if ((setting->form == Form::Call) != entry.isCall) {
      r.error(entry.loc, fmt::format("'{}' is written like this: {}", entry.key, setting->example));
      continue;
    }
    if (setting->form == Form::Value && entry.values.size() != 1) {
      r.error(entry.values[1]->loc, fmt::format("'{}' takes one value, found {}", entry.key, entry.values.size()));
      continue;
    }
    setting->read(r, entry, config);
  }
  if (!r.errors.diags.empty()) return r.errors;
  return config;
}

}  // namespace sinter
