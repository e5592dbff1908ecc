#include "compare/report_json.h"

#include <utility>

#include <fmt/format.h>

#include "core/bounded_read.h"
#include "core/cpu_memory.h"
#include "core/errors.h"
#include "core/shapes.h"

namespace lnbench {

namespace {

// Builds the document like nlohmann's own DOM parser, and also keeps the path
// of the value being read (for messages) and the nesting depth: a document
// nested deeper than kMaxJsonDepth is refused before it can exhaust the stack
// of anything that walks it (the parser itself does not recurse).
class BoundedDomParser : public nlohmann::detail::json_sax_dom_parser<Json> {
 public:
  using Base = nlohmann::detail::json_sax_dom_parser<Json>;
  // `memory`: the bytes the document may take (it is refused beyond them).
  BoundedDomParser(Json& root, const std::string& path, MemoryLimit memory)
      : Base(root, true), path_(path), memory_(std::move(memory)) {}

  bool null() { return Value() && Base::null(); }
  bool boolean(bool v) { return Value() && Base::boolean(v); }
  bool number_integer(Json::number_integer_t v) { return Value() && Base::number_integer(v); }
  bool number_unsigned(Json::number_unsigned_t v) { return Value() && Base::number_unsigned(v); }
  bool number_float(Json::number_float_t v, const std::string& s) { return Value() && Base::number_float(v, s); }
  bool string(std::string& v) { return Value() && Base::string(v); }
  bool binary(Json::binary_t& v) { return Value() && Base::binary(v); }
  bool start_object(std::size_t n) { return Open(false) && Base::start_object(n); }
  bool start_array(std::size_t n) { return Open(true) && Base::start_array(n); }
  bool end_object() { return Close() && Base::end_object(); }
  bool end_array() { return Close() && Base::end_array(); }
  bool key(std::string& k) {
    // ordered_json finds a key by a linear search: an object of a million
    // keys would take hours to build. A report's objects have a few dozen.
    if (++frames_.back().count > kMaxObjectKeys) {
      frames_.back().key.clear();  // name the object, not its last key
      throw UsageError(fmt::format("'{}': {} has more than {} keys (the objects of an lnbench report have a "
                                   "few dozen)",
                                   path_, Where(), kMaxObjectKeys));
    }
    frames_.back().key = k;
    return Base::key(k);
  }
  static constexpr size_t kMaxObjectKeys = 10000;

  template <class Exception>
  bool parse_error(std::size_t byte, const std::string& last_token, const Exception& ex) {
    // nlohmann reports a number too large for a double (1e309) as
    // out_of_range 406; name the field it was meant for.
    if (ex.id == 406) {
      if (!frames_.empty() && frames_.back().array) frames_.back().index = frames_.back().count;
      throw UsageError(fmt::format("'{}': {}: number {} is out of range (larger than a double holds)",
                                   path_, Where(), EscapeForTerminal(last_token)));
    }
    return Base::parse_error(byte, last_token, ex);
  }

 private:
  struct Frame {
    bool array = false;
    size_t count = 0;  // arrays: values seen so far; objects: keys
    size_t index = 0;  // arrays: index of the value being read
    std::string key;   // objects: key of the value being read
  };

