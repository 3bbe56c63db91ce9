// The plan's text form: what `sinter build` embeds reads back to the same plan, and a damaged plan
// is refused with the path of what is wrong instead of being run.
#include <doctest/doctest.h>

#include "runtime/executor.h"
#include "runtime/plan_spec.h"

using namespace sinter;

namespace {

void kernelA(void* const*, int64_t, int64_t, int64_t) {}
void kernelB(void* const*, int64_t, int64_t, int64_t) {}

// Two buffers (a parameter in the state arena, a batch-sized temporary in the work arena) and one
// function of two calls.
PlanSpec samplePlan() {
  PlanSpec s;
  s.model = "tiny";
  s.target = "cpu";
  s.maxBatch = 8;
  s.stateBytes = 64;
  s.workBytes = 256;
  s.unplannedBytes = 512;
  s.flopsPerStep = 1234.5;
  s.buffers.push_back({"fc.weight", BufferRole::Param, BufferType::F32, {4, 4}, true, 0, 64, "uniform", -0.1, 0.1000000000000001, 0});
  s.buffers.push_back({"t0", BufferRole::Temp, BufferType::I32, {kPlanBatch, 4}, false, 64, 128, "", 0, 0, -1});
  s.functions.push_back({"eval", {{"k_a", nullptr, {1, 0}, 4, 0, 16}, {"k_b", nullptr, {1}, 1, 2, 1}}, {1}, {1}, {"out"}});
  return s;
}

std::string errorOf(std::string text) {
  Expected<PlanSpec> p = parsePlan(text);
  return p ? std::string("(parsed)") : p.error().message();
}

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

}  // namespace

TEST_CASE("plan text: format, parse, bind and build the table") {
  const std::string text = formatPlan(samplePlan());
  Expected<PlanSpec> parsed = parsePlan(text);
  REQUIRE_MESSAGE(parsed, (parsed ? "" : parsed.error().message()));
  CHECK(formatPlan(*parsed) == text);
  CHECK(parsed->buffers[0].initB == 0.1000000000000001);  // doubles read back exactly
  Status bound = bindKernels(*parsed, [](const std::string& s) -> Expected<void*> {
    if (s == "k_a") return reinterpret_cast<void*>(&kernelA);
    if (s == "k_b") return reinterpret_cast<void*>(&kernelB);
    return Error("no kernel '" + s + "'");
  });
  REQUIRE(bound);
  const OwnedPlan plan(parsed.take());
  const PlanTable& t = plan.table();
  CHECK(std::string(t.model) == "tiny");
  CHECK(t.numBuffers == 2);
  CHECK(t.buffers[1].dims[0] == kPlanBatch);
  CHECK(t.buffers[1].type == BufferType::I32);
  REQUIRE(t.numFunctions == 1);
  CHECK(t.functions[0].numCalls == 2);
  CHECK((t.functions[0].calls[0].fn == &kernelA));
  CHECK(t.functions[0].calls[0].args[1] == 0);
  CHECK(t.functions[0].calls[1].extentConst == 2);
  CHECK(std::string(t.functions[0].resultNames[0]) == "out");
  CHECK(t.flopsPerStep == 1234.5);
}

TEST_CASE("plan text: an unknown kernel symbol is named") {
  PlanSpec s = samplePlan();
  Status bound = bindKernels(s, [](const std::string& sym) -> Expected<void*> { return Error("kernel '" + sym + "' is missing"); });
  REQUIRE_FALSE(bound);
  CHECK(bound.error().message() == "kernel 'k_a' is missing");
}

