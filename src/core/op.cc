#include "core/op.h"

namespace lnbench {

std::string_view NormName(Norm norm) {
  switch (norm) {
    case Norm::kLayerNorm: return "layernorm";
    case Norm::kRmsNorm: return "rmsnorm";
  }
  return "?";
}

}  // namespace lnbench
