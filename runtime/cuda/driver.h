// The NVIDIA libraries the cuda executor calls, loaded at run time with dlopen: the driver API
// (libcuda.so.1), cuBLAS (libcublas.so.13) and cuDNN (libcudnn.so.9, its legacy API, which cuDNN
// 9.0 already had). So a trainer built for cuda starts on any machine,
// links nothing from CUDA, and says clearly that it needs a GPU where there is none; and Sinter
// builds without the CUDA toolkit. The declarations below are the C ABI of those libraries
// (cuda.h, cublas_api.h and cudnn*.h of CUDA 13 and cuDNN 9); tests/cuda/abi_test.cpp checks them against the headers
// where the toolkit is installed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "support/error.h"

namespace sinter::cuda {

// Driver API types (cuda.h).
using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;
using CUcontext = struct CUctx_st*;
using CUmodule = struct CUmod_st*;
using CUfunction = struct CUfunc_st*;
using CUstream = struct CUstream_st*;
using CUgraph = struct CUgraph_st*;
using CUgraphExec = struct CUgraphExec_st*;
using CUevent = struct CUevent_st*;
constexpr CUresult CUDA_SUCCESS = 0;
constexpr int CU_STREAM_NON_BLOCKING = 1;
constexpr int CU_STREAM_CAPTURE_MODE_THREAD_LOCAL = 1;
constexpr int CU_EVENT_DISABLE_TIMING = 2;

// cuBLAS types (cublas_api.h).
using cublasStatus_t = int;
using cublasHandle_t = struct cublasContext*;
constexpr int CUBLAS_OP_N = 0, CUBLAS_OP_T = 1;
constexpr int CUBLAS_DEFAULT_MATH = 0, CUBLAS_TF32_TENSOR_OP_MATH = 3;

// cuDNN types (cudnn_graph.h, cudnn_ops.h, cudnn_cnn.h). The three algorithm-perf structs share
// this layout.
using cudnnStatus_t = int;
using cudnnHandle_t = struct cudnnContext*;
using cudnnTensorDescriptor_t = struct cudnnTensorStruct*;
using cudnnFilterDescriptor_t = struct cudnnFilterStruct*;
using cudnnConvolutionDescriptor_t = struct cudnnConvolutionStruct*;
using cudnnPoolingDescriptor_t = struct cudnnPoolingStruct*;
struct cudnnAlgoPerf {
  int algo;
  cudnnStatus_t status;
  float time;
  size_t memory;
  int determinism;
  int mathType;
  int reserved[3];
};
constexpr int CUDNN_DATA_FLOAT = 0, CUDNN_TENSOR_NCHW = 0, CUDNN_CROSS_CORRELATION = 1, CUDNN_FMA_MATH = 3;
constexpr int CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING = 1, CUDNN_POOLING_MAX_DETERMINISTIC = 3, CUDNN_PROPAGATE_NAN = 1;
constexpr int CUDNN_BATCHNORM_SPATIAL = 1;

struct Driver {
  CUresult (*cuInit)(unsigned flags);
  CUresult (*cuGetErrorString)(CUresult, const char** text);
  CUresult (*cuDeviceGetCount)(int* count);
  CUresult (*cuDeviceGet)(CUdevice* device, int ordinal);
  CUresult (*cuDeviceGetName)(char* name, int length, CUdevice device);
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext* ctx, CUdevice device);
  CUresult (*cuDevicePrimaryCtxRelease_v2)(CUdevice device);
  CUresult (*cuCtxSetCurrent)(CUcontext ctx);
  CUresult (*cuModuleLoadData)(CUmodule* module, const void* image);
  CUresult (*cuModuleUnload)(CUmodule module);
  CUresult (*cuModuleGetFunction)(CUfunction* fn, CUmodule module, const char* name);
  CUresult (*cuMemAlloc_v2)(CUdeviceptr* ptr, size_t bytes);
  CUresult (*cuMemFree_v2)(CUdeviceptr ptr);
  CUresult (*cuMemcpyHtoDAsync_v2)(CUdeviceptr dst, const void* src, size_t bytes, CUstream stream);
  CUresult (*cuMemcpyDtoHAsync_v2)(void* dst, CUdeviceptr src, size_t bytes, CUstream stream);
  CUresult (*cuMemsetD8Async)(CUdeviceptr dst, unsigned char value, size_t bytes, CUstream stream);
  CUresult (*cuStreamCreate)(CUstream* stream, unsigned flags);
  CUresult (*cuStreamDestroy_v2)(CUstream stream);
  CUresult (*cuStreamSynchronize)(CUstream stream);
  CUresult (*cuLaunchKernel)(CUfunction f, unsigned gridX, unsigned gridY, unsigned gridZ, unsigned blockX, unsigned blockY,
                             unsigned blockZ, unsigned sharedBytes, CUstream stream, void** params, void** extra);
  CUresult (*cuStreamBeginCapture_v2)(CUstream stream, int mode);
  CUresult (*cuStreamEndCapture)(CUstream stream, CUgraph* graph);
  CUresult (*cuGraphInstantiateWithFlags)(CUgraphExec* exec, CUgraph graph, unsigned long long flags);
  CUresult (*cuGraphLaunch)(CUgraphExec exec, CUstream stream);
  CUresult (*cuGraphDestroy)(CUgraph graph);
  CUresult (*cuGraphExecDestroy)(CUgraphExec exec);
  CUresult (*cuMemHostAlloc)(void** ptr, size_t bytes, unsigned flags);
  CUresult (*cuMemFreeHost)(void* ptr);
  CUresult (*cuEventCreate)(CUevent* event, unsigned flags);
  CUresult (*cuEventRecord)(CUevent event, CUstream stream);
  CUresult (*cuEventSynchronize)(CUevent event);
  CUresult (*cuEventDestroy_v2)(CUevent event);

