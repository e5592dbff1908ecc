// External commands: a kernel in any language, run as a program with the
// protocol of docs/plugins.md. For each case lnbench writes the inputs as .npy
// and a problem.json into a private folder, runs the command (`action` "run":
// write the outputs; "time": also write the per-run seconds it measured), reads
// the outputs back and verifies them like any backend's. The backend is
// marked externally timed in the report.
#ifndef LNBENCH_APP_EXTERNAL_COMMAND_H_
#define LNBENCH_APP_EXTERNAL_COMMAND_H_

#include <memory>
#include <string>

#include "backends/backend.h"

namespace lnbench {

// The version of the protocol (problem.json "protocol"); documented in docs/plugins.md.
inline constexpr int kExternalProtocolVersion = 1;

// Makes the backend for `spec` ("NAME=COMMAND"): runs COMMAND once with
// action "describe" to learn its description, device, variants and supported
// problems. `timeout_s` bounds every run of the command. Throws UsageError for
// a bad spec or a command that cannot describe itself.
std::unique_ptr<Backend> MakeExternalBackend(const std::string& spec, double timeout_s);

}  // namespace lnbench

#endif  // LNBENCH_APP_EXTERNAL_COMMAND_H_
