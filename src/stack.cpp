// The stack allocators: heap stacks, and the default pooled, guard-paged stacks.
//
// The default allocator carves stacks out of large slabs, with a guard page below each
// stack. The system calls behind slabs and guards are in src/stack_memory_*.cpp (on Linux
// only pages a coroutine touches are committed; on Windows whole stacks are); this file is
// the pool: size classes, a per-thread cache, and which freed stacks give their pages back.
#include <algorithm>
#include <mutex>
#include <new>
#include <vector>

#include "stack_memory.hpp"
#include "stack_pool.hpp"
#include "xcoro/stack.hpp"

namespace xcoro {
namespace {

std::size_t round_up(std::size_t v, std::size_t to) noexcept {
  return (v + to - 1) / to * to;
}

class heap_allocator final : public stack_allocator {
 public:
  result<stack_span> allocate(std::size_t size) override {
    if (size == 0) {
      return errc::stack_too_small;
    }
    size = round_up(size, stack_alignment);
    void* p = ::operator new(size, std::align_val_t(64), std::nothrow);
    if (p == nullptr) {
      return std::make_error_code(std::errc::not_enough_memory);
    }
    return stack_span(static_cast<std::byte*>(p), size);
  }
  void deallocate(stack_span s) noexcept override {
    ::operator delete(s.data(), std::align_val_t(64));
  }
};

class pooled_allocator final : public stack_allocator {
 public:
  pooled_allocator() noexcept : page_(detail::stack_memory::page_size()) {}

  result<stack_span> allocate(std::size_t size) override {
    if (size == 0) {
      return errc::stack_too_small;
    }
    if (size > (std::size_t{1} << 40)) {
      return std::make_error_code(std::errc::not_enough_memory);
    }
    std::size_t usable = round_up(size, page_);
    cache& tc = thread_cache;
    if (tc.usable == usable && tc.count > 0) {
      return stack_span(tc.items[--tc.count], usable);
    }
    std::lock_guard<std::mutex> lock(mu_);
    size_class& sc = find(usable);
    std::vector<std::byte*>& from = !sc.cooling.empty() ? sc.cooling : sc.free;
    if (from.empty()) {
      std::error_code ec = grow(sc);
      if (ec) {
        return ec;
      }
    }
    std::byte* lo = from.back();
    from.pop_back();
    return stack_span(lo, usable);
  }

  void deallocate(stack_span s) noexcept override {
    cache& tc = thread_cache;
    if (tc.count == 0) {
      tc.usable = s.size();
    }
    if (tc.usable == s.size() && tc.count < cache::capacity && !tc.dead) {
      if (!tc.armed) {
        // First use on this thread: have the cache flushed at thread exit.
        tc.armed = true;
        thread_flusher.arm();
      }
      tc.items[tc.count++] = s.data();
      return;
    }
    give_back(s.data(), s.size());
  }

  void give_back(std::byte* lo, std::size_t usable) noexcept {
    std::lock_guard<std::mutex> lock(mu_);
    size_class& sc = find(usable);
    if (sc.free.size() < hot_stacks) {
      sc.free.push_back(lo);
      return;
    }
    // Pooled stacks beyond the hot set give their pages back to the system, a batch at a
    // time, so that neighbours in a slab (freed in creation order, as a burst of
    // coroutines finishing usually is) go back in one call.
    sc.cooling.push_back(lo);
    if (sc.cooling.size() >= discard_batch) {
      discard_cooling(sc);
    }
  }

 private:
  static constexpr std::size_t hot_stacks = 256;
  static constexpr std::size_t discard_batch = 64;
  static constexpr std::size_t slab_bytes = 8u << 20;

  struct size_class {
    std::size_t usable;
    std::vector<std::byte*> free;     // ready; beyond the first hot_stacks, discarded
    std::vector<std::byte*> cooling;  // freed beyond the hot set, pages not yet discarded
  };

