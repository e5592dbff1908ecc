// Validates a report against results/schema/report.schema.json with Debian's
// python3-jsonschema (tests/support/check_report_schema.py): the schema is
// checked by the library that implements JSON Schema, not by a hand-written
// subset. A missing jsonschema is a test failure, never a skip.
#ifndef LNBENCH_TESTS_SUPPORT_REPORT_SCHEMA_H_
#define LNBENCH_TESTS_SUPPORT_REPORT_SCHEMA_H_

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

namespace lnbench::test_support {

// Returns the checker's output for the report file at `path` and its exit code
// (0 valid, 1 invalid, 2 checker unusable).
inline int CheckReportSchemaFile(const std::string& path, std::string* output) {
  namespace fs = std::filesystem;
  const fs::path out = fs::temp_directory_path() /
                       ("lnbench_schema_" + std::to_string(getpid()) + "_" +
                        std::to_string(reinterpret_cast<uintptr_t>(output)) + ".txt");
  const std::string cmd = std::string("/usr/bin/python3 '") + LNBENCH_SOURCE_DIR +
                          "/tests/support/check_report_schema.py' '" + path + "' >'" + out.string() +
                          "' 2>&1";
  const int status = std::system(cmd.c_str());
  std::ifstream in(out);
  std::stringstream ss;
  ss << in.rdbuf();
  *output = ss.str();
  std::error_code ec;
  fs::remove(out, ec);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Adds a test failure for every place the report file at `path` breaks the schema.
inline void ExpectReportFileMatchesSchema(const std::string& path) {
  std::string output;
  const int rc = CheckReportSchemaFile(path, &output);
  EXPECT_EQ(rc, 0) << "schema check of " << path << " (exit " << rc << "):\n" << output;
}

// The same for a report held in memory.
inline void ExpectReportMatchesSchema(const nlohmann::json& report) {
  namespace fs = std::filesystem;
  const fs::path file = fs::temp_directory_path() /
                        ("lnbench_schema_in_" + std::to_string(getpid()) + "_" +
                         std::to_string(reinterpret_cast<uintptr_t>(&report)) + ".json");
  {
    std::ofstream out(file);
    out << report.dump(1);
  }
  ExpectReportFileMatchesSchema(file.string());
  std::error_code ec;
  fs::remove(file, ec);
}

}  // namespace lnbench::test_support

#endif  // LNBENCH_TESTS_SUPPORT_REPORT_SCHEMA_H_
