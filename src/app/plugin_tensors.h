// The one mapping between lnbench's host tensors (HostTensors, by TensorId)
// and a plugin's tensor array (lnb_tensor, indexed by lnb_tensor_id: the same
// order, asserted below). The tensors present come from the op's descriptor.
#ifndef LNBENCH_APP_PLUGIN_TENSORS_H_
#define LNBENCH_APP_PLUGIN_TENSORS_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "backends/backend.h"
#include "core/op.h"
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

static_assert(LNB_TENSOR_COUNT == kTensorCount && LNB_TENSOR_X == static_cast<int>(TensorId::kX) &&
                  LNB_TENSOR_DY == static_cast<int>(TensorId::kDy) &&
                  LNB_TENSOR_Y == static_cast<int>(TensorId::kY) &&
                  LNB_TENSOR_RSTD == static_cast<int>(TensorId::kRstd) &&
                  LNB_TENSOR_DBETA == static_cast<int>(TensorId::kDbeta),
              "lnb_tensor_id must follow TensorId");

// Returns the tensors of `p` (its op's, in TensorId order), bound to `in` and
// `out` (either may be null when only the shapes are wanted).
inline std::vector<PluginTensor> BindPluginTensors(const Problem& p, const HostTensors* in, const HostTensors* out) {
  std::vector<PluginTensor> v;
  for (const TensorSpec& t : OpFor(p).Tensors(p)) {
    const bool output = t.role == TensorRole::kOutput;
    const int64_t rows = t.extent == Extent::kCols ? 1 : p.rows;
    const int64_t cols = t.extent == Extent::kRows ? 1 : p.cols;
    const DType dtype = TensorDType(p, t.extent);
    v.push_back({static_cast<lnb_tensor_id>(t.id), TensorName(t.id).data(), output, rows, cols, dtype,
                 ToPluginDType(dtype), static_cast<size_t>(TensorElements(p, t.extent)) * DTypeSize(dtype),
                 !output && in ? in->get(t.id) : nullptr, output && out ? out->get(t.id) : nullptr});
  }
  return v;
}

// Returns the C problem of `p`.
inline lnb_problem ToPluginProblem(const Problem& p, int threads) {
  lnb_problem c{};
  c.struct_size = sizeof(lnb_problem);
  c.norm = p.norm == Norm::kRmsNorm ? LNB_NORM_RMSNORM : LNB_NORM_LAYERNORM;
  c.dir = p.dir == Direction::kBackward ? LNB_DIR_BWD : LNB_DIR_FWD;
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
