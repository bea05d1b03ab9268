// How cancel() reaches a coroutine that runs on another thread: the multi-core runtime
// installs a function that posts the request to that thread's worker, which cancels the
// coroutine there if it is still running (docs/runtime.md, "Cancellation across workers").
// The same for freeing a record that another thread's list holds.
#pragma once

#include <cstdint>

#include "xcoro/coro.hpp"

namespace xcoro::detail {

/// Set by the runtime (src/runtime.cpp); nullptr until one is created. `worker` is the
/// owner's thread_state::worker, `id` the coroutine's id, checked again on the worker.
extern void (*post_cancel)(void* worker, coro* c, std::uint64_t id) noexcept;

/// Set by the runtime too: frees `c`, made on `worker` and still on that thread's list of
/// records, on that worker (coro_free there), for a frame_t destroyed on another thread.
extern void (*post_free)(void* worker, coro* c) noexcept;

/// Set by the runtime too: tells every worker of the calling worker's runtime to cancel the
/// coroutines that `spawner` (whose id is `id`) spawned and that have not finished, started
/// or not. Called where a cancel reaches a coroutine that spawned some.
extern void (*post_cancel_spawned)(coro* spawner, std::uint64_t id) noexcept;

}  // namespace xcoro::detail
