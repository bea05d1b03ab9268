/* The C API's aio and runtime calls (Linux), each error path by its code: the loop, run,
 * sleep, with_timeout, channel and select deadlines, endpoints, tcp, udp, file, process,
 * notification and the runtime. Run once per backend (XCORO_BACKEND). Sockets bind to
 * 127.0.0.1:0; files live in a temporary directory; time is checked as a lower bound. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "xcoro/xcoro.h"

static xcoro_loop* loop;

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- loop, run, sleep, with_timeout ---- */

static int return_arg(void* arg) {
  return *(int*)arg;
}

static int sleeps(void* arg) {
  (void)arg;
  return xcoro_sleep(NULL, 20);
}

static int last_wait; /* what waits_forever's receive returned */

static int waits_forever(void* arg) {
  xcoro_chan* ch = (xcoro_chan*)arg;
  int v;
  last_wait = xcoro_chan_recv(ch, &v);
  return last_wait;
}

static void loop_run_sleep(void) {
  xcoro_loop* l = NULL;
  int v = 42;
  int64_t t0;
  xcoro_chan* ch = NULL;
  CHECK_EQ(xcoro_loop_create(NULL, XCORO_BACKEND_AUTO), XCORO_EINVAL);
  CHECK_EQ(xcoro_loop_create(&l, 7), XCORO_EINVAL);
  CHECK_EQ(xcoro_loop_create(&l, -1), XCORO_EINVAL);
  CHECK_EQ(xcoro_loop_backend(NULL), XCORO_EINVAL);
  CHECK(xcoro_loop_executor(NULL) == NULL);
  CHECK(xcoro_loop_backend(loop) == XCORO_BACKEND_IO_URING ||
        xcoro_loop_backend(loop) == XCORO_BACKEND_EPOLL);
  CHECK(xcoro_loop_executor(loop) != NULL);
  /* Without an env loop, NULL means nothing. */
  xcoro_loop_init_env(NULL);
  CHECK_EQ(xcoro_run(NULL, return_arg, &v, 0), XCORO_EINVAL);
  CHECK_EQ(xcoro_sleep(NULL, 1), XCORO_EINVAL);
  CHECK_EQ(xcoro_with_timeout(10, return_arg, &v), XCORO_EINVAL);
  CHECK_EQ(xcoro_run(loop, NULL, NULL, 0), XCORO_EINVAL);
  CHECK_EQ(xcoro_run(loop, return_arg, &v, 0), 42);
  t0 = now_ms();
  CHECK_EQ(xcoro_sleep(loop, 20), XCORO_OK); /* from root: pumps the loop */
  CHECK(now_ms() - t0 >= 20);
  xcoro_loop_init_env(loop);
  t0 = now_ms();
  CHECK_EQ(xcoro_run(NULL, sleeps, NULL, 0), XCORO_OK);
  CHECK(now_ms() - t0 >= 20);
  /* Nothing can wake it: deadlock, not a hang; the coroutine is then ended without
   * unwinding the C code: its receive returns XCORO_ECANCELED. */
  CHECK_EQ(xcoro_chan_create(&ch, sizeof(int), 1, xcoro_loop_executor(loop)), XCORO_OK);
  last_wait = 99;
  CHECK_EQ(xcoro_run(loop, waits_forever, ch, 0), XCORO_EDEADLOCK);
  CHECK_EQ(last_wait, XCORO_ECANCELED);
  /* with_timeout: fn's result in time, XCORO_ETIMEDOUT when the deadline cancels it. */
  CHECK_EQ(xcoro_with_timeout(1000, return_arg, &v), 42);
  CHECK_EQ(xcoro_with_timeout(20, waits_forever, ch), XCORO_ETIMEDOUT);
  CHECK_EQ(xcoro_chan_destroy(ch), XCORO_OK);
  xcoro_loop_destroy(NULL);
}

/* ---- deadlines on channels and select ---- */

static int timed_channel_calls(void* arg) {
  xcoro_chan* ch = (xcoro_chan*)arg;
  int v = 1, out = 0;
  int64_t t0 = now_ms();
  xcoro_case cases[1];
  CHECK_EQ(xcoro_chan_recv_timeout(ch, &out, 20), XCORO_ETIMEDOUT);
  CHECK(now_ms() - t0 >= 20);
  CHECK_EQ(xcoro_chan_recv_timeout(ch, &out, 0), XCORO_ETIMEDOUT);
  CHECK_EQ(xcoro_chan_send_timeout(ch, &v, 20), XCORO_OK); /* room */
  CHECK_EQ(xcoro_chan_send_timeout(ch, &v, 20), XCORO_ETIMEDOUT);
  cases[0] = (xcoro_case){ch, XCORO_SEND, &v, 99};
  CHECK_EQ(xcoro_select(cases, 1, 20), XCORO_ETIMEDOUT);
  cases[0].op = XCORO_RECV;
  cases[0].value = &out;
  CHECK_EQ(xcoro_select(cases, 1, 20), 0);
  CHECK_EQ(cases[0].result, XCORO_OK);
  CHECK_EQ(out, 1);
  CHECK_EQ(xcoro_select(cases, 1, 20), XCORO_ETIMEDOUT);
  CHECK_EQ(xcoro_chan_recv_timeout(ch, &out, 20), XCORO_ETIMEDOUT);
  return 0;
}

