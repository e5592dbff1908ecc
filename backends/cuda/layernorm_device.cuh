// The CUDA backend's LayerNorm and RMSNorm kernels and their device helpers.
// Included by layernorm_kernels.cu (after the CUDA headers) and by the CPU
// emulation test (after tests/cuda_emulation.h), so it includes no CUDA header.
//
// Side by side (the shape of llm.c's dev/cuda/layernorm_forward.cu): a warp (or 1-16 lanes) per
// row, a block per row, a thread-block cluster per row (sm_90), and a row split over blocks in two
// kernels. Each holds its share of a row in registers as f32.
//
// Numerics, identical in every kernel (SegmentStats):
//   1. a = sum(x), b = sum(x - x0) over the segment, x0 its first element.
//   2. The shift K is x0 when x0 is within 2^-8 of the f32 mean m1 = a/n
//      (offset data, constant rows: x - K is then exact, and a constant row
//      gives exactly 0 below), else m1; lo = b/n when K = x0, else 0.
//   3. t = (x - K) - lo; c = sum(t), q = sum(t*t): the corrected two-pass
//      algorithm on shifted data (never E[x^2] - E[x]^2 on raw x).
//   4. mean = K + (lo + c/n), kept as two floats (hi, lo) so a mean near 1e6
//      keeps its bits below f32 resolution; m2 = q - c*c/n.
// Segments of one row (cluster blocks, split-row chunks) are merged with
// Chan's formula relative to the first segment's K. Every reduction adds in
// a fixed order that every thread repeats, so all threads agree bitwise.
//
// RMSNorm (every kernel's kNorm = Norm::kRmsNorm): the same kernels, launches
// and plans; only the statistics and the output differ. A segment's
// statistics are q = sum(x*x) (a thread's squares in one or two chains, then
// the lane/block tree), carried as SegStats{n, 0, 0, q}: with hi = lo = 0,
// Chan's merge adds the q exactly as a plain sum would, and RowRstd gives
// rrms = 1/sqrt(q/n + eps). No shift: mean(x^2) is a sum of non-negative
// terms, so its f32 error is relative (D*u) whatever the offset of the row.
// y = (x * rrms) * gamma; only rstd (the rrms) is written as a statistic.
#ifndef LNBENCH_BACKENDS_CUDA_LAYERNORM_DEVICE_CUH_
#define LNBENCH_BACKENDS_CUDA_LAYERNORM_DEVICE_CUH_

#include <cstdint>
#include <cstring>

#include "backends/cuda/layernorm_plan.h"
#include "core/op.h"

