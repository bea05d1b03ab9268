// The one place where control moves between coroutines: swaps the exception globals,
// tells AddressSanitizer about the stack change, switches stacks, and runs a
// pending suspend block on the side that receives control.
#pragma once

#include "xcoro/detail/coro_record.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define XCORO_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define XCORO_ASAN 1
#endif
#endif

#if defined(__SANITIZE_THREAD__)
#define XCORO_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define XCORO_TSAN 1
#endif
#endif

#if defined(XCORO_ASAN)
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(XCORO_TSAN)
#include <sanitizer/tsan_interface.h>
#endif

#if defined(__x86_64__) && defined(_WIN32)
#include "xcoro/detail/switch_x86_64_ms.hpp"
#elif defined(__x86_64__)
#include "xcoro/detail/switch_x86_64.hpp"
#elif defined(__aarch64__)
#include "xcoro/detail/switch_aarch64.hpp"
#elif defined(__riscv) && __riscv_xlen == 64 && defined(__riscv_float_abi_double)
#include "xcoro/detail/switch_riscv64.hpp"
#else
#error "xcoro: no context switch for this target (x86-64 Linux/Windows, aarch64, riscv64 LP64D)"
#endif

namespace xcoro::detail {

/// Runs (and clears) the suspend block that the coroutine we came from left behind.
XCORO_EXPORT void run_pending_block(thread_state& t) noexcept;

#if defined(XCORO_ASAN)
/// The bounds AddressSanitizer should use for `c`'s stack (root: the thread's stack).
XCORO_EXPORT void asan_stack_bounds(coro* c, const void** bottom, std::size_t* size) noexcept;
#endif

/// Switches from `from` (running) to `to`. Status and bookkeeping are the caller's job.
/// `event` is what the switch means for the coroutine that is not root-side: resume of
/// `to`, or suspend/finish of `from`. Returns when something switches back into `from`.
inline void switch_to(thread_state& t, coro* from, coro* to, trace_event event) noexcept {
  using a = coro_access;
  if (t.trace != nullptr) [[unlikely]] {
    if (event == trace_event::resume) {
      t.trace(event, to, from, t.trace_user);
    } else {
      t.trace(event, from, to, t.trace_user);
    }
  }
  // The exception globals belong to the running coroutine: park them in `from` and bring
  // back `to`'s, but only when either has any (flag_eh marks a parked state).
  eh_state* g = t.eh;
  if (g->caught != nullptr || g->uncaught != 0) [[unlikely]] {
    a::eh(from) = *g;
    *g = eh_state{};
    a::flags(from) |= flag_eh;
  }
  if (a::flags(to) & flag_eh) [[unlikely]] {
    *g = a::eh(to);
    a::flags(to) &= static_cast<std::uint8_t>(~flag_eh);
  }
#if defined(XCORO_ASAN)
  void* fake_stack = nullptr;
  const void* bottom = nullptr;
  std::size_t size = 0;
  asan_stack_bounds(to, &bottom, &size);
  __sanitizer_start_switch_fiber(a::state(from) == status::done ? nullptr : &fake_stack, bottom,
                                 size);
#endif
#if defined(XCORO_TSAN)
  // ThreadSanitizer tracks each coroutine as a fiber: its own shadow stack and clock.
  __tsan_switch_to_fiber(a::sanitizer_fiber(to), 0);
#endif
  arch::switch_context(from, to);
#if defined(XCORO_ASAN)
  __sanitizer_finish_switch_fiber(fake_stack, nullptr, nullptr);
#endif
  if (t.pending_block != nullptr) [[unlikely]] {
    run_pending_block(t);
  }
}

}  // namespace xcoro::detail
