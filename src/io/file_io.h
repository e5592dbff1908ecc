// The one place lnbench touches output paths (--json, --dump, --plot,
// compare/merge -o). The rules:
// - "-" is standard output (--json, -o).
// - Every path is checked before any work (CheckOutputFile, CheckOutputFolder):
//   empty, a name component over NAME_MAX, a path over PATH_MAX, a missing or
//   unwritable folder, a folder where a file is expected: UsageError (exit 2).
// - A regular file is written atomically: a temporary file in the target's own
//   folder (".NAME.lnbench-tmp.XXXXXX", so a leftover is obvious), flushed, then
//   renamed over the target; readers never see a partial file.
// - A symlink is followed: the file lands atomically in the link's final
//   target and the link stays a link.
// - An existing target that is not a regular file (character or block device,
//   FIFO) is written in place, never created, truncated or renamed over.
// - A path naming the file standard output or error is open on (/dev/stdout,
//   /proc/self/fd/1, or the file stdout is redirected to) is written through
//   that descriptor.
// - Temporary files are removed on SIGINT, SIGTERM, SIGHUP and SIGPIPE (then the
//   signal takes its default action), when an error unwinds past them, and
//   before an in-process plugin call's exit() or timeout ends lnbench.
// - A failed write (ENOSPC, EFBIG, EPIPE...) is a RuntimeError (exit 3) naming the
//   path, and the target is left untouched.
// - A file this run reads (ProtectInput) is never replaced by an output:
//   UsageError (exit 2), before any work where the path is known up front.
#ifndef LNBENCH_IO_FILE_IO_H_
#define LNBENCH_IO_FILE_IO_H_

#include <string>
#include <string_view>
#include <vector>

namespace lnbench {

// Returns whether `path` means standard output ("-").
bool IsStdoutPath(const std::string& path);

// Marks `path`, a file this process reads (--input, --gamma, --beta, --dy,
// --config, the reports compare and merge read), as an input: an output that
// would replace that file, by its own name or any other (a link, a dump's
// file name), is refused by CheckOutputFile and OutputFile with a UsageError.
// A path that names no regular file is ignored: its reader says why.
void ProtectInput(const std::string& path);

// Removes every temporary file this process holds, then the output folders
// it made (CreatedFolders) that are empty by then, for a path that ends the
// process with _exit() (an in-process plugin call that called exit() or timed
// out), where no destructor or signal handler would. Async-signal-safe.
void RemoveTempFilesBeforeExit();

// In a child made by fork(), before it runs anything: the parent's temporary
// files are the parent's, so a signal that ends the child must not remove
// them. Forgets them and restores the default action of the cleanup signals.
// Async-signal-safe.
void ForgetTempFilesAfterFork();

// Checks up front that `path` could be written as a file, so a long run does not
// end with an unwritable report. `option` names the option in the message
// ("--json 'x/y.json': folder 'x' does not exist"). Throws UsageError.
void CheckOutputFile(const std::string& option, const std::string& path, bool allow_stdout = true);

// Checks up front an output folder: it must exist and be writable, or, when
// `may_create`, its nearest existing ancestor must be a writable folder.
// Creates nothing. Throws UsageError naming `option`.
void CheckOutputFolder(const std::string& option, const std::string& path, bool may_create);

// Folders made by CreateOutputFolder; unless Keep() is called, the destructor
// removes them again (deepest first, only while empty), so a run that fails
// leaves nothing behind; so do the cleanup signals and
// RemoveTempFilesBeforeExit while they exist.
class CreatedFolders {
 public:
  CreatedFolders() = default;
  CreatedFolders(const CreatedFolders&) = delete;
  CreatedFolders& operator=(const CreatedFolders&) = delete;
  ~CreatedFolders();
  void Keep();

 private:
  friend void CreateOutputFolder(const std::string&, const std::string&, CreatedFolders*);
  std::vector<std::string> created_;  // outermost first
  std::vector<int> slots_;            // their slots for the signal handler
};

// Creates `path` and its missing parents (after CheckOutputFolder passed);
// records what it made in `made`. Throws RuntimeError naming `option`.
void CreateOutputFolder(const std::string& option, const std::string& path, CreatedFolders* made);

// An output file reserved before the work and written after it. For a regular
// (or not yet existing) target the temporary file is created at once, so a
// disk that refuses files fails before the run; for "-" and for a device or
// FIFO nothing happens until Commit. The destructor removes an uncommitted
// temporary file.
class OutputFile {
 public:
  // Throws UsageError (a folder, a socket) or RuntimeError (cannot create).
  explicit OutputFile(std::string path);
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;
  ~OutputFile();

  // Writes `content` and makes it visible at path(). Throws RuntimeError.
  void Commit(std::string_view content);
  const std::string& path() const { return path_; }

 private:
  void Discard();

  std::string path_;    // as given
  std::string target_;  // the final target (symlinks followed)
  std::string temp_;    // the temporary file, "" when written in place
  int fd_ = -1;
  int slot_ = -1;       // in the signal-cleanup registry
  int std_fd_ = -1;     // 1 or 2: "-", or the file stdout/stderr is open on
  bool in_place_ = false;
};

// Writes `content` to `path` by the rules above. Throws RuntimeError naming the path.
void WriteFileAtomically(const std::string& path, std::string_view content);

// Writes one of lnbench's own files in a folder of its own that another
// process writes in too (an external command's case folder): whatever stands
// at `path` is removed first (a link to a file elsewhere, a FIFO, a folder),
// and the file is created anew (O_EXCL | O_NOFOLLOW): never written through,
// waited on, or refused as a usage error. Not for user-given outputs, which
// follow the rules above. Returns 0, or the errno of the failure.
int WriteFileAnew(const std::string& path, std::string_view content);

// Reads a whole file. Throws UsageError naming the path when it cannot be read.
std::string ReadFile(const std::string& path);

}  // namespace lnbench

#endif  // LNBENCH_IO_FILE_IO_H_
