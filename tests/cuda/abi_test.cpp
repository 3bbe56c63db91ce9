// runtime/cuda/driver.h declares the C ABI of the driver API, cuBLAS and cuDNN itself (so Sinter builds
// without the CUDA toolkit). Where the toolkit's headers are installed, this checks every function
// it loads against them: the same number of parameters, each of the same kind and size (pointer,
// integer or enum, floating point), and the constants' values. A mismatch would pass arguments
// wrongly on the GPU machine, where nothing here could see it.
#include <doctest/doctest.h>

#include <array>
#include <type_traits>

#include "runtime/cuda/driver.h"

#if __has_include(<cuda.h>) && __has_include(<cublas_api.h>) && __has_include(<cudnn.h>)
#include <cublas_api.h>
#include <cuda.h>
#include <cudnn.h>

#include <cstddef>

namespace {

template <typename T>
constexpr int kindOf() {
  if constexpr (std::is_pointer_v<T>) return 1;
  else if constexpr (std::is_enum_v<T> || std::is_integral_v<T>) return 100 + static_cast<int>(sizeof(T));
  else if constexpr (std::is_floating_point_v<T>) return 200 + static_cast<int>(sizeof(T));
  else return 0;
}
template <typename F>
struct Shape;
template <typename R, typename... A>
struct Shape<R (*)(A...)> {
  static constexpr std::array<int, sizeof...(A) + 1> value{kindOf<R>(), kindOf<A>()...};
};

#define SINTER_SAME_ABI(table, fn) \
  static_assert(Shape<decltype(sinter::cuda::table::fn)>::value == Shape<decltype(&::fn)>::value, #fn)

SINTER_SAME_ABI(Driver, cuInit);
SINTER_SAME_ABI(Driver, cuGetErrorString);
SINTER_SAME_ABI(Driver, cuDeviceGetCount);
SINTER_SAME_ABI(Driver, cuDeviceGet);
SINTER_SAME_ABI(Driver, cuDeviceGetName);
SINTER_SAME_ABI(Driver, cuDevicePrimaryCtxRetain);
SINTER_SAME_ABI(Driver, cuDevicePrimaryCtxRelease_v2);
SINTER_SAME_ABI(Driver, cuCtxSetCurrent);
SINTER_SAME_ABI(Driver, cuModuleLoadData);
SINTER_SAME_ABI(Driver, cuModuleUnload);
SINTER_SAME_ABI(Driver, cuModuleGetFunction);
SINTER_SAME_ABI(Driver, cuMemAlloc_v2);
SINTER_SAME_ABI(Driver, cuMemFree_v2);
SINTER_SAME_ABI(Driver, cuMemcpyHtoDAsync_v2);
SINTER_SAME_ABI(Driver, cuMemcpyDtoHAsync_v2);
SINTER_SAME_ABI(Driver, cuMemsetD8Async);
SINTER_SAME_ABI(Driver, cuStreamCreate);
SINTER_SAME_ABI(Driver, cuStreamDestroy_v2);
SINTER_SAME_ABI(Driver, cuStreamSynchronize);
SINTER_SAME_ABI(Driver, cuLaunchKernel);
SINTER_SAME_ABI(Driver, cuStreamBeginCapture_v2);
SINTER_SAME_ABI(Driver, cuStreamEndCapture);
SINTER_SAME_ABI(Driver, cuGraphInstantiateWithFlags);
SINTER_SAME_ABI(Driver, cuGraphLaunch);
SINTER_SAME_ABI(Driver, cuGraphDestroy);
SINTER_SAME_ABI(Driver, cuGraphExecDestroy);
SINTER_SAME_ABI(Driver, cuMemHostAlloc);
SINTER_SAME_ABI(Driver, cuMemFreeHost);
SINTER_SAME_ABI(Driver, cuEventCreate);
SINTER_SAME_ABI(Driver, cuEventRecord);
SINTER_SAME_ABI(Driver, cuEventSynchronize);
SINTER_SAME_ABI(Driver, cuEventDestroy_v2);
SINTER_SAME_ABI(Cublas, cublasCreate_v2);
SINTER_SAME_ABI(Cublas, cublasDestroy_v2);
SINTER_SAME_ABI(Cublas, cublasSetStream_v2);
SINTER_SAME_ABI(Cublas, cublasSetWorkspace_v2);
SINTER_SAME_ABI(Cublas, cublasSetMathMode);
SINTER_SAME_ABI(Cublas, cublasSgemm_v2);
SINTER_SAME_ABI(Cudnn, cudnnCreate);
SINTER_SAME_ABI(Cudnn, cudnnDestroy);
SINTER_SAME_ABI(Cudnn, cudnnSetStream);
SINTER_SAME_ABI(Cudnn, cudnnGetErrorString);
SINTER_SAME_ABI(Cudnn, cudnnCreateTensorDescriptor);
SINTER_SAME_ABI(Cudnn, cudnnSetTensor4dDescriptor);
SINTER_SAME_ABI(Cudnn, cudnnDestroyTensorDescriptor);
SINTER_SAME_ABI(Cudnn, cudnnCreateFilterDescriptor);
SINTER_SAME_ABI(Cudnn, cudnnSetFilter4dDescriptor);
SINTER_SAME_ABI(Cudnn, cudnnDestroyFilterDescriptor);
SINTER_SAME_ABI(Cudnn, cudnnCreateConvolutionDescriptor);
SINTER_SAME_ABI(Cudnn, cudnnSetConvolution2dDescriptor);
SINTER_SAME_ABI(Cudnn, cudnnSetConvolutionGroupCount);
SINTER_SAME_ABI(Cudnn, cudnnSetConvolutionMathType);
SINTER_SAME_ABI(Cudnn, cudnnDestroyConvolutionDescriptor);
SINTER_SAME_ABI(Cudnn, cudnnGetConvolutionForwardAlgorithm_v7);
SINTER_SAME_ABI(Cudnn, cudnnGetConvolutionBackwardDataAlgorithm_v7);
SINTER_SAME_ABI(Cudnn, cudnnGetConvolutionBackwardFilterAlgorithm_v7);
SINTER_SAME_ABI(Cudnn, cudnnConvolutionForward);
SINTER_SAME_ABI(Cudnn, cudnnConvolutionBackwardData);
SINTER_SAME_ABI(Cudnn, cudnnConvolutionBackwardFilter);
SINTER_SAME_ABI(Cudnn, cudnnCreatePoolingDescriptor);
SINTER_SAME_ABI(Cudnn, cudnnSetPooling2dDescriptor);
SINTER_SAME_ABI(Cudnn, cudnnDestroyPoolingDescriptor);
SINTER_SAME_ABI(Cudnn, cudnnPoolingForward);
SINTER_SAME_ABI(Cudnn, cudnnPoolingBackward);
SINTER_SAME_ABI(Cudnn, cudnnDeriveBNTensorDescriptor);
SINTER_SAME_ABI(Cudnn, cudnnBatchNormalizationForwardTraining);
SINTER_SAME_ABI(Cudnn, cudnnBatchNormalizationForwardInference);
SINTER_SAME_ABI(Cudnn, cudnnBatchNormalizationBackward);
SINTER_SAME_ABI(Cudnn, cudnnScaleTensor);

static_assert(sinter::cuda::CUDA_SUCCESS == ::CUDA_SUCCESS);
static_assert(sinter::cuda::CU_EVENT_DISABLE_TIMING == ::CU_EVENT_DISABLE_TIMING);
static_assert(sinter::cuda::CU_STREAM_NON_BLOCKING == ::CU_STREAM_NON_BLOCKING);
static_assert(sinter::cuda::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL == ::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL);
static_assert(sinter::cuda::CUBLAS_OP_N == ::CUBLAS_OP_N && sinter::cuda::CUBLAS_OP_T == ::CUBLAS_OP_T);
static_assert(sinter::cuda::CUBLAS_DEFAULT_MATH == ::CUBLAS_DEFAULT_MATH);
static_assert(sinter::cuda::CUBLAS_TF32_TENSOR_OP_MATH == ::CUBLAS_TF32_TENSOR_OP_MATH);
static_assert(sizeof(sinter::cuda::CUdeviceptr) == sizeof(::CUdeviceptr));
static_assert(sinter::cuda::CUDNN_DATA_FLOAT == ::CUDNN_DATA_FLOAT && sinter::cuda::CUDNN_TENSOR_NCHW == ::CUDNN_TENSOR_NCHW);
static_assert(sinter::cuda::CUDNN_CROSS_CORRELATION == ::CUDNN_CROSS_CORRELATION && sinter::cuda::CUDNN_FMA_MATH == ::CUDNN_FMA_MATH);
static_assert(sinter::cuda::CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING == ::CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING);
static_assert(sinter::cuda::CUDNN_POOLING_MAX_DETERMINISTIC == ::CUDNN_POOLING_MAX_DETERMINISTIC);
static_assert(sinter::cuda::CUDNN_PROPAGATE_NAN == ::CUDNN_PROPAGATE_NAN && sinter::cuda::CUDNN_BATCHNORM_SPATIAL == ::CUDNN_BATCHNORM_SPATIAL);
// One layout for the three algorithm-perf structs.
template <typename Perf>
constexpr bool samePerf() {
  using Ours = sinter::cuda::cudnnAlgoPerf;
  return sizeof(Perf) == sizeof(Ours) && offsetof(Perf, algo) == offsetof(Ours, algo) && offsetof(Perf, status) == offsetof(Ours, status) &&
         offsetof(Perf, memory) == offsetof(Ours, memory) && sizeof(Perf::algo) == sizeof(int) && sizeof(Perf::status) == sizeof(int);
}
static_assert(samePerf<cudnnConvolutionFwdAlgoPerf_t>());
static_assert(samePerf<cudnnConvolutionBwdDataAlgoPerf_t>());
static_assert(samePerf<cudnnConvolutionBwdFilterAlgoPerf_t>());

}  // namespace

TEST_CASE("cuda: the driver, cuBLAS and cuDNN declarations match the CUDA toolkit's headers") { CHECK(true); }
#else
TEST_CASE("cuda: the driver, cuBLAS and cuDNN declarations match the CUDA toolkit's headers") {
  MESSAGE("skipped: no CUDA toolkit headers (cuda.h, cublas_api.h, cudnn.h) to check runtime/cuda/driver.h against");
}
#endif
