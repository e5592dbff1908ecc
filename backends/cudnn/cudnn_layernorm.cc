#include "backends/cudnn/cudnn_layernorm.h"

#include <utility>

#include "core/errors.h"

namespace lnbench {

CudnnDescriptor::CudnnDescriptor(cudnnBackendDescriptorType_t type) {
  LNBENCH_CUDNN_CALL(Cudnn().BackendCreateDescriptor(type, &desc_));
}

CudnnDescriptor::~CudnnDescriptor() {
  // Errors here cannot be reported (destructors do not throw); cuDNN only
  // fails to destroy a descriptor it never created.
  if (desc_ != nullptr) Cudnn().BackendDestroyDescriptor(desc_);
}

CudnnDescriptor& CudnnDescriptor::operator=(CudnnDescriptor&& other) noexcept {
  if (this != &other) {
    if (desc_ != nullptr) Cudnn().BackendDestroyDescriptor(desc_);
    desc_ = other.desc_;
    other.desc_ = nullptr;
  }
  return *this;
}

void CudnnDescriptor::Set(cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type,
                          int64_t count, const void* values) {
  LNBENCH_CUDNN_CALL(Cudnn().BackendSetAttribute(desc_, name, type, count, values));
}

void CudnnDescriptor::Finalize() { LNBENCH_CUDNN_CALL(Cudnn().BackendFinalize(desc_)); }

cudnnDataType_t CudnnDataType(DType dtype) {
  switch (dtype) {
    case DType::kF32: return CUDNN_DATA_FLOAT;
    case DType::kBF16: return CUDNN_DATA_BFLOAT16;
    case DType::kF16: return CUDNN_DATA_HALF;
  }
  return CUDNN_DATA_FLOAT;
}

namespace {

// Returns a finalized 4-D tensor descriptor. Layer norm in cuDNN is written
// in NCHW terms: rows are N, the normalized row is C (H = W = 1).
CudnnDescriptor MakeTensor(int64_t uid, cudnnDataType_t type, const int64_t (&dims)[4],
                           const int64_t (&strides)[4], bool by_value = false) {
  CudnnDescriptor t(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
  t.Set(CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &type);
  t.Set(CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dims);
  t.Set(CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, strides);
  t.Set(CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid);
  // cudaMalloc gives 256-byte alignment; 16 is what vectorized engines ask for.
  const int64_t alignment = by_value ? 4 : 16;
  t.Set(CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &alignment);
  if (by_value) {
    const bool yes = true;
    t.Set(CUDNN_ATTR_TENSOR_IS_BY_VALUE, CUDNN_TYPE_BOOLEAN, 1, &yes);
  }
  t.Finalize();
  return t;
}

const char* HeuristicName(cudnnBackendHeurMode_t mode) {
  switch (mode) {
    case CUDNN_HEUR_MODE_INSTANT: return "INSTANT";
    case CUDNN_HEUR_MODE_B: return "B";
    case CUDNN_HEUR_MODE_FALLBACK: return "FALLBACK";
    case CUDNN_HEUR_MODE_A: return "A";
    default: return "?";
  }
}

}  // namespace

LayerNormPlans BuildLayerNormPlans(cudnnHandle_t handle, const LayerNormSpec& spec,
                                   bool all_engines) {
  const CudnnApi& api = Cudnn();
  LNBENCH_CHECK(api.ok(), api.error);
  LayerNormPlans out;
  out.spec = spec;
  const int64_t n = spec.rows, c = spec.cols;
  const cudnnDataType_t io = CudnnDataType(spec.dtype);

  const int64_t x_dims[4] = {n, c, 1, 1}, x_strides[4] = {c, 1, c, c};
  const int64_t p_dims[4] = {1, c, 1, 1}, p_strides[4] = {c, 1, c, c};
  const int64_t s_dims[4] = {n, 1, 1, 1}, s_strides[4] = {1, 1, 1, 1};
  const int64_t one[4] = {1, 1, 1, 1};
  const bool layernorm = spec.norm == Norm::kLayerNorm;
  const cudnnBackendNormMode_t mode = layernorm ? CUDNN_LAYER_NORM : CUDNN_RMS_NORM;
  // Keeps a tensor descriptor alive with the plans; returns its raw handle.
  auto keep = [&out](CudnnDescriptor t) {
    const cudnnBackendDescriptor_t raw = t.get();
    out.parts.push_back(std::move(t));
    return raw;
  };
  auto set = [](CudnnDescriptor& d, cudnnBackendAttributeName_t name,
                cudnnBackendDescriptor_t tensor) {
    d.Set(name, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &tensor);
  };
  const cudnnBackendDescriptor_t xd = keep(MakeTensor(kUidX, io, x_dims, x_strides));
  const cudnnBackendDescriptor_t sd =
      keep(MakeTensor(kUidScale, CUDNN_DATA_FLOAT, p_dims, p_strides));
  CudnnDescriptor op;
  if (spec.backward) {
    op = CudnnDescriptor(CUDNN_BACKEND_OPERATION_NORM_BACKWARD_DESCRIPTOR);
    op.Set(CUDNN_ATTR_OPERATION_NORM_BWD_MODE, CUDNN_TYPE_NORM_MODE, 1, &mode);
    set(op, CUDNN_ATTR_OPERATION_NORM_BWD_XDESC, xd);
    set(op, CUDNN_ATTR_OPERATION_NORM_BWD_DYDESC, keep(MakeTensor(kUidDy, io, x_dims, x_strides)));
    set(op, CUDNN_ATTR_OPERATION_NORM_BWD_SCALE_DESC, sd);
    set(op, CUDNN_ATTR_OPERATION_NORM_BWD_INV_VARIANCE_DESC,
        keep(MakeTensor(kUidInvVariance, CUDNN_DATA_FLOAT, s_dims, s_strides)));
    set(op, CUDNN_ATTR_OPERATION_NORM_BWD_DXDESC, keep(MakeTensor(kUidDx, io, x_dims, x_strides)));
    set(op, CUDNN_ATTR_OPERATION_NORM_BWD_DSCALE_DESC,
        keep(MakeTensor(kUidDscale, CUDNN_DATA_FLOAT, p_dims, p_strides)));
    if (layernorm) {
      set(op, CUDNN_ATTR_OPERATION_NORM_BWD_MEAN_DESC,
          keep(MakeTensor(kUidMean, CUDNN_DATA_FLOAT, s_dims, s_strides)));
      set(op, CUDNN_ATTR_OPERATION_NORM_BWD_DBIAS_DESC,
          keep(MakeTensor(kUidDbias, CUDNN_DATA_FLOAT, p_dims, p_strides)));
    }
  } else {
    op = CudnnDescriptor(CUDNN_BACKEND_OPERATION_NORM_FORWARD_DESCRIPTOR);
    const cudnnBackendNormFwdPhase_t phase =
        spec.training ? CUDNN_NORM_FWD_TRAINING : CUDNN_NORM_FWD_INFERENCE;
    op.Set(CUDNN_ATTR_OPERATION_NORM_FWD_MODE, CUDNN_TYPE_NORM_MODE, 1, &mode);
    op.Set(CUDNN_ATTR_OPERATION_NORM_FWD_PHASE, CUDNN_TYPE_NORM_FWD_PHASE, 1, &phase);
    set(op, CUDNN_ATTR_OPERATION_NORM_FWD_XDESC, xd);
    set(op, CUDNN_ATTR_OPERATION_NORM_FWD_YDESC, keep(MakeTensor(kUidY, io, x_dims, x_strides)));
    set(op, CUDNN_ATTR_OPERATION_NORM_FWD_SCALE_DESC, sd);
    set(op, CUDNN_ATTR_OPERATION_NORM_FWD_EPSILON_DESC,
        keep(MakeTensor(kUidEpsilon, CUDNN_DATA_FLOAT, one, one, /*by_value=*/true)));
    if (layernorm)
      set(op, CUDNN_ATTR_OPERATION_NORM_FWD_BIAS_DESC,
          keep(MakeTensor(kUidBias, CUDNN_DATA_FLOAT, p_dims, p_strides)));
    if (spec.training) {
      // Both modes write the inverse standard deviation (RMSNorm: the rrms).
      set(op, CUDNN_ATTR_OPERATION_NORM_FWD_INV_VARIANCE_DESC,
          keep(MakeTensor(kUidInvVariance, CUDNN_DATA_FLOAT, s_dims, s_strides)));
      if (layernorm)
        set(op, CUDNN_ATTR_OPERATION_NORM_FWD_MEAN_DESC,
            keep(MakeTensor(kUidMean, CUDNN_DATA_FLOAT, s_dims, s_strides)));
    }
  }
  op.Finalize();

  CudnnDescriptor graph(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
  const cudnnBackendDescriptor_t opd = op.get();
  graph.Set(CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &opd);
  graph.Set(CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle);
  graph.Finalize();
  const cudnnBackendDescriptor_t gd = graph.get();
  // The raw handles above stay valid: moving a CudnnDescriptor moves ownership only.
  for (CudnnDescriptor* d : {&op, &graph}) out.parts.push_back(std::move(*d));

  // Heuristic A first (cuDNN's ranked choice), then the fallback list, as
  // cudnn-frontend does; the first configuration that finalizes is the
  // default plan. Every distinct engine after it is kept only for autotuning.
  constexpr int kMaxConfigs = 16;
  constexpr size_t kMaxCandidates = 8;
  std::string last_error = "no engine configuration offered";
  for (const cudnnBackendHeurMode_t heur_mode : {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK}) {
    if (!out.candidates.empty() && !all_engines) break;
    CudnnDescriptor heur(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
    try {
      heur.Set(CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &gd);
      heur.Set(CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &heur_mode);
      heur.Finalize();
    } catch (const RuntimeError& e) {
      last_error = e.what();
      continue;
    }
    std::vector<CudnnDescriptor> configs;
    std::vector<cudnnBackendDescriptor_t> raw;
    for (int i = 0; i < kMaxConfigs; ++i) {
      configs.emplace_back(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR);
      raw.push_back(configs.back().get());
    }
    int64_t count = 0;
    const cudnnStatus_t got = api.BackendGetAttribute(
        heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, kMaxConfigs,
        &count, raw.data());
    if (got != CUDNN_STATUS_SUCCESS) {
      try {
        ThrowCudnnError(got, "cudnnBackendGetAttribute(ENGINEHEUR_RESULTS)", __FILE__, __LINE__);
      } catch (const RuntimeError& e) {
        last_error = e.what();
      }
      continue;
    }
    out.offered += static_cast<int>(count);
    for (int64_t i = 0; i < count && i < kMaxConfigs; ++i) {
      if (out.candidates.size() >= kMaxCandidates) break;
      if (!out.candidates.empty() && !all_engines) break;
      try {
        LayerNormCandidate cand;
        // The engine's global index names the kernel family in reports and
        // tells duplicates apart (the two heuristics often offer the same engine).
        CudnnDescriptor engine(CUDNN_BACKEND_ENGINE_DESCRIPTOR);
        cudnnBackendDescriptor_t engine_raw = engine.get();
        int64_t n_engine = 0;
        if (api.BackendGetAttribute(raw[i], CUDNN_ATTR_ENGINECFG_ENGINE,
                                    CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &n_engine,
                                    &engine_raw) == CUDNN_STATUS_SUCCESS) {
          int64_t n_index = 0;
          api.BackendGetAttribute(engine_raw, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1,
                                  &n_index, &cand.engine_index);
        }
        bool duplicate = false;
        for (const auto& have : out.candidates)
          duplicate |= cand.engine_index >= 0 && have.engine_index == cand.engine_index;
        if (duplicate) continue;
        cand.plan = CudnnDescriptor(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);
        cand.plan.Set(CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle);
        cand.plan.Set(CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
                      &raw[i]);
        cand.plan.Finalize();
        int64_t n_ws = 0;
        LNBENCH_CUDNN_CALL(api.BackendGetAttribute(cand.plan.get(),
                                                   CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE,
                                                   CUDNN_TYPE_INT64, 1, &n_ws,
                                                   &cand.workspace_bytes));
        cand.heuristic = HeuristicName(heur_mode);
        cand.position = static_cast<int>(i);
        out.candidates.push_back(std::move(cand));
        out.parts.push_back(std::move(engine));
      } catch (const RuntimeError& e) {
        last_error = e.what();
      }
    }
    out.parts.push_back(std::move(heur));
    for (auto& cfg : configs) out.parts.push_back(std::move(cfg));
  }
  if (out.candidates.empty())
    throw RuntimeError("cuDNN found no " + std::string(NormName(spec.norm)) + " engine for " +
                       std::to_string(n) + "x" +
                       std::to_string(c) + " " + std::string(DTypeName(spec.dtype)) +
                       (spec.backward ? " backward" : spec.training ? " training" : " inference") +
                       ": " + last_error);
  return out;
}

}  // namespace lnbench
