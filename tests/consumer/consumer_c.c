/* Checks that an installed or embedded xcoro serves a C program: exits 0 only if the C
 * header compiles as C11, the ABI version matches, a generator yields three values, and,
 * where the build has aio, a coroutine sleeps on the loop through xcoro_run. */
#include <stdio.h>
#include <xcoro/xcoro.h>

static void count_to_three(void* arg) {
  (void)arg;
  for (int i = 1; i <= 3; ++i) {
    xcoro_yield(&i, NULL);
  }
}

#if !defined(_WIN32)
static int nap(void* arg) {
  (void)arg;
  return xcoro_sleep(NULL, 1);
}
#endif

int main(void) {
  xcoro_coro* g = NULL;
  int v = 0, sum = 0;
  if (xcoro_abi_version() != XCORO_ABI_VERSION) {
    fprintf(stderr, "consumer_c: ABI %u, compiled for %d\n", xcoro_abi_version(),
            XCORO_ABI_VERSION);
    return 1;
  }
  if (xcoro_create_gen(&g, count_to_three, NULL, 0, sizeof v, 0) != XCORO_OK) {
    return 1;
  }
  while (xcoro_next(g, NULL, &v) == XCORO_YIELDED) {
    sum += v;
  }
  xcoro_destroy(g);
  if (sum != 6) {
    fprintf(stderr, "consumer_c: generator sum %d\n", sum);
    return 1;
  }
#if !defined(_WIN32)
  {
    xcoro_loop* loop = NULL;
    int r = xcoro_loop_create(&loop, XCORO_BACKEND_AUTO);
    if (r == XCORO_OK) {
      xcoro_loop_init_env(loop); /* nap's NULL loop */
      r = xcoro_run(loop, nap, NULL, 0);
    }
    if (r != XCORO_OK) {
      fprintf(stderr, "consumer_c: aio: %s\n", xcoro_strerror(r));
      return 1;
    }
    xcoro_loop_destroy(loop);
  }
#endif
  puts("consumer_c: ok");
  return 0;
}
