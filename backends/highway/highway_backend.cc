// The Highway backend: SIMD LayerNorm for every target Highway compiles into
// this build, the best one picked at run time ("auto") or one named by the
// user ("avx2"). Rows are split over the shared thread pool by CpuCase.
#include <cmath>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "backends/highway/highway_targets.h"
#include "backends/highway/layernorm_highway.h"
#include "core/cpu_memory.h"
#include "core/errors.h"

namespace lnbench {
namespace {

constexpr const char* kAutoVariant = "auto";

// Returns "a, b, c".
std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// The compiled target a variant name stands for ("" and "auto": the best one).
struct ResolvedTarget {
  Verdict verdict;
  HighwayTarget target;
};

ResolvedTarget ResolveVariant(const std::string& variant) {
  if (variant.empty() || variant == kAutoVariant) return {Verdict::Yes(), HighwayBestTarget()};
  for (const HighwayTarget& t : HighwayCompiledTargets()) {
    if (t.name != variant) continue;
    if (!t.supported)
      return {Verdict::No("this CPU lacks the Highway target " + t.name), t};
    return {Verdict::Yes(), t};
  }
  for (int bit = 0; bit < 63; ++bit) {
    if (HighwayTargetName(int64_t{1} << bit) == variant)
      return {Verdict::No("the Highway target " + variant + " is not compiled into this build"),
              {}};
  }
  std::vector<std::string> names = {kAutoVariant};
  for (const std::string& n : HighwaySupportedTargetNames()) names.push_back(n);
  return {Verdict::No("unknown variant '" + variant + "' (have: " + JoinNames(names) + ")"), {}};
}

// Test hook of scripts/ci-perf-gate's test: LNBENCH_HWY_SLOWDOWN=F (1 to 10)
// makes every case about F times slower by computing that share of its rows
// again (same results, so verification still passes). Returns 1 when unset.
double SlowdownFromEnvironment() {
  const char* env = std::getenv("LNBENCH_HWY_SLOWDOWN");
  if (env == nullptr) return 1;
  char* end = nullptr;
  const double factor = std::strtod(env, &end);
  if (end == env || *end != '\0' || !(factor >= 1 && factor <= 10))
    throw UsageError(std::string("highway: LNBENCH_HWY_SLOWDOWN must be a number from 1 to 10, ") +
                     "got '" + env + "'");
  return factor;
}

class HighwayCase : public CpuCase {
 public:
  HighwayCase(const Problem& problem, const HostInputs& inputs, int threads,
              const HighwayTarget& target, HwyRowsFn rows_fn)
      : CpuCase(problem, inputs, threads, target.name), rows_fn_(rows_fn) {
    args_.x = inputs.x;
    args_.y = y();
    if (problem.affine) {
      args_.gamma = inputs.gamma;
      args_.beta = inputs.beta;
    }
    args_.mean = mean();
    args_.rstd = rstd();
    args_.cols = problem.cols;
    args_.eps = problem.eps;
    // Ordinary stores read each output line before writing it: a third of
    // the traffic when y comes from DRAM anyway. Streaming stores skip that
    // read but also skip the cache, so they are used only when y cannot stay
    // in the last-level cache.
    const uint64_t y_bytes = static_cast<uint64_t>(problem.elements()) * DTypeSize(problem.dtype);
    args_.stream = y_bytes > LastLevelCacheBytes();
    extra_share_ = SlowdownFromEnvironment() - 1;
  }

  std::map<std::string, std::string> Details() const override {
    auto details = CpuCase::Details();
    details["hwy_target"] = ResolvedVariant();
    details["streaming_stores"] = args_.stream ? "yes" : "no";
    if (extra_share_ > 0) details["slowdown"] = std::to_string(1 + extra_share_);
    return details;
  }

 protected:
  void ComputeRows(int64_t begin, int64_t end) override {
    rows_fn_(args_, begin, end);
    if (extra_share_ > 0) {
      const auto again = static_cast<int64_t>(std::llround(extra_share_ * (end - begin)));
      rows_fn_(args_, begin, begin + again);
    }
  }

 private:
  HwyRowsFn rows_fn_;
  double extra_share_ = 0;  // share of the rows computed twice (test hook)
  HwyRowsArgs args_;
};

class HighwayBackend : public CpuBackend {
 public:
  std::string Name() const override { return "highway"; }
  std::string Description() const override {
    return "Google Highway SIMD, every compiled target, best picked at run time; "
           "one read for statistics, one normalize pass";
  }
  std::map<std::string, std::string> DeviceInfo() const override {
    auto info = CpuBackend::DeviceInfo();
    info["hwy_targets"] = JoinNames(HighwaySupportedTargetNames());
    info["hwy_best_target"] = HighwayBestTarget().name;
    return info;
  }
  Verdict Available() const override { return Verdict::Yes(); }

  std::vector<VariantInfo> Variants() const override {
    std::vector<VariantInfo> variants = {
        {kAutoVariant, "the best Highway target this CPU supports (now " +
                           HighwayBestTarget().name + ")"}};
    for (const HighwayTarget& t : HighwayCompiledTargets()) {
      if (t.supported) variants.push_back({t.name, "Highway target " + t.name});
    }
    return variants;
  }

  Verdict Supports(const Problem& problem, const CaseOptions& options) const override {
    if (problem.cols < 1) return Verdict::No("cols must be at least 1");
    return ResolveVariant(options.variant).verdict;
  }

  std::unique_ptr<PreparedCase> Prepare(const Problem& problem, const HostInputs& inputs,
                                        const CaseOptions& options) override {
    const ResolvedTarget resolved = ResolveVariant(options.variant);
    if (!resolved.verdict.ok) throw UsageError("highway: " + resolved.verdict.reason);
    const HwyRowsFn rows_fn = HighwayRowsFunction(problem.dtype, resolved.target.bits);
    LNBENCH_CHECK(rows_fn != nullptr, "no Highway kernel for target " + resolved.target.name);
    return std::make_unique<HighwayCase>(problem, inputs, options.threads, resolved.target,
                                         rows_fn);
  }
};

}  // namespace

std::unique_ptr<Backend> MakeHighwayBackend() { return std::make_unique<HighwayBackend>(); }

}  // namespace lnbench
