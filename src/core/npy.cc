#include "core/npy.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <limits>
#include <new>
#include <stdexcept>

#include "core/bounded_read.h"
#include "core/cpu_memory.h"
#include "core/errors.h"
#include "core/shapes.h"
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
        Fail(fmt::format("unexpected header key '{}'", EscapeForTerminal(key)));
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

namespace {

// A header longer than this is not a NumPy header (NumPy itself refuses
// headers over 10000 bytes unless told otherwise).
constexpr uint32_t kMaxHeaderBytes = 1u << 20;

// Returns the header of `file` after checking the magic, the version, the
// header dict, the dtype and that the data size is exactly what the shape
// needs. Reads only the header's bytes.
NpyHeader ReadHeader(const RegularFile& file) {
  const std::string& name = file.path();
  auto fail = [&](const std::string& why) -> UsageError {
    return UsageError(fmt::format("'{}': {}", name, why));
  };
  unsigned char prefix[12] = {};
  const uint64_t size = file.size();
  file.ReadAt(0, prefix, static_cast<size_t>(std::min<uint64_t>(size, sizeof(prefix))));
  if (size < kMagicLen || std::memcmp(prefix, kMagic, kMagicLen) != 0)
    throw fail("not an .npy file (no \\x93NUMPY magic)");
  if (size < kMagicLen + 4) throw fail("truncated .npy header");
  const int major = prefix[6];
  uint64_t header_len, header_start;
  if (major == 1) {
    header_len = prefix[8] | (uint64_t{prefix[9]} << 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (size < 12) throw fail("truncated .npy header");
    header_len = ReadLE32(prefix + 8);
    header_start = 12;
  } else {
    throw fail(fmt::format("unsupported .npy format version {}.{}", major, int{prefix[7]}));
  }
  if (header_len > kMaxHeaderBytes)
    throw fail(fmt::format("the .npy header declares {} bytes, more than the {} an .npy header may have",
                           header_len, kMaxHeaderBytes));
  if (size < header_start + header_len)
    throw fail(fmt::format("truncated .npy header (it declares {} bytes, the file has {} after the prefix)",
                           header_len, size - header_start));
  std::string header(static_cast<size_t>(header_len), '\0');
  file.ReadAt(header_start, header.data(), header.size());

  NpyHeader h;
  bool fortran = false;
  HeaderParser(header, name).Parse(&h.descr, &fortran, &h.shape);
  if (fortran)
    throw fail("Fortran-order arrays are not supported (save with np.ascontiguousarray)");
  if (h.descr == "<f4")
    h.item = 4;
  else if (h.descr == "<f8")
    h.item = 8;
  else if (h.descr == "<f2")
    h.item = 2;
  else if (h.descr == ">f4" || h.descr == ">f8" || h.descr == ">f2")
    throw fail(fmt::format(
        "big-endian dtype '{}' is not supported (use little-endian '<f4', '<f8' or '<f2')", EscapeForTerminal(h.descr)));
  else
    throw fail(
        fmt::format("unsupported dtype '{}' (need float32 '<f4', float64 '<f8' or float16 '<f2')", EscapeForTerminal(h.descr)));

  h.data_offset = header_start + header_len;
  const uint64_t data_bytes = size - h.data_offset;
  // The element count, guarded against overflow.
  uint64_t count = 1;
  for (int64_t d : h.shape) {
    if (d != 0 && count > std::numeric_limits<uint64_t>::max() / h.item / static_cast<uint64_t>(d))
      throw fail(fmt::format("shape {} is too large", ShapeText(h.shape)));
    count *= static_cast<uint64_t>(d);
  }
  h.count = count;
  const uint64_t need = count * h.item;
  if (need > data_bytes)
    throw fail(fmt::format("truncated: shape {} of '{}' needs {} data bytes, the file has {}",
                           ShapeText(h.shape), h.descr, need, data_bytes));
  if (need < data_bytes)
    throw fail(fmt::format("size mismatch: shape {} of '{}' needs {} data bytes, the file has {} ({} too many)",
                           ShapeText(h.shape), h.descr, need, data_bytes, data_bytes - need));
  return h;
}

}  // namespace

NpyHeader ReadNpyHeader(const std::string& path) { return ReadHeader(RegularFile(path)); }

NpyArray ReadNpy(const std::string& path) {
  const RegularFile file(path);
  const NpyHeader h = ReadHeader(file);
  NpyArray a;
  a.shape = h.shape;
  a.descr = h.descr;
  // The values are held as doubles: refuse what cannot fit before allocating.
  const MemoryLimit limit = HostMemoryLimit();
  const uint64_t need = h.count * sizeof(double);
  if (h.count > std::numeric_limits<uint64_t>::max() / sizeof(double) || need > limit.bytes)
    throw RuntimeError(fmt::format("'{}': out of memory: shape {} needs {} as float64, {} left under the {}",
                                   path, ShapeText(h.shape), FormatBytes(need), FormatBytes(limit.bytes),
                                   limit.source));
  try {
    a.data.resize(static_cast<size_t>(h.count));
  } catch (const std::bad_alloc&) {
    throw RuntimeError(fmt::format("'{}': out of memory allocating {} for shape {}", path,
                                   FormatBytes(need), ShapeText(h.shape)));
  } catch (const std::length_error&) {
    throw RuntimeError(fmt::format("'{}': out of memory allocating {} for shape {}", path,
                                   FormatBytes(need), ShapeText(h.shape)));
  }
  // The data in chunks: the file is never held whole besides its values.
  constexpr uint64_t kChunkElements = 1 << 17;
  std::vector<unsigned char> chunk(static_cast<size_t>(std::min<uint64_t>(h.count, kChunkElements) * h.item));
  for (uint64_t first = 0; first < h.count; first += kChunkElements) {
    const uint64_t n = std::min<uint64_t>(kChunkElements, h.count - first);
    file.ReadAt(h.data_offset + first * h.item, chunk.data(), static_cast<size_t>(n * h.item));
    double* out = a.data.data() + first;
    for (uint64_t i = 0; i < n; ++i) {
      const unsigned char* p = chunk.data() + i * h.item;
      if (h.item == 4) {
        out[i] = BitsToFloat(ReadLE32(p));
      } else if (h.item == 8) {
        const uint64_t bits = uint64_t{ReadLE32(p)} | uint64_t{ReadLE32(p + 4)} << 32;
        double d;
        std::memcpy(&d, &bits, 8);
        out[i] = d;
      } else {
        out[i] = F16ToFloat(static_cast<uint16_t>(p[0] | p[1] << 8));
      }
    }
  }
  return a;
}

void CheckNpyMatrixShape(const std::string& path, const std::vector<int64_t>& shape) {
  if (shape.size() != 2)
    throw UsageError(fmt::format("'{}': expected a 2-D array (rows, cols), got shape {}", path,
                                 ShapeText(shape)));
  if (shape[0] < 1 || shape[1] < 1)
    throw UsageError(fmt::format("'{}': empty array of shape {}", path, ShapeText(shape)));
}

void CheckNpyVectorShape(const std::string& path, const std::vector<int64_t>& shape, int64_t expected_len) {
  if (shape.size() != 1)
    throw UsageError(fmt::format("'{}': expected a 1-D array, got shape {}", path, ShapeText(shape)));
  if (expected_len >= 0 && shape[0] != expected_len)
    throw UsageError(fmt::format("'{}': length {} does not match the {} columns of the input", path,
                                 shape[0], expected_len));
}

NpyArray ReadNpyMatrix(const std::string& path) {
  NpyArray a = ReadNpy(path);
  CheckNpyMatrixShape(path, a.shape);
  return a;
}

NpyArray ReadNpyVector(const std::string& path, int64_t expected_len) {
  NpyArray a = ReadNpy(path);
  CheckNpyVectorShape(path, a.shape, expected_len);
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
