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
void bind(void* lib, const char* symbol, Fn& fn, std::string& missing) {
  fn = reinterpret_cast<Fn>(dlsym(lib, symbol));
  if (!fn) missing += fmt::format("{}{}", missing.empty() ? "" : ", ", symbol);
}

// Each library's functions, every field of its table by name.
void bindDriver(void* lib, Driver& t, std::string& missing) {
  bind(lib, "cuInit", t.cuInit, missing);
  bind(lib, "cuGetErrorString", t.cuGetErrorString, missing);
  bind(lib, "cuDeviceGetCount", t.cuDeviceGetCount, missing);
  bind(lib, "cuDeviceGet", t.cuDeviceGet, missing);
  bind(lib, "cuDeviceGetName", t.cuDeviceGetName, missing);
  bind(lib, "cuDevicePrimaryCtxRetain", t.cuDevicePrimaryCtxRetain, missing);
  bind(lib, "cuDevicePrimaryCtxRelease_v2", t.cuDevicePrimaryCtxRelease_v2, missing);
  bind(lib, "cuCtxSetCurrent", t.cuCtxSetCurrent, missing);
  bind(lib, "cuModuleLoadData", t.cuModuleLoadData, missing);
  bind(lib, "cuModuleUnload", t.cuModuleUnload, missing);
  bind(lib, "cuModuleGetFunction", t.cuModuleGetFunction, missing);
  bind(lib, "cuMemAlloc_v2", t.cuMemAlloc_v2, missing);
  bind(lib, "cuMemFree_v2", t.cuMemFree_v2, missing);
  bind(lib, "cuMemcpyHtoDAsync_v2", t.cuMemcpyHtoDAsync_v2, missing);
  bind(lib, "cuMemcpyDtoHAsync_v2", t.cuMemcpyDtoHAsync_v2, missing);
  bind(lib, "cuMemsetD8Async", t.cuMemsetD8Async, missing);
  bind(lib, "cuStreamCreate", t.cuStreamCreate, missing);
  bind(lib, "cuStreamDestroy_v2", t.cuStreamDestroy_v2, missing);
  bind(lib, "cuStreamSynchronize", t.cuStreamSynchronize, missing);
  bind(lib, "cuLaunchKernel", t.cuLaunchKernel, missing);
  bind(lib, "cuStreamBeginCapture_v2", t.cuStreamBeginCapture_v2, missing);
  bind(lib, "cuStreamEndCapture", t.cuStreamEndCapture, missing);
  bind(lib, "cuGraphInstantiateWithFlags", t.cuGraphInstantiateWithFlags, missing);
  bind(lib, "cuGraphLaunch", t.cuGraphLaunch, missing);
  bind(lib, "cuGraphDestroy", t.cuGraphDestroy, missing);
  bind(lib, "cuGraphExecDestroy", t.cuGraphExecDestroy, missing);
  bind(lib, "cuMemHostAlloc", t.cuMemHostAlloc, missing);
  bind(lib, "cuMemFreeHost", t.cuMemFreeHost, missing);
  bind(lib, "cuEventCreate", t.cuEventCreate, missing);
  bind(lib, "cuEventRecord", t.cuEventRecord, missing);
  bind(lib, "cuEventSynchronize", t.cuEventSynchronize, missing);
  bind(lib, "cuEventDestroy_v2", t.cuEventDestroy_v2, missing);
}

void bindCublas(void* lib, Cublas& t, std::string& missing) {
  bind(lib, "cublasCreate_v2", t.cublasCreate_v2, missing);
  bind(lib, "cublasDestroy_v2", t.cublasDestroy_v2, missing);
  bind(lib, "cublasSetStream_v2", t.cublasSetStream_v2, missing);
  bind(lib, "cublasSetWorkspace_v2", t.cublasSetWorkspace_v2, missing);
  bind(lib, "cublasSetMathMode", t.cublasSetMathMode, missing);
  bind(lib, "cublasSgemm_v2", t.cublasSgemm_v2, missing);
}

