// The test harness every kernel test shares: one problem's tensors (inputs
// generated from the seed by the op, outputs allocated), its float64
// reference, and a run of a backend through Prepare / Poison / Run /
// Download / CheckOutputs, as the runner does it.
#ifndef LNBENCH_TESTS_SUPPORT_HOST_CASE_H_
#define LNBENCH_TESTS_SUPPORT_HOST_CASE_H_

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "backends/backend.h"
#include "core/errors.h"
#include "core/generators.h"
#include "core/host_buffer.h"
#include "core/metrics.h"
#include "core/op.h"
#include "core/problem.h"
#include "core/thread_pool.h"
#include "reference/reference.h"

namespace lnbench::test_support {

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
  std::map<std::string, std::string> details;  // and its Details()

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

  // Fills every host output with the poison pattern of its dtype, so a
  // download that skips an element shows as unwritten, not as a stale value.
  void Reset() {
    for (const TensorSpec& t : OpFor(problem).TensorsOf(problem, TensorRole::kOutput)) {
      const DType dtype = TensorDType(problem, t.extent);
      const uint32_t bits = PoisonBits(dtype);
      const size_t esize = DTypeSize(dtype);
      auto* p = static_cast<uint8_t*>(outputs.get(t.id));
      for (int64_t i = 0; i < TensorElements(problem, t.extent); ++i)
        std::memcpy(p + static_cast<size_t>(i) * esize, &bits, esize);
    }
  }

  // Runs `backend` once (its outputs poisoned first, on the device and on the
  // host) and downloads the outputs. Throws UsageError when the backend does
  // not support the case.
  void Execute(Backend& backend, const CaseOptions& options) {
    const Verdict v = backend.Supports(problem, options);
    if (!v.ok) throw UsageError(backend.Name() + ": " + v.reason);
    std::unique_ptr<PreparedCase> c = backend.Prepare(problem, inputs, options);
    resolved = c->ResolvedVariant();
    c->Poison();
    c->Run();
    Reset();
    c->Download(outputs);
    details = c->Details();
  }

  Accuracy Check(ThreadPool* pool = nullptr) const {
    return CheckOutputs(problem, inputs, outputs, ref, pool ? *pool : SharedThreadPool(0));
  }
};

// Owned input and output buffers of a forward problem with their HostTensors
// views, for the peer tests that drive Prepare / Download themselves.
struct OwnedInputs {
  HostBuffer x, gamma, beta;
  HostTensors view;
};

inline OwnedInputs MakeInputs(const Problem& p) {
  OwnedInputs in;
  in.x = HostBuffer(static_cast<size_t>(p.elements()) * DTypeSize(p.dtype));
  in.gamma = HostBuffer(static_cast<size_t>(p.cols) * 4);
  in.beta = HostBuffer(static_cast<size_t>(p.cols) * 4);
  ThreadPool& pool = SharedThreadPool(0);
  if (p.elements() > 0) FillInput(p, in.x.data(), pool);
  FillAffine(p, in.gamma.as<float>(), in.beta.as<float>());
  in.view.set(TensorId::kX, in.x.data());
  if (p.affine) in.view.set(TensorId::kGamma, in.gamma.data());
  // RMSNorm takes x and gamma only.
  if (p.affine && p.norm == Norm::kLayerNorm) in.view.set(TensorId::kBeta, in.beta.data());
  return in;
}

// Host outputs of one problem, owned.
struct OwnedOutputs {
  HostBuffer y, mean, rstd;
  HostTensors view;
};

inline OwnedOutputs MakeOutputs(const Problem& p) {
  OwnedOutputs out;
  out.y = HostBuffer(static_cast<size_t>(p.elements()) * DTypeSize(p.dtype));
  out.mean = HostBuffer(static_cast<size_t>(p.rows) * 4);
  out.rstd = HostBuffer(static_cast<size_t>(p.rows) * 4);
  out.view.set(TensorId::kY, out.y.data());
  // RMSNorm gives y and rstd only.
  if (p.stats && p.norm == Norm::kLayerNorm) out.view.set(TensorId::kMean, out.mean.data());
  if (p.stats) out.view.set(TensorId::kRstd, out.rstd.data());
  return out;
}

// Returns the figures of every output tensor the case has (mean and rstd
// only with stats), for failure messages.
inline std::string Numbers(const Accuracy& a) {
  std::string s;
  for (int i = 0; i < kTensorCount; ++i) {
    const std::optional<ErrorStats>& t = a.tensors[i];
    if (!t.has_value() || t->checked == 0) continue;
    if (!s.empty()) s += "; ";
    s += std::string(TensorName(static_cast<TensorId>(i))) + ": failed " +
         std::to_string(t->failed) + "/" + std::to_string(t->checked) + " nan_mismatch " +
         std::to_string(t->nan_mismatch) + " max_abs " + std::to_string(t->max_abs) +
         " max_rel " + std::to_string(t->max_rel) + " max_bound_ratio " +
         std::to_string(t->max_bound_ratio) + " max_ulp " + std::to_string(t->max_ulp);
  }
  return s;
}

// Returns the elements still holding poison, over every output the case has.
inline uint64_t Unwritten(const Accuracy& a) {
  uint64_t n = 0;
  for (const std::optional<ErrorStats>& t : a.tensors)
    if (t.has_value()) n += t->unwritten;
  return n;
}

}  // namespace lnbench::test_support

#endif  // LNBENCH_TESTS_SUPPORT_HOST_CASE_H_