namespace lnbench {
namespace layernorm_device {

inline constexpr unsigned kFullMask = 0xFFFFFFFFu;

// Kernel arguments, passed by value.
struct Params {
  const void* x;
  const float* gamma;  // nullptr: no affine
  const float* beta;   // RMSNorm: always nullptr
  void* y;
  float* mean;  // nullptr: no stats; RMSNorm: always nullptr
  float* rstd;  // nullptr: no stats (RMSNorm: the rrms)
  float4* partials;  // split-row: (n, hi, lo, m2) per row chunk
  int64_t rows;
  int64_t cols;
  float eps;
};

// ---- element access -------------------------------------------------------

// Loads, stores and 16-byte (un)packing of one storage type as f32.
template <typename T>
struct Elem;

template <>
struct Elem<float> {
  static __device__ __forceinline__ float Load(const float* p) { return __ldg(p); }
  static __device__ __forceinline__ void Store(float* p, float v) { *p = v; }
  static __device__ __forceinline__ void Unpack(const uint4& r, float* f) {
    f[0] = __uint_as_float(r.x);
    f[1] = __uint_as_float(r.y);
    f[2] = __uint_as_float(r.z);
    f[3] = __uint_as_float(r.w);
  }
  static __device__ __forceinline__ uint4 Pack(const float* f) {
    return make_uint4(__float_as_uint(f[0]), __float_as_uint(f[1]), __float_as_uint(f[2]),
                      __float_as_uint(f[3]));
  }
};

template <>
struct Elem<__nv_bfloat16> {
  static __device__ __forceinline__ float Load(const __nv_bfloat16* p) {
    return __bfloat162float(__ldg(p));
  }
  static __device__ __forceinline__ void Store(__nv_bfloat16* p, float v) {
    *p = __float2bfloat16_rn(v);
  }
  // bf16 -> f32 is exact: the 16 bits become the high half of the float.
  static __device__ __forceinline__ void UnpackWord(uint32_t w, float* f) {
    f[0] = __uint_as_float(w << 16);
    f[1] = __uint_as_float(w & 0xFFFF0000u);
  }
  static __device__ __forceinline__ uint32_t PackWord(float a, float b) {
    const __nv_bfloat162 h = __floats2bfloat162_rn(a, b);  // .x (a) is the low half
    uint32_t w;
    memcpy(&w, &h, 4);
    return w;
  }
  static __device__ __forceinline__ void Unpack(const uint4& r, float* f) {
    UnpackWord(r.x, f);
    UnpackWord(r.y, f + 2);
    UnpackWord(r.z, f + 4);
    UnpackWord(r.w, f + 6);
  }
  static __device__ __forceinline__ uint4 Pack(const float* f) {
    return make_uint4(PackWord(f[0], f[1]), PackWord(f[2], f[3]), PackWord(f[4], f[5]),
                      PackWord(f[6], f[7]));
  }
};

template <>
struct Elem<__half> {
  static __device__ __forceinline__ float Load(const __half* p) { return __half2float(__ldg(p)); }
  static __device__ __forceinline__ void Store(__half* p, float v) { *p = __float2half_rn(v); }
  static __device__ __forceinline__ void UnpackWord(uint32_t w, float* f) {
    __half2 h;
    memcpy(&h, &w, 4);
    const float2 v = __half22float2(h);
    f[0] = v.x;
    f[1] = v.y;
  }
  static __device__ __forceinline__ uint32_t PackWord(float a, float b) {
    const __half2 h = __floats2half2_rn(a, b);
    uint32_t w;
    memcpy(&w, &h, 4);
    return w;
  }
  static __device__ __forceinline__ void Unpack(const uint4& r, float* f) {
    UnpackWord(r.x, f);
    UnpackWord(r.y, f + 2);
    UnpackWord(r.z, f + 4);
    UnpackWord(r.w, f + 6);
  }
  static __device__ __forceinline__ uint4 Pack(const float* f) {
    return make_uint4(PackWord(f[0], f[1]), PackWord(f[2], f[3]), PackWord(f[4], f[5]),
                      PackWord(f[6], f[7]));
  }
};

// One "load" of a row: 16 bytes (kVec) or one element. A thread keeps up to
// kSlots loads, kRowRegisterFloats floats, in registers.
template <typename T, bool kVec>
struct RowIo {
  static constexpr int kW = kVec ? static_cast<int>(16 / sizeof(T)) : 1;
  static constexpr int kSlots = kRowRegisterFloats / kW;

