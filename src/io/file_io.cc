#include "io/file_io.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <vector>

#include "core/errors.h"

namespace lnbench {

namespace {

// ---- Temporary files removed on a fatal signal -------------------------------
//
// A fixed table, so the handler needs no allocation and no lock: a slot is
// claimed (1), filled, then published (2); the handler unlinks published
// slots only. unlink() and raise() are async-signal-safe.

constexpr int kTempSlots = 64;
constexpr size_t kSlotBytes = PATH_MAX + 1;
constexpr int kCleanupSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGXFSZ};

struct TempSlot {
  std::atomic<int> state{0};  // 0 free, 1 being filled, 2 live
  char path[kSlotBytes];
};
TempSlot g_temp_slots[kTempSlots];
static_assert(std::atomic<int>::is_always_lock_free);

// Output folders this run created (CreatedFolders), outermost first: removed
// after the temporary files, deepest first, while empty.
constexpr int kFolderSlots = 16;
TempSlot g_folder_slots[kFolderSlots];

// Unlinks every temporary file this process holds, then removes the folders
// it created that are empty by then (async-signal-safe).
void UnlinkTempFiles() {
  for (TempSlot& slot : g_temp_slots)
    if (slot.state.load(std::memory_order_acquire) == 2) unlink(slot.path);
  for (int i = kFolderSlots - 1; i >= 0; --i)
    if (g_folder_slots[i].state.load(std::memory_order_acquire) == 2) rmdir(g_folder_slots[i].path);
}

extern "C" void RemoveTempFilesAndReraise(int sig) {
  const int saved_errno = errno;
  UnlinkTempFiles();
  errno = saved_errno;
  // SA_RESETHAND restored the default action; the signal is blocked while we
  // run, so it is delivered (and ends the process) as the handler returns.
  raise(sig);
}

// Installs the handler once, leaving alone signals the caller ignores (nohup).
void InstallCleanupHandlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction action {};
    action.sa_handler = RemoveTempFilesAndReraise;
    action.sa_flags = SA_RESETHAND;
    sigemptyset(&action.sa_mask);
    for (int sig : kCleanupSignals) sigaddset(&action.sa_mask, sig);
    for (int sig : kCleanupSignals) {
      struct sigaction old {};
      if (sigaction(sig, nullptr, &old) == 0 && old.sa_handler == SIG_IGN) continue;
      sigaction(sig, &action, nullptr);
    }
  });
}

// Blocks the cleanup signals for its lifetime, so a temporary file cannot be
// created and then missed by the handler.
class CleanupSignalsBlocked {
 public:
  CleanupSignalsBlocked() {
    sigset_t set;
    sigemptyset(&set);
    for (int sig : kCleanupSignals) sigaddset(&set, sig);
    pthread_sigmask(SIG_BLOCK, &set, &old_);
  }
  ~CleanupSignalsBlocked() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }

 private:
  sigset_t old_;
};

// Returns a claimed slot (state 1) of `table` or -1 when the table is full.
template <size_t N>
int ClaimSlot(TempSlot (&table)[N]) {
  for (size_t i = 0; i < N; ++i) {
    int expected = 0;
    if (table[i].state.compare_exchange_strong(expected, 1)) return static_cast<int>(i);
  }
  return -1;
}

void PublishSlot(TempSlot* table, int slot, const std::string& path) {
  std::memcpy(table[slot].path, path.c_str(), path.size() + 1);
  table[slot].state.store(2, std::memory_order_release);
}

void ReleaseSlot(TempSlot* table, int slot) {
  if (slot >= 0) table[slot].state.store(0, std::memory_order_release);
}

// Empties both tables (async-signal-safe).
void ForgetAllSlots() {
  for (TempSlot& slot : g_temp_slots) slot.state.store(0, std::memory_order_release);
  for (TempSlot& slot : g_folder_slots) slot.state.store(0, std::memory_order_release);
}

