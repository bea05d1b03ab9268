/* The C API, call by call, with each error path checked by its code: coroutines,
 * generators, the executor, channels and select, sync, cancellation and task groups.
 * Payloads own heap memory where values are copied, so that ASan sees a lost or doubly
 * freed one; cancels, wake-ups and destructions come from a third coroutine. */
#if !defined(_WIN32)
#define _POSIX_C_SOURCE 200809L /* fork, pipe */
#endif
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "xcoro/xcoro.h"

#if !defined(_WIN32)
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

void xcoro_test_throw(void); /* throw_helper.cpp */
/* switch_helper.cpp */
void xcoro_test_cxx_resume(xcoro_coro* c);
void* xcoro_test_cxx_counter_create(long* n, xcoro_coro** handle);
void xcoro_test_cxx_counter_destroy(void* h);
long xcoro_test_flags_offset(xcoro_coro* c);
int xcoro_test_suspend_then_unwound(void);
void xcoro_test_run_then_unwind(void (*body)(void*), void* arg, void (*between)(void*),
                                void* ctx);

/* ASan and TSan abort on an allocation too large to make, where new[] would throw. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TEST_UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define TEST_UNDER_SANITIZER 1
#endif
#endif
#if !defined(TEST_UNDER_SANITIZER)
#define TEST_UNDER_SANITIZER 0
#endif

static xcoro_executor* ex;

static void drain(void) {
  while (xcoro_executor_tick(ex) == 1) {
  }
}

static char* owned_string(const char* text) {
  char* p = (char*)malloc(strlen(text) + 1);
  strcpy(p, text);
  return p;
}

/* ---- version and errors ---- */

static void version_and_errors(void) {
  CHECK_EQ(xcoro_version(),
           (XCORO_VERSION_MAJOR << 16) | (XCORO_VERSION_MINOR << 8) | XCORO_VERSION_PATCH);
  CHECK_EQ(xcoro_abi_version(), XCORO_ABI_VERSION);
  CHECK(strcmp(xcoro_strerror(XCORO_OK), "success") == 0);
  /* Every code has its own text. */
  for (int a = XCORO_ENORUNTIME; a <= XCORO_EINVAL; ++a) {
    CHECK(strcmp(xcoro_strerror(a), "unknown error") != 0);
    for (int b = a + 1; b <= XCORO_EINVAL; ++b) {
      CHECK(strcmp(xcoro_strerror(a), xcoro_strerror(b)) != 0);
    }
    CHECK_EQ(xcoro_errno(a), 0);
  }
  CHECK(strcmp(xcoro_strerror(-50), "unknown error") == 0);
  CHECK(strcmp(xcoro_strerror(7), "unknown error") == 0);
  CHECK(strcmp(xcoro_strerror(XCORO_EUSER), "user error") == 0);
  CHECK_EQ(xcoro_errno(XCORO_ERRNO(ENOENT)), ENOENT);
  CHECK(strlen(xcoro_strerror(XCORO_ERRNO(ENOENT))) > 0);
  CHECK(strcmp(xcoro_strerror(XCORO_ERRNO(ENOENT)), "unknown error") != 0);
  CHECK_EQ(xcoro_errno(XCORO_EUSER), 0);
  /* The status constants are distinct. */
  CHECK(XCORO_START != XCORO_RUNNING && XCORO_START != XCORO_SUSPENDED &&
        XCORO_START != XCORO_DONE && XCORO_RUNNING != XCORO_SUSPENDED &&
        XCORO_RUNNING != XCORO_DONE && XCORO_SUSPENDED != XCORO_DONE);
}

/* ---- coroutines ---- */

static void noop(void* arg) {
  (void)arg;
}

static int resumed_after_suspend;

static void suspend_then_count(void* arg) {
  (void)arg;
  xcoro_suspend();
  ++resumed_after_suspend;
}

static void create_errors(void) {
  xcoro_coro* c = (xcoro_coro*)&c; /* a sentinel: untouched on failure */
  xcoro_coro* before = c;
  CHECK_EQ(xcoro_create(NULL, noop, NULL, 0), XCORO_EINVAL);
  CHECK_EQ(xcoro_create(&c, NULL, NULL, 0), XCORO_EINVAL);
  /* Slots larger than the stack: the stack cannot hold them. */
  CHECK_EQ(xcoro_create_gen(&c, noop, NULL, 4096, 8192, 0), XCORO_ESTACK_TOO_SMALL);
  CHECK_EQ(xcoro_create_gen(&c, noop, NULL, 0, XCORO_CHAN_MAX_ELEM + 1, 0), XCORO_EINVAL);
  CHECK(c == before);
  xcoro_destroy(NULL);
}

/* Six values that the compiler keeps in callee-saved registers across each call: one
 * step of a mix of them per round. */
typedef struct mix {
  unsigned long v[6];
} mix;

static mix mix_rounds(int rounds, int suspend) {
  unsigned long a = 1, b = 2, c = 3, d = 5, e = 7, f = 11;
  mix m;
  int i;
  for (i = 0; i < rounds; ++i) {
    a = a * 3 + b;
    b ^= c << 1;
    c += d;
    d = d * 5 + e;
    e += f;
    f ^= a;
    if (suspend) {
      CHECK_EQ(xcoro_suspend(), XCORO_OK);
    }
  }
  m.v[0] = a, m.v[1] = b, m.v[2] = c, m.v[3] = d, m.v[4] = e, m.v[5] = f;
  return m;
}

static void mix_in_coro(void* arg) {
  *(mix*)arg = mix_rounds(8, 1);
}

/* The C API's switches and C++'s continue each other's coroutines, and the registers a
 * caller keeps across xcoro_suspend and xcoro_resume survive either. */
static void cxx_and_c_switches_mix(void) {
  mix got, want = mix_rounds(8, 0);
  xcoro_coro* c = NULL;
  void* counter;
  xcoro_coro* cxx = NULL;
  long n = 0;
  int i;
  memset(&got, 0, sizeof got);
  CHECK_EQ(xcoro_create(&c, mix_in_coro, &got, 0), XCORO_OK);
  for (i = 0; xcoro_status(c) != XCORO_DONE && i < 20; ++i) {
    if (i % 2 == 0) {
      CHECK_EQ(xcoro_resume(c), XCORO_OK);
    } else {
      xcoro_test_cxx_resume(c);
    }
  }
  CHECK_EQ(i, 9); /* the first resume and eight suspends */
  /* XCORO_CORO_FLAGS in src/c_api/entry_x86_64_sysv_elf_gas.S. */
  CHECK_EQ(xcoro_test_flags_offset(c), 39);
  for (i = 0; i < 6; ++i) {
    CHECK_EQ(got.v[i], want.v[i]);
  }
  xcoro_destroy(c);

  counter = xcoro_test_cxx_counter_create(&n, &cxx);
  CHECK_EQ(n, 0);
  for (i = 0; i < 3; ++i) {
    CHECK_EQ(xcoro_resume(cxx), XCORO_OK);
  }
  CHECK_EQ(n, 3);
  CHECK_EQ(xcoro_status(cxx), XCORO_SUSPENDED);
  xcoro_test_cxx_counter_destroy(counter);
  /* A frame_t destroyed while its coroutine waits in xcoro_suspend: resumed to unwind,
   * xcoro_suspend returns XCORO_ECANCELED instead of an exception. */
  CHECK_EQ(xcoro_test_suspend_then_unwound(), XCORO_ECANCELED);
}

/* ---- caller-owned stacks and stack allocators ---- */

static void note_local_address(void* arg) {
  int local = 0;
  *(uintptr_t*)arg = (uintptr_t)&local;
  xcoro_suspend();
}

static void stack_on_caller_memory(void) {
  static _Alignas(XCORO_STACK_ALIGN) unsigned char mem[32768];
  xcoro_coro* c = (xcoro_coro*)&c; /* a sentinel: untouched on failure */
  xcoro_coro* before = c;
  uintptr_t where = 0;
  int round;
  CHECK_EQ(xcoro_create_on_stack(NULL, note_local_address, &where, mem, sizeof mem),
           XCORO_EINVAL);
  CHECK_EQ(xcoro_create_on_stack(&c, NULL, &where, mem, sizeof mem), XCORO_EINVAL);
  CHECK_EQ(xcoro_create_on_stack(&c, note_local_address, &where, NULL, sizeof mem),
           XCORO_EINVAL);
  CHECK_EQ(xcoro_create_on_stack(&c, note_local_address, &where, mem + 8, sizeof mem - 8),
           XCORO_EINVAL);
  CHECK_EQ(xcoro_create_on_stack(&c, note_local_address, &where, mem, 256),
           XCORO_ESTACK_TOO_SMALL);
  CHECK(c == before);
  /* Twice on the same memory: xcoro never frees it. */
  for (round = 0; round < 2; ++round) {
    where = 0;
    CHECK_EQ(xcoro_create_on_stack(&c, note_local_address, &where, mem, sizeof mem), XCORO_OK);
    CHECK_EQ(xcoro_resume(c), XCORO_OK);
    CHECK(where > (uintptr_t)mem && where < (uintptr_t)mem + sizeof mem);
    CHECK_EQ(xcoro_resume(c), XCORO_OK);
    CHECK_EQ(xcoro_status(c), XCORO_DONE);
    xcoro_destroy(c);
  }
}

typedef struct counting_hooks {
  int allocs, frees, fail, misalign;
  size_t last_size, freed_bytes, allocated_bytes;
} counting_hooks;

static void* counting_alloc(void* user, size_t size, size_t align) {
  counting_hooks* h = (counting_hooks*)user;
  unsigned char* p;
  if (h->fail) {
    return NULL;
  }
  CHECK_EQ(align, XCORO_STACK_ALIGN);
  /* malloc's blocks are 16-byte aligned on the 64-bit targets (aligned_alloc is missing
   * from the Windows C runtime). */
  p = (unsigned char*)malloc(size + 8);
  if (p == NULL) {
    return NULL;
  }
  CHECK_EQ((uintptr_t)p % align, 0);
  ++h->allocs;
  h->last_size = size;
  h->allocated_bytes += size;
  /* A misaligned pointer is refused by the library, and given back to dealloc at once. */
  return h->misalign ? p + 8 : p;
}

