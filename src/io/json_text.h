// JSON text for output files. nlohmann refuses to dump a string that is not
// valid UTF-8 (a file name in another encoding, passed in argv): such bytes
// are written as the text \xNN instead, so a report is never lost over a name.
#ifndef LNBENCH_IO_JSON_TEXT_H_
#define LNBENCH_IO_JSON_TEXT_H_

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace lnbench {

// Returns `text` with every byte that is not part of a valid UTF-8 sequence
// written as "\xNN" (valid text is returned unchanged).
std::string EscapeInvalidUtf8(std::string_view text);

// Returns j.dump(indent) + "\n", escaping invalid UTF-8 in strings and keys.
std::string DumpJsonText(const nlohmann::ordered_json& j, int indent = 2);

}  // namespace lnbench

#endif  // LNBENCH_IO_JSON_TEXT_H_
