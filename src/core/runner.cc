#include "core/runner.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cctype>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <new>
#include <set>

#include "core/cpu_memory.h"
#include "core/default_threads.h"
#include "core/errors.h"
#include "core/generators.h"
#include "core/host_buffer.h"
#include "core/input_files.h"
#include "core/npy.h"
#include "core/thread_pool.h"
#include "reference/reference.h"

namespace lnbench {

std::string_view CeilingModeName(CeilingMode mode) {
  switch (mode) {
    case CeilingMode::kShared: return "shared";
    case CeilingMode::kPerCase: return "per_case";
    case CeilingMode::kPaired: return "paired";
  }
  return "shared";
}

std::string_view CaseStatusName(CaseStatus status) {
  switch (status) {
    case CaseStatus::kPassed: return "passed";
    case CaseStatus::kFailed: return "failed";
    case CaseStatus::kSkipped: return "skipped";
    case CaseStatus::kUnsupported: return "unsupported";
    case CaseStatus::kError: return "error";
  }
  return "?";
}

int RunResult::ExitCode() const {
  bool failed = false, error = false;
  for (const auto& c : cases) {
    failed |= c.status == CaseStatus::kFailed;
    error |= c.status == CaseStatus::kError;
  }
  if (failed) return kExitFailure;
  if (error) return kExitRuntime;
  return kExitOk;
}

namespace {

struct PlannedCase {
  Backend* backend = nullptr;
  std::string requested_variant;
  int threads = 0;
  std::map<std::string, std::string> tuning;
  std::string coverage;
};

// Returns the backend called `name` among config.backend_objects; nullptr
// when there is none.
Backend* Lookup(const RunConfig& config, const std::string& name) {
  for (Backend* b : config.backend_objects)
    if (b->Name() == name) return b;
  return nullptr;
}

const std::vector<Backend*>& Known(const RunConfig& config) { return config.backend_objects; }

struct PlannedProblem {
  Problem problem;
  std::vector<PlannedCase> cases;
};

std::vector<std::string> VariantsToRun(const RunConfig& config, Backend* backend, Direction dir) {
  if (config.variants.empty()) return {""};
  std::vector<std::string> out;
  const auto available = backend->Variants();
  for (const std::string& v : config.variants) {
    if (v == "all") {
      // Every variant of the problem's direction.
      for (const auto& info : available)
        if (!info.dir || *info.dir == dir) out.push_back(info.name);
    } else {
      out.push_back(v);
    }
  }
  // Variants named for one backend are not errors for another: keep only known ones.
  std::vector<std::string> known;
  for (const std::string& v : out) {
    const bool ok = std::any_of(available.begin(), available.end(),
                                [&](const VariantInfo& i) { return i.name == v; });
    if (ok && std::find(known.begin(), known.end(), v) == known.end()) known.push_back(v);
  }
  return known;
}

// Adds the cases of `backend` (every variant and thread count asked for) to pp.
void AddCases(const RunConfig& config, Backend* b, const std::map<std::string, std::string>& tuning,
              const std::string& coverage, PlannedProblem& pp) {
  const bool cpu = b->DeviceId() == "cpu";
  std::vector<int> threads = cpu ? config.threads : std::vector<int>{0};
  // An unavailable backend is one skipped case per problem: the reason is the
  // same for every variant and thread count.
  const bool available = b->Available().ok;
  if (!available) threads = {threads.front()};
  const std::vector<std::string> variants =
      available ? VariantsToRun(config, b, pp.problem.dir) : std::vector<std::string>{""};
  for (const std::string& v : variants)
    for (int t : threads) pp.cases.push_back({b, v, t, tuning, coverage});
}

// Returns whether `b` runs this problem with these options: its own verdict,
// and every tuning key known to it.
Verdict SupportsCase(Backend& b, const Problem& p, const CaseOptions& options) {
  const Verdict supported = b.Supports(p, options);
  if (!supported.ok) return supported;
  const std::vector<std::string> keys = b.TuningKeys();
  for (const auto& [key, value] : options.tuning)
    if (std::find(keys.begin(), keys.end(), key) == keys.end())
      return Verdict::No(fmt::format("{}: no tuning key '{}'", b.Name(), key));
  return Verdict::Yes();
}

std::vector<PlannedProblem> Plan(const RunConfig& config, const std::vector<Shape>& shapes) {
  std::vector<PlannedProblem> plan;
  // One problem per shape, dtype, distribution and mode; `only` (when set)
  // restricts it to one backend with the tuning and path of a coverage case.
  auto add = [&](const Shape& shape, Backend* only, const CoverageCase* cov) {
    for (Norm norm : config.norms)
    for (Direction dir : config.dirs)
    if (cov == nullptr || cov->dirs.empty() ||
        std::find(cov->dirs.begin(), cov->dirs.end(), dir) != cov->dirs.end())
    for (DType dtype : config.dtypes)
      for (Distribution dist : config.dists)
        for (const OutputMode& mode : config.modes) {
          PlannedProblem pp;
          pp.problem.norm = norm;
          pp.problem.dir = dir;
          pp.problem.rows = shape.rows;
          pp.problem.cols = shape.cols;
          pp.problem.dtype = dtype;
          pp.problem.dist = dist;
          pp.problem.eps = config.eps;
          pp.problem.affine = mode.affine;
          // The backward pass has no statistics to output (they are inputs).
          pp.problem.stats = mode.stats && dir == Direction::kForward;
          pp.problem.seed = config.seed;
          if (only != nullptr) {
            std::map<std::string, std::string> tuning = config.tuning;
            for (const auto& [k, v] : cov->tuning) tuning[k] = v;
            AddCases(config, only, tuning, cov->path, pp);
          } else {
            for (const std::string& name : config.backends) {
              Backend* b = Lookup(config, name);
              if (b != nullptr) AddCases(config, b, config.tuning, "", pp);
            }
          }
          plan.push_back(std::move(pp));
        }
  };
  for (const Shape& shape : shapes) add(shape, nullptr, nullptr);
  if (config.coverage) {
    for (const std::string& name : config.backends) {
      Backend* b = Lookup(config, name);
      if (b == nullptr || !b->Available().ok) continue;
      for (const CoverageCase& cov : b->CoverageCases()) add({cov.rows, cov.cols}, b, &cov);
    }
  }
  return plan;
}

// Rounds up to a power of two, so problems of similar size share one ceiling.
uint64_t CeilingBucket(uint64_t bytes) {
  uint64_t b = 4096;
  while (b < bytes && b < (1ull << 40)) b <<= 1;
  return b;
}

// Returns the text of one refusal for lack of memory, or "" when it fits.
std::string MemoryProblem(const Problem& p, const RunConfig& config, bool from_file,
                          const MemoryLimit& limit) {
  const uint64_t need = PeakHostBytes(p, config, from_file);
  // A tenth is kept back for what is not counted: thread stacks, malloc's
  // fragmentation, other processes growing meanwhile.
  if (need <= limit.bytes / 10 * 9) return "";
  return fmt::format("shape {}x{} {} needs about {} of host memory at its peak (inputs, outputs, "
                     "float64 reference, case and copy-ceiling buffers); {} is left under the {}, and a "
                     "run takes at most nine tenths of it ({})",
                     p.rows, p.cols, DTypeName(p.dtype), FormatBytes(need), FormatBytes(limit.bytes),
                     limit.source, FormatBytes(limit.bytes / 10 * 9));
}

class CeilingCache {
 public:
  CeilingCache(const RunConfig& config, std::vector<CeilingResult>* out)
      : config_(config), out_(out) {}

