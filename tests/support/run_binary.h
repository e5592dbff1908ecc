// Running the built lnbench binary from a test: one shell command with its
// stdout and stderr captured in files of the test's own folder, so every
// end-to-end test (cli, cli_ux, plugin, untrusted input) runs it the same way.
// Needs LNBENCH_BINARY (the test target's compile definition).
#ifndef LNBENCH_TESTS_SUPPORT_RUN_BINARY_H_
#define LNBENCH_TESTS_SUPPORT_RUN_BINARY_H_

#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace lnbench::test_support {

struct BinaryResult {
  int code = -1;  // exit code; -1 when killed by a signal
  std::string out, err;
  double seconds = 0;  // wall time of the whole command
};

// Returns the whole content of `path` ("" when it cannot be read).
inline std::string Slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs `prefix` lnbench `args` (shell text; prefix is e.g. "env VAR=1 " or
// "ulimit -v N; ") with stdin from /dev/null and stdout/stderr written to
// `dir`/out and `dir`/err, and returns code, both texts and the time.
inline BinaryResult RunLnbench(const std::string& prefix, const std::string& args,
                               const std::filesystem::path& dir) {
  const std::string out = (dir / "out").string(), err = (dir / "err").string();
  const std::string cmd =
      prefix + std::string(LNBENCH_BINARY) + " " + args + " >" + out + " 2>" + err + " </dev/null";
  const auto t0 = std::chrono::steady_clock::now();
  const int status = std::system(cmd.c_str());
  BinaryResult r;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = Slurp(out);
  r.err = Slurp(err);
  return r;
}

}  // namespace lnbench::test_support

#endif  // LNBENCH_TESTS_SUPPORT_RUN_BINARY_H_
