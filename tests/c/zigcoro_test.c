/* zigcoro's core tests 1-8 (its src/coro.zig and src/test.zig), through the C API.
 * Results that zigcoro returns from the coroutine function travel through `arg` here,
 * and zigcoro's error union is the coroutine's outcome (xcoro_fail). */
#include <stddef.h>
#include <stdint.h>

#include "check.h"
#include "xcoro/xcoro.h"

/* 1: basic suspend and resume, on a 4 KiB stack; root and coroutine interleave. */
static int steps[16];
static int nsteps;

static void step_body(void* arg) {
  (void)arg;
  CHECK(xcoro_remaining_stack() > 2048);
  steps[nsteps++] = 1;
  CHECK_EQ(xcoro_suspend(), XCORO_OK);
  steps[nsteps++] = 3;
  CHECK_EQ(xcoro_suspend(), XCORO_OK);
  steps[nsteps++] = 5;
}

static void basic_suspend_and_resume(void) {
  xcoro_coro* c = NULL;
  nsteps = 0;
  CHECK_EQ(xcoro_create(&c, step_body, NULL, 4096), XCORO_OK);
  steps[nsteps++] = 0;
  CHECK_EQ(xcoro_status(c), XCORO_START);
  CHECK_EQ(xcoro_resume(c), XCORO_OK);
  CHECK_EQ(xcoro_status(c), XCORO_SUSPENDED);
  steps[nsteps++] = 2;
  CHECK_EQ(xcoro_resume(c), XCORO_OK);
  CHECK_EQ(xcoro_status(c), XCORO_SUSPENDED);
  steps[nsteps++] = 4;
  CHECK_EQ(xcoro_resume(c), XCORO_OK);
  CHECK_EQ(xcoro_status(c), XCORO_DONE);
  steps[nsteps++] = 6;
  steps[nsteps++] = 7;
  CHECK_EQ(nsteps, 8);
  for (int i = 0; i < nsteps; ++i) {
    CHECK_EQ(steps[i], i);
  }
  xcoro_destroy(c);
}

/* 2: with values, through the coroutine-local storage pointer. */
typedef struct values {
  size_t* x;
} values;

static void values_body(void* arg) {
  (void)arg;
  values* v = (values*)xcoro_storage(xcoro_self());
  *v->x += 1;
  xcoro_suspend();
  *v->x += 3;
}

static void with_values(void) {
  size_t x = 0;
  values v = {&x};
  xcoro_coro* c = NULL;
  CHECK_EQ(xcoro_create(&c, values_body, NULL, 4096), XCORO_OK);
  CHECK(xcoro_storage(c) == NULL);
  xcoro_set_storage(c, &v);
  CHECK(xcoro_storage(c) == &v);
  CHECK_EQ(x, 0);
  xcoro_resume(c);
  CHECK_EQ(x, 1);
  xcoro_resume(c);
  CHECK_EQ(x, 4);
  CHECK_EQ(xcoro_status(c), XCORO_DONE);
  xcoro_destroy(c);
}

/* 3: with CoroT: created, not started; three resumes; the result is 14. */
typedef struct add_args {
  size_t* x;
  size_t result;
} add_args;

static void add_then_return(void* arg) {
  add_args* a = (add_args*)arg;
  *a->x += 1;
  xcoro_suspend();
  *a->x += 3;
  xcoro_suspend();
  a->result = *a->x + 10;
}

static void with_coro_t(void) {
  size_t x = 0;
  add_args a = {&x, 0};
  xcoro_coro* c = NULL;
  CHECK_EQ(xcoro_create(&c, add_then_return, &a, 0), XCORO_OK);
  CHECK_EQ(xcoro_status(c), XCORO_START);
  CHECK_EQ(x, 0);
  xcoro_resume(c);
  CHECK_EQ(x, 1);
  xcoro_resume(c);
  CHECK_EQ(x, 4);
  xcoro_resume(c);
  CHECK_EQ(x, 4);
  CHECK_EQ(xcoro_status(c), XCORO_DONE);
  CHECK_EQ(xcoro_await(c), XCORO_OK);
  CHECK_EQ(a.result, 14);
  xcoro_destroy(c);
}

/* 4: iterator: yields val, adds the injected increment while val < 10; returns val == 28. */
typedef struct iter_args {
  size_t start;
  int returned;
} iter_args;

static void iter_fn(void* arg) {
  iter_args* a = (iter_args*)arg;
  size_t val = a->start;
  while (val < 10) {
    size_t inc = 0;
    CHECK_EQ(xcoro_yield(&val, &inc), XCORO_OK);
    val += inc;
  }
  a->returned = val == 28;
}

