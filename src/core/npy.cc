#include "core/npy.h"

#include <fmt/format.h>

#include <cctype>
#include <cstring>
#include <limits>

#include "core/errors.h"
#include "io/file_io.h"

namespace lnbench {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;

// A parser for the header: a Python dict literal such as
// {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
class HeaderParser {
 public:
  HeaderParser(const std::string& text, const std::string& name) : s_(text), name_(name) {}

  // Parses the dict into descr, fortran_order and shape; unknown keys are errors.
  void Parse(std::string* descr, bool* fortran, std::vector<int64_t>* shape) {
    bool have_descr = false, have_fortran = false, have_shape = false;
    Expect('{');
    for (;;) {
      SkipSpace();
      if (Peek() == '}') {
        ++pos_;
        break;
      }
      const std::string key = ParseString();
      Expect(':');
      if (key == "descr") {
        *descr = ParseString();
        have_descr = true;
      } else if (key == "fortran_order") {
        *fortran = ParseBool();
        have_fortran = true;
      } else if (key == "shape") {
        *shape = ParseShape();
        have_shape = true;
      } else {
        Fail(fmt::format("unexpected header key '{}'", key));
      }
      SkipSpace();
      if (Peek() == ',') {
        ++pos_;
      } else if (Peek() != '}') {
        Fail("malformed header (expected ',' or '}')");
      }
    }
    if (!have_descr || !have_fortran || !have_shape)
      Fail("header lacks one of 'descr', 'fortran_order', 'shape'");
  }

 private:
  [[noreturn]] void Fail(const std::string& why) const {
    throw UsageError(fmt::format("'{}': not a valid .npy file: {}", name_, why));
  }
  void SkipSpace() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  char Peek() {
    SkipSpace();
    return pos_ < s_.size() ? s_[pos_] : '\0';
  }
  void Expect(char c) {
    if (Peek() != c) Fail(fmt::format("malformed header (expected '{}')", c));
    ++pos_;
  }
  std::string ParseString() {
    const char q = Peek();
    if (q != '\'' && q != '"') Fail("malformed header (expected a string)");
    const size_t end = s_.find(q, pos_ + 1);
    if (end == std::string::npos) Fail("malformed header (unterminated string)");
    std::string out = s_.substr(pos_ + 1, end - pos_ - 1);
    pos_ = end + 1;
    return out;
  }
  bool ParseBool() {
    SkipSpace();
    if (s_.compare(pos_, 4, "True") == 0) {
      pos_ += 4;
      return true;
    }
    if (s_.compare(pos_, 5, "False") == 0) {
      pos_ += 5;
      return false;
    }
    Fail("malformed header (fortran_order is not True or False)");
  }
  std::vector<int64_t> ParseShape() {
    Expect('(');
    std::vector<int64_t> shape;
    for (;;) {
      if (Peek() == ')') {
        ++pos_;
        return shape;
      }
      if (!std::isdigit(static_cast<unsigned char>(Peek()))) Fail("malformed shape");
      int64_t v = 0;
      while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) {
        if (v > (std::numeric_limits<int64_t>::max() - 9) / 10) Fail("shape too large");
        v = v * 10 + (s_[pos_] - '0');
        ++pos_;
      }
      shape.push_back(v);
      if (Peek() == ',')
        ++pos_;
      else if (Peek() != ')')
        Fail("malformed shape");
    }
  }

  const std::string& s_;
  const std::string& name_;
  size_t pos_ = 0;
};

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string out = "(";
  for (size_t i = 0; i < shape.size(); ++i) out += fmt::format("{}{}", i ? ", " : "", shape[i]);
  if (shape.size() == 1) out += ",";
  return out + ")";
}

uint32_t ReadLE32(const unsigned char* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

}  // namespace

int64_t NpyArray::size() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

