// The op files' descriptors: one line per op (src/core/ops/<op>.cc).
#ifndef LNBENCH_CORE_OPS_OPS_H_
#define LNBENCH_CORE_OPS_OPS_H_

#include "core/op.h"

namespace lnbench {

const OpDescriptor& LayerNormForwardOp();
const OpDescriptor& RmsNormForwardOp();

// Returns the descriptor of an op, nullptr for one not implemented.
inline const OpDescriptor* OpDescriptorFor(Norm norm, Direction dir) {
  if (norm == Norm::kLayerNorm && dir == Direction::kForward) return &LayerNormForwardOp();
  if (norm == Norm::kRmsNorm && dir == Direction::kForward) return &RmsNormForwardOp();
  return nullptr;
}

}  // namespace lnbench

#endif  // LNBENCH_CORE_OPS_OPS_H_
