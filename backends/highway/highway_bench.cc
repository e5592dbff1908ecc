// lnbench_highway_bench: times the Highway backend against the copy ceiling
// measured in the same run, against the scalar backend on cache-sized data,
// and at batch 1 against a copy of the same row. A development tool, not a
// test: its numbers depend on the machine and on what else runs on it.
//
//   lnbench_highway_bench [dram|cache|latency|hot|all] [--mib M] [--kib K] [--samples S] [--rms] [--bwd]
//                         [--threads 1,2] [--dtypes f32,bf16] [--cols 128,768,...]
//                         [--variant auto] [--tune key=value]... [--ab key=A,B]...
//
// latency mode times H = 4096 alone unless --cols names its H; hot mode runs
// one thread unless --threads is given.
//
// --tune passes a backend setting (CaseOptions::tuning, as `lnbench run --tune`).
// --ab key=A,B (dram and hot modes) times the case with key=A and with key=B
// in the same process, in pairs of samples whose order alternates, and
// reports B's time / A's time per pair (median and p10..p90); the value
// "default" leaves the key unset (the backend's own choice). Several --ab
// keys set together: side A takes every key's A, side B every key's B. On a shared
// machine whose bandwidth drifts between runs, a paired ratio separates two
// code paths that separate runs cannot. Each side has its own output
// buffers, whose placement in memory differs: the same code on both sides
// gave medians of 0.88-1.06 on the Zen 5 VM (2026-12-06, 256 MiB, bf16/f16,
// 16 cells in two processes), so repeat a run in several processes and
// trust only effects beyond that.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <fmt/core.h>
#include <fmt/ranges.h>

#include "app/registry.h"
#include "core/cpu_memory.h"
#include "core/errors.h"
#include "core/generators.h"
#include "core/host_buffer.h"
#include "core/problem.h"
#include "core/thread_pool.h"
#include "core/timing.h"

