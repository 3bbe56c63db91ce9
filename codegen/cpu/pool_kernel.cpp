// The pooling kernels: maxpool2d, avgpool2d and their gradients, over a slice of the N*C planes.
//
// Algorithm: each output element walks its window's taps in row-major order, unrolled at generation
// time; with zero padding every tap is in bounds and the checks fold away, leaving a plain loop over
// the output row that LLVM vectorizes. Max keeps the first maximum (a later tap replaces it only
// when strictly greater), the tie rule of tests/reference/README.md; its gradient recomputes that
// argmax. Both gradients zero their plane and scatter into it, so a plane is written by one slice.
#include <algorithm>
#include <limits>

#include "codegen/cpu/heavy_emit.h"

namespace sinter::cpu::heavy {

using llvm::Value;

Expected<HeavyKernel> emitPool(llvm::Module& m, OpKind op, const Attrs& attrs, const std::vector<TensorType>& in,
                               const TensorType& out, const std::string& name, const HeavyTarget& target) {
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

  e.loop(e.begin, e.end, 1, [&](Value* plane) {
    Value* xp = grad ? e.at(res, e.mul(plane, e.c(H * W))) : e.at(xs, e.mul(plane, e.c(H * W)));
    Value* xin = xs ? e.at(xs, e.mul(plane, e.c(H * W))) : nullptr;
    Value* yp = e.mul(plane, e.c(OH * OW));
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
  const double planeFlops = static_cast<double>(OH * OW * KH * KW);
  (N == kBatch ? k.flopsPerBatch : k.flopsConst) = planeFlops * static_cast<double>(C) * (N == kBatch ? 1.0 : static_cast<double>(N));
  return k;
}

}  // namespace sinter::cpu::heavy