  static __device__ __forceinline__ void Load(const T* row, int i, float (&f)[kW]) {
    if constexpr (kVec) {
      Elem<T>::Unpack(__ldg(reinterpret_cast<const uint4*>(row) + i), f);
    } else {
      f[0] = Elem<T>::Load(row + i);
    }
  }
  static __device__ __forceinline__ void Store(T* row, int i, const float (&f)[kW]) {
    if constexpr (kVec) {
      reinterpret_cast<uint4*>(row)[i] = Elem<T>::Pack(f);
    } else {
      Elem<T>::Store(row + i, f[0]);
    }
  }
  // Loads the kW gamma or beta floats of load i.
  static __device__ __forceinline__ void LoadParam(const float* p, int i, float (&f)[kW]) {
    if constexpr (kVec) {
#pragma unroll
      for (int q = 0; q < kW / 4; ++q) {
        const float4 a = __ldg(reinterpret_cast<const float4*>(p) + i * (kW / 4) + q);
        f[4 * q + 0] = a.x;
        f[4 * q + 1] = a.y;
        f[4 * q + 2] = a.z;
        f[4 * q + 3] = a.w;
      }
    } else {
      f[0] = __ldg(p + i);
    }
  }
};

// Returns how many of the loads first, first + stride, ... fall below `count`.
// Offsets within a row are int: the planner keeps cols below 2^31, and 32-bit
// index math leaves the 64-register budget of 1024-thread blocks to the row.
template <int kSlots>
__device__ __forceinline__ int SlotCount(int count, int first, int stride) {
  if (first >= count) return 0;
  const int n = (count - first + stride - 1) / stride;
  return n < kSlots ? n : kSlots;
}

// ---- statistics -------------------------------------------------------------

// Statistics of a segment of a row: n elements, mean = hi + lo, m2 = sum of
// squared deviations from the mean.
struct SegStats {
  float n, hi, lo, m2;
};

// Sums (a, b) over `lanes` adjacent lanes (a power of two <= 32); all 32
// lanes must call it. XOR butterflies leave the same bits in every lane.
struct LaneReduce {
  int lanes;
  __device__ __forceinline__ void operator()(float& a, float& b) const {
    for (int offset = lanes >> 1; offset > 0; offset >>= 1) {
      a += __shfl_xor_sync(kFullMask, a, offset);
      b += __shfl_xor_sync(kFullMask, b, offset);
    }
  }
};

// Sums (a, b) over the block: warp butterflies, then every thread adds the
// warps' sums in warp order. Each call uses its own row of `slots`, so two
// consecutive calls need no barrier between them.
struct BlockReduce {
  float2 (*slots)[32];
  int call = 0;
  __device__ __forceinline__ void operator()(float& a, float& b) {
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) {
      a += __shfl_xor_sync(kFullMask, a, offset);
      b += __shfl_xor_sync(kFullMask, b, offset);
    }
    if ((threadIdx.x & 31) == 0) slots[call][threadIdx.x >> 5] = make_float2(a, b);
    __syncthreads();
    a = 0.f;
    b = 0.f;
    const int warps = blockDim.x >> 5;
    for (int w = 0; w < warps; ++w) {
      const float2 s = slots[call][w];
      a += s.x;
      b += s.y;
    }
    ++call;
  }
};

// Returns the LayerNorm statistics of the loads v[0..nk) of this thread's
// share of a segment of n elements starting with x0 (see the file comment).
// `reduce` sums over the threads that share the segment.
template <int kW, int kSlots, typename Reduce>
__device__ __forceinline__ SegStats LayerNormSegmentStats(const float (&v)[kSlots][kW], int nk,
                                                          float x0, float n, Reduce& reduce) {
  const float inv_n = 1.0f / n;
  float a = 0.f, b = 0.f;
#pragma unroll
  for (int k = 0; k < kSlots; ++k) {
    if (k < nk) {
#pragma unroll
      for (int e = 0; e < kW; ++e) {
        a += v[k][e];
        b += v[k][e] - x0;
      }
    }
  }
  reduce(a, b);
  const float m1 = a * inv_n;
  const bool use_x0 = fabsf(x0 - m1) <= fabsf(m1) * 0x1p-8f;
  const float hi = use_x0 ? x0 : m1;
  const float lo = use_x0 ? b * inv_n : 0.f;
  float c = 0.f, q = 0.f;
#pragma unroll
  for (int k = 0; k < kSlots; ++k) {
    if (k < nk) {
#pragma unroll
      for (int e = 0; e < kW; ++e) {
        const float t = (v[k][e] - hi) - lo;
        c += t;
        q = fmaf(t, t, q);
      }
    }
  }
  reduce(c, q);
  const float lo2 = c * inv_n;
  const float m2 = q - c * lo2;
  // Clamp rounding below zero, but let NaN through (a row with NaN/Inf stays NaN).
  return {n, hi, lo + lo2, m2 < 0.f ? 0.f : m2};
}

// Returns the RMSNorm statistics of the same share: {n, 0, 0, sum(x*x)}: a
// thread's squares (at most kRowRegisterFloats), then the lane/block tree.
// 16-byte loads: fmaf into two chains (even and odd elements). Element path:
// rounded squares (__fmul_rn, never contracted) in one chain. Both are within
// the bound; the split is ptxas's (nvcc 13.0): every other form we tried
// spilled 4-16 bytes in some instantiation (fmaf: the 16-bit element-path
// block kernels at the 64-register cap; __fmul_rn: the vectorized warp or
// split-row stats kernels).
template <int kW, int kSlots, typename Reduce>
__device__ __forceinline__ SegStats RmsNormSegmentStats(const float (&v)[kSlots][kW], int nk,
                                                        float n, Reduce& reduce) {
  float q0 = 0.f, q1 = 0.f;
#pragma unroll
  for (int k = 0; k < kSlots; ++k) {
    if (k < nk) {
#pragma unroll
      for (int e = 0; e < kW; ++e) {
        if constexpr (kW == 1) {
          q0 += __fmul_rn(v[k][e], v[k][e]);
        } else if (e % 2 == 0) {
          q0 = fmaf(v[k][e], v[k][e], q0);
        } else {
          q1 = fmaf(v[k][e], v[k][e], q1);
        }
      }
    }
  }
  reduce(q0, q1);
  return {n, 0.f, 0.f, q0 + q1};
}

// Returns the statistics kNorm needs (RMSNorm ignores x0).
template <Norm kNorm, int kW, int kSlots, typename Reduce>
__device__ __forceinline__ SegStats SegmentStats(const float (&v)[kSlots][kW], int nk, float x0,
                                                 float n, Reduce& reduce) {
  if constexpr (kNorm == Norm::kRmsNorm) {
    return RmsNormSegmentStats<kW, kSlots>(v, nk, n, reduce);
  } else {
    return LayerNormSegmentStats<kW, kSlots>(v, nk, x0, n, reduce);
  }
}

// Merges the statistics of `count` <= 32 segments of one row, lane i holding
// segment i (get(i) is read once), with Chan's formula relative to segment
// 0's shift. Every lane, and every warp that calls it, gets the same bits.
// RMSNorm segments (hi = lo = 0) give delta = mu = d = 0: m2 is the plain sum.
template <typename Get>
__device__ __forceinline__ SegStats WarpCombineFew(int count, Get get) {
  const int lane = threadIdx.x & 31;
  const SegStats own = lane < count ? get(lane) : SegStats{0.f, 0.f, 0.f, 0.f};
  const float r = __shfl_sync(kFullMask, own.hi, 0);
  const float delta = (own.hi - r) + own.lo;  // this segment's mean relative to r
  float n = own.n, s = own.n * delta;
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) {
    n += __shfl_xor_sync(kFullMask, n, offset);
    s += __shfl_xor_sync(kFullMask, s, offset);
  }
  const float mu = s / n;
  const float d = delta - mu;
  float m2 = lane < count ? fmaf(own.n * d, d, own.m2) : 0.f;
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) m2 += __shfl_xor_sync(kFullMask, m2, offset);
  return {n, r, mu, m2};
}

