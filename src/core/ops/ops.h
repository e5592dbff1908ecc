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

// f32's smallest normal, 2^-126, the error scale's floor for f32 steps whose
// results are subnormal. Such a step is off by up to half of f32's subnormal
// spacing, 2^-150, whatever the size of its operands: an absolute error that
// a scale relative to them misses (the model with gradual underflow,
// fl(a op b) = (a op b)(1 + d) + e with |e| <= 2^-150). Added to an element's
// scale (times what multiplies that step's result afterwards: rstd in dx), it
// allows units x 2^-24 x 2^-126 = units x 2^-150, and every op's units are at
// least 6 (SumEpsUnits). Invisible above about 2^-100. Without it the scalar
// and highway backwards failed on dy of 1e-40 to 1e-45 (f32 dx a subnormal
// step or two off: "2.2e4x the compute allowance"); a forward that scales
// gamma by rstd before multiplying (a subnormal product, then times |n| up to
// sqrt(H)) needs it too (docs/verification.md, "Underflow").
inline constexpr double kF32MinNormal = 0x1p-126;

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
