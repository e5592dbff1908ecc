/*
 * lnbench plugin ABI: the one public C header.
 *
 * A plugin is a shared library that exports one function,
 *
 *     const lnb_plugin* lnbench_plugin(uint32_t host_abi_version);
 *
 * returning a descriptor that lives as long as the library is loaded. lnbench
 * passes its own LNBENCH_PLUGIN_ABI_VERSION; a plugin returns a descriptor
 * whose abi_version is the version it was built against (normally
 * LNBENCH_PLUGIN_ABI_VERSION from this header). lnbench refuses a descriptor
 * of another version with "built against ABI N, this lnbench reads M".
 *
 * The descriptor lists one or more backends. Each backend says which problems
 * it supports (and why not), prepares a problem into an opaque state, runs it
 * on tensors lnbench owns, and releases the state. lnbench owns everything
 * else: input generation, the float64 reference, poisoning the outputs,
 * verification, timing, the copy ceiling and the report.
 *
 * Plain C: no C++ types cross the boundary; every struct begins with its size
 * so that later versions can append fields. Strings are NUL-terminated UTF-8
 * and owned by the plugin (they must stay valid while the library is loaded).
 *
 * Guards. A plugin is foreign code, so lnbench checks what it does:
 *   - by default every prepared case runs in another process: a forked child
 *     (CPU plugins) or a worker process started by exec (CUDA plugins, or any
 *     with --plugin-isolation exec); a crash or a hang becomes an `error`
 *     case, the rest of the run goes on. A worker may serve several cases of
 *     a backend in turn, so a plugin's global state can outlive one case;
 *   - host tensors are followed by canary bytes and PROT_NONE guard pages
 *     (and preceded by a guard page), device tensors preceded and followed
 *     by canary bytes: an out-of-bounds write fails the case;
 *   - inputs are checksummed after each verification run: mutating them fails;
 *   - each case is verified a second time on fresh inputs (another seed, the
 *     outputs poisoned again) through the same state: caching outputs fails.
 *
 * Threading: lnbench calls a backend's callbacks from one thread at a time.
 * run() must be finished when it returns (a CPU backend's work is complete; a
 * CUDA backend's work is enqueued on `stream`, and lnbench synchronizes it).
 */
#ifndef LNBENCH_PLUGIN_H_
#define LNBENCH_PLUGIN_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI version this header describes. Bumped on any incompatible change. */
#define LNBENCH_PLUGIN_ABI_VERSION 1u

/* The symbol lnbench looks up. */
#define LNBENCH_PLUGIN_ENTRY_NAME "lnbench_plugin"

#if defined(_WIN32)
#define LNBENCH_PLUGIN_EXPORT __declspec(dllexport)
#else
#define LNBENCH_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

/* The normalization (lnbench --op). */
typedef enum lnb_norm { LNB_NORM_LAYERNORM = 0, LNB_NORM_RMSNORM = 1 } lnb_norm;

/* The direction (lnbench --dir). */
typedef enum lnb_dir { LNB_DIR_FWD = 0, LNB_DIR_BWD = 1 } lnb_dir;

/* Element types. Row-by-column tensors have the problem's dtype; per-column
 * (gamma, beta, dgamma, dbeta) and per-row (mean, rstd) tensors are f32. */
typedef enum lnb_dtype { LNB_DTYPE_F32 = 0, LNB_DTYPE_BF16 = 1, LNB_DTYPE_F16 = 2 } lnb_dtype;

/* Where a backend's tensors live. */
typedef enum lnb_device {
  LNB_DEVICE_CPU = 0, /* host pointers */
  LNB_DEVICE_CUDA = 1 /* device pointers of the current CUDA device, plus a cudaStream_t */
} lnb_device;

/* Tensors by name, in lnbench's fixed order (index into lnb_tensor arrays). */
typedef enum lnb_tensor_id {
  LNB_TENSOR_X = 0,      /* input,  rows x cols, dtype */
  LNB_TENSOR_GAMMA = 1,  /* input,  cols, f32 (affine) */
  LNB_TENSOR_BETA = 2,   /* input,  cols, f32 (affine layernorm) */
  LNB_TENSOR_DY = 3,     /* input,  rows x cols, dtype (bwd) */
  LNB_TENSOR_Y = 4,      /* output, rows x cols, dtype (fwd) */
  LNB_TENSOR_MEAN = 5,   /* fwd: output when stats (layernorm); bwd: input */
  LNB_TENSOR_RSTD = 6,   /* fwd: output when stats; bwd: input */
  LNB_TENSOR_DX = 7,     /* output, rows x cols, dtype (bwd) */
  LNB_TENSOR_DGAMMA = 8, /* output, cols, f32 (bwd, affine) */
  LNB_TENSOR_DBETA = 9,  /* output, cols, f32 (bwd, affine layernorm) */
  LNB_TENSOR_COUNT = 10
} lnb_tensor_id;

