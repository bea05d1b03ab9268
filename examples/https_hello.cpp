// http_hello over TLS: an HTTP/1.1 keep-alive server answering "hello" to every request,
// one coroutine per connection in a task_group, each connection an aio::tls_stream
// (<xcoro/tls.hpp>, OpenSSL 3). curl and wrk can drive it.
//   https_hello --cert CHAIN.pem --key KEY.pem [--port N]   serve on 127.0.0.1:N (default
//                                     8443; 0 picks a free port) until SIGINT or SIGTERM,
//                                     then shut down cleanly
//   ... --for SECONDS                 serve for SECONDS, then shut down cleanly
//   ... --threads N                   the same on a runtime of N worker threads: an accept
//                                     loop on each worker, each with its own listener on
//                                     the port (SO_REUSEPORT), all sharing the TLS context
// It prints "https hello on https://localhost:PORT/" once it listens (with --threads,
// followed by the number of workers and of workers with a server). The test
// (https_hello_test.sh) makes a CA and a certificate for localhost with openssl, asks with
// `curl --cacert` (three requests on one keep-alive connection, and a second client), and
// stops the server with SIGTERM.
//
// Shutting down is cancelling the accept loop's coroutine, as in http_hello: the cancel
// flows down to the connection coroutines, whose pending read or handshake returns
// errc::canceled; ~task_group waits for the last one. With --threads, a coroutine on a
// worker waits for the signal, and each worker's accept loop is cancelled. A connection ends with close_notify
// when its client sent one, and without it when the client just closed the socket (curl
// does): errc::tls_truncated is then the ordinary end.
#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include <xcoro/aio.hpp>
#include <xcoro/runtime.hpp>
#include <xcoro/scope.hpp>
#include <xcoro/tls.hpp>

#include "reuse_port.hpp"
#include "stop_signals.hpp"

namespace aio = xcoro::aio;
using namespace std::chrono_literals;

namespace {

constexpr std::string_view response =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 6\r\n"
    "\r\n"
    "hello\n";

/// What the connections did. Atomic: with --threads, connections run on several workers.
struct counters {
  std::atomic<std::size_t> served{0};      // connections handed to a coroutine
  std::atomic<std::size_t> handshakes{0};  // connections whose handshake succeeded
  std::atomic<std::size_t> cancelled{0};   // connections ended by the shutdown (canceled)
  std::atomic<std::size_t> live{0};        // connection coroutines started, not finished
};
counters stats;

/// Counts a connection coroutine from its start until it ends, however it ends.
struct live_connection {
  live_connection() noexcept { ++stats.live; }
  ~live_connection() {
    --stats.live;
    if (xcoro::cancel_requested()) {
      ++stats.cancelled;
    }
  }
  live_connection(const live_connection&) = delete;
  live_connection& operator=(const live_connection&) = delete;
};

/// Serves requests on one connection until the peer closes it or the server shuts down.
/// Requests are only scanned for their end ("\r\n\r\n"), as in http_hello.
void serve(aio::tcp conn, aio::tls_context* ctx) {
  live_connection counted;
  auto tls = aio::tls_stream::create(std::move(conn), *ctx);
  if (!tls) {
    return;
  }
  // A client that connects and says nothing must not hold a coroutine for ever.
  if (!tls->handshake(10s)) {
    return;  // not TLS, a certificate the client refused, a timeout, or the shutdown
  }
  ++stats.handshakes;
  std::array<char, 8192> buf;
  std::size_t have = 0;
  for (;;) {
    auto n = tls->read(std::as_writable_bytes(std::span(buf).subspan(have)));
    if (!n) {
      if (n.error() == xcoro::errc::eof) {
        (void)tls->shutdown(1s);  // the client sent close_notify: answer with ours
      }
      return;  // errc::tls_truncated (the client closed the socket), a reset, or canceled
    }
    have += *n;
    std::string_view data(buf.data(), have);
    std::size_t consumed = 0;
    for (std::size_t end; (end = data.find("\r\n\r\n", consumed)) != std::string_view::npos;) {
      if (!tls->write_all(std::as_bytes(std::span(response)))) {
        return;
      }
      consumed = end + 4;
    }
    std::memmove(buf.data(), buf.data() + consumed, have - consumed);
    have -= consumed;
    if (have == buf.size()) {
      return;  // a request too large for this server
    }
  }
}

/// Accepts connections until cancelled, each served by its own coroutine.
void accept_loop(aio::tcp* listener, aio::tls_context* ctx) {
  xcoro::task_group connections;
  for (;;) {
    auto conn = listener->accept();
    if (!conn) {
      if (conn.error() == xcoro::errc::canceled) {
        break;
      }
      continue;  // EMFILE and friends: keep accepting
    }
    // 64 KiB: OpenSSL's handshake runs on the connection's stack.
    if (connections.spawn(std::size_t{64 * 1024}, serve, std::move(*conn), ctx)) {
      ++stats.served;
    }
  }
}

/// Prints what was served; returns whether no connection coroutine is left.
bool report() {
  std::printf("shut down: %zu connections served, %zu handshakes, %zu cancelled, %zu left\n",
              stats.served.load(), stats.handshakes.load(), stats.cancelled.load(),
              stats.live.load());
  std::fflush(stdout);
  return stats.live == 0;
}

/// Cancels the server and waits for it and its connections; prints what was served.
/// Returns whether no connection coroutine is left.
bool shut_down(xcoro::frame_t<void>& server) {
  xcoro::cancel(server.frame());
  xcoro::xawait(server);
  return report();
}

struct options {
  std::string cert;
  std::string key;
  std::string port = "8443";
  double seconds = -1;   // --for SECONDS; negative: serve until killed
  unsigned threads = 0;  // --threads N; 0: no runtime, the calling thread's loop
};

bool parse(int argc, char** argv, options& o) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (i + 1 >= argc) {
      return false;
    }
    if (a == "--cert") {
      o.cert = argv[++i];
    } else if (a == "--key") {
      o.key = argv[++i];
    } else if (a == "--port") {
      o.port = argv[++i];
    } else if (a == "--for") {
      char* end = nullptr;
      o.seconds = std::strtod(argv[++i], &end);
      if (*end != '\0' || !(o.seconds >= 0 && o.seconds <= 1e9)) {
        return false;
      }
    } else if (a == "--threads") {
      char* end = nullptr;
      unsigned long n = std::strtoul(argv[++i], &end, 10);
      if (*end != '\0' || n == 0 || n > 1024) {
        return false;
      }
      o.threads = static_cast<unsigned>(n);
    } else {
      return false;
    }
  }
  return !o.cert.empty() && !o.key.empty();
}