  /// Discards the pages of every cooling stack of `sc`, one call per run of neighbours
  /// where the system keeps the guard pages between them, and makes them free.
  void discard_cooling(size_class& sc) noexcept {
    std::vector<std::byte*>& c = sc.cooling;
    std::sort(c.begin(), c.end());
    const std::size_t slot = sc.usable + page_;
    for (std::size_t i = 0; i < c.size();) {
      std::size_t j = i + 1;
      if (detail::stack_memory::discard_keeps_guards) {
        while (j < c.size() && c[j] == c[j - 1] + slot) {
          ++j;
        }
      }
      detail::stack_memory::discard(c[i], (j - i - 1) * slot + sc.usable);
      i = j;
    }
    sc.free.insert(sc.free.end(), c.begin(), c.end());
    c.clear();
  }

  /// A per-thread stash of freed stacks of one size, so that xasync/xawait loops take no
  /// lock. Trivially destructible, so that it stays usable (as `dead`) after the flusher
  /// below has emptied it at thread exit: stores made in a destructor may be discarded
  /// by the compiler, since the object's life ends there.
  struct cache {
    static constexpr int capacity = 32;
    std::size_t usable = 0;
    int count = 0;
    bool armed = false;  // the flusher is registered
    bool dead = false;   // flushed at thread exit: later frees go to the pool
    std::byte* items[capacity] = {};
  };
  /// Empties this thread's cache into the pool when the thread exits.
  struct flusher {
    void arm() noexcept {}
    ~flusher();
  };
  static thread_local constinit cache thread_cache;
  static thread_local flusher thread_flusher;

  size_class& find(std::size_t usable) {
    for (size_class& sc : classes_) {
      if (sc.usable == usable) {
        return sc;
      }
    }
    classes_.push_back(size_class{usable, {}, {}});
    return classes_.back();
  }

  /// Maps a slab for `sc` and puts its stacks on the free list.
  std::error_code grow(size_class& sc) {
    std::size_t slot = sc.usable + page_;
    std::size_t count = std::clamp<std::size_t>(slab_bytes / slot, 1, 1024);
    std::error_code ec;
    std::byte* base = detail::stack_memory::map(slot * count, ec);
    if (base == nullptr) {
      return ec;
    }
    sc.free.reserve(sc.free.size() + count);
    // Highest stack last, so it is handed out first.
    for (std::size_t i = 0; i < count; ++i) {
      std::byte* guard = base + i * slot;
      detail::stack_memory::install_guard(guard, sc.usable);
      sc.free.push_back(guard + page_);
    }
    return {};
  }

  std::mutex mu_;
  std::vector<size_class> classes_;
  std::size_t page_;
};

pooled_allocator& pool() noexcept {
  // Never destroyed: thread caches flush into it at thread exit, after static destructors
  // may have run.
  static pooled_allocator* p = new pooled_allocator();
  return *p;
}

thread_local constinit pooled_allocator::cache pooled_allocator::thread_cache;
thread_local pooled_allocator::flusher pooled_allocator::thread_flusher;

pooled_allocator::flusher::~flusher() {
  cache& tc = thread_cache;
  for (int i = 0; i < tc.count; ++i) {
    pool().give_back(tc.items[i], tc.usable);
  }
  // Static and thread-local destructors that run after this one may still make and free
  // coroutines on this thread.
  tc.count = 0;
  tc.dead = true;
}

}  // namespace

namespace detail {
bool default_stacks_guarded() noexcept {
  return detail::stack_memory::all_guarded();
}
}  // namespace detail

stack_allocator& heap_stack_allocator() noexcept {
  static heap_allocator a;
  return a;
}

stack_allocator& default_stack_allocator() noexcept {
  return pool();
}

result<stack_span> stack_alloc(stack_allocator& alloc, std::size_t size) {
  return alloc.allocate(size);
}

}  // namespace xcoro
