#include "app/registry.h"

#include "core/errors.h"

namespace lnbench {

// Each backend defines its factory in its own folder.
std::unique_ptr<Backend> MakeScalarBackend();
#ifdef LNBENCH_HAVE_HIGHWAY
std::unique_ptr<Backend> MakeHighwayBackend();
#endif
#ifdef LNBENCH_HAVE_CUDA
std::unique_ptr<Backend> MakeCudaBackend();
#endif
#ifdef LNBENCH_HAVE_ONEDNN
std::unique_ptr<Backend> MakeOneDnnBackend();
#endif
#ifdef LNBENCH_HAVE_CUDNN
std::unique_ptr<Backend> MakeCudnnBackend();
#endif

namespace {

std::vector<std::unique_ptr<Backend>>& Owned() {
  static std::vector<std::unique_ptr<Backend>> owned = [] {
    std::vector<std::unique_ptr<Backend>> v;
    v.push_back(MakeScalarBackend());
#ifdef LNBENCH_HAVE_HIGHWAY
    v.push_back(MakeHighwayBackend());
#endif
#ifdef LNBENCH_HAVE_CUDA
    v.push_back(MakeCudaBackend());
#endif
#ifdef LNBENCH_HAVE_ONEDNN
    v.push_back(MakeOneDnnBackend());
#endif
#ifdef LNBENCH_HAVE_CUDNN
    v.push_back(MakeCudnnBackend());
#endif
    return v;
  }();
  return owned;
}

std::vector<Backend*>& All() {
  static std::vector<Backend*> all = [] {
    std::vector<Backend*> v;
    for (const auto& b : Owned()) v.push_back(b.get());
    return v;
  }();
  return all;
}

}  // namespace

const std::vector<Backend*>& AllBackends() { return All(); }

Backend* FindBackend(const std::string& name) {
  for (Backend* b : AllBackends())
    if (b->Name() == name) return b;
  return nullptr;
}

void AddBackend(std::unique_ptr<Backend> backend) {
  if (const Backend* holder = FindBackend(backend->Name()); holder != nullptr) {
    // Names the one that holds the name, and the newcomer.
    const auto from = [](const Backend& b) {
      return b.Origin().path.empty() ? std::string("built in") : b.Origin().path;
    };
    throw UsageError("backend name '" + backend->Name() + "' of " + from(*backend) + " is already taken (" +
                     from(*holder) + "): rename the plugin's backend, or load it once");
  }
  All().push_back(backend.get());
  Owned().push_back(std::move(backend));
}

}  // namespace lnbench
