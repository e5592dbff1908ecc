// CPU stand-ins for the CUDA device features layernorm_device.cuh uses, so
// the kernels themselves (index math, 16-byte packing, shuffles, block
// reductions, numerics) run and are verified on a machine without a GPU.
//
// One fiber per CUDA thread, all on the calling thread: a block's
// fibers run round-robin, switching only at barriers, and blocks run one
// after another (so a function-local `static` is the block's shared memory).
// __syncthreads is a barrier over the block's fibers; a shuffle is a store, a
// barrier over the warp, a load, a barrier. A round in which every fiber
// waits and no barrier opens is a deadlock and throws. 16-byte vector types
// are 16-byte aligned as in CUDA, and __ldg of one counts misaligned
// addresses, so a vector load from a misaligned row shows here as it would
// fault on a GPU.
//
// Include this instead of the CUDA headers, then layernorm_device.cuh.
// Thread-block clusters are not emulated (kCluster kernels are GPU-only).
#ifndef LNBENCH_BACKENDS_CUDA_TESTS_CUDA_EMULATION_H_
#define LNBENCH_BACKENDS_CUDA_TESTS_CUDA_EMULATION_H_

#if !(defined(__x86_64__) && defined(__GNUC__))
#include <ucontext.h>
#endif

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/dtype.h"

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static

