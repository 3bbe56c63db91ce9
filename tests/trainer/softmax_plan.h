// A PlanTable written by hand: softmax regression on 28x28 images (flatten -> dense 10 -> cross
// entropy), SGD with momentum 0.9, the step counter and a batchnorm-style running mean of the logits.
// It stands in for a compiled model so the trainer can be tested without a backend.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "runtime/plan.h"

namespace sinter::test {

namespace softmax {

constexpr int64_t kPixels = 784, kClasses = 10;
constexpr float kMomentum = 0.9f;

// Buffer indices, in plan order.
enum : int32_t {
  kImage, kLabel, kWeight, kBias, kWeightMomentum, kBiasMomentum, kRunningMean, kRunningVar, kStep, kLr, kSeed,
  kLogits, kProbs, kNll, kLoss, kDLogits, kNumBuffers
};

inline float* f(void* const* bufs, int i) { return static_cast<float*>(bufs[i]); }

// logits[i] = W x_i + b over rows [begin, end). args: image, weight, bias, logits
inline void dense(void* const* bufs, int64_t, int64_t begin, int64_t end) {
  const float *x = f(bufs, 0), *w = f(bufs, 1), *b = f(bufs, 2);
  float* out = f(bufs, 3);
  for (int64_t i = begin; i < end; ++i)
    for (int64_t k = 0; k < kClasses; ++k) {
      float acc = b[k];
      for (int64_t j = 0; j < kPixels; ++j) acc += w[k * kPixels + j] * x[i * kPixels + j];
      out[i * kClasses + k] = acc;
    }
}

// Per row: probs, the row's negative log likelihood, and d(mean nll)/d logits.
// args: logits, label, probs, nll, dlogits
inline void softmaxXent(void* const* bufs, int64_t batch, int64_t begin, int64_t end) {
  const float* z = f(bufs, 0);
  const auto* label = static_cast<const int32_t*>(bufs[1]);
  float *p = f(bufs, 2), *nll = f(bufs, 3), *dz = f(bufs, 4);
  for (int64_t i = begin; i < end; ++i) {
    const float* row = z + i * kClasses;
    const float m = *std::max_element(row, row + kClasses);
    float sum = 0;
    for (int64_t k = 0; k < kClasses; ++k) sum += std::exp(row[k] - m);
    for (int64_t k = 0; k < kClasses; ++k) {
      p[i * kClasses + k] = std::exp(row[k] - m) / sum;
      dz[i * kClasses + k] = (p[i * kClasses + k] - (k == label[i] ? 1.0f : 0.0f)) / static_cast<float>(batch);
    }
    nll[i] = std::log(sum) - (row[label[i]] - m);
  }
}

// loss = mean nll (extent 1). args: nll, loss
inline void meanLoss(void* const* bufs, int64_t batch, int64_t begin, int64_t end) {
  if (begin >= end) return;
  double sum = 0;
  for (int64_t i = 0; i < batch; ++i) sum += f(bufs, 0)[i];
  *f(bufs, 1) = static_cast<float>(sum / static_cast<double>(batch));
}

// Element e of W: its gradient, the momentum buffer and the update. args: image, dlogits, weight, momentum, lr
inline void sgdWeight(void* const* bufs, int64_t batch, int64_t begin, int64_t end) {
  const float *x = f(bufs, 0), *dz = f(bufs, 1), lr = *f(bufs, 4);
  float *w = f(bufs, 2), *m = f(bufs, 3);
  for (int64_t e = begin; e < end; ++e) {
    const int64_t k = e / kPixels, j = e % kPixels;
    float g = 0;
    for (int64_t i = 0; i < batch; ++i) g += dz[i * kClasses + k] * x[i * kPixels + j];
    m[e] = kMomentum * m[e] + g;
    w[e] -= lr * m[e];
  }
}

// args: dlogits, bias, momentum, lr
inline void sgdBias(void* const* bufs, int64_t batch, int64_t begin, int64_t end) {
  const float *dz = f(bufs, 0), lr = *f(bufs, 3);
  float *b = f(bufs, 1), *m = f(bufs, 2);
  for (int64_t k = begin; k < end; ++k) {
    float g = 0;
    for (int64_t i = 0; i < batch; ++i) g += dz[i * kClasses + k];
    m[k] = kMomentum * m[k] + g;
    b[k] -= lr * m[k];
  }
}

// running_mean = 0.9 running_mean + 0.1 mean over the batch of the logits. args: logits, running_mean
inline void runningMean(void* const* bufs, int64_t batch, int64_t begin, int64_t end) {
  const float* z = f(bufs, 0);
  float* rm = f(bufs, 1);
  for (int64_t k = begin; k < end; ++k) {
    float s = 0;
    for (int64_t i = 0; i < batch; ++i) s += z[i * kClasses + k];
    rm[k] = 0.9f * rm[k] + 0.1f * s / static_cast<float>(batch);
  }
}

inline void stepCounter(void* const* bufs, int64_t, int64_t begin, int64_t end) {
  if (begin < end) *f(bufs, 0) += 1;
}

}  // namespace softmax

// The plan and the storage its pointers point into.
struct SoftmaxPlan {
  std::vector<PlanBuffer> buffers;
  std::vector<std::vector<int32_t>> argLists;
  std::vector<PlanCall> trainCalls, evalCalls;
  std::vector<int32_t> inputs, trainResults, evalResults;
  std::vector<const char*> trainResultNames, evalResultNames;
  std::vector<PlanFunction> functions;
  PlanTable table{};