static void channel_deadlines(void) {
  xcoro_chan* ch = NULL;
  CHECK_EQ(xcoro_chan_create(&ch, sizeof(int), 1, xcoro_loop_executor(loop)), XCORO_OK);
  CHECK_EQ(xcoro_run(loop, timed_channel_calls, ch, 0), 0);
  CHECK_EQ(xcoro_chan_destroy(ch), XCORO_OK);
}

/* ---- endpoints and tcp ---- */

typedef struct echo_args {
  xcoro_tcp* listener;
  int served;
} echo_args;

static int echo_once(void* arg) {
  echo_args* a = (echo_args*)arg;
  xcoro_tcp* conn = NULL;
  char buf[64];
  size_t n = 0;
  int r;
  CHECK_EQ(xcoro_tcp_accept(a->listener, &conn, 5000), XCORO_OK);
  while ((r = xcoro_tcp_read(conn, buf, sizeof buf, &n, 5000)) == XCORO_OK) {
    CHECK_EQ(xcoro_tcp_write_all(conn, buf, n, 5000), XCORO_OK);
  }
  CHECK_EQ(r, XCORO_EEOF);
  xcoro_tcp_close(conn);
  a->served = 1;
  return 0;
}

typedef struct client_args {
  xcoro_endpoint to;
  xcoro_group* g;
  echo_args* server;
} client_args;

static int client(void* arg) {
  client_args* a = (client_args*)arg;
  xcoro_tcp* s = NULL;
  char got[16];
  size_t n = 0, total = 0, wrote = 0;
  CHECK_EQ(xcoro_group_spawn(a->g, echo_once, a->server, 0), XCORO_OK);
  CHECK_EQ(xcoro_tcp_open(&s, NULL, &a->to), XCORO_OK);
  CHECK_EQ(xcoro_tcp_connect(s, &a->to, 5000), XCORO_OK);
  CHECK_EQ(xcoro_tcp_write(s, "hello", 5, &wrote, XCORO_FOREVER), XCORO_OK);
  CHECK_EQ(wrote, 5);
  CHECK_EQ(xcoro_tcp_write_all(s, " world", 6, XCORO_FOREVER), XCORO_OK);
  while (total < 11) {
    CHECK_EQ(xcoro_tcp_read(s, got + total, sizeof got - total, &n, 5000), XCORO_OK);
    total += n;
  }
  CHECK(memcmp(got, "hello world", 11) == 0);
  CHECK_EQ(xcoro_tcp_read(s, got, sizeof got, &n, 10), XCORO_ETIMEDOUT);
  CHECK_EQ(xcoro_tcp_shutdown(s), XCORO_OK);
  xcoro_tcp_close(s);
  return xcoro_group_wait(a->g);
}