namespace lnbench {
namespace layernorm_device {

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
};
struct alignas(16) uint4 {
  unsigned x, y, z, w;
};
struct alignas(16) float4 {
  float x, y, z, w;
};
struct alignas(8) float2 {
  float x, y;
};
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float __uint_as_float(unsigned u) { return BitsToFloat(u); }
// A rounded product, never contracted into an fma by the caller (the test is
// built for baseline x86-64, which has no fma instruction to contract into).
inline float __fmul_rn(float a, float b) { return a * b; }
inline unsigned __float_as_uint(float f) { return FloatBits(f); }

// Storage types: the bits, converted with lnbench's round-to-nearest-even
// conversions (the same rounding as CUDA's _rn intrinsics).
struct __nv_bfloat16 {
  uint16_t bits;
};
struct __nv_bfloat162 {
  __nv_bfloat16 x, y;
};
struct __half {
  uint16_t bits;
};
struct __half2 {
  __half x, y;
};
inline float __bfloat162float(__nv_bfloat16 h) { return BF16ToFloat(h.bits); }
inline __nv_bfloat16 __float2bfloat16_rn(float f) { return {FloatToBF16(f)}; }
inline __nv_bfloat162 __floats2bfloat162_rn(float a, float b) {
  return {__float2bfloat16_rn(a), __float2bfloat16_rn(b)};
}
inline float __half2float(__half h) { return F16ToFloat(h.bits); }
inline __half __float2half_rn(float f) { return {FloatToF16(f)}; }
inline __half2 __floats2half2_rn(float a, float b) {
  return {__float2half_rn(a), __float2half_rn(b)};
}
inline float2 __half22float2(__half2 h) { return {__half2float(h.x), __half2float(h.y)}; }

// Counts vector accesses to misaligned addresses (a GPU faults on them).
inline std::atomic<int64_t> emulated_misaligned_loads{0};

template <typename T>
inline T __ldg(const T* p) {
  if (alignof(T) >= 16 && reinterpret_cast<uintptr_t>(p) % 16 != 0) ++emulated_misaligned_loads;
  T out;
  std::memcpy(&out, p, sizeof(T));  // no aligned load instruction: count, do not crash
  return out;
}

// A barrier between fibers of one block.
struct FiberBarrier {
  int expected = 0;
  int arrived = 0;
  uint64_t generation = 0;
};

struct WarpState {
  FiberBarrier barrier{32};
  uint64_t slots[32] = {};
};

#if defined(__x86_64__) && defined(__GNUC__)
// x86-64 fibers switch by hand: callee-saved registers, MXCSR and the x87
// control word pushed on the running fiber's stack, then the stack pointer
// swapped. swapcontext also saves and restores the signal mask, one system
// call per switch: a shuffle is two barriers, so a warp reduction switches
// ten times per lane. With swapcontext, ctest's Release run spent 130 s of
// CPU (half of it system time) in cuda_backward_emulation_test and 100 s in
// cuda_emulation_test, a third of all its test time on CI's two cores; with
// this switch each binary runs in 3 s, with the same output.
struct FiberContext {
  void* sp = nullptr;
};

// Saves the running fiber in *from and resumes `to`.
__attribute__((naked, noinline)) inline void FiberSwitchTo(FiberContext* /*from*/,
                                                           const FiberContext* /*to*/) {
  asm volatile(
      "pushq %rbp\n\t"
      "pushq %rbx\n\t"
      "pushq %r12\n\t"
      "pushq %r13\n\t"
      "pushq %r14\n\t"
      "pushq %r15\n\t"
      "subq $8, %rsp\n\t"
      "stmxcsr (%rsp)\n\t"
      "fnstcw 4(%rsp)\n\t"
      "movq %rsp, (%rdi)\n\t"
      "movq (%rsi), %rsp\n\t"
      "ldmxcsr (%rsp)\n\t"
      "fldcw 4(%rsp)\n\t"
      "addq $8, %rsp\n\t"
      "popq %r15\n\t"
      "popq %r14\n\t"
      "popq %r13\n\t"
      "popq %r12\n\t"
      "popq %rbx\n\t"
      "popq %rbp\n\t"
      "ret\n\t");
}

// A new fiber's first switch returns here with its entry function in r12:
// align the stack as a call expects and call it (it never returns).
__attribute__((naked, noinline)) inline void FiberTrampoline() {
  asm volatile(
      "andq $-16, %rsp\n\t"
      "callq *%r12\n\t"
      "ud2\n\t");
}

// Makes `c` start `entry` on the stack [stack, stack + bytes) at its first switch.
inline void FiberStart(FiberContext* c, char* stack, size_t bytes, void (*entry)()) {
  auto top = reinterpret_cast<uintptr_t>(stack + bytes) & ~uintptr_t{15};
  auto* frame = reinterpret_cast<uint64_t*>(top) - 10;
  uint32_t mxcsr = 0;
  uint16_t fcw = 0;
  asm volatile("stmxcsr %0\n\tfnstcw %1" : "=m"(mxcsr), "=m"(fcw));
  frame[0] = mxcsr | (uint64_t{fcw} << 32);                          // MXCSR, x87 control word
  frame[1] = frame[2] = frame[3] = 0;                                 // r15, r14, r13
  frame[4] = reinterpret_cast<uint64_t>(entry);                       // r12
  frame[5] = frame[6] = 0;                                            // rbx, rbp
  frame[7] = reinterpret_cast<uint64_t>(&FiberTrampoline);           // return address
  c->sp = frame;
}
#else
// Elsewhere: ucontext (one system call per switch, see above).
struct FiberContext {
  ucontext_t context;
};
inline void FiberSwitchTo(FiberContext* from, const FiberContext* to) {
  swapcontext(&from->context, &to->context);
}
inline void FiberStart(FiberContext* c, char* stack, size_t bytes, void (*entry)()) {
  getcontext(&c->context);
  c->context.uc_stack.ss_sp = stack;
  c->context.uc_stack.ss_size = bytes;
  c->context.uc_link = nullptr;  // entry never returns
  makecontext(&c->context, entry, 0);
}
#endif

// The fibers of the block being run, and the coordinates of the running one.
struct FiberScheduler {
  static constexpr size_t kStackBytes = 128 << 10;
  FiberContext main_context;
  std::vector<FiberContext> contexts;
  std::vector<std::unique_ptr<char[]>> stacks;
  std::vector<uint8_t> done;
  int current = -1;
  uint64_t progress = 0;  // barriers opened and fibers finished
  FiberBarrier block_barrier;
  std::vector<WarpState> warps;
  std::function<void()> body;
};
inline FiberScheduler& Scheduler() {
  static FiberScheduler scheduler;
  return scheduler;
}
inline dim3 threadIdx, blockIdx, blockDim, gridDim;

// Returns control to the scheduler until the fiber is resumed.
inline void YieldFiber() {
  FiberScheduler& s = Scheduler();
  FiberSwitchTo(&s.contexts[s.current], &s.main_context);
}

inline void WaitAt(FiberBarrier& b) {
  const uint64_t generation = b.generation;
  if (++b.arrived == b.expected) {
    b.arrived = 0;
    ++b.generation;
    ++Scheduler().progress;
    return;
  }
  while (b.generation == generation) YieldFiber();
}

inline void __syncthreads() { WaitAt(Scheduler().block_barrier); }

// Returns lane `src`'s value of `v`; every lane of the warp must call it.
template <typename T>
inline T EmulatedShuffle(T v, int src) {
  static_assert(sizeof(T) <= 8);
  WarpState& w = Scheduler().warps[threadIdx.x / 32];
  std::memcpy(&w.slots[threadIdx.x & 31], &v, sizeof(T));
  WaitAt(w.barrier);
  T out;
  std::memcpy(&out, &w.slots[src & 31], sizeof(T));
  WaitAt(w.barrier);
  return out;
}
template <typename T>
inline T __shfl_xor_sync(unsigned /*mask*/, T v, int lane_mask) {
  return EmulatedShuffle(v, static_cast<int>(threadIdx.x & 31) ^ lane_mask);
}
template <typename T>
inline T __shfl_sync(unsigned /*mask*/, T v, int src) {
  return EmulatedShuffle(v, src);
}

// A fiber's whole life: the kernel body, then back to the scheduler, which
// never resumes a finished fiber.
inline void FiberEntry() {
  FiberScheduler& s = Scheduler();
  s.body();
  s.done[s.current] = 1;
  ++s.progress;
  FiberSwitchTo(&s.contexts[s.current], &s.main_context);
  std::abort();  // unreachable
}

// Runs kernel(args...) over `grid` blocks of `block` threads (block a
// multiple of 32, as every lnbench launch is). Throws on a deadlock.
template <typename Kernel, typename... Args>
void EmulateLaunch(int64_t grid, int block, Kernel kernel, Args... args) {
  if (block <= 0 || block % 32 != 0 || block > 1024)
    throw std::invalid_argument("emulated block size must be a multiple of 32 up to 1024");
  FiberScheduler& s = Scheduler();
  s.contexts.resize(block);
  s.done.assign(block, 0);
  while (s.stacks.size() < static_cast<size_t>(block))
    s.stacks.emplace_back(new char[FiberScheduler::kStackBytes]);
  s.body = [&] { kernel(args...); };
  gridDim = {static_cast<unsigned>(grid), 1, 1};
  blockDim = {static_cast<unsigned>(block), 1, 1};
  for (int64_t b = 0; b < grid; ++b) {
    blockIdx = {static_cast<unsigned>(b), 1, 1};
    s.block_barrier = FiberBarrier{block};
    s.warps.assign(block / 32, WarpState{});
    for (int t = 0; t < block; ++t) {
      s.done[t] = 0;
      FiberStart(&s.contexts[t], s.stacks[t].get(), FiberScheduler::kStackBytes, FiberEntry);
    }
    for (int live = block; live > 0;) {
      const uint64_t before = s.progress;
      live = 0;
      for (int t = 0; t < block; ++t) {
        if (s.done[t]) continue;
        s.current = t;
        threadIdx = {static_cast<unsigned>(t), 1, 1};
        FiberSwitchTo(&s.main_context, &s.contexts[t]);
        live += !s.done[t];
      }
      if (live > 0 && s.progress == before)
        throw std::runtime_error("emulated kernel deadlocked in block " + std::to_string(b));
    }
  }
  s.current = -1;
}

// Calls fn.template operator()<T, kVec>() with T the dtype's device storage
// type and kVec = vectorized: the kernels' template arguments for a plan.
template <typename Fn>
void ForStorage(DType dtype, bool vectorized, Fn&& fn) {
  auto with = [&]<typename T>() {
    vectorized ? fn.template operator()<T, true>() : fn.template operator()<T, false>();
  };
  switch (dtype) {
    case DType::kF32:
      with.template operator()<float>();
      break;
    case DType::kBF16:
      with.template operator()<__nv_bfloat16>();
      break;
    case DType::kF16:
      with.template operator()<__half>();
      break;
  }
}

// Returns log2 of a power of two (a warp-per-row plan's lanes per row).
inline int Log2(int power_of_two) {
  int log2 = 0;
  while ((1 << log2) < power_of_two) ++log2;
  return log2;
}

}  // namespace layernorm_device
}  // namespace lnbench

#endif  // LNBENCH_BACKENDS_CUDA_TESTS_CUDA_EMULATION_H_
