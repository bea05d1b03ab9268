/* The C API of xcoro: coroutines, generators, the executor, channels and select, sync
 * primitives, cancellation and task groups, the aio loop and the runtime, for C11 and for
 * anything that calls C. docs/c-api.md describes every call; this header states each
 * one's contract briefly.
 *
 * Rules for every call: 0 (or a count, or a status) is success, a negative XCORO_E... code
 * is failure, and xcoro_strerror() names each code. No C++ exception crosses this header.
 * Each *_create gives the caller a handle it owns until the matching *_destroy (or
 * *_close); destroy functions accept NULL. Objects belong to the thread that made them
 * (inside a runtime, to all its workers). */
#ifndef XCORO_XCORO_H
#define XCORO_XCORO_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define XCORO_C_API
#else
#define XCORO_C_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
#define XCORO_C_NOEXCEPT noexcept
extern "C" {
#else
#define XCORO_C_NOEXCEPT
#endif

/* ---- Version ------------------------------------------------------------------------ */

#define XCORO_VERSION_MAJOR 0
#define XCORO_VERSION_MINOR 1
#define XCORO_VERSION_PATCH 0
/** Changes whenever a handle's or struct's layout or a call's meaning changes. */
#define XCORO_ABI_VERSION 1

/** The library's version: (major << 16) | (minor << 8) | patch. */
XCORO_C_API unsigned xcoro_version(void) XCORO_C_NOEXCEPT;
/** The library's XCORO_ABI_VERSION; compare it with the one compiled against. */
XCORO_C_API unsigned xcoro_abi_version(void) XCORO_C_NOEXCEPT;

/* ---- Errors ------------------------------------------------------------------------- */

#define XCORO_OK 0
#define XCORO_EINVAL (-1)
#define XCORO_ENOMEM (-2)
#define XCORO_ESTACK_TOO_SMALL (-3)
#define XCORO_ESTACK_OVERFLOW (-4)
#define XCORO_EDONE (-5)
#define XCORO_ERUNNING (-6)
#define XCORO_ETHREAD (-7)
#define XCORO_EROOT (-8)
#define XCORO_ENOTGEN (-9)
#define XCORO_ECLOSED (-10)
#define XCORO_ECANCELED (-11)
#define XCORO_ETIMEDOUT (-12)
#define XCORO_EAGAIN (-13)
#define XCORO_EDEADLOCK (-14)
#define XCORO_EEOF (-15)
#define XCORO_EEXCEPTION (-16)
#define XCORO_EPERM (-17)
#define XCORO_EBUSY (-18)
#define XCORO_ENORUNTIME (-19)
/** The OS error errno == e, as a code. */
#define XCORO_ERRNO(e) (-(1000 + (e)))
/** User codes (coroutine outcomes, task results) are at or below this. */
#define XCORO_EUSER (-100000)

/** A static text for any int, never NULL ("unknown error" for codes xcoro never makes). */
XCORO_C_API const char* xcoro_strerror(int err) XCORO_C_NOEXCEPT;
/** The errno value carried by XCORO_ERRNO(e), else 0. */
XCORO_C_API int xcoro_errno(int err) XCORO_C_NOEXCEPT;

/** Timeouts in milliseconds: XCORO_FOREVER waits without one. */
#define XCORO_FOREVER ((int64_t)-1)

/* ---- Coroutines --------------------------------------------------------------------- */

typedef struct xcoro_coro xcoro_coro;
typedef struct xcoro_executor xcoro_executor;

/** xcoro_status values; distinct. */
#define XCORO_START 0
#define XCORO_RUNNING 1
#define XCORO_SUSPENDED 2
#define XCORO_DONE 3

/** Creates a coroutine for fn(arg) on a stack of stack_size bytes (0: the env default)
 *  without starting it. *out is set on success only. XCORO_EINVAL (out or fn NULL),
 *  XCORO_ESTACK_TOO_SMALL, XCORO_ENOMEM. The caller owns it until xcoro_destroy. */
XCORO_C_API int xcoro_create(xcoro_coro** out, void (*fn)(void* arg), void* arg,
                             size_t stack_size) XCORO_C_NOEXCEPT;
/** As xcoro_create, with a yield slot of yield_size and an inject slot of inject_size bytes
 *  in the coroutine's stack: a generator (xcoro_yield, xcoro_next). */
XCORO_C_API int xcoro_create_gen(xcoro_coro** out, void (*fn)(void* arg), void* arg,
                                 size_t stack_size, size_t yield_size,
                                 size_t inject_size) XCORO_C_NOEXCEPT;
/** The alignment of a stack given to xcoro_create_on_stack, and of what an allocator's
 *  alloc hook returns. */
#define XCORO_STACK_ALIGN 16
/** As xcoro_create, on the caller's memory [stack, stack + stack_size) instead of a stack
 *  from the allocator. The memory stays the caller's: xcoro neither frees it nor puts a
 *  guard page below it, and it must stay valid and otherwise unused until xcoro_destroy
 *  returns. XCORO_EINVAL (out, fn or stack NULL, stack not XCORO_STACK_ALIGN-aligned),
 *  XCORO_ESTACK_TOO_SMALL (too small for the coroutine's record and a first frame). */
XCORO_C_API int xcoro_create_on_stack(xcoro_coro** out, void (*fn)(void* arg), void* arg,
                                      void* stack, size_t stack_size) XCORO_C_NOEXCEPT;

/** Allocation hooks: alloc returns size bytes aligned to align (a power of two) or NULL;
 *  dealloc gives back what alloc returned, with the same size. user is passed to both. */
typedef struct xcoro_allocator {
  void* (*alloc)(void* user, size_t size, size_t align);
  void (*dealloc)(void* user, void* p, size_t size);
  void* user;
} xcoro_allocator;
/** Takes the stacks the calling thread makes from now on (xcoro_create, xcoro_create_gen,
 *  xcoro_async, xcoro_spawn, task group children, xcoro_run) from a's hooks, copied; NULL
 *  goes back to the default allocator. Each stack goes back to the hooks that gave it,
 *  possibly on another thread (a runtime's), so they must stay callable until every
 *  coroutine made under them is destroyed. XCORO_EINVAL if a hook is NULL, XCORO_ENOMEM. */
XCORO_C_API int xcoro_set_stack_allocator(const xcoro_allocator* a) XCORO_C_NOEXCEPT;
/** Takes the handles the calling thread creates from now on (channels, sync objects, task
 *  groups, loops, sockets, files, processes, notifications, runtimes; not executors) from
 *  a's hooks, copied, with align 16; NULL goes back to operator new. Each handle goes back
 *  to the hooks that gave it at its *_destroy, possibly on another thread, so they must
 *  stay callable until then. XCORO_EINVAL if a hook is NULL, XCORO_ENOMEM. */
XCORO_C_API int xcoro_set_allocator(const xcoro_allocator* a) XCORO_C_NOEXCEPT;
/** xcoro_create, then resumes it at once, up to its first suspend (zigcoro xasync). */
XCORO_C_API int xcoro_async(xcoro_coro** out, void (*fn)(void* arg), void* arg,
                            size_t stack_size) XCORO_C_NOEXCEPT;
/** Switches into c until it suspends or finishes. XCORO_EDONE (finished), XCORO_ERUNNING
 *  (running, or waiting in a resume of another coroutine), XCORO_ETHREAD (another thread's),
 *  XCORO_EINVAL. Resuming the caller itself is a no-op. */
XCORO_C_API int xcoro_resume(xcoro_coro* c) XCORO_C_NOEXCEPT;
/** Switches back to the most recent resumer; 0 once resumed. XCORO_EROOT in root,
 *  XCORO_ESTACK_OVERFLOW (without suspending) if the stack canary was overwritten. */
XCORO_C_API int xcoro_suspend(void) XCORO_C_NOEXCEPT;
/** Suspends; fn(ctx) then runs on the resumer's side right after the switch and may resume
 *  this coroutine (Zig's suspend {}). XCORO_EROOT in root, XCORO_EINVAL if fn is NULL. */
XCORO_C_API int xcoro_suspend_block(void (*fn)(void* ctx), void* ctx) XCORO_C_NOEXCEPT;
/** Suspends the caller until c finishes; returns c's outcome (0, the code c gave
 *  xcoro_fail, XCORO_EEXCEPTION). In root: the outcome if c has finished, else XCORO_EROOT. */
XCORO_C_API int xcoro_await(xcoro_coro* c) XCORO_C_NOEXCEPT;
/** XCORO_START, XCORO_RUNNING, XCORO_SUSPENDED or XCORO_DONE; XCORO_EINVAL for NULL. */
XCORO_C_API int xcoro_status(const xcoro_coro* c) XCORO_C_NOEXCEPT;
/** Frees c and its stack. A coroutine suspended in xcoro_suspend or xcoro_yield is released
 *  without being resumed (nothing on its stack is cleaned up); one waiting in a blocking
 *  call is cancelled and resumed until it returns. Aborts for a running coroutine, the
 *  root handle, another thread's coroutine, or one not made by this API. */
XCORO_C_API void xcoro_destroy(xcoro_coro* c) XCORO_C_NOEXCEPT;
/** Inside a coroutine made by this API: records err (negative) as its outcome. */
XCORO_C_API void xcoro_fail(int err) XCORO_C_NOEXCEPT;
/** The running coroutine; the thread's root handle in root. Never NULL. */
XCORO_C_API xcoro_coro* xcoro_self(void) XCORO_C_NOEXCEPT;
/** 1 inside a coroutine, 0 in root. */
XCORO_C_API int xcoro_in_coro(void) XCORO_C_NOEXCEPT;
/** The coroutine-local user pointer (zigcoro storage); NULL until set. */
XCORO_C_API void xcoro_set_storage(xcoro_coro* c, void* p) XCORO_C_NOEXCEPT;
XCORO_C_API void* xcoro_storage(const xcoro_coro* c) XCORO_C_NOEXCEPT;
/** Root is 0; then 1, 2, ... per thread. */
XCORO_C_API uint64_t xcoro_id(const xcoro_coro* c) XCORO_C_NOEXCEPT;
/** Times control switched into c. */
XCORO_C_API uint64_t xcoro_invocation(const xcoro_coro* c) XCORO_C_NOEXCEPT;
/** Copies name (truncated to 31 bytes) into c; it appears in xcoro's messages. */
XCORO_C_API void xcoro_set_name(xcoro_coro* c, const char* name) XCORO_C_NOEXCEPT;
/** c's name, "" unless set; valid as long as c. */
XCORO_C_API const char* xcoro_name(const xcoro_coro* c) XCORO_C_NOEXCEPT;
/** Bytes left below the caller's frame on its coroutine stack; 0 in root. */
XCORO_C_API size_t xcoro_remaining_stack(void) XCORO_C_NOEXCEPT;
/** Sets this thread's env: the executor channels and sync objects made with NULL use, and
 *  the default stack size (0: 64 KiB). */
XCORO_C_API void xcoro_init_env(xcoro_executor* ex, size_t default_stack_size) XCORO_C_NOEXCEPT;

/* ---- Generators --------------------------------------------------------------------- */

/** xcoro_next's non-error results. */
#define XCORO_YIELDED 0
#define XCORO_RETURNED 1

/** Inside a generator: copies yield_size bytes from value and suspends; once resumed by
 *  xcoro_next, copies the injected inject_size bytes to injected (may be NULL when
 *  inject_size is 0). XCORO_EROOT, XCORO_ENOTGEN, XCORO_EINVAL. */
XCORO_C_API int xcoro_yield(const void* value, void* injected) XCORO_C_NOEXCEPT;
/** Copies inject into g's slot (ignored on the first call), resumes g, and returns
 *  XCORO_YIELDED with the yielded value in out, XCORO_RETURNED if g finished instead, g's
 *  negative outcome if it finished with one, or a resume error. */
XCORO_C_API int xcoro_next(xcoro_coro* g, const void* inject, void* out) XCORO_C_NOEXCEPT;

/* ---- Executor ----------------------------------------------------------------------- */

/** A caller-owned queue node; the executor links it until fn(userdata) has run. */
typedef struct xcoro_func {
  void (*fn)(void* userdata);
  void* userdata;
  struct xcoro_func* next;
} xcoro_func;

XCORO_C_API int xcoro_executor_create(xcoro_executor** out) XCORO_C_NOEXCEPT;
XCORO_C_API void xcoro_executor_destroy(xcoro_executor* ex) XCORO_C_NOEXCEPT;
/** Appends f to the FIFO ready queue. XCORO_EINVAL if ex, f or f->fn is NULL. */
XCORO_C_API int xcoro_executor_run_soon(xcoro_executor* ex, xcoro_func* f) XCORO_C_NOEXCEPT;
/** Runs a snapshot of the ready queue; 1 if anything ran, 0 if not, XCORO_EINVAL. */
XCORO_C_API int xcoro_executor_tick(xcoro_executor* ex) XCORO_C_NOEXCEPT;
/** 1 if the ready queue is empty, 0 if not, XCORO_EINVAL. */
XCORO_C_API int xcoro_executor_empty(const xcoro_executor* ex) XCORO_C_NOEXCEPT;

/* ---- Channels and select ------------------------------------------------------------ */

typedef struct xcoro_chan xcoro_chan;

/** The largest element size, in bytes. */
#define XCORO_CHAN_MAX_ELEM 65536

/** A channel of elem_size-byte values (1..XCORO_CHAN_MAX_ELEM), capacity buffered (0:
 *  rendezvous), waking through ex (NULL: the env executor). */
XCORO_C_API int xcoro_chan_create(xcoro_chan** out, size_t elem_size, size_t capacity,
                                  xcoro_executor* ex) XCORO_C_NOEXCEPT;
/** XCORO_EBUSY (nothing destroyed) while coroutines wait on ch; buffered values go. */
XCORO_C_API int xcoro_chan_destroy(xcoro_chan* ch) XCORO_C_NOEXCEPT;
/** Copies *value in, suspending while full. XCORO_ECLOSED, XCORO_ECANCELED, XCORO_EROOT. */
XCORO_C_API int xcoro_chan_send(xcoro_chan* ch, const void* value) XCORO_C_NOEXCEPT;
/** As send, XCORO_ETIMEDOUT after timeout_ms (the executor must be a loop's). */
XCORO_C_API int xcoro_chan_send_timeout(xcoro_chan* ch, const void* value,
                                        int64_t timeout_ms) XCORO_C_NOEXCEPT;
/** Never suspends: XCORO_EAGAIN if full (no receiver waits, for capacity 0), XCORO_ECLOSED. */
XCORO_C_API int xcoro_chan_try_send(xcoro_chan* ch, const void* value) XCORO_C_NOEXCEPT;
/** Copies the next value to out, suspending while empty and open. XCORO_ECLOSED once
 *  closed and drained, XCORO_ECANCELED, XCORO_EROOT. */
XCORO_C_API int xcoro_chan_recv(xcoro_chan* ch, void* out) XCORO_C_NOEXCEPT;
/** As recv, XCORO_ETIMEDOUT after timeout_ms (the executor must be a loop's). */
XCORO_C_API int xcoro_chan_recv_timeout(xcoro_chan* ch, void* out,
                                        int64_t timeout_ms) XCORO_C_NOEXCEPT;
/** Never suspends: XCORO_EAGAIN if nothing can be received now, XCORO_ECLOSED if closed and
 *  drained. */
XCORO_C_API int xcoro_chan_try_recv(xcoro_chan* ch, void* out) XCORO_C_NOEXCEPT;
/** Closes ch and wakes every waiter. Idempotent. */
XCORO_C_API void xcoro_chan_close(xcoro_chan* ch) XCORO_C_NOEXCEPT;
/** 1 once closed, 0 if not, XCORO_EINVAL. */
XCORO_C_API int xcoro_chan_closed(const xcoro_chan* ch) XCORO_C_NOEXCEPT;
/** Values buffered. */
XCORO_C_API size_t xcoro_chan_size(const xcoro_chan* ch) XCORO_C_NOEXCEPT;
XCORO_C_API size_t xcoro_chan_capacity(const xcoro_chan* ch) XCORO_C_NOEXCEPT;

#define XCORO_SEND 1
#define XCORO_RECV 2
/** The most cases one select takes. */
#define XCORO_SELECT_MAX 8

/** One case of a select: op is XCORO_SEND (value is what to send) or XCORO_RECV (value is
 *  where the received value goes). result is set for the case that fired: 0, or
 *  XCORO_ECLOSED when it fired because the channel is closed (nothing sent or received). */
typedef struct xcoro_case {
  xcoro_chan* chan;
  int op;
  void* value;
  int result;
} xcoro_case;

/** Waits until a case can proceed, performs the first ready one and returns its index.
 *  XCORO_ETIMEDOUT, XCORO_ECANCELED, XCORO_EROOT, XCORO_EINVAL (n is 0 or above
 *  XCORO_SELECT_MAX, a case is malformed). */
XCORO_C_API int xcoro_select(xcoro_case* cases, size_t n, int64_t timeout_ms) XCORO_C_NOEXCEPT;
/** Never suspends: the index of the case performed, or XCORO_EAGAIN. */
XCORO_C_API int xcoro_try_select(xcoro_case* cases, size_t n) XCORO_C_NOEXCEPT;

/* ---- Sync --------------------------------------------------------------------------- */

typedef struct xcoro_mutex xcoro_mutex;
typedef struct xcoro_sem xcoro_sem;
typedef struct xcoro_wait_group xcoro_wait_group;

XCORO_C_API int xcoro_mutex_create(xcoro_mutex** out, xcoro_executor* ex) XCORO_C_NOEXCEPT;
/** XCORO_EBUSY (nothing destroyed) while held or waited on. */
XCORO_C_API int xcoro_mutex_destroy(xcoro_mutex* m) XCORO_C_NOEXCEPT;
/** Suspends until the caller holds m. XCORO_ECANCELED, XCORO_EROOT. */
XCORO_C_API int xcoro_mutex_lock(xcoro_mutex* m) XCORO_C_NOEXCEPT;
/** 0 if taken now, XCORO_EAGAIN if not. */
XCORO_C_API int xcoro_mutex_try_lock(xcoro_mutex* m) XCORO_C_NOEXCEPT;
/** Hands m to the first waiter. XCORO_EPERM if the caller does not hold it. */
XCORO_C_API int xcoro_mutex_unlock(xcoro_mutex* m) XCORO_C_NOEXCEPT;

XCORO_C_API int xcoro_sem_create(xcoro_sem** out, size_t initial,
                                 xcoro_executor* ex) XCORO_C_NOEXCEPT;
/** XCORO_EBUSY (nothing destroyed) while waited on. */
XCORO_C_API int xcoro_sem_destroy(xcoro_sem* s) XCORO_C_NOEXCEPT;
/** Suspends until a permit is taken. XCORO_ECANCELED, XCORO_EROOT. */
XCORO_C_API int xcoro_sem_acquire(xcoro_sem* s) XCORO_C_NOEXCEPT;
/** 0 if a permit was taken now, XCORO_EAGAIN if not. */
XCORO_C_API int xcoro_sem_try_acquire(xcoro_sem* s) XCORO_C_NOEXCEPT;
XCORO_C_API int xcoro_sem_release(xcoro_sem* s, size_t n) XCORO_C_NOEXCEPT;
XCORO_C_API size_t xcoro_sem_available(const xcoro_sem* s) XCORO_C_NOEXCEPT;

XCORO_C_API int xcoro_wg_create(xcoro_wait_group** out, xcoro_executor* ex) XCORO_C_NOEXCEPT;
/** XCORO_EBUSY (nothing destroyed) while waited on. */
XCORO_C_API int xcoro_wg_destroy(xcoro_wait_group* wg) XCORO_C_NOEXCEPT;
XCORO_C_API int xcoro_wg_add(xcoro_wait_group* wg, size_t n) XCORO_C_NOEXCEPT;
/** XCORO_EINVAL when the count is already 0. */
XCORO_C_API int xcoro_wg_done(xcoro_wait_group* wg) XCORO_C_NOEXCEPT;
/** Suspends until the count is 0. XCORO_ECANCELED, XCORO_EROOT (unless the count is 0). */
XCORO_C_API int xcoro_wg_wait(xcoro_wait_group* wg) XCORO_C_NOEXCEPT;
XCORO_C_API size_t xcoro_wg_count(const xcoro_wait_group* wg) XCORO_C_NOEXCEPT;

/* ---- Cancellation and task groups --------------------------------------------------- */

/** Requests that c and what it started stop: their blocking calls return XCORO_ECANCELED.
 *  1 if requested now, 0 if c has finished or was cancelled already, XCORO_EINVAL. */
XCORO_C_API int xcoro_cancel(xcoro_coro* c) XCORO_C_NOEXCEPT;
/** 1 if the running coroutine was cancelled (shielded or not), 0 if not or in root. */
XCORO_C_API int xcoro_cancel_requested(void) XCORO_C_NOEXCEPT;
/** Until the matching xcoro_shield_end, the running coroutine's blocking calls behave as if
 *  no cancel was requested. Nests. Does nothing in root. */
XCORO_C_API void xcoro_shield_begin(void) XCORO_C_NOEXCEPT;
/** XCORO_EINVAL without a matching xcoro_shield_begin in this coroutine. */
XCORO_C_API int xcoro_shield_end(void) XCORO_C_NOEXCEPT;

typedef struct xcoro_group xcoro_group;

XCORO_C_API int xcoro_group_create(xcoro_group** out) XCORO_C_NOEXCEPT;
/** Starts fn(arg) as a child, at once up to its first suspend. A negative result of fn is
 *  the child's error: it cancels the siblings. XCORO_ESTACK_TOO_SMALL, XCORO_ENOMEM. */
XCORO_C_API int xcoro_group_spawn(xcoro_group* g, int (*fn)(void* arg), void* arg,
                                  size_t stack_size) XCORO_C_NOEXCEPT;
/** Waits for every child: 0, the first child error other than XCORO_ECANCELED, or
 *  XCORO_ECANCELED. From root it runs the env executor meanwhile: XCORO_EDEADLOCK if
 *  nothing there can finish the children. */
XCORO_C_API int xcoro_group_wait(xcoro_group* g) XCORO_C_NOEXCEPT;
/** Cancels every child still running. */
XCORO_C_API void xcoro_group_cancel(xcoro_group* g) XCORO_C_NOEXCEPT;
/** Children not yet finished. */
XCORO_C_API size_t xcoro_group_size(const xcoro_group* g) XCORO_C_NOEXCEPT;
/** Cancels the children still running and waits for them, then frees g. XCORO_EDEADLOCK
 *  (and nothing is destroyed) when that wait deadlocks. */
XCORO_C_API int xcoro_group_destroy(xcoro_group* g) XCORO_C_NOEXCEPT;

/* ---- aio and the runtime (Linux; absent from Windows builds) ------------------------ */

#if !defined(_WIN32)

/** An aio loop with its executor. */
typedef struct xcoro_loop xcoro_loop;
typedef struct xcoro_tcp xcoro_tcp;
typedef struct xcoro_udp xcoro_udp;
typedef struct xcoro_file xcoro_file;
typedef struct xcoro_process xcoro_process;
typedef struct xcoro_notification xcoro_notification;
typedef struct xcoro_runtime xcoro_runtime;

/** An IPv4 or IPv6 address and port, by value. */
typedef struct xcoro_endpoint {
  uint64_t opaque[5];
} xcoro_endpoint;

#define XCORO_BACKEND_AUTO 0
#define XCORO_BACKEND_IO_URING 1
#define XCORO_BACKEND_EPOLL 2

/* In every call below, a NULL loop means the env loop (xcoro_loop_init_env); XCORO_EINVAL
 * if there is none. Each call suspends the calling coroutine, or pumps the loop when made
 * from root. timeout_ms: XCORO_FOREVER, or XCORO_ETIMEDOUT after that long (the object
 * stays usable). OS errors are XCORO_ERRNO(e). */

/** A loop on `backend` (XCORO_BACKEND_*; the XCORO_BACKEND environment variable is
 *  honoured for AUTO). */
XCORO_C_API int xcoro_loop_create(xcoro_loop** out, int backend) XCORO_C_NOEXCEPT;
/** Frees the loop; its sockets, files and notifications must be closed first. */
XCORO_C_API void xcoro_loop_destroy(xcoro_loop* l) XCORO_C_NOEXCEPT;
/** The backend in use: XCORO_BACKEND_IO_URING or XCORO_BACKEND_EPOLL. */
XCORO_C_API int xcoro_loop_backend(const xcoro_loop* l) XCORO_C_NOEXCEPT;
/** The loop's plain executor, for channels and sync objects that need deadlines. */
XCORO_C_API xcoro_executor* xcoro_loop_executor(xcoro_loop* l) XCORO_C_NOEXCEPT;
/** Makes l this thread's env loop (and its executor the env executor); NULL clears it. */
XCORO_C_API void xcoro_loop_init_env(xcoro_loop* l) XCORO_C_NOEXCEPT;
/** Runs fn(arg) in a new coroutine to completion, pumping the loop; returns fn's result,
 *  or XCORO_EDEADLOCK when nothing can make progress, XCORO_EEXCEPTION. */
XCORO_C_API int xcoro_run(xcoro_loop* l, int (*fn)(void* arg), void* arg,
                          size_t stack_size) XCORO_C_NOEXCEPT;
/** Sleeps at least ms milliseconds. */
XCORO_C_API int xcoro_sleep(xcoro_loop* l, int64_t ms) XCORO_C_NOEXCEPT;
/** Runs fn(arg) as a child cancelled at the deadline: fn's result, or XCORO_ETIMEDOUT if
 *  the deadline cancelled it. Needs the env loop. */
XCORO_C_API int xcoro_with_timeout(int64_t timeout_ms, int (*fn)(void* arg),
                                   void* arg) XCORO_C_NOEXCEPT;

/** "127.0.0.1:8080", "[::1]:0". XCORO_EINVAL if malformed. */
XCORO_C_API int xcoro_endpoint_parse(xcoro_endpoint* out, const char* text) XCORO_C_NOEXCEPT;
XCORO_C_API int xcoro_endpoint_port(const xcoro_endpoint* e) XCORO_C_NOEXCEPT;
/** Writes the text form and its NUL to buf; its length, or XCORO_EINVAL if len is short. */
XCORO_C_API int xcoro_endpoint_format(const xcoro_endpoint* e, char* buf,
                                      size_t len) XCORO_C_NOEXCEPT;

/** A new TCP socket of family_of's address family. Closed by xcoro_tcp_close. */
XCORO_C_API int xcoro_tcp_open(xcoro_tcp** out, xcoro_loop* l,
                               const xcoro_endpoint* family_of) XCORO_C_NOEXCEPT;
/** Binds with SO_REUSEADDR. */
XCORO_C_API int xcoro_tcp_bind(xcoro_tcp* s, const xcoro_endpoint* e) XCORO_C_NOEXCEPT;
XCORO_C_API int xcoro_tcp_listen(xcoro_tcp* s, int backlog) XCORO_C_NOEXCEPT;
XCORO_C_API int xcoro_tcp_local_endpoint(const xcoro_tcp* s,
                                         xcoro_endpoint* out) XCORO_C_NOEXCEPT;
/** A connected socket in *out, owned by the caller. */
XCORO_C_API int xcoro_tcp_accept(xcoro_tcp* s, xcoro_tcp** out,
                                 int64_t timeout_ms) XCORO_C_NOEXCEPT;
XCORO_C_API int xcoro_tcp_connect(xcoro_tcp* s, const xcoro_endpoint* e,
                                  int64_t timeout_ms) XCORO_C_NOEXCEPT;
/** Reads what is available, at least one byte, count in *n; XCORO_EEOF at the end. */
XCORO_C_API int xcoro_tcp_read(xcoro_tcp* s, void* buf, size_t len, size_t* n,
                               int64_t timeout_ms) XCORO_C_NOEXCEPT;
/** One send; may write less than len (count in *n). */
XCORO_C_API int xcoro_tcp_write(xcoro_tcp* s, const void* buf, size_t len, size_t* n,
                                int64_t timeout_ms) XCORO_C_NOEXCEPT;
/** Writes all of buf. */
XCORO_C_API int xcoro_tcp_write_all(xcoro_tcp* s, const void* buf, size_t len,
                                    int64_t timeout_ms) XCORO_C_NOEXCEPT;
/** Shuts the sending side down. */
XCORO_C_API int xcoro_tcp_shutdown(xcoro_tcp* s) XCORO_C_NOEXCEPT;
XCORO_C_API int xcoro_tcp_fd(const xcoro_tcp* s) XCORO_C_NOEXCEPT;
/** Closes the socket and frees the handle. */
XCORO_C_API void xcoro_tcp_close(xcoro_tcp* s) XCORO_C_NOEXCEPT;

XCORO_C_API int xcoro_udp_open(xcoro_udp** out, xcoro_loop* l,
                               const xcoro_endpoint* family_of) XCORO_C_NOEXCEPT;
XCORO_C_API int xcoro_udp_bind(xcoro_udp* s, const xcoro_endpoint* e) XCORO_C_NOEXCEPT;
XCORO_C_API int xcoro_udp_local_endpoint(const xcoro_udp* s,
                                         xcoro_endpoint* out) XCORO_C_NOEXCEPT;
/** One datagram into buf (count in *n), its sender in *from (either may be NULL). */
XCORO_C_API int xcoro_udp_read_from(xcoro_udp* s, void* buf, size_t len, size_t* n,
                                    xcoro_endpoint* from, int64_t timeout_ms) XCORO_C_NOEXCEPT;
XCORO_C_API int xcoro_udp_write_to(xcoro_udp* s, const xcoro_endpoint* to, const void* buf,
                                   size_t len, size_t* n, int64_t timeout_ms) XCORO_C_NOEXCEPT;
XCORO_C_API void xcoro_udp_close(xcoro_udp* s) XCORO_C_NOEXCEPT;

/** open(2) flags and mode. */
XCORO_C_API int xcoro_file_open(xcoro_file** out, xcoro_loop* l, const char* path, int flags,
                                int mode) XCORO_C_NOEXCEPT;
XCORO_C_API int xcoro_file_read(xcoro_file* f, void* buf, size_t len, size_t* n,
                                int64_t timeout_ms) XCORO_C_NOEXCEPT;
XCORO_C_API int xcoro_file_write(xcoro_file* f, const void* buf, size_t len, size_t* n,
                                 int64_t timeout_ms) XCORO_C_NOEXCEPT;
XCORO_C_API int xcoro_file_pread(xcoro_file* f, void* buf, size_t len, uint64_t offset,
                                 size_t* n, int64_t timeout_ms) XCORO_C_NOEXCEPT;
XCORO_C_API int xcoro_file_pwrite(xcoro_file* f, const void* buf, size_t len, uint64_t offset,
                                  size_t* n, int64_t timeout_ms) XCORO_C_NOEXCEPT;
XCORO_C_API void xcoro_file_close(xcoro_file* f) XCORO_C_NOEXCEPT;

/** Starts argv[0] (searched in PATH) with the NULL-terminated argv. */
XCORO_C_API int xcoro_process_spawn(xcoro_process** out, xcoro_loop* l,
                                    const char* const* argv) XCORO_C_NOEXCEPT;
/** Waits for the child to exit and reaps it; in *status its exit code, or 128 + the
 *  signal that killed it. */
XCORO_C_API int xcoro_process_wait(xcoro_process* p, uint32_t* status,
                                   int64_t timeout_ms) XCORO_C_NOEXCEPT;
XCORO_C_API int xcoro_process_pid(const xcoro_process* p) XCORO_C_NOEXCEPT;
/** Frees the handle (a child not waited for is left running). */
XCORO_C_API void xcoro_process_destroy(xcoro_process* p) XCORO_C_NOEXCEPT;

XCORO_C_API int xcoro_notification_create(xcoro_notification** out,
                                          xcoro_loop* l) XCORO_C_NOEXCEPT;
/** Suspends until notified; notifications may coalesce. */
XCORO_C_API int xcoro_notification_wait(xcoro_notification* n,
                                        int64_t timeout_ms) XCORO_C_NOEXCEPT;
/** Thread-safe: callable from any thread. */
XCORO_C_API int xcoro_notification_notify(xcoro_notification* n) XCORO_C_NOEXCEPT;
XCORO_C_API void xcoro_notification_destroy(xcoro_notification* n) XCORO_C_NOEXCEPT;

/** A runtime of `threads` workers (0: one per CPU), each with its own loop. */
XCORO_C_API int xcoro_runtime_create(xcoro_runtime** out, unsigned threads,
                                     int work_stealing) XCORO_C_NOEXCEPT;
/** Cancels what still runs, waits for it, joins the workers. */
XCORO_C_API void xcoro_runtime_destroy(xcoro_runtime* rt) XCORO_C_NOEXCEPT;
XCORO_C_API unsigned xcoro_runtime_threads(const xcoro_runtime* rt) XCORO_C_NOEXCEPT;
/** From a thread that is not a worker: runs fn(arg) in a coroutine on a worker and blocks
 *  until it returns; its result, XCORO_EDEADLOCK, XCORO_EEXCEPTION. XCORO_ETHREAD from a
 *  worker. */
XCORO_C_API int xcoro_runtime_block_on(xcoro_runtime* rt, int (*fn)(void* arg),
                                       void* arg) XCORO_C_NOEXCEPT;
/** On a runtime's worker (in a coroutine it runs, or a callback): creates a coroutine for
 *  fn(arg) on a stack of stack_size bytes (0: the runtime's default) and queues it to start
 *  on some worker, not at once on the caller. *out is set on success only and is the
 *  caller's: xcoro_await it from any worker (its outcome, as for xcoro_create), then
 *  xcoro_destroy it, from any thread; destroying it before it finished aborts. Its status
 *  is only meaningful once awaited. XCORO_ENORUNTIME outside a runtime, XCORO_EINVAL,
 *  XCORO_ESTACK_TOO_SMALL, XCORO_ENOMEM. */
XCORO_C_API int xcoro_spawn(xcoro_coro** out, void (*fn)(void* arg), void* arg,
                            size_t stack_size) XCORO_C_NOEXCEPT;
/** The index of the worker running the caller; -1 outside any runtime. */
XCORO_C_API int xcoro_this_worker(void) XCORO_C_NOEXCEPT;

#endif /* !_WIN32 */

#ifdef __cplusplus
}
#endif

#endif /* XCORO_XCORO_H */
