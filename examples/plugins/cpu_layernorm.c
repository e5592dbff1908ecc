/*
 * An lnbench plugin in plain C: LayerNorm and RMSNorm, forward and backward,
 * for f32 on the CPU.
 *
 * Build it against an installed lnbench (see CMakeLists.txt next to it):
 *     cmake -S examples/plugins -B build-plugins -DCMAKE_PREFIX_PATH=/usr/local
 *     cmake --build build-plugins
 * then verify and time it like any backend:
 *     lnbench verify --plugin build-plugins/liblnbench_example_cpu.so -b example_c
 *     lnbench run --plugin build-plugins/liblnbench_example_cpu.so -b example_c,highway
 */
#include <lnbench/plugin.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* Writes a reason into the caller's buffer (snprintf always ends it with NUL). */
#define REASON(...) (void)snprintf(reason, reason_size, __VA_ARGS__)

static const lnb_variant kVariants[] = {
    {"twopass",
     "fwd: layernorm: mean, then the variance of x - mean; rmsnorm: the mean of x^2; in double per row. "
     "bwd: the row sums, then dx, in double; dgamma/dbeta summed over rows in double"},
};

typedef struct state {
  lnb_norm norm;
  lnb_dir dir;
  int64_t rows, cols;
  double eps;
  uint32_t flags;
  double* acc; /* bwd with affine: 2*cols double sums of dgamma and dbeta */
} state;

static int supports(void* user, const lnb_problem* p, const char* variant, char* reason, size_t reason_size) {
  (void)user;
  (void)variant;
  if (p->norm != LNB_NORM_LAYERNORM && p->norm != LNB_NORM_RMSNORM)
    return REASON("only layernorm and rmsnorm are implemented"), 0;
  if (p->dir != LNB_DIR_FWD && p->dir != LNB_DIR_BWD) return REASON("only fwd and bwd are implemented"), 0;
  if (p->dtype != LNB_DTYPE_F32) return REASON("only f32 is implemented"), 0;
  return 1;
}

static int prepare(void* user, const lnb_problem* p, const char* variant, const lnb_tensor t[LNB_TENSOR_COUNT],
                   void** out, char* reason, size_t reason_size) {
  (void)user;
  (void)variant;
  (void)t;
  state* s = (state*)malloc(sizeof(state));
  if (s == NULL) return REASON("out of memory"), 1;
  s->norm = p->norm;
  s->dir = p->dir;
  s->rows = p->rows;
  s->cols = p->cols;
  s->eps = p->eps;
  s->flags = p->flags;
  s->acc = NULL;
  /* The workspace is allocated here, not in run(): run() is what is timed. */
  if (p->dir == LNB_DIR_BWD && (p->flags & LNB_FLAG_AFFINE) != 0) {
    s->acc = (double*)malloc(2 * (size_t)p->cols * sizeof(double));
    if (s->acc == NULL) return free(s), REASON("out of memory"), 1;
  }
  *out = s;
  return 0;
}

/* The backward from the statistics the forward saved (lnbench's mean and rstd
 * inputs; RMSNorm: mean 0 and rstd = rrms), per row in double:
 *   xhat = (x - mean) * rstd, gd = gamma * dy (gamma = 1 without affine),
 *   a = sum(gd) / H (layernorm only), b = sum(gd * xhat) / H,
 *   dx = rstd * (gd - a - xhat * b);
 * dgamma = sum over rows of dy * xhat, dbeta = sum over rows of dy, summed in
 * double (an f32 sum over many rows would lose bits with N). */
