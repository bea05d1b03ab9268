// C++ switches that tests/c/c_api_test.c mixes with the C API's: xresume of a C coroutine,
// and a C++ coroutine (a frame_t) that C resumes with xcoro_resume; and a layout check.
#include "xcoro/coro.hpp"
#include "xcoro/xcoro.h"

namespace {

auto make_counter(long* n) {
  return xcoro::frame_t<void>::init(nullptr, [n] {
    for (;;) {
      ++*n;
      xcoro::xsuspend();
    }
  });
}
using counter = decltype(make_counter(nullptr));

}  // namespace

/// Where a record's flags byte is: the assembly xcoro_suspend reads it at a fixed offset
/// (XCORO_CORO_FLAGS in src/c_api/entry_x86_64_sysv_elf_gas.S).
extern "C" long xcoro_test_flags_offset(xcoro_coro* c) {
  auto* r = reinterpret_cast<xcoro::coro*>(c);
  return reinterpret_cast<const char*>(&xcoro::detail::coro_access::flags(r)) -
         reinterpret_cast<const char*>(r);
}

extern "C" void xcoro_test_cxx_resume(xcoro_coro* c) {
  xcoro::xresume(reinterpret_cast<xcoro::coro*>(c));
}

/// A C++ coroutine that adds 1 to *n per resume and suspends in xsuspend; its handle in
/// *handle. Freed (unwound) by xcoro_test_cxx_counter_destroy.
extern "C" void* xcoro_test_cxx_counter_create(long* n, xcoro_coro** handle) {
  auto* h = new counter(make_counter(n));
  *handle = reinterpret_cast<xcoro_coro*>(static_cast<xcoro::coro*>((*h)->frame()));
  return h;
}

extern "C" void xcoro_test_cxx_counter_destroy(void* h) {
  delete static_cast<counter*>(h);
}

/// A C++ coroutine suspended in xcoro_suspend whose frame_t goes: xcoro_suspend's result
/// once its owner resumed it to unwind (XCORO_ECANCELED), or 1 if it never returned.
extern "C" int xcoro_test_suspend_then_unwound(void) {
  int r = 1;
  {
    auto f = xcoro::xasync([&r] { r = xcoro_suspend(); });
    if (!f || r != 1) {
      return 2;
    }
  }
  return r;
}

/// Runs body(arg) in a C++ coroutine (a frame_t) until it first waits, then between(ctx),
/// then destroys the frame_t, which unwinds the coroutine (forced_unwind) if it still waits.
extern "C" void xcoro_test_run_then_unwind(void (*body)(void*), void* arg,
                                           void (*between)(void*), void* ctx) {
  auto f = xcoro::xasync([&] { body(arg); });
  between(ctx);
}
