/* The C half of c_api_bench: the context switch and a channel ping-pong written against
 * <xcoro/xcoro.h>, timed by the caller (bench/c_api_bench.cpp). */
#include <stddef.h>

#include "xcoro/xcoro.h"

static void switch_forever(void* arg) {
  (void)arg;
  for (;;) {
    xcoro_suspend();
  }
}

/* Resumes a coroutine that only suspends, n times: 2n switches. 0 on success. */
int c_switch_rounds(size_t n) {
  xcoro_coro* c = NULL;
  if (xcoro_create(&c, switch_forever, NULL, 0) != XCORO_OK) {
    return -1;
  }
  for (size_t i = 0; i < n; ++i) {
    xcoro_resume(c);
  }
  xcoro_destroy(c);
  return 0;
}

typedef struct pp_args {
  xcoro_chan* to;
  xcoro_chan* from;
  size_t n;
} pp_args;

static void pinger(void* arg) {
  pp_args* a = (pp_args*)arg;
  for (size_t i = 0; i < a->n; ++i) {
    size_t v = i;
    xcoro_chan_send(a->to, &v);
    xcoro_chan_recv(a->from, &v);
  }
}

static void ponger(void* arg) {
  pp_args* a = (pp_args*)arg;
  size_t v;
  for (size_t i = 0; i < a->n; ++i) {
    xcoro_chan_recv(a->to, &v);
    xcoro_chan_send(a->from, &v);
  }
}

/* n round trips of a size_t between two coroutines over two capacity-1 channels, woken
 * through one executor. 0 on success. */
int c_ping_pong(size_t n) {
  xcoro_executor* ex = NULL;
  xcoro_chan* a = NULL;
  xcoro_chan* b = NULL;
  xcoro_coro* p = NULL;
  xcoro_coro* q = NULL;
  pp_args args;
  int rc = -1;
  if (xcoro_executor_create(&ex) != XCORO_OK) {
    return -1;
  }
  if (xcoro_chan_create(&a, sizeof(size_t), 1, ex) == XCORO_OK &&
      xcoro_chan_create(&b, sizeof(size_t), 1, ex) == XCORO_OK) {
    args.to = a;
    args.from = b;
    args.n = n;
    if (xcoro_async(&p, pinger, &args, 0) == XCORO_OK &&
        xcoro_async(&q, ponger, &args, 0) == XCORO_OK) {
      while (xcoro_executor_tick(ex) == 1) {
      }
      rc = xcoro_status(p) == XCORO_DONE && xcoro_status(q) == XCORO_DONE ? 0 : -1;
    }
    xcoro_destroy(p);
    xcoro_destroy(q);
  }
  xcoro_chan_destroy(a);
  xcoro_chan_destroy(b);
  xcoro_executor_destroy(ex);
  return rc;
}
