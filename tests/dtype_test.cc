// Tests of the dtype conversions: bf16 and f16 rounding (ties to even,
// subnormals, overflow, NaN/Inf), exhaustive round trips, ulp arithmetic and
// the poison patterns.
#include "core/dtype.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>

namespace lnbench {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

TEST(DTypeTest, NamesParseAndSizes) {
  for (DType d : {DType::kF32, DType::kBF16, DType::kF16}) {
    EXPECT_EQ(ParseDType(DTypeName(d)), d);
  }
  EXPECT_EQ(ParseDType("bfloat16"), DType::kBF16);
  EXPECT_EQ(ParseDType("half"), DType::kF16);
  EXPECT_EQ(ParseDType("float32"), DType::kF32);
  EXPECT_FALSE(ParseDType("f64").has_value());
  EXPECT_EQ(DTypeSize(DType::kF32), 4u);
  EXPECT_EQ(DTypeSize(DType::kBF16), 2u);
  EXPECT_EQ(DTypeEpsilon(DType::kBF16), 0x1p-7);
  EXPECT_EQ(DTypeEpsilon(DType::kF16), 0x1p-10);
}

TEST(DTypeTest, BF16RoundsToNearestTiesToEven) {
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even (1).
  EXPECT_EQ(FloatToBF16(1.0f + 0x1p-8f), 0x3F80);
  // 1 + 3*2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even).
  EXPECT_EQ(FloatToBF16(1.0f + 3 * 0x1p-8f), 0x3F82);
  // Just above the tie rounds up.
  EXPECT_EQ(FloatToBF16(1.0f + 0x1p-8f + 0x1p-23f), 0x3F81);
  EXPECT_EQ(FloatToBF16(-1.0f - 0x1p-8f), 0xBF80);
  EXPECT_EQ(FloatToBF16(0.0f), 0x0000);
  EXPECT_EQ(FloatToBF16(-0.0f), 0x8000);
  // Subnormal floats keep their bits (bf16 has f32's exponent range).
  EXPECT_EQ(FloatToBF16(0x1p-133f), 0x0001);
  EXPECT_EQ(BF16ToFloat(0x0001), 0x1p-133f);
  // Rounding carries into the exponent; the largest float rounds to infinity.
  EXPECT_EQ(FloatToBF16(BitsToFloat(0x3FFFFFFFu)), 0x4000);
  EXPECT_EQ(FloatToBF16(std::numeric_limits<float>::max()), 0x7F80);
  EXPECT_EQ(FloatToBF16(kInf), 0x7F80);
  EXPECT_EQ(FloatToBF16(-kInf), 0xFF80);
}

TEST(DTypeTest, BF16KeepsNaNsQuiet) {
  // A signalling NaN whose payload lives only in the low bits must not
  // truncate to infinity.
  const uint16_t b = FloatToBF16(BitsToFloat(0x7F800001u));
  EXPECT_TRUE(std::isnan(BF16ToFloat(b)));
  EXPECT_TRUE(b & 0x0040);
  EXPECT_TRUE(std::isnan(BF16ToFloat(FloatToBF16(std::numeric_limits<float>::quiet_NaN()))));
  // 0x7FFFFFFF would overflow the rounding add without the NaN branch.
  EXPECT_TRUE(std::isnan(BF16ToFloat(FloatToBF16(BitsToFloat(0x7FFFFFFFu)))));
}

TEST(DTypeTest, BF16ExhaustiveRoundTrip) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = BF16ToFloat(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      ASSERT_TRUE(std::isnan(BF16ToFloat(FloatToBF16(f))));
    } else {
      ASSERT_EQ(FloatToBF16(f), h) << std::hex << h;
    }
  }
}

TEST(DTypeTest, F16RoundsToNearestTiesToEven) {
  EXPECT_EQ(FloatToF16(1.0f), 0x3C00);
  EXPECT_EQ(FloatToF16(1.0f + 0x1p-11f), 0x3C00);      // tie -> even
  EXPECT_EQ(FloatToF16(1.0f + 3 * 0x1p-11f), 0x3C02);  // tie -> even (up)
  EXPECT_EQ(FloatToF16(1.0f + 0x1p-11f + 0x1p-20f), 0x3C01);
  EXPECT_EQ(FloatToF16(-2.0f), 0xC000);
  EXPECT_EQ(FloatToF16(-0.0f), 0x8000);
  // Largest finite: 65504. 65519.99 rounds down; 65520 is the tie with 65536
  // (odd mantissa 0x3FF) and rounds to infinity.
  EXPECT_EQ(FloatToF16(65504.0f), 0x7BFF);
  EXPECT_EQ(FloatToF16(65519.996f), 0x7BFF);
  EXPECT_EQ(FloatToF16(65520.0f), 0x7C00);
  EXPECT_EQ(FloatToF16(1e6f), 0x7C00);
  EXPECT_EQ(FloatToF16(-1e6f), 0xFC00);
  EXPECT_EQ(FloatToF16(kInf), 0x7C00);
}