// Merges the statistics of any number of segments, get(i) for i < count, in
// two lane-strided passes (mean, then deviations); same guarantees as above.
template <typename Get>
__device__ __forceinline__ SegStats WarpCombineMany(int count, Get get) {
  const int lane = threadIdx.x & 31;
  const float r = get(0).hi;
  float n = 0.f, s = 0.f;
  for (int i = lane; i < count; i += 32) {
    const SegStats p = get(i);
    n += p.n;
    s = fmaf(p.n, (p.hi - r) + p.lo, s);
  }
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) {
    n += __shfl_xor_sync(kFullMask, n, offset);
    s += __shfl_xor_sync(kFullMask, s, offset);
  }
  const float mu = s / n;
  float m2 = 0.f;
  for (int i = lane; i < count; i += 32) {
    const SegStats p = get(i);
    const float d = ((p.hi - r) + p.lo) - mu;
    m2 += fmaf(p.n * d, d, p.m2);
  }
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) m2 += __shfl_xor_sync(kFullMask, m2, offset);
  return {n, r, mu, m2};
}

// Returns 1/sqrt(var + eps), correctly rounded sqrt and division (no rsqrtf).
__device__ __forceinline__ float RowRstd(const SegStats& s, float eps) {
  return 1.0f / sqrtf(s.m2 / s.n + eps);
}

