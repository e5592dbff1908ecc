// User data instead of generated inputs (--input x.npy [--gamma g.npy
// --beta b.npy]) and the --dump folder of .npy files, so any result can be
// inspected with other tools.
#ifndef LNBENCH_CORE_INPUT_FILES_H_
#define LNBENCH_CORE_INPUT_FILES_H_

#include <cstdint>
#include <string>
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
};

// Reads and checks the files: x 2-D float32/float64, gamma/beta 1-D of length
// cols. Throws UsageError naming the file and the problem.
InputFiles LoadInputFiles(const std::string& x_path, const std::string& gamma_path,
                          const std::string& beta_path);

// Stores the file data into a problem's buffers, rounded to problem.dtype;
// gamma/beta not given in files are drawn from the seed as for generated problems.
void FillFromFiles(const InputFiles& files, const Problem& problem, void* x, float* gamma,
                   float* beta, ThreadPool& pool);

// Writes x, gamma, beta and the reference (y, mean, rstd as float64) of a
// problem into `dir`, as <problem tag>_<name>.npy.
void DumpProblem(const std::string& dir, const Problem& problem, const HostInputs& inputs,
                 const Reference& ref);
// Writes one case's outputs as <problem tag>_<backend>_<variant>_<name>.npy.
void DumpOutputs(const std::string& dir, const CaseResult& result, const HostOutputs& outputs);

// Returns the file-name tag of a problem ("4096x768_f32_normal_aff1_st0").
std::string ProblemTag(const Problem& problem);

}  // namespace lnbench

#endif  // LNBENCH_CORE_INPUT_FILES_H_