  explicit SoftmaxPlan(int64_t maxBatch = 100, double lr = 0.01) {
    using namespace softmax;
    const auto buffer = [&](const char* name, BufferRole role, BufferType type, std::vector<int64_t> dims,
                            const char* init = "zeros", double a = 0, double b = 0) {
      PlanBuffer buf{};
      buf.name = name;
      buf.role = role;
      buf.type = type;
      buf.rank = static_cast<int32_t>(dims.size());
      std::copy(dims.begin(), dims.end(), buf.dims);
      buf.persistent = role == BufferRole::Param || role == BufferRole::State;
      buf.init = init;
      buf.initA = a;
      buf.initB = b;
      buf.initStream = static_cast<int32_t>(buffers.size());
      buffers.push_back(buf);
    };
    const int64_t B = kPlanBatch;
    buffer("image", BufferRole::Input, BufferType::F32, {B, 1, 28, 28});
    buffer("label", BufferRole::Input, BufferType::I32, {B});
    buffer("fc.weight", BufferRole::Param, BufferType::F32, {kClasses, kPixels}, "normal", 0, 0.01);
    buffer("fc.bias", BufferRole::Param, BufferType::F32, {kClasses});
    buffer("fc.weight.momentum_buffer", BufferRole::State, BufferType::F32, {kClasses, kPixels});
    buffer("fc.bias.momentum_buffer", BufferRole::State, BufferType::F32, {kClasses});
    buffer("bn.running_mean", BufferRole::State, BufferType::F32, {kClasses});
    buffer("bn.running_var", BufferRole::State, BufferType::F32, {kClasses}, "ones");
    buffer("train.step", BufferRole::State, BufferType::F32, {});
    buffer("train.lr", BufferRole::State, BufferType::F32, {}, "constant", lr);
    buffer("train.seed", BufferRole::State, BufferType::I32, {});
    buffer("logits", BufferRole::Temp, BufferType::F32, {B, kClasses});
    buffer("probs", BufferRole::Output, BufferType::F32, {B, kClasses});
    buffer("nll", BufferRole::Temp, BufferType::F32, {B});
    buffer("loss", BufferRole::Output, BufferType::F32, {});
    buffer("dlogits", BufferRole::Temp, BufferType::F32, {B, kClasses});

    // Offsets: each buffer on its own 64-byte-aligned bytes in its arena (no sharing).
    int64_t state = 0, work = 0;
    for (PlanBuffer& b : buffers) {
      int64_t n = 4;
      for (int i = 0; i < b.rank; ++i) n *= b.dims[i] == kPlanBatch ? maxBatch : b.dims[i];
      b.bytesAtMaxBatch = n;
      int64_t& arena = b.persistent ? state : work;
      b.offset = arena;
      arena += (n + 63) / 64 * 64;
    }

    argLists.reserve(16);
    const auto call = [&](std::vector<PlanCall>& calls, const char* name, KernelFn fn, std::vector<int32_t> args,
                          int64_t perBatch, int64_t extentConst) {
      argLists.push_back(std::move(args));
      calls.push_back({name, fn, argLists.back().data(), static_cast<int32_t>(argLists.back().size()), perBatch,
                       extentConst, 1});
    };
    for (auto* calls : {&trainCalls, &evalCalls}) {
      call(*calls, "dense", dense, {kImage, kWeight, kBias, kLogits}, 1, 0);
      call(*calls, "softmax_xent", softmaxXent, {kLogits, kLabel, kProbs, kNll, kDLogits}, 1, 0);
      call(*calls, "mean_loss", meanLoss, {kNll, kLoss}, 0, 1);
    }
    call(trainCalls, "running_mean", runningMean, {kLogits, kRunningMean}, 0, kClasses);
    call(trainCalls, "sgd_weight", sgdWeight, {kImage, kDLogits, kWeight, kWeightMomentum, kLr}, 0, kClasses * kPixels);
    call(trainCalls, "sgd_bias", sgdBias, {kDLogits, kBias, kBiasMomentum, kLr}, 0, kClasses);
    call(trainCalls, "step", stepCounter, {kStep}, 0, 1);

    inputs = {kImage, kLabel};
    trainResults = {kProbs, kLoss};
    evalResults = {kProbs, kLoss};
    trainResultNames = {"probs", "loss"};
    evalResultNames = {"probs", "loss"};
    functions.push_back({"train_step", trainCalls.data(), static_cast<int32_t>(trainCalls.size()), inputs.data(), 2,
                         trainResults.data(), trainResultNames.data(), 2});
    functions.push_back({"eval", evalCalls.data(), static_cast<int32_t>(evalCalls.size()), inputs.data(), 2,
                         evalResults.data(), evalResultNames.data(), 2});

    table.model = "softmax";
    table.target = "cpu";
    table.maxBatch = maxBatch;
    table.stateBytes = state;
    table.workBytes = work;
    table.unplannedBytes = work;
    table.buffers = buffers.data();
    table.numBuffers = static_cast<int32_t>(buffers.size());
    table.functions = functions.data();
    table.numFunctions = static_cast<int32_t>(functions.size());
    table.flopsPerStep = 6.0 * static_cast<double>(maxBatch * kPixels * kClasses);
  }
  SoftmaxPlan(const SoftmaxPlan&) = delete;
  SoftmaxPlan& operator=(const SoftmaxPlan&) = delete;
};

}  // namespace sinter::test