// Writes y for load i of a row: ((x - hi) - lo) * rstd, then * gamma + beta.
// A constant row gives exactly 0 before the affine step, so y = beta exactly.
// RMSNorm: (x * rrms), then * gamma.
template <Norm kNorm, typename T, bool kVec>
__device__ __forceinline__ void NormalizeStore(const float (&v)[RowIo<T, kVec>::kW],
                                               const SegStats& s, float rstd, const Params& p,
                                               T* yrow, int i) {
  using Io = RowIo<T, kVec>;
  float out[Io::kW];
  if constexpr (kNorm == Norm::kRmsNorm) {
    if (p.gamma != nullptr) {
      float g[Io::kW];
      Io::LoadParam(p.gamma, i, g);
#pragma unroll
      for (int e = 0; e < Io::kW; ++e) out[e] = (v[e] * rstd) * g[e];
    } else {
#pragma unroll
      for (int e = 0; e < Io::kW; ++e) out[e] = v[e] * rstd;
    }
  } else if (p.gamma != nullptr) {
    float g[Io::kW], b[Io::kW];
    Io::LoadParam(p.gamma, i, g);
    Io::LoadParam(p.beta, i, b);
#pragma unroll
    for (int e = 0; e < Io::kW; ++e) out[e] = fmaf(((v[e] - s.hi) - s.lo) * rstd, g[e], b[e]);
  } else {
#pragma unroll
    for (int e = 0; e < Io::kW; ++e) out[e] = ((v[e] - s.hi) - s.lo) * rstd;
  }
  Io::Store(yrow, i, out);
}

// Writes the row's statistics when they are asked for: mean and rstd
// (LayerNorm), the rrms in rstd (RMSNorm).
template <Norm kNorm>
__device__ __forceinline__ void StoreStats(const Params& p, int64_t row, const SegStats& s,
                                           float rstd) {
  if (p.rstd == nullptr) return;
  if constexpr (kNorm == Norm::kLayerNorm) p.mean[row] = s.hi + s.lo;
  p.rstd[row] = rstd;
}

// ---- kernels ------------------------------------------------------------------

// warp: 2^lanes_log2 lanes per row, kWarpKernelThreads >> lanes_log2 rows per
// block; lane j holds loads j, j + lanes, ... of its row. No shared memory,
// no barriers: shuffles only.
template <Norm kNorm, typename T, bool kVec>
__global__ void __launch_bounds__(kWarpKernelThreads)
    WarpRowKernel(const Params p, const int lanes_log2) {
  using Io = RowIo<T, kVec>;
  const int lanes = 1 << lanes_log2;
  const int lane = threadIdx.x & (lanes - 1);
  const int64_t row = static_cast<int64_t>(blockIdx.x) * (kWarpKernelThreads >> lanes_log2) +
                      (threadIdx.x >> lanes_log2);
  const bool active = row < p.rows;
  const int loads = static_cast<int>(p.cols / Io::kW);
  const T* xrow = static_cast<const T*>(p.x) + (active ? row : 0) * p.cols;
  const int nk = active ? SlotCount<Io::kSlots>(loads, lane, lanes) : 0;
  float v[Io::kSlots][Io::kW];
#pragma unroll
  for (int k = 0; k < Io::kSlots; ++k)
    if (k < nk) Io::Load(xrow, lane + k * lanes, v[k]);
  const float x0 = kNorm == Norm::kLayerNorm && active ? Elem<T>::Load(xrow) : 0.f;
  LaneReduce reduce{lanes};
  // Inactive rows still take part in the shuffles; they stop only after them.
  const SegStats s =
      SegmentStats<kNorm, Io::kW, Io::kSlots>(v, nk, x0, static_cast<float>(p.cols), reduce);
  if (!active) return;
  const float rstd = RowRstd(s, p.eps);
  T* yrow = static_cast<T*>(p.y) + row * p.cols;
#pragma unroll
  for (int k = 0; k < Io::kSlots; ++k)
    if (k < nk) NormalizeStore<kNorm, T, kVec>(v[k], s, rstd, p, yrow, lane + k * lanes);
  if (lane == 0) StoreStats<kNorm>(p, row, s, rstd);
}

