// Reading lnbench JSON reports (results/schema/report.schema.json) for
// `compare` and `merge`: parse, check the version and kind, check the fields
// these commands rely on, and read schema numbers (non-finite values are the
// strings "NaN", "Infinity", "-Infinity"). Every problem is a UsageError whose
// one-line message names the file and the field.
#ifndef LNBENCH_COMPARE_REPORT_JSON_H_
#define LNBENCH_COMPARE_REPORT_JSON_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace lnbench {

using Json = nlohmann::ordered_json;

// The schema version this code reads and writes (report/report.h writes it
// too). Version 2 reports (LayerNorm forward only) are read as version 3
// layernorm fwd cases; version 1 is refused.
inline constexpr int kReadableReportSchemaVersion = 3;
inline constexpr const char* kReportKind = "lnbench-report";
inline constexpr const char* kMergedReportKind = "lnbench-merged-report";

// Limits on what a report may be: arrays and objects nested at most this
// deep (reports use about 6 levels), and at most this many bytes.
inline constexpr size_t kMaxJsonDepth = 64;
inline constexpr uint64_t kMaxReportBytes = 1ull << 30;

// A report that passed CheckReport, with the file it came from.
struct LoadedReport {
  std::string path;
  Json json;

  bool merged() const { return json.at("kind") == kMergedReportKind; }
  const Json& cases() const { return json.at("cases"); }
  // Returns context.machine, the label of the machine that wrote the report.
  std::string machine() const;
  // Returns config.timing.mode ("hot" / "cold"), the mode of every timed case
  // of a single run; "" when the report does not say (merged reports).
  std::string timing_mode() const;
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

// Returns `doc` as a report after checking its schema_version and kind, and
// the structure compare and merge read (types of the required fields of the
// context, ceilings and every case). Throws UsageError naming `path` and the
// first offending field.
LoadedReport CheckReport(const std::string& path, Json doc);

// Returns the report in `path`: ParseJsonFile, then CheckReport.
LoadedReport LoadReport(const std::string& path);

// Returns a schema number: a JSON number, or NaN / +-infinity for the strings
// "NaN", "Infinity", "-Infinity"; nullopt for anything else (null included).
std::optional<double> ReadNumber(const Json& value);
// Returns `value` as a schema number: finite values as numbers, non-finite
// ones as their strings (nlohmann would write null).
Json NumberToJson(double value);

// Appends `item` to `text`, after `separator` unless `text` is empty.
void AppendJoined(std::string& text, const std::string& separator, const std::string& item);

// Returns the samples of a case's timing (empty when timing is null).
std::vector<double> TimingSamples(const Json& report_case);

}  // namespace lnbench

#endif  // LNBENCH_COMPARE_REPORT_JSON_H_
