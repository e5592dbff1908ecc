// The application layer's list of compiled-in backends: the CLI builds the
// backend objects here and hands them to core (RunConfig::backend_objects,
// CollectContext); core never includes this header. Adding a backend: its
// folder, one line in registry.cc, its CMake lines.
#ifndef LNBENCH_APP_REGISTRY_H_
#define LNBENCH_APP_REGISTRY_H_

#include <memory>
#include <string>
#include <vector>

#include "backends/backend.h"

namespace lnbench {

// Returns every compiled-in backend, in a fixed order (ours first, then peers).
// The objects live for the whole process.
const std::vector<Backend*>& AllBackends();
// Returns the backend called `name`, or nullptr.
Backend* FindBackend(const std::string& name);

}  // namespace lnbench

#endif  // LNBENCH_APP_REGISTRY_H_