/* lnb_problem.flags */
#define LNB_FLAG_AFFINE 1u /* gamma (and for layernorm beta) applied */
#define LNB_FLAG_STATS 2u  /* fwd: the per-row statistics are outputs */

/* One problem. Layouts: row-major and contiguous (row r starts at element
 * r*cols), aligned to 4096 bytes at element 0 only. */
typedef struct lnb_problem {
  uint32_t struct_size; /* sizeof(lnb_problem) as lnbench knows it */
  lnb_norm norm;
  lnb_dir dir;
  lnb_dtype dtype;
  int64_t rows; /* N >= 0 (0 is a valid empty problem) */
  int64_t cols; /* H >= 1 */
  double eps;
  uint32_t flags;  /* LNB_FLAG_* */
  int32_t threads; /* CPU: threads the user asked for (a hint; 0 = all) */
} lnb_problem;

/* One tensor. data is NULL when the tensor is not part of the problem.
 * rows x cols elements of dtype (per-column tensors have rows = 1, per-row
 * tensors cols = 1). Inputs must not be written; outputs must be written
 * entirely and nothing past their end. */
typedef struct lnb_tensor {
  void* data;
  int64_t rows;
  int64_t cols;
  lnb_dtype dtype;
  uint32_t is_output; /* 1 for the problem's outputs, 0 for inputs */
} lnb_tensor;

/* A named variant of a backend; the first is the default. */
typedef struct lnb_variant {
  const char* name;
  const char* description;
} lnb_variant;

/* Callbacks return 0 on success. On failure they write a one-line reason
 * (NUL-terminated, at most `reason_size` bytes with the NUL) into `reason`. */
typedef struct lnb_backend {
  uint32_t struct_size;    /* sizeof(lnb_backend) */
  const char* name;        /* short name on the command line: [a-z0-9_-]+ */
  const char* description; /* one line */
  lnb_device device;
  const lnb_variant* variants;
  int32_t variant_count; /* >= 1 */
  void* user;            /* passed back to supports() and prepare() */

  /* Returns 1 if the backend runs `problem` with `variant`, else 0 with the
   * reason (e.g. "rmsnorm not implemented", "dtype bf16 not supported"). */
  int (*supports)(void* user, const lnb_problem* problem, const char* variant, char* reason,
                  size_t reason_size);
  /* Prepares `problem`: may allocate workspace, choose a launch configuration
   * and keep the tensor pointers (they stay valid and unchanged until
   * release(); lnbench may rewrite the inputs' values between runs). */
  int (*prepare)(void* user, const lnb_problem* problem, const char* variant,
                 const lnb_tensor tensors[LNB_TENSOR_COUNT], void** state, char* reason,
                 size_t reason_size);
  /* Computes the outputs from the inputs. `stream` is the cudaStream_t to
   * enqueue on for LNB_DEVICE_CUDA, NULL for the CPU. Called many times. */
  int (*run)(void* state, const lnb_tensor tensors[LNB_TENSOR_COUNT], void* stream, char* reason,
             size_t reason_size);
  /* Frees the state. */
  void (*release)(void* state);
} lnb_backend;

/* The descriptor the entry point returns. */
typedef struct lnb_plugin {
  uint32_t abi_version; /* LNBENCH_PLUGIN_ABI_VERSION the plugin was built with */
  uint32_t struct_size; /* sizeof(lnb_plugin) */
  const char* name;     /* the plugin's name, for the report */
  const char* version;  /* the plugin's own version text, for the report */
  const lnb_backend* backends;
  int32_t backend_count; /* >= 1 */
} lnb_plugin;

/* The entry point's type. */
typedef const lnb_plugin* (*lnb_plugin_entry_fn)(uint32_t host_abi_version);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* LNBENCH_PLUGIN_H_ */