/// https_hello --threads N: N servers, one per worker, all sharing `ctx` (an SSL_CTX that
/// is not changed once made may serve streams on several threads).
int run_threaded(const options& o, aio::tls_context& ctx) {
  xcoro::runtime_options ro;
  ro.threads = o.threads;
  auto rt = xcoro::runtime::create(ro);
  if (!rt) {
    std::fprintf(stderr, "runtime: %s\n", rt.error().message().c_str());
    return 1;
  }
  reuse_port::fleet f(o.threads);
  if (std::error_code ec = reuse_port::start(*rt, o.port, f, accept_loop, &ctx)) {
    std::fprintf(stderr, "cannot bind 127.0.0.1:%s: %s\n", o.port.c_str(), ec.message().c_str());
    return 2;
  }
  auto announce = [&] {
    std::printf("https hello on https://localhost:%u/ with %u worker threads (servers on %d)\n",
                f.port, o.threads, std::popcount(f.on_workers.load()));
    std::fflush(stdout);
  };
  int code = 0;
  if (f.failed != 0) {
    std::fprintf(stderr, "cannot listen on 127.0.0.1:%u\n", f.port);
    code = 2;
  } else if (o.seconds >= 0) {
    announce();
    std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<long long>(o.seconds * 1e3)));
  } else {
    code = stop_signals::wait_on(*rt, announce);  // serving until killed
  }
  // From this thread, which is not a worker: each server's cancel is posted to its worker.
  reuse_port::stop(f);
  if (code == 0) {
    code = report() ? 0 : 4;
  }
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  if (!parse(argc, argv, o)) {
    std::fprintf(stderr,
                 "usage: https_hello --cert CHAIN.pem --key KEY.pem [--port N] [--for SECONDS]\n"
                 "                   [--threads N]\n");
    return 2;
  }
  auto ctx = aio::tls_context::server(o.cert, o.key, {.alpn = {"http/1.1"}});
  if (!ctx) {
    std::fprintf(stderr, "https_hello: %s\n", ctx.error().message().c_str());
    return 2;
  }
  if (o.threads != 0) {
    return run_threaded(o, *ctx);
  }
  auto loop = aio::loop::create();
  if (!loop) {
    return 1;
  }
  aio::executor ex(*loop);
  aio::init_env({.executor = &ex});
  auto r = aio::run(nullptr, [&]() -> int {
    auto at = aio::endpoint::parse("127.0.0.1:" + o.port);
    auto listener = at ? aio::tcp::open(nullptr, *at) : xcoro::result<aio::tcp>(at.error());
    if (!listener || !listener->bind(*at) || !listener->listen(1024)) {
      std::fprintf(stderr, "cannot listen on 127.0.0.1:%s\n", o.port.c_str());
      return 2;
    }
    std::optional<aio::signal_set> sigs;
    if (o.seconds < 0) {
      auto s = stop_signals::make();
      if (!s) {
        return 1;
      }
      sigs.emplace(std::move(*s));
    }
    std::printf("https hello on https://localhost:%u/\n", listener->local_endpoint()->port());
    std::fflush(stdout);
    auto server = xcoro::xasync(accept_loop, &*listener, &*ctx);
    if (!server) {
      return 1;
    }
    if (sigs) {
      stop_signals::wait(*sigs);
    } else {
      (void)aio::sleep(nullptr, std::chrono::milliseconds(static_cast<long long>(o.seconds * 1e3)));
    }
    return shut_down(*server) ? 0 : 4;
  });
  return r ? *r : 1;
}
