// User data instead of generated inputs (--input x.npy [--gamma g.npy
// --beta b.npy]) and the --dump folder of .npy files, so any result can be
// inspected with other tools.
#ifndef LNBENCH_CORE_INPUT_FILES_H_
#define LNBENCH_CORE_INPUT_FILES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "backends/backend.h"
#include "core/problem.h"
#include "core/thread_pool.h"
#include "reference/reference.h"

namespace lnbench {

struct CaseResult;

// The contents of the input files, as doubles.
struct InputFiles {
  int64_t rows = 0, cols = 0;
  std::vector<double> x;             // rows*cols
  std::vector<double> gamma, beta;   // cols, or empty when not given
  std::vector<double> dy;            // rows*cols (--dy, backward), or empty when not given
  int64_t nonfinite_rows = 0;        // rows of x holding a NaN or an infinity
  int64_t dy_nonfinite_rows = 0;     // rows of dy holding a NaN or an infinity
};

// What became of the file's values when stored in a problem's dtype.
struct InputFileCounts {
  int64_t nonfinite_rows = 0;     // rows of x with a NaN or infinity in the file
  int64_t overflowed_values = 0;  // finite values of x, gamma, beta, dy that became +-inf in the dtype
  // Rows of dy with a NaN or infinity in the file: set when dy came from a
  // file (--dy, the backward), absent otherwise.
  std::optional<int64_t> dy_nonfinite_rows;
};

// Reads and checks the files: x 2-D float32/float64/float16, gamma/beta 1-D of length
// cols, dy (optional) 2-D of x's shape. Throws UsageError naming the file and
// the problem.
InputFiles LoadInputFiles(const std::string& x_path, const std::string& gamma_path,
                          const std::string& beta_path, const std::string& dy_path = "");

// Checks the files' shapes from their headers alone (no data is read) as
// LoadInputFiles does; returns x's (rows, cols). Throws UsageError.
std::pair<int64_t, int64_t> CheckInputFileHeaders(const std::string& x_path, const std::string& gamma_path,
                                                  const std::string& beta_path, const std::string& dy_path);

// Stores the file data into a problem's buffers, rounded to problem.dtype
// (gamma/beta not given in files are 1 and 0; beta may be nullptr); with a
// non-null `dy` and a dy file, stores dy too. Returns the counts of non-finite
// rows and of values that overflowed the dtype.
InputFileCounts FillFromFiles(const InputFiles& files, const Problem& problem, void* x, float* gamma,
                              float* beta, ThreadPool& pool, void* dy = nullptr);

// Writes the input tensors of a problem into `dir` as <problem tag>_<name>.npy
// and its float64 reference as <problem tag>_ref_<name>.npy (names from
// TensorName()).
void DumpProblem(const std::string& dir, const Problem& problem, const HostTensors& inputs,
                 const Reference& ref);
// Writes one case's output tensors as
// <problem tag>_<backend>_<variant>[_t<threads>]_<name>.npy.
void DumpOutputs(const std::string& dir, const CaseResult& result, const HostTensors& outputs);

// Returns the file-name tag of a problem ("4096x768_f32_normal_aff1_st0",
// prefixed with "<op>_<dir>_" when the op is not layernorm fwd).
std::string ProblemTag(const Problem& problem);

}  // namespace lnbench

#endif  // LNBENCH_CORE_INPUT_FILES_H_