static void counting_dealloc(void* user, void* p, size_t size) {
  counting_hooks* h = (counting_hooks*)user;
  ++h->frees;
  h->freed_bytes += size;
  free(h->misalign ? (unsigned char*)p - 8 : (unsigned char*)p);
}

static void stack_allocator_hooks(void) {
  counting_hooks ha, hb;
  xcoro_allocator a = {counting_alloc, counting_dealloc, &ha};
  xcoro_allocator b = {counting_alloc, counting_dealloc, &hb};
  xcoro_allocator broken = {counting_alloc, NULL, &ha};
  xcoro_coro* c1 = NULL;
  xcoro_coro* c2 = NULL;
  xcoro_coro* c3 = NULL;
  memset(&ha, 0, sizeof ha);
  memset(&hb, 0, sizeof hb);
  CHECK_EQ(xcoro_set_stack_allocator(&broken), XCORO_EINVAL);
  broken.alloc = NULL;
  broken.dealloc = counting_dealloc;
  CHECK_EQ(xcoro_set_stack_allocator(&broken), XCORO_EINVAL);

  CHECK_EQ(xcoro_set_stack_allocator(&a), XCORO_OK);
  CHECK_EQ(xcoro_create(&c1, noop, NULL, 20000), XCORO_OK);
  CHECK_EQ(ha.allocs, 1);
  CHECK(ha.last_size >= 20000);
  CHECK_EQ(xcoro_create(&c2, noop, NULL, 0), XCORO_OK); /* the env's default size */
  CHECK_EQ(ha.allocs, 2);
  /* Replaced while c1 and c2 live: theirs still go back to a's hooks. */
  CHECK_EQ(xcoro_set_stack_allocator(&b), XCORO_OK);
  CHECK_EQ(xcoro_create(&c3, noop, NULL, 0), XCORO_OK);
  CHECK_EQ(hb.allocs, 1);
  CHECK_EQ(xcoro_resume(c1), XCORO_OK);
  xcoro_destroy(c1);
  CHECK_EQ(ha.frees, 1);
  CHECK_EQ(xcoro_set_stack_allocator(NULL), XCORO_OK);
  xcoro_destroy(c2);
  xcoro_destroy(c3);
  CHECK_EQ(ha.frees, 2);
  CHECK_EQ(hb.frees, 1);
  CHECK_EQ(ha.freed_bytes, ha.allocated_bytes);
  CHECK_EQ(hb.freed_bytes, hb.allocated_bytes);
  /* The default again: the hooks see nothing. */
  CHECK_EQ(xcoro_create(&c1, noop, NULL, 0), XCORO_OK);
  xcoro_destroy(c1);
  CHECK_EQ(ha.allocs + hb.allocs, 3);

  /* A hook that fails, and one that breaks the alignment contract. */
  c1 = (xcoro_coro*)&c1;
  CHECK_EQ(xcoro_set_stack_allocator(&a), XCORO_OK);
  ha.fail = 1;
  CHECK_EQ(xcoro_create(&c1, noop, NULL, 0), XCORO_ENOMEM);
  ha.fail = 0;
  ha.misalign = 1;
  CHECK_EQ(xcoro_create(&c1, noop, NULL, 0), XCORO_EINVAL);
  CHECK_EQ(ha.frees, 3);
  CHECK(c1 == (xcoro_coro*)&c1);
  ha.misalign = 0;
  CHECK_EQ(xcoro_set_stack_allocator(NULL), XCORO_OK);
}

/* The handles a thread creates come from xcoro_set_allocator's hooks, and each goes back
 * to the hooks that gave it. */
static void handle_allocator_hooks(void) {
  counting_hooks ha, hb;
  xcoro_allocator a = {counting_alloc, counting_dealloc, &ha};
  xcoro_allocator b = {counting_alloc, counting_dealloc, &hb};
  xcoro_allocator broken = {NULL, counting_dealloc, &ha};
  xcoro_chan* ch = NULL;
  xcoro_mutex* m = NULL;
  xcoro_sem* sem = NULL;
  xcoro_wait_group* wg = NULL;
  xcoro_group* g = NULL;
  xcoro_chan* other = NULL;
  memset(&ha, 0, sizeof ha);
  memset(&hb, 0, sizeof hb);
  CHECK_EQ(xcoro_set_allocator(&broken), XCORO_EINVAL);
  broken.alloc = counting_alloc;
  broken.dealloc = NULL;
  CHECK_EQ(xcoro_set_allocator(&broken), XCORO_EINVAL);

  CHECK_EQ(xcoro_set_allocator(&a), XCORO_OK);
  CHECK_EQ(xcoro_chan_create(&ch, sizeof(int), 2, ex), XCORO_OK);
  CHECK_EQ(xcoro_mutex_create(&m, ex), XCORO_OK);
  CHECK_EQ(xcoro_sem_create(&sem, 1, ex), XCORO_OK);
  CHECK_EQ(xcoro_wg_create(&wg, ex), XCORO_OK);
  CHECK_EQ(xcoro_group_create(&g), XCORO_OK);
  CHECK_EQ(ha.allocs, 5);
  /* Replaced while they live: they still go back to a's hooks. */
  CHECK_EQ(xcoro_set_allocator(&b), XCORO_OK);
  CHECK_EQ(xcoro_chan_create(&other, sizeof(int), 0, ex), XCORO_OK);
  CHECK_EQ(hb.allocs, 1);
  CHECK_EQ(xcoro_set_allocator(NULL), XCORO_OK);
  {
    int v = 7, got = 0;
    CHECK_EQ(xcoro_chan_try_send(ch, &v), XCORO_OK); /* the handle works as any other */
    CHECK_EQ(xcoro_chan_try_recv(ch, &got), XCORO_OK);
    CHECK_EQ(got, 7);
  }
  CHECK_EQ(xcoro_chan_destroy(ch), XCORO_OK);
  CHECK_EQ(xcoro_mutex_destroy(m), XCORO_OK);
  CHECK_EQ(xcoro_sem_destroy(sem), XCORO_OK);
  CHECK_EQ(xcoro_wg_destroy(wg), XCORO_OK);
  CHECK_EQ(xcoro_group_destroy(g), XCORO_OK);
  CHECK_EQ(xcoro_chan_destroy(other), XCORO_OK);
  CHECK_EQ(ha.frees, 5);
  CHECK_EQ(hb.frees, 1);
  CHECK_EQ(ha.freed_bytes, ha.allocated_bytes);
  CHECK_EQ(hb.freed_bytes, hb.allocated_bytes);
  /* Without hooks: operator new. */
  CHECK_EQ(xcoro_chan_create(&ch, sizeof(int), 0, ex), XCORO_OK);
  CHECK_EQ(xcoro_chan_destroy(ch), XCORO_OK);
  CHECK_EQ(ha.allocs + hb.allocs, 6);

  /* A hook that fails: XCORO_ENOMEM, *out untouched. */
  ch = (xcoro_chan*)&ch;
  CHECK_EQ(xcoro_set_allocator(&a), XCORO_OK);
  ha.fail = 1;
  CHECK_EQ(xcoro_chan_create(&ch, sizeof(int), 0, ex), XCORO_ENOMEM);
  CHECK_EQ(xcoro_mutex_create(&m, ex), XCORO_ENOMEM);
  CHECK(ch == (xcoro_chan*)&ch);
  ha.fail = 0;
  CHECK_EQ(xcoro_set_allocator(NULL), XCORO_OK);
}

static void resume_errors(void) {
  xcoro_coro* c = NULL;
  CHECK_EQ(xcoro_resume(NULL), XCORO_EINVAL);
  CHECK_EQ(xcoro_status(NULL), XCORO_EINVAL);
  CHECK_EQ(xcoro_suspend(), XCORO_EROOT);
  CHECK_EQ(xcoro_create(&c, noop, NULL, 0), XCORO_OK);
  CHECK_EQ(xcoro_resume(c), XCORO_OK);
  CHECK_EQ(xcoro_status(c), XCORO_DONE);
  CHECK_EQ(xcoro_resume(c), XCORO_EDONE); /* C++ aborts here */
  CHECK_EQ(xcoro_await(c), XCORO_OK);
  xcoro_destroy(c);
}

static int self_checks_ok;

static void self_checks(void* arg) {
  xcoro_coro* self = xcoro_self();
  (void)arg;
  self_checks_ok = xcoro_in_coro() == 1 && xcoro_status(self) == XCORO_RUNNING &&
                   xcoro_resume(self) == XCORO_OK && /* no-op */
                   xcoro_await(self) == XCORO_ERUNNING && xcoro_remaining_stack() > 1024;
}

static void running_and_self(void) {
  xcoro_coro* c = NULL;
  self_checks_ok = 0;
  CHECK_EQ(xcoro_async(&c, self_checks, NULL, 0), XCORO_OK);
  CHECK_EQ(self_checks_ok, 1);
  CHECK_EQ(xcoro_remaining_stack(), 0);
  xcoro_destroy(c);
}

#if !defined(_WIN32)
static void* resume_from_other_thread(void* arg) {
  return (void*)(intptr_t)xcoro_resume((xcoro_coro*)arg);
}

/* Running on this thread while another thread tries to resume it. */
static void resumed_while_running(void* arg) {
  pthread_t t;
  void* r = NULL;
  CHECK_EQ(pthread_create(&t, NULL, resume_from_other_thread, xcoro_self()), 0);
  pthread_join(t, &r);
  *(int*)arg = (int)(intptr_t)r;
}
#endif

