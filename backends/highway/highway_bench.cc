// lnbench_highway_bench: times the Highway backend against the copy ceiling
// measured in the same run, against the scalar backend on cache-sized data,
// and at batch 1 against a copy of the same row. A development tool, not a
// test: its numbers depend on the machine and on what else runs on it.
//
//   lnbench_highway_bench [dram|cache|latency|hot|all] [--mib M] [--kib K] [--samples S] [--rms] [--bwd]
//                         [--threads 1,2] [--dtypes f32,bf16] [--cols 128,768,...]
//                         [--variant auto]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <fmt/core.h>

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
  std::vector<DType> dtypes = {DType::kF32, DType::kBF16};
  std::vector<int64_t> cols = {128, 768, 1024, 4096, 8192, 16384, 65536};
  std::string variant = "auto";
  bool affine = true;
  uint64_t hot_kib = 256;  // hot mode: x is this large
  bool rms = false;        // dram and hot modes: RMSNorm instead of LayerNorm
  bool bwd = false;        // dram and hot modes: the backward (dx, dgamma, dbeta) instead of the forward
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
  fmt::print("{:>7} {:>5} {:>7} {:>8} {:>10} {:>10} {:>9} {:>14} {:>9} {:>14} {:>8}\n",
             "threads", "dtype", "H", "N", "copy GB/s", "hwy GB/s", "fraction", "p10..p90",
             "cpu frac", "p10..p90", "variant");
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
        CaseOptions o;
        o.threads = threads;
        o.variant = cfg.variant;
        auto c = PrepareOn("highway", p, in.view, o);
        c->Run();
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
        std::vector<double> copy_s, kernel_s, ratio, cpu_ratio;
        for (int s = 0; s < cfg.samples; ++s) {
          // The report's ceiling: the faster of memcpy and the streaming copy.
          CeilingMeasurement m = MeasureCpuCopy(bytes, threads, 1, 0.0);
          CeilingMeasurement ms = MeasureCpuCopy(bytes, threads, 1, 0.0, /*streaming=*/true);
          const double cs = std::min(Quantile(m.seconds, 0.0), Quantile(ms.seconds, 0.0)) *
                            static_cast<double>(bytes) / static_cast<double>(m.bytes_per_copy);
          const double cpu0 = ProcessCpuSeconds();
          copy();
          const double cpu1 = ProcessCpuSeconds();
          const double ks = c->TimeBatch(1, false);
          const double cpu2 = ProcessCpuSeconds();
          copy_s.push_back(cs);
          kernel_s.push_back(ks);
          ratio.push_back(cs / ks);
          cpu_ratio.push_back((cpu1 - cpu0) / (cpu2 - cpu1));
        }
        const double copy_med = Quantile(copy_s, 0.5), kernel_med = Quantile(kernel_s, 0.5);
        fmt::print("{:>7} {:>5} {:>7} {:>8} {:>10.2f} {:>10.2f} {:>9.3f} {:>6.3f}..{:<6.3f} "
                   "{:>9.3f} {:>6.3f}..{:<6.3f} {:>8}\n",
                   threads, DTypeName(dtype), cols, p.rows, bytes / copy_med / 1e9,
                   bytes / kernel_med / 1e9, Quantile(ratio, 0.5), Quantile(ratio, 0.1),
                   Quantile(ratio, 0.9), Quantile(cpu_ratio, 0.5), Quantile(cpu_ratio, 0.1),
                   Quantile(cpu_ratio, 0.9), c->ResolvedVariant());
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
// of the lists, one thread. Reports the fastest of many samples (ns per
// element, and GB/s of counted bytes): for instruction-level changes, where
// the minimum is what other processes on a shared machine disturb least.
void RunHot(const BenchConfig& cfg) {
  fmt::print("# hot: {}, x = {} KiB, 1 thread, min over {} samples of 50 runs\n",
             OpName(cfg),
             cfg.hot_kib, cfg.samples);
  fmt::print("{:>5} {:>6} {:>6} {:>10} {:>10} {:>8}\n", "dtype", "H", "N", "min us", "ns/elem",
             "GB/s");
  ThreadPool& pool = SharedThreadPool(1);
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
      CaseOptions o;
      o.threads = 1;
      o.variant = cfg.variant;
      auto hwy = PrepareOn("highway", p, in.view, o);
      std::vector<double> th = Sample(*hwy, cfg.samples, 50);
      const double t = Quantile(th, 0.0);
      fmt::print("{:>5} {:>6} {:>6} {:>10.2f} {:>10.4f} {:>8.2f}\n", DTypeName(dtype), cols,
                 p.rows, t * 1e6, t * 1e9 / static_cast<double>(p.rows * cols),
                 static_cast<double>(CountBytes(p).total()) / t / 1e9);
      std::fflush(stdout);
    }
  }
}

// Batch 1 at H = 4096: one row, against memcpy of the same row (both hot).
void RunLatency(const BenchConfig& cfg) {
  fmt::print("# latency: N = 1, hot; ratio = highway / memcpy of the row (x to y)\n");
  fmt::print("{:>5} {:>6} {:>10} {:>10} {:>7}\n", "dtype", "H", "copy ns", "hwy ns", "ratio");
  ThreadPool& pool = SharedThreadPool(1);
  for (DType dtype : cfg.dtypes) {
    Problem p;
    p.dtype = dtype;
    p.cols = 4096;
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

int Main(int argc, char** argv) {
  BenchConfig cfg;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw UsageError(a + " needs a value");
      return argv[++i];
    };
    if (a == "dram" || a == "cache" || a == "latency" || a == "hot" || a == "all") {
      cfg.mode = a;
    } else if (a == "--mib") {
      cfg.x_mib = std::stoull(value());
    } else if (a == "--kib") {
      cfg.hot_kib = std::max<uint64_t>(1, std::stoull(value()));
    } else if (a == "--samples") {
      cfg.samples = std::max(1, std::stoi(value()));
    } else if (a == "--rms") {
      cfg.rms = true;
    } else if (a == "--bwd") {
      cfg.bwd = true;
    } else if (a == "--no-affine") {
      cfg.affine = false;
    } else if (a == "--variant") {
      cfg.variant = value();
    } else if (a == "--threads") {
      cfg.threads = ParseList<int>(value(), [](const std::string& s) { return std::stoi(s); });
    } else if (a == "--cols") {
      cfg.cols = ParseList<int64_t>(value(), [](const std::string& s) { return std::stoll(s); });
    } else if (a == "--dtypes") {
      cfg.dtypes = ParseList<DType>(value(), [](const std::string& s) {
        const auto d = ParseDType(s);
        if (!d) throw UsageError("unknown dtype " + s);
        return *d;
      });
    } else {
      throw UsageError("unknown argument " + a);
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
