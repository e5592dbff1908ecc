#include "backends/cudnn/cudnn_api.h"

#include <dlfcn.h>
#include <link.h>

#include <cstdlib>
#include <mutex>

#include "core/errors.h"

namespace lnbench {
namespace {

// Resolves `name` into `*fn`; returns false (and sets api->error) when missing.
template <typename Fn>
bool Resolve(void* lib, const char* name, Fn* fn, CudnnApi* api, bool required = true) {
  dlerror();
  void* sym = dlsym(lib, name);
  if (sym == nullptr) {
    if (required) {
      const char* why = dlerror();
      api->error = std::string(api->path) + " has no " + name + (why ? std::string(": ") + why : "");
    }
    return !required;
  }
  *fn = reinterpret_cast<Fn>(sym);
  return true;
}

CudnnApi Load() {
  CudnnApi api;
  const char* env = std::getenv("LNBENCH_CUDNN_LIBRARY");
  const std::string name = (env != nullptr && env[0] != '\0') ? env : "libcudnn.so.9";
  api.path = name;
  // RTLD_GLOBAL: cuDNN's shim loads its sub-libraries (graph, engines), which
  // resolve symbols against it.
  void* lib = dlopen(name.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (lib == nullptr) {
    const char* why = dlerror();
    api.error = name + " not found (" + (why ? why : "dlopen failed") +
                "); put its folder on LD_LIBRARY_PATH (pip's cuDNN: <site-packages>/nvidia/cudnn/lib)"
                " or set LNBENCH_CUDNN_LIBRARY";
    return api;
  }
  link_map* map = nullptr;
  if (dlinfo(lib, RTLD_DI_LINKMAP, &map) == 0 && map != nullptr && map->l_name != nullptr &&
      map->l_name[0] != '\0')
    api.path = map->l_name;
  // The library stays loaded for the life of the process: cuDNN keeps global
  // state that must outlive every handle.
  const bool all = Resolve(lib, "cudnnGetVersion", &api.GetVersion, &api) &&
                   Resolve(lib, "cudnnGetCudartVersion", &api.GetCudartVersion, &api) &&
                   Resolve(lib, "cudnnGetErrorString", &api.GetErrorString, &api) &&
                   Resolve(lib, "cudnnGetLastErrorString", &api.GetLastErrorString, &api,
                           /*required=*/false) &&
                   Resolve(lib, "cudnnCreate", &api.Create, &api) &&
                   Resolve(lib, "cudnnDestroy", &api.Destroy, &api) &&
                   Resolve(lib, "cudnnSetStream", &api.SetStream, &api) &&
                   Resolve(lib, "cudnnBackendCreateDescriptor", &api.BackendCreateDescriptor, &api) &&
                   Resolve(lib, "cudnnBackendDestroyDescriptor", &api.BackendDestroyDescriptor,
                           &api) &&
                   Resolve(lib, "cudnnBackendSetAttribute", &api.BackendSetAttribute, &api) &&
                   Resolve(lib, "cudnnBackendGetAttribute", &api.BackendGetAttribute, &api) &&
                   Resolve(lib, "cudnnBackendFinalize", &api.BackendFinalize, &api) &&
                   Resolve(lib, "cudnnBackendExecute", &api.BackendExecute, &api);
  if (!all) return api;
  const size_t version = api.GetVersion();
  if (version / 10000 != 9)
    api.error = api.path + " is cuDNN " + CudnnVersionText(version) + ", lnbench needs cuDNN 9";
  return api;
}

}  // namespace

const CudnnApi& Cudnn() {
  static const CudnnApi api = Load();
  return api;
}

std::string CudnnVersionText(size_t version) {
  // cuDNN 9 encodes major*10000 + minor*100 + patch.
  return std::to_string(version / 10000) + "." + std::to_string(version / 100 % 100) + "." +
         std::to_string(version % 100);
}

void ThrowCudnnError(cudnnStatus_t status, const char* call, const char* file, int line) {
  const CudnnApi& api = Cudnn();
  std::string msg = std::string(file) + ":" + std::to_string(line) + ": " + call + " failed: " +
                    "cudnnStatus_t " + std::to_string(static_cast<int>(status));
  if (api.GetErrorString != nullptr) msg += std::string(" (") + api.GetErrorString(status) + ")";
  if (api.GetLastErrorString != nullptr) {
    // cuDNN 9 keeps a per-thread message with the detail of the last failure.
    char detail[1024] = {0};
    api.GetLastErrorString(detail, sizeof(detail));
    if (detail[0] != '\0') msg += std::string(": ") + detail;
  }
  throw RuntimeError(msg);
}

}  // namespace lnbench
