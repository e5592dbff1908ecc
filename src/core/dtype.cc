#include "core/dtype.h"

#include <cstdlib>
#include <limits>

namespace lnbench {

std::string_view DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kF32: return "f32";
    case DType::kBF16: return "bf16";
    case DType::kF16: return "f16";
  }
  return "?";
}

std::optional<DType> ParseDType(std::string_view name) {
  if (name == "f32" || name == "fp32" || name == "float32" || name == "float") return DType::kF32;
  if (name == "bf16" || name == "bfloat16") return DType::kBF16;
  if (name == "f16" || name == "float16" || name == "half" || name == "fp16") return DType::kF16;
  return std::nullopt;
}

float F16ToFloat(uint16_t h) {
  const uint32_t sign = uint32_t{h & 0x8000u} << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu;
  const uint32_t mant = h & 0x3FFu;
  if (exp == 0) {
    // Zero or subnormal: mant * 2^-24, exact in float.
    const float v = static_cast<float>(mant) * 0x1p-24f;
    return sign ? -v : v;
  }
  if (exp == 31) return BitsToFloat(sign | 0x7F800000u | (mant << 13));
  return BitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t FloatToF16(float f) {
  const uint32_t u = FloatBits(f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const uint32_t abs = u & 0x7FFFFFFFu;
  if (abs > 0x7F800000u) return static_cast<uint16_t>(sign | 0x7E00u | ((abs >> 13) & 0x3FFu));
  if (abs >= 0x477FF000u) return static_cast<uint16_t>(sign | 0x7C00u);  // rounds to >= 65520: inf
  if (abs < 0x38800000u) {
    // Result is subnormal in f16 (|f| < 2^-14): round |f| / 2^-24 to an integer, ties to even.
    const float scaled = BitsToFloat(abs) * 0x1p24f;
    float r = std::nearbyint(scaled);  // default rounding mode: to nearest even
    return static_cast<uint16_t>(sign | static_cast<uint16_t>(r));
  }
  // Normal: drop 13 mantissa bits with round to nearest even; carries into the exponent are right.
  uint32_t v = abs - (112u << 23);
  v += 0xFFFu + ((v >> 13) & 1u);
  return static_cast<uint16_t>(sign | (v >> 13));
}

double RoundToDType(double value, DType dtype) {
  const float f = static_cast<float>(value);
  switch (dtype) {
    case DType::kF32: return f;
    case DType::kBF16: return BF16ToFloat(FloatToBF16(f));
    case DType::kF16: return F16ToFloat(FloatToF16(f));
  }
  return value;
}

void StoreFromDouble(DType dtype, void* data, size_t i, double value) {
  const float f = static_cast<float>(value);
  switch (dtype) {
    case DType::kF32: static_cast<float*>(data)[i] = f; break;
    case DType::kBF16: static_cast<uint16_t*>(data)[i] = FloatToBF16(f); break;
    case DType::kF16: static_cast<uint16_t*>(data)[i] = FloatToF16(f); break;
  }
}

namespace {
// Maps a value of `dtype` to an integer that is monotonic in the value, so
// the ulp distance is a difference of keys.
int64_t OrderedKey(DType dtype, double x) {
  int64_t mag;
  const bool neg = std::signbit(x);
  const float f = static_cast<float>(std::fabs(x));
  switch (dtype) {
    case DType::kF32: mag = FloatBits(f); break;
    case DType::kBF16: mag = FloatToBF16(f); break;
    default: mag = FloatToF16(f); break;
  }
  return neg ? -mag : mag;
}
}  // namespace

uint64_t UlpDistance(DType dtype, double a, double b) {
  const int64_t ka = OrderedKey(dtype, a);
  const int64_t kb = OrderedKey(dtype, b);
  return static_cast<uint64_t>(ka > kb ? ka - kb : kb - ka);
}

double UlpOf(DType dtype, double x) {
  const double ax = std::fabs(x);
  int mant_bits, min_exp;
  switch (dtype) {
    case DType::kF32: mant_bits = 23; min_exp = -126; break;
    case DType::kBF16: mant_bits = 7; min_exp = -126; break;
    default: mant_bits = 10; min_exp = -14; break;
  }
  int e = ax > 0 ? std::ilogb(ax) : min_exp;
  if (e < min_exp) e = min_exp;
  return std::ldexp(1.0, e - mant_bits);
}

}  // namespace lnbench
