// The intrusive FIFO behind every wait on a channel, a sync primitive or a coroutine's
// completion: entries that live on waiting coroutines' stacks, linked into queues. Kept
// apart from the waiter (wait_queue.hpp), which needs the executor, so that the coroutine
// record, which holds the queue of its awaiters, does not depend on the executor.
#pragma once

#include <cstddef>

#include "xcoro/export.hpp"

namespace xcoro::detail {

struct waiter;
struct wait_queue;

/// One place a waiter waits: a link in one wait_queue. Lives on the waiting coroutine's
/// stack and unlinks itself when destroyed.
struct XCORO_EXPORT wait_entry {
  explicit wait_entry(waiter& w, int idx = 0) noexcept : owner(&w), index(idx) {}
  wait_entry(const wait_entry&) = delete;
  wait_entry& operator=(const wait_entry&) = delete;
  ~wait_entry();

  waiter* owner;
  int index;                    // which case of a select, or 0
  void* slot = nullptr;         // rendezvous: the value offered or the place to put one
  wait_queue* queue = nullptr;  // the queue it is linked in, or nullptr
  wait_queue* home = nullptr;   // the queue it was last pushed to
  wait_entry* prev = nullptr;
  wait_entry* next = nullptr;
  bool pending = false;         // signalled through `home`, not yet back from the wait
};

/// An intrusive FIFO of wait entries.
struct XCORO_EXPORT wait_queue {
  wait_entry* head = nullptr;
  wait_entry* tail = nullptr;
  std::size_t pending = 0;  // entries signalled from here whose waiters have not returned

  bool empty() const noexcept { return head == nullptr; }
  /// True if nothing waits here and no signalled waiter is still on its way back.
  bool idle() const noexcept { return head == nullptr && pending == 0; }
  void push_back(wait_entry& e) noexcept;
  void remove(wait_entry& e) noexcept;
  /// The first entry whose owner this call claimed (detail::claim). Entries of owners
  /// claimed already (a select that fired through another queue, a withdrawn wait) are
  /// unlinked on the way. The caller hands over what the owner waits for, then calls
  /// wake_claimed; for a shared object, all under the object's lock.
  wait_entry* claim_first() noexcept;
};

}  // namespace xcoro::detail
