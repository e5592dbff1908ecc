// The Highway backend: SIMD LayerNorm for every target Highway compiles into
// this build, the best one picked at run time ("auto") or one named by the
// user ("avx2"). Rows are split over the shared thread pool by CpuCase.
#include <cmath>
#include <cstdlib>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include <fmt/format.h>

#include "backends/cpu/cpu_backend.h"
#include "backends/highway/highway_targets.h"
#include "backends/highway/layernorm_highway.h"
#include "backends/highway/norm_bwd_highway.h"
#include "backends/highway/rmsnorm_highway.h"
#include "core/cpu_memory.h"
#include "core/errors.h"
#include "core/op.h"
#include "core/thread_pool.h"

namespace lnbench {
namespace {

constexpr const char* kAutoVariant = "auto";
// Tuning key: y bytes above which streaming stores are used (default: the
// last-level cache size). 0 streams every problem whose rows are long enough.
constexpr const char* kStreamMinBytes = "stream_min_bytes";

// Tuning key: how the forward of both norms writes streamed 16-bit rows of
// 2-32 KiB with gamma (ChunkedRowGroup in norm_rows-inl.h): "chunked" (groups
// of eight rows in column chunks) or "interleaved" (groups of four rows on
// cache lines, vector by vector: InterleavedGroupsWithTag). The same bits
// either way; the default follows the CPU (InterleavedGroupsByDefault).
constexpr const char* kGroups16 = "groups16";

// Tuning key: how the backward computes affine rows that go in groups
// (BwdGroupsRows in norm_bwd_highway.h): "fused" (each row's sums alone,
// then four rows' dx and dgamma/dbeta terms in one pass; rows of a multiple
// of 32 columns on cache lines, others take the shared sums) or
// "shared_sums" (the rows' sums side by side, adding the terms, then their
// dx). The same bits either way; by default fused where dx is streamed
// (BwdFusedGroups).
constexpr const char* kBwdGroups = "bwd_groups";

// Tuning key: how the forward of both norms goes over its rows: "single"
// (one row at a time, in order: no batches, row groups or chunked groups) or
// "grouped" (batches and groups where the kernels' rules take them). The
// same bits either way; by default single rows where SingleRowsByDefault
// says so, else grouped.
constexpr const char* kRowPath = "row_path";

// Tuning key: how both norms, both directions, split their rows over threads:
// "static" (one contiguous share per thread) or "balanced" (chunks each
// thread claims as it finishes one: CpuCase::set_balanced_rows). The same
// bits either way (rows are independent). Balanced by default: the two
// vCPUs of the Zen 5 VM differ in speed, by 1.5x on short rows in cache at
// times, and which one is slower changes (`taskset -c 0` / `-c 1
// lnbench_highway_bench hot`, 2026-12-06), so a static split waits for the
// slower half. Issue 15, two threads, 256 MiB, `lnbench_highway_bench dram
// --ab row_split=static,balanced`, balanced / static time, medians of 9-11
// pairs (the same code on both sides: 0.88-1.06): LayerNorm f32 H = 128
// 0.93-0.96, 768 0.83-0.99, 1024 0.89-0.95, 4096 0.91-0.98, 8192 0.90,
// 16384 0.89, 65536 0.89-0.93; bf16 H = 128 0.78-0.88, 768 0.80-0.90, 1024
// 0.89-0.91, 4096 0.96-0.97, 8192 0.98, 16384 1.02, 65536 0.97 (chunks of
// whole groups of 8 rows; 1.08 before); RMSNorm f32 H = 128 0.87, 768 1.01,
// 4096 0.99, bf16 1.00, 0.95, 0.97. In cache (`hot`, 256 KiB, two threads)
// 0.97-1.06, within the noise. The backward, bound by memory, neither gains
// nor loses (`dram --bwd [--rms]`, H = 128-65536, f32 and bf16: medians
// 0.92-1.08, most 0.96-1.00, with the copy at 52-69 GB/s, when the vCPUs
// differed less), and splits the same way: each chunk of whole blocks is a
// share of its own in HwyBwdRunner's merge, whose dgamma/dbeta bits do not
// depend on the split.
constexpr const char* kRowSplit = "row_split";

// Whether the interleaved groups are the default: on AMD CPUs of family 0x1A
// (Zen 5) and later, where they measured faster than the chunked groups
// (layernorm_highway-inl.h); Zen 4 measured the other way, and CPUs not
// measured keep the chunked groups.
bool InterleavedGroupsByDefault() {
#if defined(__x86_64__) || defined(__i386__)
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return false;
  const bool amd = b == 0x68747541 && d == 0x69746e65 && c == 0x444d4163;  // "AuthenticAMD"
  if (!amd || !__get_cpuid(1, &a, &b, &c, &d)) return false;
  const unsigned base = (a >> 8) & 0xF;
  const unsigned family = base + (base == 0xF ? (a >> 20) & 0xFF : 0);
  return family >= 0x1A;
#else
  return false;
#endif
}

// Short rows keep ordinary stores beyond the last-level cache, unless the
// stream_min_bytes tuning is given (UnstreamedByDefault): the forward on any
// number of threads, and it then writes them one row at a time
// (SingleRowsByDefault); the backward on one thread. On the Zen 5 VM one
// thread cannot fill the memory bus, so the lines ordinary stores read before
// writing cost little, and ordinary stores with single rows beat the
// streamed batches and groups (scripts/microbench/store_kind.cc, on 4 KiB and
// huge pages alike; oneDNN writes one row at a time with ordinary stores).
// Two threads are bound by the bus; there ordinary stores in batches or
// groups lost (below), but ordinary stores with single rows won too (the
// forward's two-thread figures of 2026-12-06 15:00-15:20 below). Issue 15,
// `lnbench_highway_bench dram --ab
// stream_min_bytes=33554432,default` (and a throw-away build before), 256
// MiB, time of this default / the streamed path, medians of 11 pairs, two to
// three processes (the same code on both sides: 0.88-1.06):
//   one thread, LayerNorm f32: H = 32 0.89, 48 0.82, 64 0.68-0.77, 96 0.51,
//     128 0.75-0.89, 192 0.81-0.82, 256 0.85-0.95, 320 0.97 (384 0.94-0.95,
//     512 1.09-1.26, 1024 1.26-1.35: left streamed);
//   one thread, LayerNorm bf16 (f16): H = 160 0.82 (0.71), 192 0.77-0.80
//     (0.90-0.91), 256 0.86-0.95 (0.96-0.97), 384 0.83-0.84 (0.84-0.86),
//     512 0.81-0.90 (0.88-0.90), 640 0.81 (0.81), 768 0.83-0.85 (0.86-0.87),
//     896 0.87 (0.82); 1024 0.91-0.99 (0.99-1.01);
//   one thread, RMSNorm: f32 H = 64 0.83-0.85, 128 0.87-0.90, 256 0.96-0.98
//     (512 1.28); bf16 H = 64-768 0.76-0.92 (1024 1.10);
//   two threads, in a later state of the VM: LayerNorm f32 H = 128 1.02 and
//     1.12, 256 1.12-1.13, bf16 512-768 1.01-1.07, RMSNorm f32 H = 64-256
//     1.07-1.23, bf16 512-768 1.10-1.20 (LayerNorm f32 H = 64 0.93-0.94 and
//     bf16 64-256 0.81-0.99 still gained; earlier the same day two threads
//     had gained: LayerNorm f32 H = 64-256 0.65-0.87, bf16/f16 H = 192-768
//     0.73-0.91). Those two-thread runs kept the batches and groups (the
//     tuning turned single rows off). Single rows with ordinary stores
//     against the default of then (streamed batches and groups), two
//     threads, `--ab stream_min_bytes=default,1000000000000 --ab
//     row_path=default,single`, two processes, medians of 11 pairs:
//     LayerNorm f32 H = 64 0.73 / 0.71, 96 0.53 / 0.53, 128 0.87 / 0.80, 192
//     0.93 / 0.92, 256 0.94 / 0.88 (320 0.95 / 0.89, 384 1.05 / 0.97, 512
//     1.17 / 1.13); bf16 H = 256 0.90 / 0.87, 512 0.92 / 0.82, 768 0.83 /
//     0.95 (1024 1.01 / 1.11); RMSNorm f32 H = 64 0.85 / 0.83, 128 0.91 /
//     0.87, 256 0.97 / 0.95; bf16 H = 64 0.95 / 0.79, 128 0.77 / 0.77, 256
//     0.83 / 0.76, 512 0.93 / 0.88. So the one-thread limits hold on two.
// LayerNorm's 16-bit rows of at most kCachedBatchMaxCols columns keep ordinary
// stores on any number of threads, in their batches of four rows
// (ShortRowsWithTag, as in cache): against streaming, one thread bf16 H = 64
// / 96 / 128 0.73 / 0.68 / 0.72, f16 0.73 / 0.71 / 0.74, two threads H = 128
// bf16 0.72, 1.03, 0.76, 0.73, f16 0.96, 0.73, 0.76; single rows took
// 1.09-1.23x the batches' time. Until 2026-12-06 those were the only rows
// kept unstreamed.
// The backward's dx, one thread: ordinary stores for f32 rows of at most 512
// bytes and 16-bit rows of at most 1.5 KiB (its short rows are single rows
// either way): LayerNorm f32 H = 64 0.78, 128 0.89-0.91 (256 1.05, 512 1.00,
// 768 1.09: left streamed), bf16 H = 64 0.98, 128 0.82-0.92, 256 0.87, 512
// 0.89, 768 0.85-0.89 (1024 0.99); RMSNorm f32 128 0.93-0.94 (256 1.12),
// bf16 128 0.78-0.79, 256 0.81, 768 0.82. Two threads: bf16 H = 512-768
// 1.04-1.27, RMSNorm f32 H = 64-128 1.07-1.14. Two threads again on
// 2026-12-06 (`lnbench_highway_bench dram --bwd [--rms] --threads 2 --ab
// stream_min_bytes=default,1000000000000`, two processes, medians of 9
// pairs): LayerNorm bf16 H = 128 0.80 / 0.78, 256 0.84 / 0.86, 768 0.87 /
// 0.89, f32 H = 128 0.99 / 0.99, 256 1.07 / 1.14, 768 1.00 / 1.04; RMSNorm
// bf16 H = 128 0.82 / 0.83, 256 0.82 / 0.86, 768 0.84 / 1.16, f32 H = 128
// 1.05 / 1.02 (256-768 1.06-1.36). So on more threads the backward keeps
// ordinary stores for 16-bit rows of at most 512 bytes only.
// The report's details say streaming_stores "no" for these cases, and
// row_path "single rows" where the forward goes one row at a time.
constexpr uint64_t kUnstreamedMaxRowBytes = 1024, kUnstreamedMaxRowBytes16 = 1792;
constexpr uint64_t kBwdUnstreamedMaxRowBytes = 512, kBwdUnstreamedMaxRowBytes16 = 1536;
constexpr uint64_t kBwdUnstreamedMaxRowBytes16Threads = 512;  // 16-bit rows on 2+ threads

// Whether `problem` is a LayerNorm forward of 16-bit rows of at most
// kCachedBatchMaxCols columns (kept unstreamed on any number of threads).
bool ShortSixteenBitLayerNorm(const Problem& problem) {
  return problem.norm == Norm::kLayerNorm && problem.dir == Direction::kForward &&
         DTypeSize(problem.dtype) == 2 &&
         problem.cols <= static_cast<int64_t>(kCachedBatchMaxCols);
}

// Whether a problem run on `threads` threads (0: every hardware thread)
// keeps ordinary stores at any size by default (above): the forward on any
// number of threads; the backward on one, and its 16-bit rows of at most
// 512 bytes on more.
bool UnstreamedByDefault(const Problem& problem, int threads) {
  if (ShortSixteenBitLayerNorm(problem)) return true;
  const uint64_t elem = DTypeSize(problem.dtype);
  const uint64_t row_bytes = static_cast<uint64_t>(problem.cols) * elem;
  if (problem.dir == Direction::kBackward) {
    if (PoolThreads(threads) != 1) return elem == 2 && row_bytes <= kBwdUnstreamedMaxRowBytes16Threads;
    return row_bytes <= (elem == 2 ? kBwdUnstreamedMaxRowBytes16 : kBwdUnstreamedMaxRowBytes);
  }
  return row_bytes <= (elem == 2 ? kUnstreamedMaxRowBytes16 : kUnstreamedMaxRowBytes);
}

// Whether a forward problem kept unstreamed by default goes one row at a time
// once its output exceeds the last-level cache (above; HwyRowsArgs::row_groups
// false). In cache, the batches and groups stay.
bool SingleRowsByDefault(const Problem& problem, int threads) {
  return problem.dir == Direction::kForward && UnstreamedByDefault(problem, threads) &&
         !ShortSixteenBitLayerNorm(problem) &&
         TensorBytes(problem, Extent::kRowsCols) > LastLevelCacheBytes();
}

// Returns the value of a tuning key that takes one of two words, or nullopt
// when it is not given; any other word is a usage error (exit 2), not an
// unsupported case: the value is a typo.
std::optional<std::string> TwoWayTuning(const CaseOptions& options, const char* key,
                                        const char* a, const char* b) {
  const auto it = options.tuning.find(key);
  if (it == options.tuning.end()) return std::nullopt;
  if (it->second != a && it->second != b)
    throw UsageError(fmt::format("highway: --tune {} must be {} or {}, not '{}'", key, a, b,
                                 it->second));
  return it->second;
}

// Parses the stream_min_bytes tuning value; nullopt when it is not a number >= 0.
std::optional<uint64_t> ParseStreamMinBytes(const std::string& text) {
  if (text.empty() || text.size() > 19 || text.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  return std::stoull(text);
}

// Returns --tune stream_min_bytes, or nullopt when it is not given. A value
// that is not a number of bytes is a usage error (exit 2), not an
// unsupported case: it is a typo.
std::optional<uint64_t> StreamMinBytesTuning(const CaseOptions& options) {
  const auto it = options.tuning.find(kStreamMinBytes);
  if (it == options.tuning.end()) return std::nullopt;
  const auto v = ParseStreamMinBytes(it->second);
  if (!v)
    throw UsageError("highway: --tune stream_min_bytes must be a number of bytes >= 0, not '" + it->second + "'");
  return v;
}

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
  // Whether `variant` names a Highway target at all (false: an unknown name).
  bool known = true;
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
  return {Verdict::No("unknown variant '" + variant + "' (have: " + JoinNames(names) + ")"), {},
          /*known=*/false};
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

// What every Highway case has: its target and whether it streams its main
// output (y or dx, rows x cols of the dtype), both reported in Details() with,
// for bf16 data, whether the CPU's AVX512_BF16 instructions do the
// conversions and sums (bf16 speed depends on it: compare reports of two
// CPUs with that in mind). Ordinary stores read each output line before
// writing it: a third of the traffic when the output goes to DRAM anyway.
// Streaming stores skip that read but also skip the cache, so they are used
// only when the output is larger than stream_min_bytes (default: the
// last-level cache).
class HighwayCpuCase : public CpuCase {
 public:
  HighwayCpuCase(const Problem& problem, const HostTensors& inputs, int threads,
                 const HighwayTarget& target, uint64_t stream_min_bytes)
      : CpuCase(problem, inputs, threads, target.name),
        target_bits_(target.bits),
        stream_(TensorBytes(problem, Extent::kRowsCols) > stream_min_bytes) {}

  std::map<std::string, std::string> Details() const override {
    auto details = CpuCase::Details();
    details["hwy_target"] = ResolvedVariant();
    details["streaming_stores"] = stream_ ? "yes" : "no";
    if (problem().dtype == DType::kBF16) {
      details["native_bf16"] = HighwayNativeBF16(target_bits_) ? "yes (AVX512_BF16)" : "no";
    }
    return details;
  }

 protected:
  // Whether the main output is written with streaming stores.
  bool stream() const { return stream_; }
  // The Highway target (one HWY_* bit) the case runs.
  int64_t target_bits() const { return target_bits_; }

 private:
  int64_t target_bits_;
  bool stream_;
};

class HighwayCase : public HighwayCpuCase {
 public:
  HighwayCase(const Problem& problem, const HostTensors& inputs, int threads,
              const HighwayTarget& target, HwyRowsFn rows_fn, uint64_t stream_min_bytes,
              bool interleaved_16bit, bool single_rows)
      : HighwayCpuCase(problem, inputs, threads, target, stream_min_bytes), rows_fn_(rows_fn) {
    args_.x = inputs.get(TensorId::kX);
    args_.y = output(TensorId::kY);
    if (problem.affine) {
      args_.gamma = inputs.get<const float>(TensorId::kGamma);
      args_.beta = inputs.get<const float>(TensorId::kBeta);
    }
    args_.mean = output<float>(TensorId::kMean);
    args_.rstd = output<float>(TensorId::kRstd);
    args_.cols = problem.cols;
    args_.eps = problem.eps;
    args_.stream = stream();
    args_.interleaved_16bit = interleaved_16bit;
    args_.row_groups = !single_rows;
    extra_share_ = SlowdownFromEnvironment() - 1;
  }

  std::map<std::string, std::string> Details() const override {
    auto details = HighwayCpuCase::Details();
    if (extra_share_ > 0) details["slowdown"] = std::to_string(1 + extra_share_);
    if (DTypeSize(problem().dtype) == 2) {
      details["groups16"] = args_.interleaved_16bit ? "interleaved" : "chunked";
    }
    if (!args_.row_groups) details["row_path"] = "single rows";
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

// RMSNorm forward on one Highway target (rmsnorm_highway-inl.h).
class HighwayRmsCase : public HighwayCpuCase {
 public:
  HighwayRmsCase(const Problem& problem, const HostTensors& inputs, int threads,
                 const HighwayTarget& target, HwyRmsRowsFn rows_fn, uint64_t stream_min_bytes,
                 bool interleaved_16bit, bool single_rows)
      : HighwayCpuCase(problem, inputs, threads, target, stream_min_bytes), rows_fn_(rows_fn) {
    args_.x = inputs.get(TensorId::kX);
    args_.y = output(TensorId::kY);
    args_.gamma = problem.affine ? inputs.get<const float>(TensorId::kGamma) : nullptr;
    args_.rstd = output<float>(TensorId::kRstd);
    args_.cols = problem.cols;
    args_.eps = problem.eps;
    args_.stream = stream();
    args_.interleaved_16bit = interleaved_16bit;
    args_.row_groups = !single_rows;
  }

  std::map<std::string, std::string> Details() const override {
    auto details = HighwayCpuCase::Details();
    if (DTypeSize(problem().dtype) == 2) {
      details["groups16"] = args_.interleaved_16bit ? "interleaved" : "chunked";
    }
    if (!args_.row_groups) details["row_path"] = "single rows";
    return details;
  }

 protected:
  void ComputeRows(int64_t begin, int64_t end) override { rows_fn_(args_, begin, end); }

 private:
  HwyRmsRowsFn rows_fn_;
  HwyRmsArgs args_;
};

// LayerNorm or RMSNorm backward on one Highway target
// (norm_bwd_highway-inl.h). Rows go in fixed blocks whose dgamma/dbeta
// partials are merged in a fixed tree (HwyBwdRunner), the same bits for any
// thread count and split (balanced chunks or one share per thread).
class HighwayBwdCase : public HighwayCpuCase {
 public:
  HighwayBwdCase(const Problem& problem, const HostTensors& inputs, int threads,
                 const HighwayTarget& target, HwyBwdRowsFn rows_fn, uint64_t stream_min_bytes,
                 BwdGroups groups)
      : HighwayCpuCase(problem, inputs, threads, target, stream_min_bytes), threads_(threads) {
    args_.groups = groups;
    args_.x = inputs.get(TensorId::kX);
    args_.dy = inputs.get(TensorId::kDy);
    args_.dx = output(TensorId::kDx);
    args_.gamma = problem.affine ? inputs.get<const float>(TensorId::kGamma) : nullptr;
    args_.mean = problem.norm == Norm::kLayerNorm ? inputs.get<const float>(TensorId::kMean) : nullptr;
    args_.rstd = inputs.get<const float>(TensorId::kRstd);
    args_.rows = problem.rows;
    args_.cols = problem.cols;
    args_.stream = stream();
    runner_ = std::make_unique<HwyBwdRunner>(args_, rows_fn, problem.norm == Norm::kLayerNorm);
  }

  void Run() override {
    runner_->Run(SharedThreadPool(threads_), output<float>(TensorId::kDgamma),
                 output<float>(TensorId::kDbeta), balanced_grain_rows());
  }

  std::map<std::string, std::string> Details() const override {
    auto details = HighwayCpuCase::Details();
    if (args_.gamma != nullptr) {
      details["dgamma_row_block"] = std::to_string(BwdRowBlock(args_.rows));
      // The path of rows in groups (none: single rows).
      details["bwd_groups"] =
          !BwdGroupsRows(problem().norm, args_.cols, args_.stream)         ? "none"
          : BwdFusedGroups(args_.groups, args_.cols, args_.dx, args_.stream) ? "fused"
                                                                           : "shared_sums";
      // Where the rows' dgamma/dbeta partials live between rows.
      details["dgamma_partials"] = BwdRegisterRows(target_bits(), args_.cols) ? "registers" : "memory";
    }
    return details;
  }

 protected:
  // Unused: Run() above replaces CpuCase's row split.
  void ComputeRows(int64_t, int64_t) override {
    LNBENCH_CHECK(false, "HighwayBwdCase computes through HwyBwdRunner");
  }

 private:
  int threads_;
  HwyBwdArgs args_;
  std::unique_ptr<HwyBwdRunner> runner_;
};

class HighwayBackend : public CpuBackend {
 public:
  std::string Name() const override { return "highway"; }
  std::string Description() const override {
    return "Google Highway SIMD, every compiled target, best picked at run time; "
           "one read for statistics, one normalize pass; backward: one read of x and dy per row";
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
  std::string UnlistedVariantReason(const std::string& name) const override {
    const ResolvedTarget resolved = ResolveVariant(name);
    return resolved.verdict.ok || !resolved.known ? "" : resolved.verdict.reason;
  }

  std::vector<std::string> TuningKeys() const override {
    return {kStreamMinBytes, kGroups16, kBwdGroups, kRowPath, kRowSplit};
  }

  void CheckTuning(const std::map<std::string, std::string>& tuning) const override {
    CaseOptions options;
    options.tuning = tuning;
    StreamMinBytesTuning(options);
    TwoWayTuning(options, kRowPath, "single", "grouped");
    TwoWayTuning(options, kRowSplit, "static", "balanced");
    TwoWayTuning(options, kGroups16, "chunked", "interleaved");
    TwoWayTuning(options, kBwdGroups, "fused", "shared_sums");
  }

  // The runner runs these for every op selected (--op), and the LayerNorm
  // and RMSNorm kernels choose their paths alike, so each case reaches the
  // same path of both. Row groups need rows starting on cache lines, at most
  // 1 KiB or at least 16 KiB long, and 4 rows in a thread's share;
  // 37 rows leave leftover rows in some thread's share for any thread count
  // (37 is odd). Backward's dgamma/dbeta partials cover blocks of up to 64
  // rows (1100 rows: 18 blocks, a tree of 5 levels); with gamma, rows whose
  // gamma and partials take 24 KiB or more, 16 KiB with streaming stores
  // (BwdGroupsRows: 4097 columns either way, for both norms), go in pairs or
  // groups (34 rows: blocks of 3, a pair and a single row each; 4097
  // columns: a masked tail); streamed rows of a multiple of 32 columns on
  // cache lines in fused groups of four (88 rows: blocks of 6, a group of 4
  // and one of 2; BwdFusedGroups), the others in shared sums.
  // Streamed rows of 512 bytes to 1 KiB (16-bit ones to 2 KiB) go in batches
  // of four (a partial batch for 37 rows and any thread count); shorter ones
  // keep the groups.
  // LayerNorm's cache-resident rows of at most 128 columns go in batches too
  // (RMSNorm's in groups).
  // Streaming stores start beyond the last-level cache, so the
  // streaming cases lower the threshold instead of writing gigabytes. Tails:
  // widths that are no multiple of any vector length, and rows shorter than one.
  std::vector<CoverageCase> CoverageCases() const override {
    const std::map<std::string, std::string> stream = {{kStreamMinBytes, "0"}};
    return {
        {"rows shorter than a vector (one-lane loop)", 9, 3, {}},
        {"single rows with a masked tail", 5, 1001, {}},
        {"row groups of short rows, leftover rows", 37, 256, {}},
        {"LayerNorm: batches of rows of at most 128 columns, a partial batch", 37, 96, {}},
        {"row groups of long rows (>= 16 KiB), leftover rows", 9, 8192, {}},
        {"streaming stores, single rows with a masked tail", 6, 1001, stream},
        {"streaming stores in row groups of rows under 512 bytes, leftover rows", 37, 96, stream},
        {"streaming stores in batches of rows of 512 bytes to 1 KiB, a partial batch", 37, 256,
         stream},
        {"16-bit rows: streaming stores in batches of rows of 1 to 2 KiB with a masked tail, a "
         "partial batch",
         37, 1001, stream},
        {"streaming stores in row groups of long rows", 9, 8192, stream},
        {"16-bit rows: streaming stores in chunked groups of 8 rows off cache lines, a partial "
         "group",
         11, 3000, stream},
        {"16-bit rows: streaming stores in chunked groups of 8 rows on cache lines, a partial "
         "group",
         11, 2560, {{kStreamMinBytes, "0"}, {kGroups16, "chunked"}}, {Direction::kForward}},
        {"16-bit rows: streaming stores in interleaved groups of 4 rows on cache lines, a "
         "leftover row",
         9, 2560, {{kStreamMinBytes, "0"}, {kGroups16, "interleaved"}}, {Direction::kForward}},
        // Paths a mutation audit of the kernels (2026-12-07) found the sweep
        // did not reach: each was a planted bug the default verify missed.
        {"f32 row groups whose blocks end in one vector of 16 lanes (AVX-512: 16 x an odd number "
         "of columns), leftover rows",
         37, 240, {}, {Direction::kForward}},
        {"streaming stores in f32 row groups whose blocks end in one vector of 16 lanes, leftover "
         "rows",
         37, 112, stream, {Direction::kForward}},
        {"backward only: dgamma/dbeta over 18 blocks of 64 rows, merged in a tree", 1100, 40, {},
         {Direction::kBackward}},
        {"backward only: f32 rows of 8 vectors of 16 lanes (H = 128 on AVX-512), partials in "
         "registers",
         37, 128, {}, {Direction::kBackward}},
        {"backward only: streaming stores in fused groups, blocks of 3 rows (a group of 3)", 48, 2048,
         stream, {Direction::kBackward}},
        {"backward only: streaming stores in fused groups, blocks of 5 rows (4 + a group of 1)", 70,
         2048, stream, {Direction::kBackward}},
        {"backward only: 16-bit rows: streaming stores in chunked groups of 4 rows off cache lines",
         88, 4097, stream, {Direction::kBackward}},
        {"backward only: row pairs (>= 24 KiB of gamma and partials) and a single row per block",
         34, 4097, {},
         {Direction::kBackward}},
        {"backward only: streaming stores in row pairs (rows off cache lines)", 34, 4097, stream,
         {Direction::kBackward}},
        {"backward only: streaming stores in fused groups of 4 rows on cache lines, a partial "
         "group",
         88, 2048, stream, {Direction::kBackward}},
        {"backward only: fused groups without streaming stores (--tune bwd_groups=fused)", 88,
         3072, {{kBwdGroups, "fused"}}, {Direction::kBackward}},
        {"backward only: streaming stores in shared-sums groups on cache lines (--tune "
         "bwd_groups=shared_sums)",
         34, 2048, {{kStreamMinBytes, "0"}, {kBwdGroups, "shared_sums"}}, {Direction::kBackward}},
    };
  }

  Verdict Supports(const Problem& problem, const CaseOptions& options) const override {
    if (problem.cols < 1) return Verdict::No("cols must be at least 1");
    return ResolveVariant(options.variant).verdict;
  }

  std::unique_ptr<PreparedCase> Prepare(const Problem& problem, const HostTensors& inputs,
                                        const CaseOptions& options) override {
    const ResolvedTarget resolved = ResolveVariant(options.variant);
    if (!resolved.verdict.ok) throw UsageError("highway: " + resolved.verdict.reason);
    uint64_t stream_min_bytes = LastLevelCacheBytes();
    bool single_rows = false;  // forward rows one at a time (SingleRowsByDefault)
    if (const auto v = StreamMinBytesTuning(options)) {
      stream_min_bytes = *v;
    } else if (UnstreamedByDefault(problem, options.threads)) {
      stream_min_bytes = std::numeric_limits<uint64_t>::max();
      single_rows = SingleRowsByDefault(problem, options.threads);
    }
    if (const auto path = TwoWayTuning(options, kRowPath, "single", "grouped"))
      single_rows = *path == "single";
    bool balanced = true;
    if (const auto split = TwoWayTuning(options, kRowSplit, "static", "balanced"))
      balanced = *split == "balanced";
    bool interleaved_16bit = InterleavedGroupsByDefault();
    if (const auto groups = TwoWayTuning(options, kGroups16, "chunked", "interleaved"))
      interleaved_16bit = *groups == "interleaved";
    BwdGroups bwd_groups = BwdGroups::kAuto;
    if (const auto bg = TwoWayTuning(options, kBwdGroups, "fused", "shared_sums"))
      bwd_groups = *bg == "fused" ? BwdGroups::kFused : BwdGroups::kSharedSums;
    std::unique_ptr<HighwayCpuCase> prepared;
    if (problem.dir == Direction::kBackward) {
      const HwyBwdRowsFn bwd_fn =
          HighwayNormBwdRowsFunction(problem.norm, problem.dtype, resolved.target.bits);
      LNBENCH_CHECK(bwd_fn != nullptr,
                    "no Highway backward kernel for target " + resolved.target.name);
      prepared = std::make_unique<HighwayBwdCase>(problem, inputs, options.threads,
                                                  resolved.target, bwd_fn, stream_min_bytes,
                                                  bwd_groups);
    } else if (problem.norm == Norm::kRmsNorm) {
      const HwyRmsRowsFn rms_fn = HighwayRmsNormRowsFunction(problem.dtype, resolved.target.bits);
      LNBENCH_CHECK(rms_fn != nullptr, "no Highway RMSNorm kernel for target " + resolved.target.name);
      prepared = std::make_unique<HighwayRmsCase>(problem, inputs, options.threads,
                                                  resolved.target, rms_fn, stream_min_bytes,
                                                  interleaved_16bit, single_rows);
    } else {
      const HwyRowsFn rows_fn = HighwayRowsFunction(problem.dtype, resolved.target.bits);
      LNBENCH_CHECK(rows_fn != nullptr, "no Highway kernel for target " + resolved.target.name);
      prepared = std::make_unique<HighwayCase>(problem, inputs, options.threads, resolved.target,
                                               rows_fn, stream_min_bytes, interleaved_16bit,
                                               single_rows);
    }
    prepared->set_balanced_rows(balanced);
    return prepared;
  }
};

}  // namespace

std::unique_ptr<Backend> MakeHighwayBackend() { return std::make_unique<HighwayBackend>(); }

}  // namespace lnbench
