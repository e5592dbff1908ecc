// store_kind: which store kind and row order the LayerNorm kernel should use
// for short f32 rows beyond the last-level cache (issue 15; UnstreamedByDefault
// and SingleRowsByDefault in backends/highway/highway_backend.cc), on 4 KiB
// pages and on huge pages (MADV_HUGEPAGE, as lnbench's HostBuffer asks for
// buffers of 4 MiB or more). One thread, 256 MiB of x, rows of H = 128 f32,
// affine. Every variant runs on the same x and y, in a new random order each
// round; prints each variant's median time and the streaming copy's median
// time over it ("vs copy"; 1.00 = the copy's speed), with the range.
//
// Linked against a Release build in build/ (the kernel's f32 rows function,
// AVX3 target; AVX3_DL before 2026-12-07, the same code) and, with
// -DWITH_ONEDNN, oneDNN's layer_normalization_forward (one thread:
// OMP_NUM_THREADS=1):
//
//   g++ -O2 -march=native -DWITH_ONEDNN -DHWY_WANT_AVX3_DL -I. -Isrc -o /tmp/store_kind
//     scripts/microbench/store_kind.cc -Wl,--start-group build/backends/highway/liblnbench_backend_highway.a
//     build/liblnbench_backends.a build/liblnbench_core.a -Wl,--end-group -lhwy -lfmt -lpthread -ldnnl
//   OMP_NUM_THREADS=1 /tmp/store_kind [4k|huge] [rounds] [H]
//
// Variants: the kernel with row_groups on (batches of four rows, as rows of
// this width took by default before 2026-12-06) or off (single rows), each
// with streaming stores ("_nt") or ordinary ones ("_st").
//
// Zen 5 VM, 2026-12-06, three processes per page size, 15 rounds each,
// median vs copy per process:
//   4 KiB pages: single_st 0.85 0.79 0.81, oneDNN 0.81 0.73 0.80, memcpy 0.85
//     0.81 0.79, batches_st 0.70 0.66 0.66, batches_nt 0.68 0.63 0.62,
//     single_nt 0.70 0.63 0.63;
//   huge pages (AnonHugePages 524288 kB): single_st 0.80 0.83 0.80, oneDNN
//     0.72 0.78 0.76, batches_nt 0.67 0.67 0.69, batches_st 0.71 0.70 0.72,
//     single_nt 0.67 0.68 0.65.
// Only single rows with ordinary stores reach oneDNN, which writes one row at
// a time with ordinary stores (its JIT code, dumped with DNNL_JIT_DUMP=1: three
// passes over each row from L1, then vmovups). An earlier scratch version of
// this benchmark had streamed batches ahead in some processes with huge pages
// (0.84-0.87 against 0.69-0.73 for ordinary batches; single rows not timed),
// so the VM's state moves these figures; the paired runs of
// `lnbench_highway_bench dram --ab` in docs/highway.md are the evidence the
// default rests on.
#include <sys/mman.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <immintrin.h>

#include "backends/highway/layernorm_highway.h"
#include "shuffled_rounds.h"
#include "stream_copy.h"
#include "hwy/targets.h"
#ifdef WITH_ONEDNN
#include <oneapi/dnnl/dnnl.hpp>
#endif

namespace {

// The process's AnonHugePages line of /proc/self/smaps_rollup ("?" if none):
// whether the kernel gave huge pages.
std::string AnonHugePages() {
  FILE* f = std::fopen("/proc/self/smaps_rollup", "r");
  if (f == nullptr) return "?";
  char line[256];
  std::string found = "?";
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, "AnonHugePages:", 14) == 0) {
      found = line + 14;
      found.erase(0, found.find_first_not_of(' '));
      found.erase(found.find_last_not_of(" \n") + 1);
    }
  }
  std::fclose(f);
  return found;
}

struct Variant {
  std::string name;
  std::function<void()> run;
};

}  // namespace

