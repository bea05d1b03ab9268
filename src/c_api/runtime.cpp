// The C API's runtime (Linux): worker threads with their own loops, block_on from outside
// them, and the index of the worker running the caller.
#include "c_api/c_api.hpp"
#include "xcoro/runtime.hpp"

using namespace xcoro;
using namespace xcoro::c_api;

struct xcoro_runtime {
  XCORO_C_ALLOCATED
  runtime rt;
};

extern "C" {

int xcoro_runtime_create(xcoro_runtime** out, unsigned threads, int work_stealing) noexcept {
  if (out == nullptr) {
    return XCORO_EINVAL;
  }
  return guarded("xcoro_runtime_create", [&] {
    result<runtime> r = runtime::create({.threads = threads, .work_stealing = work_stealing != 0});
    if (!r) {
      return to_c(r.error());
    }
    xcoro_runtime* h = new xcoro_runtime{std::move(*r)};
    if (h == nullptr) {
      return XCORO_ENOMEM;  // ~runtime stops the workers again
    }
    *out = h;
    return XCORO_OK;
  });
}

void xcoro_runtime_destroy(xcoro_runtime* rt) noexcept {
  delete rt;  // ~runtime cancels what still runs, waits for it and joins the workers
}

unsigned xcoro_runtime_threads(const xcoro_runtime* rt) noexcept {
  return rt != nullptr ? rt->rt.threads() : 0;
}

int xcoro_runtime_block_on(xcoro_runtime* rt, int (*fn)(void*), void* arg) noexcept {
  if (rt == nullptr || fn == nullptr) {
    return XCORO_EINVAL;
  }
  if (this_worker() >= 0) {
    return XCORO_ETHREAD;  // C++ aborts: a worker would wait for itself
  }
  return guarded("xcoro_runtime_block_on", [&] {
    result<int> r = rt->rt.block_on([fn, arg] { return fn(arg); });
    return r ? *r : to_c(r.error());
  });
}

int xcoro_spawn(xcoro_coro** out, void (*fn)(void*), void* arg, size_t stack_size) noexcept {
  if (out == nullptr || fn == nullptr) {
    return XCORO_EINVAL;
  }
  if (this_worker() < 0) {
    return XCORO_ENORUNTIME;  // C++'s spawn aborts here
  }
  xcoro_coro* c = nullptr;
  int r = make_c_coro(&c, fn, arg, stack_size != 0 ? stack_size : detail::spawn_stack_size(), 0,
                      0, false);
  if (r != XCORO_OK) {
    return r;
  }
  detail::spawn_start(to_coro(c));
  *out = c;
  return XCORO_OK;
}

int xcoro_this_worker(void) noexcept {
  return this_worker();
}

}  // extern "C"