static void tcp_echo(void) {
  xcoro_endpoint any, bound, bad;
  xcoro_tcp* l = NULL;
  xcoro_tcp* x = NULL;
  echo_args server = {NULL, 0};
  client_args c;
  char text[64];
  size_t n;
  CHECK_EQ(xcoro_endpoint_parse(&any, "127.0.0.1:0"), XCORO_OK);
  CHECK_EQ(xcoro_endpoint_parse(&bad, "not an address"), XCORO_EINVAL);
  CHECK_EQ(xcoro_endpoint_parse(NULL, "127.0.0.1:0"), XCORO_EINVAL);
  CHECK_EQ(xcoro_endpoint_port(&any), 0);
  CHECK_EQ(xcoro_endpoint_port(NULL), XCORO_EINVAL);
  CHECK_EQ(xcoro_endpoint_format(&any, text, sizeof text), 11);
  CHECK(strcmp(text, "127.0.0.1:0") == 0);
  CHECK_EQ(xcoro_endpoint_format(&any, text, 5), XCORO_EINVAL);
  CHECK_EQ(xcoro_endpoint_format(NULL, text, sizeof text), XCORO_EINVAL);
  CHECK_EQ(xcoro_tcp_open(NULL, loop, &any), XCORO_EINVAL);
  CHECK_EQ(xcoro_tcp_open(&l, loop, NULL), XCORO_EINVAL);
  CHECK_EQ(xcoro_tcp_open(&l, loop, &any), XCORO_OK);
  CHECK_EQ(xcoro_tcp_bind(l, &any), XCORO_OK);
  CHECK_EQ(xcoro_tcp_listen(l, 16), XCORO_OK);
  CHECK_EQ(xcoro_tcp_local_endpoint(l, &bound), XCORO_OK);
  CHECK(xcoro_endpoint_port(&bound) > 0);
  CHECK(xcoro_tcp_fd(l) >= 0);
  CHECK_EQ(xcoro_tcp_fd(NULL), XCORO_EINVAL);
  /* Nobody connects: accept from root times out, and the listener stays usable. */
  CHECK_EQ(xcoro_tcp_accept(l, &x, 10), XCORO_ETIMEDOUT);
  /* A second socket on the same port: the OS error comes through. */
  CHECK_EQ(xcoro_tcp_open(&x, loop, &any), XCORO_OK);
  CHECK_EQ(xcoro_tcp_bind(x, &bound), XCORO_ERRNO(EADDRINUSE));
  xcoro_tcp_close(x);
  server.listener = l;
  c.to = bound;
  c.server = &server;
  CHECK_EQ(xcoro_group_create(&c.g), XCORO_OK);
  CHECK_EQ(xcoro_run(loop, client, &c, 0), XCORO_OK);
  CHECK_EQ(server.served, 1);
  CHECK_EQ(xcoro_group_destroy(c.g), XCORO_OK);
  /* NULL handles. */
  CHECK_EQ(xcoro_tcp_bind(NULL, &any), XCORO_EINVAL);
  CHECK_EQ(xcoro_tcp_listen(NULL, 1), XCORO_EINVAL);
  CHECK_EQ(xcoro_tcp_local_endpoint(NULL, &any), XCORO_EINVAL);
  CHECK_EQ(xcoro_tcp_accept(NULL, &x, 1), XCORO_EINVAL);
  CHECK_EQ(xcoro_tcp_connect(NULL, &any, 1), XCORO_EINVAL);
  CHECK_EQ(xcoro_tcp_read(NULL, text, 1, &n, 1), XCORO_EINVAL);
  CHECK_EQ(xcoro_tcp_read(l, NULL, 1, &n, 1), XCORO_EINVAL);
  CHECK_EQ(xcoro_tcp_write(NULL, text, 1, &n, 1), XCORO_EINVAL);
  CHECK_EQ(xcoro_tcp_write_all(NULL, text, 1, 1), XCORO_EINVAL);
  CHECK_EQ(xcoro_tcp_shutdown(NULL), XCORO_EINVAL);
  xcoro_tcp_close(l);
  xcoro_tcp_close(NULL);
}

/* Connecting to a port nobody listens on. */
static void tcp_refused(void) {
  xcoro_tcp* l = NULL;
  xcoro_tcp* s = NULL;
  xcoro_endpoint any, port;
  CHECK_EQ(xcoro_endpoint_parse(&any, "127.0.0.1:0"), XCORO_OK);
  CHECK_EQ(xcoro_tcp_open(&l, loop, &any), XCORO_OK);
  CHECK_EQ(xcoro_tcp_bind(l, &any), XCORO_OK);
  CHECK_EQ(xcoro_tcp_local_endpoint(l, &port), XCORO_OK);
  xcoro_tcp_close(l); /* bound, never listening, now closed: the port refuses */
  CHECK_EQ(xcoro_tcp_open(&s, loop, &any), XCORO_OK);
  CHECK_EQ(xcoro_tcp_connect(s, &port, 1000), XCORO_ERRNO(ECONNREFUSED));
  xcoro_tcp_close(s);
}

/* ---- udp ---- */

