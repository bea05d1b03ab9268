/* A generator in C: the Fibonacci numbers below a limit, produced by a coroutine with
 * xcoro_yield and consumed with xcoro_next. The consumer injects whether it wants more.
 * Prints: 0 1 1 2 3 5 8 13 21 34 55 89 (12 numbers) */
#include <stdint.h>
#include <stdio.h>

#include "xcoro/xcoro.h"

static void fibonacci(void* arg) {
  uint64_t limit = *(const uint64_t*)arg;
  uint64_t a = 0, b = 1;
  int more = 1;
  while (more && a < limit) {
    uint64_t next = a + b;
    if (xcoro_yield(&a, &more) != XCORO_OK) {
      return;
    }
    a = b;
    b = next;
  }
}

int main(void) {
  uint64_t limit = 100, value = 0;
  int more = 1, n = 0, r;
  xcoro_coro* gen = NULL;
  r = xcoro_create_gen(&gen, fibonacci, &limit, 0, sizeof value, sizeof more);
  if (r != XCORO_OK) {
    fprintf(stderr, "xcoro_create_gen: %s\n", xcoro_strerror(r));
    return 1;
  }
  while ((r = xcoro_next(gen, &more, &value)) == XCORO_YIELDED) {
    printf("%s%llu", n++ ? " " : "", (unsigned long long)value);
  }
  printf(" (%d numbers)\n", n);
  xcoro_destroy(gen);
  return r == XCORO_RETURNED ? 0 : 1;
}
