// A cuDNN 9 layer norm or RMS norm execution plan built through the backend
// (graph) API: tensors, one CUDNN_BACKEND_OPERATION_NORM_FORWARD_DESCRIPTOR
// or CUDNN_BACKEND_OPERATION_NORM_BACKWARD_DESCRIPTOR in CUDNN_LAYER_NORM or
// CUDNN_RMS_NORM mode, an operation graph, engine heuristics, and the first
// engine configuration that finalizes into a plan.
#ifndef LNBENCH_BACKENDS_CUDNN_CUDNN_LAYERNORM_H_
#define LNBENCH_BACKENDS_CUDNN_CUDNN_LAYERNORM_H_

#include <cudnn_graph.h>

#include <cstdint>
#include <string>
#include <vector>

#include "backends/cudnn/cudnn_api.h"
#include "core/dtype.h"
#include "core/op.h"

namespace lnbench {

// Owns one cudnnBackendDescriptor_t.
class CudnnDescriptor {
 public:
  CudnnDescriptor() = default;
  explicit CudnnDescriptor(cudnnBackendDescriptorType_t type);
  ~CudnnDescriptor();
  CudnnDescriptor(CudnnDescriptor&& other) noexcept : desc_(other.desc_) { other.desc_ = nullptr; }
  CudnnDescriptor& operator=(CudnnDescriptor&& other) noexcept;
  CudnnDescriptor(const CudnnDescriptor&) = delete;
  CudnnDescriptor& operator=(const CudnnDescriptor&) = delete;

  cudnnBackendDescriptor_t get() const { return desc_; }
  // Sets an attribute of `count` elements at `values`.
  void Set(cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type, int64_t count,
           const void* values);
  void Finalize();

 private:
  cudnnBackendDescriptor_t desc_ = nullptr;
};

// Unique ids of the tensors in the graph and in the variant pack.
enum LayerNormUid : int64_t {
  kUidX = 1,
  kUidY = 2,
  kUidScale = 3,
  kUidBias = 4,
  kUidEpsilon = 5,
  kUidMean = 6,
  kUidInvVariance = 7,
  kUidDy = 8,      // backward: the gradient of y (input)
  kUidDx = 9,      // backward: the gradient of x (output)
  kUidDscale = 10,  // backward: dgamma (output)
  kUidDbias = 11,   // backward: dbeta (output; layer norm only)
};

// What to build: an N x H row-major tensor of `dtype`, f32 scale/bias/stats.
// RMSNorm (CUDNN_RMS_NORM) has no bias and no mean: its graph has x, scale,
// epsilon, y and, when training, inv_variance (the rrms).
// Backward (NORM_BACKWARD): x, dy, scale, mean (layer norm) and inv_variance
// in; dx, dscale and dbias (layer norm) out. No epsilon: cuDNN 8.9.6 and
// newer take the saved inv_variance as it is (cudnn-frontend's DLN node).
struct LayerNormSpec {
  int64_t rows = 0;
  int64_t cols = 0;
  DType dtype = DType::kF32;
  bool training = false;  // CUDNN_NORM_FWD_TRAINING: also writes mean and inv_variance
  Norm norm = Norm::kLayerNorm;
  bool backward = false;  // NORM_BACKWARD instead of NORM_FORWARD (training is then unused)
};

// One execution plan cuDNN finalized for the graph.
struct LayerNormCandidate {
  CudnnDescriptor plan;
  int64_t workspace_bytes = 0;
  int64_t engine_index = -1;  // CUDNN_ATTR_ENGINE_GLOBAL_INDEX: names the kernel family
  std::string heuristic;      // "A" or "FALLBACK": which heuristic offered it
  int position = 0;           // its place in that heuristic's list
};

// The plans of one graph, with every descriptor they were built from kept
// alive. candidates[0] is the first plan of heuristic A that finalizes
// (cudnn-frontend's default choice); with all_engines, every distinct
// engine of heuristics A and FALLBACK that finalizes follows, for autotuning.
struct LayerNormPlans {
  LayerNormSpec spec;
  std::vector<CudnnDescriptor> parts;  // tensors, operation, graph, heuristics, configs
  std::vector<LayerNormCandidate> candidates;
  int offered = 0;  // engine configurations the heuristics offered in all
};

// Builds the plans. Throws RuntimeError (with cuDNN's status and message)
// when cuDNN rejects the graph or no engine configuration finalizes.
LayerNormPlans BuildLayerNormPlans(cudnnHandle_t handle, const LayerNormSpec& spec,
                                   bool all_engines);

// Returns the cuDNN element type of `dtype`.
cudnnDataType_t CudnnDataType(DType dtype);

}  // namespace lnbench

#endif  // LNBENCH_BACKENDS_CUDNN_CUDNN_LAYERNORM_H_
