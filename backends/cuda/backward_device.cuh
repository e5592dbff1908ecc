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
// dx (BackwardWarpKernel, BackwardBlockKernel): a row per 1-32 lanes of a
// warp or per block. Pass 1 reads x, dy (and gamma), keeps xhat and gd of
// the first `slots` loads in registers and sums a and b (lane butterflies,
// then the block's warps in warp order: the same bits in every thread);
// pass 2 writes dx from the registers, reading loads beyond them again.
//
// dgamma/dbeta (BackwardParamRowsKernel, BackwardParamSumKernel): a tree of
// fixed shape (backward_plan.h). Each thread owns a column; level 0 sums a
// block of up to kBackwardTreeFanIn rows of dy * xhat (and dy), later levels
// a block of partials; the last level writes dgamma and dbeta. Within a
// block, 8 interleaved accumulators combined pairwise: rounding depth
// 64/8 + 3 = 11 per level, about 11 * log64(N) in all.
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

// Computes xhat and gd of load i of a row into xh and gd, and adds them to
// the row sums a (sum gd) and b (sum gd * xhat).
template <Norm kNorm, typename T, bool kVec>
__device__ __forceinline__ void BackwardLoad(const BackwardParams& p, const T* xrow, const T* dyrow,
                                             int i, float mean, float rstd,
                                             float (&xh)[RowIo<T, kVec>::kW],
                                             float (&gd)[RowIo<T, kVec>::kW], float& a, float& b) {
  using Io = RowIo<T, kVec>;
  float x[Io::kW];
  Io::Load(xrow, i, x);
  Io::Load(dyrow, i, gd);
  if (p.gamma != nullptr) {
    float g[Io::kW];
    Io::LoadParam(p.gamma, i, g);
#pragma unroll
    for (int e = 0; e < Io::kW; ++e) gd[e] *= g[e];
  }
#pragma unroll
  for (int e = 0; e < Io::kW; ++e) {
    xh[e] = Xhat<kNorm>(x[e], mean, rstd);
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
// `reduce`). `reduce` sums (a, b) over the threads sharing the row.
template <Norm kNorm, typename T, bool kVec, typename Reduce>
__device__ __forceinline__ void BackwardRow(const BackwardParams& p, int64_t row, int first,
                                            int stride, int loads, Reduce& reduce) {
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
      BackwardLoad<kNorm, T, kVec>(p, xrow, dyrow, first + k * stride, mean, rstd, xh[k], gd[k], a,
                                   b);
  // Loads beyond the registers (long rows): summed now, read again below.
  const int rest = first + kSlots * stride;
  for (int i = rest; i < loads; i += stride) {
    float x1[Io::kW], g1[Io::kW];
    BackwardLoad<kNorm, T, kVec>(p, xrow, dyrow, i, mean, rstd, x1, g1, a, b);
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
    BackwardLoad<kNorm, T, kVec>(p, xrow, dyrow, i, mean, rstd, x1, g1, unused_a, unused_b);
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
  BackwardRow<kNorm, T, kVec>(p, active ? row : 0, lane, lanes, loads, reduce);
}

// dx, block: one block per row; thread t handles loads t, t + blockDim, ...
template <Norm kNorm, typename T, bool kVec>
__global__ void __launch_bounds__(kBackwardBlockThreads)
    BackwardBlockKernel(const BackwardParams p) {
  using Io = RowIo<T, kVec>;
  __shared__ float2 reduce_slots[1][32];
  BlockReduce reduce{reduce_slots};
  BackwardRow<kNorm, T, kVec>(p, blockIdx.x, threadIdx.x, blockDim.x,
                              static_cast<int>(p.cols / Io::kW), reduce);
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