// ---- Inputs no output may replace ---------------------------------------------

struct ProtectedInput {
  dev_t dev;
  ino_t ino;
  std::string path;
};
std::mutex g_inputs_mutex;
std::vector<ProtectedInput> g_inputs;

// Returns the input `st` is (as given to ProtectInput), or "" when none.
std::string ProtectedInputAt(const struct stat& st) {
  if (!S_ISREG(st.st_mode)) return "";
  std::lock_guard<std::mutex> lock(g_inputs_mutex);
  for (const ProtectedInput& in : g_inputs)
    if (in.dev == st.st_dev && in.ino == st.st_ino) return in.path;
  return "";
}

// ---- Paths -------------------------------------------------------------------

// Returns `path` quoted for a one-line message: control bytes as \xNN.
std::string Quoted(const std::string& path) {
  std::string out = "'";
  for (unsigned char c : path) {
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "'";
}

std::string FolderOf(const std::string& path) {
  const auto parent = std::filesystem::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

std::string NameOf(const std::string& path) { return std::filesystem::path(path).filename().string(); }

[[noreturn]] void Refuse(const std::string& option, const std::string& path, const std::string& why) {
  throw UsageError(option + " " + Quoted(path) + ": " + why);
}

// Returns why an output may not replace the file `st` describes (one of this
// run's inputs), or "" when it may.
std::string ReplacesInput(const struct stat& st, const std::string& path) {
  const std::string input = ProtectedInputAt(st);
  if (input.empty()) return "";
  return input == path ? "is also an input of this run: write the output elsewhere"
                       : "is " + Quoted(input) + ", an input of this run: write the output elsewhere";
}

// Refuses a path the kernel would reject as too long, before any work.
void CheckLengths(const std::string& option, const std::string& path) {
  if (path.size() >= PATH_MAX)
    Refuse(option, path, "path too long (" + std::to_string(path.size()) + " bytes; at most " +
                             std::to_string(PATH_MAX - 1) + ")");
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    if (end - start > NAME_MAX)
      Refuse(option, path, "name too long (a component of " + std::to_string(end - start) +
                               " bytes; at most " + std::to_string(NAME_MAX) + ")");
    start = end + 1;
  }
}

// Returns the final target of `path`: symlinks in its last component are
// followed (relative links resolve from the link's folder), so the file can be
// replaced atomically there while the link stays a link.
std::string FinalTarget(const std::string& path) {
  std::string p = path;
  for (int hops = 0; hops < 40; ++hops) {
    struct stat st;
    if (lstat(p.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return p;
    std::vector<char> buf(PATH_MAX + 1);
    const ssize_t n = readlink(p.c_str(), buf.data(), buf.size() - 1);
    if (n <= 0) return p;
    const std::string link(buf.data(), static_cast<size_t>(n));
    p = link[0] == '/' ? link : FolderOf(p) + "/" + link;
  }
  throw UsageError(Quoted(path) + ": too many levels of symbolic links");
}

// Refuses `folder` unless it is a folder we may create files in.
void CheckFolderWritable(const std::string& option, const std::string& path, const std::string& folder) {
  struct stat st;
  if (stat(folder.c_str(), &st) != 0) {
    if (errno == ENOENT) Refuse(option, path, "folder " + Quoted(folder) + " does not exist");
    if (errno == ENOTDIR) Refuse(option, path, "a component of " + Quoted(folder) + " is not a folder");
    Refuse(option, path, "folder " + Quoted(folder) + ": " + std::strerror(errno));
  }
  if (!S_ISDIR(st.st_mode)) Refuse(option, path, Quoted(folder) + " is not a folder");
  if (access(folder.c_str(), W_OK | X_OK) != 0)
    Refuse(option, path, "folder " + Quoted(folder) + " is not writable");
}

// Writes all of `data` to `fd`; returns 0 or the errno of the failure.
int WriteAll(int fd, std::string_view data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    done += static_cast<size_t>(n);
  }
  return 0;
}

[[noreturn]] void WriteFailed(const std::string& path, int err) {
  throw RuntimeError("cannot write " + Quoted(path) + ": " + std::strerror(err));
}

// Returns 1 or 2 when `st` is the file this process's stdout or stderr is
// open on (/dev/stdout, /proc/self/fd/1, or the file stdout was redirected
// to), else -1: written through that descriptor, the output joins the stream
// instead of replacing or rewinding its file.
int StdStreamOf(const struct stat& st) {
  for (int fd : {STDOUT_FILENO, STDERR_FILENO}) {
    struct stat s;
    if (fstat(fd, &s) == 0 && s.st_dev == st.st_dev && s.st_ino == st.st_ino) return fd;
  }
  return -1;
}

// Returns whether a target is written in place: a device or FIFO.
bool IsWrittenInPlace(const struct stat& st) {
  return S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISFIFO(st.st_mode);
}

mode_t Umask() {
  static const mode_t mask = [] {
    const mode_t m = umask(0);
    umask(m);
    return m;
  }();
  return mask;
}

}  // namespace

bool IsStdoutPath(const std::string& path) { return path == "-"; }

void ProtectInput(const std::string& path) {
  struct stat st;
  if (path.empty() || IsStdoutPath(path) || stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return;
  std::lock_guard<std::mutex> lock(g_inputs_mutex);
  g_inputs.push_back({st.st_dev, st.st_ino, path});
}

void RemoveTempFilesBeforeExit() {
  const int saved_errno = errno;
  UnlinkTempFiles();
  ForgetAllSlots();
  errno = saved_errno;
}

void ForgetTempFilesAfterFork() {
  ForgetAllSlots();
  for (int sig : kCleanupSignals) {
    struct sigaction old {};
    if (sigaction(sig, nullptr, &old) == 0 && old.sa_handler == RemoveTempFilesAndReraise)
      signal(sig, SIG_DFL);
  }
}

void CheckOutputFile(const std::string& option, const std::string& path, bool allow_stdout) {
  if (path.empty()) throw UsageError(option + ": empty path");
  if (allow_stdout && IsStdoutPath(path)) return;
  CheckLengths(option, path);
  if (path.back() == '/') Refuse(option, path, "names a folder; give a file name");
  struct stat st;
  // The kernel follows every link here, /proc's "pipe:[N]" ones included.
  if (stat(path.c_str(), &st) == 0) {
    if (StdStreamOf(st) >= 0) return;
    if (IsWrittenInPlace(st)) {
      if (access(path.c_str(), W_OK) != 0) Refuse(option, path, "not writable");
      return;
    }
  }
  std::string target;
  try {
    target = FinalTarget(path);
  } catch (const UsageError&) {
    Refuse(option, path, "too many levels of symbolic links");  // named with its option
  }
  if (stat(target.c_str(), &st) == 0) {
    if (const std::string why = ReplacesInput(st, path); !why.empty()) Refuse(option, path, why);
    if (S_ISDIR(st.st_mode)) Refuse(option, path, "is a folder; give a file name");
    if (S_ISSOCK(st.st_mode)) Refuse(option, path, "is a socket; lnbench writes files, FIFOs and devices");
    if (!S_ISREG(st.st_mode)) {
      // Written in place: it must be writable itself; its folder does not matter.
      if (access(target.c_str(), W_OK) != 0) Refuse(option, path, "not writable");
      return;
    }
  } else if (errno == ENOTDIR) {
    Refuse(option, path, "a component of " + Quoted(FolderOf(target)) + " is not a folder");
  } else if (errno != ENOENT) {
    Refuse(option, path, std::strerror(errno));
  }
  CheckFolderWritable(option, path, FolderOf(target));
}

void CheckOutputFolder(const std::string& option, const std::string& path, bool may_create) {
  if (path.empty()) throw UsageError(option + ": empty path");
  CheckLengths(option, path);
  struct stat st;
  if (stat(path.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) Refuse(option, path, "exists and is not a folder");
    if (access(path.c_str(), W_OK | X_OK) != 0) Refuse(option, path, "folder is not writable");
    return;
  }
  if (errno == ENOTDIR) Refuse(option, path, "a component of it is not a folder");
  if (errno != ENOENT) Refuse(option, path, std::strerror(errno));
  if (!may_create) Refuse(option, path, "folder does not exist");
  // The nearest existing ancestor decides whether the folders can be made.
  std::filesystem::path p(path);
  for (;;) {
    p = p.parent_path();
    const std::string ancestor = p.empty() ? std::string(".") : p.string();
    if (stat(ancestor.c_str(), &st) == 0) {
      CheckFolderWritable(option, path, ancestor);
      return;
    }
    if (errno == ENOTDIR) Refuse(option, path, "a component of it is not a folder");
    if (errno != ENOENT) Refuse(option, path, std::strerror(errno));
    if (p.empty()) return;
  }
}

CreatedFolders::~CreatedFolders() {
  for (auto it = created_.rbegin(); it != created_.rend(); ++it)
    if (rmdir(it->c_str()) != 0) break;
  Keep();
}

void CreatedFolders::Keep() {
  created_.clear();
  for (int slot : slots_) ReleaseSlot(g_folder_slots, slot);
  slots_.clear();
}

void CreateOutputFolder(const std::string& option, const std::string& path, CreatedFolders* made) {
  std::vector<std::string> missing;  // deepest first
  for (std::filesystem::path p(path); !p.empty(); p = p.parent_path()) {
    struct stat st;
    if (stat(p.c_str(), &st) == 0) break;
    missing.push_back(p.string());
    if (p == p.parent_path()) break;
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (mkdir(it->c_str(), 0777) != 0 && errno != EEXIST)
      throw RuntimeError(option + " " + Quoted(path) + ": cannot create folder " + Quoted(*it) + ": " +
                         std::strerror(errno));
    if (made == nullptr) continue;
    made->created_.push_back(*it);
    // Published for the signal handler and RemoveTempFilesBeforeExit too
    // (a folder whose path does not fit a slot is left to the destructor).
    if (it->size() >= kSlotBytes) continue;
    InstallCleanupHandlers();
    const int slot = ClaimSlot(g_folder_slots);
    if (slot < 0) continue;
    PublishSlot(g_folder_slots, slot, *it);
    made->slots_.push_back(slot);
  }
}

OutputFile::OutputFile(std::string path) : path_(std::move(path)) {
  struct stat st;
  if (IsStdoutPath(path_)) {
    std_fd_ = STDOUT_FILENO;
    return;
  }
  if (stat(path_.c_str(), &st) == 0) {
    if ((std_fd_ = StdStreamOf(st)) >= 0) return;
    if (IsWrittenInPlace(st)) {
      // Opened by the name given: /proc's links to pipes name no real path.
      in_place_ = true;
      target_ = path_;
      return;
    }
  }
  // Absolute, so the file still lands where it was asked for when the
  // working folder changes before Commit (a plugin run in-process may chdir).
  // (A working folder that no longer exists keeps the path as it is.)
  target_ = FinalTarget(path_);
  std::error_code ec;
  if (const auto absolute = std::filesystem::absolute(target_, ec); !ec) target_ = absolute.string();
  const bool exists = stat(target_.c_str(), &st) == 0;
  if (exists) {
    if (const std::string why = ReplacesInput(st, path_); !why.empty()) throw UsageError(Quoted(path_) + ": " + why);
  }
  if (exists && S_ISDIR(st.st_mode)) throw UsageError(Quoted(path_) + ": is a folder");
  if (exists && S_ISSOCK(st.st_mode)) throw UsageError(Quoted(path_) + ": is a socket");
  if (exists && !S_ISREG(st.st_mode)) {
    in_place_ = true;  // a device or FIFO: opened at Commit, never replaced
    return;
  }
  // Keep the temporary name within NAME_MAX whatever the target's name.
  std::string name = NameOf(target_);
  constexpr size_t kDecoration = sizeof(".") - 1 + sizeof(".lnbench-tmp.XXXXXX") - 1;
  if (name.size() + kDecoration > NAME_MAX) name.resize(NAME_MAX - kDecoration);
  std::string tmpl = FolderOf(target_) + "/." + name + ".lnbench-tmp.XXXXXX";
  if (tmpl.size() >= kSlotBytes) WriteFailed(path_, ENAMETOOLONG);
  InstallCleanupHandlers();
  {
    CleanupSignalsBlocked blocked;
    slot_ = ClaimSlot(g_temp_slots);
    if (slot_ < 0) throw RuntimeError("cannot write " + Quoted(path_) + ": too many temporary files open");
    fd_ = mkstemp(tmpl.data());
    if (fd_ < 0) {
      const int err = errno;
      ReleaseSlot(g_temp_slots, slot_);
      slot_ = -1;
      WriteFailed(path_, err);
    }
    temp_ = tmpl;
    PublishSlot(g_temp_slots, slot_, temp_);
  }
  // mkstemp makes 0600: keep an existing file's mode, else the usual 0666 & ~umask.
  fchmod(fd_, exists ? (st.st_mode & 07777) : (0666 & ~Umask()));
}

OutputFile::~OutputFile() { Discard(); }

void OutputFile::Discard() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  if (!temp_.empty()) unlink(temp_.c_str());
  temp_.clear();
  ReleaseSlot(g_temp_slots, slot_);
  slot_ = -1;
}

void OutputFile::Commit(std::string_view content) {
  if (std_fd_ >= 0) {
    std::fflush(std_fd_ == STDOUT_FILENO ? stdout : stderr);
    if (const int err = WriteAll(std_fd_, content)) {
      throw RuntimeError(std::string("cannot write to standard ") + (std_fd_ == STDOUT_FILENO ? "output" : "error") +
                         ": " + std::strerror(err));
    }
    return;
  }
  if (in_place_) {
    // No O_CREAT, no O_TRUNC: a device or FIFO is written as it is.
    const int fd = open(target_.c_str(), O_WRONLY | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) WriteFailed(path_, errno);
    int err = WriteAll(fd, content);
    if (close(fd) != 0 && err == 0 && errno != EINTR) err = errno;
    if (err) WriteFailed(path_, err);
    return;
  }
  if (fd_ < 0) throw RuntimeError("cannot write " + Quoted(path_) + ": already written");
  int err = WriteAll(fd_, content);
  if (err == 0 && fsync(fd_) != 0) err = errno;
  if (close(fd_) != 0 && err == 0) err = errno;
  fd_ = -1;
  if (err == 0 && std::rename(temp_.c_str(), target_.c_str()) != 0) err = errno;
  if (err) {
    Discard();
    WriteFailed(path_, err);
  }
  temp_.clear();
  ReleaseSlot(g_temp_slots, slot_);
  slot_ = -1;
}

void WriteFileAtomically(const std::string& path, std::string_view content) {
  OutputFile file(path);
  file.Commit(content);
}

int WriteFileAnew(const std::string& path, std::string_view content) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) return errno;
  int err = WriteAll(fd, content);
  if (close(fd) != 0 && err == 0 && errno != EINTR) err = errno;
  return err;
}

std::string ReadFile(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw UsageError("'" + path + "': no such file");
  if (std::filesystem::is_directory(path, ec)) throw UsageError("'" + path + "': is a folder");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError("'" + path + "': cannot be read");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw UsageError("'" + path + "': read error");
  return ss.str();
}

}  // namespace lnbench
