// The convolution kernels: conv2d, conv2d_grad_input and conv2d_grad_weight (NCHW x OIHW), each
// an im2col panel in a stack buffer followed by register-tiled matrix products, or a direct form
// that reads a padded copy of the source in place of the panel.
//
// Algorithm: the panel holds, for a block of output rows, row k = (channel, kh, kw) of the
// unrolled input: panel[k][r*outW + t] is the source element that tap k meets at output (r, t),
// or 0 in the padding. A panel row is filled a vector of columns at a time with one masked load (unit
// column stride) or a masked gather (stride, dilation, or the transposed access of a gradient).
//  - conv2d: y[n][f][p] = sum_k w[f][k] * panel[k][p] -- broadcast tiles over filters x positions;
//    parallel over the batch.
//  - conv2d_grad_input: the same with the roles swapped: the panel unrolls dy, whose tap k =
//    (filter, kh, kw) meets input position (ih, iw) at dy row (ih + pad - kh*dil) / stride when
//    that divides exactly, and A(c, k) = w[filter][c][kh][kw]. Parallel over the batch.
//  - direct form (conv2d with unit column stride, conv2d_grad_input with unit stride, when an
//    output row fills at least 7/8 of its vectors): no panel. Each image's source is copied into
//    a zero-padded stack buffer once, and broadcast tiles over channels x the columns of one output
//    row read their B vectors straight from it: tap (q, kh, kw) of output row oh is the buffer row
//    oh*stride + kh*dil shifted by kw*dil. The gradient is the forward convolution of dy padded by
//    dil*(K-1) - pad with the flipped kernel. Saves the panel fill (25x the source for a 5x5
//    kernel), which cost as much as the FMAs where the panel feeds few filters. Where an output
//    row is at most one vector (16x16 images on AVX-512), a tile's vectors are consecutive rows.
//  - conv2d_grad_weight: dw[f][k] = sum over images and positions of dy[n][f][p] * panel_n[k][p],
//    dot tiles reducing over the positions of up to 16 images per panel (whole images over a
//    block of channels, so that lanes are summed once per 16 images); parallel over filters,
//    since every image contributes to every filter. Its direct form (unit column stride, wide
//    output rows) reads shifted rows of each image's padded copy in place of the panel: tiles of
//    up to 5 taps x as many filters as give about 20 accumulators (10 on AVX2) keep lane partial
//    sums of dw in registers over an image's positions.
// Stack use: at most the 384 KB source buffer and a 768 KB partial-sum array (direct weight
// gradient) or a 768 KB panel, well inside the default thread stacks (8 MB with the usual
// `ulimit -s`) of the pool and of OpenMP.
#include <algorithm>

#include "codegen/cpu/heavy_emit.h"