static void iterator(void) {
  iter_args a = {1, 0};
  xcoro_coro* g = NULL;
  size_t v = 0, inc;
  CHECK_EQ(xcoro_create_gen(&g, iter_fn, &a, 0, sizeof(size_t), sizeof(size_t)), XCORO_OK);
  CHECK_EQ(xcoro_next(g, NULL, &v), XCORO_YIELDED);
  CHECK_EQ(v, 1);
  inc = 3;
  CHECK_EQ(xcoro_next(g, &inc, &v), XCORO_YIELDED);
  CHECK_EQ(v, 4);
  inc = 2;
  CHECK_EQ(xcoro_next(g, &inc, &v), XCORO_YIELDED);
  CHECK_EQ(v, 6);
  inc = 22;
  CHECK_EQ(xcoro_next(g, &inc, &v), XCORO_RETURNED);
  CHECK_EQ(a.returned, 1);
  CHECK_EQ(xcoro_status(g), XCORO_DONE);
  xcoro_destroy(g);
}

/* 5: resuming self from root is a no-op. */
static void resume_self(void) {
  xcoro_coro* root = xcoro_self();
  uint64_t before = xcoro_invocation(root);
  CHECK_EQ(xcoro_resume(root), XCORO_OK);
  CHECK_EQ(xcoro_invocation(root), before);
  CHECK_EQ(xcoro_in_coro(), 0);
}

/* 6: with FrameT and xasync xawait: eager start up to the first suspend. */
static void async_await(void) {
  size_t x = 0;
  add_args a = {&x, 0};
  xcoro_coro* c = NULL;
  CHECK_EQ(xcoro_async(&c, add_then_return, &a, 0), XCORO_OK);
  CHECK_EQ(x, 1);
  xcoro_resume(c);
  CHECK_EQ(x, 4);
  xcoro_resume(c);
  CHECK_EQ(xcoro_status(c), XCORO_DONE);
  CHECK_EQ(x, 4);
  CHECK_EQ(xcoro_await(c), XCORO_OK);
  CHECK_EQ(a.result, 14);
  CHECK_EQ(xcoro_await(c), XCORO_OK); /* a finished coroutine can be awaited again */
  xcoro_destroy(c);
}

/* 7: xawait error: the coroutine fails after one suspend; await gives that error. */
#define SOMETHING_BAD (XCORO_EUSER - 7)

static void fails_after_suspend(void* arg) {
  (void)arg;
  xcoro_suspend();
  xcoro_fail(SOMETHING_BAD);
}

static void await_error(void) {
  xcoro_coro* c = NULL;
  CHECK_EQ(xcoro_async(&c, fails_after_suspend, NULL, 0), XCORO_OK);
  xcoro_resume(c);
  CHECK_EQ(xcoro_status(c), XCORO_DONE);
  CHECK_EQ(xcoro_await(c), SOMETHING_BAD);
  CHECK(strcmp(xcoro_strerror(SOMETHING_BAD), "user error") == 0);
  xcoro_destroy(c);
}

/* 8: suspend block: the block sees the coroutine suspended, then resumes it. */
static int block_ran;

static void resume_in_block(void* ctx) {
  xcoro_coro* self = (xcoro_coro*)ctx;
  block_ran = 1;
  CHECK_EQ(xcoro_status(self), XCORO_SUSPENDED);
  CHECK(self != xcoro_self());
  CHECK_EQ(xcoro_resume(self), XCORO_OK);
}

static void suspend_block_body(void* arg) {
  (void)arg;
  CHECK_EQ(xcoro_suspend_block(resume_in_block, xcoro_self()), XCORO_OK);
}

static void suspend_block(void) {
  xcoro_coro* c = NULL;
  block_ran = 0;
  CHECK_EQ(xcoro_async(&c, suspend_block_body, NULL, 0), XCORO_OK);
  CHECK_EQ(block_ran, 1);
  CHECK_EQ(xcoro_status(c), XCORO_DONE);
  xcoro_destroy(c);
}

int main(int argc, char** argv) {
  static const check_test tests[] = {
      {"basic_suspend_and_resume", basic_suspend_and_resume},
      {"with_values", with_values},
      {"with_coro_t", with_coro_t},
      {"iterator", iterator},
      {"resume_self", resume_self},
      {"async_await", async_await},
      {"await_error", await_error},
      {"suspend_block", suspend_block},
  };
  return check_run(tests, sizeof tests / sizeof tests[0], argc, argv);
}
