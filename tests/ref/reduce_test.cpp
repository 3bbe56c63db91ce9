// Reference kernels of the reductions and numel.
#include <cmath>

#include "tests/ref/ref_test_util.h"

using namespace sinter;
using namespace sinter::ref;
using namespace sinter::ref::testing;

namespace {
Attrs axes(std::vector<int64_t> a, bool keep) { return {{"axes", std::move(a)}, {"keepdims", keep}}; }
// x[i, j, k] = 100 i + 10 j + k over [2, 3, 2]
const Tensor kX = tensor({2, 3, 2}, {0, 1, 10, 11, 20, 21, 100, 101, 110, 111, 120, 121});
}  // namespace

TEST_CASE("sum over one axis, with and without keepdims") {
  checkTensor(mustRun(OpKind::Sum, {kX}, axes({1}, false)), {2, 2}, {30, 33, 330, 333});
  checkTensor(mustRun(OpKind::Sum, {kX}, axes({1}, true)), {2, 1, 2}, {30, 33, 330, 333});
  checkTensor(mustRun(OpKind::Sum, {kX}, axes({0, 2}, false)), {3}, {202, 242, 282});
  checkTensor(mustRun(OpKind::Sum, {kX}, axes({0, 1, 2}, false)), {}, {726});
  checkTensor(mustRun(OpKind::Sum, {kX}, axes({0, 1, 2}, true)), {1, 1, 1}, {726});
}

TEST_CASE("mean and max") {
  checkTensor(mustRun(OpKind::Mean, {kX}, axes({0}, false)), {3, 2}, {50, 51, 60, 61, 70, 71});
  checkTensor(mustRun(OpKind::Mean, {kX}, axes({0, 1, 2}, false)), {}, {60.5});
  checkTensor(mustRun(OpKind::Max, {kX}, axes({1}, true)), {2, 1, 2}, {20, 21, 120, 121});
  checkTensor(mustRun(OpKind::Max, {tensor({3}, {-5, -2, -9})}, axes({0}, false)), {}, {-2});
  CHECK(std::isnan(mustRun(OpKind::Max, {tensor({3}, {1, std::nan(""), 2})}, axes({0}, false)).data[0]));
}

TEST_CASE("sums accumulate in double and round once in F32 mode") {
  // 2^24 + 1 + 1: float accumulation would lose both ones.
  const Tensor x = tensor({3}, {16777216, 1, 1});
  CHECK(mustRun(OpKind::Sum, {x}, axes({0}, false), Precision::F32).data[0] == 16777218);
}

TEST_CASE("numel counts the concrete extents over its axes") {
  checkTensor(mustRun(OpKind::Numel, {kX}, {{"axes", std::vector<int64_t>{0, 2}}}), {}, {4});
  checkTensor(mustRun(OpKind::Numel, {kX}, {{"axes", std::vector<int64_t>{}}}), {}, {1});
}