static int backward(const state* s, const lnb_tensor t[LNB_TENSOR_COUNT]) {
  const float* x = (const float*)t[LNB_TENSOR_X].data;
  const float* dy = (const float*)t[LNB_TENSOR_DY].data;
  const float* gamma = (const float*)t[LNB_TENSOR_GAMMA].data; /* NULL without affine */
  const float* mean_in = (const float*)t[LNB_TENSOR_MEAN].data; /* NULL for rmsnorm */
  const float* rstd_in = (const float*)t[LNB_TENSOR_RSTD].data;
  float* dx = (float*)t[LNB_TENSOR_DX].data;
  float* dgamma = (float*)t[LNB_TENSOR_DGAMMA].data; /* NULL without affine */
  float* dbeta = (float*)t[LNB_TENSOR_DBETA].data;   /* NULL without affine, and for rmsnorm */
  const int rms = s->norm == LNB_NORM_RMSNORM;
  double* dg_acc = s->acc;
  double* db_acc = s->acc != NULL ? s->acc + s->cols : NULL;
  if (dg_acc != NULL)
    for (int64_t c = 0; c < 2 * s->cols; ++c) s->acc[c] = 0;
  for (int64_t r = 0; r < s->rows; ++r) {
    const float* xr = x + r * s->cols;
    const float* dyr = dy + r * s->cols;
    float* dxr = dx + r * s->cols;
    const double mean = rms ? 0.0 : mean_in[r];
    const double rstd = rstd_in[r];
    double sum_gd = 0, sum_gd_xhat = 0;
    for (int64_t c = 0; c < s->cols; ++c) {
      const double gd = (gamma != NULL ? gamma[c] : 1.0) * dyr[c];
      sum_gd += gd;
      sum_gd_xhat += gd * ((xr[c] - mean) * rstd);
    }
    const double a = rms ? 0.0 : sum_gd / (double)s->cols;
    const double b = sum_gd_xhat / (double)s->cols;
    for (int64_t c = 0; c < s->cols; ++c) {
      const double xhat = (xr[c] - mean) * rstd;
      const double gd = (gamma != NULL ? gamma[c] : 1.0) * dyr[c];
      dxr[c] = (float)(rstd * (gd - a - xhat * b));
      if (dg_acc != NULL) {
        dg_acc[c] += dyr[c] * xhat;
        db_acc[c] += dyr[c];
      }
    }
  }
  for (int64_t c = 0; dgamma != NULL && c < s->cols; ++c) dgamma[c] = (float)dg_acc[c];
  for (int64_t c = 0; dbeta != NULL && c < s->cols; ++c) dbeta[c] = (float)db_acc[c];
  return 0;
}

static int run(void* opaque, const lnb_tensor t[LNB_TENSOR_COUNT], void* stream, char* reason, size_t reason_size) {
  (void)stream;
  (void)reason;
  (void)reason_size;
  const state* s = (const state*)opaque;
  if (s->dir == LNB_DIR_BWD) return backward(s, t);
  const float* x = (const float*)t[LNB_TENSOR_X].data;
  const float* gamma = (const float*)t[LNB_TENSOR_GAMMA].data; /* NULL without affine */
  const float* beta = (const float*)t[LNB_TENSOR_BETA].data;   /* NULL for rmsnorm */
  float* y = (float*)t[LNB_TENSOR_Y].data;
  float* mean_out = (float*)t[LNB_TENSOR_MEAN].data; /* NULL without stats, and for rmsnorm */
  float* rstd_out = (float*)t[LNB_TENSOR_RSTD].data; /* NULL without stats */
  const int rms = s->norm == LNB_NORM_RMSNORM;
  for (int64_t r = 0; r < s->rows; ++r) {
    const float* xr = x + r * s->cols;
    float* yr = y + r * s->cols;
    /* Two passes in double: the variance of x - mean cannot cancel the way
     * E[x^2] - E[x]^2 does on offset inputs. RMSNorm centres nothing: its
     * statistic is the mean of x^2 itself (mean 0 below). */
    double mean = 0;
    if (!rms) {
      double sum = 0;
      for (int64_t c = 0; c < s->cols; ++c) sum += xr[c];
      mean = sum / (double)s->cols;
    }
    double sq = 0;
    for (int64_t c = 0; c < s->cols; ++c) sq += (xr[c] - mean) * (xr[c] - mean);
    const double rstd = 1.0 / sqrt(sq / (double)s->cols + s->eps);
    for (int64_t c = 0; c < s->cols; ++c) {
      double v = (xr[c] - mean) * rstd;
      if (gamma != NULL) v *= gamma[c];
      if (beta != NULL) v += beta[c];
      yr[c] = (float)v;
    }
    if (mean_out != NULL) mean_out[r] = (float)mean;
    if (rstd_out != NULL) rstd_out[r] = (float)rstd;
  }
  return 0;
}

static void release(void* opaque) {
  state* s = (state*)opaque;
  if (s != NULL) free(s->acc);
  free(s);
}

static const lnb_backend kBackends[] = {{
    sizeof(lnb_backend), "example_c", "LayerNorm and RMSNorm, forward and backward, in plain C (in double)", LNB_DEVICE_CPU,
    kVariants, 1, NULL, supports, prepare, run, release,
}};

static const lnb_plugin kPlugin = {
    LNBENCH_PLUGIN_ABI_VERSION, sizeof(lnb_plugin), "lnbench-example-c", "1.0", kBackends, 1,
};

LNBENCH_PLUGIN_EXPORT const lnb_plugin* lnbench_plugin(uint32_t host_abi_version) {
  (void)host_abi_version;
  return &kPlugin;
}