int main(int argc, char** argv) {
  const std::string pages = argc > 1 ? argv[1] : "4k";
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 15;
  const int64_t cols = argc > 3 ? std::atoll(argv[3]) : 128;
  if ((pages != "4k" && pages != "huge") || rounds < 1 || cols < 32 || cols % 32 != 0) {
    std::fprintf(stderr, "usage: store_kind [4k|huge] [rounds >= 1] [H: a multiple of 32]\n");
    return 2;
  }
  const size_t bytes = size_t{256} << 20;
  const size_t n = bytes / sizeof(float) / static_cast<size_t>(cols) * static_cast<size_t>(cols);
  auto* x = static_cast<float*>(std::aligned_alloc(2 << 20, bytes));
  auto* y = static_cast<float*>(std::aligned_alloc(2 << 20, bytes));
  if (pages == "huge") {
    madvise(x, bytes, MADV_HUGEPAGE);
    madvise(y, bytes, MADV_HUGEPAGE);
  }
  for (size_t i = 0; i < n; ++i) {
    x[i] = (static_cast<float>((i * 2654435761u) % 2000) - 1000.0f) * 0.002f;
    y[i] = 0;
  }
  std::vector<float> gamma(static_cast<size_t>(cols)), beta(static_cast<size_t>(cols));
  for (size_t i = 0; i < gamma.size(); ++i) {
    gamma[i] = 1.0f + static_cast<float>(i) * 1e-3f;
    beta[i] = 0.5f;
  }
  const lnbench::HwyRowsFn kernel =
      lnbench::HighwayRowsFunction(lnbench::DType::kF32, HWY_AVX3);
  if (kernel == nullptr) {
    std::fprintf(stderr, "store_kind: no AVX3 kernel in this build\n");
    return 1;
  }
  const auto rows = static_cast<int64_t>(n / static_cast<size_t>(cols));
  const auto kernel_variant = [&](bool row_groups, bool stream) {
    return [&, row_groups, stream] {
      lnbench::HwyRowsArgs a;
      a.x = x;
      a.y = y;
      a.cols = cols;
      a.gamma = gamma.data();
      a.beta = beta.data();
      a.stream = stream;
      a.row_groups = row_groups;
      kernel(a, 0, rows);
    };
  };
  std::vector<Variant> v = {
      {"stream_copy", [&] { StreamCopy(y, x, n); }},
      {"memcpy", [&] { std::memcpy(y, x, n * sizeof(float)); }},
      {"batches_nt", kernel_variant(true, true)},
      {"batches_st", kernel_variant(true, false)},
      {"single_nt", kernel_variant(false, true)},
      {"single_st", kernel_variant(false, false)},
  };
#ifdef WITH_ONEDNN
  using dnnl::memory;
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream st(eng);
  const memory::desc md({rows, cols}, memory::data_type::f32, memory::format_tag::ab);
  const memory::desc pd_params({cols}, memory::data_type::f32, memory::format_tag::a);
  const auto pd = dnnl::layer_normalization_forward::primitive_desc(
      dnnl::layer_normalization_forward::desc(
          dnnl::prop_kind::forward_inference, md, 1e-5f,
          dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift),
      eng);
  dnnl::layer_normalization_forward lnorm(pd);
  memory mx(md, eng, x), my(md, eng, y), mg(pd_params, eng, gamma.data()),
      mb(pd_params, eng, beta.data());
  v.push_back({"onednn", [&] {
                 lnorm.execute(st, {{DNNL_ARG_SRC, mx},
                                    {DNNL_ARG_DST, my},
                                    {DNNL_ARG_SCALE, mg},
                                    {DNNL_ARG_SHIFT, mb}});
                 st.wait();
               }});
#endif
  const std::vector<std::vector<double>> t =
      ShuffledRounds(v.size(), rounds, [&](size_t k) { v[k].run(); });
  const double copy = t[0][static_cast<size_t>(rounds / 2)];
  std::printf("# %s pages (AnonHugePages %s), H = %lld f32, one thread, 256 MiB of x, %d rounds\n",
              pages.c_str(), AnonHugePages().c_str(), static_cast<long long>(cols), rounds);
  for (size_t k = 0; k < v.size(); ++k) {
    const double med = t[k][static_cast<size_t>(rounds / 2)];
    std::printf("%-12s %9.3f ms  vs copy %.2f (%.2f-%.2f)\n", v[k].name.c_str(), med * 1e3,
                copy / med, copy / t[k].back(), copy / t[k].front());
  }
  return 0;
}