TEST_CASE("plan text: damage is refused with the path to it") {
  const std::string text = formatPlan(samplePlan());
  CHECK(errorOf(text.substr(0, text.size() / 2)).starts_with("plan: at byte"));
  CHECK(errorOf("[]") == "plan: expected a JSON object");
  CHECK(errorOf(replaced(text, "\"args\":[1,0]", "\"args\":[1,7]")) ==
        "plan: functions[0].calls[0].args: buffer index 7 is outside [0, 2)");
  CHECK(errorOf(replaced(text, "\"role\":\"temp\"", "\"role\":\"scratch\"")) ==
        "plan: buffers[1].role: 'scratch' is not one of input, output, param, state, temp, constant");
  CHECK(errorOf(replaced(text, "\"offset\":64", "\"offset\":200")) ==
        "plan: buffers[1]: bytes [200, 328) are outside its arena of 256 bytes");
  CHECK(errorOf(replaced(text, "\"dims\":[4,4]", "\"dims\":[4,0]")) == "plan: buffers[0]: dimension 0 is not positive");
  CHECK(errorOf(replaced(text, "\"dims\":[4,4]", "\"dims\":[1,1,1,1,1,1,1]")) == "plan: buffers[0]: rank 7 is more than 6");
  CHECK(errorOf(replaced(text, "\"max_batch\":8", "\"max_batch\":\"8\"")) == "plan: max_batch: expected a number");
  CHECK(errorOf(replaced(text, "\"result_names\":[\"out\"]", "\"result_names\":[]")) ==
        "plan: functions[0]: result_names and results differ in length");
  // A blocked layout needs 4-D [N, C, H, W] with C a multiple of 16 (its bytes are the row-major
  // count only then).
  CHECK(errorOf(replaced(text, "\"bytes\":128,", "\"bytes\":128,\"layout\":\"nChw16c\",")) ==
        "plan: buffers[1]: layout nChw16c needs dims [N, C, H, W] with C a multiple of 16");
  CHECK(errorOf(replaced(text, "\"bytes\":128,", "\"bytes\":128,\"layout\":\"nhwc\",")) ==
        "plan: buffers[1]: layout must be \"nChw16c\" when present");
}

TEST_CASE("plan text: library calls and blocked layouts read back") {
  PlanSpec s = samplePlan();
  s.buffers[1].dims = {kPlanBatch, 16, 2, 1};
  s.buffers[1].layout = "nChw16c";
  s.functions[0].calls[1].library = R"({"library":"dnnl","op":"maxpool2d","attrs":{"kernel":[2,1]},"operands":[[-1,16,2,1]],"result":[-1,16,1,1],"layouts":["","nChw16c"]})";
  const std::string text = formatPlan(s);
  Expected<PlanSpec> parsed = parsePlan(text);
  REQUIRE_MESSAGE(parsed, (parsed ? "" : parsed.error().message()));
  CHECK(formatPlan(*parsed) == text);
  CHECK(parsed->buffers[1].layout == "nChw16c");
  CHECK(parsed->functions[0].calls[1].library == s.functions[0].calls[1].library);
  // Library calls have no symbol to bind.
  Status bound = bindKernels(*parsed, [](const std::string& sym) -> Expected<void*> {
    if (sym == "k_a") return reinterpret_cast<void*>(&kernelA);
    return Error("asked for '" + sym + "'");
  });
  CHECK(bound);
  CHECK(errorOf(replaced(text, "\"library\":{", "\"library\":7,\"x\":{")) == "plan: functions[0].calls[1].library: expected an object");
}

TEST_CASE("plan text: a buffer's memory space reads back, and host executors refuse device buffers") {
  PlanSpec s = samplePlan();
  s.buffers[1].device = true;
  const std::string text = formatPlan(s);
  CHECK(text.find("\"space\":\"device\"") != std::string::npos);
  Expected<PlanSpec> parsed = parsePlan(text);
  REQUIRE_MESSAGE(parsed, (parsed ? "" : parsed.error().message()));
  CHECK(formatPlan(*parsed) == text);
  CHECK(parsed->buffers[1].device);
  CHECK_FALSE(parsed->buffers[0].device);
  CHECK(errorOf(replaced(text, "\"space\":\"device\"", "\"space\":\"gpu\"")) == "plan: buffers[1]: space must be \"host\" or \"device\" when present");
  // The cpu executor reaches host memory only: it names the buffer it cannot reach.
  OwnedPlan plan(*parsed);
  Expected<std::unique_ptr<Executor>> e = makeExecutor(plan.table(), 1, 0);
  REQUIRE_FALSE(e);
  CHECK(e.error().message() == "plan buffer 't0' is in device memory, which the cpu executor cannot reach");
}
