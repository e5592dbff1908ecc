// Reading and writing NumPy .npy files (format versions 1.0, 2.0 and 3.0):
// user inputs (--input x.npy, --gamma, --beta) and the --dump folder.
//
// Read: little-endian float32 ('<f4'), float64 ('<f8') or float16 ('<f2'), C
// order, any shape; ReadNpyMatrix / ReadNpyVector add the dimension checks.
// Anything else (not a regular file, not an .npy file, truncated, Fortran
// order, big-endian, another dtype, data size not matching the shape) is a
// UsageError naming the file and the problem.
#ifndef LNBENCH_CORE_NPY_H_
#define LNBENCH_CORE_NPY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace lnbench {

// The contents of an .npy file, values widened to double.
struct NpyArray {
  std::vector<int64_t> shape;
  std::string descr;         // as in the file: "<f4", "<f8" or "<f2"
  std::vector<double> data;  // product(shape) values, C order
  int64_t size() const;      // product of shape (1 for a 0-d array)
};

// What the header of an .npy file says, checked against the file's size.
struct NpyHeader {
  std::vector<int64_t> shape;
  std::string descr;         // "<f4", "<f8" or "<f2"
  size_t item = 0;           // bytes per element
  uint64_t count = 0;        // product(shape)
  uint64_t data_offset = 0;  // where the data starts in the file
};

// Reads and checks only the header of an .npy file, so a run can be sized
// before any data is read. The file must be a regular file (a FIFO or a
// device is refused without blocking) whose data size is exactly what the
// header's shape needs. Throws UsageError naming `path` and what is wrong.
NpyHeader ReadNpyHeader(const std::string& path);
// Reads an .npy file: the header first, then the data in chunks. Throws
// UsageError as ReadNpyHeader does, RuntimeError ("out of memory") when its
// values do not fit in memory.
NpyArray ReadNpy(const std::string& path);
// Reads a 2-D array (rows x cols, both >= 1). Throws UsageError otherwise.
NpyArray ReadNpyMatrix(const std::string& path);
// The dimension checks of ReadNpyMatrix and ReadNpyVector alone (on a
// header's shape). Throw UsageError.
void CheckNpyMatrixShape(const std::string& path, const std::vector<int64_t>& shape);
void CheckNpyVectorShape(const std::string& path, const std::vector<int64_t>& shape, int64_t expected_len);
// Reads a 1-D array; with expected_len >= 0 its length must be expected_len.
NpyArray ReadNpyVector(const std::string& path, int64_t expected_len = -1);

// Element types lnbench writes. bf16 has no NumPy dtype, so kBF16 data is
// written upcast to '<f4' (exactly); kF16 is written as '<f2'.
enum class NpyElement { kF64, kF32, kBF16, kF16 };
// Returns the element type that holds values of `dtype` (bf16 -> kBF16, ...).
NpyElement NpyElementOf(DType dtype);

// Returns the bytes of an .npy file (version 1.0) holding `data`: product(shape)
// elements of `type` in C order (bf16/f16 given as raw 16-bit patterns).
std::string EncodeNpy(const std::vector<int64_t>& shape, NpyElement type, const void* data);
// Writes an .npy file atomically (never a partial file). Throws RuntimeError
// when the file cannot be written.
void WriteNpy(const std::string& path, const std::vector<int64_t>& shape, NpyElement type,
              const void* data);

}  // namespace lnbench

#endif  // LNBENCH_CORE_NPY_H_
