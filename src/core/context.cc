#include "core/context.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <algorithm>
#include <set>

#include "backends/backend.h"
#include "core/cpu_memory.h"
#include "core/thread_pool.h"

namespace lnbench {

namespace {
std::vector<std::string> SplitComma(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t pos = s.find(',', start);
    if (pos == std::string::npos) pos = s.size();
    std::string item = s.substr(start, pos - start);
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    if (!item.empty()) out.push_back(item);
    start = pos + 1;
  }
  return out;
}
}  // namespace

RunContext CollectContext(const std::vector<std::string>& argv,
                          const std::vector<std::string>& backends,
                          const std::vector<Backend*>& known) {
  RunContext c;
  c.argv = argv;
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  c.date = buf;
  char host[256] = {0};
  if (gethostname(host, sizeof host - 1) == 0) c.hostname = host;
  utsname u{};
  if (uname(&u) == 0) c.os = std::string(u.sysname) + " " + u.release + " " + u.machine;
  c.cpu_model = CpuModelName();
  c.hardware_threads = HardwareThreads();
  c.pinned_cpus = ThreadCpus();
  c.llc_bytes = LastLevelCacheBytes();
  c.transparent_hugepages = TransparentHugePagesMode();
  c.machine = c.cpu_model;
  std::set<std::string> seen_devices;
  for (Backend* b : known) {
    const bool used = backends.empty() ||
                      std::find(backends.begin(), backends.end(), b->Name()) != backends.end();
    auto info = b->DeviceInfo();
    if (b->DeviceId() == "cpu") {
      auto it = info.find("hwy_targets");
      if (it != info.end() && c.hwy_targets.empty()) c.hwy_targets = SplitComma(it->second);
      continue;
    }
    if (!used || !b->Available().ok || seen_devices.count(b->DeviceId())) continue;
    seen_devices.insert(b->DeviceId());
    info["id"] = b->DeviceId();
    c.gpus.push_back(info);
    auto name = info.find("name");
    c.machine += " + " + (name != info.end() ? name->second : b->DeviceId());
  }
  return c;
}

}  // namespace lnbench