  // Called at the start of every value: advances the index of the enclosing
  // array, and refuses a document that would not fit in memory before it is
  // built (a parsed document takes many times its text: 80 MB of "0," took
  // 2 GB, and running out of memory there ends in std::terminate, because
  // nlohmann's destructor allocates while the exception unwinds).
  bool Value() {
    if (!frames_.empty() && frames_.back().array) frames_.back().index = frames_.back().count++;
    if (++values_ * kBytesPerValue > memory_.bytes)
      throw UsageError(fmt::format("'{}': too large to read: its {} values and more would take over {} "
                                   "(left under the {})",
                                   path_, values_, FormatBytes(memory_.bytes), memory_.source));
    return true;
  }
  // A value's share of the document: 16 bytes of nlohmann::json, its slot
  // in a growing array or an object's tree node and key, a string's heap.
  static constexpr uint64_t kBytesPerValue = 64;
  bool Open(bool array) {
    Value();
    if (frames_.size() >= kMaxJsonDepth)
      throw UsageError(fmt::format("'{}': nested too deeply (more than {} levels of arrays and objects)",
                                   path_, kMaxJsonDepth));
    frames_.push_back(Frame{array, 0, 0, {}});
    return true;
  }
  bool Close() {
    frames_.pop_back();
    return true;
  }
  // Returns the path of the value being read ("cases[3].timing.samples_s[0]").
  std::string Where() const {
    std::string out;
    for (const Frame& f : frames_) {
      if (f.array) out += fmt::format("[{}]", f.index);
      else if (!f.key.empty()) {
        if (!out.empty()) out += '.';
        out += EscapeForTerminal(f.key);
      }
    }
    return out.empty() ? "document" : out;
  }

  std::string path_;
  MemoryLimit memory_;
  uint64_t values_ = 0;
  std::vector<Frame> frames_;
};

}  // namespace

Json ParseJsonText(const std::string& path, const std::string& text) {
  if (text.find_first_not_of(" \t\r\n") == std::string::npos)
    throw UsageError("'" + path + "': empty file, expected an lnbench JSON report");
  if (text.size() >= 2 && static_cast<unsigned char>(text[0]) == 0x1f && static_cast<unsigned char>(text[1]) == 0x8b)
    throw UsageError("'" + path + "': a gzip file: decompress it first (gzip -dk)");
  // nlohmann's lexer takes a NUL byte for the end of the input: what follows
  // one would be ignored, and one inside a document called truncation.
  if (const size_t nul = text.find('\0'); nul != std::string::npos)
    throw UsageError(fmt::format("'{}': not valid JSON: a NUL byte at offset {}", path, nul));
  Json doc;
  try {
    BoundedDomParser sax(doc, path, HostMemoryLimit());
    Json::sax_parse(text, &sax);
  } catch (const Json::parse_error& e) {
    // nlohmann's text starts "[json.exception.parse_error.101] parse error at ...".
    std::string what = e.what();
    if (const auto pos = what.find("] "); pos != std::string::npos) what = what.substr(pos + 2);
    // ... and may end with "; last read: '<up to a whole line of the file>'".
    if (const auto pos = what.find("; last read:"); pos != std::string::npos) what.resize(pos);
    const bool truncated =
        e.byte >= text.size() || what.find("unexpected end of input") != std::string::npos;
    throw UsageError(fmt::format("'{}': {}: {}", path,
                                 truncated ? "truncated or incomplete JSON" : "not valid JSON",
                                 EscapeForTerminal(what)));
  } catch (const Json::exception& e) {
    // Any other library error (none is expected): still a bad file, exit 2.
    throw UsageError(fmt::format("'{}': not valid JSON: {}", path, EscapeForTerminal(e.what())));
  }
  if (!doc.is_object())
    throw UsageError(fmt::format("'{}': not an lnbench report (the document is {}, expected an object)",
                                 path, JsonTypeName(doc)));
  return doc;
}

Json ParseJsonFile(const std::string& path) {
  return ParseJsonText(path, ReadWholeRegularFile(path, kMaxReportBytes, "a report"));
}

std::optional<int64_t> SchemaVersionOf(const Json& doc) {
  const auto it = doc.find("schema_version");
  if (it == doc.end() || !it->is_number_integer()) return std::nullopt;
  return it->get<int64_t>();
}

LoadedReport CheckReport(const std::string& path, Json doc) {
  return LoadedReport{path, ReportFromJson(std::move(doc), path)};
}

LoadedReport LoadReport(const std::string& path) { return CheckReport(path, ParseJsonFile(path)); }

void AppendJoined(std::string& text, const std::string& separator, const std::string& item) {
  if (!text.empty()) text += separator;
  text += item;
}

}  // namespace lnbench
