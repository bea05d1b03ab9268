// Replaces the global operator new/delete with malloc/free plus a counter. In its own
// translation unit: inlined next to code using new, GCC would warn about malloc/delete
// pairs it cannot see are matched.
#include "support/counting_new.hpp"

#include <atomic>
#include <cstdlib>
#include <new>

#if defined(__SANITIZE_THREAD__)
#define XCORO_TEST_NO_COUNTING 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define XCORO_TEST_NO_COUNTING 1
#endif
#endif

#if defined(XCORO_TEST_NO_COUNTING)
long xcoro_test::allocations() noexcept {
  return -1;
}
#else
namespace {
std::atomic<long> count{0};
}  // namespace

long xcoro_test::allocations() noexcept {
  return count.load(std::memory_order_relaxed);
}

void* operator new(std::size_t n) {
  count.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) {
    return p;
  }
  throw std::bad_alloc();
}

void operator delete(void* p) noexcept {
  std::free(p);
}

void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
#endif
