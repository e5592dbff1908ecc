// Facts about the machine and the build, gathered once per run for reports.
#ifndef LNBENCH_CORE_CONTEXT_H_
#define LNBENCH_CORE_CONTEXT_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace lnbench {

class Backend;

struct RunContext {
  std::string date;  // UTC ISO 8601
  std::vector<std::string> argv;
  std::string hostname;
  std::string machine;  // CPU model, plus GPU names when a GPU backend is available
  std::string os;
  std::string cpu_model;
  int hardware_threads = 1;
  uint64_t llc_bytes = 0;
  std::string transparent_hugepages;  // TransparentHugePagesMode(): "" when unknown
  std::vector<int> pinned_cpus;       // ThreadCpus(): --cpus, empty when not pinned
  std::vector<std::string> hwy_targets;
  std::vector<std::map<std::string, std::string>> gpus;  // one per GPU device, with "id"
};

// Gathers the context; `known` are the application's backends, `backends`
// the names used in this run (GPU facts come from available GPU backends
// among them, or any available GPU backend when `backends` is empty).
RunContext CollectContext(const std::vector<std::string>& argv,
                          const std::vector<std::string>& backends,
                          const std::vector<Backend*>& known);

}  // namespace lnbench

#endif  // LNBENCH_CORE_CONTEXT_H_
