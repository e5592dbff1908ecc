#include "io/json_text.h"

#include <cstdio>

namespace lnbench {

namespace {

// Returns the length of the valid UTF-8 sequence at text[i], or 0 (RFC 3629:
// no overlong forms, no surrogates, nothing above U+10FFFF).
size_t Utf8SequenceLength(std::string_view text, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char c = byte(i);
  if (c < 0x80) return 1;
  size_t len;
  unsigned char lo = 0x80, hi = 0xBF;  // bounds of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + len > text.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < len; ++k)
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  return len;
}

bool IsValidUtf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const size_t n = Utf8SequenceLength(text, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

// Returns a copy of `j` with every string and key passed through EscapeInvalidUtf8.
nlohmann::ordered_json Escaped(const nlohmann::ordered_json& j) {
  if (j.is_string()) return EscapeInvalidUtf8(j.get_ref<const std::string&>());
  if (j.is_array()) {
    auto out = nlohmann::ordered_json::array();
    for (const auto& v : j) out.push_back(Escaped(v));
    return out;
  }
  if (j.is_object()) {
    auto out = nlohmann::ordered_json::object();
    for (const auto& [key, v] : j.items()) out[EscapeInvalidUtf8(key)] = Escaped(v);
    return out;
  }
  return j;
}

}  // namespace

std::string EscapeInvalidUtf8(std::string_view text) {
  if (IsValidUtf8(text)) return std::string(text);
  std::string out;
  for (size_t i = 0; i < text.size();) {
    const size_t n = Utf8SequenceLength(text, i);
    if (n > 0) {
      out.append(text.substr(i, n));
      i += n;
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", static_cast<unsigned char>(text[i]));
      out += buf;
      ++i;
    }
  }
  return out;
}

std::string DumpJsonText(const nlohmann::ordered_json& j, int indent) {
  try {
    return j.dump(indent) + "\n";
  } catch (const nlohmann::json::type_error&) {
    // Only invalid UTF-8 makes dump throw; the copy is made in that rare case alone.
    return Escaped(j).dump(indent) + "\n";
  }
}

}  // namespace lnbench
