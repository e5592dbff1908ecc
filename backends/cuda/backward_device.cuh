// The CUDA backend's LayerNorm and RMSNorm backward kernels. Included by
// backward_kernels.cu (after the CUDA headers) and by the CPU emulation test
// (after tests/cuda_emulation.h), after layernorm_device.cuh, whose element
// access (Elem, RowIo), SlotCount and reductions they share.
//
// Maths (OPS_DESIGN.md, "Backward passes"), all in f32, g = gamma or 1:
//   xhat = (x - mean) * rstd   (RMSNorm: x * rrms, no mean)
//   gd = g * dy;  a = sum(gd) / H;  b = sum(gd * xhat) / H
//   dx = rstd * ((gd - a) - xhat * b)   (RMSNorm: a = 0)
//   dgamma = sum over rows of dy * xhat;  dbeta = sum over rows of dy.
//
// dx (BackwardWarpKernel, BackwardBlockKernel; fused with level 0 of the
// dgamma/dbeta tree: FusedWarpKernel, FusedBlockKernel): a row per 1-32
// lanes of a warp or per block. Pass 1 reads x, dy (and gamma), keeps xhat and gd of
// the first `slots` loads in registers and sums a and b (lane butterflies,
// then the block's warps in warp order: the same bits in every thread);
// pass 2 writes dx from the registers, reading loads beyond them again.
//
// dgamma/dbeta (BackwardParamRowsKernel, BackwardParamSumKernel): a tree of
// fixed shape (backward_plan.h). Each thread owns a column; level 0 sums a
// block of up to kBackwardTreeFanIn rows of dy * xhat (and dy), later levels
// a block of partials; the last level writes dgamma and dbeta. Within a
// block, 8 interleaved accumulators combined pairwise: rounding depth
// 64/8 + 3 = 11 per level, about 11 * log64(N) in all. Fused plans sum
// level 0 in the dx kernel instead: part_rows <= 64 rows per partial, in
// chains over each row slot's rows, the slots then added in order (depth
// <= part_rows).
#ifndef LNBENCH_BACKENDS_CUDA_BACKWARD_DEVICE_CUH_
#define LNBENCH_BACKENDS_CUDA_BACKWARD_DEVICE_CUH_

#include <cstdint>

#include "backends/cuda/backward_plan.h"
#include "backends/cuda/layernorm_device.cuh"
#include "core/op.h"