static void udp_round_trip(void) {
  xcoro_endpoint any, a_ep, from;
  xcoro_udp* a = NULL;
  xcoro_udp* b = NULL;
  char buf[32];
  size_t n = 0;
  CHECK_EQ(xcoro_endpoint_parse(&any, "127.0.0.1:0"), XCORO_OK);
  CHECK_EQ(xcoro_udp_open(NULL, loop, &any), XCORO_EINVAL);
  CHECK_EQ(xcoro_udp_open(&a, loop, &any), XCORO_OK);
  CHECK_EQ(xcoro_udp_open(&b, loop, &any), XCORO_OK);
  CHECK_EQ(xcoro_udp_bind(a, &any), XCORO_OK);
  CHECK_EQ(xcoro_udp_bind(b, &any), XCORO_OK);
  CHECK_EQ(xcoro_udp_local_endpoint(a, &a_ep), XCORO_OK);
  CHECK_EQ(xcoro_udp_read_from(a, buf, sizeof buf, &n, &from, 10), XCORO_ETIMEDOUT);
  CHECK_EQ(xcoro_udp_write_to(b, &a_ep, "ping", 4, &n, 1000), XCORO_OK);
  CHECK_EQ(n, 4);
  n = 0;
  CHECK_EQ(xcoro_udp_read_from(a, buf, sizeof buf, &n, &from, 1000), XCORO_OK);
  CHECK_EQ(n, 4);
  CHECK(memcmp(buf, "ping", 4) == 0);
  {
    xcoro_endpoint b_ep;
    CHECK_EQ(xcoro_udp_local_endpoint(b, &b_ep), XCORO_OK);
    CHECK_EQ(xcoro_endpoint_port(&from), xcoro_endpoint_port(&b_ep)); /* the sender */
  }
  CHECK_EQ(xcoro_udp_bind(NULL, &any), XCORO_EINVAL);
  CHECK_EQ(xcoro_udp_local_endpoint(NULL, &any), XCORO_EINVAL);
  CHECK_EQ(xcoro_udp_read_from(NULL, buf, 1, &n, NULL, 1), XCORO_EINVAL);
  CHECK_EQ(xcoro_udp_write_to(a, NULL, buf, 1, &n, 1), XCORO_EINVAL);
  xcoro_udp_close(a);
  xcoro_udp_close(b);
  xcoro_udp_close(NULL);
}

/* ---- file ---- */

static void file_calls(void) {
  char dir[] = "/tmp/xcoro_c_aio_XXXXXX";
  char path[64];
  xcoro_file* f = NULL;
  char buf[16];
  size_t n = 0;
  CHECK(mkdtemp(dir) != NULL);
  snprintf(path, sizeof path, "%s/data", dir);
  CHECK_EQ(xcoro_file_open(&f, loop, path, O_RDONLY, 0), XCORO_ERRNO(ENOENT));
  CHECK_EQ(xcoro_file_open(NULL, loop, path, O_RDONLY, 0), XCORO_EINVAL);
  CHECK_EQ(xcoro_file_open(&f, loop, NULL, O_RDONLY, 0), XCORO_EINVAL);
  CHECK_EQ(xcoro_file_open(&f, loop, path, O_RDWR | O_CREAT, 0600), XCORO_OK);
  CHECK_EQ(xcoro_file_write(f, "abcdef", 6, &n, XCORO_FOREVER), XCORO_OK);
  CHECK_EQ(n, 6);
  CHECK_EQ(xcoro_file_pwrite(f, "XY", 2, 2, &n, 1000), XCORO_OK);
  CHECK_EQ(xcoro_file_pread(f, buf, sizeof buf, 0, &n, 1000), XCORO_OK);
  CHECK_EQ(n, 6);
  CHECK(memcmp(buf, "abXYef", 6) == 0);
  CHECK_EQ(xcoro_file_read(f, buf, sizeof buf, &n, 1000), XCORO_OK);
  CHECK_EQ(n, 0); /* at the end: the write moved the offset */
  CHECK_EQ(xcoro_file_read(NULL, buf, 1, &n, 1), XCORO_EINVAL);
  CHECK_EQ(xcoro_file_write(NULL, buf, 1, &n, 1), XCORO_EINVAL);
  CHECK_EQ(xcoro_file_pread(NULL, buf, 1, 0, &n, 1), XCORO_EINVAL);
  CHECK_EQ(xcoro_file_pwrite(NULL, buf, 1, 0, &n, 1), XCORO_EINVAL);
  xcoro_file_close(f);
  xcoro_file_close(NULL);
  unlink(path);
  rmdir(dir);
}

/* ---- process ---- */