namespace lnbench {
namespace {

struct BenchConfig {
  std::string mode = "all";
  uint64_t x_mib = 256;  // DRAM-sized: x alone is this large (y as large again)
  int samples = 15;
  std::vector<int> threads = {1, 2};
  bool threads_given = false;  // --threads was passed (hot mode: else one thread)
  std::vector<DType> dtypes = {DType::kF32, DType::kBF16};
  std::vector<int64_t> cols = {128, 768, 1024, 4096, 8192, 16384, 65536};
  bool cols_given = false;  // --cols was passed (latency mode: else H = 4096 alone)
  std::string variant = "auto";
  bool affine = true;
  uint64_t hot_kib = 256;  // hot mode: x is this large
  bool rms = false;        // dram and hot modes: RMSNorm instead of LayerNorm
  bool bwd = false;        // dram and hot modes: the backward (dx, dgamma, dbeta) instead of the forward
  std::map<std::string, std::string> tuning;  // --tune key=value
  // --ab key=A,B (repeatable: side A sets every key to its A, side B to its B).
  struct AbSetting {
    std::string key, a, b;
  };
  std::vector<AbSetting> ab;  // empty: no A/B pairs
};

// Returns the op the dram and hot modes time, in words.
std::string OpName(const BenchConfig& cfg) {
  return std::string(cfg.rms ? "RMSNorm" : "LayerNorm") + (cfg.bwd ? " backward" : "");
}

// Returns the q-quantile of `v` (sorted in place).
double Quantile(std::vector<double>& v, double q) {
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

// An --ab value that leaves the key unset: the backend's default.
constexpr const char* kAbDefault = "default";

// Which side of --ab a case is prepared for.
enum class AbSide { kNone, kA, kB };

// The options of a case: the variant and --tune settings, and on an --ab
// side each --ab key set to that side's value (kAbDefault: not set).
CaseOptions OptionsFor(const BenchConfig& cfg, int threads, AbSide side) {
  CaseOptions o;
  o.threads = threads;
  o.variant = cfg.variant;
  o.tuning = cfg.tuning;
  if (side == AbSide::kNone) return o;
  for (const BenchConfig::AbSetting& s : cfg.ab) {
    const std::string& value = side == AbSide::kA ? s.a : s.b;
    if (value == kAbDefault) {
      o.tuning.erase(s.key);
    } else {
      o.tuning[s.key] = value;
    }
  }
  return o;
}

// The header words of the A/B columns ("" without --ab).
std::string AbHeader(const BenchConfig& cfg) {
  if (cfg.ab.empty()) return "";
  return fmt::format(" {:>9} {:>14}", "B/A time", "p10..p90");
}

// The A/B columns of one case from its per-pair ratios ("" without --ab).
std::string AbColumns(std::vector<double>& ratios) {
  if (ratios.empty()) return "";
  return fmt::format(" {:>9.3f} {:>6.3f}..{:<6.3f}", Quantile(ratios, 0.5), Quantile(ratios, 0.1),
                     Quantile(ratios, 0.9));
}

// Prints what --ab compares, above a mode's table.
void PrintAb(const BenchConfig& cfg) {
  if (cfg.ab.empty()) return;
  std::string a, b;
  for (const BenchConfig::AbSetting& s : cfg.ab) {
    a += fmt::format(" {}={}", s.key, s.a);
    b += fmt::format(" {}={}", s.key, s.b);
  }
  fmt::print("# A/B: A = --tune{} (the table's other columns), B = --tune{}; "
             "B/A time = B's time / A's time per pair of samples, order alternating\n",
             a, b);
}

// Inputs of one problem, filled by the core's generators.
struct Inputs {
  std::array<HostBuffer, kTensorCount> buffers;
  HostTensors view;
  Inputs(const Problem& p, ThreadPool& pool) {
    for (const TensorSpec& t : OpFor(p).TensorsOf(p, TensorRole::kInput)) {
      HostBuffer& b = buffers[static_cast<size_t>(t.id)];
      b = HostBuffer(TensorBytes(p, t.extent));
      view.set(t.id, b.data());
    }
    OpFor(p).GenerateInputs(p, view, pool);
  }
};

// Returns per-run seconds: `samples` samples of `batch` runs each.
std::vector<double> Sample(PreparedCase& c, int samples, int batch) {
  c.Run();
  std::vector<double> out;
  for (int i = 0; i < samples; ++i) out.push_back(c.TimeBatch(batch, false) / batch);
  return out;
}

std::unique_ptr<PreparedCase> PrepareOn(const char* backend, const Problem& p,
                                        const HostTensors& in, const CaseOptions& o) {
  Backend* b = FindBackend(backend);
  LNBENCH_CHECK(b != nullptr, std::string("backend missing: ") + backend);
  const Verdict v = b->Supports(p, o);
  if (!v.ok) throw UsageError(std::string(backend) + ": " + v.reason);
  return b->Prepare(p, in, o);
}

// DRAM-sized: fraction of the copy ceiling (the faster of memcpy and the
// streaming copy, as `lnbench run` reports it). The machine may be shared, so
// copy and kernel are sampled in pairs (a ceiling sample, then a kernel
// sample) and the fraction is the median of the per-pair ratios: load that
// comes and goes hits both sides of a pair alike. Where other processes take
// the cores, wall time also counts time the threads were not running; the
// "cpu" fraction compares process CPU time instead (the same memcpy, split
// over the same pool as MeasureCpuCopy does, against the kernel).
void RunDram(const BenchConfig& cfg) {
  fmt::print("# DRAM-sized {}: x = {} MiB, y as large; fraction = copy time (faster of memcpy and "
             "stream copy) / kernel time for the same bytes and threads, median over {} paired samples (wall clock; cpu: "
             "process CPU time)\n",
             OpName(cfg),
             cfg.x_mib, cfg.samples);
  PrintAb(cfg);
  fmt::print("{:>7} {:>5} {:>7} {:>8} {:>10} {:>10} {:>9} {:>14} {:>9} {:>14} {:>8}{}\n",
             "threads", "dtype", "H", "N", "copy GB/s", "hwy GB/s", "fraction", "p10..p90",
             "cpu frac", "p10..p90", "variant", AbHeader(cfg));
  for (int threads : cfg.threads) {
    ThreadPool& pool = SharedThreadPool(threads);
    for (DType dtype : cfg.dtypes) {
      for (int64_t cols : cfg.cols) {
        Problem p;
        p.dtype = dtype;
        p.cols = cols;
        p.rows = static_cast<int64_t>((cfg.x_mib << 20) / (cols * DTypeSize(dtype)));
        p.affine = cfg.affine;
        if (cfg.rms) p.norm = Norm::kRmsNorm;
        if (cfg.bwd) p.dir = Direction::kBackward;
        const uint64_t bytes = CountBytes(p).total();
        Inputs in(p, pool);
        const bool ab = !cfg.ab.empty();
        auto c = PrepareOn("highway", p, in.view, OptionsFor(cfg, threads, ab ? AbSide::kA : AbSide::kNone));
        c->Run();
        std::unique_ptr<PreparedCase> cb;
        if (ab) {
          cb = PrepareOn("highway", p, in.view, OptionsFor(cfg, threads, AbSide::kB));
          cb->Run();
        }
        // The CPU-time copy: as MeasureCpuCopy, on buffers kept for the case.
        const uint64_t half = bytes / 2;
        HostBuffer src(half), dst(half);
        const int64_t chunks = pool.threads();
        const auto copy = [&] {
          pool.ParallelFor(chunks, [&](int64_t b, int64_t e) {
            for (int64_t k = b; k < e; ++k) {
              const uint64_t lo = half * k / chunks, hi = half * (k + 1) / chunks;
              std::memcpy(dst.as<uint8_t>() + lo, src.as<uint8_t>() + lo, hi - lo);
            }
          });
        };
        pool.ParallelFor(chunks, [&](int64_t b, int64_t e) {
          for (int64_t k = b; k < e; ++k) {
            const uint64_t lo = half * k / chunks, hi = half * (k + 1) / chunks;
            std::memset(src.as<uint8_t>() + lo, 1, hi - lo);
            std::memset(dst.as<uint8_t>() + lo, 0, hi - lo);
          }
        });
        copy();
        std::vector<double> copy_s, kernel_s, ratio, cpu_ratio, ab_ratio;
        for (int s = 0; s < cfg.samples; ++s) {
          // The report's ceiling: the faster of memcpy and the streaming copy.
          CeilingMeasurement m = MeasureCpuCopy(bytes, threads, 1, 0.0);
          CeilingMeasurement ms = MeasureCpuCopy(bytes, threads, 1, 0.0, /*streaming=*/true);
          const double cs = std::min(Quantile(m.seconds, 0.0), Quantile(ms.seconds, 0.0)) *
                            static_cast<double>(bytes) / static_cast<double>(m.bytes_per_copy);
          const double cpu0 = ProcessCpuSeconds();
          copy();
          const double cpu1 = ProcessCpuSeconds();
          // With --ab, the copy is followed by A then B in even samples and by
          // B then A in odd ones: each side takes each place equally often.
          const bool b_first = ab && s % 2 == 1;
          const double tb_first = b_first ? cb->TimeBatch(1, false) : 0.0;
          const double cpu2 = ProcessCpuSeconds();
          const double ks = c->TimeBatch(1, false);
          const double cpu3 = ProcessCpuSeconds();
          if (ab) ab_ratio.push_back((b_first ? tb_first : cb->TimeBatch(1, false)) / ks);
          copy_s.push_back(cs);
          kernel_s.push_back(ks);
          ratio.push_back(cs / ks);
          cpu_ratio.push_back((cpu1 - cpu0) / (cpu3 - cpu2));
        }
        const double copy_med = Quantile(copy_s, 0.5), kernel_med = Quantile(kernel_s, 0.5);
        fmt::print("{:>7} {:>5} {:>7} {:>8} {:>10.2f} {:>10.2f} {:>9.3f} {:>6.3f}..{:<6.3f} "
                   "{:>9.3f} {:>6.3f}..{:<6.3f} {:>8}{}\n",
                   threads, DTypeName(dtype), cols, p.rows, bytes / copy_med / 1e9,
                   bytes / kernel_med / 1e9, Quantile(ratio, 0.5), Quantile(ratio, 0.1),
                   Quantile(ratio, 0.9), Quantile(cpu_ratio, 0.5), Quantile(cpu_ratio, 0.1),
                   Quantile(cpu_ratio, 0.9), c->ResolvedVariant(), AbColumns(ab_ratio));
        std::fflush(stdout);
      }
    }
  }
}

// Cache-sized: hot runs of ~256 KiB of x, Highway against the scalar backend.
void RunCache(const BenchConfig& cfg) {
  fmt::print("# cache-sized: x = 256 KiB f32, hot; speedup = scalar time / highway time\n");
  fmt::print("{:>7} {:>6} {:>5} {:>12} {:>12} {:>8}\n", "threads", "H", "N", "scalar us",
             "highway us", "speedup");
  for (int threads : cfg.threads) {
    ThreadPool& pool = SharedThreadPool(threads);
    for (int64_t cols : {int64_t{128}, int64_t{768}, int64_t{1024}, int64_t{4096}}) {
      Problem p;
      p.cols = cols;
      p.rows = (256 << 10) / (cols * 4);
      Inputs in(p, pool);
      CaseOptions o;
      o.threads = threads;
      auto scalar = PrepareOn("scalar", p, in.view, o);
      o.variant = cfg.variant;
      auto hwy = PrepareOn("highway", p, in.view, o);
      std::vector<double> ts = Sample(*scalar, cfg.samples, 20);
      std::vector<double> th = Sample(*hwy, cfg.samples, 200);
      const double ms = Quantile(ts, 0.5), mh = Quantile(th, 0.5);
      fmt::print("{:>7} {:>6} {:>5} {:>12.2f} {:>12.2f} {:>8.1f}\n", threads, cols, p.rows,
                 ms * 1e6, mh * 1e6, ms / mh);
      std::fflush(stdout);
    }
  }
}

// Hot: cache-resident x of `hot_kib` KiB, Highway alone, every dtype and H
// of the lists, one thread (or each count of --threads). Reports the fastest
// of many samples (ns per element, and GB/s of counted bytes): for
// instruction-level changes, where the minimum is what other processes on a
// shared machine disturb least.
void RunHot(const BenchConfig& cfg) {
  const std::vector<int> all_threads = cfg.threads_given ? cfg.threads : std::vector<int>{1};
  for (int threads : all_threads) {
    ThreadPool& pool = SharedThreadPool(threads);
    fmt::print("# hot: {}, x = {} KiB, {} thread{}, min over {} samples of 50 runs\n", OpName(cfg), cfg.hot_kib,
               pool.threads(), pool.threads() == 1 ? "" : "s", cfg.samples);
    PrintAb(cfg);
    fmt::print("{:>5} {:>6} {:>6} {:>10} {:>10} {:>8}{}\n", "dtype", "H", "N", "min us", "ns/elem",
               "GB/s", AbHeader(cfg));
    for (DType dtype : cfg.dtypes) {
      for (int64_t cols : cfg.cols) {
        Problem p;
        p.dtype = dtype;
        p.cols = cols;
        p.rows = std::max<int64_t>(1, static_cast<int64_t>((cfg.hot_kib << 10) /
                                                           (cols * DTypeSize(dtype))));
        p.affine = cfg.affine;
        if (cfg.rms) p.norm = Norm::kRmsNorm;
        if (cfg.bwd) p.dir = Direction::kBackward;
        Inputs in(p, pool);
        const bool ab = !cfg.ab.empty();
        auto hwy = PrepareOn("highway", p, in.view, OptionsFor(cfg, threads, ab ? AbSide::kA : AbSide::kNone));
        std::vector<double> th, ab_ratio;
        if (ab) {
          // Pairs of samples (50 runs each), B first in odd pairs.
          auto hb = PrepareOn("highway", p, in.view, OptionsFor(cfg, threads, AbSide::kB));
          hwy->Run();
          hb->Run();
          for (int k = 0; k < cfg.samples; ++k) {
            const bool b_first = k % 2 == 1;
            const double tb_before = b_first ? hb->TimeBatch(50, false) / 50 : 0.0;
            th.push_back(hwy->TimeBatch(50, false) / 50);
            ab_ratio.push_back((b_first ? tb_before : hb->TimeBatch(50, false) / 50) / th.back());
          }
        } else {
          th = Sample(*hwy, cfg.samples, 50);
        }
        const double t = Quantile(th, 0.0);
        fmt::print("{:>5} {:>6} {:>6} {:>10.2f} {:>10.4f} {:>8.2f}{}\n", DTypeName(dtype), cols,
                   p.rows, t * 1e6, t * 1e9 / static_cast<double>(p.rows * cols),
                   static_cast<double>(CountBytes(p).total()) / t / 1e9, AbColumns(ab_ratio));
        std::fflush(stdout);
      }
    }
  }
}

// Batch 1 (H = 4096, or each H of --cols): one row, against memcpy of the
// same row (both hot).
void RunLatency(const BenchConfig& cfg) {
  fmt::print("# latency: N = 1, hot; ratio = highway / memcpy of the row (x to y)\n");
  fmt::print("{:>5} {:>6} {:>10} {:>10} {:>7}\n", "dtype", "H", "copy ns", "hwy ns", "ratio");
  ThreadPool& pool = SharedThreadPool(1);
  const std::vector<int64_t> all_cols = cfg.cols_given ? cfg.cols : std::vector<int64_t>{4096};
  for (DType dtype : cfg.dtypes) {
    for (int64_t cols : all_cols) {
      Problem p;
      p.dtype = dtype;
      p.cols = cols;
      p.rows = 1;
      Inputs in(p, pool);
      CaseOptions o;
      o.threads = 1;
      o.variant = cfg.variant;
      auto hwy = PrepareOn("highway", p, in.view, o);
      const size_t row_bytes = static_cast<size_t>(p.cols) * DTypeSize(dtype);
      HostBuffer dst(row_bytes);
      std::memset(dst.data(), 0, row_bytes);
      constexpr int kBatch = 2000;
      std::vector<double> tc;
      for (int s = 0; s < cfg.samples; ++s) {
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < kBatch; ++i) {
          std::memcpy(dst.data(), in.view.get(TensorId::kX), row_bytes);
          // Keep the copies: the compiler may not drop or merge them.
          asm volatile("" : : "r"(dst.data()) : "memory");
        }
        const auto t1 = std::chrono::steady_clock::now();
        tc.push_back(std::chrono::duration<double>(t1 - t0).count() / kBatch);
      }
      std::vector<double> th = Sample(*hwy, cfg.samples, kBatch);
      const double mc = Quantile(tc, 0.5), mh = Quantile(th, 0.5);
      fmt::print("{:>5} {:>6} {:>10.1f} {:>10.1f} {:>7.2f}\n", DTypeName(dtype), p.cols, mc * 1e9,
                 mh * 1e9, mh / mc);
    }
  }
}

template <class T, class Parse>
std::vector<T> ParseList(const std::string& s, Parse parse) {
  std::vector<T> out;
  size_t pos = 0;
  while (pos <= s.size()) {
    const size_t comma = std::min(s.find(',', pos), s.size());
    out.push_back(parse(s.substr(pos, comma - pos)));
    pos = comma + 1;
  }
  return out;
}

constexpr const char* kUsage =
    "usage: lnbench_highway_bench [dram|cache|latency|hot|all] [--mib M] [--kib K] [--samples S]\n"
    "                             [--rms] [--bwd] [--no-affine] [--threads 1,2] [--dtypes f32,bf16]\n"
    "                             [--cols 128,768,...] [--variant auto] [--tune key=value]...\n"
    "                             [--ab key=A,B]...\n"
    "Times the Highway backend against the copy ceiling measured in the same run (a\n"
    "development benchmark: docs/highway.md, \"Paired A/B of two code paths\").\n";

// Returns `text` as a whole non-negative number for `option`; anything else
// (letters, a sign, a fraction, too large) is a usage error naming the option.
uint64_t WholeNumber(const std::string& option, const std::string& text) {
  if (text.empty() || text.size() > 12 || text.find_first_not_of("0123456789") != std::string::npos)
    throw UsageError(option + " needs a whole number, not '" + text + "'");
  return std::stoull(text);
}

int Main(int argc, char** argv) {
  BenchConfig cfg;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw UsageError(a + " needs a value");
      return argv[++i];
    };
    if (a == "-h" || a == "--help") {
      fmt::print("{}", kUsage);
      return kExitOk;
    } else if (a == "dram" || a == "cache" || a == "latency" || a == "hot" || a == "all") {
      cfg.mode = a;
    } else if (a == "--mib") {
      cfg.x_mib = std::max<uint64_t>(1, WholeNumber(a, value()));
    } else if (a == "--kib") {
      cfg.hot_kib = std::max<uint64_t>(1, WholeNumber(a, value()));
    } else if (a == "--samples") {
      cfg.samples = static_cast<int>(std::clamp<uint64_t>(WholeNumber(a, value()), 1, 100000));
    } else if (a == "--rms") {
      cfg.rms = true;
    } else if (a == "--bwd") {
      cfg.bwd = true;
    } else if (a == "--no-affine") {
      cfg.affine = false;
    } else if (a == "--variant") {
      cfg.variant = value();
    } else if (a == "--tune" || a == "--ab") {
      const std::string kv = value();
      const size_t eq = kv.find('=');
      if (eq == 0 || eq == std::string::npos || eq + 1 == kv.size()) {
        throw UsageError(a + " needs key=value, not '" + kv + "'");
      }
      const std::string key = kv.substr(0, eq), v = kv.substr(eq + 1);
      if (a == "--tune") {
        cfg.tuning[key] = v;
      } else {
        const size_t comma = v.find(',');
        if (comma == 0 || comma == std::string::npos || comma + 1 == v.size() ||
            v.find(',', comma + 1) != std::string::npos) {
          throw UsageError("--ab needs key=A,B (two values), not '" + kv + "'");
        }
        for (const BenchConfig::AbSetting& s : cfg.ab)
          if (s.key == key) throw UsageError("--ab " + key + " given twice");
        cfg.ab.push_back({key, v.substr(0, comma), v.substr(comma + 1)});
      }
    } else if (a == "--threads") {
      cfg.threads_given = true;
      cfg.threads = ParseList<int>(value(), [&a](const std::string& s) {
        return static_cast<int>(std::min<uint64_t>(WholeNumber(a, s), 4096));  // 0: every core
      });
    } else if (a == "--cols") {
      cfg.cols = ParseList<int64_t>(value(), [&a](const std::string& s) {
        const uint64_t h = WholeNumber(a, s);
        if (h < 1 || h > (uint64_t{1} << 31)) throw UsageError(a + ": H must be 1 to 2^31, not " + s);
        return static_cast<int64_t>(h);
      });
      cfg.cols_given = true;
    } else if (a == "--dtypes") {
      cfg.dtypes = ParseList<DType>(value(), [](const std::string& s) {
        const auto d = ParseDType(s);
        if (!d) throw UsageError("unknown dtype " + s);
        return *d;
      });
    } else {
      throw UsageError("unknown argument " + a + " (--help lists them)");
    }
  }
  {
    // Settings the backend does not have would be ignored: refuse them.
    Backend* hwy = FindBackend("highway");
    LNBENCH_CHECK(hwy != nullptr, "backend missing: highway");
    const std::vector<std::string> keys = hwy->TuningKeys();
    std::vector<std::string> asked;
    for (const auto& [key, v] : cfg.tuning) asked.push_back(key);
    for (const BenchConfig::AbSetting& s : cfg.ab) asked.push_back(s.key);
    for (const std::string& key : asked) {
      if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
        throw UsageError("highway has no setting '" + key + "' (it has: " +
                         fmt::format("{}", fmt::join(keys, ", ")) + ")");
      }
    }
  }
  fmt::print("# cpu: {}, {} hardware threads, LLC {} MiB\n", CpuModelName(), HardwareThreads(),
             LastLevelCacheBytes() >> 20);
  if (cfg.mode == "dram" || cfg.mode == "all") RunDram(cfg);
  if (cfg.mode == "cache" || cfg.mode == "all") RunCache(cfg);
  if (cfg.mode == "latency" || cfg.mode == "all") RunLatency(cfg);
  if (cfg.mode == "hot") RunHot(cfg);
  return kExitOk;
}

}  // namespace
}  // namespace lnbench

int main(int argc, char** argv) {
  try {
    // Everything here is timed back to back: the pools' waits spin throughout.
    lnbench::ScopedPoolSpinning spinning;
    return lnbench::Main(argc, argv);
  } catch (const lnbench::UsageError& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return lnbench::kExitUsage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return lnbench::kExitRuntime;
  }
}
