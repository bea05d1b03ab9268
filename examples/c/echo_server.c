/* An echo server in C on xcoro's aio loop: one task-group child per connection, each read
 * with an idle timeout.
 *   c_echo_server [ADDRESS] [--connections N]   serve (default 127.0.0.1:7000), stop after N
 *   c_echo_server --self-test                   serve one client of its own and check it
 * The listening address is printed first ("listening on 127.0.0.1:7000"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xcoro/xcoro.h"

#define IDLE_TIMEOUT_MS 30000

typedef struct server {
  xcoro_tcp* listener;
  xcoro_endpoint address;
  long connections; /* stop after this many; 0: never */
  int self_test;    /* start a client of our own */
  int self_test_ok; /* it got its messages back */
} server;

/* One connection: echo until the peer closes, goes idle or fails. Owns conn. */
static int serve(void* arg) {
  xcoro_tcp* conn = (xcoro_tcp*)arg;
  char buf[4096];
  size_t n = 0;
  int r;
  while ((r = xcoro_tcp_read(conn, buf, sizeof buf, &n, IDLE_TIMEOUT_MS)) == XCORO_OK) {
    if ((r = xcoro_tcp_write_all(conn, buf, n, IDLE_TIMEOUT_MS)) != XCORO_OK) {
      break;
    }
  }
  xcoro_tcp_close(conn);
  /* The end of the stream and an idle peer are how connections end, not errors. */
  return r == XCORO_EEOF || r == XCORO_ETIMEDOUT ? 0 : r;
}

static int accept_loop(server* s, xcoro_group* g) {
  for (long served = 0; s->connections == 0 || served < s->connections; ++served) {
    xcoro_tcp* conn = NULL;
    int r = xcoro_tcp_accept(s->listener, &conn, XCORO_FOREVER);
    if (r != XCORO_OK) {
      return r;
    }
    if ((r = xcoro_group_spawn(g, serve, conn, 0)) != XCORO_OK) {
      xcoro_tcp_close(conn);
      return r;
    }
  }
  return XCORO_OK;
}

/* The self-test's client: two messages, each echoed back whole. */
static int client(void* arg) {
  server* s = (server*)arg;
  static const char* const lines[] = {"hello from C\n", "and goodbye\n"};
  xcoro_tcp* c = NULL;
  int r = xcoro_tcp_open(&c, NULL, &s->address);
  if (r == XCORO_OK) {
    r = xcoro_tcp_connect(c, &s->address, 5000);
  }
  for (int i = 0; r == XCORO_OK && i < 2; ++i) {
    char got[64];
    size_t len = strlen(lines[i]), total = 0, n = 0;
    r = xcoro_tcp_write_all(c, lines[i], len, 5000);
    while (r == XCORO_OK && total < len) {
      r = xcoro_tcp_read(c, got + total, sizeof got - total, &n, 5000);
      total += n;
    }
    if (r == XCORO_OK && memcmp(got, lines[i], len) != 0) {
      r = XCORO_EINVAL;
    }
  }
  xcoro_tcp_close(c);
  s->self_test_ok = r == XCORO_OK;
  return r;
}

static int run_server(void* arg) {
  server* s = (server*)arg;
  xcoro_group* g = NULL;
  int r = xcoro_group_create(&g);
  if (r != XCORO_OK) {
    return r;
  }
  if (s->self_test) {
    r = xcoro_group_spawn(g, client, s, 0);
  }
  if (r == XCORO_OK) {
    r = accept_loop(s, g);
  }
  int w = xcoro_group_wait(g);
  xcoro_group_destroy(g);
  return r != XCORO_OK ? r : w;
}

int main(int argc, char** argv) {
  server s = {NULL, {{0}}, 0, 0, 0};
  const char* address = "127.0.0.1:7000";
  xcoro_loop* loop = NULL;
  char text[64];
  int r;
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--self-test") == 0) {
      address = "127.0.0.1:0";
      s.connections = 1;
      s.self_test = 1;
    } else if (strcmp(argv[i], "--connections") == 0 && i + 1 < argc) {
      s.connections = strtol(argv[++i], NULL, 10);
    } else {
      address = argv[i];
    }
  }
  if ((r = xcoro_loop_create(&loop, XCORO_BACKEND_AUTO)) != XCORO_OK) {
    fprintf(stderr, "loop: %s\n", xcoro_strerror(r));
    return 1;
  }
  xcoro_loop_init_env(loop);
  if ((r = xcoro_endpoint_parse(&s.address, address)) != XCORO_OK ||
      (r = xcoro_tcp_open(&s.listener, loop, &s.address)) != XCORO_OK ||
      (r = xcoro_tcp_bind(s.listener, &s.address)) != XCORO_OK ||
      (r = xcoro_tcp_listen(s.listener, 128)) != XCORO_OK ||
      (r = xcoro_tcp_local_endpoint(s.listener, &s.address)) != XCORO_OK) {
    fprintf(stderr, "listen on %s: %s\n", address, xcoro_strerror(r));
    xcoro_tcp_close(s.listener);
    xcoro_loop_destroy(loop);
    return 1;
  }
  xcoro_endpoint_format(&s.address, text, sizeof text);
  printf("listening on %s\n", text);
  fflush(stdout);
  r = xcoro_run(loop, run_server, &s, 0);
  xcoro_tcp_close(s.listener);
  xcoro_loop_destroy(loop);
  if (r != XCORO_OK) {
    fprintf(stderr, "echo server: %s\n", xcoro_strerror(r));
    return 1;
  }
  if (s.self_test) {
    printf("self-test: %s\n", s.self_test_ok ? "echoed" : "failed");
    return s.self_test_ok ? 0 : 1;
  }
  return 0;
}