static void process_calls(void) {
  static const char* const ok[] = {"sh", "-c", "exit 3", NULL};
  static const char* const slow[] = {"sleep", "5", NULL};
  static const char* const none[] = {NULL};
  static const char* const missing[] = {"/nonexistent/xcoro-no-such-program", NULL};
  xcoro_process* p = NULL;
  uint32_t status = 0;
  int r;
  CHECK_EQ(xcoro_process_spawn(&p, loop, none), XCORO_EINVAL);
  CHECK_EQ(xcoro_process_spawn(&p, loop, NULL), XCORO_EINVAL);
  CHECK_EQ(xcoro_process_spawn(NULL, loop, ok), XCORO_EINVAL);
  CHECK_EQ(xcoro_process_spawn(&p, loop, ok), XCORO_OK);
  CHECK(xcoro_process_pid(p) > 0);
  CHECK_EQ(xcoro_process_wait(p, &status, 5000), XCORO_OK);
  CHECK_EQ(status, 3); /* its exit code */
  xcoro_process_destroy(p);
  CHECK_EQ(xcoro_process_spawn(&p, loop, slow), XCORO_OK);
  CHECK_EQ(xcoro_process_wait(p, &status, 10), XCORO_ETIMEDOUT);
  kill(xcoro_process_pid(p), 9);
  CHECK_EQ(xcoro_process_wait(p, &status, 5000), XCORO_OK);
  CHECK_EQ(status, 128 + 9); /* killed by SIGKILL: 128 + the signal, as a shell says */
  xcoro_process_destroy(p);
  r = xcoro_process_spawn(&p, loop, missing);
  if (r == XCORO_OK) { /* posix_spawn may report exec failure as exit status 127 */
    CHECK_EQ(xcoro_process_wait(p, &status, 5000), XCORO_OK);
    CHECK_EQ(status, 127);
    xcoro_process_destroy(p);
  } else {
    CHECK_EQ(r, XCORO_ERRNO(ENOENT));
  }
  CHECK_EQ(xcoro_process_wait(NULL, &status, 1), XCORO_EINVAL);
  CHECK_EQ(xcoro_process_pid(NULL), XCORO_EINVAL);
  xcoro_process_destroy(NULL);
}

/* ---- notification ---- */

static void notification_calls(void) {
  xcoro_notification* n = NULL;
  CHECK_EQ(xcoro_notification_create(NULL, loop), XCORO_EINVAL);
  CHECK_EQ(xcoro_notification_create(&n, loop), XCORO_OK);
  CHECK_EQ(xcoro_notification_wait(n, 10), XCORO_ETIMEDOUT);
  CHECK_EQ(xcoro_notification_notify(n), XCORO_OK);
  CHECK_EQ(xcoro_notification_notify(n), XCORO_OK); /* coalesces */
  CHECK_EQ(xcoro_notification_wait(n, 1000), XCORO_OK);
  CHECK_EQ(xcoro_notification_wait(n, 10), XCORO_ETIMEDOUT);
  CHECK_EQ(xcoro_notification_wait(NULL, 1), XCORO_EINVAL);
  CHECK_EQ(xcoro_notification_notify(NULL), XCORO_EINVAL);
  xcoro_notification_destroy(n);
  xcoro_notification_destroy(NULL);
}

/* ---- cancellation of an aio wait from a third coroutine ---- */

typedef struct sleeper_args {
  int result;
} sleeper_args;

static void sleeper(void* arg) {
  ((sleeper_args*)arg)->result = xcoro_sleep(NULL, 10000);
}

typedef struct cancel_args {
  xcoro_coro* target;
} cancel_args;

static void cancel_it(void* arg) {
  CHECK_EQ(xcoro_cancel(((cancel_args*)arg)->target), 1);
}

static int cancel_scene(void* arg) {
  sleeper_args* s = (sleeper_args*)arg;
  xcoro_coro* sl = NULL;
  xcoro_coro* c = NULL;
  cancel_args ca;
  int64_t t0 = now_ms();
  CHECK_EQ(xcoro_async(&sl, sleeper, s, 0), XCORO_OK);
  ca.target = sl;
  CHECK_EQ(xcoro_async(&c, cancel_it, &ca, 0), XCORO_OK);
  CHECK_EQ(xcoro_await(sl), XCORO_OK);
  CHECK(now_ms() - t0 < 5000);
  xcoro_destroy(sl);
  xcoro_destroy(c);
  return 0;
}

static void cancel_a_sleep(void) {
  sleeper_args s = {99};
  CHECK_EQ(xcoro_run(loop, cancel_scene, &s, 0), 0);
  CHECK_EQ(s.result, XCORO_ECANCELED);
}

/* ---- runtime ---- */

typedef struct rt_args {
  xcoro_chan* ch;
  int worker;
} rt_args;

static int producer(void* arg) {
  rt_args* a = (rt_args*)arg;
  for (int i = 1; i <= 100; ++i) {
    if (xcoro_chan_send(a->ch, &i) != XCORO_OK) {
      return -1;
    }
  }
  xcoro_chan_close(a->ch);
  return 0;
}

static int sum_on_runtime(void* arg) {
  rt_args* a = (rt_args*)arg;
  xcoro_group* g = NULL;
  int v, sum = 0, r;
  a->worker = xcoro_this_worker();
  if (xcoro_chan_create(&a->ch, sizeof(int), 4, NULL) != XCORO_OK ||
      xcoro_group_create(&g) != XCORO_OK) {
    return -1;
  }
  CHECK_EQ(xcoro_group_spawn(g, producer, a, 0), XCORO_OK);
  while ((r = xcoro_chan_recv(a->ch, &v)) == XCORO_OK) {
    sum += v;
  }
  CHECK_EQ(r, XCORO_ECLOSED);
  CHECK_EQ(xcoro_group_wait(g), XCORO_OK);
  CHECK_EQ(xcoro_group_destroy(g), XCORO_OK);
  CHECK_EQ(xcoro_chan_destroy(a->ch), XCORO_OK);
  return sum;
}

