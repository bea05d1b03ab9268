// What the files of the C API share: the mapping of std::error_code to C codes, the
// category that carries C codes through C++ results, the guard that keeps exceptions on the
// C++ side, and the storage of a coroutine made through the C API.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include <system_error>
#include <utility>

#include "xcoro/coro.hpp"
#include "xcoro/scope.hpp"
#include "xcoro/xcoro.h"

/// On the lambda a C call passes to guarded(): its body is inlined into the call, so that a
/// call which suspends returns through one frame less.
#define XCORO_C_LAMBDA_INLINE __attribute__((always_inline))

namespace xcoro::c_api {

/// The category of C codes carried inside C++ results (a task group child's negative
/// return, for one): the value is the C code itself.
const std::error_category& c_category() noexcept;

/// A C code as an std::error_code, for C++ code that takes one.
inline std::error_code to_error_code(int err) noexcept {
  return std::error_code(err, c_category());
}

/// The C code for an std::error_code: xcoro's errc, timeouts, OS errors and C codes.
int to_c(std::error_code ec) noexcept;

/// Prints one line on stderr: "xcoro: <call>: coroutine '<name>' (id N) ended with a C++
/// exception: <what()>" for a coroutine `c`, "xcoro: <call>: C++ exception: <what()>"
/// for nullptr.
void report_exception(const char* call, const coro* c, std::exception_ptr ep) noexcept;

/// Runs fn() and turns an exception into a C code: std::bad_alloc into XCORO_ENOMEM, any
/// other into XCORO_EEXCEPTION after a line on stderr naming `call`, and forced_unwind (a
/// frame_t that runs C code, such as xcoro_run's, destroyed while the C code waits) into
/// XCORO_ECANCELED.
template <class F>
[[gnu::always_inline]] inline int guarded(const char* call, F&& fn) noexcept {
#if defined(__cpp_exceptions)
  try {
    return fn();
  } catch (const forced_unwind& u) {
    // A C++ owner destroys this coroutine while it waits here: the exception cannot pass
    // into C. The call reports a cancel instead, and cancelling the coroutine makes every
    // blocking call after it do the same at once, so the C code returns.
    cancel(u.frame());
    return XCORO_ECANCELED;
  } catch (const std::bad_alloc&) {
    return XCORO_ENOMEM;
  } catch (...) {
    report_exception(call, nullptr, std::current_exception());
    return XCORO_EEXCEPTION;
  }
#else
  (void)call;
  return fn();
#endif
}

/// Memory for a C handle: from the calling thread's xcoro_set_allocator hooks, or
/// operator new without them; nullptr when out of memory. Each block remembers where it
/// came from, so c_free gives it back there from any thread.
void* c_alloc(std::size_t size) noexcept;
void c_free(void* p, std::size_t size) noexcept;

/// In the body of a C handle's struct: `new` and `delete` of it go through c_alloc and
/// c_free (a failed `new` yields nullptr, which the *_create calls report as XCORO_ENOMEM).
/// Handles aligned beyond 16 bytes do not compile (their aligned `new` is deleted).
#define XCORO_C_ALLOCATED                                                                  \
  static void* operator new(std::size_t n) noexcept { return xcoro::c_api::c_alloc(n); } \
  static void* operator new(std::size_t, std::align_val_t) = delete;                      \
  static void operator delete(void* p, std::size_t n) noexcept { xcoro::c_api::c_free(p, n); }

/// `*out = new H(args...)`: XCORO_EINVAL for a null `out`, XCORO_ENOMEM if it cannot be
/// allocated. The *_create calls of handles that only wrap a C++ object.
template <class H, class... A>
int new_handle(H** out, const char* call, A&&... args) noexcept {
  if (out == nullptr) {
    return XCORO_EINVAL;
  }
  return guarded(call, [&] {
    H* h = new H(std::forward<A>(args)...);
    if (h == nullptr) {
      return XCORO_ENOMEM;
    }
    *out = h;
    return XCORO_OK;
  });
}

/// Deletes `h` unless C calls still wait on it (its `waiting` count): XCORO_EBUSY then.
template <class H>
int delete_unless_waited(H* h) noexcept {
  if (h == nullptr) {
    return XCORO_OK;
  }
  if (h->waiting.busy()) {
    return XCORO_EBUSY;
  }
  delete h;
  return XCORO_OK;
}

/// The storage of a coroutine made by xcoro_create / xcoro_create_gen, below its record
/// in its own stack. The generator slots follow it.
struct c_frame final : detail::frame_storage_base {
  void (*fn)(void*) = nullptr;
  void* arg = nullptr;
  int outcome = 0;         // 0, a code given to xcoro_fail, or XCORO_EEXCEPTION
  bool generator = false;
  bool yielded = false;    // the yield slot holds a value xcoro_next has not taken
  std::size_t yield_size = 0;
  std::size_t inject_size = 0;
  unsigned char* yield_slot() noexcept { return reinterpret_cast<unsigned char*>(this + 1); }
  unsigned char* inject_slot() noexcept { return yield_slot() + yield_size; }
};

/// Makes a coroutine for fn(arg) whose storage is a c_frame (xcoro_create,
/// xcoro_create_gen, xcoro_async, xcoro_spawn): created, not started. A code on failure.
int make_c_coro(xcoro_coro** out, void (*fn)(void*), void* arg, const stack_arg& stack,
                std::size_t yield_size, std::size_t inject_size, bool generator) noexcept;

/// Whether `f` has finished; for a coroutine spawned onto a runtime, whether its finish
/// was published (it may run on another worker until then).
bool finished(coro* f) noexcept;

/// The tag that marks a c_frame (frame_storage_base::tag): a C++ xyield in a C coroutine
/// sees a foreign tag and aborts with its message.
extern const char c_frame_tag[];

/// The C storage of `c`, or nullptr if `c` was not made through the C API.
inline c_frame* c_frame_of(coro* c) noexcept {
  detail::frame_storage_base* b = detail::coro_access::frame(c);
  return b != nullptr && b->tag == c_frame_tag ? static_cast<c_frame*>(b) : nullptr;
}

inline coro* to_coro(xcoro_coro* c) noexcept {
  return reinterpret_cast<coro*>(c);
}
inline const coro* to_coro(const xcoro_coro* c) noexcept {
  return reinterpret_cast<const coro*>(c);
}
inline xcoro_coro* to_c(coro* c) noexcept {
  return reinterpret_cast<xcoro_coro*>(c);
}

/// The C code a blocking call in root returns: C++ aborts there, C reports.
inline bool in_root() noexcept {
  return detail::tls.running_coroutine() == nullptr;
}

/// Whether a call with `timeout_ms` can wait on `ex`: deadlines run on an aio loop, so a
/// timeout other than XCORO_FOREVER needs an executor that a loop drives.
bool timeout_allowed(xcoro::executor* ex, std::int64_t timeout_ms) noexcept;

}  // namespace xcoro::c_api

#if defined(XCORO_C_ASM_ENTRIES)
extern "C" {
/// What xcoro_c_resume_begin and xcoro_c_suspend_begin tell the assembly entries
/// (src/c_api/entry_x86_64_sysv_elf_gas.S), in rax and rdx: the records to switch between,
/// or a null `from` and the call's result in `to`. Bookkeeping is done when they return
/// a switch.
struct xcoro_c_switch {
  xcoro::coro* from;
  std::intptr_t to;
};
xcoro_c_switch xcoro_c_resume_begin(xcoro_coro* c) noexcept;
/// Run once something switched back into the coroutine that called xcoro_resume: its result.
int xcoro_c_resume_end(void) noexcept;
xcoro_c_switch xcoro_c_suspend_begin(void) noexcept;
/// Run once the coroutine that called xcoro_suspend is resumed: its result.
int xcoro_c_suspend_end(void) noexcept;
}
#endif