static void resume_from_another_thread(void) {
#if !defined(_WIN32)
  xcoro_coro* c = NULL;
  pthread_t t;
  void* r = NULL;
  CHECK_EQ(xcoro_async(&c, suspend_then_count, NULL, 0), XCORO_OK);
  CHECK_EQ(pthread_create(&t, NULL, resume_from_other_thread, c), 0);
  pthread_join(t, &r);
  CHECK_EQ((int)(intptr_t)r, XCORO_ETHREAD);
  CHECK_EQ(xcoro_status(c), XCORO_SUSPENDED);
  xcoro_destroy(c);
  {
    int running = 0;
    CHECK_EQ(xcoro_async(&c, resumed_while_running, &running, 0), XCORO_OK);
    CHECK_EQ(running, XCORO_ERUNNING);
    xcoro_destroy(c);
  }
#endif
}

static void accessors(void) {
  xcoro_coro* c = NULL;
  xcoro_coro* d = NULL;
  int storage = 0;
  CHECK_EQ(xcoro_id(xcoro_self()), 0);
  CHECK_EQ(xcoro_create(&c, suspend_then_count, NULL, 0), XCORO_OK);
  CHECK_EQ(xcoro_create(&d, noop, NULL, 0), XCORO_OK);
  CHECK(xcoro_id(c) > 0);
  CHECK_EQ(xcoro_id(d), xcoro_id(c) + 1);
  CHECK(strcmp(xcoro_name(c), "") == 0);
  xcoro_set_name(c, "a-rather-long-name-that-is-truncated-at-31");
  CHECK_EQ(strlen(xcoro_name(c)), 31);
  CHECK(strncmp(xcoro_name(c), "a-rather-long-name", 18) == 0);
  xcoro_set_name(c, NULL);
  CHECK(strcmp(xcoro_name(c), "") == 0);
  CHECK(strcmp(xcoro_name(NULL), "") == 0);
  CHECK_EQ(xcoro_invocation(c), 0);
  xcoro_resume(c);
  CHECK_EQ(xcoro_invocation(c), 1);
  xcoro_set_storage(c, &storage);
  CHECK(xcoro_storage(c) == &storage);
  CHECK(xcoro_storage(NULL) == NULL);
  xcoro_set_storage(NULL, &storage);
  CHECK_EQ(xcoro_id(NULL), 0);
  CHECK_EQ(xcoro_invocation(NULL), 0);
  xcoro_set_name(NULL, "x");
  xcoro_destroy(c);
  xcoro_destroy(d);
}

static void destroy_releases_without_resuming(void) {
  xcoro_coro* started = NULL;
  xcoro_coro* fresh = NULL;
  resumed_after_suspend = 0;
  CHECK_EQ(xcoro_async(&started, suspend_then_count, NULL, 0), XCORO_OK);
  CHECK_EQ(xcoro_create(&fresh, suspend_then_count, NULL, 0), XCORO_OK);
  xcoro_destroy(started); /* suspended in xcoro_suspend: not resumed */
  xcoro_destroy(fresh);   /* never started */
  CHECK_EQ(resumed_after_suspend, 0);
}

static void fail_outcome(void* arg) {
  (void)arg;
  xcoro_fail(XCORO_EUSER - 1);
  xcoro_fail(5); /* not negative: recorded as XCORO_EINVAL */
}

static void fail_and_outcomes(void) {
  xcoro_coro* c = NULL;
  xcoro_fail(XCORO_EUSER); /* in root: nothing to record, nothing happens */
  CHECK_EQ(xcoro_async(&c, fail_outcome, NULL, 0), XCORO_OK);
  CHECK_EQ(xcoro_await(c), XCORO_EINVAL);
  xcoro_destroy(c);
  CHECK_EQ(xcoro_await(NULL), XCORO_EINVAL);
  CHECK_EQ(xcoro_create(&c, suspend_then_count, NULL, 0), XCORO_OK);
  CHECK_EQ(xcoro_await(c), XCORO_EROOT); /* unfinished, from root */
  xcoro_destroy(c);
}

static void calls_throwing_cpp(void* arg) {
  int* reached_after = (int*)arg;
  xcoro_test_throw();
  *reached_after = 1;
}

static void exception_becomes_outcome(void) {
  xcoro_coro* c = NULL;
  int reached_after = 0;
  CHECK_EQ(xcoro_async(&c, calls_throwing_cpp, &reached_after, 0), XCORO_OK);
  CHECK_EQ(xcoro_status(c), XCORO_DONE);
  CHECK_EQ(reached_after, 0);
  CHECK_EQ(xcoro_await(c), XCORO_EEXCEPTION);
  xcoro_destroy(c);
}

/* ---- what C cannot report: the void xcoro_destroy aborts with a message ---- */

#if !defined(_WIN32)

static void destroy_root(void) {
  xcoro_destroy(xcoro_self());
}

static void destroy_self(void* arg) {
  (void)arg;
  xcoro_destroy(xcoro_self());
}

static void destroy_running(void) {
  xcoro_coro* c = NULL;
  xcoro_async(&c, destroy_self, NULL, 0);
}

static void* destroy_there(void* arg) {
  xcoro_destroy((xcoro_coro*)arg);
  return NULL;
}

static void destroy_from_another_thread(void) {
  xcoro_coro* c = NULL;
  pthread_t t;
  xcoro_create(&c, noop, NULL, 0);
  pthread_create(&t, NULL, destroy_there, c);
  pthread_join(t, NULL);
}
#endif

static void destroy_misuse_aborts(void) {
#if !defined(_WIN32)
  CHECK(aborts_with(destroy_root, "xcoro: xcoro_destroy: root coroutine (id 0) is a thread's root"));
  CHECK(aborts_with(destroy_running, "is running; a coroutine cannot destroy itself"));
  CHECK(aborts_with(destroy_from_another_thread, "belongs to another thread"));
#endif
}

static int block_fn_ran;

static void set_flag(void* ctx) {
  *(int*)ctx = 1;
}

static void suspend_block_errors(void) {
  block_fn_ran = 0;
  CHECK_EQ(xcoro_suspend_block(NULL, NULL), XCORO_EINVAL);
  CHECK_EQ(xcoro_suspend_block(set_flag, &block_fn_ran), XCORO_EROOT);
  CHECK_EQ(block_fn_ran, 0);
}

/* ---- generators ---- */

/* Yields malloc'd strings: the consumer owns and frees each one. */
static void words(void* arg) {
  static const char* const all[] = {"alpha", "beta", "gamma"};
  size_t* count = (size_t*)arg;
  for (size_t i = 0; i < *count; ++i) {
    char* w = owned_string(all[i % 3]);
    CHECK_EQ(xcoro_yield(&w, NULL), XCORO_OK);
  }
}

static void generator_of_owned_strings(void) {
  size_t count = 3;
  xcoro_coro* g = NULL;
  char* w = NULL;
  CHECK_EQ(xcoro_create_gen(&g, words, &count, 0, sizeof(char*), 0), XCORO_OK);
  CHECK_EQ(xcoro_next(g, NULL, &w), XCORO_YIELDED);
  CHECK(strcmp(w, "alpha") == 0);
  free(w);
  CHECK_EQ(xcoro_next(g, NULL, &w), XCORO_YIELDED);
  CHECK(strcmp(w, "beta") == 0);
  free(w);
  CHECK_EQ(xcoro_next(g, NULL, &w), XCORO_YIELDED);
  CHECK(strcmp(w, "gamma") == 0);
  free(w);
  w = NULL;
  CHECK_EQ(xcoro_next(g, NULL, &w), XCORO_RETURNED);
  CHECK(w == NULL);
  CHECK_EQ(xcoro_next(g, NULL, &w), XCORO_EDONE);
  xcoro_destroy(g);

  /* Abandoned after one value: released without running again (no more strings made). */
  count = 100;
  CHECK_EQ(xcoro_create_gen(&g, words, &count, 0, sizeof(char*), 0), XCORO_OK);
  CHECK_EQ(xcoro_next(g, NULL, &w), XCORO_YIELDED);
  free(w);
  xcoro_destroy(g);
}

static void yields_in_plain_coroutine(void* arg) {
  int v = 1;
  *(int*)arg = xcoro_yield(&v, NULL);
}

static void yield_then_suspend(void* arg) {
  int v = 7, injected = 0;
  (void)arg;
  CHECK_EQ(xcoro_yield(NULL, &injected), XCORO_EINVAL); /* yield_size > 0 needs a value */
  CHECK_EQ(xcoro_yield(&v, NULL), XCORO_EINVAL);        /* inject_size > 0 needs a place */
  CHECK_EQ(xcoro_yield(&v, &injected), XCORO_OK);
  CHECK_EQ(injected, 1);
  xcoro_suspend();       /* suspends without yielding */
  xcoro_test_throw();    /* and then ends with an exception */
}

static void generator_errors(void) {
  xcoro_coro* c = NULL;
  int v = 0, r = 0;
  CHECK_EQ(xcoro_yield(&v, NULL), XCORO_EROOT);
  CHECK_EQ(xcoro_async(&c, yields_in_plain_coroutine, &r, 0), XCORO_OK);
  CHECK_EQ(r, XCORO_ENOTGEN);
  CHECK_EQ(xcoro_next(c, NULL, &v), XCORO_EINVAL); /* not a generator */
  xcoro_destroy(c);
  CHECK_EQ(xcoro_next(NULL, NULL, &v), XCORO_EINVAL);

  CHECK_EQ(xcoro_create_gen(&c, yield_then_suspend, NULL, 0, sizeof(int), sizeof(int)),
           XCORO_OK);
  CHECK_EQ(xcoro_next(c, NULL, NULL), XCORO_EINVAL); /* out needed for yield_size > 0 */
  CHECK_EQ(xcoro_next(c, NULL, &v), XCORO_YIELDED);
  CHECK_EQ(v, 7);
  CHECK_EQ(xcoro_next(c, NULL, &v), XCORO_EINVAL); /* inject needed once started */
  r = 1;
  CHECK_EQ(xcoro_next(c, &r, &v), XCORO_EAGAIN);   /* it suspended without a value */
  CHECK_EQ(xcoro_next(c, &r, &v), XCORO_EEXCEPTION);
  CHECK_EQ(xcoro_status(c), XCORO_DONE);
  xcoro_destroy(c);
}

