// Reading lnbench JSON reports (results/schema/report.schema.json) for
// `compare` and `merge`: parse the file with bounds, then read it into the
// report model (report/report_model.h). Every problem is a UsageError whose
// one-line message names the file and the field.
#ifndef LNBENCH_COMPARE_REPORT_JSON_H_
#define LNBENCH_COMPARE_REPORT_JSON_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "report/report_model.h"

namespace lnbench {

// Limits on what a report may be: arrays and objects nested at most this
// deep (reports use about 6 levels), and at most this many bytes.
inline constexpr size_t kMaxJsonDepth = 64;
inline constexpr uint64_t kMaxReportBytes = 1ull << 30;

// A report read into the model (report/report_model.h), with the file it came from.
struct LoadedReport {
  std::string path;
  Report report;

  bool merged() const { return report.merged(); }
  const std::vector<ReportCase>& cases() const { return report.cases; }
  // Returns context.machine, the label of the machine that wrote the report.
  const std::string& machine() const { return report.context.machine; }
  // Returns config.timing.mode ("hot" / "cold"), the mode of every timed case
  // of a single run; "" when the report does not say (merged reports).
  std::string timing_mode() const { return report.TimingMode(); }
};

// Returns the JSON document in `path`. Throws UsageError naming the path when
// the file is missing, not a regular file, larger than kMaxReportBytes or than
// the memory left, empty, truncated, not JSON, nested deeper than
// kMaxJsonDepth, holds a number out of a double's range, or is not an object.
Json ParseJsonFile(const std::string& path);
// Returns the JSON document in `text`; `path` is only used in messages.
Json ParseJsonText(const std::string& path, const std::string& text);

// Returns the schema_version of a parsed document, or nullopt when it has none
// (or a non-integer one).
std::optional<int64_t> SchemaVersionOf(const Json& doc);

// Returns `doc` read as a report (ReportFromJson: schema_version and kind
// checked, version 2 read as 3, every field the model holds type-checked).
// Throws UsageError naming `path` and the first offending field.
LoadedReport CheckReport(const std::string& path, Json doc);

// Returns the report in `path`: ParseJsonFile, then CheckReport.
LoadedReport LoadReport(const std::string& path);

// Appends `item` to `text`, after `separator` unless `text` is empty.
void AppendJoined(std::string& text, const std::string& separator, const std::string& item);

}  // namespace lnbench

#endif  // LNBENCH_COMPARE_REPORT_JSON_H_