/* A spawned coroutine: adds its index to the shared total under the shared mutex, and
 * fails with XCORO_EUSER - index for odd indexes. */
static void spawned_noop(void* arg) {
  (void)arg;
}

typedef struct spawned_arg {
  int index;
  int worker;
  int* total;
  xcoro_mutex* m;
} spawned_arg;

static void spawned(void* arg) {
  spawned_arg* a = (spawned_arg*)arg;
  a->worker = xcoro_this_worker();
  if (xcoro_mutex_lock(a->m) != XCORO_OK) {
    xcoro_fail(-2);
    return;
  }
  *a->total += a->index;
  xcoro_mutex_unlock(a->m);
  if (a->index % 2 == 1) {
    xcoro_fail(XCORO_EUSER - a->index);
  }
}

static int spawn_and_await(void* arg) {
  enum { n = 8 };
  spawned_arg args[n];
  xcoro_coro* cs[n];
  int total = 0, i;
  xcoro_mutex* m = NULL;
  (void)arg;
  if (xcoro_mutex_create(&m, NULL) != XCORO_OK) {
    return -1;
  }
  CHECK_EQ(xcoro_spawn(NULL, spawned, &args[0], 0), XCORO_EINVAL);
  CHECK_EQ(xcoro_spawn(&cs[0], NULL, &args[0], 0), XCORO_EINVAL);
  for (i = 0; i < n; ++i) {
    args[i].index = i;
    args[i].worker = -5;
    args[i].total = &total;
    args[i].m = m;
    CHECK_EQ(xcoro_spawn(&cs[i], spawned, &args[i], i == 0 ? 32768 : 0), XCORO_OK);
  }
  /* Not started on the caller: each runs once this coroutine waits. */
  for (i = 0; i < n; ++i) {
    CHECK_EQ(xcoro_await(cs[i]), i % 2 == 1 ? XCORO_EUSER - i : XCORO_OK);
    CHECK_EQ(xcoro_status(cs[i]), XCORO_DONE);
    CHECK_EQ(xcoro_resume(cs[i]), XCORO_ETHREAD); /* the runtime runs it, never the caller */
    CHECK(args[i].worker == 0 || args[i].worker == 1);
    /* Awaited again: the same outcome at once. */
    CHECK_EQ(xcoro_await(cs[i]), i % 2 == 1 ? XCORO_EUSER - i : XCORO_OK);
    xcoro_destroy(cs[i]);
  }
  CHECK_EQ(total, n * (n - 1) / 2);
  CHECK_EQ(xcoro_mutex_destroy(m), XCORO_OK);
  return total;
}

/* A spawned coroutine outlives the coroutine that spawned it: root awaits it after
 * block_on returned (it has finished by then: the runtime waits for nothing, so root
 * polls with the finished outcome or XCORO_EROOT). */
static int spawn_and_leave(void* arg) {
  xcoro_coro** out = (xcoro_coro**)arg;
  return xcoro_spawn(out, spawned_noop, NULL, 0);
}

static xcoro_chan* never_sent;

static void wait_forever(void* arg) {
  int v;
  (void)arg;
  xcoro_chan_recv(never_sent, &v);
}

static int spawn_then_destroy(void* arg) {
  xcoro_coro* c = NULL;
  (void)arg;
  if (xcoro_chan_create(&never_sent, sizeof(int), 0, NULL) != XCORO_OK ||
      xcoro_spawn(&c, wait_forever, NULL, 0) != XCORO_OK) {
    return -1;
  }
  xcoro_destroy(c); /* not finished (not even started): it may run on any worker */
  return 0;
}

/* Where a child forked from this process (which has run threads of its own: the reaper)
   cannot start the runtime's threads: qemu-user crashes, and ThreadSanitizer refuses. */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define XCORO_TEST_NO_THREADS_AFTER_FORK 1
#endif
#endif
#if defined(XCORO_TEST_EMULATED) || defined(__SANITIZE_THREAD__) || \
    defined(XCORO_TEST_NO_THREADS_AFTER_FORK)
static const int emulated = 1;
#else
static const int emulated = 0;
#endif

static void destroy_unfinished_spawned(void) {
  xcoro_runtime* rt = NULL;
  if (xcoro_runtime_create(&rt, 1, 0) == XCORO_OK) {
    xcoro_runtime_block_on(rt, spawn_then_destroy, NULL);
  }
}

