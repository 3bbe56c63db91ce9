// PlanSpec -> PlanTable, and the plan's text form (JSON through runtime/json).
#include "runtime/plan_spec.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <array>

#include "runtime/json.h"

namespace sinter {

namespace {

constexpr std::array<std::string_view, 6> kRoleNames = {"input", "output", "param", "state", "temp", "constant"};
constexpr std::array<std::string_view, 2> kTypeNames = {"f32", "i32"};

Json ints(const std::vector<int32_t>& v) {
  Json a = Json::array();
  for (int32_t x : v) a.push(x);
  return a;
}

// Reads one JSON object of the plan; the first problem is kept with the path to the value
// ("buffers[3].dims"; "" is the plan itself).
class Reader {
 public:
  Reader(const Json& json, std::string path, Error* error) : json_(json), path_(std::move(path)), error_(error) {}

  const Json* member(std::string_view key, Json::Kind kind) {
    const Json* v = json_.find(key);
    if (!v || v->kind() != kind) {
      static const char* const kKinds[] = {"null", "a boolean", "a number", "a string", "an array", "an object"};
      fail(fmt::format("{}: expected {}", at(key), kKinds[static_cast<int>(kind)]));
      return nullptr;
    }
    return v;
  }
  std::string str(std::string_view key) {
    const Json* v = member(key, Json::Kind::String);
    return v ? v->asString() : "";
  }
  int64_t integer(std::string_view key, int64_t min = INT64_MIN) {
    const Json* v = member(key, Json::Kind::Number);
    if (!v) return 0;
    if (!v->isInt() || v->asInt() < min) {
      fail(fmt::format("{}: expected an integer of at least {}", at(key), min));
      return 0;
    }
    return v->asInt();
  }
  double real(std::string_view key) {
    const Json* v = member(key, Json::Kind::Number);
    return v ? v->asDouble() : 0;
  }
  bool boolean(std::string_view key) {
    const Json* v = member(key, Json::Kind::Bool);
    return v && v->asBool();
  }
  std::vector<int64_t> integers(std::string_view key) {
    std::vector<int64_t> out;
    const Json* v = member(key, Json::Kind::Array);
    if (!v) return out;
    for (const Json& x : v->asArray()) {
      if (!x.isInt()) {
        fail(fmt::format("{}: expected an array of integers", at(key)));
        return {};
      }
      out.push_back(x.asInt());
    }
    return out;
  }
  // Indices into the plan's buffers.
  std::vector<int32_t> indices(std::string_view key, size_t numBuffers) {
    std::vector<int32_t> out;
    for (int64_t i : integers(key)) {
      if (i < 0 || static_cast<size_t>(i) >= numBuffers) {
        fail(fmt::format("{}: buffer index {} is outside [0, {})", at(key), i, numBuffers));
        return {};
      }
      out.push_back(static_cast<int32_t>(i));
    }
    return out;
  }
  template <size_t N>
  size_t oneOf(std::string_view key, const std::array<std::string_view, N>& names) {
    const std::string s = str(key);
    for (size_t i = 0; i < N; ++i)
      if (names[i] == s) return i;
    fail(fmt::format("{}: '{}' is not one of {}", at(key), s, fmt::join(names, ", ")));
    return 0;
  }
  void fail(std::string message) {
    if (error_->diags.empty()) *error_ = Error("plan: " + std::move(message));
  }
  const std::string& path() const { return path_; }
  std::string at(std::string_view key) const { return path_.empty() ? std::string(key) : fmt::format("{}.{}", path_, key); }

