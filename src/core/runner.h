// The case runner: expands a configuration into cases (problem x backend x
// variant x threads), then for each problem: fill inputs from the seed,
// compute the reference once, and for each case prepare, poison, run once,
// check every output, and only if that passed, time it against the copy
// ceiling measured in the same run on the same device.
#ifndef LNBENCH_CORE_RUNNER_H_
#define LNBENCH_CORE_RUNNER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backends/backend.h"
#include "core/input_files.h"
#include "core/metrics.h"
#include "core/problem.h"
#include "core/shapes.h"
#include "core/timing.h"

namespace lnbench {

// One combination of the affine and stats flags.
struct OutputMode {
  bool affine = true;
  bool stats = false;
};

// How often, and when, the copy ceiling a case is divided by is measured.
//   kShared   once per device, thread count and size bucket, the first time
//             the run needs it; every later case of the bucket shares it.
//   kPerCase  again right before every timed case. On a machine whose
//             bandwidth drifts over minutes (a shared VM), each fraction is
//             then taken against the bandwidth of its own moment.
//   kPaired   during every timed case: before each of the case's samples,
//             one copy of each method (Backend::PrepareCopySampler), so each
//             sample has copies of its own moment. The case's fraction is the
//             median over its samples of the sample's bandwidth / that of the
//             copy timed just before it, by the method whose copies were
//             faster in the median: drift within the case cancels too. A backend
//             without a sampler (GPUs, external commands) falls back to
//             kPerCase.
enum class CeilingMode { kShared, kPerCase, kPaired };
// Returns "shared", "per_case" or "paired" (the report's config.ceiling).
std::string_view CeilingModeName(CeilingMode mode);

struct RunConfig {
  std::string command = "run";            // "run" or "verify": shapes the repro line
  std::vector<std::string> backends;      // names, in order
  bool skip_unavailable = true;           // "all": unavailable backends become skipped cases
  std::vector<std::string> variants;      // requested variants; empty = each backend's default; "all" = every one
  std::vector<Shape> shapes;              // rows resolved
  std::vector<Norm> norms = {Norm::kLayerNorm};          // --op
  std::vector<Direction> dirs = {Direction::kForward};   // --dir
  std::vector<DType> dtypes = {DType::kF32};
  std::vector<Distribution> dists = {Distribution::kNormal};
  std::vector<OutputMode> modes = {OutputMode{}};
  double eps = 1e-5;
  uint64_t seed = 1;
  std::vector<int> threads = {-1};         // CPU thread counts (0 = all hardware threads;
                                           // kAutoThreads = -1: chosen per problem, DefaultThreads)
  // --cpus: the CPUs threads are pinned to (SetThreadCpus: thread i on
  // cpus[i]); empty: not pinned.
  std::vector<int> cpus;
  bool measure = true;                     // false: verify only
  TimingConfig timing;
  int ceiling_min_samples = 10;
  double ceiling_budget_s = 0.3;
  // How the copy ceiling is measured (--ceiling): CeilingMode.
  CeilingMode ceiling = CeilingMode::kShared;
  // User data instead of generated inputs (--input/--gamma/--beta, and
  // --dy for the backward pass).
  std::string input_path, gamma_path, beta_path, dy_path;
  std::string dump_dir;                    // write inputs, reference and outputs as .npy
  // Also run every selected backend's CoverageCases() (each dtype,
  // distribution and mode of this configuration): verify's default sweep.
  bool coverage = false;
  // --tune KEY=VALUE: CaseOptions::tuning of every case (merged under a
  // coverage case's own tuning).
  std::map<std::string, std::string> tuning;
  // --device N: the GPU the GPU backends use (core/gpu_device.h), for the report.
  int gpu_device = 0;
  // The backends the names in `backends` are looked up in: the application
  // layer (src/app) hands over the registry's, tests their own (planted-bug
  // backends run through the runner). Core never includes the registry.
  std::vector<Backend*> backend_objects;
  // When set, only the planned cases it accepts run (--filter REGEX on case
  // ids); it sees the case's identity (backend, variants, problem, threads,
  // tuning), nothing measured.
  std::function<bool(const CaseResult&)> select;
};

enum class CaseStatus { kPassed, kFailed, kSkipped, kUnsupported, kError };
std::string_view CaseStatusName(CaseStatus status);

struct Throughput {
  double bandwidth_gbps = 0;
  double elements_per_s = 0;
  double ceiling_gbps = 0;
  double fraction_of_ceiling = 0;
  std::string ceiling_method;
  // Paired ceilings (CeilingMode::kPaired): how many samples had their own
  // copies, and the 10th and 90th percentiles of the samples' fractions
  // (fraction_of_ceiling is their median). pairs == 0: not paired.
  int pairs = 0;
  double fraction_p10 = 0, fraction_p90 = 0;
};

struct CaseResult {
  std::string backend;
  std::string variant;            // what ran
  std::string requested_variant;  // "" = default
  bool peer = false;
  BackendOrigin origin;           // plugin / external command; kind "" when built in
  std::string device;
  int threads = 0;                // CPU threads used; 0 for GPUs
  Problem problem;
  std::string input_file;
  std::string input_dy_file;  // with input_file, a backward case: the --dy file, if any
  std::optional<InputFileCounts> input_counts;  // with input_file: non-finite rows, overflows
  CaseStatus status = CaseStatus::kSkipped;
  std::string reason;
  std::optional<Accuracy> accuracy;
  std::optional<TimingResult> timing;
  BytesModel bytes;
  std::optional<Throughput> throughput;
  std::map<std::string, std::string> details;
  std::map<std::string, std::string> tuning;  // CaseOptions::tuning it ran with
  std::string coverage;  // the code path a backend's coverage case is for; "" otherwise
  std::string repro;
};

struct CeilingResult {
  std::string device;
  int threads = 0;
  CeilingMeasurement measurement;
  CeilingStats stats;
  bool paired = false;  // timed between one case's samples (CeilingMode::kPaired)
};

struct RunResult {
  std::vector<CaseResult> cases;
  std::vector<CeilingResult> ceilings;
  // Returns the process exit code the results call for: 1 if any case failed
  // verification, 3 if any case hit a runtime error (and none failed), else 0.
  int ExitCode() const;
};

// Called after each case: (cases done, cases in all, the case just done).
using ProgressFn = std::function<void(size_t, size_t, const CaseResult&)>;
// Called before each case starts: (cases done, cases in all, what starts).
using StartFn = std::function<void(size_t, size_t, const std::string&)>;

// Checks the configuration against config.backend_objects and the machine before
// anything runs: unknown or (explicitly named) unavailable backends, unknown
// variants, problems (generated, or shaped by the --input header) whose peak
// host memory exceeds what this process may use (HostMemoryLimit: available
// memory, ulimit -v, cgroup limit). Throws UsageError.
void ValidateRunConfig(const RunConfig& config);

// Returns the most host memory the run of one problem holds at once: inputs,
// outputs, the float64 reference, one case's buffers, the copy-ceiling
// buffers, the cold-cache flush buffer, --input values and --dump encoding.
uint64_t PeakHostBytes(const Problem& problem, const RunConfig& config, bool from_file);

// Runs every case. Throws UsageError / RuntimeError only for problems that
// stop the whole run (bad input file, out of host memory); a backend's
// runtime failure becomes a case with status kError.
RunResult ExecuteRun(const RunConfig& config, const StartFn& on_start, const ProgressFn& on_done);

// A case of the plan, not run: its identity (backend, variants, device,
// threads, problem, tuning, coverage path) and repro line; status and reason
// say when it will be skipped (backend unavailable) or unsupported.
struct PlannedCaseInfo {
  CaseResult identity;
  bool runs = true;  // false: skipped or unsupported, with the reason in identity
};

// Returns the cases ExecuteRun would run, in its order (after config.select),
// without generating inputs or touching a kernel; with --input only the
// file's header is read. Throws UsageError as ValidateRunConfig does.
std::vector<PlannedCaseInfo> PlanCases(const RunConfig& config);

// Returns the shortest lnbench command that reruns exactly this case.
std::string ReproLine(const RunConfig& config, const CaseResult& result);

}  // namespace lnbench

#endif  // LNBENCH_CORE_RUNNER_H_