/* ---- executor ---- */

static int order[4];
static int norder;

static void record(void* userdata) {
  order[norder++] = (int)(intptr_t)userdata;
}

static void executor_calls(void) {
  xcoro_executor* e = NULL;
  xcoro_func f1 = {record, (void*)1, NULL};
  xcoro_func f2 = {record, (void*)2, NULL};
  xcoro_func bad = {NULL, NULL, NULL};
  norder = 0;
  CHECK_EQ(xcoro_executor_create(NULL), XCORO_EINVAL);
  CHECK_EQ(xcoro_executor_create(&e), XCORO_OK);
  CHECK_EQ(xcoro_executor_empty(e), 1);
  CHECK_EQ(xcoro_executor_tick(e), 0);
  CHECK_EQ(xcoro_executor_run_soon(e, &f1), XCORO_OK);
  CHECK_EQ(xcoro_executor_run_soon(e, &f2), XCORO_OK);
  CHECK_EQ(xcoro_executor_empty(e), 0);
  CHECK_EQ(xcoro_executor_run_soon(e, &bad), XCORO_EINVAL);
  CHECK_EQ(xcoro_executor_run_soon(e, NULL), XCORO_EINVAL);
  CHECK_EQ(xcoro_executor_run_soon(NULL, &f1), XCORO_EINVAL);
  CHECK_EQ(xcoro_executor_tick(e), 1);
  CHECK_EQ(norder, 2);
  CHECK_EQ(order[0], 1);
  CHECK_EQ(order[1], 2);
  CHECK_EQ(xcoro_executor_tick(NULL), XCORO_EINVAL);
  CHECK_EQ(xcoro_executor_empty(NULL), XCORO_EINVAL);
  xcoro_executor_destroy(e);
  xcoro_executor_destroy(NULL);
}

/* ---- channels ---- */

/* A payload that owns memory, larger than the 32 bytes a channel copies without memcpy. */
typedef struct message {
  char* text;
  int seq;
  char pad[60];
} message;

typedef struct chan_args {
  xcoro_chan* ch;
  int n;
  int result;
  long sum;
} chan_args;

static void send_n_then_close(void* arg) {
  chan_args* a = (chan_args*)arg;
  for (size_t i = 0; i < (size_t)a->n; ++i) {
    CHECK_EQ(xcoro_chan_send(a->ch, &i), XCORO_OK);
  }
  xcoro_chan_close(a->ch);
}

static void sum_until_closed(void* arg) {
  chan_args* a = (chan_args*)arg;
  size_t v;
  int r;
  while ((r = xcoro_chan_recv(a->ch, &v)) == XCORO_OK) {
    a->sum += (long)v;
  }
  a->result = r;
}

/* zigcoro's channel tests: 6 values, sum 15, 12 switches into root over capacity 1, 2
 * over capacity 6. */
static void channel_switch_counts(void) {
  for (int cap = 1; cap <= 6; cap += 5) {
    xcoro_chan* ch = NULL;
    xcoro_coro* s = NULL;
    xcoro_coro* r = NULL;
    chan_args sa = {NULL, 6, 0, 0}, ra = {NULL, 0, 0, 0};
    uint64_t before;
    CHECK_EQ(xcoro_chan_create(&ch, sizeof(size_t), (size_t)cap, ex), XCORO_OK);
    sa.ch = ra.ch = ch;
    before = xcoro_invocation(xcoro_self());
    CHECK_EQ(xcoro_async(&s, send_n_then_close, &sa, 0), XCORO_OK);
    CHECK_EQ(xcoro_async(&r, sum_until_closed, &ra, 0), XCORO_OK);
    drain();
    CHECK_EQ(xcoro_await(s), XCORO_OK);
    CHECK_EQ(xcoro_await(r), XCORO_OK);
    CHECK_EQ(ra.sum, 15);
    CHECK_EQ(ra.result, XCORO_ECLOSED);
    CHECK_EQ(xcoro_invocation(xcoro_self()) - before, cap == 1 ? 12 : 2);
    xcoro_destroy(s);
    xcoro_destroy(r);
    CHECK_EQ(xcoro_chan_destroy(ch), XCORO_OK);
  }
}

static void send_messages(void* arg) {
  chan_args* a = (chan_args*)arg;
  for (int i = 0; i < a->n; ++i) {
    message m;
    memset(&m, 0, sizeof m);
    m.text = owned_string(i % 2 ? "odd" : "even");
    m.seq = i;
    CHECK_EQ(xcoro_chan_send(a->ch, &m), XCORO_OK);
  }
}

static void recv_messages(void* arg) {
  chan_args* a = (chan_args*)arg;
  message m;
  for (int i = 0; i < a->n; ++i) {
    CHECK_EQ(xcoro_chan_recv(a->ch, &m), XCORO_OK);
    CHECK_EQ(m.seq, i);
    CHECK(strcmp(m.text, i % 2 ? "odd" : "even") == 0);
    free(m.text);
  }
}

static void channel_of_large_owned_values(void) {
  for (size_t cap = 0; cap <= 3; cap += 3) { /* rendezvous, then buffered */
    xcoro_chan* ch = NULL;
    xcoro_coro* s = NULL;
    xcoro_coro* r = NULL;
    chan_args a = {NULL, 10, 0, 0};
    CHECK_EQ(xcoro_chan_create(&ch, sizeof(message), cap, ex), XCORO_OK);
    CHECK_EQ(xcoro_chan_capacity(ch), cap);
    a.ch = ch;
    CHECK_EQ(xcoro_async(&r, recv_messages, &a, 0), XCORO_OK);
    CHECK_EQ(xcoro_async(&s, send_messages, &a, 0), XCORO_OK);
    drain();
    CHECK_EQ(xcoro_status(s), XCORO_DONE);
    CHECK_EQ(xcoro_status(r), XCORO_DONE);
    xcoro_destroy(s);
    xcoro_destroy(r);
    CHECK_EQ(xcoro_chan_destroy(ch), XCORO_OK);
  }
}

static void channel_errors_and_try(void) {
  xcoro_chan* ch = NULL;
  int v = 1, out = 0;
  CHECK_EQ(xcoro_chan_create(NULL, 4, 1, ex), XCORO_EINVAL);
  CHECK_EQ(xcoro_chan_create(&ch, 0, 1, ex), XCORO_EINVAL);
  CHECK_EQ(xcoro_chan_create(&ch, XCORO_CHAN_MAX_ELEM + 1, 1, ex), XCORO_EINVAL);
  /* A buffer that cannot exist: the allocation's std::bad_alloc is XCORO_ENOMEM. */
#if !TEST_UNDER_SANITIZER
  CHECK_EQ(xcoro_chan_create(&ch, sizeof(int), SIZE_MAX / 2, ex), XCORO_ENOMEM);
#endif
  CHECK(ch == NULL);
  CHECK_EQ(xcoro_chan_create(&ch, sizeof(int), 1, ex), XCORO_OK);
  CHECK_EQ(xcoro_chan_send(NULL, &v), XCORO_EINVAL);
  CHECK_EQ(xcoro_chan_send(ch, NULL), XCORO_EINVAL);
  CHECK_EQ(xcoro_chan_recv(NULL, &out), XCORO_EINVAL);
  CHECK_EQ(xcoro_chan_recv(ch, NULL), XCORO_EINVAL);
  CHECK_EQ(xcoro_chan_try_send(NULL, &v), XCORO_EINVAL);
  CHECK_EQ(xcoro_chan_try_recv(ch, NULL), XCORO_EINVAL);
  /* A plain executor runs no deadlines: a timeout needs a loop's. */
  CHECK_EQ(xcoro_chan_send_timeout(ch, &v, 10), XCORO_EINVAL);
  CHECK_EQ(xcoro_chan_recv_timeout(ch, &out, 10), XCORO_EINVAL);
  /* From root: what needs no wait works, what would wait is XCORO_EROOT. */
  CHECK_EQ(xcoro_chan_recv(ch, &out), XCORO_EROOT);
  CHECK_EQ(xcoro_chan_try_recv(ch, &out), XCORO_EAGAIN);
  CHECK_EQ(xcoro_chan_send(ch, &v), XCORO_OK);
  CHECK_EQ(xcoro_chan_size(ch), 1);
  v = 2;
  CHECK_EQ(xcoro_chan_send(ch, &v), XCORO_EROOT);
  CHECK_EQ(xcoro_chan_try_send(ch, &v), XCORO_EAGAIN);
  CHECK_EQ(xcoro_chan_closed(ch), 0);
  xcoro_chan_close(ch);
  xcoro_chan_close(ch); /* idempotent */
  CHECK_EQ(xcoro_chan_closed(ch), 1);
  CHECK_EQ(xcoro_chan_try_send(ch, &v), XCORO_ECLOSED);
  CHECK_EQ(xcoro_chan_send(ch, &v), XCORO_ECLOSED);
  CHECK_EQ(xcoro_chan_recv(ch, &out), XCORO_OK); /* buffered values outlive close */
  CHECK_EQ(out, 1);
  CHECK_EQ(xcoro_chan_recv(ch, &out), XCORO_ECLOSED);
  CHECK_EQ(xcoro_chan_try_recv(ch, &out), XCORO_ECLOSED);
  CHECK_EQ(xcoro_chan_closed(NULL), XCORO_EINVAL);
  CHECK_EQ(xcoro_chan_size(NULL), 0);
  CHECK_EQ(xcoro_chan_capacity(NULL), 0);
  xcoro_chan_close(NULL);
  CHECK_EQ(xcoro_chan_destroy(ch), XCORO_OK);
  CHECK_EQ(xcoro_chan_destroy(NULL), XCORO_OK);

  /* Buffered owned values left at destroy are freed with the channel (ASan: no leak). */
  CHECK_EQ(xcoro_chan_create(&ch, sizeof(message), 2, ex), XCORO_OK);
  {
    message m;
    memset(&m, 0, sizeof m);
    m.seq = 1;
    CHECK_EQ(xcoro_chan_try_send(ch, &m), XCORO_OK);
    CHECK_EQ(xcoro_chan_try_send(ch, &m), XCORO_OK);
  }
  CHECK_EQ(xcoro_chan_destroy(ch), XCORO_OK);
}

