// The stack allocators: heap stacks, and the default pooled, guard-paged mmap stacks.
//
// The default allocator carves stacks out of large MAP_NORESERVE slabs, so memory is
// committed only for pages a coroutine touches. Each stack has a guard page below it.
// The guard is installed with MADV_GUARD_INSTALL (Linux 6.13+), which marks page-table
// entries and does not split the mapping: a million guarded stacks cost a few thousand
// VMAs, far below the default vm.max_map_count of 65530. On older kernels the guard falls
// back to mprotect(PROT_NONE), which splits the slab into two VMAs per stack; past a budget
// of a quarter of vm.max_map_count, further stacks get no guard page and rely on the
// canary check at suspend points. docs/design.md discusses the trade-off.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <mutex>
#include <new>
#include <vector>

#include "stack_pool.hpp"
#include "xcoro/stack.hpp"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

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

enum class guard_mode { madvise, mprotect };

class pooled_allocator final : public stack_allocator {
 public:
  pooled_allocator() noexcept {
    long p = sysconf(_SC_PAGESIZE);
    page_ = p > 0 ? static_cast<std::size_t>(p) : 4096;
    std::size_t max_maps = 65530;
    if (std::FILE* f = std::fopen("/proc/sys/vm/max_map_count", "r")) {
      unsigned long v = 0;
      if (std::fscanf(f, "%lu", &v) == 1 && v > 0) {
        max_maps = v;
      }
      std::fclose(f);
    }
    mprotect_budget_ = max_maps / 4;
  }

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
    if (sc.free.empty()) {
      std::error_code ec = grow(sc);
      if (ec) {
        return ec;
      }
    }
    std::byte* lo = sc.free.back();
    sc.free.pop_back();
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

  /// True while every guard went in with MADV_GUARD_INSTALL (an mprotect fallback may run
  /// out of its budget and hand out unguarded stacks).
  bool all_guarded() const noexcept { return mode_.load(std::memory_order_relaxed) == guard_mode::madvise; }

  void give_back(std::byte* lo, std::size_t usable) noexcept {
    std::lock_guard<std::mutex> lock(mu_);
    size_class& sc = find(usable);
    // Pooled stacks beyond the hot set give their pages back to the kernel; the guard
    // page survives MADV_DONTNEED.
    if (sc.free.size() >= hot_stacks) {
      madvise(lo, usable, MADV_DONTNEED);
    }
    sc.free.push_back(lo);
  }

 private:
  static constexpr std::size_t hot_stacks = 256;
  static constexpr std::size_t slab_bytes = 8u << 20;

  struct size_class {
    std::size_t usable;
    std::vector<std::byte*> free;
  };

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
    classes_.push_back(size_class{usable, {}});
    return classes_.back();
  }

  /// Maps a slab for `sc` and puts its stacks on the free list.
  std::error_code grow(size_class& sc) {
    std::size_t slot = sc.usable + page_;
    std::size_t count = std::clamp<std::size_t>(slab_bytes / slot, 1, 1024);
    void* mem = mmap(nullptr, slot * count, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (mem == MAP_FAILED) {
      return std::error_code(errno, std::system_category());
    }
    auto* base = static_cast<std::byte*>(mem);
    sc.free.reserve(sc.free.size() + count);
    // Highest stack last, so it is handed out first.
    for (std::size_t i = 0; i < count; ++i) {
      std::byte* guard = base + i * slot;
      install_guard(guard);
      sc.free.push_back(guard + page_);
    }
    return {};
  }

  void install_guard(std::byte* guard) noexcept {
    if (mode_.load(std::memory_order_relaxed) == guard_mode::madvise) {
      if (madvise(guard, page_, MADV_GUARD_INSTALL) == 0 && (guard_checked_ || guard_works(guard))) {
        guard_checked_ = true;
        return;
      }
      mode_.store(guard_mode::mprotect, std::memory_order_relaxed);
    }
    if (mprotect_guards_ < mprotect_budget_ && mprotect(guard, page_, PROT_NONE) == 0) {
      ++mprotect_guards_;
    }
  }

  /// Whether the guard just installed at `guard` really faults. An emulator (qemu-user)
  /// may accept MADV_GUARD_INSTALL as a no-op hint; then the page stays readable. The
  /// kernel answers a write(2) from an unreadable page with EFAULT, without a signal.
  static bool guard_works(std::byte* guard) noexcept {
    int fds[2];
    if (pipe(fds) != 0) {
      return false;
    }
    ssize_t n = ::write(fds[1], guard, 1);
    bool faulted = n < 0 && errno == EFAULT;
    ::close(fds[0]);
    ::close(fds[1]);
    return faulted;
  }

  std::mutex mu_;
  std::vector<size_class> classes_;
  bool guard_checked_ = false;
  std::size_t page_ = 4096;
  std::atomic<guard_mode> mode_{guard_mode::madvise};
  std::size_t mprotect_guards_ = 0;
  std::size_t mprotect_budget_ = 0;
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
  return pool().all_guarded();
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