TEST(DTypeTest, F16Subnormals) {
  EXPECT_EQ(FloatToF16(0x1p-24f), 0x0001);  // smallest subnormal
  EXPECT_EQ(FloatToF16(0x1p-25f), 0x0000);  // tie with 0 -> even (0)
  EXPECT_EQ(FloatToF16(0x1p-25f * 1.0001f), 0x0001);
  EXPECT_EQ(FloatToF16(3 * 0x1p-25f), 0x0002);  // tie between 1 and 2 -> 2
  EXPECT_EQ(FloatToF16(-0x1p-24f), 0x8001);
  EXPECT_EQ(FloatToF16(0x1p-14f - 0x1p-24f), 0x03FF);  // largest subnormal
  EXPECT_EQ(FloatToF16(0x1p-14f - 0x1p-26f), 0x0400);  // rounds up into the normals
  EXPECT_EQ(FloatToF16(0x1p-14f), 0x0400);             // smallest normal
  EXPECT_EQ(F16ToFloat(0x0001), 0x1p-24f);
  EXPECT_EQ(F16ToFloat(0x03FF), 0x1p-14f - 0x1p-24f);
  EXPECT_EQ(F16ToFloat(0x8000), -0.0f);
  EXPECT_TRUE(std::signbit(F16ToFloat(0x8000)));
}

TEST(DTypeTest, F16NaNAndInf) {
  EXPECT_EQ(F16ToFloat(0x7C00), kInf);
  EXPECT_EQ(F16ToFloat(0xFC00), -kInf);
  EXPECT_TRUE(std::isnan(F16ToFloat(0x7E00)));
  EXPECT_TRUE(std::isnan(F16ToFloat(0x7C01)));
  const uint16_t h = FloatToF16(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(h & 0x7C00, 0x7C00);
  EXPECT_NE(h & 0x03FF, 0);
  // A NaN whose payload is only in the low float bits stays a NaN.
  EXPECT_TRUE(std::isnan(F16ToFloat(FloatToF16(BitsToFloat(0x7F800001u)))));
}

TEST(DTypeTest, F16ExhaustiveRoundTrip) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = F16ToFloat(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      ASSERT_TRUE(std::isnan(F16ToFloat(FloatToF16(f))));
    } else {
      ASSERT_EQ(FloatToF16(f), h) << std::hex << h;
    }
  }
}

// The nearest f16 of f by brute force over the neighbours of a candidate:
// the distance is computed in double (exact for these values).
TEST(DTypeTest, F16RoundingMatchesBruteForceOnRandomFloats) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> exponent(-27.0f, 16.5f);
  for (int i = 0; i < 200000; ++i) {
    float f = std::exp2(exponent(rng));
    if (rng() & 1) f = -f;
    const uint16_t h = FloatToF16(f);
    const double got = F16ToFloat(h);
    if (std::isinf(got)) {
      ASSERT_GE(std::fabs(f), 65520.0f);  // at or beyond the tie above 65504
      continue;
    }
    const double err = std::fabs(got - f);
    for (int delta : {-1, 1}) {
      const uint16_t n = static_cast<uint16_t>(h + delta);
      if ((n & 0x7FFF) >= 0x7C00 || ((h ^ n) & 0x8000)) continue;  // inf/nan or sign change
      const double other = std::fabs(static_cast<double>(F16ToFloat(n)) - f);
      ASSERT_LE(err, other) << f;
      if (err == other) {
        ASSERT_EQ(h & 1, 0) << "tie not to even at " << f;
      }
    }
  }
}

TEST(DTypeTest, RoundToDTypeAndStores) {
  EXPECT_EQ(RoundToDType(1.0 + 0x1p-30, DType::kF32), 1.0);
  EXPECT_EQ(RoundToDType(1.0 + 0x1p-7 * 0.75, DType::kBF16), 1.0 + 0x1p-7);
  EXPECT_EQ(RoundToDType(1e5, DType::kF16), std::numeric_limits<double>::infinity());
  EXPECT_EQ(RoundToDType(1e-8, DType::kF16), 0.0);
  // The documented double rounding: a value just above an f16 tie but within
  // 2^-24 of it rounds to the tie in f32 first, then to even in f16.
  const double just_above_tie = 1.0 + 0x1p-11 + 0x1p-40;
  EXPECT_EQ(RoundToDType(just_above_tie, DType::kF16), 1.0);  // correctly rounded: 1 + 2^-10
  uint16_t buf[2];
  StoreFromDouble(DType::kBF16, buf, 1, 3.0);
  EXPECT_EQ(buf[1], 0x4040);
  EXPECT_EQ(LoadAsDouble(DType::kBF16, buf, 1), 3.0);
  EXPECT_EQ(LoadBits(DType::kBF16, buf, 1), 0x4040u);
  StoreFromDouble(DType::kF16, buf, 0, -0.5);
  EXPECT_EQ(buf[0], 0xB800);
  float f32[1];
  StoreFromDouble(DType::kF32, f32, 0, 0.1);
  EXPECT_EQ(f32[0], 0.1f);
  EXPECT_EQ(LoadBits(DType::kF32, f32, 0), FloatBits(0.1f));
}