  // Returns the ceiling for the backend's device, threads and size bucket,
  // measuring it the first time (every time unless config.ceiling is
  // kShared: kPaired comes here for backends that cannot pair).
  // Returns its index in the run's ceilings.
  size_t Get(Backend* backend, int threads, uint64_t bytes) {
    const uint64_t bucket = CeilingBucket(bytes);
    const std::string key = fmt::format("{}/{}/{}", backend->DeviceId(), threads, bucket);
    auto it = index_.find(key);
    if (it != index_.end() && config_.ceiling == CeilingMode::kShared) return it->second;
    index_[key] = Add(backend, threads,
                      backend->MeasureCeiling(bucket, threads, config_.ceiling_min_samples,
                                              config_.ceiling_budget_s),
                      /*paired=*/false);
    return index_[key];
  }

  // Records the copies timed between one case's samples; returns the index
  // of the fastest.
  size_t AddPaired(Backend* backend, int threads, std::vector<CeilingMeasurement> ms) {
    return Add(backend, threads, std::move(ms), /*paired=*/true);
  }

 private:
  // Appends the measurements; returns the index of the fastest copy (the
  // ceiling: a fraction of it never flatters).
  size_t Add(Backend* backend, int threads, std::vector<CeilingMeasurement> ms, bool paired) {
    const size_t first = out_->size();
    for (auto& m : ms) {
      CeilingResult c;
      c.device = backend->DeviceId();
      c.threads = threads;
      c.stats = SummarizeCeiling(m);
      c.measurement = std::move(m);
      c.paired = paired;
      out_->push_back(std::move(c));
    }
    if (out_->size() == first) throw RuntimeError(backend->Name() + ": no ceiling measured");
    size_t best = first;
    for (size_t i = first; i < out_->size(); ++i)
      if ((*out_)[i].stats.bandwidth_gbps > (*out_)[best].stats.bandwidth_gbps) best = i;
    return best;
  }