// block (kCluster = false): one block per row. cluster (kCluster = true,
// sm_90): blocks_per_row blocks of a cluster split the row; each block's
// segment statistics go through distributed shared memory and every warp
// merges them. Thread t holds loads t, t + blockDim, ... of its block's segment.
template <Norm kNorm, typename T, bool kVec, bool kCluster>
__global__ void __launch_bounds__(1024)
    RowBlockKernel(const Params p, const int blocks_per_row, const int loads_per_block) {
  using Io = RowIo<T, kVec>;
  __shared__ float2 reduce_slots[2][32];
  int rank = 0;
  int64_t row = blockIdx.x;
  if constexpr (kCluster) {
    rank = static_cast<int>(blockIdx.x % blocks_per_row);
    row = blockIdx.x / blocks_per_row;
  }
  const int loads = static_cast<int>(p.cols / Io::kW);
  const int begin = rank * loads_per_block;
  const int end = begin + loads_per_block < loads ? begin + loads_per_block : loads;
  const T* xrow = static_cast<const T*>(p.x) + row * p.cols;
  // This thread holds loads first, first + stride, ... of [begin, end).
  const int first = begin + static_cast<int>(threadIdx.x);
  const int stride = static_cast<int>(blockDim.x);
  const int nk = SlotCount<Io::kSlots>(end - begin, threadIdx.x, blockDim.x);
  float v[Io::kSlots][Io::kW];
#pragma unroll
  for (int k = 0; k < Io::kSlots; ++k)
    if (k < nk) Io::Load(xrow, first + k * stride, v[k]);
  const float x0 = kNorm == Norm::kLayerNorm ? Elem<T>::Load(xrow + begin * Io::kW) : 0.f;
  BlockReduce reduce{reduce_slots};
  SegStats s = SegmentStats<kNorm, Io::kW, Io::kSlots>(
      v, nk, x0, static_cast<float>((end - begin) * Io::kW), reduce);
  if constexpr (kCluster) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    __shared__ float4 segment;
    cooperative_groups::cluster_group cluster = cooperative_groups::this_cluster();
    if (threadIdx.x == 0) segment = make_float4(s.n, s.hi, s.lo, s.m2);
    cluster.sync();
    s = WarpCombineFew(blocks_per_row, [&](int i) {
      const float4 q = *cluster.map_shared_rank(&segment, i);
      return SegStats{q.x, q.y, q.z, q.w};
    });
#elif defined(__CUDA_ARCH__)
    __trap();  // the planner never launches clusters below sm_90
#endif
  }
  const float rstd = RowRstd(s, p.eps);
  T* yrow = static_cast<T*>(p.y) + row * p.cols;
#pragma unroll
  for (int k = 0; k < Io::kSlots; ++k)
    if (k < nk) NormalizeStore<kNorm, T, kVec>(v[k], s, rstd, p, yrow, first + k * stride);
  if (rank == 0 && threadIdx.x == 0) StoreStats<kNorm>(p, row, s, rstd);
  if constexpr (kCluster) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    // Keep this block's `segment` alive until every block of the cluster has read it.
    cooperative_groups::this_cluster().sync();
#endif
  }
}