static void spawn_calls(void) {
  xcoro_runtime* rt = NULL;
  xcoro_coro* c = NULL;
  int r, i;
  CHECK_EQ(xcoro_spawn(&c, spawned_noop, NULL, 0), XCORO_ENORUNTIME);
  CHECK(c == NULL);
  CHECK(strcmp(xcoro_strerror(XCORO_ENORUNTIME), "unknown error") != 0);
  CHECK_EQ(xcoro_runtime_create(&rt, 2, 1), XCORO_OK);
  CHECK_EQ(xcoro_runtime_block_on(rt, spawn_and_await, NULL), 28);
  CHECK_EQ(xcoro_runtime_block_on(rt, spawn_and_leave, &c), XCORO_OK);
  CHECK(c != NULL);
  /* From root, on a thread that is no worker: the outcome once it finished. */
  for (i = 0; (r = xcoro_await(c)) == XCORO_EROOT && i < 5000; ++i) {
    struct timespec ms = {0, 1000000};
    nanosleep(&ms, NULL);
  }
  CHECK_EQ(r, XCORO_OK);
  xcoro_destroy(c);
  xcoro_runtime_destroy(rt);
  /* Skipped where such a child cannot start threads (above). */
  if (!emulated) {
    CHECK(aborts_with(destroy_unfinished_spawned,
                      "xcoro: xcoro_destroy: coroutine (id 2) was spawned and has not finished"));
  }
}

static int block_on_from_worker(void* arg) {
  return xcoro_runtime_block_on((xcoro_runtime*)arg, return_arg, arg);
}

static void runtime_calls(void) {
  xcoro_runtime* rt = NULL;
  rt_args a = {NULL, -5};
  CHECK_EQ(xcoro_runtime_create(NULL, 2, 1), XCORO_EINVAL);
  CHECK_EQ(xcoro_runtime_create(&rt, 2, 1), XCORO_OK);
  CHECK_EQ(xcoro_runtime_threads(rt), 2);
  CHECK_EQ(xcoro_runtime_threads(NULL), 0);
  CHECK_EQ(xcoro_this_worker(), -1);
  CHECK_EQ(xcoro_runtime_block_on(rt, sum_on_runtime, &a), 5050);
  CHECK(a.worker == 0 || a.worker == 1);
  CHECK_EQ(xcoro_runtime_block_on(rt, block_on_from_worker, rt), XCORO_ETHREAD);
  CHECK_EQ(xcoro_runtime_block_on(NULL, return_arg, &a), XCORO_EINVAL);
  CHECK_EQ(xcoro_runtime_block_on(rt, NULL, NULL), XCORO_EINVAL);
  xcoro_runtime_destroy(rt);
  xcoro_runtime_destroy(NULL);
}

/* Channels made on a worker are shared by all the runtime's workers: producers spawned
 * onto any worker send through a buffered and a rendezvous channel, and a select on the
 * first worker receives from both; every value arrives once, each producer's in order.
 * Deadlines end waits on them as on any channel. */
enum { xw_producers = 4, xw_values = 5000 };

typedef struct xw_args {
  xcoro_chan* buffered;
  xcoro_chan* rendezvous;
  int id;
} xw_args;

static int xw_produce(void* arg) {
  xw_args* a = (xw_args*)arg;
  for (long i = 1; i <= xw_values; ++i) {
    long v = i * xw_producers + a->id;
    if (xcoro_chan_send(a->id % 2 ? a->buffered : a->rendezvous, &v) != XCORO_OK) {
      return -1;
    }
  }
  return 0;
}

