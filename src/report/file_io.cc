#include "report/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "core/errors.h"

namespace lnbench {

namespace {
std::string FolderOf(const std::string& path) {
  const std::filesystem::path p(path);
  const auto parent = p.parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}
}  // namespace

void CheckWritable(const std::string& path) {
  if (path.empty()) throw UsageError("empty output path");
  const std::string folder = FolderOf(path);
  std::error_code ec;
  if (!std::filesystem::is_directory(folder, ec))
    throw UsageError("cannot write '" + path + "': folder '" + folder + "' does not exist");
  if (std::filesystem::is_directory(path, ec))
    throw UsageError("cannot write '" + path + "': it is a folder");
  if (access(folder.c_str(), W_OK) != 0)
    throw UsageError("cannot write '" + path + "': folder '" + folder + "' is not writable");
}

void WriteFileAtomically(const std::string& path, const std::string& content) {
  const std::string folder = FolderOf(path);
  std::string tmpl = folder + "/." + std::filesystem::path(path).filename().string() + ".XXXXXX";
  std::vector<char> name(tmpl.begin(), tmpl.end());
  name.push_back('\0');
  const int fd = mkstemp(name.data());
  if (fd < 0)
    throw RuntimeError("cannot write '" + path + "': " + std::strerror(errno));
  const std::string tmp(name.data());
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string why = std::strerror(errno);
      close(fd);
      unlink(tmp.c_str());
      throw RuntimeError("cannot write '" + path + "': " + why);
    }
    done += static_cast<size_t>(n);
  }
  // Regular permissions (mkstemp creates 0600).
  fchmod(fd, 0644);
  if (fsync(fd) != 0 || close(fd) != 0) {
    const std::string why = std::strerror(errno);
    unlink(tmp.c_str());
    throw RuntimeError("cannot write '" + path + "': " + why);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    unlink(tmp.c_str());
    throw RuntimeError("cannot write '" + path + "': " + why);
  }
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