// splitrow, kernel 1: block b = row * chunks + chunk computes its chunk's
// statistics into partials[b].
template <Norm kNorm, typename T, bool kVec>
__global__ void __launch_bounds__(kSplitRowThreads)
    SplitRowStatsKernel(const Params p, const int chunks, const int loads_per_chunk) {
  using Io = RowIo<T, kVec>;
  __shared__ float2 reduce_slots[2][32];
  const int64_t row = blockIdx.x / chunks;
  const int chunk = static_cast<int>(blockIdx.x % chunks);
  const int loads = static_cast<int>(p.cols / Io::kW);
  const int begin = chunk * loads_per_chunk;
  const int end = begin + loads_per_chunk < loads ? begin + loads_per_chunk : loads;
  const T* xrow = static_cast<const T*>(p.x) + row * p.cols;
  // This thread holds loads first, first + stride, ... of [begin, end).
  const int first = begin + static_cast<int>(threadIdx.x);
  const int stride = static_cast<int>(blockDim.x);
  const int nk = SlotCount<Io::kSlots>(end - begin, threadIdx.x, blockDim.x);
  float v[Io::kSlots][Io::kW];
#pragma unroll
  for (int k = 0; k < Io::kSlots; ++k)
    if (k < nk) Io::Load(xrow, first + k * stride, v[k]);
  const float x0 = kNorm == Norm::kLayerNorm ? Elem<T>::Load(xrow + begin * Io::kW) : 0.f;
  BlockReduce reduce{reduce_slots};
  const SegStats s = SegmentStats<kNorm, Io::kW, Io::kSlots>(
      v, nk, x0, static_cast<float>((end - begin) * Io::kW), reduce);
  if (threadIdx.x == 0) p.partials[blockIdx.x] = make_float4(s.n, s.hi, s.lo, s.m2);
}

// splitrow, kernel 2: each block merges its row's chunk statistics (every
// warp, redundantly, so no barrier), then reloads its chunk and writes y. The
// merge comes first so it does not hold registers while the chunk does.
template <Norm kNorm, typename T, bool kVec>
__global__ void __launch_bounds__(kSplitRowThreads)
    SplitRowNormalizeKernel(const Params p, const int chunks, const int loads_per_chunk) {
  using Io = RowIo<T, kVec>;
  const int64_t row = blockIdx.x / chunks;
  const int chunk = static_cast<int>(blockIdx.x % chunks);
  const float4* parts = p.partials + row * chunks;
  const SegStats s = WarpCombineMany(chunks, [&](int i) {
    const float4 q = __ldg(parts + i);
    return SegStats{q.x, q.y, q.z, q.w};
  });
  const float rstd = RowRstd(s, p.eps);
  const int loads = static_cast<int>(p.cols / Io::kW);
  const int begin = chunk * loads_per_chunk;
  const int end = begin + loads_per_chunk < loads ? begin + loads_per_chunk : loads;
  const T* xrow = static_cast<const T*>(p.x) + row * p.cols;
  T* yrow = static_cast<T*>(p.y) + row * p.cols;
  // This thread holds loads first, first + stride, ... of [begin, end).
  const int first = begin + static_cast<int>(threadIdx.x);
  const int stride = static_cast<int>(blockDim.x);
  const int nk = SlotCount<Io::kSlots>(end - begin, threadIdx.x, blockDim.x);
  float v[Io::kSlots][Io::kW];
#pragma unroll
  for (int k = 0; k < Io::kSlots; ++k)
    if (k < nk) Io::Load(xrow, first + k * stride, v[k]);
#pragma unroll
  for (int k = 0; k < Io::kSlots; ++k)
    if (k < nk) NormalizeStore<kNorm, T, kVec>(v[k], s, rstd, p, yrow, first + k * stride);
  if (chunk == 0 && threadIdx.x == 0) StoreStats<kNorm>(p, row, s, rstd);
}

}  // namespace layernorm_device
}  // namespace lnbench

#endif  // LNBENCH_BACKENDS_CUDA_LAYERNORM_DEVICE_CUH_