  const RunConfig& config_;
  std::vector<CeilingResult>* out_;
  std::map<std::string, size_t> index_;
};

// Returns each sample's fraction of a paired ceiling: its bandwidth over
// that of `copies`' sample timed just before it. `copies` is one method's
// (the ceiling's, the faster by median) for every sample: the faster of two
// copies per sample would pick each sample's luckier copy, a ceiling biased
// upwards by the copies' noise.
std::vector<double> PairedFractions(const TimingResult& timing, uint64_t bytes,
                                    const CeilingMeasurement& copies) {
  std::vector<double> f;
  for (size_t i = 0; i < timing.samples_s.size(); ++i) {
    // (bytes / kernel_s) / (bytes_per_copy / copy_s)
    f.push_back(static_cast<double>(bytes) * copies.seconds[i] /
                (timing.samples_s[i] * static_cast<double>(copies.bytes_per_copy)));
  }
  return f;
}

// The copies timed between the samples of one case (CeilingMode::kPaired).
class PairedCopies {
 public:
  // `sampler` may be null (the backend cannot pair): then Hook() is empty.
  PairedCopies(std::unique_ptr<CopySampler> sampler, PreparedCase& prepared, bool cold)
      : sampler_(std::move(sampler)), prepared_(prepared), cold_(cold) {
    if (sampler_) seconds_.resize(sampler_->Methods().size());
  }

  bool Active() const { return sampler_ != nullptr; }

  // Returns Measure's before_sample: one copy of each method, then, for
  // data in cache, one untimed run of the kernel, so that its sample is hot
  // again (a cold sample flushes the caches itself).
  std::function<void()> Hook() {
    if (!sampler_) return {};
    return [this] {
      for (size_t m = 0; m < seconds_.size(); ++m) seconds_[m].push_back(sampler_->Time(m));
      if (sampler_->InCache() && !cold_) prepared_.Run();
    };
  }

  // Whether every sample of `timing` had its copies (an externally timed
  // case never calls the hook).
  bool Paired(const TimingResult& timing) const {
    return sampler_ && seconds_[0].size() == timing.samples_s.size() && !timing.samples_s.empty();
  }

  // Returns the copies as ceiling measurements, one per method.
  std::vector<CeilingMeasurement> Measurements() const {
    std::vector<CeilingMeasurement> out;
    const std::vector<std::string> methods = sampler_->Methods();
    for (size_t m = 0; m < methods.size(); ++m)
      out.push_back(CeilingMeasurement{methods[m], sampler_->BytesPerCopy(), seconds_[m]});
    return out;
  }

 private:
  std::unique_ptr<CopySampler> sampler_;
  PreparedCase& prepared_;
  bool cold_;
  std::vector<std::vector<double>> seconds_;  // [method][sample]
};

// Host buffers of one problem, by TensorId.
struct ProblemData {
  std::array<HostBuffer, kTensorCount> buffers;  // inputs, and the outputs copied back
  Reference ref;
  HostTensors inputs, outputs;