  // An Error naming the call and the driver's description of `r`; ok() for CUDA_SUCCESS.
  Status check(CUresult r, const char* call) const;
};

struct Cublas {
  cublasStatus_t (*cublasCreate_v2)(cublasHandle_t* handle);
  cublasStatus_t (*cublasDestroy_v2)(cublasHandle_t handle);
  cublasStatus_t (*cublasSetStream_v2)(cublasHandle_t handle, CUstream stream);
  cublasStatus_t (*cublasSetWorkspace_v2)(cublasHandle_t handle, void* workspace, size_t bytes);
  cublasStatus_t (*cublasSetMathMode)(cublasHandle_t handle, int mode);
  cublasStatus_t (*cublasSgemm_v2)(cublasHandle_t handle, int transa, int transb, int m, int n, int k, const float* alpha,
                                   const float* a, int lda, const float* b, int ldb, const float* beta, float* c, int ldc);

  Status check(cublasStatus_t s, const char* call) const;
};

struct Cudnn {
  cudnnStatus_t (*cudnnCreate)(cudnnHandle_t* handle);
  cudnnStatus_t (*cudnnDestroy)(cudnnHandle_t handle);
  cudnnStatus_t (*cudnnSetStream)(cudnnHandle_t handle, CUstream stream);
  const char* (*cudnnGetErrorString)(cudnnStatus_t status);
  cudnnStatus_t (*cudnnCreateTensorDescriptor)(cudnnTensorDescriptor_t* desc);
  cudnnStatus_t (*cudnnSetTensor4dDescriptor)(cudnnTensorDescriptor_t desc, int format, int dataType, int n, int c, int h, int w);
  cudnnStatus_t (*cudnnDestroyTensorDescriptor)(cudnnTensorDescriptor_t desc);
  cudnnStatus_t (*cudnnCreateFilterDescriptor)(cudnnFilterDescriptor_t* desc);
  cudnnStatus_t (*cudnnSetFilter4dDescriptor)(cudnnFilterDescriptor_t desc, int dataType, int format, int k, int c, int h, int w);
  cudnnStatus_t (*cudnnDestroyFilterDescriptor)(cudnnFilterDescriptor_t desc);
  cudnnStatus_t (*cudnnCreateConvolutionDescriptor)(cudnnConvolutionDescriptor_t* desc);
  cudnnStatus_t (*cudnnSetConvolution2dDescriptor)(cudnnConvolutionDescriptor_t desc, int padH, int padW, int strideH, int strideW,
                                                   int dilationH, int dilationW, int mode, int computeType);
  cudnnStatus_t (*cudnnSetConvolutionGroupCount)(cudnnConvolutionDescriptor_t desc, int groups);
  cudnnStatus_t (*cudnnSetConvolutionMathType)(cudnnConvolutionDescriptor_t desc, int mathType);
  cudnnStatus_t (*cudnnDestroyConvolutionDescriptor)(cudnnConvolutionDescriptor_t desc);
  cudnnStatus_t (*cudnnGetConvolutionForwardAlgorithm_v7)(cudnnHandle_t, cudnnTensorDescriptor_t x, cudnnFilterDescriptor_t w,
                                                          cudnnConvolutionDescriptor_t, cudnnTensorDescriptor_t y, int requested,
                                                          int* returned, cudnnAlgoPerf* perf);
  cudnnStatus_t (*cudnnGetConvolutionBackwardDataAlgorithm_v7)(cudnnHandle_t, cudnnFilterDescriptor_t w, cudnnTensorDescriptor_t dy,
                                                               cudnnConvolutionDescriptor_t, cudnnTensorDescriptor_t dx, int requested,
                                                               int* returned, cudnnAlgoPerf* perf);
  cudnnStatus_t (*cudnnGetConvolutionBackwardFilterAlgorithm_v7)(cudnnHandle_t, cudnnTensorDescriptor_t x, cudnnTensorDescriptor_t dy,
                                                                 cudnnConvolutionDescriptor_t, cudnnFilterDescriptor_t dw,
                                                                 int requested, int* returned, cudnnAlgoPerf* perf);
  cudnnStatus_t (*cudnnConvolutionForward)(cudnnHandle_t, const void* alpha, cudnnTensorDescriptor_t xDesc, const void* x,
                                           cudnnFilterDescriptor_t wDesc, const void* w, cudnnConvolutionDescriptor_t, int algo,
                                           void* workspace, size_t workspaceBytes, const void* beta, cudnnTensorDescriptor_t yDesc,
                                           void* y);
  cudnnStatus_t (*cudnnConvolutionBackwardData)(cudnnHandle_t, const void* alpha, cudnnFilterDescriptor_t wDesc, const void* w,
                                                cudnnTensorDescriptor_t dyDesc, const void* dy, cudnnConvolutionDescriptor_t, int algo,
                                                void* workspace, size_t workspaceBytes, const void* beta, cudnnTensorDescriptor_t dxDesc,
                                                void* dx);
  cudnnStatus_t (*cudnnConvolutionBackwardFilter)(cudnnHandle_t, const void* alpha, cudnnTensorDescriptor_t xDesc, const void* x,
                                                  cudnnTensorDescriptor_t dyDesc, const void* dy, cudnnConvolutionDescriptor_t, int algo,
                                                  void* workspace, size_t workspaceBytes, const void* beta, cudnnFilterDescriptor_t dwDesc,
                                                  void* dw);
  cudnnStatus_t (*cudnnCreatePoolingDescriptor)(cudnnPoolingDescriptor_t* desc);
  cudnnStatus_t (*cudnnSetPooling2dDescriptor)(cudnnPoolingDescriptor_t desc, int mode, int nanOpt, int windowH, int windowW, int padH,
                                               int padW, int strideH, int strideW);
  cudnnStatus_t (*cudnnDestroyPoolingDescriptor)(cudnnPoolingDescriptor_t desc);
  cudnnStatus_t (*cudnnPoolingForward)(cudnnHandle_t, cudnnPoolingDescriptor_t, const void* alpha, cudnnTensorDescriptor_t xDesc,
                                       const void* x, const void* beta, cudnnTensorDescriptor_t yDesc, void* y);
  cudnnStatus_t (*cudnnPoolingBackward)(cudnnHandle_t, cudnnPoolingDescriptor_t, const void* alpha, cudnnTensorDescriptor_t yDesc,
                                        const void* y, cudnnTensorDescriptor_t dyDesc, const void* dy, cudnnTensorDescriptor_t xDesc,
                                        const void* x, const void* beta, cudnnTensorDescriptor_t dxDesc, void* dx);
  cudnnStatus_t (*cudnnDeriveBNTensorDescriptor)(cudnnTensorDescriptor_t derived, cudnnTensorDescriptor_t xDesc, int mode);
  cudnnStatus_t (*cudnnBatchNormalizationForwardTraining)(cudnnHandle_t, int mode, const void* alpha, const void* beta,
                                                          cudnnTensorDescriptor_t xDesc, const void* x, cudnnTensorDescriptor_t yDesc,
                                                          void* y, cudnnTensorDescriptor_t bnDesc, const void* scale, const void* bias,
                                                          double factor, void* runningMean, void* runningVar, double eps,
                                                          void* saveMean, void* saveInvVar);
  cudnnStatus_t (*cudnnBatchNormalizationForwardInference)(cudnnHandle_t, int mode, const void* alpha, const void* beta,
                                                           cudnnTensorDescriptor_t xDesc, const void* x, cudnnTensorDescriptor_t yDesc,
                                                           void* y, cudnnTensorDescriptor_t bnDesc, const void* scale, const void* bias,
                                                           const void* mean, const void* var, double eps);
  cudnnStatus_t (*cudnnBatchNormalizationBackward)(cudnnHandle_t, int mode, const void* alphaData, const void* betaData,
                                                   const void* alphaParam, const void* betaParam, cudnnTensorDescriptor_t xDesc,
                                                   const void* x, cudnnTensorDescriptor_t dyDesc, const void* dy,
                                                   cudnnTensorDescriptor_t dxDesc, void* dx, cudnnTensorDescriptor_t bnDesc,
                                                   const void* scale, void* dScale, void* dBias, double eps, const void* savedMean,
                                                   const void* savedInvVar);
  cudnnStatus_t (*cudnnScaleTensor)(cudnnHandle_t, cudnnTensorDescriptor_t yDesc, void* y, const void* alpha);

  Status check(cudnnStatus_t s, const char* call) const;
};

// The driver, loaded and initialized once (cuInit), with at least one GPU; else an error that says
// what is missing (no libcuda.so.1: no NVIDIA driver; no device).
Expected<const Driver*> driver();
// cuBLAS, loaded once; an error names the library and the directories searched.
Expected<const Cublas*> cublas();
// cuDNN 9, loaded once.
Expected<const Cudnn*> cudnn();

}  // namespace sinter::cuda
