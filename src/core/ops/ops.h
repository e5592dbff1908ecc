// The op files' descriptors: one line per op (src/core/ops/<op>.cc).
#ifndef LNBENCH_CORE_OPS_OPS_H_
#define LNBENCH_CORE_OPS_OPS_H_

#include "core/op.h"

namespace lnbench {

const OpDescriptor& LayerNormForwardOp();
const OpDescriptor& RmsNormForwardOp();
const OpDescriptor& LayerNormBackwardOp();
const OpDescriptor& RmsNormBackwardOp();

// Returns the backward ops' allowed f32 arithmetic error, in units of
// eps_f32 * scale, for a sum over n terms (H for dx, N rows for dgamma and
// dbeta): 6 + ceil(log2 n) + ceil(sqrt(n) / 8) (docs/verification.md, "Backward").
double BackwardEpsUnits(int64_t n);

// Returns the descriptor of an op, nullptr for one not implemented.
inline const OpDescriptor* OpDescriptorFor(Norm norm, Direction dir) {
  if (norm == Norm::kLayerNorm && dir == Direction::kForward) return &LayerNormForwardOp();
  if (norm == Norm::kRmsNorm && dir == Direction::kForward) return &RmsNormForwardOp();
  if (norm == Norm::kLayerNorm && dir == Direction::kBackward) return &LayerNormBackwardOp();
  if (norm == Norm::kRmsNorm && dir == Direction::kBackward) return &RmsNormBackwardOp();
  return nullptr;
}

}  // namespace lnbench

#endif  // LNBENCH_CORE_OPS_OPS_H_
