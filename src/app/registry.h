// The application layer's list of backends: the CLI builds the backend
// objects here and hands them to core (RunConfig::backend_objects,
// CollectContext); core never includes this header. Adding a compiled-in
// backend: its folder, one line in registry.cc, its CMake lines. Plugins and
// external commands are added at run time by the application layer
// (AddBackend).
#ifndef LNBENCH_APP_REGISTRY_H_
#define LNBENCH_APP_REGISTRY_H_

#include <memory>
#include <string>
#include <vector>

#include "backends/backend.h"

namespace lnbench {

// Returns every backend: the compiled-in ones in a fixed order (ours first,
// then peers), then those added with AddBackend. The objects live for the
// whole process.
const std::vector<Backend*>& AllBackends();
// Returns the backend called `name`, or nullptr.
Backend* FindBackend(const std::string& name);
// Appends a backend loaded at run time (a plugin, an external command).
// Throws UsageError when its name is already taken.
void AddBackend(std::unique_ptr<Backend> backend);

}  // namespace lnbench

#endif  // LNBENCH_APP_REGISTRY_H_
