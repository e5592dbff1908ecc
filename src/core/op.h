// Operations as data: an op (a norm and a direction) names its tensors with
// their roles and extents, its float64 reference, the scale of each output's
// error bound, its bytes model and the generators of its inputs. Metrics,
// report, compare, table, charts and dumps iterate over an op's TensorSpecs;
// nothing outside an op's own file (src/core/ops/<op>.cc) and the kernels
// names y, mean or rstd.
#ifndef LNBENCH_CORE_OP_H_
#define LNBENCH_CORE_OP_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"

namespace lnbench {

struct Problem;
struct Reference;
struct HostTensors;
struct InputFiles;
struct InputFileCounts;
class ThreadPool;

enum class Norm : uint8_t { kLayerNorm, kRmsNorm };      // CLI --op layernorm,rmsnorm|all
enum class Direction : uint8_t { kForward, kBackward };  // CLI --dir fwd,bwd|all (issue 13)
// Returns "layernorm" / "rmsnorm".
std::string_view NormName(Norm norm);
// Returns "fwd" / "bwd".
std::string_view DirectionName(Direction dir);
std::optional<Norm> ParseNorm(std::string_view name);
std::optional<Direction> ParseDirection(std::string_view name);
// Returns "layernorm fwd" style text (also for ops not implemented).
std::string OpName(Norm norm, Direction dir);
// Returns every norm, in a fixed order (what --op all selects).
const std::vector<Norm>& AllNorms();

// Tensors by name. The order is fixed: dump names, report order.
enum class TensorId : uint8_t { kX, kGamma, kBeta, kDy, kY, kMean, kRstd, kDx, kDgamma, kDbeta };
inline constexpr int kTensorCount = 10;
// Returns "x", "gamma", "beta", "dy", "y", "mean", "rstd", "dx", "dgamma", "dbeta".
std::string_view TensorName(TensorId id);
std::optional<TensorId> ParseTensorName(std::string_view name);
enum class TensorRole : uint8_t { kInput, kOutput };
// N*H (row-major, the problem's dtype), H or N elements (f32).
enum class Extent : uint8_t { kRowsCols, kCols, kRows };
struct TensorSpec {
  TensorId id;
  TensorRole role;
  Extent extent;
};

// Returns the elements of a tensor of `extent` in `problem`.
int64_t TensorElements(const Problem& problem, Extent extent);
// Returns its element type: the problem's dtype for kRowsCols, else f32.
DType TensorDType(const Problem& problem, Extent extent);
// Returns its bytes.
uint64_t TensorBytes(const Problem& problem, Extent extent);

// The declared bytes model: every backend is credited with the same bytes.
// Every present tensor counts once: inputs read, outputs written.
struct BytesModel {
  uint64_t read = 0;
  uint64_t written = 0;
  uint64_t total() const { return read + written; }
};

// One operation. Implementations live in src/core/ops/<op>.cc.
class OpDescriptor {
 public:
  virtual ~OpDescriptor() = default;
  virtual Norm norm() const = 0;
  virtual Direction dir() const = 0;
  // Returns "layernorm fwd" style text: the op's name in reports and tables.
  std::string Name() const;

  // Returns the tensors present for `problem` (affine and stats decide
  // which), in TensorId order.
  virtual std::vector<TensorSpec> Tensors(const Problem& problem) const = 0;
  // Returns the tensors the reference holds: every output of the op with all
  // of its outputs on (an output's bound may need another one's reference).
  virtual std::vector<TensorSpec> ReferenceTensors(const Problem& problem) const = 0;
  // Returns the one-line text of the bytes model, stored in every report.
  virtual std::string_view BytesModelText() const = 0;

  // Fills every input tensor of `problem` present in `inputs` from the seed.
  virtual void GenerateInputs(const Problem& problem, const HostTensors& inputs,
                              ThreadPool& pool) const = 0;
  // Fills them from user files instead (--input/--gamma/--beta); returns
  // what became of the file's values. Throws UsageError for a file the op
  // has no tensor for.
  virtual InputFileCounts FillFromFiles(const InputFiles& files, const Problem& problem,
                                        const HostTensors& inputs, ThreadPool& pool) const = 0;
  // Computes the float64 reference of every ReferenceTensors() tensor.
  virtual void ComputeReference(const Problem& problem, const HostTensors& inputs,
                                Reference& ref, ThreadPool& pool) const = 0;
  // Writes the scale of the error bound of output `id` for its elements
  // [begin, end) (docs/verification.md): the bound allows a multiple of
  // eps_f32 * scale besides the final rounding. A per-row tensor's scale is
  // NaN where the row has no finite statistics (any non-finite value is
  // right there, a number is not).
  virtual void ErrorScales(const Problem& problem, TensorId id, const HostTensors& inputs,
                           const Reference& ref, int64_t begin, int64_t end,
                           double* scale) const = 0;
  // Returns the allowed f32 arithmetic error in units of eps_f32 * scale for
  // output tensors of `extent` (docs/verification.md derives it).
  virtual double ComputeEpsUnits(const Problem& problem, Extent extent) const = 0;

  // Returns the tensors of one role, in TensorId order.
  std::vector<TensorSpec> TensorsOf(const Problem& problem, TensorRole role) const;
  // Returns the bytes model of `problem`: the sum of the present tensors.
  BytesModel CountBytes(const Problem& problem) const;
};

// Calls fn(row, col, i0, i1) for each row's part [i0, i1) of the element range
// [begin, end) of a rows x cols tensor, `col` being i0's column: ErrorScales
// works out a row's values once, not per element.
template <class Fn>
void ForRowSpans(int64_t begin, int64_t end, int64_t cols, Fn&& fn) {
  for (int64_t i = begin; i < end;) {
    const int64_t row = i / cols, col = i - row * cols;
    const int64_t stop = end - i < cols - col ? end : i + (cols - col);
    fn(row, col, i, stop);
    i = stop;
  }
}

// Returns the descriptor of the problem's norm and direction. Throws
// UsageError for a combination no op file implements yet.
const OpDescriptor& OpFor(const Problem& problem);
const OpDescriptor& OpFor(Norm norm, Direction dir);
// Returns whether an op file implements the combination.
bool HasOp(Norm norm, Direction dir);

}  // namespace lnbench

#endif  // LNBENCH_CORE_OP_H_
