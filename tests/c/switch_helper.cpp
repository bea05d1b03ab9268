// C++ switches that tests/c/c_api_test.c mixes with the C API's: xresume of a C coroutine,
// and a C++ coroutine (a frame_t) that C resumes with xcoro_resume.
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