static void recv_one(void* arg) {
  chan_args* a = (chan_args*)arg;
  int v = 0;
  a->result = xcoro_chan_recv(a->ch, &v);
  a->sum = v;
}

static void send_one(void* arg) {
  chan_args* a = (chan_args*)arg;
  int v = a->n;
  a->result = xcoro_chan_send(a->ch, &v);
}

typedef struct third_args {
  xcoro_chan* ch;
  xcoro_coro* target;
  int did;
} third_args;

static void closer(void* arg) {
  third_args* t = (third_args*)arg;
  xcoro_chan_close(t->ch);
  t->did = 1;
}

static void canceller(void* arg) {
  third_args* t = (third_args*)arg;
  t->did = xcoro_cancel(t->target);
}

/* close from a third coroutine wakes the blocked receiver and sender; busy channels refuse
 * to be destroyed. */
static void close_wakes_everyone(void) {
  xcoro_chan* rch = NULL;
  xcoro_chan* sch = NULL;
  xcoro_coro* r = NULL;
  xcoro_coro* s = NULL;
  xcoro_coro* c1 = NULL;
  xcoro_coro* c2 = NULL;
  chan_args ra = {NULL, 0, 0, 0}, sa = {NULL, 5, 0, 0};
  third_args t1 = {NULL, NULL, 0}, t2 = {NULL, NULL, 0};
  CHECK_EQ(xcoro_chan_create(&rch, sizeof(int), 1, ex), XCORO_OK);
  CHECK_EQ(xcoro_chan_create(&sch, sizeof(int), 0, ex), XCORO_OK);
  ra.ch = rch;
  sa.ch = sch;
  CHECK_EQ(xcoro_async(&r, recv_one, &ra, 0), XCORO_OK);
  CHECK_EQ(xcoro_async(&s, send_one, &sa, 0), XCORO_OK);
  CHECK_EQ(xcoro_status(r), XCORO_SUSPENDED);
  CHECK_EQ(xcoro_status(s), XCORO_SUSPENDED);
  CHECK_EQ(xcoro_chan_destroy(rch), XCORO_EBUSY);
  CHECK_EQ(xcoro_chan_destroy(sch), XCORO_EBUSY);
  t1.ch = rch;
  t2.ch = sch;
  CHECK_EQ(xcoro_async(&c1, closer, &t1, 0), XCORO_OK);
  CHECK_EQ(xcoro_async(&c2, closer, &t2, 0), XCORO_OK);
  drain();
  CHECK_EQ(ra.result, XCORO_ECLOSED);
  CHECK_EQ(sa.result, XCORO_ECLOSED);
  CHECK_EQ(xcoro_chan_destroy(rch), XCORO_OK);
  CHECK_EQ(xcoro_chan_destroy(sch), XCORO_OK);
  xcoro_destroy(r);
  xcoro_destroy(s);
  xcoro_destroy(c1);
  xcoro_destroy(c2);
}

/* Destroying a coroutine that waits in a receive: its receive returns XCORO_ECANCELED and
 * it runs to its end, after which the channel is free again. */
static void destroy_waiting_coroutine(void) {
  xcoro_chan* ch = NULL;
  xcoro_coro* r = NULL;
  chan_args ra = {NULL, 0, 0, 0};
  CHECK_EQ(xcoro_chan_create(&ch, sizeof(int), 1, ex), XCORO_OK);
  ra.ch = ch;
  CHECK_EQ(xcoro_async(&r, recv_one, &ra, 0), XCORO_OK);
  CHECK_EQ(xcoro_chan_destroy(ch), XCORO_EBUSY);
  xcoro_destroy(r);
  CHECK_EQ(ra.result, XCORO_ECANCELED);
  CHECK_EQ(xcoro_chan_destroy(ch), XCORO_OK);
}

/* A waiter withdrawn by a cancel, whose entry another call unlinks before it runs (a
 * rendezvous partner skips it), still counts until its call returns: the channel refuses to
 * be destroyed under it. For a receiver and for a sender (whose call reads the channel
 * after its wait). */
static void withdrawn_waiter_keeps_channel_busy(void) {
  for (int sending = 0; sending <= 1; ++sending) {
    xcoro_chan* ch = NULL;
    xcoro_coro* c = NULL;
    chan_args a = {NULL, 9, 1, 0};
    int v = 0;
    CHECK_EQ(xcoro_chan_create(&ch, sizeof(int), 0, ex), XCORO_OK);
    a.ch = ch;
    CHECK_EQ(xcoro_async(&c, sending ? send_one : recv_one, &a, 0), XCORO_OK);
    CHECK_EQ(xcoro_status(c), XCORO_SUSPENDED);
    CHECK_EQ(xcoro_cancel(c), 1); /* withdrawn: woken, not run yet */
    if (sending) {
      CHECK_EQ(xcoro_chan_try_recv(ch, &v), XCORO_EAGAIN); /* skips and unlinks it */
    } else {
      CHECK_EQ(xcoro_chan_try_send(ch, &v), XCORO_EAGAIN);
    }
    CHECK_EQ(xcoro_chan_destroy(ch), XCORO_EBUSY);
    drain();
    CHECK_EQ(a.result, XCORO_ECANCELED);
    CHECK_EQ(xcoro_chan_destroy(ch), XCORO_OK);
    xcoro_destroy(c);
  }
}

/* ---- select ---- */

typedef struct select_args {
  xcoro_case cases[3];
  size_t n;
  int fired;
} select_args;

static void select_body(void* arg) {
  select_args* a = (select_args*)arg;
  a->fired = xcoro_select(a->cases, a->n, XCORO_FOREVER);
}

static void select_calls(void) {
  xcoro_chan* a = NULL;
  xcoro_chan* b = NULL;
  xcoro_coro* c = NULL;
  xcoro_coro* t = NULL;
  int va = 0, vb = 0, send_v = 42, out = 0;
  select_args sa;
  third_args ta = {NULL, NULL, 0};
  xcoro_case bad[XCORO_SELECT_MAX + 1];
  CHECK_EQ(xcoro_chan_create(&a, sizeof(int), 1, ex), XCORO_OK);
  CHECK_EQ(xcoro_chan_create(&b, sizeof(int), 1, ex), XCORO_OK);
  memset(&sa, 0, sizeof sa);
  sa.cases[0] = (xcoro_case){a, XCORO_RECV, &va, 99};
  sa.cases[1] = (xcoro_case){b, XCORO_RECV, &vb, 99};
  sa.n = 2;
  /* Nothing ready: try_select says so, select from root refuses to wait. */
  CHECK_EQ(xcoro_try_select(sa.cases, 2), XCORO_EAGAIN);
  CHECK_EQ(xcoro_select(sa.cases, 2, XCORO_FOREVER), XCORO_EROOT);
  /* A waiting select woken by a send on its second channel. */
  CHECK_EQ(xcoro_async(&c, select_body, &sa, 0), XCORO_OK);
  CHECK_EQ(xcoro_status(c), XCORO_SUSPENDED);
  CHECK_EQ(xcoro_chan_destroy(a), XCORO_EBUSY);
  send_v = 7;
  CHECK_EQ(xcoro_chan_send(b, &send_v), XCORO_OK);
  drain();
  CHECK_EQ(sa.fired, 1);
  CHECK_EQ(sa.cases[1].result, XCORO_OK);
  CHECK_EQ(vb, 7);
  CHECK_EQ(sa.cases[0].result, 99); /* untouched: it did not fire */
  xcoro_destroy(c);
  /* Ready at once, from root: the first ready case wins; a send case. */
  CHECK_EQ(xcoro_chan_send(a, &send_v), XCORO_OK);
  CHECK_EQ(xcoro_chan_send(b, &send_v), XCORO_OK);
  CHECK_EQ(xcoro_select(sa.cases, 2, 0), 0);
  CHECK_EQ(xcoro_try_select(sa.cases, 2), 1);
  {
    xcoro_case sc[2] = {{a, XCORO_RECV, &va, 99}, {b, XCORO_SEND, &send_v, 99}};
    send_v = 5;
    CHECK_EQ(xcoro_try_select(sc, 2), 1); /* a is empty, b has room */
    CHECK_EQ(sc[1].result, XCORO_OK);
    CHECK_EQ(xcoro_chan_try_recv(b, &out), XCORO_OK);
    CHECK_EQ(out, 5);
    /* A closed channel fires its case with XCORO_ECLOSED. */
    xcoro_chan_close(b);
    CHECK_EQ(xcoro_try_select(sc, 2), 1);
    CHECK_EQ(sc[1].result, XCORO_ECLOSED);
  }
  /* Cancel a waiting select from a third coroutine. */
  sa.cases[1] = (xcoro_case){a, XCORO_RECV, &vb, 99};
  CHECK_EQ(xcoro_async(&c, select_body, &sa, 0), XCORO_OK);
  CHECK_EQ(xcoro_status(c), XCORO_SUSPENDED);
  ta.target = c;
  CHECK_EQ(xcoro_async(&t, canceller, &ta, 0), XCORO_OK);
  CHECK_EQ(ta.did, 1);
  drain();
  CHECK_EQ(sa.fired, XCORO_ECANCELED);
  xcoro_destroy(c);
  xcoro_destroy(t);
  /* Malformed calls. */
  memset(bad, 0, sizeof bad);
  for (int i = 0; i < XCORO_SELECT_MAX + 1; ++i) {
    bad[i] = (xcoro_case){a, XCORO_RECV, &va, 0};
  }
  CHECK_EQ(xcoro_select(bad, 0, XCORO_FOREVER), XCORO_EINVAL);
  CHECK_EQ(xcoro_select(bad, XCORO_SELECT_MAX + 1, XCORO_FOREVER), XCORO_EINVAL);
  CHECK_EQ(xcoro_select(NULL, 1, XCORO_FOREVER), XCORO_EINVAL);
  CHECK_EQ(xcoro_select(bad, 1, 10), XCORO_EINVAL); /* no loop to run the deadline */
  bad[0].op = 3;
  CHECK_EQ(xcoro_try_select(bad, 1), XCORO_EINVAL);
  bad[0] = (xcoro_case){NULL, XCORO_RECV, &va, 0};
  CHECK_EQ(xcoro_try_select(bad, 1), XCORO_EINVAL);
  bad[0] = (xcoro_case){a, XCORO_RECV, NULL, 0};
  CHECK_EQ(xcoro_try_select(bad, 1), XCORO_EINVAL);
  CHECK_EQ(xcoro_try_select(bad + 1, XCORO_SELECT_MAX), XCORO_EAGAIN); /* eight cases */
  CHECK_EQ(xcoro_chan_destroy(a), XCORO_OK);
  CHECK_EQ(xcoro_chan_destroy(b), XCORO_OK);
}

