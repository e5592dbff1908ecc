// Element types of lnbench problems and host-side conversions between them.
//
// Arithmetic in every backend is float32; bf16 and f16 are storage types for
// the input x and the output y. gamma, beta, mean and rstd are always float32.
#ifndef LNBENCH_CORE_DTYPE_H_
#define LNBENCH_CORE_DTYPE_H_

#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace lnbench {

enum class DType { kF32, kBF16, kF16 };

// Returns the canonical name: "f32", "bf16" or "f16".
std::string_view DTypeName(DType dtype);
// Returns the dtype for a name ("f32", "float32", "bf16", "bfloat16", "f16", "float16", "half").
std::optional<DType> ParseDType(std::string_view name);
// Returns the storage size of one element in bytes.
inline size_t DTypeSize(DType dtype) { return dtype == DType::kF32 ? 4 : 2; }
// Returns the machine epsilon (the distance from 1 to the next representable value).
inline double DTypeEpsilon(DType dtype) {
  switch (dtype) {
    case DType::kF32: return 0x1p-23;
    case DType::kBF16: return 0x1p-7;
    case DType::kF16: return 0x1p-10;
  }
  return 0;
}

// Bit patterns written into outputs before every checked run. They are NaNs
// with payloads that no arithmetic produces (arithmetic NaNs are the canonical
// quiet NaN), so an element still holding one was never written.
inline constexpr uint32_t kPoisonF32Bits = 0x7FA5A5A5u;
inline constexpr uint16_t kPoisonBF16Bits = 0x7FA5u;
inline constexpr uint16_t kPoisonF16Bits = 0x7DA5u;
// Returns the poison pattern of `dtype` widened to 32 bits.
inline uint32_t PoisonBits(DType dtype) {
  switch (dtype) {
    case DType::kF32: return kPoisonF32Bits;
    case DType::kBF16: return kPoisonBF16Bits;
    case DType::kF16: return kPoisonF16Bits;
  }
  return 0;
}

inline uint32_t FloatBits(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }
inline float BitsToFloat(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }

// bf16 <-> f32. Rounding is to nearest, ties to even; NaN stays NaN (quiet).
inline float BF16ToFloat(uint16_t h) { return BitsToFloat(uint32_t{h} << 16); }
inline uint16_t FloatToBF16(float f) {
  uint32_t u = FloatBits(f);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((u >> 16) | 0x40);
  u += 0x7FFFu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

// IEEE binary16 <-> f32. Rounding is to nearest, ties to even, with subnormals
// and overflow to infinity.
float F16ToFloat(uint16_t h);
uint16_t FloatToF16(float f);

// Rounds a double to the nearest value of `dtype` (through float for the
// 16-bit types: double -> f32 -> 16-bit can double-round, but only for values
// within 2^-24 relative of a 16-bit tie, which the verifier's one-ulp slack covers).
double RoundToDType(double value, DType dtype);

// Reads element i of a buffer of `dtype` as double.
inline double LoadAsDouble(DType dtype, const void* data, size_t i) {
  switch (dtype) {
    case DType::kF32: return static_cast<const float*>(data)[i];
    case DType::kBF16: return BF16ToFloat(static_cast<const uint16_t*>(data)[i]);
    case DType::kF16: return F16ToFloat(static_cast<const uint16_t*>(data)[i]);
  }
  return 0;
}
// Stores `value` rounded to `dtype` at element i.
void StoreFromDouble(DType dtype, void* data, size_t i, double value);
// Returns the raw bits of element i (16-bit types zero-extended).
inline uint32_t LoadBits(DType dtype, const void* data, size_t i) {
  if (dtype == DType::kF32) return static_cast<const uint32_t*>(data)[i];
  return static_cast<const uint16_t*>(data)[i];
}

// Returns the number of representable `dtype` values between a and b (both
// finite values of `dtype`); 0 when equal, +0 and -0 count as equal.
uint64_t UlpDistance(DType dtype, double a, double b);
// Returns the spacing of `dtype` values at |x| (the ulp of x, subnormals included).
double UlpOf(DType dtype, double x);

}  // namespace lnbench

#endif  // LNBENCH_CORE_DTYPE_H_