NpyArray ParseNpy(const std::string& bytes, const std::string& name) {
  auto fail = [&](const std::string& why) -> UsageError {
    return UsageError(fmt::format("'{}': {}", name, why));
  };
  if (bytes.size() < kMagicLen + 4 || std::memcmp(bytes.data(), kMagic, kMagicLen) != 0)
    throw fail("not an .npy file (no \\x93NUMPY magic)");
  const auto* u = reinterpret_cast<const unsigned char*>(bytes.data());
  const int major = u[6];
  size_t header_len, header_start;
  if (major == 1) {
    header_len = u[8] | (size_t{u[9]} << 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) throw fail("truncated .npy header");
    header_len = ReadLE32(u + 8);
    header_start = 12;
  } else {
    throw fail(fmt::format("unsupported .npy format version {}.{}", major, int{u[7]}));
  }
  if (bytes.size() < header_start + header_len) throw fail("truncated .npy header");
  const std::string header = bytes.substr(header_start, header_len);

  NpyArray a;
  bool fortran = false;
  HeaderParser(header, name).Parse(&a.descr, &fortran, &a.shape);
  if (fortran)
    throw fail("Fortran-order arrays are not supported (save with np.ascontiguousarray)");
  size_t item;
  if (a.descr == "<f4")
    item = 4;
  else if (a.descr == "<f8")
    item = 8;
  else if (a.descr == "<f2")
    item = 2;
  else if (a.descr == ">f4" || a.descr == ">f8" || a.descr == ">f2")
    throw fail(fmt::format(
        "big-endian dtype '{}' is not supported (use little-endian '<f4' or '<f8')", a.descr));
  else
    throw fail(
        fmt::format("unsupported dtype '{}' (need float32 '<f4' or float64 '<f8')", a.descr));

  // The element count, guarded against overflow by the file size.
  const size_t data_start = header_start + header_len;
  const size_t data_bytes = bytes.size() - data_start;
  uint64_t count = 1;
  for (int64_t d : a.shape) {
    if (d != 0 && count > std::numeric_limits<uint64_t>::max() / item / static_cast<uint64_t>(d))
      throw fail(fmt::format("shape {} is too large", ShapeText(a.shape)));
    count *= static_cast<uint64_t>(d);
  }
  if (count * item > data_bytes)
    throw fail(fmt::format("truncated: shape {} of '{}' needs {} data bytes, the file has {}",
                           ShapeText(a.shape), a.descr, count * item, data_bytes));
  if (count * item < data_bytes)
    throw fail(fmt::format("size mismatch: shape {} of '{}' needs {} data bytes, the file has {}",
                           ShapeText(a.shape), a.descr, count * item, data_bytes));

  a.data.resize(count);
  const unsigned char* src = u + data_start;
  for (uint64_t i = 0; i < count; ++i) {
    const unsigned char* p = src + i * item;
    if (item == 4) {
      a.data[i] = BitsToFloat(ReadLE32(p));
    } else if (item == 8) {
      const uint64_t bits = uint64_t{ReadLE32(p)} | uint64_t{ReadLE32(p + 4)} << 32;
      double d;
      std::memcpy(&d, &bits, 8);
      a.data[i] = d;
    } else {
      a.data[i] = F16ToFloat(static_cast<uint16_t>(p[0] | p[1] << 8));
    }
  }
  return a;
}

NpyArray ReadNpy(const std::string& path) { return ParseNpy(ReadFile(path), path); }

NpyArray ReadNpyMatrix(const std::string& path) {
  NpyArray a = ReadNpy(path);
  if (a.shape.size() != 2)
    throw UsageError(fmt::format("'{}': expected a 2-D array (rows, cols), got shape {}", path,
                                 ShapeText(a.shape)));
  if (a.shape[0] < 1 || a.shape[1] < 1)
    throw UsageError(fmt::format("'{}': empty array of shape {}", path, ShapeText(a.shape)));
  return a;
}

NpyArray ReadNpyVector(const std::string& path, int64_t expected_len) {
  NpyArray a = ReadNpy(path);
  if (a.shape.size() != 1)
    throw UsageError(
        fmt::format("'{}': expected a 1-D array, got shape {}", path, ShapeText(a.shape)));
  if (expected_len >= 0 && a.shape[0] != expected_len)
    throw UsageError(fmt::format("'{}': length {} does not match the {} columns of the input", path,
                                 a.shape[0], expected_len));
  return a;
}

NpyElement NpyElementOf(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return NpyElement::kF32;
    case DType::kBF16:
      return NpyElement::kBF16;
    case DType::kF16:
      return NpyElement::kF16;
  }
  return NpyElement::kF32;
}

std::string EncodeNpy(const std::vector<int64_t>& shape, NpyElement type, const void* data) {
  const char* descr = "<f4";
  size_t item = 4;
  switch (type) {
    case NpyElement::kF64:
      descr = "<f8";
      item = 8;
      break;
    case NpyElement::kF32:
    case NpyElement::kBF16:
      descr = "<f4";
      item = 4;
      break;
    case NpyElement::kF16:
      descr = "<f2";
      item = 2;
      break;
  }
  uint64_t count = 1;
  for (int64_t d : shape) count *= static_cast<uint64_t>(d);
  std::string header = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}",
                                   descr, ShapeText(shape));
  // Pad with spaces and a newline so the data starts on a 64-byte boundary.
  const size_t unpadded = kMagicLen + 4 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header.push_back('\n');
  if (header.size() > 0xFFFF) throw RuntimeError("npy header too long");

  std::string out;
  out.reserve(kMagicLen + 4 + header.size() + count * item);
  out.append(kMagic, kMagicLen);
  out.push_back('\x01');
  out.push_back('\x00');
  out.push_back(static_cast<char>(header.size() & 0xFF));
  out.push_back(static_cast<char>(header.size() >> 8));
  out += header;
  const size_t at = out.size();
  out.resize(at + count * item);
  char* dst = out.data() + at;
  // The host is little-endian (x86-64, aarch64), like the format.
  if (type == NpyElement::kBF16) {
    const auto* src = static_cast<const uint16_t*>(data);
    for (uint64_t i = 0; i < count; ++i) {
      const float f = BF16ToFloat(src[i]);
      std::memcpy(dst + i * 4, &f, 4);
    }
  } else if (count > 0) {
    std::memcpy(dst, data, count * item);
  }
  return out;
}

void WriteNpy(const std::string& path, const std::vector<int64_t>& shape, NpyElement type,
              const void* data) {
  WriteFileAtomically(path, EncodeNpy(shape, type, data));
}

}  // namespace lnbench