/* Element bytes that differ at every offset and between elements. */
static void fill_element(unsigned char* p, size_t size, unsigned seed) {
  for (size_t i = 0; i < size; ++i) {
    p[i] = (unsigned char)(seed * 131u + i * 7u + 1u);
  }
}

static int element_is(const unsigned char* p, size_t size, unsigned seed) {
  for (size_t i = 0; i < size; ++i) {
    if (p[i] != (unsigned char)(seed * 131u + i * 7u + 1u)) {
      return 0;
    }
  }
  return 1;
}

typedef struct bytes_args {
  xcoro_chan* ch;
  unsigned char* buf;
  int result;
} bytes_args;

static void recv_bytes(void* arg) {
  bytes_args* a = (bytes_args*)arg;
  a->result = xcoro_chan_recv(a->ch, a->buf);
}

static void send_bytes(void* arg) {
  bytes_args* a = (bytes_args*)arg;
  a->result = xcoro_chan_send(a->ch, a->buf);
}

/* Every element size the copy treats apart (1-3, 4-7, 8-16, 17-32 bytes, then memcpy), each
 * byte carried, none written past the element, none read past the sender's buffer (ASan:
 * the buffers are exactly one element), FIFO order across the ring's wrap, and both ways of
 * a rendezvous (a waiting receiver handed a value, a waiting sender's value taken). */
static void channel_element_sizes(void) {
  static const size_t sizes[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 100,
                                 XCORO_CHAN_MAX_ELEM};
  enum { cap = 3, guard = 8 };
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; ++k) {
    size_t size = sizes[k];
    unsigned char* in = (unsigned char*)malloc(size);
    unsigned char* out = (unsigned char*)malloc(size + guard);
    xcoro_chan* ch = NULL;
    unsigned next_in = 0, next_out = 0;
    CHECK_EQ(xcoro_chan_create(&ch, size, cap, ex), XCORO_OK);
    memset(out + size, 0xAB, guard);
    /* Full, then three rounds of one out and one in: the ring wraps. */
    for (int i = 0; i < cap; ++i) {
      fill_element(in, size, next_in++);
      CHECK_EQ(xcoro_chan_try_send(ch, in), XCORO_OK);
    }
    fill_element(in, size, 99);
    CHECK_EQ(xcoro_chan_try_send(ch, in), XCORO_EAGAIN);
    for (int round = 0; round < 3; ++round) {
      CHECK_EQ(xcoro_chan_recv(ch, out), XCORO_OK);
      CHECK(element_is(out, size, next_out++));
      fill_element(in, size, next_in++);
      CHECK_EQ(xcoro_chan_send(ch, in), XCORO_OK);
    }
    CHECK_EQ(xcoro_chan_size(ch), cap);
    while (xcoro_chan_try_recv(ch, out) == XCORO_OK) {
      CHECK(element_is(out, size, next_out++));
    }
    CHECK_EQ(next_out, next_in);
    for (int i = 0; i < guard; ++i) {
      CHECK_EQ(out[size + i], 0xAB);
    }
    CHECK_EQ(xcoro_chan_destroy(ch), XCORO_OK);

    /* Rendezvous: a receiver waits and is handed the value; then a sender waits. */
    CHECK_EQ(xcoro_chan_create(&ch, size, 0, ex), XCORO_OK);
    {
      bytes_args ra = {ch, out, 1}, sa = {ch, in, 1};
      xcoro_coro* r = NULL;
      xcoro_coro* s = NULL;
      memset(out, 0, size);
      CHECK_EQ(xcoro_async(&r, recv_bytes, &ra, 0), XCORO_OK);
      fill_element(in, size, 7);
      CHECK_EQ(xcoro_chan_try_send(ch, in), XCORO_OK);
      fill_element(in, size, 8); /* the value was copied at the send */
      drain();
      CHECK_EQ(ra.result, XCORO_OK);
      CHECK(element_is(out, size, 7));
      CHECK_EQ(xcoro_async(&s, send_bytes, &sa, 0), XCORO_OK);
      CHECK_EQ(xcoro_status(s), XCORO_SUSPENDED);
      CHECK_EQ(xcoro_chan_try_recv(ch, out), XCORO_OK);
      CHECK(element_is(out, size, 8));
      drain();
      CHECK_EQ(sa.result, XCORO_OK);
      for (int i = 0; i < guard; ++i) {
        CHECK_EQ(out[size + i], 0xAB);
      }
      xcoro_destroy(r);
      xcoro_destroy(s);
    }
    CHECK_EQ(xcoro_chan_destroy(ch), XCORO_OK);
    free(in);
    free(out);
  }
}

/* The ring is part of the handle's block, from the handle allocator: one allocation per
 * channel, none per send or receive. */
static void channel_memory_is_one_block(void) {
  counting_hooks h;
  xcoro_allocator a = {counting_alloc, counting_dealloc, &h};
  xcoro_chan* ch = NULL;
  unsigned char v[1000];
  memset(&h, 0, sizeof h);
  memset(v, 5, sizeof v);
  CHECK_EQ(xcoro_set_allocator(&a), XCORO_OK);
  CHECK_EQ(xcoro_chan_create(&ch, sizeof v, 10, ex), XCORO_OK);
  CHECK_EQ(h.allocs, 1);
  CHECK(h.allocated_bytes >= 10 * sizeof v);
  for (int i = 0; i < 25; ++i) {
    CHECK_EQ(xcoro_chan_try_send(ch, v), XCORO_OK);
    CHECK_EQ(xcoro_chan_try_recv(ch, v), XCORO_OK);
  }
  CHECK_EQ(h.allocs, 1);
  CHECK_EQ(xcoro_chan_destroy(ch), XCORO_OK);
  CHECK_EQ(h.frees, 1);
  CHECK_EQ(h.freed_bytes, h.allocated_bytes);
  CHECK_EQ(xcoro_set_allocator(NULL), XCORO_OK);
}

typedef struct handed_args {
  xcoro_chan* ch;
  message sent;   /* what the third party hands over */
  message into;   /* where the receiver receives */
  int result;
  select_args sel;
  int with_select;
  int by_cxx_owner;
  xcoro_coro* c;
} handed_args;

static void recv_or_select(void* arg) {
  handed_args* a = (handed_args*)arg;
  if (a->with_select) {
    a->result = xcoro_select(a->sel.cases, 1, XCORO_FOREVER);
  } else {
    a->result = xcoro_chan_recv(a->ch, &a->into);
  }
}

static void hand_over(void* arg) {
  handed_args* a = (handed_args*)arg;
  CHECK_EQ(xcoro_chan_try_send(a->ch, &a->sent), XCORO_OK); /* to the waiter, not run yet */
  CHECK_EQ(xcoro_chan_size(a->ch), 0);
}

/* A rendezvous value handed to a waiting receiver (a receive, or a select's receive case)
 * whose coroutine is destroyed before it runs: by xcoro_destroy (cancelled and run to its
 * end) or by its C++ owner (unwound). The sender counted the value as delivered, so the
 * receiver returns it, or it goes back to the channel for the next one: never lost. Owned
 * payloads: ASan sees one lost or freed twice. */
static void rendezvous_value_survives_destroyed_receiver(void) {
  xcoro_chan* ch = NULL;
  CHECK_EQ(xcoro_chan_create(&ch, sizeof(message), 0, ex), XCORO_OK);
  for (int k = 0; k < 4; ++k) {
    handed_args a;
    message got;
    memset(&a, 0, sizeof a);
    a.ch = ch;
    a.with_select = k & 1;
    a.by_cxx_owner = k >> 1;
    a.result = 1;
    a.sent.text = owned_string("handed");
    a.sent.seq = 40 + k;
    a.sel.cases[0] = (xcoro_case){ch, XCORO_RECV, &a.into, 99};
    if (a.by_cxx_owner) {
      xcoro_test_run_then_unwind(recv_or_select, &a, hand_over, &a);
      /* Unwound in its wait: the value goes back. */
      CHECK_EQ(a.result, XCORO_ECANCELED);
    } else {
      CHECK_EQ(xcoro_async(&a.c, recv_or_select, &a, 0), XCORO_OK);
      CHECK_EQ(xcoro_status(a.c), XCORO_SUSPENDED);
      hand_over(&a);
      xcoro_destroy(a.c);
    }
    if (a.result == 0) { /* received (for the select: case 0 fired) */
      CHECK_EQ(a.into.seq, 40 + k);
      got = a.into;
      CHECK_EQ(xcoro_chan_size(ch), 0);
    } else {
      CHECK_EQ(a.result, XCORO_ECANCELED);
      CHECK_EQ(xcoro_chan_size(ch), 1);
      CHECK_EQ(xcoro_chan_try_recv(ch, &got), XCORO_OK);
    }
    CHECK_EQ(got.seq, 40 + k);
    CHECK(strcmp(got.text, "handed") == 0);
    free(got.text);
    CHECK_EQ(xcoro_chan_try_recv(ch, &got), XCORO_EAGAIN);
  }
  CHECK_EQ(xcoro_chan_destroy(ch), XCORO_OK);
}

