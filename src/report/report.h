// The JSON report (schema: results/schema/report.schema.json, version 3).
#ifndef LNBENCH_REPORT_REPORT_H_
#define LNBENCH_REPORT_REPORT_H_

#include <nlohmann/json.hpp>
#include <string>

#include "core/context.h"
#include "core/runner.h"

namespace lnbench {

inline constexpr int kReportSchemaVersion = 3;

// Returns a number, or "NaN" / "Infinity" / "-Infinity" for non-finite values
// (nlohmann would write them as null, which reads back as "no data").
nlohmann::ordered_json JsonNumber(double value);

// Returns the whole report of a run.
nlohmann::ordered_json BuildReport(const RunConfig& config, const RunResult& result,
                                   const RunContext& context);

// Returns the report as pretty-printed JSON text; strings that are not valid
// UTF-8 (file names in argv) are escaped, not refused.
std::string ReportText(const nlohmann::ordered_json& report);

// Writes the report by the output rules of io/file_io.h (atomically, "-" = stdout).
void WriteReport(const std::string& path, const nlohmann::ordered_json& report);

}  // namespace lnbench

#endif  // LNBENCH_REPORT_REPORT_H_
