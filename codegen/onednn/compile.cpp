// The dnnl target is a host target with a library: everything else is the cpu target's pipeline.
#include "codegen/onednn/compile.h"

#include "codegen/cpu/compile.h"

namespace sinter::onednn {

const kir::LibraryOps kLibrary = {
    "dnnl",
    {OpKind::Conv2d, OpKind::Conv2dGradInput, OpKind::Conv2dGradWeight, OpKind::MatMul, OpKind::MaxPool2d,
     OpKind::MaxPool2dGrad, OpKind::AvgPool2d, OpKind::AvgPool2dGrad},
    // The activations (not the weights) of the convolutions and pooling, in oneDNN's blocked layout.
    {{OpKind::Conv2d, {0, 1}},
     {OpKind::Conv2dGradInput, {0, 1}},
     {OpKind::Conv2dGradWeight, {1, 2}},
     {OpKind::MaxPool2d, {0, 1}},
     {OpKind::AvgPool2d, {0, 1}},
     {OpKind::MaxPool2dGrad, {0, 1, 2}},
     {OpKind::AvgPool2dGrad, {0, 1}}},
    // Pooling on a row-major layout (channels not a multiple of 16) is 5-10x slower in oneDNN than
    // the generated kernels (LeNet's first max-pool gradient, 6 channels: 1251 against 117 us).
    {OpKind::MaxPool2d, OpKind::MaxPool2dGrad, OpKind::AvgPool2d, OpKind::AvgPool2dGrad},
    // A bias and ReLU after these run as oneDNN's bias argument and eltwise post-op.
    {OpKind::Conv2d, OpKind::MatMul},
};

namespace {
const cpu::HostTarget kDnnl = {"dnnl", &kLibrary};
}  // namespace

const TargetCompiler kCompiler = cpu::hostCompiler<kDnnl>();

}  // namespace sinter::onednn