/* ---- sync ---- */

typedef struct lock_args {
  xcoro_mutex* m;
  int id;
  int* log;
  int* nlog;
  int result;
} lock_args;

static void lock_log_unlock(void* arg) {
  lock_args* a = (lock_args*)arg;
  a->result = xcoro_mutex_lock(a->m);
  if (a->result != XCORO_OK) {
    return;
  }
  a->log[(*a->nlog)++] = a->id;
  xcoro_suspend(); /* hold it across a suspension */
  a->log[(*a->nlog)++] = a->id;
  CHECK_EQ(xcoro_mutex_unlock(a->m), XCORO_OK);
}

static void mutex_calls(void) {
  xcoro_mutex* m = NULL;
  xcoro_coro* c[3] = {NULL, NULL, NULL};
  int log[6], nlog = 0;
  lock_args la[3];
  CHECK_EQ(xcoro_mutex_create(NULL, ex), XCORO_EINVAL);
  CHECK_EQ(xcoro_mutex_create(&m, ex), XCORO_OK);
  CHECK_EQ(xcoro_mutex_lock(NULL), XCORO_EINVAL);
  CHECK_EQ(xcoro_mutex_try_lock(NULL), XCORO_EINVAL);
  CHECK_EQ(xcoro_mutex_unlock(NULL), XCORO_EINVAL);
  CHECK_EQ(xcoro_mutex_unlock(m), XCORO_EPERM); /* C++ aborts here */
  /* Root may take a free mutex, and is refused one that would need a wait. */
  CHECK_EQ(xcoro_mutex_lock(m), XCORO_OK);
  CHECK_EQ(xcoro_mutex_destroy(m), XCORO_EBUSY);
  CHECK_EQ(xcoro_mutex_lock(m), XCORO_EROOT);
  CHECK_EQ(xcoro_mutex_try_lock(m), XCORO_EAGAIN);
  CHECK_EQ(xcoro_mutex_unlock(m), XCORO_OK);
  /* Three coroutines hold it in turn, FIFO, each across a suspension. */
  for (int i = 0; i < 3; ++i) {
    la[i] = (lock_args){m, i + 1, log, &nlog, 99};
    CHECK_EQ(xcoro_async(&c[i], lock_log_unlock, &la[i], 0), XCORO_OK);
  }
  CHECK_EQ(xcoro_mutex_destroy(m), XCORO_EBUSY);
  CHECK_EQ(xcoro_mutex_unlock(m), XCORO_EPERM); /* root does not hold it */
  for (int round = 0; round < 3; ++round) {
    xcoro_resume(c[round]); /* the holder unlocks: the next one is woken */
    drain();
  }
  CHECK_EQ(nlog, 6);
  for (int i = 0; i < 6; ++i) {
    CHECK_EQ(log[i], i / 2 + 1);
  }
  for (int i = 0; i < 3; ++i) {
    CHECK_EQ(la[i].result, XCORO_OK);
    xcoro_destroy(c[i]);
  }
  CHECK_EQ(xcoro_mutex_destroy(m), XCORO_OK);
  CHECK_EQ(xcoro_mutex_destroy(NULL), XCORO_OK);
}

typedef struct sem_args {
  xcoro_sem* s;
  xcoro_wait_group* wg;
  int result;
} sem_args;

static void acquire_once(void* arg) {
  sem_args* a = (sem_args*)arg;
  a->result = xcoro_sem_acquire(a->s);
}

static void wait_for_group(void* arg) {
  sem_args* a = (sem_args*)arg;
  a->result = xcoro_wg_wait(a->wg);
}

static void semaphore_calls(void) {
  xcoro_sem* s = NULL;
  xcoro_coro* c = NULL;
  sem_args a = {NULL, NULL, 99};
  CHECK_EQ(xcoro_sem_create(NULL, 1, ex), XCORO_EINVAL);
  CHECK_EQ(xcoro_sem_create(&s, 1, ex), XCORO_OK);
  CHECK_EQ(xcoro_sem_acquire(NULL), XCORO_EINVAL);
  CHECK_EQ(xcoro_sem_try_acquire(NULL), XCORO_EINVAL);
  CHECK_EQ(xcoro_sem_release(NULL, 1), XCORO_EINVAL);
  CHECK_EQ(xcoro_sem_available(NULL), 0);
  CHECK_EQ(xcoro_sem_available(s), 1);
  CHECK_EQ(xcoro_sem_acquire(s), XCORO_OK); /* from root, without a wait */
  CHECK_EQ(xcoro_sem_acquire(s), XCORO_EROOT);
  CHECK_EQ(xcoro_sem_try_acquire(s), XCORO_EAGAIN);
  a.s = s;
  CHECK_EQ(xcoro_async(&c, acquire_once, &a, 0), XCORO_OK);
  CHECK_EQ(xcoro_status(c), XCORO_SUSPENDED);
  CHECK_EQ(xcoro_sem_destroy(s), XCORO_EBUSY);
  CHECK_EQ(xcoro_sem_release(s, 2), XCORO_OK);
  drain();
  CHECK_EQ(a.result, XCORO_OK);
  CHECK_EQ(xcoro_sem_available(s), 1);
  CHECK_EQ(xcoro_sem_try_acquire(s), XCORO_OK);
  xcoro_destroy(c);
  CHECK_EQ(xcoro_sem_destroy(s), XCORO_OK);
  CHECK_EQ(xcoro_sem_destroy(NULL), XCORO_OK);
}

static void wait_group_calls(void) {
  xcoro_wait_group* wg = NULL;
  xcoro_coro* c = NULL;
  sem_args a = {NULL, NULL, 99};
  CHECK_EQ(xcoro_wg_create(NULL, ex), XCORO_EINVAL);
  CHECK_EQ(xcoro_wg_create(&wg, ex), XCORO_OK);
  CHECK_EQ(xcoro_wg_add(NULL, 1), XCORO_EINVAL);
  CHECK_EQ(xcoro_wg_done(NULL), XCORO_EINVAL);
  CHECK_EQ(xcoro_wg_wait(NULL), XCORO_EINVAL);
  CHECK_EQ(xcoro_wg_count(NULL), 0);
  CHECK_EQ(xcoro_wg_done(wg), XCORO_EINVAL); /* C++ aborts: more done() than add() */
  CHECK_EQ(xcoro_wg_wait(wg), XCORO_OK);     /* count 0: no wait, root is fine */
  CHECK_EQ(xcoro_wg_add(wg, 2), XCORO_OK);
  CHECK_EQ(xcoro_wg_count(wg), 2);
  CHECK_EQ(xcoro_wg_wait(wg), XCORO_EROOT);
  a.wg = wg;
  CHECK_EQ(xcoro_async(&c, wait_for_group, &a, 0), XCORO_OK);
  CHECK_EQ(xcoro_wg_destroy(wg), XCORO_EBUSY);
  CHECK_EQ(xcoro_wg_done(wg), XCORO_OK);
  drain();
  CHECK_EQ(a.result, 99); /* one more to go */
  CHECK_EQ(xcoro_wg_done(wg), XCORO_OK);
  drain();
  CHECK_EQ(a.result, XCORO_OK);
  xcoro_destroy(c);
  CHECK_EQ(xcoro_wg_destroy(wg), XCORO_OK);
  CHECK_EQ(xcoro_wg_destroy(NULL), XCORO_OK);
}

/* ---- cancellation ---- */

typedef struct shield_args {
  xcoro_chan* ch;
  int requested_inside;
  int shielded_result;
  int after_result;
  int end_result;
} shield_args;

static void shielded_recv(void* arg) {
  shield_args* a = (shield_args*)arg;
  int v;
  xcoro_shield_begin();
  xcoro_suspend(); /* cancelled while suspended here */
  a->requested_inside = xcoro_cancel_requested();
  a->shielded_result = xcoro_chan_recv(a->ch, &v); /* waits as if not cancelled */
  a->end_result = xcoro_shield_end();
  a->after_result = xcoro_chan_recv(a->ch, &v);
}

