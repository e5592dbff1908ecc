// gtest names for the parameter tuples of the kernel matrix tests (norm,
// dtype, distribution), e.g. "bf16_offset1e4" or "rmsnorm_f16_exact", and the
// dtypes those matrices cover.
#ifndef LNBENCH_TESTS_SUPPORT_PARAM_NAME_H_
#define LNBENCH_TESTS_SUPPORT_PARAM_NAME_H_

#include <string>
#include <string_view>
#include <tuple>

#include <gtest/gtest.h>

#include "core/dtype.h"
#include "core/op.h"
#include "core/problem.h"

namespace lnbench::test_support {

inline std::string_view ParamPart(Norm n) { return NormName(n); }
inline std::string_view ParamPart(DType t) { return DTypeName(t); }
inline std::string_view ParamPart(Distribution d) { return DistributionName(d); }

// The parts' names joined by '_'; pass as INSTANTIATE_TEST_SUITE_P's last argument.
struct ParamName {
  template <class Tuple>
  std::string operator()(const ::testing::TestParamInfo<Tuple>& info) const {
    std::string name;
    std::apply([&](const auto&... part) {
      ((name += (name.empty() ? "" : "_"), name += ParamPart(part)), ...);
    }, info.param);
    return name;
  }
};

// Every storage dtype a kernel matrix covers.
inline auto AllDTypeValues() { return ::testing::Values(DType::kF32, DType::kBF16, DType::kF16); }

}  // namespace lnbench::test_support

#endif  // LNBENCH_TESTS_SUPPORT_PARAM_NAME_H_
