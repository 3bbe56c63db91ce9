// A plan as plain values (PlanSpec), the plan the runtime runs built from it (OwnedPlan), and its
// text form. A target's compiler describes its plan as a PlanSpec; an executable built by
// `sinter build` embeds the text and its main reads it back, binding each kernel call to its
// symbol. So the structs of plan.h belong to the runtime alone: no code generator mirrors them.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/plan.h"
#include "support/error.h"

namespace sinter {

struct PlanSpec {
  struct Buffer {
    std::string name;
    BufferRole role = BufferRole::Temp;
    BufferType type = BufferType::F32;
    std::vector<int64_t> dims;  // kPlanBatch for B
    bool persistent = false;
    int64_t offset = 0;
    int64_t bytesAtMaxBatch = 0;
    std::string init;  // "" unless the buffer owns a Param's or State's storage
    double initA = 0, initB = 0;
    int32_t initStream = -1;
    std::string layout;  // PlanBuffer::layout
    bool device = false;  // PlanBuffer::device
  };
  struct Call {
    std::string name;      // the kernel's symbol
    KernelFn fn = nullptr;  // bound in memory (JIT) or by bindKernels (an executable)
    std::vector<int32_t> args;
    int64_t extentPerBatch = 0, extentConst = 1, grain = 1;
    std::string library;  // a library call's descriptor (PlanCall::library); "" for a generated kernel
  };
  struct Function {
    std::string name;
    std::vector<Call> calls;
    std::vector<int32_t> inputs;
    std::vector<int32_t> results;
    std::vector<std::string> resultNames;
  };
  std::string model, target;
  std::string deviceCode;  // PlanTable::deviceCode
  int64_t maxBatch = 0, stateBytes = 0, workBytes = 0, unplannedBytes = 0;
  double flopsPerStep = 0;
  std::vector<Buffer> buffers;
  std::vector<Function> functions;
};

// The PlanTable of a PlanSpec, with the storage its pointers target. Not copyable or movable (the
// table points into it): hold it by pointer.
class OwnedPlan {
 public:
  // Every generated call of a host plan must be bound (fn set).
  explicit OwnedPlan(PlanSpec spec);
  OwnedPlan(const OwnedPlan&) = delete;
  OwnedPlan& operator=(const OwnedPlan&) = delete;
  const PlanTable& table() const { return table_; }
  const PlanSpec& spec() const { return spec_; }

 private:
  PlanSpec spec_;
  std::vector<PlanBuffer> buffers_;
  std::vector<std::vector<PlanCall>> calls_;
  std::vector<std::vector<const char*>> resultNames_;
  std::vector<PlanFunction> functions_;
  PlanTable table_{};
};

// The text form (one JSON object). parsePlan checks what the runtime relies on (buffer indices in
// range, ranks, roles, arena extents) and names the first thing that is wrong.
std::string formatPlan(const PlanSpec& spec);
Expected<PlanSpec> parsePlan(std::string_view text);

// Sets every generated call's fn from its symbol (library calls have none; nor has a device plan's,
// whose calls are entries of its device code); an unknown symbol is an error that names it.
using KernelResolver = std::function<Expected<void*>(const std::string& symbol)>;
Status bindKernels(PlanSpec& spec, const KernelResolver& resolve);

}  // namespace sinter