namespace sinter::cpu::heavy {

using llvm::Value;

namespace {

// About 384 KB: the panel stays in L2 (1 MB on Zen 4, 2 MB on the Xeons) and holds the whole
// 8x8 image of a 128-channel 3x3 convolution (1152 x 64 floats), so its broadcast tiles get their
// four vectors of columns (with 192 KB they got one, and ran at 6 accumulators: 85 GFLOP/s).
constexpr int64_t kPanelFloats = 96 * 1024;
constexpr int64_t kMaxImagesPerPanel = 16;
constexpr int64_t kWeightPanelFloats = 192 * 1024;
constexpr double kGrainFlops = 5e5;

int64_t roundUp(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// Source coordinate of output coordinate o and tap j: (o*mul + j*kmul + off) / div, valid when
// the division is exact and the result lies in [0, size).
struct Axis {
  int64_t mul, kmul, off, div, size;
};

struct Pack {
  Value* src;          // channel 0 of the source image
  int64_t srcPlane;    // elements per source channel
  int64_t channels;    // q < channels: panel rows (q, kh, kw)
  int64_t kh, kw;
  Axis rows, cols;
  int64_t outW;        // panel columns per output row
  Value* panel;
  int64_t rowStride;   // panel elements between rows k and k + 1
};

// Fills panel rows for output rows [row0, row0 + rb). Stores are whole vectors (masked stores are
// slow on AVX2): a row's last vector spills into the next row, which is written after it, and the
// last row's into the panel row's `lanes` floats of slack.
void emitPack(Emitter& e, const Pack& p, Value* row0, int64_t rb) {
  auto& b = e.b;
  Value* zero = e.c(0);
  e.loop(zero, e.c(p.channels), 1, [&](Value* q) {
    Value* srcQ = e.at(p.src, e.mul(q, e.c(p.srcPlane)));
    e.loop(zero, e.c(p.kh), 1, [&](Value* kh) {
      e.loop(zero, e.c(p.kw), 1, [&](Value* kw) {
        Value* k = e.add(e.mul(e.add(e.mul(q, e.c(p.kh)), kh), e.c(p.kw)), kw);
        Value* dstK = e.at(p.panel, e.mul(k, e.c(p.rowStride)));
        Value* colBase = e.add(e.mul(kw, e.c(p.cols.kmul)), e.c(p.cols.off));
        e.loop(zero, e.c(rb), 1, [&](Value* r) {
          Value* dst = e.at(dstK, e.mul(r, e.c(p.outW)));
          Value* num = e.add(e.add(e.mul(e.add(row0, r), e.c(p.rows.mul)), e.mul(kh, e.c(p.rows.kmul))), e.c(p.rows.off));
          Value* ok = b.CreateICmpSGE(num, zero);
          if (p.rows.div > 1) ok = b.CreateAnd(ok, b.CreateICmpEQ(b.CreateSRem(num, e.c(p.rows.div)), zero));
          Value* srcRow = b.CreateSDiv(num, e.c(p.rows.div));
          ok = b.CreateAnd(ok, b.CreateICmpSLT(srcRow, e.c(p.rows.size)));
          e.ifThenElse(
              ok,
              [&] {
                Value* rowPtr = e.at(srcQ, e.mul(srcRow, e.c(p.cols.size)));
                for (int64_t c0 = 0; c0 < p.outW; c0 += e.lanes) {
                  Value* outMask = p.outW - c0 < e.lanes ? e.laneMask(e.c(p.outW - c0)) : nullptr;
                  Value* lanes = e.b.CreateAdd(e.laneIds(), e.splat(e.c(c0)));
                  Value* cnum = b.CreateAdd(b.CreateMul(lanes, e.splat(e.c(p.cols.mul))), e.splat(colBase));
                  Value* cok = b.CreateICmpSGE(cnum, e.splat(zero));
                  if (p.cols.div > 1)
                    cok = b.CreateAnd(cok, b.CreateICmpEQ(b.CreateSRem(cnum, e.splat(e.c(p.cols.div))), e.splat(zero)));
                  Value* col = p.cols.div > 1 ? b.CreateSDiv(cnum, e.splat(e.c(p.cols.div))) : cnum;
                  cok = b.CreateAnd(cok, b.CreateICmpSLT(col, e.splat(e.c(p.cols.size))));
                  if (outMask) cok = b.CreateAnd(cok, outMask);
                  Value* v;
                  if (p.cols.mul == 1 && p.cols.div == 1)
                    v = e.loadVec(e.at(rowPtr, e.add(colBase, e.c(c0))), cok);
                  else
                    v = e.gatherVec(rowPtr, b.CreateSelect(cok, col, e.splat(zero)), cok);
                  e.storeVec(v, e.at(dst, e.c(c0)), nullptr);
                }
              },
              [&] {
                for (int64_t c0 = 0; c0 < p.outW; c0 += e.lanes)
                  e.storeVec(e.zeroVec(), e.at(dst, e.c(c0)), nullptr);
              });
        });
      });
    });
  });
}

// Output rows per panel: as many as fit the budget (at least one), their columns packed.
int64_t rowsPerPanel(int64_t k, int64_t outW, int64_t outH, int64_t lanes, int64_t budget = kPanelFloats) {
  int64_t rows = 1;
  while (rows < outH && k * (roundUp((rows + 1) * outW, lanes) + lanes) <= budget) ++rows;
  return rows;
}

// Calls block(row0, rb) over [0, outH) in blocks of `rows` (the last one shorter).
void forRowBlocks(Emitter& e, int64_t outH, int64_t rows, const std::function<void(Value*, int64_t)>& block) {
  if (outH / rows > 0) e.loop(e.c(0), e.c(outH / rows), 1, [&](Value* i) { block(e.mul(i, e.c(rows)), rows); });
  if (outH % rows) block(e.c(outH / rows * rows), outH % rows);
}

// A zero-padded copy of `channels` planes of srcH x srcW at `src`: buffer plane q, row r + padT,
// column col + padL holds src[q][r][col], clipped to the buffer's PH x PW planes. Only the
// interior is written: the caller zeroes the buffer once and its padding stays zero.
void emitPaddedCopy(Emitter& e, Value* src, int64_t channels, int64_t srcH, int64_t srcW, Value* buf, int64_t PH,
                    int64_t PW, int64_t padT, int64_t padL) {
  const int64_t r0 = std::max<int64_t>(0, -padT), r1 = std::min(srcH, PH - padT);
  const int64_t c0 = std::max<int64_t>(0, -padL), c1 = std::min(srcW, PW - padL);
  e.loop(e.c(0), e.c(channels), 1, [&](Value* q) {
    e.loop(e.c(r0), e.c(r1), 1, [&](Value* r) {
      Value* from = e.at(src, e.add(e.mul(q, e.c(srcH * srcW)), e.mul(r, e.c(srcW))));
      Value* to = e.at(buf, e.add(e.mul(q, e.c(PH * PW)), e.add(e.mul(r, e.c(PW)), e.c(padT * PW + padL))));
      e.loop(e.c(c0), e.c(c1), 1, [&](Value* col) { e.storeF(e.loadF(e.at(from, col)), e.at(to, col)); });
    });
  });
}

// A zeroed stack array of n floats.
Value* zeroedArray(Emitter& e, int64_t n) {
  Value* buf = e.stackArray(e.f32, n);
  e.loop(e.c(0), e.c(n), 1, [&](Value* i) { e.storeF(llvm::ConstantFP::get(e.f32, 0.0), e.at(buf, i)); });
  return buf;
}

}  // namespace

Expected<HeavyKernel> emitConv(llvm::Module& m, OpKind op, const Attrs& attrs, const std::vector<TensorType>& in,
                               const TensorType& out, const std::string& name, const HeavyTarget& target) {
  if (in.size() != 2 || in[0].rank() != 4 || in[1].rank() != 4 || out.rank() != 4)
    return Error(fmt::format("{} kernel needs rank-4 operands", mnemonic(op)));
  // x [N,C,H,W], w [F,Cg,KH,KW], y [N,F,OH,OW], whichever of them is the result.
  const Dims& x = op == OpKind::Conv2d ? in[0].dims : op == OpKind::Conv2dGradInput ? out.dims : in[0].dims;
  const Dims& w = op == OpKind::Conv2dGradWeight ? out.dims : in[1].dims;
  const Dims& y = op == OpKind::Conv2d ? out.dims : op == OpKind::Conv2dGradInput ? in[0].dims : in[1].dims;
  for (const Dims* d : {&x, &w, &y})
    for (size_t i = (d == &w ? 0 : 1); i < d->size(); ++i)
      if ((*d)[i] == kBatch) return Error(fmt::format("{} kernel: B only as the batch dimension", mnemonic(op)));
  const int64_t N = x[0], C = x[1], H = x[2], W = x[3], F = w[0], Cg = w[1], KH = w[2], KW = w[3];
  const int64_t OH = y[2], OW = y[3], groups = attrs.i("groups"), Fg = F / groups;
  const auto &s = attrs.ints("stride"), &pad = attrs.ints("padding"), &dil = attrs.ints("dilation");
  const int64_t taps = KH * KW, Kc = Cg * taps;

  Emitter e(m, name, 3, target);
  const int kBcastRows = e.bcastRows, kBcastVecs = e.bcastVecs, kDotRows = e.dotRows, kDotCols = e.dotCols;
  Value* zero = e.c(0);
  HeavyKernel k;
  const double imageFlops = 2.0 * static_cast<double>(F * Kc * OH * OW);

  const bool fwd = op == OpKind::Conv2d;
  // The direct form (see the file comment) needs unit column stride (and unit row stride for the
  // gradient), a padded source that fits the buffer, and output rows that fill most of their
  // vectors.
  const int64_t dirOutW = fwd ? OW : W, dirOutH = fwd ? OH : H, dirRowStep = fwd ? s[0] : 1;
  const int64_t PH = (dirOutH - 1) * dirRowStep + dil[0] * (KH - 1) + 1, PW = dirOutW + dil[1] * (KW - 1);
  const bool direct = op != OpKind::Conv2dGradWeight && s[1] == 1 && (fwd || s[0] == 1) &&
                      (fwd ? Cg : Fg) * PH * PW <= kPanelFloats && dirOutW * 8 >= roundUp(dirOutW, e.lanes) * 7;
  // The direct weight gradient: x padded by `pad`, lane partial sums of every dw element kept in a
  // stack array.
  const int64_t PHw = (OH - 1) * s[0] + dil[0] * (KH - 1) + 1, PWw = OW + dil[1] * (KW - 1);
  const bool directW = op == OpKind::Conv2dGradWeight && s[1] == 1 && Cg * PHw * PWw <= kPanelFloats &&
                       F * Kc * e.lanes <= kWeightPanelFloats && OW * 8 >= roundUp(OW, e.lanes) * 7;
  if (direct) {
    Value *dst = e.bufs[0], *src = e.bufs[1], *wt = e.bufs[2];
    // Forward: source x (Cg channels per group) padded by `pad`; A(f, c, kh, kw) = w[f][c][kh][kw].
    // Grad input: source dy (Fg channels) padded by dil*(K-1) - pad, which makes it a forward
    // convolution with the flipped kernel: A(c, f, kh, kw) = w[f][c][KH-1-kh][KW-1-kw].
    const int64_t rowsOut = fwd ? Fg : Cg, srcC = fwd ? Cg : Fg, srcH = fwd ? H : OH, srcW = fwd ? W : OW;
    const int64_t padT = fwd ? pad[0] : dil[0] * (KH - 1) - pad[0], padL = fwd ? pad[1] : dil[1] * (KW - 1) - pad[1];
    const int64_t plane = PH * PW;
    // Lanes slack: a row's last vector reads past the plane.
    Value* buf = zeroedArray(e, srcC * plane + e.lanes);
    e.loop(e.begin, e.end, 1, [&](Value* n) {
      for (int64_t g = 0; g < groups; ++g) {
        Value* img = e.at(src, e.mul(e.add(e.mul(n, e.c(fwd ? C : F)), e.c(g * srcC)), e.c(srcH * srcW)));
        emitPaddedCopy(e, img, srcC, srcH, srcW, buf, PH, PW, padT, padL);
        // One broadcast tile: channels [i0, i0 + mr) x nv vectors. With vectorPerRow, vector v is
        // the whole (narrow) output row oh + v; otherwise the vectors run along row oh from j0.
        auto tile = [&](Value* oh, Value* j0, Value* i0, int mr, int nv, const std::vector<Value*>& masks, bool vectorPerRow) {
          BcastTile t;
          t.mr = mr, t.nv = nv;
          if (fwd) {
            t.a = e.at(wt, e.mul(e.add(e.c(g * Fg), i0), e.c(Kc)));
            t.sai = e.c(Kc), t.sa0 = e.c(taps), t.sa1 = e.c(KW), t.sa2 = e.c(1);
          } else {
            t.a = e.at(wt, e.add(e.c(g * Fg * Kc + taps - 1), e.mul(i0, e.c(taps))));
            t.sai = e.c(taps), t.sa0 = e.c(Kc), t.sa1 = e.c(-KW), t.sa2 = e.c(-1);
          }
          t.bp = e.at(buf, e.add(e.mul(oh, e.c(dirRowStep * PW)), j0));
          t.sb0 = e.c(plane), t.sb1 = e.c(dil[0] * PW), t.sb2 = e.c(dil[1]);
          t.k0n = e.c(srcC), t.k1n = e.c(KH), t.k2n = e.c(KW);
          Value* outPlane = e.add(e.mul(n, e.c(fwd ? F : C)), e.add(e.c(g * rowsOut), i0));
          t.cp = e.at(dst, e.add(e.mul(e.add(e.mul(outPlane, e.c(dirOutH)), oh), e.c(dirOutW)), j0));
          t.sci = e.c(dirOutH * dirOutW);
          if (vectorPerRow) t.sbv = e.c(dirRowStep * PW), t.scv = e.c(dirOutW);
          t.masks = masks;
          t.wholeB = true;
          emitBcastTile(e, t);
        };
        if (dirOutW <= e.lanes) {
          // An output row is one vector (16x16 images on AVX-512): a tile's vectors are rows, so
          // it keeps mr x bcastVecs accumulators rather than mr, too few to hide the FMA latency.
          const std::vector<Value*> rowMask(static_cast<size_t>(kBcastVecs), dirOutW < e.lanes ? e.laneMask(e.c(dirOutW)) : nullptr);
          forRowTiles(e, zero, e.c(dirOutH), kBcastVecs, [&](Value* oh0, int nv) {
            forRowTiles(e, zero, e.c(rowsOut), kBcastRows, [&](Value* i0, int mr) {
              tile(oh0, zero, i0, mr, nv, std::vector<Value*>(rowMask.begin(), rowMask.begin() + nv), true);
            });
          });
        } else {
          e.loop(zero, e.c(dirOutH), 1, [&](Value* oh) {
            forRowTiles(e, zero, e.c(rowsOut), kBcastRows, [&](Value* i0, int mr) {
              forColumnBlocks(e, dirOutW, kBcastVecs, [&](Value* j0, int nv, const std::vector<Value*>& masks) {
                tile(oh, j0, i0, mr, nv, masks, false);
              });
            });
          });
        }
      }
    });
    k.extentPerBatch = N == kBatch ? 1 : 0;
    k.extentConst = N == kBatch ? 0 : N;
    k.grain = std::max<int64_t>(1, static_cast<int64_t>(kGrainFlops / imageFlops));
  } else if (op == OpKind::Conv2d || op == OpKind::Conv2dGradInput) {
    Value *dst = e.bufs[0], *src = e.bufs[1], *wt = e.bufs[2];
    // Forward: rows f of Fg, columns (oh, ow), reduction (c, kh, kw) with A = w[f][c][kh][kw].
    // Grad input: rows c of Cg, columns (ih, iw), reduction (f, kh, kw) with A = w[f][c][kh][kw].
    const int64_t rowsOut = fwd ? Fg : Cg, outH = fwd ? OH : H, outW = fwd ? OW : W;
    const int64_t red = fwd ? Kc : Fg * taps;
    const int64_t rb = rowsPerPanel(red, outW, outH, e.lanes), ps = roundUp(rb * outW, e.lanes) + e.lanes;
    Value* panel = e.stackArray(e.f32, red * ps);
    e.loop(e.begin, e.end, 1, [&](Value* n) {
      for (int64_t g = 0; g < groups; ++g) {
        Pack p;
        if (fwd)
          p = {e.at(src, e.mul(e.add(e.mul(n, e.c(C)), e.c(g * Cg)), e.c(H * W))), H * W, Cg, KH, KW,
               Axis{s[0], dil[0], -pad[0], 1, H}, Axis{s[1], dil[1], -pad[1], 1, W}, OW, panel, ps};
        else
          p = {e.at(src, e.mul(e.add(e.mul(n, e.c(F)), e.c(g * Fg)), e.c(OH * OW))), OH * OW, Fg, KH, KW,
               Axis{1, -dil[0], pad[0], s[0], OH}, Axis{1, -dil[1], pad[1], s[1], OW}, W, panel, ps};
        forRowBlocks(e, outH, rb, [&](Value* row0, int64_t rows) {
          emitPack(e, p, row0, rows);
          const int64_t cols = rows * outW;
          forRowTiles(e, zero, e.c(rowsOut), kBcastRows, [&](Value* i0, int mr) {
            forColumnBlocks(e, cols, kBcastVecs, [&](Value* j0, int nv, const std::vector<Value*>& masks) {
              BcastTile t;
              t.mr = mr, t.nv = nv;
              if (fwd) {
                t.a = e.at(wt, e.mul(e.add(e.c(g * Fg), i0), e.c(Kc))), t.sai = e.c(Kc);
                t.sa1 = zero, t.sa2 = e.c(1), t.k1n = e.c(1), t.k2n = e.c(Kc);
                t.sb1 = zero, t.sb2 = e.c(ps);
              } else {
                t.a = e.at(wt, e.add(e.c(g * Fg * Kc), e.mul(i0, e.c(taps)))), t.sai = e.c(taps);
                t.sa1 = e.c(Kc), t.sa2 = e.c(1), t.k1n = e.c(Fg), t.k2n = e.c(taps);
                t.sb1 = e.c(taps * ps), t.sb2 = e.c(ps);
              }
              t.bp = e.at(panel, j0);
              Value* plane = e.add(e.mul(n, e.c(fwd ? F : C)), e.add(e.c(g * rowsOut), i0));
              t.cp = e.at(dst, e.add(e.mul(e.add(e.mul(plane, e.c(outH)), row0), e.c(outW)), j0));
              t.sci = e.c(outH * outW);
              t.masks = masks;
              emitBcastTile(e, t);
            });
          });
        });
      }
    });
    k.extentPerBatch = N == kBatch ? 1 : 0;
    k.extentConst = N == kBatch ? 0 : N;
    k.grain = std::max<int64_t>(1, static_cast<int64_t>(kGrainFlops / imageFlops));
  } else if (directW) {
    Value *dw = e.bufs[0], *xs = e.bufs[1], *dy = e.bufs[2];
    const int64_t plane = PHw * PWw;
    Value* buf = zeroedArray(e, Cg * plane);
    // acc[f*Kc + k]: lane partial sums of dw[f][k] over all images, summed across lanes at the end.
    Value* acc = e.stackArray(e.vf, F * Kc);
    e.loop(e.begin, e.end, 1, [&](Value* f) {
      e.loop(zero, e.c(Kc), 1, [&](Value* k) { e.b.CreateStore(e.zeroVec(), e.b.CreateGEP(e.vf, acc, e.add(e.mul(f, e.c(Kc)), k))); });
    });
    const int64_t fullVecs = OW / e.lanes, tail = OW % e.lanes;
    e.loop(zero, e.dim(N), 1, [&](Value* n) {
      for (int64_t g = 0; g < groups; ++g) {
        Value* flo = e.max(e.begin, e.c(g * Fg));
        Value* fhi = e.min(e.end, e.c((g + 1) * Fg));
        e.ifThen(e.b.CreateICmpSLT(flo, fhi), [&] {
          emitPaddedCopy(e, e.at(xs, e.mul(e.add(e.mul(n, e.c(C)), e.c(g * Cg)), e.c(H * W))), Cg, H, W, buf, PHw, PWw,
                         pad[0], pad[1]);
          // Tiles of fTile filters x up to 5 taps of one kernel row, each reducing over the image's
          // output positions: about 20 accumulators, fTile dy vectors and one x vector of 32
          // registers (10 of 16 on AVX2). Fewer than 8 accumulators (2 filters x 3 taps) left the
          // FMA units waiting on their latency.
          const int tapsTile = static_cast<int>(std::min<int64_t>(KW, 5));
          const int fTile = std::max(1, (kBcastVecs >= 4 ? 20 : 10) / tapsTile);
          forRowTiles(e, flo, fhi, fTile, [&](Value* f0, int mi) {
            e.loop(zero, e.c(Cg * KH), 1, [&](Value* ckh) {  // ckh = c*KH + kh
              Value* c = e.b.CreateSDiv(ckh, e.c(KH));
              Value* kh = e.sub(ckh, e.mul(c, e.c(KH)));
              forRowTiles(e, zero, e.c(KW), tapsTile, [&](Value* kw0, int mj) {
                std::vector<Value*> slots(mi * mj), accAt(mi * mj);
                for (int i = 0; i < mi; ++i)
                  for (int j = 0; j < mj; ++j) {
                    Value* idx = e.add(e.mul(e.add(f0, e.c(i)), e.c(Kc)), e.add(e.mul(ckh, e.c(KW)), e.add(kw0, e.c(j))));
                    accAt[i * mj + j] = e.b.CreateGEP(e.vf, acc, idx);
                    slots[i * mj + j] = e.stackArray(e.vf, 1);
                    e.b.CreateStore(e.b.CreateLoad(e.vf, accAt[i * mj + j]), slots[i * mj + j]);
                  }
                e.loop(zero, e.c(OH), 1, [&](Value* oh) {
                  Value* xrow = e.at(buf, e.add(e.mul(c, e.c(plane)),
                                                e.add(e.mul(e.add(e.mul(oh, e.c(s[0])), e.mul(kh, e.c(dil[0]))), e.c(PWw)),
                                                      e.mul(kw0, e.c(dil[1])))));
                  Value* dyrow = e.at(dy, e.mul(e.add(e.mul(e.add(e.mul(n, e.c(F)), f0), e.c(OH)), oh), e.c(OW)));
                  auto step = [&](Value* ow0, Value* mask) {
                    std::vector<Value*> dv(mi);
                    for (int i = 0; i < mi; ++i) dv[i] = e.loadVec(e.at(dyrow, e.add(e.c(i * OH * OW), ow0)), mask);
                    for (int j = 0; j < mj; ++j) {
                      Value* xv = e.loadVec(e.at(xrow, e.add(ow0, e.c(j * dil[1]))), mask);
                      for (int i = 0; i < mi; ++i) {
                        Value* slot = slots[i * mj + j];
                        e.b.CreateStore(e.fma(dv[i], xv, e.b.CreateLoad(e.vf, slot)), slot);
                      }
                    }
                  };
                  e.loop(zero, e.c(fullVecs), 1, [&](Value* v) { step(e.mul(v, e.c(e.lanes)), nullptr); }, /*hot=*/true);
                  if (tail) step(e.c(fullVecs * e.lanes), e.laneMask(e.c(tail)));
                });
                for (int i = 0; i < mi * mj; ++i) e.b.CreateStore(e.b.CreateLoad(e.vf, slots[i]), accAt[i]);
              });
            });
          });
        });
      }
    });
    e.loop(e.begin, e.end, 1, [&](Value* f) {
      e.loop(zero, e.c(Kc), 1, [&](Value* k) {
        Value* i = e.add(e.mul(f, e.c(Kc)), k);
        e.storeF(e.hsum(e.b.CreateLoad(e.vf, e.b.CreateGEP(e.vf, acc, i))), e.at(dw, i));
      });
    });
    k.extentConst = F;
    k.grain = 1;
  } else {
    Value *dw = e.bufs[0], *xs = e.bufs[1], *dy = e.bufs[2];
    const int64_t rb = rowsPerPanel(Kc, OW, OH, e.lanes, kWeightPanelFloats), ps = roundUp(rb * OW, e.lanes) + e.lanes;
    // Whole images fit: a panel holds kMaxImagesPerPanel of them, over as many channels as fit
    // (all when they do), so that a dot tile reduces over that many images before it sums its
    // lanes. A panel of all 1152 rows of an 8x8 image fitted 2 images, and the 24 lane sums after
    // every 8 vector steps cost as much as the FMAs.
    const int64_t cblk = rb < OH ? Cg : std::clamp<int64_t>(kWeightPanelFloats / (taps * ps * kMaxImagesPerPanel), 1, Cg);
    const int64_t nbMax = rb < OH ? 1 : std::clamp<int64_t>(kWeightPanelFloats / (cblk * taps * ps), 1, kMaxImagesPerPanel);
    Value* panel = e.stackArray(e.f32, cblk * taps * nbMax * ps);
    Value* Nv = e.dim(N);
    e.loop(zero, Nv, nbMax, [&](Value* n0) {
      Value* nb = e.min(e.c(nbMax), e.sub(Nv, n0));
      for (int64_t g = 0; g < groups; ++g) {
        Value* flo = e.max(e.begin, e.c(g * Fg));
        Value* fhi = e.min(e.end, e.c((g + 1) * Fg));
        e.ifThen(e.b.CreateICmpSLT(flo, fhi), [&] {
          forRowBlocks(e, OH, rb, [&](Value* row0, int64_t rows) {
            forRowBlocks(e, Cg, cblk, [&](Value* c0, int64_t channels) {
              e.loop(zero, nb, 1, [&](Value* nl) {
                Value* img = e.at(xs, e.mul(e.add(e.add(e.mul(e.add(n0, nl), e.c(C)), e.c(g * Cg)), c0), e.c(H * W)));
                emitPack(e,
                         {img, H * W, channels, KH, KW, Axis{s[0], dil[0], -pad[0], 1, H}, Axis{s[1], dil[1], -pad[1], 1, W},
                          OW, e.at(panel, e.mul(nl, e.c(ps))), nbMax * ps},
                         row0, rows);
              });
              Value* accumulate = e.b.CreateOr(e.b.CreateICmpSGT(n0, zero), e.b.CreateICmpSGT(row0, zero));
              forRowTilesClamped(e, flo, fhi, kDotRows, [&](Value* f0, int mi, Value* realRows) {
                forRowTiles(e, zero, e.c(channels * taps), kDotCols, [&](Value* j0, int mj) {
                  DotTile t;
                  t.mi = mi, t.mj = mj, t.rows = realRows;
                  t.a = e.at(dy, e.mul(e.add(e.mul(e.add(e.mul(n0, e.c(F)), f0), e.c(OH)), row0), e.c(OW)));
                  t.sai = e.c(OH * OW), t.sa1 = e.c(F * OH * OW);
                  t.bp = e.at(panel, e.mul(j0, e.c(nbMax * ps))), t.sbj = e.c(nbMax * ps), t.sb1 = e.c(ps);
                  t.cp = e.at(dw, e.add(e.mul(f0, e.c(Kc)), e.add(e.mul(c0, e.c(taps)), j0))), t.sci = e.c(Kc), t.scj = e.c(1);
                  t.r1n = nb, t.rn = e.c(rows * OW);
                  t.accumulate = accumulate;
                  emitDotTile(e, t);
                });
              });
            });
          });
        });
      }
    });
    k.extentConst = F;
    k.grain = 1;
  }
  k.fn = e.finish();
  return k;
}

}  // namespace sinter::cpu::heavy
