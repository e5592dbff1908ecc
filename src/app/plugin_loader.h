// Plugins: shared libraries implementing include/lnbench/plugin.h. The loader
// checks the file and the descriptor (one-line usage errors: "not a plugin",
// "built against ABI N, this lnbench reads M") and turns each backend of the
// descriptor into an ordinary lnbench::Backend (PluginBackend), so nothing
// downstream knows the difference except the guards every foreign kernel runs
// behind: a child or worker process (app/plugin_worker.h) with a timeout per
// command, guard pages and canaries around the tensors, input checksums (and, in the runner, a second
// verification on fresh inputs).
#ifndef LNBENCH_APP_PLUGIN_LOADER_H_
#define LNBENCH_APP_PLUGIN_LOADER_H_

#include <memory>
#include <string>
#include <vector>

#include "app/plugin_worker.h"
#include "backends/backend.h"

namespace lnbench {

struct PluginSettings {
  // Where plugin cases run (--plugin-isolation; --no-isolation is kNone).
  PluginIsolation isolation = PluginIsolation::kAuto;
  // Seconds one command to the child or worker (prepare, one run, one timed
  // batch) may take before it is killed and the case becomes an error.
  double timeout_s = 60;
  // The CUDA device an exec'd worker runs CUDA plugins on.
  int cuda_device = 0;
  // The program started as the exec'd worker: lnbench itself.
  std::string worker_binary = "/proc/self/exe";
};

// Loads the plugin at `path` and returns one backend per backend of its
// descriptor. Throws UsageError for a missing file, a file that is not a
// plugin, another ABI version or a malformed descriptor.
std::vector<std::unique_ptr<Backend>> LoadPlugin(const std::string& path, const PluginSettings& settings);

// Returns the plugin files to load: those of LNBENCH_PLUGIN_PATH (a
// colon-separated list of files, or folders whose *.so files are taken in
// name order), then `cli_paths` (--plugin, in order).
std::vector<std::string> PluginPaths(const std::vector<std::string>& cli_paths);

// Loads every plugin of PluginPaths(cli_paths) into the registry, once per
// process. Throws UsageError (see LoadPlugin, and for a backend name already taken).
void RegisterPlugins(const std::vector<std::string>& cli_paths, const PluginSettings& settings);

}  // namespace lnbench

#endif  // LNBENCH_APP_PLUGIN_LOADER_H_