static void cancel_and_shield(void) {
  xcoro_chan* ch = NULL;
  xcoro_coro* r = NULL;
  xcoro_coro* t = NULL;
  chan_args ra = {NULL, 0, 0, 0};
  third_args ta = {NULL, NULL, 0};
  shield_args sa = {NULL, 0, 99, 99, 99};
  int v = 3;
  CHECK_EQ(xcoro_cancel(NULL), XCORO_EINVAL);
  CHECK_EQ(xcoro_cancel_requested(), 0);
  xcoro_shield_begin();                      /* root: nothing */
  CHECK_EQ(xcoro_shield_end(), XCORO_OK);    /* root: nothing */
  CHECK_EQ(xcoro_chan_create(&ch, sizeof(int), 1, ex), XCORO_OK);
  /* A receiver cancelled by a third coroutine. */
  ra.ch = ch;
  CHECK_EQ(xcoro_async(&r, recv_one, &ra, 0), XCORO_OK);
  ta.target = r;
  CHECK_EQ(xcoro_async(&t, canceller, &ta, 0), XCORO_OK);
  CHECK_EQ(ta.did, 1);
  CHECK_EQ(xcoro_cancel(r), 0); /* already */
  drain();
  CHECK_EQ(ra.result, XCORO_ECANCELED);
  CHECK_EQ(xcoro_cancel(r), 0); /* finished */
  xcoro_destroy(r);
  xcoro_destroy(t);
  /* A shield holds the request back until it ends. */
  sa.ch = ch;
  CHECK_EQ(xcoro_async(&r, shielded_recv, &sa, 0), XCORO_OK);
  CHECK_EQ(xcoro_cancel(r), 1);
  xcoro_resume(r);
  CHECK_EQ(sa.requested_inside, 1);
  CHECK_EQ(xcoro_status(r), XCORO_SUSPENDED); /* waiting in the shielded receive */
  CHECK_EQ(xcoro_chan_send(ch, &v), XCORO_OK);
  drain();
  CHECK_EQ(sa.shielded_result, XCORO_OK);
  CHECK_EQ(sa.end_result, XCORO_OK);
  CHECK_EQ(sa.after_result, XCORO_ECANCELED);
  CHECK_EQ(xcoro_status(r), XCORO_DONE);
  xcoro_destroy(r);
  CHECK_EQ(xcoro_chan_destroy(ch), XCORO_OK);
}

static void unpaired_shield_end(void* arg) {
  *(int*)arg = xcoro_shield_end();
}

static void shield_errors(void) {
  xcoro_coro* c = NULL;
  int r = 0;
  CHECK_EQ(xcoro_async(&c, unpaired_shield_end, &r, 0), XCORO_OK);
  CHECK_EQ(r, XCORO_EINVAL);
  xcoro_destroy(c);
}

/* ---- task groups ---- */

typedef struct child_args {
  xcoro_chan* ch;
  int fail_with;
  int recv_result;
} child_args;

static int child(void* arg) {
  child_args* a = (child_args*)arg;
  int v;
  if (a->fail_with != 0) {
    return a->fail_with;
  }
  a->recv_result = xcoro_chan_recv(a->ch, &v);
  return a->recv_result == XCORO_OK ? 0 : a->recv_result;
}

static int throwing_child(void* arg) {
  (void)arg;
  xcoro_test_throw();
  return 0;
}

typedef struct group_owner_args {
  xcoro_group* g;
  child_args kids[3];
  int spawn_results[3];
  int wait_result;
  size_t size_after_spawn;
} group_owner_args;

static void group_owner(void* arg) {
  group_owner_args* a = (group_owner_args*)arg;
  for (int i = 0; i < 3; ++i) {
    a->spawn_results[i] = xcoro_group_spawn(a->g, child, &a->kids[i], 0);
  }
  a->size_after_spawn = xcoro_group_size(a->g);
  a->wait_result = xcoro_group_wait(a->g);
}

static void task_groups(void) {
  xcoro_group* g = NULL;
  xcoro_chan* ch = NULL;
  xcoro_coro* owner = NULL;
  group_owner_args a;
  int v = 1;
  CHECK_EQ(xcoro_group_create(NULL), XCORO_EINVAL);
  CHECK_EQ(xcoro_group_spawn(NULL, child, NULL, 0), XCORO_EINVAL);
  CHECK_EQ(xcoro_group_wait(NULL), XCORO_EINVAL);
  CHECK_EQ(xcoro_group_size(NULL), 0);
  xcoro_group_cancel(NULL);
  CHECK_EQ(xcoro_group_destroy(NULL), XCORO_OK);
  xcoro_init_env(ex, 0); /* the group's waits go through the env executor */
  CHECK_EQ(xcoro_chan_create(&ch, sizeof(int), 4, NULL), XCORO_OK);

  /* Three children; the third fails at once: its siblings are cancelled and wait gives
   * its error. */
  CHECK_EQ(xcoro_group_create(&g), XCORO_OK);
  CHECK_EQ(xcoro_group_spawn(g, NULL, NULL, 0), XCORO_EINVAL);
  memset(&a, 0, sizeof a);
  a.g = g;
  for (int i = 0; i < 3; ++i) {
    a.kids[i] = (child_args){ch, i == 2 ? XCORO_EUSER - 2 : 0, 99};
  }
  CHECK_EQ(xcoro_async(&owner, group_owner, &a, 0), XCORO_OK);
  drain();
  for (int i = 0; i < 3; ++i) {
    CHECK_EQ(a.spawn_results[i], XCORO_OK);
  }
  CHECK_EQ(a.size_after_spawn, 2);
  CHECK_EQ(a.kids[0].recv_result, XCORO_ECANCELED);
  CHECK_EQ(a.kids[1].recv_result, XCORO_ECANCELED);
  CHECK_EQ(a.wait_result, XCORO_EUSER - 2);
  CHECK_EQ(xcoro_status(owner), XCORO_DONE);
  xcoro_destroy(owner);
  CHECK_EQ(xcoro_group_destroy(g), XCORO_OK);

  /* Children that succeed; waited for from root, which runs the env executor. */
  CHECK_EQ(xcoro_group_create(&g), XCORO_OK);
  memset(&a, 0, sizeof a);
  for (int i = 0; i < 2; ++i) {
    a.kids[i] = (child_args){ch, 0, 99};
    CHECK_EQ(xcoro_group_spawn(g, child, &a.kids[i], 0), XCORO_OK);
  }
  CHECK_EQ(xcoro_group_size(g), 2);
  CHECK_EQ(xcoro_chan_send(ch, &v), XCORO_OK);
  CHECK_EQ(xcoro_chan_send(ch, &v), XCORO_OK);
  CHECK_EQ(xcoro_group_wait(g), XCORO_OK);
  CHECK_EQ(a.kids[0].recv_result, XCORO_OK);
  CHECK_EQ(a.kids[1].recv_result, XCORO_OK);
  CHECK_EQ(xcoro_group_size(g), 0);
  /* A C++ exception in a child is the group's failure. */
  CHECK_EQ(xcoro_group_spawn(g, throwing_child, NULL, 0), XCORO_OK);
  CHECK_EQ(xcoro_group_wait(g), XCORO_EEXCEPTION);
  /* Cancel, then destroy with a child still blocked: destroy cancels and waits for it. */
  a.kids[0] = (child_args){ch, 0, 99};
  CHECK_EQ(xcoro_group_spawn(g, child, &a.kids[0], 0), XCORO_OK);
  xcoro_group_cancel(g);
  CHECK_EQ(xcoro_group_destroy(g), XCORO_OK);
  CHECK_EQ(a.kids[0].recv_result, XCORO_ECANCELED);

  /* Nothing can wake a blocked child from root without an executor: a deadlock, and the
   * group stays. */
  xcoro_init_env(NULL, 0);
  CHECK_EQ(xcoro_group_create(&g), XCORO_OK);
  {
    xcoro_chan* quiet = NULL;
    CHECK_EQ(xcoro_chan_create(&quiet, sizeof(int), 1, ex), XCORO_OK);
    a.kids[0] = (child_args){quiet, 0, 99};
    CHECK_EQ(xcoro_group_spawn(g, child, &a.kids[0], 0), XCORO_OK);
    CHECK_EQ(xcoro_group_wait(g), XCORO_EDEADLOCK);
    xcoro_init_env(ex, 0);
    CHECK_EQ(xcoro_group_destroy(g), XCORO_OK);
    CHECK_EQ(a.kids[0].recv_result, XCORO_ECANCELED);
    CHECK_EQ(xcoro_chan_destroy(quiet), XCORO_OK);
  }
  xcoro_init_env(NULL, 0);
  CHECK_EQ(xcoro_chan_destroy(ch), XCORO_OK);
}

int main(int argc, char** argv) {
  static const check_test tests[] = {
      {"version_and_errors", version_and_errors},
      {"create_errors", create_errors},
      {"resume_errors", resume_errors},
      {"cxx_and_c_switches_mix", cxx_and_c_switches_mix},
      {"stack_on_caller_memory", stack_on_caller_memory},
      {"stack_allocator_hooks", stack_allocator_hooks},
      {"handle_allocator_hooks", handle_allocator_hooks},
      {"running_and_self", running_and_self},
      {"resume_from_another_thread", resume_from_another_thread},
      {"accessors", accessors},
      {"destroy_releases_without_resuming", destroy_releases_without_resuming},
      {"fail_and_outcomes", fail_and_outcomes},
      {"exception_becomes_outcome", exception_becomes_outcome},
      {"destroy_misuse_aborts", destroy_misuse_aborts},
      {"suspend_block_errors", suspend_block_errors},
      {"generator_of_owned_strings", generator_of_owned_strings},
      {"generator_errors", generator_errors},
      {"executor_calls", executor_calls},
      {"channel_switch_counts", channel_switch_counts},
      {"channel_of_large_owned_values", channel_of_large_owned_values},
      {"channel_errors_and_try", channel_errors_and_try},
      {"close_wakes_everyone", close_wakes_everyone},
      {"destroy_waiting_coroutine", destroy_waiting_coroutine},
      {"withdrawn_waiter_keeps_channel_busy", withdrawn_waiter_keeps_channel_busy},
      {"select_calls", select_calls},
      {"channel_element_sizes", channel_element_sizes},
      {"channel_memory_is_one_block", channel_memory_is_one_block},
      {"rendezvous_value_survives_destroyed_receiver",
       rendezvous_value_survives_destroyed_receiver},
      {"mutex_calls", mutex_calls},
      {"semaphore_calls", semaphore_calls},
      {"wait_group_calls", wait_group_calls},
      {"cancel_and_shield", cancel_and_shield},
      {"shield_errors", shield_errors},
      {"task_groups", task_groups},
  };
  int r;
  if (xcoro_executor_create(&ex) != XCORO_OK) {
    return 1;
  }
  r = check_run(tests, sizeof tests / sizeof tests[0], argc, argv);
  xcoro_executor_destroy(ex);
  return r;
}
