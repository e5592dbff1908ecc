// The test harness every kernel test shares: one problem's tensors (inputs
// generated from the seed by the op, outputs allocated), its float64
// reference, and a run of a backend through Prepare / Poison / Run /
// Download / CheckOutputs, as the runner does it.
#ifndef LNBENCH_TESTS_SUPPORT_HOST_CASE_H_
#define LNBENCH_TESTS_SUPPORT_HOST_CASE_H_

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "backends/backend.h"
#include "core/errors.h"
#include "core/host_buffer.h"
#include "core/metrics.h"
#include "core/op.h"
#include "core/problem.h"
#include "core/thread_pool.h"
#include "reference/reference.h"

namespace lnbench::testing {

// Returns a problem of the given shape and data (LayerNorm forward unless `norm` says otherwise).
inline Problem MakeProblem(int64_t rows, int64_t cols, DType dtype, Distribution dist,
                           bool affine = true, bool stats = false, uint64_t seed = 7,
                           Norm norm = Norm::kLayerNorm) {
  Problem p;
  p.norm = norm;
  p.rows = rows;
  p.cols = cols;
  p.dtype = dtype;
  p.dist = dist;
  p.affine = affine;
  p.stats = stats;
  p.seed = seed;
  return p;
}

// Returns LayerNorm forward inputs / outputs as HostTensors (nullptr
// pointers leave a tensor out), for tests that hold the buffers themselves.
inline HostTensors LnIn(const void* x, const float* gamma = nullptr, const float* beta = nullptr) {
  HostTensors t;
  t.set(TensorId::kX, x);
  if (gamma) t.set(TensorId::kGamma, gamma);
  if (beta) t.set(TensorId::kBeta, beta);
  return t;
}
inline HostTensors LnOut(void* y, float* mean = nullptr, float* rstd = nullptr) {
  HostTensors t;
  t.set(TensorId::kY, y);
  if (mean) t.set(TensorId::kMean, mean);
  if (rstd) t.set(TensorId::kRstd, rstd);
  return t;
}

// One problem's tensors and reference.
struct HostCase {
  Problem problem;
  std::array<HostBuffer, kTensorCount> buffers;
  HostTensors inputs, outputs;
  Reference ref;
  std::string resolved;  // the variant the last Execute() ran

  // Allocates every tensor (at least 16 elements each: a zero-byte buffer is
  // nullptr, which reads as "not returned"), generates the inputs and, with
  // `reference`, computes the reference.
  explicit HostCase(const Problem& p, bool reference = true, ThreadPool* pool = nullptr)
      : problem(p) {
    ThreadPool& tp = pool ? *pool : SharedThreadPool(0);
    const OpDescriptor& op = OpFor(p);
    for (const TensorSpec& t : op.Tensors(p)) {
      const int64_t n = std::max<int64_t>(TensorElements(p, t.extent), 16);
      HostBuffer& b = buffers[static_cast<size_t>(t.id)];
      b = HostBuffer(static_cast<size_t>(n) * DTypeSize(TensorDType(p, t.extent)));
      (t.role == TensorRole::kInput ? inputs : outputs).set(t.id, b.data());
    }
    op.GenerateInputs(p, inputs, tp);
    if (reference) ref = ComputeReference(p, inputs, tp);
  }

  template <class T = void>
  T* in(TensorId id) const {
    return inputs.get<T>(id);
  }
  template <class T = void>
  T* out(TensorId id) const {
    return outputs.get<T>(id);
  }

  // Runs `backend` once (its outputs poisoned first) and downloads the
  // outputs. Throws UsageError when the backend does not support the case.
  void Execute(Backend& backend, const CaseOptions& options) {
    const Verdict v = backend.Supports(problem, options);
    if (!v.ok) throw UsageError(backend.Name() + ": " + v.reason);
    std::unique_ptr<PreparedCase> c = backend.Prepare(problem, inputs, options);
    resolved = c->ResolvedVariant();
    c->Poison();
    c->Run();
    c->Download(outputs);
  }

  Accuracy Check(ThreadPool* pool = nullptr) const {
    return CheckOutputs(problem, inputs, outputs, ref, pool ? *pool : SharedThreadPool(0));
  }
};

}  // namespace lnbench::testing

#endif  // LNBENCH_TESTS_SUPPORT_HOST_CASE_H_