namespace lnbench {
namespace layernorm_device {

// Kernel arguments of the backward kernels, passed by value.
struct BackwardParams {
  const void* x;
  const void* dy;
  const float* gamma;  // nullptr: no affine (g = 1)
  const float* mean;   // RMSNorm: nullptr
  const float* rstd;   // RMSNorm: the rrms
  void* dx;
  int64_t rows;
  int64_t cols;
};

// Returns (x - mean) * rstd, or x * rrms for RMSNorm (mean unused).
template <Norm kNorm>
__device__ __forceinline__ float Xhat(float x, float mean, float rstd) {
  if constexpr (kNorm == Norm::kRmsNorm) {
    return x * rstd;
  } else {
    return (x - mean) * rstd;
  }
}

// Asks L2 for the line holding p (a no-op where __CUDA_ARCH__ is not defined:
// the CPU emulation).
__device__ __forceinline__ void PrefetchL2(const void* p) {
#if defined(__CUDA_ARCH__)
  asm volatile("prefetch.global.L2 [%0];" ::"l"(p));
#else
  (void)p;
#endif
}

// Prefetches into L2 this thread's loads first, first + stride, ... below
// `loads` of x and dy of `row` (fused kernels: the next row, while this one
// is reduced).
template <typename T, bool kVec>
__device__ __forceinline__ void PrefetchRow(const BackwardParams& p, int64_t row, int first,
                                            int stride, int loads) {
  using Io = RowIo<T, kVec>;
  constexpr int kSlots = kBackwardRowFloats / Io::kW;
  const T* xrow = static_cast<const T*>(p.x) + row * p.cols;
  const T* dyrow = static_cast<const T*>(p.dy) + row * p.cols;
  const int nk = SlotCount<kSlots>(loads, first, stride);
#pragma unroll
  for (int k = 0; k < kSlots; ++k) {
    if (k < nk) {
      const int64_t at = static_cast<int64_t>(first + k * stride) * Io::kW;
      PrefetchL2(xrow + at);
      PrefetchL2(dyrow + at);
    }
  }
}

// Level-0 dgamma/dbeta partials of a fused kernel's thread: per kept load,
// the sums of dy * xhat (g) and of dy (b) over the rows it handled.
template <int kSlots, int kW>
struct ParamPartials {
  float g[kSlots][kW];
  float b[kSlots][kW];
};

// Computes xhat and gd of load i of a row into xh and gd, and adds them to
// the row sums a (sum gd) and b (sum gd * xhat); with kAcc, also dy * xhat
// and dy to the partials pg and pb (pb: LayerNorm only).
template <Norm kNorm, typename T, bool kVec, bool kAcc>
__device__ __forceinline__ void BackwardLoad(const BackwardParams& p, const T* xrow, const T* dyrow,
                                             int i, float mean, float rstd,
                                             float (&xh)[RowIo<T, kVec>::kW],
                                             float (&gd)[RowIo<T, kVec>::kW], float& a, float& b,
                                             float (&pg)[RowIo<T, kVec>::kW],
                                             float (&pb)[RowIo<T, kVec>::kW]) {
  using Io = RowIo<T, kVec>;
  float x[Io::kW];
  Io::Load(xrow, i, x);
  Io::Load(dyrow, i, gd);
#pragma unroll
  for (int e = 0; e < Io::kW; ++e) xh[e] = Xhat<kNorm>(x[e], mean, rstd);
  if constexpr (kAcc) {
#pragma unroll
    for (int e = 0; e < Io::kW; ++e) {
      pg[e] = fmaf(gd[e], xh[e], pg[e]);
      if constexpr (kNorm == Norm::kLayerNorm) pb[e] += gd[e];
    }
  }
  if (p.gamma != nullptr) {
    float g[Io::kW];
    Io::LoadParam(p.gamma, i, g);
#pragma unroll
    for (int e = 0; e < Io::kW; ++e) gd[e] *= g[e];
  }
#pragma unroll
  for (int e = 0; e < Io::kW; ++e) {
    a += gd[e];
    b = fmaf(gd[e], xh[e], b);
  }
}

// Writes dx of load i from its xhat and gd and the row's means ma, mb.
template <typename T, bool kVec>
__device__ __forceinline__ void BackwardStore(T* dxrow, int i, float rstd, float ma, float mb,
                                              const float (&xh)[RowIo<T, kVec>::kW],
                                              const float (&gd)[RowIo<T, kVec>::kW]) {
  using Io = RowIo<T, kVec>;
  float out[Io::kW];
#pragma unroll
  for (int e = 0; e < Io::kW; ++e) out[e] = rstd * fmaf(-xh[e], mb, gd[e] - ma);
  Io::Store(dxrow, i, out);
}

// dx of one row: this thread handles loads first, first + stride, ... below
// `loads` (none when loads == 0: an inactive row that still takes part in
// `reduce`). `reduce` sums (a, b) over the threads sharing the row. With
// kAcc (fused plans, whose rows fit in the registers: no load past them),
// adds the row's dy * xhat and dy of the kept loads to `acc`.
template <Norm kNorm, typename T, bool kVec, bool kAcc, typename Reduce>
__device__ __forceinline__ void BackwardRow(
    const BackwardParams& p, int64_t row, int first, int stride, int loads, Reduce& reduce,
    ParamPartials<kBackwardRowFloats / RowIo<T, kVec>::kW, RowIo<T, kVec>::kW>& acc) {
  using Io = RowIo<T, kVec>;
  constexpr int kSlots = kBackwardRowFloats / Io::kW;
  const T* xrow = static_cast<const T*>(p.x) + row * p.cols;
  const T* dyrow = static_cast<const T*>(p.dy) + row * p.cols;
  const float mean = kNorm == Norm::kLayerNorm && loads > 0 ? __ldg(p.mean + row) : 0.f;
  const float rstd = loads > 0 ? __ldg(p.rstd + row) : 0.f;
  const int nk = SlotCount<kSlots>(loads, first, stride);
  float xh[kSlots][Io::kW], gd[kSlots][Io::kW];
  float a = 0.f, b = 0.f;
#pragma unroll
  for (int k = 0; k < kSlots; ++k)
    if (k < nk)
      BackwardLoad<kNorm, T, kVec, kAcc>(p, xrow, dyrow, first + k * stride, mean, rstd, xh[k],
                                         gd[k], a, b, acc.g[k], acc.b[k]);
  // Loads beyond the registers (long rows, never fused): summed now, read again below.
  const int rest = first + kSlots * stride;
  float unused[Io::kW];
  for (int i = rest; i < loads; i += stride) {
    float x1[Io::kW], g1[Io::kW];
    BackwardLoad<kNorm, T, kVec, false>(p, xrow, dyrow, i, mean, rstd, x1, g1, a, b, unused,
                                        unused);
  }
  reduce(a, b);
  if (loads == 0) return;
  const float n = static_cast<float>(p.cols);
  const float ma = kNorm == Norm::kLayerNorm ? a / n : 0.f;
  const float mb = b / n;
  T* dxrow = static_cast<T*>(p.dx) + row * p.cols;
#pragma unroll
  for (int k = 0; k < kSlots; ++k)
    if (k < nk) BackwardStore<T, kVec>(dxrow, first + k * stride, rstd, ma, mb, xh[k], gd[k]);
  for (int i = rest; i < loads; i += stride) {
    float x1[Io::kW], g1[Io::kW];
    float unused_a = 0.f, unused_b = 0.f;
    BackwardLoad<kNorm, T, kVec, false>(p, xrow, dyrow, i, mean, rstd, x1, g1, unused_a,
                                        unused_b, unused, unused);
    BackwardStore<T, kVec>(dxrow, i, rstd, ma, mb, x1, g1);
  }
}

// dx, warp: 2^lanes_log2 lanes per row, kWarpKernelThreads >> lanes_log2 rows
// per block; lane j handles loads j, j + lanes, ... of its row. Shuffles only.
template <Norm kNorm, typename T, bool kVec>
__global__ void __launch_bounds__(kWarpKernelThreads)
    BackwardWarpKernel(const BackwardParams p, const int lanes_log2) {
  using Io = RowIo<T, kVec>;
  const int lanes = 1 << lanes_log2;
  const int lane = threadIdx.x & (lanes - 1);
  const int64_t row = static_cast<int64_t>(blockIdx.x) * (kWarpKernelThreads >> lanes_log2) +
                      (threadIdx.x >> lanes_log2);
  const bool active = row < p.rows;
  const int loads = active ? static_cast<int>(p.cols / Io::kW) : 0;
  LaneReduce reduce{lanes};
  ParamPartials<kBackwardRowFloats / Io::kW, Io::kW> unused;
  BackwardRow<kNorm, T, kVec, false>(p, active ? row : 0, lane, lanes, loads, reduce, unused);
}

// dx, block: one block per row; thread t handles loads t, t + blockDim, ...
template <Norm kNorm, typename T, bool kVec>
__global__ void __launch_bounds__(kBackwardBlockThreads)
    BackwardBlockKernel(const BackwardParams p) {
  using Io = RowIo<T, kVec>;
  __shared__ float2 reduce_slots[1][32];
  BlockReduce reduce{reduce_slots};
  ParamPartials<kBackwardRowFloats / Io::kW, Io::kW> unused;
  BackwardRow<kNorm, T, kVec, false>(p, blockIdx.x, threadIdx.x, blockDim.x,
                                     static_cast<int>(p.cols / Io::kW), reduce, unused);
}

// Fused dx and level 0, warp: 2^lanes_log2 lanes per row, blockDim.x >>
// lanes_log2 row slots; block b takes rows [b * part_rows, b * part_rows +
// part_rows), a row per slot at a time. Each thread adds dy * xhat and dy
// of its loads over its slot's rows; then the slots' sums meet in shared
// memory and thread c adds column c's in slot order and writes the part's
// partial: out_g[b * cols + c] (out_b: LayerNorm). With `prefetch`, each
// row's successor in the slot is asked into L2 before the row is read. At
// most part_rows <= 64 rows per partial, in any order: the tree's bound
// (backward_plan.h).
template <Norm kNorm, typename T, bool kVec>
__global__ void __launch_bounds__(kWarpKernelThreads)
    FusedWarpKernel(const BackwardParams p, const int lanes_log2, const int part_rows,
                    const bool prefetch, float* out_g, float* out_b) {
  using Io = RowIo<T, kVec>;
  constexpr int kSlots = kBackwardRowFloats / Io::kW;
  const int lanes = 1 << lanes_log2;
  const int lane = threadIdx.x & (lanes - 1);
  const int slot = threadIdx.x >> lanes_log2;
  const int row_slots = blockDim.x >> lanes_log2;
  const int64_t begin = static_cast<int64_t>(blockIdx.x) * part_rows;
  const int64_t end = begin + part_rows < p.rows ? begin + part_rows : p.rows;
  const int loads = static_cast<int>(p.cols / Io::kW);
  ParamPartials<kSlots, Io::kW> acc = {};
  LaneReduce reduce{lanes};
  for (int64_t first_row = begin; first_row < begin + part_rows; first_row += row_slots) {
    const int64_t row = first_row + slot;
    const bool active = row < end;
    if (prefetch && row + row_slots < end)
      PrefetchRow<T, kVec>(p, row + row_slots, lane, lanes, loads);
    BackwardRow<kNorm, T, kVec, true>(p, active ? row : 0, lane, lanes, active ? loads : 0, reduce,
                                      acc);
  }
  // Every (slot, column) cell is written: the plan keeps the row in registers.
  __shared__ float part_g[kWarpKernelThreads * kBackwardRowFloats];
  __shared__ float part_b[kWarpKernelThreads * kBackwardRowFloats];
  const int cols = static_cast<int>(p.cols);
  const int nk = SlotCount<kSlots>(loads, lane, lanes);
#pragma unroll
  for (int k = 0; k < kSlots; ++k) {
    if (k < nk) {
      const int at = slot * cols + (lane + k * lanes) * Io::kW;
#pragma unroll
      for (int e = 0; e < Io::kW; ++e) {
        part_g[at + e] = acc.g[k][e];
        if constexpr (kNorm == Norm::kLayerNorm) part_b[at + e] = acc.b[k][e];
      }
    }
  }
  __syncthreads();
  float* const gout = out_g + static_cast<int64_t>(blockIdx.x) * cols;
  float* const bout = out_b == nullptr ? nullptr : out_b + static_cast<int64_t>(blockIdx.x) * cols;
  for (int c = threadIdx.x; c < cols; c += blockDim.x) {
    float g = 0.f, b = 0.f;
    for (int s = 0; s < row_slots; ++s) {
      g += part_g[s * cols + c];
      if constexpr (kNorm == Norm::kLayerNorm) b += part_b[s * cols + c];
    }
    gout[c] = g;
    if constexpr (kNorm == Norm::kLayerNorm) bout[c] = b;
  }
}

// Fused dx and level 0, block: block b handles rows [b * part_rows,
// b * part_rows + part_rows) one after another (thread t: loads t, t +
// blockDim, ..., all in registers), adds dy * xhat and dy of its loads over
// those rows and writes them as the part's partial (each column has one
// owner). With `prefetch`, row r + 1 is asked into L2 before row r is read,
// so its loads meet L2 while row r is reduced and written.
template <Norm kNorm, typename T, bool kVec>
__global__ void __launch_bounds__(kBackwardBlockThreads)
    FusedBlockKernel(const BackwardParams p, const int part_rows, const bool prefetch,
                     float* out_g, float* out_b) {
  using Io = RowIo<T, kVec>;
  constexpr int kSlots = kBackwardRowFloats / Io::kW;
  // Two rows of reduction slots, alternating: a warp writing row r + 2's
  // sums has passed row r + 1's barrier, so every warp has read row r's.
  __shared__ float2 reduce_slots[2][32];
  const int64_t begin = static_cast<int64_t>(blockIdx.x) * part_rows;
  const int64_t end = begin + part_rows < p.rows ? begin + part_rows : p.rows;
  const int loads = static_cast<int>(p.cols / Io::kW);
  ParamPartials<kSlots, Io::kW> acc = {};
  for (int64_t row = begin; row < end; ++row) {
    if (prefetch && row + 1 < end) PrefetchRow<T, kVec>(p, row + 1, threadIdx.x, blockDim.x, loads);
    BlockReduce reduce{reduce_slots + ((row - begin) & 1)};
    BackwardRow<kNorm, T, kVec, true>(p, row, threadIdx.x, blockDim.x, loads, reduce, acc);
  }
  const int64_t base = static_cast<int64_t>(blockIdx.x) * p.cols;
  const int nk = SlotCount<kSlots>(loads, threadIdx.x, blockDim.x);
#pragma unroll
  for (int k = 0; k < kSlots; ++k) {
    if (k < nk) {
      const int64_t at = base + static_cast<int64_t>(threadIdx.x + k * blockDim.x) * Io::kW;
      if constexpr (kVec) {
        // 16-byte stores (the launcher checks the alignment): scalar ones,
        // 32 sectors per warp instruction, took 4 us of a batch-1 call.
#pragma unroll
        for (int q = 0; q < Io::kW / 4; ++q) {
          const float* g = acc.g[k] + 4 * q;
          reinterpret_cast<float4*>(out_g + at)[q] = make_float4(g[0], g[1], g[2], g[3]);
          if constexpr (kNorm == Norm::kLayerNorm) {
            const float* b = acc.b[k] + 4 * q;
            reinterpret_cast<float4*>(out_b + at)[q] = make_float4(b[0], b[1], b[2], b[3]);
          }
        }
      } else {
        out_g[at] = acc.g[k][0];
        if constexpr (kNorm == Norm::kLayerNorm) out_b[at] = acc.b[k][0];
      }
    }
  }
}

// Sums 8 interleaved chains pairwise: ((c0+c1)+(c2+c3))+((c4+c5)+(c6+c7)).
__device__ __forceinline__ float PairwiseSum8(const float (&c)[8]) {
  return ((c[0] + c[1]) + (c[2] + c[3])) + ((c[4] + c[5]) + (c[6] + c[7]));
}

// dgamma/dbeta level 0: block (part, tile) sums rows [part * 64, part * 64 + 64)
// of dy * xhat into out_g[part * cols + col] and of dy into out_b (nullptr:
// RMSNorm). A part with no rows writes zeros.
template <Norm kNorm, typename T>
__global__ void __launch_bounds__(kBackwardParamThreads)
    BackwardParamRowsKernel(const BackwardParams p, const int col_tiles, float* out_g,
                            float* out_b) {
  const int64_t part = blockIdx.x / col_tiles;
  const int64_t col = static_cast<int64_t>(blockIdx.x % col_tiles) * blockDim.x + threadIdx.x;
  if (col >= p.cols) return;
  const int64_t begin = part * kBackwardTreeFanIn;
  const int64_t count = p.rows - begin < kBackwardTreeFanIn ? p.rows - begin : kBackwardTreeFanIn;
  const T* x = static_cast<const T*>(p.x) + begin * p.cols + col;
  const T* dy = static_cast<const T*>(p.dy) + begin * p.cols + col;
  float g[8] = {}, b[8] = {};
  for (int r0 = 0; r0 < count; r0 += 8) {
#pragma unroll
    for (int k = 0; k < 8; ++k) {
      const int r = r0 + k;
      if (r < count) {
        const float mean = kNorm == Norm::kLayerNorm ? __ldg(p.mean + begin + r) : 0.f;
        const float xh =
            Xhat<kNorm>(Elem<T>::Load(x + r * p.cols), mean, __ldg(p.rstd + begin + r));
        const float d = Elem<T>::Load(dy + r * p.cols);
        g[k] = fmaf(d, xh, g[k]);
        b[k] += d;
      }
    }
  }
  out_g[part * p.cols + col] = PairwiseSum8(g);
  if (out_b != nullptr) out_b[part * p.cols + col] = PairwiseSum8(b);
}

// dgamma/dbeta later levels: block (part, tile) sums partials
// [part * 64, part * 64 + 64) of `inputs` per column (in_b/out_b: nullptr for RMSNorm).
__global__ void __launch_bounds__(kBackwardParamThreads)
    BackwardParamSumKernel(const float* in_g, const float* in_b, const int64_t inputs,
                           const int64_t cols, const int col_tiles, float* out_g, float* out_b) {
  const int64_t part = blockIdx.x / col_tiles;
  const int64_t col = static_cast<int64_t>(blockIdx.x % col_tiles) * blockDim.x + threadIdx.x;
  if (col >= cols) return;
  const int64_t begin = part * kBackwardTreeFanIn;
  const int64_t count = inputs - begin < kBackwardTreeFanIn ? inputs - begin : kBackwardTreeFanIn;
  float g[8] = {}, b[8] = {};
  for (int i0 = 0; i0 < count; i0 += 8) {
#pragma unroll
    for (int k = 0; k < 8; ++k) {
      if (i0 + k < count) {
        const int64_t at = (begin + i0 + k) * cols + col;
        g[k] += __ldg(in_g + at);
        if (in_b != nullptr) b[k] += __ldg(in_b + at);
      }
    }
  }
  out_g[part * cols + col] = PairwiseSum8(g);
  if (out_b != nullptr) out_b[part * cols + col] = PairwiseSum8(b);
}

}  // namespace layernorm_device
}  // namespace lnbench

#endif  // LNBENCH_BACKENDS_CUDA_BACKWARD_DEVICE_CUH_
