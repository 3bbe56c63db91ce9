// Reference kernels of the pointwise ops: hand-computed values, broadcasting, casts, F32 rounding.
#include <cmath>

#include "tests/ref/ref_test_util.h"

using namespace sinter;
using namespace sinter::ref;
using namespace sinter::ref::testing;

TEST_CASE("binary ops broadcast like numpy") {
  const Tensor a = tensor({2, 3}, {1, 2, 3, 4, 5, 6});
  checkTensor(mustRun(OpKind::Add, {a, tensor({3}, {10, 20, 30})}), {2, 3}, {11, 22, 33, 14, 25, 36});
  checkTensor(mustRun(OpKind::Sub, {a, tensor({2, 1}, {1, 2})}), {2, 3}, {0, 1, 2, 2, 3, 4});
  checkTensor(mustRun(OpKind::Mul, {tensor({}, {2}), a}), {2, 3}, {2, 4, 6, 8, 10, 12});
  // Both operands stretch: [2,1] against [1,3].
  checkTensor(mustRun(OpKind::Div, {tensor({2, 1}, {1, 2}), tensor({1, 3}, {1, 2, 4})}), {2, 3}, {1, 0.5, 0.25, 2, 1, 0.5});
  checkTensor(mustRun(OpKind::Equal, {a, tensor({3}, {1, 5, 6})}), {2, 3}, {1, 0, 0, 0, 1, 1});
}

TEST_CASE("unary ops") {
  const Tensor x = tensor({5}, {-2, -0.5, 0, 0.5, 2});
  checkValues(mustRun(OpKind::Neg, {x}), {2, 0.5, 0, -0.5, -2});
  checkValues(mustRun(OpKind::Abs, {x}), {2, 0.5, 0, 0.5, 2});
  checkValues(mustRun(OpKind::Relu, {x}), {0, 0, 0, 0.5, 2});
  checkValues(mustRun(OpKind::LeakyRelu, {x}, {{"slope", 0.1}}), {-0.2, -0.05, 0, 0.5, 2});
  checkValues(mustRun(OpKind::Sign, {x}), {-1, -1, 0, 1, 1});
  checkValues(mustRun(OpKind::Step, {x}), {0, 0, 0, 1, 1});
  checkValues(mustRun(OpKind::Exp, {x}), {std::exp(-2.0), std::exp(-0.5), 1, std::exp(0.5), std::exp(2.0)});
  checkValues(mustRun(OpKind::Tanh, {x}), {std::tanh(-2.0), std::tanh(-0.5), 0, std::tanh(0.5), std::tanh(2.0)});
  checkValues(mustRun(OpKind::Sigmoid, {x}), {1 / (1 + std::exp(2.0)), 1 / (1 + std::exp(0.5)), 0.5,
                                              1 / (1 + std::exp(-0.5)), 1 / (1 + std::exp(-2.0))});
  const Tensor pos = tensor({3}, {0.25, 1, 4});
  checkValues(mustRun(OpKind::Log, {pos}), {std::log(0.25), 0, std::log(4.0)});
  checkValues(mustRun(OpKind::Sqrt, {pos}), {0.5, 1, 2});
  checkValues(mustRun(OpKind::Rsqrt, {pos}), {2, 1, 0.5});
  checkValues(mustRun(OpKind::Pow, {pos}, {{"exponent", 3.0}}), {0.015625, 1, 64});
  checkValues(mustRun(OpKind::Pow, {pos}, {{"exponent", 0.5}}), {0.5, 1, 2});
}

TEST_CASE("relu and sign keep NaN; sigmoid saturates without overflow") {
  const double nan = std::nan("");
  CHECK(std::isnan(mustRun(OpKind::Relu, {tensor({1}, {nan})}).data[0]));
  CHECK(std::isnan(mustRun(OpKind::Sign, {tensor({1}, {nan})}).data[0]));
  CHECK(!std::signbit(mustRun(OpKind::Relu, {tensor({1}, {-3})}).data[0]));  // +0, not -0
  checkValues(mustRun(OpKind::Sigmoid, {tensor({2}, {-1000, 1000})}), {0, 1});
}

TEST_CASE("cast truncates toward zero and refuses values with no i32") {
  const Tensor y = mustRun(OpKind::Cast, {tensor({4}, {-1.7, -0.5, 2.9, 3})}, {{"dtype", std::string("i32")}});
  CHECK(y.dtype == DType::I32);
  checkValues(y, {-1, 0, 2, 3});
  const Tensor back = mustRun(OpKind::Cast, {tensor({2}, {-7, 5}, DType::I32)}, {{"dtype", std::string("f32")}});
  CHECK(back.dtype == DType::F32);
  checkValues(back, {-7, 5});

  Expected<Tensor> big = runOp(OpKind::Cast, {tensor({2}, {1, 3e9})}, {{"dtype", std::string("i32")}});
  REQUIRE(!big);
  CHECK(big.error().message() == "'cast': cannot cast 3000000000.0 at index 1 to i32");
  CHECK(!runOp(OpKind::Cast, {tensor({1}, {std::nan("")})}, {{"dtype", std::string("i32")}}));
}

TEST_CASE("F32 mode rounds every f32 result to float; F64 mode does not") {
  const Tensor a = tensor({1}, {0.1}), b = tensor({1}, {0.2});
  CHECK(mustRun(OpKind::Add, {a, b}).data[0] == 0.1 + 0.2);
  const double f32 = mustRun(OpKind::Add, {a, b}, {}, Precision::F32).data[0];
  CHECK(f32 == static_cast<double>(0.1f + 0.2f));
  CHECK(f32 != 0.1 + 0.2);
  // Beyond float's range the result rounds to infinity, as IEEE float arithmetic would.
  CHECK(std::isinf(mustRun(OpKind::Mul, {tensor({1}, {1e30}), tensor({1}, {1e30})}, {}, Precision::F32).data[0]));
  CHECK(mustRun(OpKind::Mul, {tensor({1}, {1e30}), tensor({1}, {1e30})}).data[0] == 1e30 * 1e30);
}