void bindCudnn(void* lib, Cudnn& t, std::string& missing) {
  bind(lib, "cudnnCreate", t.cudnnCreate, missing);
  bind(lib, "cudnnDestroy", t.cudnnDestroy, missing);
  bind(lib, "cudnnSetStream", t.cudnnSetStream, missing);
  bind(lib, "cudnnGetErrorString", t.cudnnGetErrorString, missing);
  bind(lib, "cudnnCreateTensorDescriptor", t.cudnnCreateTensorDescriptor, missing);
  bind(lib, "cudnnSetTensor4dDescriptor", t.cudnnSetTensor4dDescriptor, missing);
  bind(lib, "cudnnDestroyTensorDescriptor", t.cudnnDestroyTensorDescriptor, missing);
  bind(lib, "cudnnCreateFilterDescriptor", t.cudnnCreateFilterDescriptor, missing);
  bind(lib, "cudnnSetFilter4dDescriptor", t.cudnnSetFilter4dDescriptor, missing);
  bind(lib, "cudnnDestroyFilterDescriptor", t.cudnnDestroyFilterDescriptor, missing);
  bind(lib, "cudnnCreateConvolutionDescriptor", t.cudnnCreateConvolutionDescriptor, missing);
  bind(lib, "cudnnSetConvolution2dDescriptor", t.cudnnSetConvolution2dDescriptor, missing);
  bind(lib, "cudnnSetConvolutionGroupCount", t.cudnnSetConvolutionGroupCount, missing);
  bind(lib, "cudnnSetConvolutionMathType", t.cudnnSetConvolutionMathType, missing);
  bind(lib, "cudnnDestroyConvolutionDescriptor", t.cudnnDestroyConvolutionDescriptor, missing);
  bind(lib, "cudnnGetConvolutionForwardAlgorithm_v7", t.cudnnGetConvolutionForwardAlgorithm_v7, missing);
  bind(lib, "cudnnGetConvolutionBackwardDataAlgorithm_v7", t.cudnnGetConvolutionBackwardDataAlgorithm_v7, missing);
  bind(lib, "cudnnGetConvolutionBackwardFilterAlgorithm_v7", t.cudnnGetConvolutionBackwardFilterAlgorithm_v7, missing);
  bind(lib, "cudnnConvolutionForward", t.cudnnConvolutionForward, missing);
  bind(lib, "cudnnConvolutionBackwardData", t.cudnnConvolutionBackwardData, missing);
  bind(lib, "cudnnConvolutionBackwardFilter", t.cudnnConvolutionBackwardFilter, missing);
  bind(lib, "cudnnCreatePoolingDescriptor", t.cudnnCreatePoolingDescriptor, missing);
  bind(lib, "cudnnSetPooling2dDescriptor", t.cudnnSetPooling2dDescriptor, missing);
  bind(lib, "cudnnDestroyPoolingDescriptor", t.cudnnDestroyPoolingDescriptor, missing);
  bind(lib, "cudnnPoolingForward", t.cudnnPoolingForward, missing);
  bind(lib, "cudnnPoolingBackward", t.cudnnPoolingBackward, missing);
  bind(lib, "cudnnDeriveBNTensorDescriptor", t.cudnnDeriveBNTensorDescriptor, missing);
  bind(lib, "cudnnBatchNormalizationForwardTraining", t.cudnnBatchNormalizationForwardTraining, missing);
  bind(lib, "cudnnBatchNormalizationForwardInference", t.cudnnBatchNormalizationForwardInference, missing);
  bind(lib, "cudnnBatchNormalizationBackward", t.cudnnBatchNormalizationBackward, missing);
  bind(lib, "cudnnScaleTensor", t.cudnnScaleTensor, missing);
}

// The table of the first of `names` that loads, with every function bound; `library` names it in
// errors.
template <typename T>
Expected<T> load(std::initializer_list<const char*> names, const char* library, void (*bindAll)(void*, T&, std::string&)) {
  Expected<void*> lib = open(names);
  if (!lib) return Error(fmt::format("{} is not installed: {}", library, lib.error().message()));
  T table{};
  std::string missing;
  bindAll(*lib, table, missing);
  if (!missing.empty()) return Error(fmt::format("{} is too old: it lacks {}", library, missing));
  return table;
}

Expected<Driver> loadDriver() {
  Expected<Driver> d = load<Driver>({"libcuda.so.1", "/usr/local/nvidia/lib64/libcuda.so.1", "/usr/lib/x86_64-linux-gnu/libcuda.so.1"},
                                    "the NVIDIA GPU driver (libcuda.so.1)", bindDriver);
  if (!d) return d.error();
  if (Status s = d->check(d->cuInit(0), "cuInit"); !s) return Error("no usable NVIDIA GPU: " + s.error().message());
  int count = 0;
  if (Status s = d->check(d->cuDeviceGetCount(&count), "cuDeviceGetCount"); !s) return s.error();
  if (count < 1) return Error("the NVIDIA driver sees no GPU on this machine");
  return d;
}

Expected<Cublas> loadCublas() {
  return load<Cublas>({"libcublas.so.13", "/usr/local/cuda/lib64/libcublas.so.13", "/usr/local/cuda-13.0/targets/x86_64-linux/lib/libcublas.so.13"},
                      "cuBLAS 13 (libcublas.so.13)", bindCublas);
}

Expected<Cudnn> loadCudnn() {
  return load<Cudnn>({"libcudnn.so.9", "/usr/lib/x86_64-linux-gnu/libcudnn.so.9", "/usr/local/cuda/lib64/libcudnn.so.9"},
                     "cuDNN 9 (libcudnn.so.9)", bindCudnn);
}

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

