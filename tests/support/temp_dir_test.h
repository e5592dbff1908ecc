// A test fixture that owns a fresh temporary folder per test (mkdtemp under
// the system's temp folder), removed afterwards: tests touch only files they
// made there.
#ifndef LNBENCH_TESTS_SUPPORT_TEMP_DIR_TEST_H_
#define LNBENCH_TESTS_SUPPORT_TEMP_DIR_TEST_H_

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

namespace lnbench::test_support {

class TempDirTest : public ::testing::Test {
 protected:
  // `prefix` names the folder ("lnbench-npy" gives /tmp/lnbench-npy-XXXXXX).
  explicit TempDirTest(std::string prefix) : prefix_(std::move(prefix)) {}

  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / (prefix_ + "-XXXXXX")).string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Returns the path of `name` inside the test's folder.
  std::string Path(const std::string& name) const { return (std::filesystem::path(dir_) / name).string(); }

  std::string dir_;

 private:
  std::string prefix_;
};

}  // namespace lnbench::test_support

#endif  // LNBENCH_TESTS_SUPPORT_TEMP_DIR_TEST_H_