TEST(DTypeTest, UlpDistance) {
  EXPECT_EQ(UlpDistance(DType::kF32, 1.0, 1.0), 0u);
  EXPECT_EQ(UlpDistance(DType::kF32, 1.0, 1.0 + 0x1p-23), 1u);
  EXPECT_EQ(UlpDistance(DType::kF32, 1.0, 1.0 - 0x1p-24), 1u);  // across a binade
  EXPECT_EQ(UlpDistance(DType::kF32, 0.0, -0.0), 0u);
  EXPECT_EQ(UlpDistance(DType::kF32, 0x1p-149, -0x1p-149), 2u);
  EXPECT_EQ(UlpDistance(DType::kF32, -1.0, 1.0), 2u * 0x3F800000u);
  EXPECT_EQ(UlpDistance(DType::kBF16, 1.0, 1.0 + 0x1p-7), 1u);
  EXPECT_EQ(UlpDistance(DType::kBF16, 1.0, 2.0), 128u);
  EXPECT_EQ(UlpDistance(DType::kF16, 1.0, 1.0 + 0x1p-10), 1u);
  EXPECT_EQ(UlpDistance(DType::kF16, 0x1p-24, 0x1p-23), 1u);  // subnormals
  EXPECT_EQ(UlpDistance(DType::kF16, 65504, 32768), 1023u);   // 0x7BFF - 0x7800
  EXPECT_EQ(UlpDistance(DType::kF16, 0.5, 0.25), 1024u);
}

TEST(DTypeTest, UlpOf) {
  EXPECT_EQ(UlpOf(DType::kF32, 1.0), 0x1p-23);
  EXPECT_EQ(UlpOf(DType::kF32, 1.5), 0x1p-23);
  EXPECT_EQ(UlpOf(DType::kF32, -3.0), 0x1p-22);
  EXPECT_EQ(UlpOf(DType::kF32, 0.0), 0x1p-149);
  EXPECT_EQ(UlpOf(DType::kF32, 0x1p-140), 0x1p-149);
  EXPECT_EQ(UlpOf(DType::kBF16, 1.0), 0x1p-7);
  EXPECT_EQ(UlpOf(DType::kBF16, 1e4), 64.0);
  EXPECT_EQ(UlpOf(DType::kBF16, 0.0), 0x1p-133);
  EXPECT_EQ(UlpOf(DType::kF16, 1.0), 0x1p-10);
  EXPECT_EQ(UlpOf(DType::kF16, 60000.0), 32.0);
  EXPECT_EQ(UlpOf(DType::kF16, 0x1p-20), 0x1p-24);
  EXPECT_EQ(UlpOf(DType::kF16, 0.0), 0x1p-24);
}

TEST(DTypeTest, PoisonPatternsAreNaNsThatArithmeticDoesNotMake) {
  EXPECT_TRUE(std::isnan(BitsToFloat(kPoisonF32Bits)));
  EXPECT_TRUE(std::isnan(BF16ToFloat(kPoisonBF16Bits)));
  EXPECT_TRUE(std::isnan(F16ToFloat(kPoisonF16Bits)));
  volatile float zero = 0.0f;
  const float arith_nan = zero / zero;
  EXPECT_NE(FloatBits(arith_nan), kPoisonF32Bits);
  EXPECT_NE(FloatBits(std::numeric_limits<float>::quiet_NaN()), kPoisonF32Bits);
  EXPECT_NE(FloatToBF16(arith_nan), kPoisonBF16Bits);
  EXPECT_NE(FloatToF16(arith_nan), kPoisonF16Bits);
  EXPECT_NE(FloatToBF16(std::numeric_limits<float>::quiet_NaN()), kPoisonBF16Bits);
  EXPECT_NE(FloatToF16(std::numeric_limits<float>::quiet_NaN()), kPoisonF16Bits);
  EXPECT_EQ(PoisonBits(DType::kF32), kPoisonF32Bits);
  EXPECT_EQ(PoisonBits(DType::kBF16), kPoisonBF16Bits);
  EXPECT_EQ(PoisonBits(DType::kF16), kPoisonF16Bits);
}

}  // namespace
}  // namespace lnbench
