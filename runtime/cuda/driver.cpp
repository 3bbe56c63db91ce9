// dlopen of the NVIDIA libraries (see driver.h).
#include "runtime/cuda/driver.h"

#include <dlfcn.h>
#include <fmt/format.h>

#include <initializer_list>

namespace sinter::cuda {

namespace {

// The first of `names` that dlopen finds (the loader's path, then the CUDA install directories
// the GPU machines use), or an error that lists them.
Expected<void*> open(std::initializer_list<const char*> names) {
  std::string tried, last;
  for (const char* name : names) {
    if (void* h = dlopen(name, RTLD_NOW | RTLD_LOCAL)) return h;
    tried += fmt::format("{}{}", tried.empty() ? "" : ", ", name);
    if (const char* e = dlerror()) last = e;
  }
  return Error(fmt::format("cannot load {} ({})", tried, last));
}

template <typename Fn>
bool bind(void* lib, const char* symbol, Fn& fn, std::string& missing) {
  fn = reinterpret_cast<Fn>(dlsym(lib, symbol));
  if (!fn) missing += fmt::format("{}{}", missing.empty() ? "" : ", ", symbol);
  return fn != nullptr;
}

#define SINTER_BIND(lib, table, name, missing) bind(lib, #name, table.name, missing)

Expected<Driver> loadDriver() {
  Expected<void*> lib = open({"libcuda.so.1", "/usr/local/nvidia/lib64/libcuda.so.1", "/usr/lib/x86_64-linux-gnu/libcuda.so.1"});
  if (!lib) return Error("no NVIDIA GPU driver on this machine: " + lib.error().message());
  Driver d{};
  std::string missing;
  void* h = *lib;
  SINTER_BIND(h, d, cuInit, missing);
  SINTER_BIND(h, d, cuGetErrorString, missing);
  SINTER_BIND(h, d, cuDeviceGetCount, missing);
  SINTER_BIND(h, d, cuDeviceGet, missing);
  SINTER_BIND(h, d, cuDeviceGetName, missing);
  SINTER_BIND(h, d, cuDevicePrimaryCtxRetain, missing);
  SINTER_BIND(h, d, cuDevicePrimaryCtxRelease_v2, missing);
  SINTER_BIND(h, d, cuCtxSetCurrent, missing);
  SINTER_BIND(h, d, cuModuleLoadData, missing);
  SINTER_BIND(h, d, cuModuleUnload, missing);
  SINTER_BIND(h, d, cuModuleGetFunction, missing);
  SINTER_BIND(h, d, cuMemAlloc_v2, missing);
  SINTER_BIND(h, d, cuMemFree_v2, missing);
  SINTER_BIND(h, d, cuMemcpyHtoDAsync_v2, missing);
  SINTER_BIND(h, d, cuMemcpyDtoHAsync_v2, missing);
  SINTER_BIND(h, d, cuMemsetD8Async, missing);
  SINTER_BIND(h, d, cuStreamCreate, missing);
  SINTER_BIND(h, d, cuStreamDestroy_v2, missing);
  SINTER_BIND(h, d, cuStreamSynchronize, missing);
  SINTER_BIND(h, d, cuLaunchKernel, missing);
  SINTER_BIND(h, d, cuStreamBeginCapture_v2, missing);
  SINTER_BIND(h, d, cuStreamEndCapture, missing);
  SINTER_BIND(h, d, cuGraphInstantiateWithFlags, missing);
  SINTER_BIND(h, d, cuGraphLaunch, missing);
  SINTER_BIND(h, d, cuGraphDestroy, missing);
  SINTER_BIND(h, d, cuGraphExecDestroy, missing);
  if (!missing.empty()) return Error(fmt::format("the NVIDIA driver's libcuda.so.1 is too old: it lacks {}", missing));
  if (Status s = d.check(d.cuInit(0), "cuInit"); !s) return Error("no usable NVIDIA GPU: " + s.error().message());
  int count = 0;
  if (Status s = d.check(d.cuDeviceGetCount(&count), "cuDeviceGetCount"); !s) return s.error();
  if (count < 1) return Error("the NVIDIA driver sees no GPU on this machine");
  return d;
}

Expected<Cublas> loadCublas() {
  Expected<void*> lib = open({"libcublas.so.13", "/usr/local/cuda/lib64/libcublas.so.13",
                              "/usr/local/cuda-13.0/targets/x86_64-linux/lib/libcublas.so.13"});
  if (!lib) return Error("cuBLAS (CUDA 13) is not installed: " + lib.error().message());
  Cublas c{};
  std::string missing;
  void* h = *lib;
  SINTER_BIND(h, c, cublasCreate_v2, missing);
  SINTER_BIND(h, c, cublasDestroy_v2, missing);
  SINTER_BIND(h, c, cublasSetStream_v2, missing);
  SINTER_BIND(h, c, cublasSetWorkspace_v2, missing);
  SINTER_BIND(h, c, cublasSetMathMode, missing);
  SINTER_BIND(h, c, cublasSgemm_v2, missing);
  if (!missing.empty()) return Error(fmt::format("libcublas.so.13 lacks {}", missing));
  return c;
}

Expected<Cudnn> loadCudnn() {
  Expected<void*> lib = open({"libcudnn.so.9", "/usr/lib/x86_64-linux-gnu/libcudnn.so.9", "/usr/local/cuda/lib64/libcudnn.so.9"});
  if (!lib) return Error("cuDNN 9 is not installed: " + lib.error().message());
  Cudnn c{};
  std::string missing;
  void* h = *lib;
  SINTER_BIND(h, c, cudnnCreate, missing);
  SINTER_BIND(h, c, cudnnDestroy, missing);
  SINTER_BIND(h, c, cudnnSetStream, missing);
  SINTER_BIND(h, c, cudnnGetErrorString, missing);
  SINTER_BIND(h, c, cudnnCreateTensorDescriptor, missing);
  SINTER_BIND(h, c, cudnnSetTensor4dDescriptor, missing);
  SINTER_BIND(h, c, cudnnDestroyTensorDescriptor, missing);
  SINTER_BIND(h, c, cudnnCreateFilterDescriptor, missing);
  SINTER_BIND(h, c, cudnnSetFilter4dDescriptor, missing);
  SINTER_BIND(h, c, cudnnDestroyFilterDescriptor, missing);
  SINTER_BIND(h, c, cudnnCreateConvolutionDescriptor, missing);
  SINTER_BIND(h, c, cudnnSetConvolution2dDescriptor, missing);
  SINTER_BIND(h, c, cudnnSetConvolutionGroupCount, missing);
  SINTER_BIND(h, c, cudnnSetConvolutionMathType, missing);
  SINTER_BIND(h, c, cudnnDestroyConvolutionDescriptor, missing);
  SINTER_BIND(h, c, cudnnGetConvolutionForwardAlgorithm_v7, missing);
  SINTER_BIND(h, c, cudnnGetConvolutionBackwardDataAlgorithm_v7, missing);
  SINTER_BIND(h, c, cudnnGetConvolutionBackwardFilterAlgorithm_v7, missing);
  SINTER_BIND(h, c, cudnnConvolutionForward, missing);
  SINTER_BIND(h, c, cudnnConvolutionBackwardData, missing);
  SINTER_BIND(h, c, cudnnConvolutionBackwardFilter, missing);
  SINTER_BIND(h, c, cudnnCreatePoolingDescriptor, missing);
  SINTER_BIND(h, c, cudnnSetPooling2dDescriptor, missing);
  SINTER_BIND(h, c, cudnnDestroyPoolingDescriptor, missing);
  SINTER_BIND(h, c, cudnnPoolingForward, missing);
  SINTER_BIND(h, c, cudnnPoolingBackward, missing);
  SINTER_BIND(h, c, cudnnDeriveBNTensorDescriptor, missing);
  SINTER_BIND(h, c, cudnnBatchNormalizationForwardTraining, missing);
  SINTER_BIND(h, c, cudnnBatchNormalizationForwardInference, missing);
  SINTER_BIND(h, c, cudnnBatchNormalizationBackward, missing);
  SINTER_BIND(h, c, cudnnScaleTensor, missing);
  if (!missing.empty()) return Error(fmt::format("libcudnn.so.9 lacks {}", missing));
  return c;
}

#undef SINTER_BIND

}  // namespace

Status Driver::check(CUresult r, const char* call) const {
  if (r == CUDA_SUCCESS) return ok();
  const char* text = nullptr;
  if (cuGetErrorString) cuGetErrorString(r, &text);
  return Error(fmt::format("{} failed: {} (CUresult {})", call, text ? text : "unknown error", r));
}

Status Cublas::check(cublasStatus_t s, const char* call) const {
  if (s == 0) return ok();
  return Error(fmt::format("{} failed (cublasStatus_t {})", call, s));
}

Status Cudnn::check(cudnnStatus_t s, const char* call) const {
  if (s == 0) return ok();
  return Error(fmt::format("{} failed: {} (cudnnStatus_t {})", call, cudnnGetErrorString ? cudnnGetErrorString(s) : "", s));
}

// Each library is loaded once per process (a function-local static is initialized once, thread-safe).
template <typename T, Expected<T> (*Load)()>
Expected<const T*> loadOnce() {
  static const Expected<T> loaded = Load();
  if (!loaded) return loaded.error();
  return &*loaded;
}

Expected<const Driver*> driver() { return loadOnce<Driver, loadDriver>(); }
Expected<const Cublas*> cublas() { return loadOnce<Cublas, loadCublas>(); }
Expected<const Cudnn*> cudnn() { return loadOnce<Cudnn, loadCudnn>(); }

}  // namespace sinter::cuda