static int xw_consume(void* arg) {
  xw_args args[xw_producers];
  xcoro_chan* buffered = NULL;
  xcoro_chan* rendezvous = NULL;
  xcoro_group* g = NULL;
  long got = 0, seen[xw_producers] = {0};
  long sum = 0;
  (void)arg;
  if (xcoro_chan_create(&buffered, sizeof(long), 2, NULL) != XCORO_OK ||
      xcoro_chan_create(&rendezvous, sizeof(long), 0, NULL) != XCORO_OK ||
      xcoro_group_create(&g) != XCORO_OK) {
    return -1;
  }
  /* Deadlines on shared channels: nothing to receive, nobody to take a rendezvous. */
  CHECK_EQ(xcoro_chan_recv_timeout(buffered, &got, 1), XCORO_ETIMEDOUT);
  CHECK_EQ(xcoro_chan_send_timeout(rendezvous, &got, 1), XCORO_ETIMEDOUT);
  CHECK_EQ(xcoro_chan_size(rendezvous), 0);
  for (int i = 0; i < xw_producers; ++i) {
    args[i] = (xw_args){buffered, rendezvous, i};
    CHECK_EQ(xcoro_group_spawn(g, xw_produce, &args[i], 0), XCORO_OK);
  }
  for (long n = 0; n < (long)xw_producers * xw_values; ++n) {
    long va = 0, vb = 0;
    xcoro_case cs[2] = {{buffered, XCORO_RECV, &va, 1}, {rendezvous, XCORO_RECV, &vb, 1}};
    int fired = xcoro_select(cs, 2, XCORO_FOREVER);
    if (fired != 0 && fired != 1) {
      CHECK_EQ(fired, 0);
      break;
    }
    CHECK_EQ(cs[fired].result, XCORO_OK);
    got = fired == 0 ? va : vb;
    /* Each producer's values come in order, as it sent them. */
    CHECK_EQ(got / xw_producers, seen[got % xw_producers] + 1);
    seen[got % xw_producers] = got / xw_producers;
    sum += got;
  }
  CHECK_EQ(xcoro_group_wait(g), XCORO_OK);
  CHECK_EQ(xcoro_group_destroy(g), XCORO_OK);
  CHECK_EQ(xcoro_chan_destroy(buffered), XCORO_OK);
  CHECK_EQ(xcoro_chan_destroy(rendezvous), XCORO_OK);
  for (int i = 0; i < xw_producers; ++i) {
    CHECK_EQ(seen[i], xw_values);
  }
  return sum == (long)xw_producers * xw_values * (xw_values + 1) / 2 * xw_producers +
                    (long)xw_values * (xw_producers * (xw_producers - 1) / 2)
             ? 0
             : -1;
}

static void channels_across_workers(void) {
  xcoro_runtime* rt = NULL;
  if (emulated) {
    return;
  }
  CHECK_EQ(xcoro_runtime_create(&rt, 2, 1), XCORO_OK);
  CHECK_EQ(xcoro_runtime_block_on(rt, xw_consume, NULL), 0);
  xcoro_runtime_destroy(rt);
}

/* ---- allocator hooks ---- */

static int hook_allocs, hook_frees;

static void* hook_alloc(void* user, size_t size, size_t align) {
  (void)user;
  (void)align;
  ++hook_allocs;
  return malloc(size);
}

static void hook_dealloc(void* user, void* p, size_t size) {
  (void)user;
  (void)size;
  ++hook_frees;
  free(p);
}

/* The aio handles come from xcoro_set_allocator's hooks too. */
static void aio_handles_from_hooks(void) {
  xcoro_allocator hooks = {hook_alloc, hook_dealloc, NULL};
  xcoro_loop* l = NULL;
  xcoro_tcp* s = NULL;
  xcoro_udp* u = NULL;
  xcoro_notification* n = NULL;
  xcoro_endpoint any;
  hook_allocs = hook_frees = 0;
  CHECK_EQ(xcoro_endpoint_parse(&any, "127.0.0.1:0"), XCORO_OK);
  CHECK_EQ(xcoro_set_allocator(&hooks), XCORO_OK);
  CHECK_EQ(xcoro_loop_create(&l, XCORO_BACKEND_AUTO), XCORO_OK);
  CHECK_EQ(xcoro_tcp_open(&s, loop, &any), XCORO_OK);
  CHECK_EQ(xcoro_udp_open(&u, loop, &any), XCORO_OK);
  CHECK_EQ(xcoro_notification_create(&n, loop), XCORO_OK);
  CHECK_EQ(xcoro_set_allocator(NULL), XCORO_OK);
  CHECK_EQ(hook_allocs, 4);
  CHECK_EQ(hook_frees, 0);
  xcoro_notification_destroy(n);
  xcoro_udp_close(u);
  xcoro_tcp_close(s);
  xcoro_loop_destroy(l);
  CHECK_EQ(hook_frees, 4);
}

int main(int argc, char** argv) {
  static const check_test tests[] = {
      {"loop_run_sleep", loop_run_sleep},
      {"channel_deadlines", channel_deadlines},
      {"tcp_echo", tcp_echo},
      {"tcp_refused", tcp_refused},
      {"udp_round_trip", udp_round_trip},
      {"file_calls", file_calls},
      {"process_calls", process_calls},
      {"notification_calls", notification_calls},
      {"cancel_a_sleep", cancel_a_sleep},
      {"runtime_calls", runtime_calls},
      {"channels_across_workers", channels_across_workers},
      {"spawn_calls", spawn_calls},
      {"aio_handles_from_hooks", aio_handles_from_hooks},
  };
  int r;
  r = xcoro_loop_create(&loop, XCORO_BACKEND_AUTO);
  if (r != XCORO_OK) {
    printf("skipped: no aio loop here: %s\n", xcoro_strerror(r));
    return 77;
  }
  xcoro_loop_init_env(loop);
  r = check_run(tests, sizeof tests / sizeof tests[0], argc, argv);
  xcoro_loop_destroy(loop);
  return r;
}
