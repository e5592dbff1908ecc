// The poison check every peer's tests share: outputs downloaded before any
// Run() must all read as unwritten (so the peer's Poison() reaches each one),
// and after one Run() the case passes.
#ifndef LNBENCH_TESTS_SUPPORT_POISON_CHECK_H_
#define LNBENCH_TESTS_SUPPORT_POISON_CHECK_H_

#include <memory>

#include <gtest/gtest.h>

#include "backends/backend.h"
#include "core/op.h"
#include "tests/support/host_case.h"

namespace lnbench::test_support {

inline void ExpectPoisonThenRunWritesAll(Backend& backend, const Problem& p,
                                         const CaseOptions& options) {
  HostCase c(p);
  std::unique_ptr<PreparedCase> prepared = backend.Prepare(p, c.inputs, options);
  prepared->Poison();
  c.Reset();
  prepared->Download(c.outputs);  // no Run(): every output still holds poison
  const Accuracy a = c.Check();
  EXPECT_FALSE(a.passed) << p.ShortName();
  for (const TensorSpec& t : OpFor(p).TensorsOf(p, TensorRole::kOutput)) {
    ASSERT_TRUE(a[t.id].has_value()) << TensorName(t.id);
    EXPECT_EQ(a[t.id]->unwritten, static_cast<uint64_t>(TensorElements(p, t.extent)))
        << TensorName(t.id) << " of " << p.ShortName();
  }
  prepared->Run();
  prepared->Download(c.outputs);
  const Accuracy b = c.Check();
  EXPECT_TRUE(b.passed) << p.ShortName() << ": " << b.reason << " | " << Numbers(b);
}

}  // namespace lnbench::test_support

#endif  // LNBENCH_TESTS_SUPPORT_POISON_CHECK_H_