 private:
  const Json& json_;
  std::string path_;
  Error* error_;
};

}  // namespace

OwnedPlan::OwnedPlan(PlanSpec spec) : spec_(std::move(spec)) {
  for (const PlanSpec::Buffer& b : spec_.buffers) {
    PlanBuffer pb{};
    pb.name = b.name.c_str();
    pb.role = b.role;
    pb.type = b.type;
    pb.rank = static_cast<int32_t>(b.dims.size());
    for (size_t d = 0; d < b.dims.size() && d < kMaxRank; ++d) pb.dims[d] = b.dims[d];
    pb.persistent = b.persistent;
    pb.offset = b.offset;
    pb.bytesAtMaxBatch = b.bytesAtMaxBatch;
    pb.layout = b.layout.c_str();
    pb.device = b.device;
    pb.init = b.init.c_str();
    pb.initA = b.initA;
    pb.initB = b.initB;
    pb.initStream = b.initStream;
    buffers_.push_back(pb);
  }
  for (const PlanSpec::Function& f : spec_.functions) {
    std::vector<PlanCall>& calls = calls_.emplace_back();
    for (const PlanSpec::Call& c : f.calls)
      calls.push_back(PlanCall{c.name.c_str(), c.fn, c.args.data(), static_cast<int32_t>(c.args.size()),
                               c.extentPerBatch, c.extentConst, c.grain, c.library.c_str()});
    std::vector<const char*>& names = resultNames_.emplace_back();
    for (const std::string& n : f.resultNames) names.push_back(n.c_str());
  }
  for (size_t f = 0; f < spec_.functions.size(); ++f) {
    const PlanSpec::Function& sf = spec_.functions[f];
    functions_.push_back(PlanFunction{sf.name.c_str(), calls_[f].data(), static_cast<int32_t>(calls_[f].size()),
                                      sf.inputs.data(), static_cast<int32_t>(sf.inputs.size()), sf.results.data(),
                                      resultNames_[f].data(), static_cast<int32_t>(sf.results.size())});
  }
  table_ = PlanTable{spec_.model.c_str(), spec_.target.c_str(), spec_.maxBatch, spec_.stateBytes, spec_.workBytes,
                     spec_.unplannedBytes, buffers_.data(), static_cast<int32_t>(buffers_.size()), functions_.data(),
                     static_cast<int32_t>(functions_.size()), spec_.flopsPerStep, spec_.deviceCode.c_str()};
}

std::string formatPlan(const PlanSpec& s) {
  Json buffers = Json::array();
  for (const PlanSpec::Buffer& b : s.buffers) {
    Json dims = Json::array();
    for (int64_t d : b.dims) dims.push(d);
    Json o = Json::object();
    o.set("name", b.name);
    o.set("role", kRoleNames[static_cast<size_t>(b.role)]);
    o.set("type", kTypeNames[static_cast<size_t>(b.type)]);
    o.set("dims", std::move(dims));
    o.set("persistent", b.persistent);
    o.set("offset", b.offset);
    o.set("bytes", b.bytesAtMaxBatch);
    if (!b.layout.empty()) o.set("layout", b.layout);
    if (b.device) o.set("space", "device");
    o.set("init", b.init);
    o.set("init_a", b.initA);
    o.set("init_b", b.initB);
    o.set("init_stream", b.initStream);
    buffers.push(std::move(o));
  }
  Json functions = Json::array();
  for (const PlanSpec::Function& f : s.functions) {
    Json calls = Json::array();
    for (const PlanSpec::Call& c : f.calls) {
      Json o = Json::object();
      o.set("kernel", c.name);
      o.set("args", ints(c.args));
      o.set("extent_per_batch", c.extentPerBatch);
      o.set("extent_const", c.extentConst);
      o.set("grain", c.grain);
      // The descriptor is JSON the compiler wrote: kept as an object, so the plan text stays one
      // readable JSON document.
      if (!c.library.empty()) {
        Expected<Json> library = parseJson(c.library);
        o.set("library", library ? library.take() : Json(c.library));
      }
      calls.push(std::move(o));
    }
    Json names = Json::array();
    for (const std::string& n : f.resultNames) names.push(n);
    Json o = Json::object();
    o.set("name", f.name);
    o.set("inputs", ints(f.inputs));
    o.set("results", ints(f.results));
    o.set("result_names", std::move(names));
    o.set("calls", std::move(calls));
    functions.push(std::move(o));
  }
  Json plan = Json::object();
  plan.set("model", s.model);
  plan.set("target", s.target);
  plan.set("max_batch", s.maxBatch);
  plan.set("state_bytes", s.stateBytes);
  plan.set("work_bytes", s.workBytes);
  plan.set("unplanned_bytes", s.unplannedBytes);
  plan.set("flops_per_step", s.flopsPerStep);
  plan.set("buffers", std::move(buffers));
  plan.set("functions", std::move(functions));
  if (!s.deviceCode.empty()) plan.set("device_code", s.deviceCode);
  return writeJson(plan);
}

Expected<PlanSpec> parsePlan(std::string_view text) {
  Expected<Json> json = parseJson(text);
  if (!json) return Error("plan: " + json.error().message());
  if (!json->isObject()) return Error("plan: expected a JSON object");
  Error error;
  Reader top(*json, "", &error);
  PlanSpec s;
  s.model = top.str("model");
  s.target = top.str("target");
  s.maxBatch = top.integer("max_batch", 1);
  s.stateBytes = top.integer("state_bytes", 0);
  s.workBytes = top.integer("work_bytes", 0);
  s.unplannedBytes = top.integer("unplanned_bytes", 0);
  s.flopsPerStep = top.real("flops_per_step");
  if (const Json* code = json->find("device_code")) {
    if (!code->isString()) return Error("plan: device_code must be a string");
    s.deviceCode = code->asString();
  }
  const Json* buffers = top.member("buffers", Json::Kind::Array);
  const Json* functions = top.member("functions", Json::Kind::Array);
  if (!error.diags.empty()) return error;
  for (size_t i = 0; i < buffers->asArray().size() && error.diags.empty(); ++i) {
    const Json& j = buffers->asArray()[i];
    Reader r(j, fmt::format("buffers[{}]", i), &error);
    if (!j.isObject()) { r.fail(r.path() + ": expected an object"); break; }
    PlanSpec::Buffer b;
    b.name = r.str("name");
    b.role = static_cast<BufferRole>(r.oneOf("role", kRoleNames));
    b.type = static_cast<BufferType>(r.oneOf("type", kTypeNames));
    b.dims = r.integers("dims");
    b.persistent = r.boolean("persistent");
    b.offset = r.integer("offset", 0);
    b.bytesAtMaxBatch = r.integer("bytes", 0);
    if (const Json* layout = j.find("layout")) {
      if (!layout->isString() || (layout->asString() != "nChw16c"))
        r.fail(fmt::format("{}: layout must be \"nChw16c\" when present", r.path()));
      else if (b.dims.size() != 4 || b.dims[1] < 1 || b.dims[1] % 16 != 0)
        r.fail(fmt::format("{}: layout nChw16c needs dims [N, C, H, W] with C a multiple of 16", r.path()));
      else
        b.layout = layout->asString();
    }
    if (const Json* space = j.find("space")) {
      if (!space->isString() || (space->asString() != "host" && space->asString() != "device"))
        r.fail(fmt::format("{}: space must be \"host\" or \"device\" when present", r.path()));
      else
        b.device = space->asString() == "device";
    }
    b.init = r.str("init");
    b.initA = r.real("init_a");
    b.initB = r.real("init_b");
    b.initStream = static_cast<int32_t>(r.integer("init_stream", -1));
    if (b.dims.size() > static_cast<size_t>(kMaxRank)) r.fail(fmt::format("{}: rank {} is more than {}", r.path(), b.dims.size(), kMaxRank));
    for (int64_t d : b.dims)
      if (d < 1 && d != kPlanBatch) r.fail(fmt::format("{}: dimension {} is not positive", r.path(), d));
    const int64_t arena = b.persistent ? s.stateBytes : s.workBytes;
    if (b.offset > arena || b.bytesAtMaxBatch > arena - b.offset)
      r.fail(fmt::format("{}: bytes [{}, {}) are outside its arena of {} bytes", r.path(), b.offset,
                         b.offset + b.bytesAtMaxBatch, arena));
    s.buffers.push_back(std::move(b));
  }
  const size_t n = s.buffers.size();
  for (size_t i = 0; i < functions->asArray().size() && error.diags.empty(); ++i) {
    const Json& j = functions->asArray()[i];
    Reader r(j, fmt::format("functions[{}]", i), &error);
    if (!j.isObject()) { r.fail(r.path() + ": expected an object"); break; }
    PlanSpec::Function f;
    f.name = r.str("name");
    f.inputs = r.indices("inputs", n);
    f.results = r.indices("results", n);
    const Json* names = r.member("result_names", Json::Kind::Array);
    if (names) {
      for (const Json& name : names->asArray()) f.resultNames.push_back(name.isString() ? name.asString() : "");
      if (f.resultNames.size() != f.results.size()) r.fail(r.path() + ": result_names and results differ in length");
    }
    const Json* calls = r.member("calls", Json::Kind::Array);
    for (size_t c = 0; calls && c < calls->asArray().size() && error.diags.empty(); ++c) {
      const Json& jc = calls->asArray()[c];
      Reader rc(jc, fmt::format("{}.calls[{}]", r.path(), c), &error);
      if (!jc.isObject()) { rc.fail(rc.path() + ": expected an object"); break; }
      PlanSpec::Call call;
      call.name = rc.str("kernel");
      call.args = rc.indices("args", n);
      call.extentPerBatch = rc.integer("extent_per_batch", 0);
      call.extentConst = rc.integer("extent_const", 0);
      call.grain = rc.integer("grain", 1);
      if (const Json* library = jc.find("library")) {
        if (library->isObject()) call.library = writeJson(*library);
        else rc.fail(rc.path() + ".library: expected an object");
      }
      f.calls.push_back(std::move(call));
    }
    s.functions.push_back(std::move(f));
  }
  if (!error.diags.empty()) return error;
  return s;
}

Status bindKernels(PlanSpec& spec, const KernelResolver& resolve) {
  if (!spec.deviceCode.empty()) return ok();  // its executor loads the calls from the device code
  for (PlanSpec::Function& f : spec.functions)
    for (PlanSpec::Call& c : f.calls) {
      if (!c.library.empty()) continue;
      Expected<void*> fn = resolve(c.name);
      if (!fn) return fn.error();
      c.fn = reinterpret_cast<KernelFn>(*fn);
    }
  return ok();
}

}  // namespace sinter
