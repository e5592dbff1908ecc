// The op files' descriptors: one line per op (src/core/ops/<op>.cc).
#ifndef LNBENCH_CORE_OPS_OPS_H_
#define LNBENCH_CORE_OPS_OPS_H_

#include "core/op.h"

namespace lnbench {

const OpDescriptor& LayerNormForwardOp();
const OpDescriptor& RmsNormForwardOp();
const OpDescriptor& LayerNormBackwardOp();
const OpDescriptor& RmsNormBackwardOp();

// Returns the allowed f32 arithmetic error, in units of eps_f32 * scale, of
// an output built on a sum over n terms: 6 + ceil(log2 n) + ceil(sqrt(n) / 8)
// (docs/verification.md). Every op uses it: the forward ops over H (the row
// sums), the backward ops over H for dx and over N rows for dgamma/dbeta.
double SumEpsUnits(int64_t n);

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
