// The JSON report (schema: results/schema/report.schema.json, version 3).
#ifndef LNBENCH_REPORT_REPORT_H_
#define LNBENCH_REPORT_REPORT_H_

#include <string>

#include "core/context.h"
#include "core/runner.h"
#include "report/report_model.h"

namespace lnbench {

// Returns a case's id ("layernorm/fwd/scalar/default/4096x768/f32/normal/eps=1e-05/.../threads=1/hot")
// with `mode` as its last part ("hot", "cold", or "verify" for an untimed case).
std::string CaseIdWithMode(const CaseResult& result, const std::string& mode);

// Returns the tool block of this lnbench build: name, version, git sha, build
// type, compiler and flags (a run's report adds the CUDA compiler and architectures).
ReportTool ThisTool();

// Returns the whole report of a run, as the report model.
Report BuildReport(const RunConfig& config, const RunResult& result, const RunContext& context);

// Returns the report as pretty-printed JSON text; strings that are not valid
// UTF-8 (file names in argv) are escaped, not refused.
std::string ReportText(const Report& report);

}  // namespace lnbench

#endif  // LNBENCH_REPORT_REPORT_H_
