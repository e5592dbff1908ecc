// Running the built lnbench binary from a test, with its stdout and stderr
// captured in files of the test's own folder, so every end-to-end test (cli,
// cli_ux, io, plugin, untrusted input) runs it the same way: as one shell
// command (RunLnbench with shell text), or with an argv of any bytes and no
// shell, optionally started in the background and hooked just before exec
// (LnbenchProcess: signals, resource limits). Needs LNBENCH_BINARY (the test
// target's compile definition).
#ifndef LNBENCH_TESTS_SUPPORT_RUN_BINARY_H_
#define LNBENCH_TESTS_SUPPORT_RUN_BINARY_H_

#include <fcntl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

namespace lnbench::test_support {

struct BinaryResult {
  int code = -1;    // exit code; -1 when killed by a signal
  int signal = 0;   // the signal that ended it (argv runs; a shell run reports the shell's status)
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

// Returns the result of a finished run: its wait status, `dir`/out and `dir`/err.
inline BinaryResult CollectResult(int status, const std::filesystem::path& dir,
                                  std::chrono::steady_clock::time_point start) {
  BinaryResult r;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  r.out = Slurp(dir / "out");
  r.err = Slurp(dir / "err");
  return r;
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
  return CollectResult(std::system(cmd.c_str()), dir, t0);
}

// lnbench started with `args` as its argv (no shell: any bytes, empty
// arguments), stdin from /dev/null (read only), stdout/stderr to `dir`/out
// and `dir`/err; `in_child` runs in the child just before exec (set limits,
// signal dispositions). Wait() must be called once.
class LnbenchProcess {
 public:
  LnbenchProcess(const std::vector<std::string>& args, std::filesystem::path dir,
                 const std::function<void()>& in_child = {})
      : dir_(std::move(dir)) {
    std::vector<std::string> argv = {LNBENCH_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> c;
    for (auto& a : argv) c.push_back(a.data());
    c.push_back(nullptr);
    const std::string out = (dir_ / "out").string(), err = (dir_ / "err").string();
    start_ = std::chrono::steady_clock::now();
    pid_ = fork();
    if (pid_ == 0) {
      const int i = open("/dev/null", O_RDONLY);
      const int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (i < 0 || o < 0 || e < 0) _exit(120);
      dup2(i, 0);
      dup2(o, 1);
      dup2(e, 2);
      if (in_child) in_child();
      execv(c[0], c.data());
      _exit(127);
    }
  }

  pid_t pid() const { return pid_; }

  // Waits for the process and returns its result.
  BinaryResult Wait() {
    int status = 0;
    if (pid_ > 0) waitpid(pid_, &status, 0);
    return CollectResult(status, dir_, start_);
  }

 private:
  std::filesystem::path dir_;
  pid_t pid_ = -1;
  std::chrono::steady_clock::time_point start_;
};

// Runs lnbench with `args` as its argv (see LnbenchProcess) and returns its result.
inline BinaryResult RunLnbench(const std::vector<std::string>& args, const std::filesystem::path& dir,
                               const std::function<void()>& in_child = {}) {
  return LnbenchProcess(args, dir, in_child).Wait();
}

}  // namespace lnbench::test_support

#endif  // LNBENCH_TESTS_SUPPORT_RUN_BINARY_H_
