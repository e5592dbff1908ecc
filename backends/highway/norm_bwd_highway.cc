// The Highway LayerNorm and RMSNorm backward kernels, compiled once per SIMD
// target (the shape of Highway's skeleton.cc), and the deterministic merge
// of their dgamma/dbeta partials (plain C++, once).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "backends/highway/norm_bwd_highway.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"

#include "backends/highway/norm_bwd_highway-inl.h"

HWY_BEFORE_NAMESPACE();
namespace lnbench {
namespace HWY_NAMESPACE {

// Returns this target's kernel of `norm` for `dtype`.
HwyBwdRowsFn NormBwdKernel(Norm norm, DType dtype) {
  const bool rms = norm == Norm::kRmsNorm;
  switch (dtype) {
    case DType::kF32:
      return rms ? &bwd::NormBwdRows<float, true> : &bwd::NormBwdRows<float, false>;
    case DType::kBF16:
      return rms ? &bwd::NormBwdRows<hwy::bfloat16_t, true>
                 : &bwd::NormBwdRows<hwy::bfloat16_t, false>;
    case DType::kF16:
      return rms ? &bwd::NormBwdRows<hwy::float16_t, true>
                 : &bwd::NormBwdRows<hwy::float16_t, false>;
  }
  return nullptr;
}

// Whether this target's kernels keep the partials of affine rows of `cols`
// columns in registers (bwd::RegisterRowsFit).
bool RegisterRowsOnTarget(int64_t cols) {
  return bwd::RegisterRowsFit(hn::ScalableTag<float>(), static_cast<size_t>(cols));
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace lnbench
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <algorithm>

#include "backends/highway/highway_targets.h"
#include "core/errors.h"
#include "core/thread_pool.h"

namespace lnbench {

HWY_EXPORT(NormBwdKernel);
HWY_EXPORT(RegisterRowsOnTarget);

bool BwdRegisterRows(int64_t target_bits, int64_t cols) {
  if (target_bits == 0) return HWY_DYNAMIC_DISPATCH(RegisterRowsOnTarget)(cols);
  const int index = HighwayDispatchIndex(target_bits);
  return index >= 0 && HWY_DISPATCH_TABLE(RegisterRowsOnTarget)[index](cols);
}

HwyBwdRowsFn HighwayNormBwdRowsFunction(Norm norm, DType dtype, int64_t target_bits) {
  if (target_bits == 0) return HWY_DYNAMIC_DISPATCH(NormBwdKernel)(norm, dtype);
  const int index = HighwayDispatchIndex(target_bits);
  return index < 0 ? nullptr : HWY_DISPATCH_TABLE(NormBwdKernel)[index](norm, dtype);
}

int64_t BwdRowBlock(int64_t rows) { return std::clamp<int64_t>((rows + 15) / 16, 1, 64); }

namespace {

// The merge step of Run: acc += b, element by element (no FMA to contract).
void AddFloats(float* acc, const float* b, size_t n) {
  for (size_t i = 0; i < n; ++i) acc[i] += b[i];
}

}  // namespace

float* HwyBwdRunner::Share::Take(size_t width) {
  if (free.empty()) {
    storage.push_back(hwy::AllocateAligned<float>(width));
    LNBENCH_CHECK(storage.back() != nullptr, "out of memory for the dgamma/dbeta partials");
    float* p = storage.back().get();
    std::fill(p, p + width, 0.0f);
    return p;
  }
  float* p = free.back();
  free.pop_back();
  return p;
}

void HwyBwdRunner::PushAndMerge(std::vector<Node>& stack, Node node, size_t width, AddFn add,
                                std::vector<float*>* free) {
  stack.push_back(node);
  while (stack.size() >= 2) {
    Node& right = stack[stack.size() - 1];
    Node& left = stack[stack.size() - 2];
    // Siblings: same level, left at an even index, right just after it.
    if (left.level != right.level || left.index % 2 != 0 || left.index + 1 != right.index) break;
    add(left.sums, right.sums, width);
    ++left.level;
    left.index /= 2;
    if (free != nullptr) free->push_back(right.sums);
    stack.pop_back();
  }
}

const float* HwyBwdRunner::MergeShares(std::vector<Share*>& shares, size_t width, AddFn add) {
  std::sort(shares.begin(), shares.end(),
            [](const Share* a, const Share* b) { return a->first_block < b->first_block; });
  std::vector<Node> stack;
  for (Share* s : shares)
    for (const Node& n : s->stack) PushAndMerge(stack, n, width, add, nullptr);
  // The binary decomposition of the block count, largest first: fold it
  // from the smallest node up.
  while (stack.size() >= 2) {
    add(stack[stack.size() - 2].sums, stack.back().sums, width);
    stack.pop_back();
  }
  return stack.empty() ? nullptr : stack[0].sums;
}

HwyBwdRunner::HwyBwdRunner(const HwyBwdArgs& args, HwyBwdRowsFn fn, bool has_dbeta)
    : args_(args),
      fn_(fn),
      has_dbeta_(has_dbeta),
      block_rows_(BwdRowBlock(args.rows)),
      blocks_((args.rows + block_rows_ - 1) / block_rows_) {}

HwyBwdRunner::~HwyBwdRunner() = default;

void HwyBwdRunner::Run(ThreadPool& pool, float* dgamma, float* dbeta, int64_t grain_rows) {
  const bool chunked = grain_rows > 0 && pool.threads() > 1;
  if (args_.gamma == nullptr) {
    // No dgamma/dbeta: rows are independent, any split will do.
    if (chunked) {
      pool.ParallelForChunks(args_.rows, grain_rows,
                             [this](int64_t, int64_t b, int64_t e) { fn_(args_, b, e, nullptr, nullptr); });
    } else {
      pool.ParallelFor(args_.rows, [this](int64_t b, int64_t e) { fn_(args_, b, e, nullptr, nullptr); });
    }
    return;
  }
  const size_t cols = static_cast<size_t>(args_.cols);
  // dbeta's partial starts on the cache line after dgamma's; the gap stays
  // zero (Take), and merging adds zeros to it.
  constexpr size_t kLineFloats = 64 / sizeof(float);
  const size_t dbeta_at = (cols + kLineFloats - 1) / kLineFloats * kLineFloats;
  const size_t width = has_dbeta_ ? dbeta_at + cols : cols;
  // Balanced: chunks of whole blocks covering at least the grain's rows.
  const int64_t grain_blocks = chunked ? (grain_rows + block_rows_ - 1) / block_rows_ : 1;
  const int64_t chunks = chunked ? BalancedChunkCount(blocks_, pool.threads(), grain_blocks) : 0;
  const size_t slots = chunked ? static_cast<size_t>(chunks) : static_cast<size_t>(pool.threads());
  while (shares_.size() < slots) shares_.push_back(std::make_unique<Share>());
  next_share_.store(0);
  const auto share_blocks = [&](Share& s, int64_t b0, int64_t b1) {
    s.first_block = b0;
    for (const Node& n : s.stack) s.free.push_back(n.sums);
    s.stack.clear();
    for (int64_t b = b0; b < b1; ++b) {
      float* sums = s.Take(width);
      const int64_t begin = b * block_rows_;
      const int64_t end = std::min(args_.rows, begin + block_rows_);
      fn_(args_, begin, end, sums, has_dbeta_ ? sums + dbeta_at : nullptr);
      PushAndMerge(s.stack, Node{0, b, sums}, width, AddFloats, &s.free);
    }
  };
  std::vector<Share*> used;
  if (chunked) {
    // Chunk k fills share k; every chunk runs, so shares [0, chunks) are used.
    pool.ParallelForChunks(blocks_, grain_blocks, [&](int64_t k, int64_t b0, int64_t b1) {
      LNBENCH_CHECK(k < chunks, "more chunks than shares");
      share_blocks(*shares_[static_cast<size_t>(k)], b0, b1);
    });
    for (int64_t k = 0; k < chunks; ++k) used.push_back(shares_[static_cast<size_t>(k)].get());
  } else {
    pool.ParallelFor(blocks_, [&](int64_t b0, int64_t b1) {
      const int slot = next_share_.fetch_add(1);
      LNBENCH_CHECK(static_cast<size_t>(slot) < shares_.size(), "more shares than threads");
      share_blocks(*shares_[static_cast<size_t>(slot)], b0, b1);
    });
    for (int i = 0; i < next_share_.load(); ++i) used.push_back(shares_[static_cast<size_t>(i)].get());
  }
  const float* root = MergeShares(used, width, AddFloats);
  if (root == nullptr) {  // no rows: sums over nothing
    std::fill(dgamma, dgamma + cols, 0.0f);
    if (has_dbeta_) std::fill(dbeta, dbeta + cols, 0.0f);
    return;
  }
  std::copy(root, root + cols, dgamma);
  if (has_dbeta_) std::copy(root + dbeta_at, root + width, dbeta);
}

void HwyBwdRunner::MergeForTest(int64_t blocks, size_t width, const std::vector<int64_t>& shares,
                                LeafFn leaf, void* context, AddFn add, float* out) {
  std::vector<std::unique_ptr<Share>> owned;
  std::vector<Share*> used;
  int64_t b = 0;
  for (const int64_t count : shares) {
    owned.push_back(std::make_unique<Share>());
    Share& s = *owned.back();
    s.first_block = b;
    for (const int64_t e = b + count; b < e; ++b) {
      float* sums = s.Take(width);
      leaf(b, sums, context);
      PushAndMerge(s.stack, Node{0, b, sums}, width, add, &s.free);
    }
    used.push_back(&s);
  }
  LNBENCH_CHECK(b == blocks, "shares must sum to the block count");
  const float* root = MergeShares(used, width, add);
  if (root == nullptr) {
    std::fill(out, out + width, 0.0f);
  } else {
    std::copy(root, root + width, out);
  }
}

}  // namespace lnbench
#endif  // HWY_ONCE
