// The default thread count per problem: tiny problems on one core, large ones
// on every core, never more threads than rows.
#include "core/default_threads.h"

#include <gtest/gtest.h>

namespace lnbench {
namespace {

Problem Shape(int64_t rows, int64_t cols, DType dtype) {
  Problem p;
  p.rows = rows;
  p.cols = cols;
  p.dtype = dtype;
  return p;
}

TEST(DefaultThreadsTest, TinyProblemsRunOnOneCore) {
  EXPECT_EQ(DefaultThreads(Shape(8, 768, DType::kBF16), 2), 1);  // 30 KiB of traffic
  EXPECT_EQ(DefaultThreads(Shape(1, 4096, DType::kF32), 64), 1);
  EXPECT_EQ(DefaultThreads(Shape(0, 768, DType::kF32), 8), 1);  // the empty problem
}

TEST(DefaultThreadsTest, OneThreadPerHalfMebibyteUpToTheHardware) {
  // 4096x768 f32: 24 MiB of traffic.
  EXPECT_EQ(DefaultThreads(Shape(4096, 768, DType::kF32), 2), 2);
  EXPECT_EQ(DefaultThreads(Shape(4096, 768, DType::kF32), 256), 48);
  // 128x1024 f32: 1 MiB + gamma/beta: two threads' worth.
  EXPECT_EQ(DefaultThreads(Shape(128, 1024, DType::kF32), 16), 2);
  // Never more threads than rows.
  EXPECT_EQ(DefaultThreads(Shape(3, 1 << 20, DType::kF32), 64), 3);
}

}  // namespace
}  // namespace lnbench
