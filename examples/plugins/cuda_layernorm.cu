// An lnbench plugin with a CUDA kernel: LayerNorm forward for f32, one block
// per row. lnbench hands over device pointers and the cudaStream_t to enqueue
// on, times the runs with CUDA events on that stream, and checks the outputs
// (an lnbench built with CUDA; elsewhere the backend is listed as unavailable).
#include <cuda_runtime.h>
#include <lnbench/plugin.h>

#include <cstdio>
#include <cstdlib>

namespace {

constexpr int kThreads = 256;

// Returns the block-wide sum of v (every thread gets it).
__device__ float BlockSum(float v, float* shared) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  v = lane < kThreads / 32 ? shared[lane] : 0.f;
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  __syncthreads();
  return v;
}

// Two passes over the row (mean, then the variance of x - mean): no
// cancellation on offset inputs.
__global__ void LayerNormRows(const float* x, const float* gamma, const float* beta, float* y, float* mean_out,
                              float* rstd_out, int64_t cols, float eps) {
  __shared__ float shared[32];
  const float* xr = x + blockIdx.x * cols;
  float* yr = y + blockIdx.x * cols;
  float s = 0.f;
  for (int64_t c = threadIdx.x; c < cols; c += kThreads) s += xr[c];
  const float mean = BlockSum(s, shared) / cols;
  float q = 0.f;
  for (int64_t c = threadIdx.x; c < cols; c += kThreads) q += (xr[c] - mean) * (xr[c] - mean);
  const float rstd = rsqrtf(BlockSum(q, shared) / cols + eps);
  for (int64_t c = threadIdx.x; c < cols; c += kThreads) {
    float v = (xr[c] - mean) * rstd;
    if (gamma != nullptr) v = v * gamma[c] + beta[c];
    yr[c] = v;
  }
  if (threadIdx.x == 0 && mean_out != nullptr) {
    mean_out[blockIdx.x] = mean;
    rstd_out[blockIdx.x] = rstd;
  }
}

struct State {
  lnb_problem problem;
};

int Supports(void*, const lnb_problem* p, const char*, char* reason, size_t reason_size) {
  if (p->norm != LNB_NORM_LAYERNORM || p->dir != LNB_DIR_FWD) {
    std::snprintf(reason, reason_size, "only the layernorm forward is implemented");
    return 0;
  }
  if (p->dtype != LNB_DTYPE_F32) {
    std::snprintf(reason, reason_size, "only f32 is implemented");
    return 0;
  }
  if (p->rows > 2147483647) {
    std::snprintf(reason, reason_size, "more than 2^31-1 rows");
    return 0;
  }
  return 1;
}

int Prepare(void*, const lnb_problem* p, const char*, const lnb_tensor*, void** state, char* reason,
            size_t reason_size) {
  State* s = static_cast<State*>(std::malloc(sizeof(State)));
  if (s == nullptr) {
    std::snprintf(reason, reason_size, "out of host memory");
    return 1;
  }
  s->problem = *p;
  *state = s;
  return 0;
}

int Run(void* state, const lnb_tensor* t, void* stream, char* reason, size_t reason_size) {
  const lnb_problem& p = static_cast<State*>(state)->problem;
  if (p.rows == 0) return 0;
  LayerNormRows<<<static_cast<unsigned>(p.rows), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
      static_cast<const float*>(t[LNB_TENSOR_X].data), static_cast<const float*>(t[LNB_TENSOR_GAMMA].data),
      static_cast<const float*>(t[LNB_TENSOR_BETA].data), static_cast<float*>(t[LNB_TENSOR_Y].data),
      static_cast<float*>(t[LNB_TENSOR_MEAN].data), static_cast<float*>(t[LNB_TENSOR_RSTD].data), p.cols,
      static_cast<float>(p.eps));
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) {
    std::snprintf(reason, reason_size, "kernel launch: %s", cudaGetErrorString(err));
    return 1;
  }
  return 0;
}

void Release(void* state) { std::free(state); }

const lnb_variant kVariants[] = {{"rowblock", "one 256-thread block per row, two passes in f32"}};

const lnb_backend kBackends[] = {{
    sizeof(lnb_backend), "example_cuda", "LayerNorm forward in CUDA (one block per row)", LNB_DEVICE_CUDA,
    kVariants, 1, nullptr, Supports, Prepare, Run, Release,
}};

const lnb_plugin kPlugin = {
    LNBENCH_PLUGIN_ABI_VERSION, sizeof(lnb_plugin), "lnbench-example-cuda", "1.0", kBackends, 1,
};

}  // namespace

extern "C" LNBENCH_PLUGIN_EXPORT const lnb_plugin* lnbench_plugin(uint32_t) { return &kPlugin; }
