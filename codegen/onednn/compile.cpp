// The dnnl target is a host target with a library: everything else is the cpu target's pipeline.
#include "codegen/onednn/compile.h"

#include "codegen/cpu/compile.h"

namespace sinter::onednn {

const kir::LibraryOps kLibrary = {
    .name = "dnnl",
    .ops = {OpKind::Conv2d, OpKind::Conv2dGradInput, OpKind::Conv2dGradWeight, OpKind::MatMul, OpKind::MaxPool2d, OpKind::AvgPool2d,
            OpKind::AvgPool2dGrad, OpKind::BatchNormTrain, OpKind::BatchNormStats, OpKind::BatchNormTrainGrad,
            OpKind::BatchNormParamGrad, OpKind::BatchNormInfer},
    // The activations (not the weights) of the convolutions, pooling and batch norm, in oneDNN's
    // blocked layout.
    .blockedArgs = {{OpKind::Conv2d, {0, 1}},
                    {OpKind::Conv2dGradInput, {0, 1}},
                    {OpKind::Conv2dGradWeight, {1, 2}},
                    {OpKind::MaxPool2d, {0, 1}},
                    {OpKind::AvgPool2d, {0, 1}},
                    {OpKind::AvgPool2dGrad, {0, 1}},
                    {OpKind::BatchNormTrain, {0, 1}},
                    {OpKind::BatchNormStats, {1}},
                    {OpKind::BatchNormTrainGrad, {0, 1, 2}},
                    {OpKind::BatchNormParamGrad, {1, 2}},
                    {OpKind::BatchNormInfer, {0, 1}}},
    // Pooling on a row-major layout (channels not a multiple of 16) is 5-10x slower in oneDNN than
    // the generated kernels (LeNet's first max-pool gradient, 6 channels: 1251 against 117 us).
    // Batch norm likewise: its nchw implementation (ncsp_bnorm) took 10.5 + 14.1 ms forward and
    // backward on [128,32,32,32] where the blocked one took 3.4 + 4.3 ms; rank-2 batch norm is
    // left to the generated loops too (decompose-batchnorm).
    .blockedOnly = {OpKind::MaxPool2d, OpKind::AvgPool2d, OpKind::AvgPool2dGrad, OpKind::BatchNormTrain, OpKind::BatchNormStats,
                    OpKind::BatchNormTrainGrad, OpKind::BatchNormParamGrad, OpKind::BatchNormInfer},
    // oneDNN's max-pool backward needs the forward's workspace, which only its training forward
    // writes: 4.0 ms where the inference forward takes 0.9, then 5.4 ms for the backward, on
    // [128,32,32,32] at one thread (1 MB of workspace). The generated kernel, vectorized over the
    // 16 channels of a block, recomputes each window's maximum from x and writes dx once.
    .generatedBlocked = {OpKind::MaxPool2dGrad},
    // A bias and ReLU after conv and matmul run as oneDNN's bias argument and eltwise post-op, a
    // ReLU after batch norm as its fuse_norm_relu flag.
    .epilogueOps = {OpKind::Conv2d, OpKind::MatMul, OpKind::BatchNormTrain, OpKind::BatchNormInfer},
    // One batch-normalization primitive computes both.
    .pairs = {{OpKind::BatchNormTrain, OpKind::BatchNormStats}, {OpKind::BatchNormTrainGrad, OpKind::BatchNormParamGrad}},
};

namespace {
const cpu::HostTarget kDnnl = {"dnnl", &kLibrary};
}  // namespace

const TargetCompiler kCompiler = cpu::hostCompiler<kDnnl>();

}  // namespace sinter::onednn
