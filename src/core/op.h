// The operation a problem asks for. A minimal shim of the op-generic design
// (OPS_DESIGN.md, issue 12): the core's op descriptor replaces it at merge;
// the names here are the design's.
#ifndef LNBENCH_CORE_OP_H_
#define LNBENCH_CORE_OP_H_

#include <cstdint>
#include <string_view>

namespace lnbench {

enum class Norm : uint8_t {
  kLayerNorm,  // y = (x - mean) * rstd * gamma + beta
  kRmsNorm,    // y = x * rrms * gamma, rrms = 1/sqrt(mean(x^2) + eps) (the "rstd" tensor)
};

// Returns the CLI name: "layernorm", "rmsnorm".
std::string_view NormName(Norm norm);

}  // namespace lnbench

#endif  // LNBENCH_CORE_OP_H_