  // Allocates every tensor of the problem (at least one element each, so an
  // empty problem still has non-null outputs).
  void Allocate(const Problem& p) {
    for (const TensorSpec& t : OpFor(p).Tensors(p)) {
      const uint64_t n = std::max<int64_t>(TensorElements(p, t.extent), 1);
      HostBuffer& b = buffers[static_cast<size_t>(t.id)];
      b = HostBuffer(n * DTypeSize(TensorDType(p, t.extent)));
      (t.role == TensorRole::kInput ? inputs : outputs).set(t.id, b.data());
    }
  }
};

// Fills the host output buffers with the poison pattern, so that a Download
// which copies nothing is caught like a kernel that writes nothing.
void PoisonHost(const Problem& p, ProblemData& d, ThreadPool& pool) {
  for (const TensorSpec& t : OpFor(p).TensorsOf(p, TensorRole::kOutput))
    FillPoisonHost(TensorDType(p, t.extent), d.outputs.get(t.id), TensorElements(p, t.extent), pool);
}

// Verifies a foreign backend's prepared case a second time, on inputs of the
// next seed written into the same buffers, outputs poisoned again: a kernel
// that caches or replays the outputs of the first run passes the first check
// and fails this one. Puts the original inputs back afterwards.
Verdict VerifyOnFreshInputs(const Problem& p, const ProblemData& original, PreparedCase& prepared,
                            ThreadPool& pool) {
  Problem q = p;
  q.seed = p.seed + 1;
  if (q.dist == Distribution::kFile) q.dist = Distribution::kNormal;
  ProblemData d;
  d.Allocate(q);
  OpFor(q).GenerateInputs(q, d.inputs, pool);
  d.ref = ComputeReference(q, d.inputs, pool);
  prepared.ReplaceInputs(d.inputs);
  prepared.Poison();
  prepared.Run();
  PoisonHost(q, d, pool);
  prepared.Download(d.outputs);
  const Accuracy a = CheckOutputs(q, d.inputs, d.outputs, d.ref, pool);
  prepared.ReplaceInputs(original.inputs);
  if (a.passed) return Verdict::Yes();
  return Verdict::No(fmt::format("second verification on fresh inputs ({} seed {}) failed: {} "
                                 "(the kernel may cache or replay outputs)",
                                 DistributionName(q.dist), q.seed, a.reason));
}

// A foreign kernel after its timing: the outputs its last timed call leaves
// (a batch as the samples ran, on poisoned outputs; a command that times
// itself runs once more) are checked again, so a kernel that computes only
// while it is being verified, and does nothing in the timed runs, fails
// instead of being timed as a no-op.
Accuracy VerifyAfterTiming(const Problem& p, ProblemData& data, PreparedCase& prepared, const TimingResult& timing,
                           bool cold, ThreadPool& pool) {
  prepared.Poison();
  if (timing.stop_reason == "external") {
    prepared.Run();
  } else {
    prepared.TimeBatch(timing.batch, cold);
  }
  PoisonHost(p, data, pool);
  prepared.Download(data.outputs);
  Accuracy a = CheckOutputs(p, data.inputs, data.outputs, data.ref, pool);
  if (!a.passed)
    a.reason = fmt::format("verification after timing failed: {} (the outputs of the timed runs are wrong: "
                           "the kernel may compute only while it is verified)",
                           a.reason);
  return a;
}

}  // namespace

uint64_t PeakHostBytes(const Problem& p, const RunConfig& config, bool from_file) {
  const uint64_t rows = static_cast<uint64_t>(p.rows), cols = static_cast<uint64_t>(p.cols);
  const uint64_t n = rows * cols;
  const OpDescriptor& op = OpFor(p);
  uint64_t inputs = 0, outputs = 0, reference = 0;
  for (const TensorSpec& t : op.Tensors(p))
    (t.role == TensorRole::kInput ? inputs : outputs) += TensorBytes(p, t.extent);
  for (const TensorSpec& t : op.ReferenceTensors(p))
    reference += static_cast<uint64_t>(TensorElements(p, t.extent)) * 8;
  // The problem's buffers (ExecuteRun): the inputs, and the outputs each
  // case is downloaded into; the float64 reference.
  uint64_t bytes = inputs + outputs + reference;
  // One case's own outputs (a CPU case's; a device case's host staging is no larger).
  bytes += outputs;
  if (config.measure) {
    // The copy ceiling: source and destination, half the size bucket each.
    bytes += CeilingBucket(CountBytes(p).total());
    // The cold-cache flush buffer, allocated at the first cold sample and kept.
    if (config.timing.cold) bytes += std::max<uint64_t>(LastLevelCacheBytes() * 4, 64ull << 20);
  }
  // --input: the file's values as float64, held for the whole run, and a read chunk.
  if (from_file) bytes += n * 8 + 2 * cols * 8 + (1u << 20);
  if (from_file && !config.dy_path.empty()) bytes += n * 8;  // --dy's values
  // The backward references' partial sums over blocks of rows (BackwardRows).
  if (p.dir == Direction::kBackward) bytes += (rows / kBackwardRowLeaf + 1) * 4 * cols * 8;
  // --dump: the largest .npy (the float64 reference y) is encoded in memory.
  if (!config.dump_dir.empty()) bytes += n * 8 + 4096;
  // The program itself: code, libraries, thread stacks, malloc's own data
  // (8 to 9 MiB resident on a 2-thread machine, measured with time -v).
  bytes += 16ull << 20;
  return bytes;
}

void ValidateRunConfig(const RunConfig& config) {
  std::vector<std::string> problems;
  if (config.backends.empty()) problems.push_back("no backend selected");
  for (const std::string& name : config.backends) {
    Backend* b = Lookup(config, name);
    if (b == nullptr) {
      std::string known;
      for (Backend* k : Known(config)) known += (known.empty() ? "" : ", ") + k->Name();
      problems.push_back(fmt::format("unknown backend '{}' (have: {})", name, known));
      continue;
    }
    if (!config.skip_unavailable) {
      const Verdict v = b->Available();
      if (!v.ok) problems.push_back(fmt::format("{}: unavailable ({})", name, v.reason));
    }
  }
  for (const std::string& v : config.variants) {
    if (v == "all") continue;
    bool found = false;
    std::string known;
    for (const std::string& name : config.backends) {
      Backend* b = Lookup(config, name);
      if (b == nullptr) continue;
      for (const auto& info : b->Variants()) {
        known += (known.empty() ? "" : ", ") + info.name;
        found |= info.name == v;
      }
    }
    if (!found) problems.push_back(fmt::format("unknown variant '{}' (have: {})", v, known));
  }
  if (config.shapes.empty() && config.input_path.empty() && !config.coverage)
    problems.push_back("no shape selected");
  if (!config.tuning.empty()) {
    // A key no selected backend knows is a typo, not a setting for another one.
    for (const auto& [key, value] : config.tuning) {
      bool known = false;
      std::string have;
      for (const std::string& name : config.backends) {
        Backend* b = Lookup(config, name);
        if (b == nullptr) continue;
        for (const std::string& k : b->TuningKeys()) {
          have += (have.empty() ? "" : ", ") + k;
          known |= k == key;
        }
      }
      if (!known)
        problems.push_back(fmt::format("unknown --tune key '{}' (have: {})", key,
                                       have.empty() ? "none" : have));
    }
    // Each backend checks the values of its own keys, before any work (a
    // bad value once stopped the run at its first case of that backend).
    for (const std::string& name : config.backends) {
      Backend* b = Lookup(config, name);
      if (b == nullptr) continue;
      std::map<std::string, std::string> own;
      for (const std::string& k : b->TuningKeys())
        if (const auto it = config.tuning.find(k); it != config.tuning.end()) own.insert(*it);
      if (own.empty()) continue;
      try {
        b->CheckTuning(own);
      } catch (const UsageError& e) {
        problems.push_back(e.what());
      }
    }
  }
  if (config.dtypes.empty()) problems.push_back("no dtype selected");
  if (config.dists.empty()) problems.push_back("no distribution selected");
  if (!(config.eps >= 0) || !std::isfinite(config.eps)) problems.push_back("eps must be a finite number >= 0");
  const MemoryLimit limit = HostMemoryLimit();
  if (config.norms.empty()) problems.push_back("no op selected");
  if (config.dirs.empty()) problems.push_back("no direction selected");
  bool ops_known = !config.norms.empty() && !config.dirs.empty();
  for (Norm norm : config.norms)
    for (Direction dir : config.dirs)
      if (!HasOp(norm, dir)) {
        ops_known = false;
        problems.push_back(fmt::format("{} {}: not implemented", NormName(norm), DirectionName(dir)));
      }
  Problem p;
  p.affine = true;  // the largest output mode: every parameter and statistic
  p.stats = true;
  // The op with the largest tensors (LayerNorm: gamma, beta, mean and rstd).
  if (ops_known) {
    uint64_t largest = 0;
    for (Norm norm : config.norms)
      for (Direction dir : config.dirs) {
        Problem q = p;
        q.norm = norm;
        q.dir = dir;
        q.rows = q.cols = 1024;
        if (const uint64_t b = PeakHostBytes(q, config, false); b > largest) {
          largest = b;
          p.norm = norm;
          p.dir = dir;
        }
      }
  }
  for (const Shape& s : config.shapes) {
    if (!ops_known) break;
    for (DType dt : config.dtypes) {
      p.rows = s.rows;
      p.cols = s.cols;
      p.dtype = dt;
      const long double elems = static_cast<long double>(s.rows) * static_cast<long double>(s.cols);
      if (elems > 1e13L) {
        problems.push_back(fmt::format("shape {}x{} is too large", s.rows, s.cols));
        break;
      }
      if (std::string m = MemoryProblem(p, config, false, limit); !m.empty()) {
        problems.push_back(std::move(m));
        break;
      }
    }
  }
  if (!config.input_path.empty() && ops_known) {
    // The header says the shape: the run is sized before any data is read.
    try {
      const NpyHeader h = ReadNpyHeader(config.input_path);
      if (h.shape.size() == 2) {
        p.rows = h.shape[0];
        p.cols = h.shape[1];
        for (DType dt : config.dtypes) {
          p.dtype = dt;
          if (std::string m = MemoryProblem(p, config, true, limit); !m.empty()) {
            problems.push_back("--input " + config.input_path + ": " + m);
            break;
          }
        }
      }
    } catch (const UsageError& e) {
      problems.push_back(e.what());
    }
  }
  if (!problems.empty()) {
    std::string msg = problems.front();
    for (size_t i = 1; i < problems.size(); ++i) msg += "; " + problems[i];
    throw UsageError(msg);
  }
}

namespace {

// Returns `text` as one shell word: as it is when it holds only characters no
// shell treats specially, else in single quotes (a ' as '\'').
std::string ShellWord(const std::string& text) {
  const bool plain = !text.empty() && std::all_of(text.begin(), text.end(), [](unsigned char c) {
    return std::isalnum(c) || std::strchr("_./=:,+-@%", c) != nullptr;
  });
  if (plain) return text;
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

std::string ReproLine(const RunConfig& config, const CaseResult& r) {
  const RunConfig defaults;
  const Problem& p = r.problem;
  std::string s = fmt::format("lnbench {} -b {}", config.command, r.backend);
  if (r.origin.kind == "plugin") s += " --plugin " + ShellWord(r.origin.path);
  if (r.origin.kind == "external") s += " --external " + ShellWord(r.backend + "=" + r.origin.path);
  if (p.norm != Norm::kLayerNorm) s += fmt::format(" --op {}", NormName(p.norm));
  if (p.dir != Direction::kForward) s += fmt::format(" --dir {}", DirectionName(p.dir));
  if (!r.requested_variant.empty()) s += " --variant " + r.requested_variant;
  if (!r.input_file.empty()) {
    s += " --input " + ShellWord(r.input_file);
    if (!config.gamma_path.empty()) s += " --gamma " + ShellWord(config.gamma_path);
    if (!config.beta_path.empty()) s += " --beta " + ShellWord(config.beta_path);
    if (!config.dy_path.empty() && p.dir == Direction::kBackward) s += " --dy " + ShellWord(config.dy_path);
  } else {
    s += fmt::format(" --shape {}x{}", p.rows, p.cols);
  }
  // verify's own defaults are every dtype and distribution: name them.
  const bool verify = config.command == "verify";
  if (p.dtype != DType::kF32 || verify) s += fmt::format(" --dtype {}", DTypeName(p.dtype));
  if ((p.dist != Distribution::kNormal || verify) && p.dist != Distribution::kFile)
    s += fmt::format(" --dist {}", DistributionName(p.dist));
  if (p.eps != defaults.eps) s += fmt::format(" --eps {}", p.eps);
  if (!p.affine) s += " --no-affine";
  // verify runs both output modes unless one is named; its backward cases
  // have no statistics outputs, so --stats selects the affine mode alone.
  if (p.stats || (config.command == "verify" && p.affine && p.dir == Direction::kBackward)) s += " --stats";
  // With --input, a backward case's dy still comes from the seed unless --dy gives it.
  const bool seeded = p.dist != Distribution::kFile || (p.dir == Direction::kBackward && config.dy_path.empty());
  if (p.seed != defaults.seed && seeded) s += fmt::format(" --seed {}", p.seed);
  if (r.device == "cpu" && r.threads != 0 && config.threads != std::vector<int>{kAutoThreads})
    s += fmt::format(" --threads {}", r.threads);
  for (const auto& [key, value] : r.tuning) s += fmt::format(" --tune {}={}", key, value);
  if (r.device != "cpu" && !r.device.empty() && config.gpu_device != defaults.gpu_device)
    s += fmt::format(" --device {}", config.gpu_device);
  if (config.command == "run") {
    // What shapes the timing and its ceiling: pinning moves a case's time by
    // up to 1.5x on a VM, the ceiling mode changes the fraction.
    if (r.device == "cpu" && !config.cpus.empty()) {
      s += " --cpus ";
      for (size_t i = 0; i < config.cpus.size(); ++i) s += fmt::format("{}{}", i ? "," : "", config.cpus[i]);
    }
    const TimingConfig& t = config.timing;
    const TimingConfig& dt = defaults.timing;
    if (t.warmup_runs != dt.warmup_runs) s += fmt::format(" --warmup {}", t.warmup_runs);
    if (t.min_samples != dt.min_samples) s += fmt::format(" --min-samples {}", t.min_samples);
    if (t.max_samples != dt.max_samples) s += fmt::format(" --max-samples {}", t.max_samples);
    // --max-noise 0.7 reads as 0.007: written back as 0.7, not 0.7000000000000001.
    if (t.max_noise != dt.max_noise) s += fmt::format(" --max-noise {:.6g}", t.max_noise * 100);
    if (t.time_budget_s != dt.time_budget_s) s += fmt::format(" --time-budget {}", t.time_budget_s);
    if (t.cold) s += " --cold";
    if (config.ceiling == CeilingMode::kPerCase) s += " --ceiling per-case";
    if (config.ceiling == CeilingMode::kPaired) s += " --ceiling paired";
  }
  return s;
}

namespace {

// Returns the identity of a planned case (backend, variants, device, threads,
// problem, tuning, path): what its report id and repro line are made of.
CaseResult CaseIdentity(const Problem& p, const PlannedCase& pc) {
  Backend* b = pc.backend;
  CaseResult r;
  r.backend = b->Name();
  r.requested_variant = pc.requested_variant;
  r.variant = pc.requested_variant;
  if (r.variant.empty()) {
    // The backend's default: its first variant of the problem's direction.
    const auto variants = b->Variants();
    r.variant = variants.front().name;
    for (const VariantInfo& info : variants)
      if (!info.dir || *info.dir == p.dir) {
        r.variant = info.name;
        break;
      }
  }
  r.peer = b->IsPeer();
  r.origin = b->Origin();
  r.device = b->DeviceId();
  // --threads N is exact; 0 is every hardware thread; the default is chosen per problem.
  const int threads = pc.threads == kAutoThreads ? DefaultThreads(p, HardwareThreads()) : pc.threads;
  r.threads = r.device == "cpu" ? (threads > 0 ? threads : HardwareThreads()) : 0;
  r.problem = p;
  r.bytes = CountBytes(p);
  r.tuning = pc.tuning;
  r.coverage = pc.coverage;
  return r;
}

// Returns the plan of the run: problems of `shapes` (of the --input file when
// from_file: one problem per op, dtype and output mode), each with the cases
// config.select accepts; a problem left with no case is dropped.
std::vector<PlannedProblem> SelectedPlan(const RunConfig& config, const std::vector<Shape>& shapes, bool from_file) {
  std::vector<PlannedProblem> plan = Plan(config, shapes);
  if (from_file) {
    for (auto& pp : plan) {
      pp.problem.dist = Distribution::kFile;
    }
    // One problem per dtype and output mode; distributions do not apply.
    std::vector<PlannedProblem> unique;
    for (auto& pp : plan) {
      const bool dup = std::any_of(unique.begin(), unique.end(), [&](const PlannedProblem& u) {
        return u.problem.norm == pp.problem.norm && u.problem.dir == pp.problem.dir &&
               u.problem.dtype == pp.problem.dtype && u.problem.affine == pp.problem.affine &&
               u.problem.stats == pp.problem.stats;
      });
      if (!dup) unique.push_back(std::move(pp));
    }
    plan = std::move(unique);
  }
  // One pass over the cases, each case's identity made once:
  // - the same case twice (-b scalar,Scalar, --shape 4x64,4x64, --threads 0,2
  //   on two cores) runs once: a report holds each case once, or compare and
  //   merge refuse it. Keyed as the report's id is: backend, requested
  //   variant, problem, resolved threads and tuning;
  // - with --filter, only the selected cases stay.
  // A problem with no case left is not even generated.
  std::set<std::string> seen;
  for (PlannedProblem& pp : plan) {
    std::vector<PlannedCase> kept;
    for (const PlannedCase& pc : pp.cases) {
      const CaseResult r = CaseIdentity(pp.problem, pc);
      const Problem& q = r.problem;
      std::string key = fmt::format("{}/{}/{}/{}/{}x{}/{}/{}/{}/{}/{}/{}/{}", r.backend, r.requested_variant,
                                    static_cast<int>(q.norm), static_cast<int>(q.dir), q.rows, q.cols,
                                    static_cast<int>(q.dtype), static_cast<int>(q.dist), q.eps, q.affine,
                                    q.stats, q.seed, r.threads);
      for (const auto& [k, v] : r.tuning) key += "/" + k + "=" + v;
      if (seen.insert(key).second && (!config.select || config.select(r))) kept.push_back(pc);
    }
    pp.cases = std::move(kept);
  }
  plan.erase(std::remove_if(plan.begin(), plan.end(), [](const PlannedProblem& pp) { return pp.cases.empty(); }),
             plan.end());
  return plan;
}

}  // namespace

std::vector<PlannedCaseInfo> PlanCases(const RunConfig& config) {
  ValidateRunConfig(config);
  std::vector<Shape> shapes = config.shapes;
  const bool from_file = !config.input_path.empty();
  if (from_file) {
    // The headers say the shapes, checked as a run checks them; no data is read.
    const auto [rows, cols] =
        CheckInputFileHeaders(config.input_path, config.gamma_path, config.beta_path, config.dy_path);
    shapes = {{rows, cols}};
  }
  std::vector<PlannedCaseInfo> out;
  for (const PlannedProblem& pp : SelectedPlan(config, shapes, from_file))
    for (const PlannedCase& pc : pp.cases) {
      PlannedCaseInfo info;
      info.identity = CaseIdentity(pp.problem, pc);
      if (from_file) info.identity.input_file = config.input_path;
      info.identity.repro = ReproLine(config, info.identity);
      const Verdict available = pc.backend->Available();
      const int threads = pc.threads == kAutoThreads ? DefaultThreads(pp.problem, HardwareThreads()) : pc.threads;
      const Verdict supported = available.ok ? SupportsCase(*pc.backend, pp.problem, {pc.requested_variant, threads, pc.tuning})
                                             : available;
      info.runs = available.ok && supported.ok;
      if (!available.ok) {
        info.identity.status = CaseStatus::kSkipped;
        info.identity.reason = fmt::format("{}: unavailable ({})", info.identity.backend, available.reason);
      } else if (!supported.ok) {
        info.identity.status = CaseStatus::kUnsupported;
        info.identity.reason = supported.reason;
      }
      out.push_back(std::move(info));
    }
  return out;
}

RunResult ExecuteRun(const RunConfig& config, const StartFn& on_start, const ProgressFn& on_done) {
  ValidateRunConfig(config);
  RunResult result;
  ThreadPool& pool = SharedThreadPool(0);

  // User data: one problem shaped by the file.
  std::optional<InputFiles> files;
  std::vector<Shape> shapes = config.shapes;
  if (!config.input_path.empty()) {
    files = LoadInputFiles(config.input_path, config.gamma_path, config.beta_path, config.dy_path);
    shapes = {{files->rows, files->cols}};
  }
  std::vector<PlannedProblem> plan = SelectedPlan(config, shapes, files.has_value());
  size_t total = 0;
  for (const auto& pp : plan) total += pp.cases.size();
  CeilingCache ceilings(config, &result.ceilings);

  size_t done = 0;
  for (const PlannedProblem& pp : plan) {
    const Problem& p = pp.problem;
    const uint64_t n = static_cast<uint64_t>(p.elements());
    const OpDescriptor& op = OpFor(p);
    ProblemData data;
    std::optional<InputFileCounts> input_counts;
    try {
      data.Allocate(p);
      if (files) {
        input_counts = op.FillFromFiles(*files, p, data.inputs, pool);
      } else {
        op.GenerateInputs(p, data.inputs, pool);
      }
      data.ref = ComputeReference(p, data.inputs, pool);
    } catch (const std::bad_alloc&) {
      throw RuntimeError(fmt::format("out of memory allocating the inputs, outputs and reference of {} "
                                     "(the run was estimated to need {} at its peak)",
                                     p.ShortName(), FormatBytes(PeakHostBytes(p, config, files.has_value()))));
    }
    if (!config.dump_dir.empty()) DumpProblem(config.dump_dir, p, data.inputs, data.ref);

    for (const PlannedCase& pc : pp.cases) {
      Backend* b = pc.backend;
      CaseResult r = CaseIdentity(p, pc);
      const int threads = pc.threads == kAutoThreads ? DefaultThreads(p, HardwareThreads()) : pc.threads;
      if (files) {
        r.input_file = config.input_path;
        if (input_counts && input_counts->dy_nonfinite_rows) r.input_dy_file = config.dy_path;
        r.input_counts = input_counts;
      }
      r.repro = ReproLine(config, r);
      if (on_start)
        on_start(done, total, fmt::format("{} {} {}", r.backend, r.variant, p.ShortName()));

      const Verdict available = b->Available();
      CaseOptions options{pc.requested_variant, threads, pc.tuning};
      const Verdict supported = available.ok ? SupportsCase(*b, p, options) : available;
      if (!available.ok) {
        r.status = CaseStatus::kSkipped;
        r.reason = fmt::format("{}: unavailable ({})", r.backend, available.reason);
      } else if (!supported.ok) {
        r.status = CaseStatus::kUnsupported;
        r.reason = supported.reason;
      } else {
        try {
          auto prepared = b->Prepare(p, data.inputs, options);
          r.variant = prepared->ResolvedVariant();
          prepared->Poison();
          prepared->Run();
          PoisonHost(p, data, pool);
          prepared->Download(data.outputs);
          r.accuracy = CheckOutputs(p, data.inputs, data.outputs, data.ref, pool);
          if (!config.dump_dir.empty()) DumpOutputs(config.dump_dir, r, data.outputs);
          Verdict again = Verdict::Yes();
          if (r.accuracy->passed && b->IsForeign()) again = VerifyOnFreshInputs(p, data, *prepared, pool);
          if (!r.accuracy->passed || !again.ok) {
            r.status = CaseStatus::kFailed;
            r.reason = r.accuracy->passed ? again.reason : r.accuracy->reason;
          } else {
            r.status = CaseStatus::kPassed;
            if (config.measure && p.rows > 0) {
              // Paired copies where the backend can time them between its
              // samples (not a command that times itself); otherwise the
              // ceiling of the run's mode, measured before the case (an
              // index: later measurements grow the vector).
              PairedCopies paired(config.ceiling == CeilingMode::kPaired && !b->Origin().externally_timed
                                      ? b->PrepareCopySampler(CeilingBucket(r.bytes.total()), r.threads)
                                      : nullptr,
                                  *prepared, config.timing.cold);
              std::optional<size_t> before;
              if (!paired.Active()) before = ceilings.Get(b, r.threads, r.bytes.total());
              r.timing = Measure(*prepared, config.timing, paired.Hook());
              if (b->IsForeign()) {
                Accuracy after = VerifyAfterTiming(p, data, *prepared, *r.timing, config.timing.cold, pool);
                if (!after.passed) {
                  r.status = CaseStatus::kFailed;
                  r.reason = after.reason;
                  r.accuracy = std::move(after);
                  r.timing.reset();
                }
              }
              if (r.timing) {
                Throughput t;
                t.bandwidth_gbps = r.bytes.total() / r.timing->stats.median / 1e9;
                t.elements_per_s = static_cast<double>(n) / r.timing->stats.median;
                if (paired.Paired(*r.timing)) {
                  const CeilingResult& c = result.ceilings[ceilings.AddPaired(b, r.threads, paired.Measurements())];
                  const SampleStats f = Summarize(PairedFractions(*r.timing, r.bytes.total(), c.measurement));
                  t.ceiling_gbps = c.stats.bandwidth_gbps;
                  t.ceiling_method = c.measurement.method;
                  t.fraction_of_ceiling = f.median;
                  t.pairs = static_cast<int>(r.timing->samples_s.size());
                  t.fraction_p10 = f.p10;
                  t.fraction_p90 = f.p90;
                } else {
                  if (!before) before = ceilings.Get(b, r.threads, r.bytes.total());
                  const CeilingResult& c = result.ceilings[*before];
                  t.ceiling_gbps = c.stats.bandwidth_gbps;
                  t.fraction_of_ceiling = t.ceiling_gbps > 0 ? t.bandwidth_gbps / t.ceiling_gbps
                                                             : std::numeric_limits<double>::quiet_NaN();
                  t.ceiling_method = c.measurement.method;
                }
                r.throughput = t;
              }
            } else if (config.measure) {
              r.reason = "empty problem: nothing to time";
            }
          }
          r.details = prepared->Details();
          prepared->Release();
        } catch (const UsageError&) {
          throw;
        } catch (const GuardViolation& e) {
          // A foreign kernel wrote out of bounds or changed an input: it fails.
          r.status = CaseStatus::kFailed;
          r.reason = e.what();
          r.timing.reset();
          r.throughput.reset();
        } catch (const std::bad_alloc&) {
          // Memory the estimate did not foresee (a backend's own buffers, a
          // shared machine filling up): this case fails, the run goes on.
          r.status = CaseStatus::kError;
          r.reason = fmt::format("out of memory while running the case (the run was estimated to need {} "
                                 "of host memory at its peak)",
                                 FormatBytes(PeakHostBytes(p, config, files.has_value())));
          r.accuracy.reset();
          r.timing.reset();
          r.throughput.reset();
        } catch (const std::exception& e) {
          r.status = CaseStatus::kError;
          r.reason = e.what();
          r.accuracy.reset();
          r.timing.reset();
          r.throughput.reset();
        }
      }
      ++done;
      if (on_done) on_done(done, total, r);
      result.cases.push_back(std::move(r));
    }
  }
  return result;
}

}  // namespace lnbench
