// The pooling kernels: maxpool2d, avgpool2d and their gradients, over a slice of the N*C planes;
// and maxpool2d_grad in the NChw16c layout (the dnnl target's activations), over a slice of its
// N*C/16 planes.
//
// Algorithm: non-overlapping windows (stride == kernel, no padding: LeNet's pools) take a vector
// path: `lanes` windows of one output row at a time, each window row loaded as kw contiguous
// vectors and split by shuffles into one vector per tap. A gradient computes every tap's value of
// dx (dy where the tap is the window's first maximum, else 0; dy / taps for avg) and interleaves
// them back, so each dx element is written exactly once with whole-vector stores, and elements no
// window covers are zeroed. Other pools take the scalar path: each output element walks its
// window's taps in row-major order, unrolled at generation time; with zero padding every tap is in
// bounds and the checks fold away. Max keeps the first maximum (a later tap replaces it only when
// strictly greater), the tie rule of tests/reference/README.md; its gradient recomputes that
// argmax. The scalar gradients zero their plane and scatter into it, so a plane is written by one
// slice.
#include <algorithm>
#include <limits>

#include <llvm/Analysis/VectorUtils.h>

#include "codegen/cpu/heavy_emit.h"

namespace sinter::cpu::heavy {

using llvm::Value;

namespace {

struct PoolShape {
  OpKind op;
  int64_t H, W, OH, OW, KH, KW;
};

constexpr int64_t kBlock = 16;  // channels per block of the NChw16c layout (kir::kChannelBlock)

// The vector path for stride == kernel and no padding. xp: the plane of x, or of dx for the
// gradients (written); xin: x's plane (max pools); dyp: dy's plane (gradients); yp: y's plane.
void emitWindowPool(Emitter& e, const PoolShape& ps, Value* xp, Value* xin, Value* dyp, Value* yp) {
  auto& b = e.b;
  const int L = e.lanes;
  const int64_t taps = ps.KH * ps.KW, W = ps.W;
  const bool isMax = ps.op == OpKind::MaxPool2d || ps.op == OpKind::MaxPool2dGrad;
  const bool grad = ps.op == OpKind::MaxPool2dGrad || ps.op == OpKind::AvgPool2dGrad;
  Value* inv = llvm::ConstantFP::get(e.vf, 1.0 / static_cast<double>(taps));
  llvm::Type* i32v = llvm::FixedVectorType::get(b.getInt32Ty(), L);
  // Window row kh's KW*L floats from `row` as KW vectors; the first m*KW lanes are real. `spill`
  // drops the masks (masked stores are slow on AVX2).
  auto span = [&](int64_t m, bool spill, const std::function<void(int64_t v, Value* mask)>& vec) {
    for (int64_t v = 0; v < ps.KW; ++v) {
      const int64_t real = m * ps.KW - v * L;
      if (real > 0) vec(v, real < L && !spill ? e.laneMask(e.c(real)) : nullptr);
    }
  };
  // `m` windows starting at output column ow0 of output row oh (m < L only when OW < L), with oh
  // at most ohMax. The plane is written in increasing address order, so a store of a partial row
  // may spill past it (whole vectors, no masks) when later stores overwrite the spill: when it
  // stays inside the plane.
  auto block = [&](Value* oh, Value* ow0, int64_t m, int64_t ohMax) {
    const int64_t nvec = (m * ps.KW + L - 1) / L;
    auto spillRow = [&](int64_t kh) { return (ohMax * ps.KH + kh) * W + nvec * L <= ps.H * W; };
    Value* outMask = m < L ? e.laneMask(e.c(m)) : nullptr;
    std::vector<Value*> tap(taps);
    if (xin)
      for (int64_t kh = 0; kh < ps.KH; ++kh) {
        Value* row = e.at(xin, e.add(e.mul(e.add(e.mul(oh, e.c(ps.KH)), e.c(kh)), e.c(W)), e.mul(ow0, e.c(ps.KW))));
        std::vector<Value*> parts(ps.KW, e.zeroVec());
        span(m, false, [&](int64_t v, Value* mask) { parts[v] = e.loadVec(e.at(row, e.c(v * L)), mask); });
        Value* wide = llvm::concatenateVectors(b, parts);
        for (int64_t kw = 0; kw < ps.KW; ++kw) {
          std::vector<int> lanesOf(L);
          for (int l = 0; l < L; ++l) lanesOf[l] = static_cast<int>(l * ps.KW + kw);
          tap[kh * ps.KW + kw] = ps.KW == 1 ? wide : b.CreateShuffleVector(wide, lanesOf);
        }
      }
    Value* yv = nullptr;   // the pooled value
    Value* arg = nullptr;  // max: the first maximum's tap, as i32 lanes
    if (isMax) {
      yv = tap[0], arg = llvm::Constant::getNullValue(i32v);
      for (int64_t t = 1; t < taps; ++t) {
        Value* take = b.CreateFCmpOGT(tap[t], yv);
        yv = b.CreateSelect(take, tap[t], yv);
        arg = b.CreateSelect(take, llvm::ConstantInt::get(i32v, t), arg);
      }
    } else if (!grad) {
      yv = tap[0];
      for (int64_t t = 1; t < taps; ++t) yv = b.CreateFAdd(yv, tap[t]);
      yv = b.CreateFMul(yv, inv);
    }
    Value* yi = e.add(e.mul(oh, e.c(ps.OW)), ow0);
    if (!grad) {
      e.storeVec(yv, e.at(yp, yi), ohMax * ps.OW + L <= ps.OH * ps.OW ? nullptr : outMask);
      return;
    }
    Value* g = e.loadVec(e.at(dyp, yi), outMask);
    if (!isMax) g = b.CreateFMul(g, inv);
    for (int64_t kh = 0; kh < ps.KH; ++kh) {
      std::vector<Value*> parts(ps.KW);
      for (int64_t kw = 0; kw < ps.KW; ++kw) {
        const int64_t t = kh * ps.KW + kw;
        parts[kw] = isMax ? b.CreateSelect(b.CreateICmpEQ(arg, llvm::ConstantInt::get(i32v, t)), g, e.zeroVec()) : g;
      }
      Value* wide = llvm::concatenateVectors(b, parts);
      std::vector<int> interleave(L * ps.KW);
      for (int64_t i = 0; i < L * ps.KW; ++i) interleave[i] = static_cast<int>(i % ps.KW * L + i / ps.KW);
      if (ps.KW > 1) wide = b.CreateShuffleVector(wide, interleave);
      Value* row = e.at(xp, e.add(e.mul(e.add(e.mul(oh, e.c(ps.KH)), e.c(kh)), e.c(W)), e.mul(ow0, e.c(ps.KW))));
      span(m, spillRow(kh), [&](int64_t v, Value* mask) {
        std::vector<int> part(L);
        for (int l = 0; l < L; ++l) part[l] = static_cast<int>(v * L + l);
        e.storeVec(ps.KW == 1 ? wide : b.CreateShuffleVector(wide, part), e.at(row, e.c(v * L)), mask);
      });
    }
  };
  Value* zero = e.c(0);
  Value* fzero = llvm::ConstantFP::get(e.f32, 0.0);
  auto outputRow = [&](Value* oh, int64_t ohMax) {
    // Full blocks; a partial last block is redone as the last L windows, which rewrites some
    // outputs with the same values instead of masking the stores.
    if (ps.OW >= L) {
      e.loop(zero, e.c(ps.OW / L), 1, [&](Value* j) { block(oh, e.mul(j, e.c(L)), L, ohMax); });
      if (ps.OW % L) block(oh, e.c(ps.OW - L), L, ohMax);
    } else if (ps.OW > 0) {
      block(oh, zero, ps.OW, ohMax);
    }
    if (grad && ps.OW * ps.KW < W)
      for (int64_t kh = 0; kh < ps.KH; ++kh) {
        Value* row = e.at(xp, e.mul(e.add(e.mul(oh, e.c(ps.KH)), e.c(kh)), e.c(W)));
        for (int64_t iw = ps.OW * ps.KW; iw < W; ++iw) e.storeF(fzero, e.at(row, e.c(iw)));
      }
  };
  // The last output row is peeled: only its stores may need masks.
  e.loop(zero, e.c(ps.OH - 1), 1, [&](Value* oh) { outputRow(oh, ps.OH - 2); });
  if (ps.OH > 0) outputRow(e.c(ps.OH - 1), ps.OH - 1);
  if (grad)
    e.loop(e.c(ps.OH * ps.KH * W), e.c(ps.H * W), 1, [&](Value* i) { e.storeF(fzero, e.at(xp, i)); });
}

// maxpool2d_grad over one plane of the blocked layout (an image's 16 channels of a channel block,
// H x W x 16 floats): every window is vectorized over its 16 channels, each lane with its own
// first maximum. Non-overlapping windows write each dx element once (and zero what no window
// covers); others zero the plane and add each window's contribution to its taps.
void emitBlockedMaxPoolGrad(Emitter& e, const PoolShape& ps, const std::vector<int64_t>& stride, const std::vector<int64_t>& pad,
                            Value* dxp, Value* xp, Value* dyp) {
  auto& b = e.b;
  const int L = e.lanes;
  const int64_t V = kBlock / L;  // vectors per 16 channels
  const bool windows = stride[0] == ps.KH && stride[1] == ps.KW && pad[0] == 0 && pad[1] == 0;
  llvm::Type* i32v = llvm::FixedVectorType::get(b.getInt32Ty(), L);
  Value* zero = e.c(0);
  auto zeroRange = [&](Value* from, Value* to) {  // elements [from, to) of the plane, multiples of 16
    e.loop(from, to, L, [&](Value* i) { e.storeVec(e.zeroVec(), e.at(dxp, i), nullptr); });
  };
  if (!windows) zeroRange(zero, e.c(ps.H * ps.W * kBlock));
  e.loop(zero, e.c(ps.OH), 1, [&](Value* oh) {
    e.loop(zero, e.c(ps.OW), 1, [&](Value* ow) {
      struct Tap {
        Value* inb;  // i1, uniform over the lanes
        Value* at;   // element offset of the tap's 16 channels (0 when out of bounds)
      };
      std::vector<Tap> taps;
      for (int64_t kh = 0; kh < ps.KH; ++kh)
        for (int64_t kw = 0; kw < ps.KW; ++kw) {
          Value* ih = e.add(e.mul(oh, e.c(stride[0])), e.c(kh - pad[0]));
          Value* iw = e.add(e.mul(ow, e.c(stride[1])), e.c(kw - pad[1]));
          Value* inb = b.getTrue();
          if (pad[0]) inb = b.CreateAnd(inb, b.CreateAnd(b.CreateICmpSGE(ih, zero), b.CreateICmpSLT(ih, e.c(ps.H))));
          if (pad[1]) inb = b.CreateAnd(inb, b.CreateAnd(b.CreateICmpSGE(iw, zero), b.CreateICmpSLT(iw, e.c(ps.W))));
          taps.push_back({inb, b.CreateSelect(inb, e.mul(e.add(e.mul(ih, e.c(ps.W)), iw), e.c(kBlock)), zero)});
        }
      Value* yi = e.mul(e.add(e.mul(oh, e.c(ps.OW)), ow), e.c(kBlock));
      for (int64_t v = 0; v < V; ++v) {
        Value* lane0 = e.c(v * L);
        Value* best = e.splat(llvm::ConstantFP::getInfinity(e.f32, true));
        Value* arg = llvm::Constant::getNullValue(i32v);
        Value* have = b.getFalse();
        for (size_t t = 0; t < taps.size(); ++t) {
          Value* x = e.loadVec(e.at(xp, e.add(taps[t].at, lane0)), nullptr);
          Value* take = b.CreateAnd(b.CreateVectorSplat(L, taps[t].inb),
                                    b.CreateOr(b.CreateVectorSplat(L, b.CreateNot(have)), b.CreateFCmpOGT(x, best)));
          best = b.CreateSelect(take, x, best);
          arg = b.CreateSelect(take, llvm::ConstantInt::get(i32v, t), arg);
          have = b.CreateOr(have, taps[t].inb);
        }
        Value* g = e.loadVec(e.at(dyp, e.add(yi, lane0)), nullptr);
        for (size_t t = 0; t < taps.size(); ++t) {
          Value* part = b.CreateSelect(b.CreateICmpEQ(arg, llvm::ConstantInt::get(i32v, t)), g, e.zeroVec());
          Value* at = e.at(dxp, e.add(taps[t].at, lane0));
          if (windows) e.storeVec(part, at, nullptr);
          else e.ifThen(taps[t].inb, [&] { e.storeVec(b.CreateFAdd(e.loadVec(at, nullptr), part), at, nullptr); });
        }
      }
    });
    // Columns past the last window of the rows this output row covers.
    if (windows && ps.OW * ps.KW < ps.W)
      for (int64_t kh = 0; kh < ps.KH; ++kh) {
        Value* row = e.mul(e.add(e.mul(oh, e.c(ps.KH)), e.c(kh)), e.c(ps.W * kBlock));
        zeroRange(e.add(row, e.c(ps.OW * ps.KW * kBlock)), e.add(row, e.c(ps.W * kBlock)));
      }
  });
  if (windows) zeroRange(e.c(ps.OH * ps.KH * ps.W * kBlock), e.c(ps.H * ps.W * kBlock));  // rows past the last window
}

}  // namespace

Expected<HeavyKernel> emitPool(llvm::Module& m, OpKind op, const Attrs& attrs, const std::vector<TensorType>& in,
                               const TensorType& out, const std::string& name, const HeavyTarget& target, bool blocked) {
  const bool grad = op == OpKind::MaxPool2dGrad || op == OpKind::AvgPool2dGrad;
  const bool isMax = op == OpKind::MaxPool2d || op == OpKind::MaxPool2dGrad;
  const Dims& x = op == OpKind::AvgPool2dGrad ? out.dims : in[0].dims;
  const Dims& y = op == OpKind::MaxPool2dGrad ? in[1].dims : op == OpKind::AvgPool2dGrad ? in[0].dims : out.dims;
  if (x.size() != 4 || y.size() != 4) return Error(fmt::format("{} kernel needs rank-4 operands", mnemonic(op)));
  for (const Dims* d : {&x, &y})
    for (size_t i = 1; i < 4; ++i)
      if ((*d)[i] == kBatch) return Error(fmt::format("{} kernel: B only as the batch dimension", mnemonic(op)));
  const int64_t N = x[0], C = x[1], H = x[2], W = x[3], OH = y[2], OW = y[3];
  const auto &kernel = attrs.ints("kernel"), &s = attrs.ints("stride"), &p = attrs.ints("padding");
  const int64_t KH = kernel[0], KW = kernel[1];

  Emitter e(m, name, 1 + static_cast<int>(in.size()), target);
  auto& b = e.b;
  Value* zero = e.c(0);
  Value* inv = llvm::ConstantFP::get(e.f32, 1.0 / static_cast<double>(KH * KW));
  // Operands: x for max pools (grad: and dy), dy for the avg gradient; the result is y or dx.
  Value* xs = op == OpKind::AvgPool2dGrad ? nullptr : e.bufs[1];
  Value* dys = op == OpKind::MaxPool2dGrad ? e.bufs[2] : op == OpKind::AvgPool2dGrad ? e.bufs[1] : nullptr;
  Value* res = e.bufs[0];

  if (blocked) {
    // The blocked layout: planes are (image, channel block), H x W x 16 floats each.
    if (op != OpKind::MaxPool2dGrad || C % kBlock != 0 || e.lanes > kBlock || kBlock % e.lanes != 0)
      return Error(fmt::format("{} kernel: no blocked-layout kernel for this op or shape", mnemonic(op)));
    e.loop(e.begin, e.end, 1, [&](Value* plane) {
      Value* dx = e.at(res, e.mul(plane, e.c(H * W * kBlock)));
      emitBlockedMaxPoolGrad(e, {op, H, W, OH, OW, KH, KW}, s, p, dx, e.at(xs, e.mul(plane, e.c(H * W * kBlock))),
                             e.at(dys, e.mul(plane, e.c(OH * OW * kBlock))));
    });
    HeavyKernel k;
    k.fn = e.finish();
    k.extentPerBatch = N == kBatch ? C / kBlock : 0;
    k.extentConst = N == kBatch ? 0 : N * C / kBlock;
    k.grain = std::max<int64_t>(1, 50000 / ((H * W + OH * OW) * kBlock));
    return k;
  }
  const bool windows = s[0] == KH && s[1] == KW && p[0] == 0 && p[1] == 0;
  e.loop(e.begin, e.end, 1, [&](Value* plane) {
    Value* xp = grad ? e.at(res, e.mul(plane, e.c(H * W))) : e.at(xs, e.mul(plane, e.c(H * W)));
    Value* xin = xs ? e.at(xs, e.mul(plane, e.c(H * W))) : nullptr;
    Value* yp = e.mul(plane, e.c(OH * OW));
    if (windows) {
      emitWindowPool(e, {op, H, W, OH, OW, KH, KW}, xp, xin, dys ? e.at(dys, yp) : nullptr, grad ? nullptr : e.at(res, yp));
      return;
    }
    if (grad) e.loop(zero, e.c(H * W), 1, [&](Value* i) { e.storeF(llvm::ConstantFP::get(e.f32, 0.0), e.at(xp, i)); });
    e.loop(zero, e.c(OH), 1, [&](Value* oh) {
      e.loop(zero, e.c(OW), 1, [&](Value* ow) {
        Value* yi = e.add(yp, e.add(e.mul(oh, e.c(OW)), ow));
        Value* g = dys ? e.loadF(e.at(dys, yi)) : nullptr;
        if (g && !isMax) g = b.CreateFMul(g, inv);
        Value* best = llvm::ConstantFP::getInfinity(e.f32, true);
        Value* bestIdx = zero;
        Value* have = b.getFalse();
        Value* sum = nullptr;
        for (int64_t kh = 0; kh < KH; ++kh) {
          Value* ih = e.add(e.mul(oh, e.c(s[0])), e.c(kh - p[0]));
          Value* rowOk = p[0] == 0 ? b.getTrue() : b.CreateAnd(b.CreateICmpSGE(ih, zero), b.CreateICmpSLT(ih, e.c(H)));
          for (int64_t kw = 0; kw < KW; ++kw) {
            Value* iw = e.add(e.mul(ow, e.c(s[1])), e.c(kw - p[1]));
            Value* colOk = p[1] == 0 ? b.getTrue() : b.CreateAnd(b.CreateICmpSGE(iw, zero), b.CreateICmpSLT(iw, e.c(W)));
            Value* inb = b.CreateAnd(rowOk, colOk);
            Value* idx = b.CreateSelect(inb, e.add(e.mul(ih, e.c(W)), iw), zero);
            if (op == OpKind::AvgPool2dGrad) {
              e.ifThen(inb, [&] {
                Value* at = e.at(xp, idx);
                e.storeF(b.CreateFAdd(e.loadF(at), g), at);
              });
              continue;
            }
            Value* v = e.loadF(e.at(xin, idx));
            if (isMax) {
              Value* take = b.CreateAnd(inb, b.CreateOr(b.CreateNot(have), b.CreateFCmpOGT(v, best)));
              best = b.CreateSelect(take, v, best);
              bestIdx = b.CreateSelect(take, idx, bestIdx);
              have = b.CreateOr(have, inb);
            } else {
              Value* term = b.CreateSelect(inb, v, llvm::ConstantFP::get(e.f32, 0.0));
              sum = sum ? b.CreateFAdd(sum, term) : term;
            }
          }
        }
        if (op == OpKind::MaxPool2d) e.storeF(best, e.at(res, yi));
        if (op == OpKind::AvgPool2d) e.storeF(b.CreateFMul(sum, inv), e.at(res, yi));
        if (op == OpKind::MaxPool2dGrad) {
          Value* at = e.at(xp, bestIdx);
          e.storeF(b.CreateFAdd(e.loadF(at), g), at);
        }
      });
    });
  });

  HeavyKernel k;
  k.fn = e.finish();
  k.extentPerBatch = N == kBatch ? C : 0;
  k.extentConst = N == kBatch ? 0 : N * C;
  k.grain = std::max<int64_t>(1, 50000 / (H * W + OH * OW));
  return k;
}

}  // namespace sinter::cpu::heavy
