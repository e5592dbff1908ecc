// The main of every test binary: gtest's, after two malloc settings (one policy:
// keep freed memory for the next case).
//
// A test runs hundreds of cases in one process, each allocating its inputs,
// outputs and float64 reference (up to tens of MiB) and freeing them. glibc
// serves blocks above its mmap threshold (dynamic, 128 KiB to 32 MiB) with
// fresh mappings, and returns freed memory at the top of a heap beyond its
// trim threshold: the next case then page-faults and zeroes the same amount
// again. In HighwayBwdTargetTest.AllNormsDistributionsDtypesShapes that was
// about half of the test's CPU time (kernel page faults and zeroing). Blocks
// up to 32 MiB (glibc's largest threshold) now come from the heap, and freed
// memory stays with the process for the next case. Nothing under test
// depends on this; the sanitizer build's allocator ignores it.
#include <gtest/gtest.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

int main(int argc, char** argv) {
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
