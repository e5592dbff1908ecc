// Error types that carry their exit code. Nothing below main() calls exit():
// errors are thrown and main() maps them to exit codes
// (2 usage, 3 runtime; 1 is a verification failure or regression, not an exception).
#ifndef LNBENCH_CORE_ERRORS_H_
#define LNBENCH_CORE_ERRORS_H_

#include <stdexcept>
#include <string>

namespace lnbench {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // verification failure or regression
inline constexpr int kExitUsage = 2;
inline constexpr int kExitRuntime = 3;

// Bad input from the user: options, shapes, files. Exit code 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Failure of the machine or a device while doing valid work: out of memory,
// a CUDA error, an unwritable output. Exit code 3.
class RuntimeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A foreign kernel broke one of the guards around it: wrote past an output,
// changed an input. The case fails (status failed, exit code 1), the run goes on.
class GuardViolation : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace lnbench

// Throws RuntimeError naming the file, line and the failed condition.
#define LNBENCH_CHECK(cond, msg)                                                      \
  do {                                                                                \
    if (!(cond))                                                                      \
      throw ::lnbench::RuntimeError(std::string(__FILE__) + ":" +                     \
                                    std::to_string(__LINE__) + ": " #cond ": " + (msg)); \
  } while (0)

#endif  // LNBENCH_CORE_ERRORS_H_
