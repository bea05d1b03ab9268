// How cancel() reaches a coroutine that runs on another thread: the multi-core runtime
// installs a function that posts the request to that thread's worker, which cancels the
// coroutine there if it is still running (docs/runtime.md, "Cancellation across workers").
#pragma once

#include <cstdint>

#include "xcoro/coro.hpp"

namespace xcoro::detail {

/// Set by the runtime (src/runtime.cpp); nullptr until one is created. `worker` is the
/// owner's thread_state::worker, `id` the coroutine's id, checked again on the worker.
extern void (*post_cancel)(void* worker, coro* c, std::uint64_t id) noexcept;

}  // namespace xcoro::detail
