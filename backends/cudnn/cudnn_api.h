// cuDNN 9 loaded at run time with dlopen, never linked: the machine that runs
// lnbench may have cuDNN only inside Python's site-packages
// (nvidia/cudnn/lib), reachable through LD_LIBRARY_PATH, or not at all; a
// missing cuDNN makes the cudnn backend unavailable, not lnbench unusable.
//
// LNBENCH_CUDNN_CALL(api.Fn(...)) checks every cudnnStatus_t and throws
// RuntimeError with the file, line, the call's text, the status and cuDNN's
// own messages.
#ifndef LNBENCH_BACKENDS_CUDNN_CUDNN_API_H_
#define LNBENCH_BACKENDS_CUDNN_CUDNN_API_H_

#include <cudnn_graph.h>

#include <string>

namespace lnbench {

// The cuDNN entry points lnbench uses, resolved from libcudnn.so.9.
struct CudnnApi {
  decltype(&::cudnnGetVersion) GetVersion = nullptr;
  decltype(&::cudnnGetCudartVersion) GetCudartVersion = nullptr;
  decltype(&::cudnnGetErrorString) GetErrorString = nullptr;
  decltype(&::cudnnGetLastErrorString) GetLastErrorString = nullptr;  // may stay null
  decltype(&::cudnnCreate) Create = nullptr;
  decltype(&::cudnnDestroy) Destroy = nullptr;
  decltype(&::cudnnSetStream) SetStream = nullptr;
  decltype(&::cudnnBackendCreateDescriptor) BackendCreateDescriptor = nullptr;
  decltype(&::cudnnBackendDestroyDescriptor) BackendDestroyDescriptor = nullptr;
  decltype(&::cudnnBackendSetAttribute) BackendSetAttribute = nullptr;
  decltype(&::cudnnBackendGetAttribute) BackendGetAttribute = nullptr;
  decltype(&::cudnnBackendFinalize) BackendFinalize = nullptr;
  decltype(&::cudnnBackendExecute) BackendExecute = nullptr;

  std::string path;   // what was loaded (dlinfo's path, or the name asked for)
  std::string error;  // empty when loaded; else why not ("libcudnn.so.9 not found: ...")
  bool ok() const { return error.empty(); }
};

// Returns the process-wide table, loading the library on first use. The
// library is LNBENCH_CUDNN_LIBRARY when that is set, else libcudnn.so.9 found
// by the dynamic loader (LD_LIBRARY_PATH, the rpath, ldconfig's cache).
const CudnnApi& Cudnn();

// Returns "9.1.2" style text for a cudnnGetVersion() value.
std::string CudnnVersionText(size_t version);

// Throws RuntimeError for a failed call; never returns.
[[noreturn]] void ThrowCudnnError(cudnnStatus_t status, const char* call, const char* file,
                                  int line);

}  // namespace lnbench

#define LNBENCH_CUDNN_CALL(call)                                                   \
  do {                                                                             \
    const cudnnStatus_t lnbench_cudnn_status_ = (call);                            \
    if (lnbench_cudnn_status_ != CUDNN_STATUS_SUCCESS)                             \
      ::lnbench::ThrowCudnnError(lnbench_cudnn_status_, #call, __FILE__, __LINE__); \
  } while (0)

#endif  // LNBENCH_BACKENDS_CUDNN_CUDNN_API_H_
