// The one mapping between lnbench's host tensors (HostInputs / HostOutputs)
// and a plugin's tensor array (lnb_tensor, indexed by lnb_tensor_id). When the
// backend interface passes tensors by TensorId (HostTensors), this is the
// only function that changes.
#ifndef LNBENCH_APP_PLUGIN_TENSORS_H_
#define LNBENCH_APP_PLUGIN_TENSORS_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "backends/backend.h"
#include "lnbench/plugin.h"

namespace lnbench {

// One tensor of a problem, with lnbench's host pointer for it: `host_input` to
// read its values from (inputs), `host_output` to copy its values to (outputs).
struct PluginTensor {
  lnb_tensor_id id = LNB_TENSOR_X;
  const char* name = "";  // "x", "gamma", ... (TensorName order)
  bool is_output = false;
  int64_t rows = 0, cols = 0;
  DType lnbench_dtype = DType::kF32;
  lnb_dtype dtype = LNB_DTYPE_F32;
  size_t bytes = 0;
  const void* host_input = nullptr;
  void* host_output = nullptr;
};

// Returns the C dtype of `d`.
inline lnb_dtype ToPluginDType(DType d) {
  switch (d) {
    case DType::kF32: return LNB_DTYPE_F32;
    case DType::kBF16: return LNB_DTYPE_BF16;
    case DType::kF16: return LNB_DTYPE_F16;
  }
  return LNB_DTYPE_F32;
}

// Returns the tensors of `p` in TensorId order, bound to `in` and `out` (either
// may be null when only the shapes are wanted).
inline std::vector<PluginTensor> BindPluginTensors(const Problem& p, const HostInputs* in, const HostOutputs* out) {
  std::vector<PluginTensor> v;
  auto add = [&](lnb_tensor_id id, const char* name, bool output, int64_t rows, int64_t cols, DType dtype,
                 const void* input, void* output_ptr) {
    v.push_back({id, name, output, rows, cols, dtype, ToPluginDType(dtype),
                 static_cast<size_t>(rows * cols) * DTypeSize(dtype), input, output_ptr});
  };
  add(LNB_TENSOR_X, "x", false, p.rows, p.cols, p.dtype, in ? in->x : nullptr, nullptr);
  if (p.affine) {
    add(LNB_TENSOR_GAMMA, "gamma", false, 1, p.cols, DType::kF32, in ? in->gamma : nullptr, nullptr);
    add(LNB_TENSOR_BETA, "beta", false, 1, p.cols, DType::kF32, in ? in->beta : nullptr, nullptr);
  }
  add(LNB_TENSOR_Y, "y", true, p.rows, p.cols, p.dtype, nullptr, out ? out->y : nullptr);
  if (p.stats) {
    add(LNB_TENSOR_MEAN, "mean", true, p.rows, 1, DType::kF32, nullptr, out ? out->mean : nullptr);
    add(LNB_TENSOR_RSTD, "rstd", true, p.rows, 1, DType::kF32, nullptr, out ? out->rstd : nullptr);
  }
  return v;
}

// Returns the C problem of `p` (norm and direction: layernorm fwd until the
// problem model has ops).
inline lnb_problem ToPluginProblem(const Problem& p, int threads) {
  lnb_problem c{};
  c.struct_size = sizeof(lnb_problem);
  c.norm = LNB_NORM_LAYERNORM;
  c.dir = LNB_DIR_FWD;
  c.dtype = ToPluginDType(p.dtype);
  c.rows = p.rows;
  c.cols = p.cols;
  c.eps = p.eps;
  c.flags = (p.affine ? LNB_FLAG_AFFINE : 0u) | (p.stats ? LNB_FLAG_STATS : 0u);
  c.threads = threads;
  return c;
}

}  // namespace lnbench

#endif  // LNBENCH_APP_PLUGIN_TENSORS_H_
