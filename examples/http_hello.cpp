// A minimal HTTP/1.1 keep-alive server answering "hello" to every request, one coroutine
// per connection, kept in a task_group. curl and wrk can drive it.
//   http_hello [port]                 serve on 127.0.0.1:port (default 8080) until SIGINT
//                                     or SIGTERM, then shut down cleanly
//   http_hello [port] --for SECONDS   serve for SECONDS, then shut down cleanly
//   http_hello --self-test            three keep-alive requests on one connection while
//                                     three more connections stay open, shut down, check
//   ... --threads N                   the same on a runtime of N worker threads: an accept
//                                     loop on each worker, each with its own listener on
//                                     the port (SO_REUSEPORT); the kernel spreads connections
//
// Shutting down is cancelling the accept loop's coroutine (xcoro::cancel): accept returns
// errc::canceled; the cancel flows down to the connection coroutines in the loop's
// task_group, whose pending read returns errc::canceled; ~task_group waits for the last
// one. Serving until killed, the server waits for SIGINT or SIGTERM on an aio::signal_set
// (with --threads, in a coroutine of the runtime) and then shuts down as --for does; other
// signals keep their default actions.
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

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
#include <vector>

#include <xcoro/aio.hpp>
#include <xcoro/runtime.hpp>
#include <xcoro/scope.hpp>

#include "reuse_port.hpp"
#include "stop_signals.hpp"

namespace aio = xcoro::aio;

namespace {

constexpr std::string_view response =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 6\r\n"
    "\r\n"
    "hello\n";

/// What the connections did. Atomic: with --threads, connections run on several workers.
struct counters {
  std::atomic<std::size_t> served{0};     // connections handed to a coroutine
  std::atomic<std::size_t> cancelled{0};  // connections ended by the shutdown (canceled)
  std::atomic<std::size_t> live{0};       // connection coroutines started, not finished
};
counters stats;

/// Counts a connection coroutine from its start until it ends, however it ends, and
/// whether the shutdown reached it while it ran. Its loop leaves only when a read or write
/// fails, so a cancelled one has seen errc::canceled there.
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
/// Requests are only scanned for their end ("\r\n\r\n"): bodies are not supported, which
/// "hello" does not need.
void serve(aio::tcp conn) {
  live_connection counted;
  std::array<char, 8192> buf;
  std::size_t have = 0;
  for (;;) {
    auto n = conn.read(std::as_writable_bytes(std::span(buf).subspan(have)));
    if (!n) {
      return;  // errc::eof, a reset, or errc::canceled: the server shuts down
    }
    have += *n;
    std::string_view data(buf.data(), have);
    std::size_t consumed = 0;
    for (std::size_t end; (end = data.find("\r\n\r\n", consumed)) != std::string_view::npos;) {
      if (!conn.write_all(std::as_bytes(std::span(response)))) {
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

/// Accepts connections until cancelled, each served by its own coroutine in a task_group,
/// which keeps the unfinished ones and releases each as it finishes. Returns once every
/// connection coroutine has finished.
void accept_loop(aio::tcp* listener) {
  xcoro::task_group connections;
  for (;;) {
    auto conn = listener->accept();
    if (!conn) {
      if (conn.error() == xcoro::errc::canceled) {
        break;  // shutting down: stop accepting
      }
      continue;  // EMFILE and friends: keep accepting
    }
    if (connections.spawn(std::size_t{32 * 1024}, serve, std::move(*conn))) {
      ++stats.served;
    }
  }
  // The cancel that ended accept has reached the connections too (it flows down to the
  // coroutines this one started). ~task_group cancels any still running and waits for all.
}

/// Prints what was served; returns whether no connection coroutine is left.
bool report() {
  std::printf("shut down: %zu connections served, %zu cancelled, ", stats.served.load(),
              stats.cancelled.load());
  if (stats.live == 0) {
    std::printf("all finished\n");
  } else {
    std::printf("%zu still running\n", stats.live.load());
  }
  std::fflush(stdout);
  return stats.live == 0;
}

/// Cancels the server's accept loop and waits until it and every connection have finished.
bool shut_down(xcoro::frame_t<void>& server) {
  xcoro::cancel(server.frame());
  xcoro::xawait(server);
  return report();
}

/// A connection to the server on 127.0.0.1:port.
xcoro::result<aio::tcp> connect(std::uint16_t port) {
  auto to = *aio::endpoint::parse("127.0.0.1:" + std::to_string(port));
  auto c = aio::tcp::open(nullptr, to);
  if (!c) {
    return c;
  }
  if (auto r = c->connect(to); !r) {
    return r.error();
  }
  return c;
}

/// Sends one GET and checks the response.
bool get(aio::tcp& c) {
  std::string_view request = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
  if (!c.write_all(std::as_bytes(std::span(request)))) {
    return false;
  }
  std::string got;
  std::array<char, 256> buf;
  while (got.size() < response.size()) {
    auto n = c.read(std::as_writable_bytes(std::span(buf)));
    if (!n) {
      return false;
    }
    got.append(buf.data(), *n);
  }
  return got == response;
}

/// Whether the server has closed `c`: a read returns end of stream.
bool closed_by_server(aio::tcp& c) {
  std::array<std::byte, 16> buf;
  auto n = c.read(buf);
  return !n && n.error() == xcoro::errc::eof;
}

/// The self-test: three idle keep-alive connections, each answered once and then left
/// open; one client with three requests on one keep-alive connection, which then closes
/// gracefully; then the server shuts down while the idle ones are open, so it must cancel
/// their coroutines. Returns the exit status: 0 if every answer was right, every
/// connection coroutine finished, and the idle connections were closed.
template <class ShutDown>
int self_test(std::uint16_t port, ShutDown shut_down) {
  constexpr int idle = 3;
  std::vector<aio::tcp> idlers;
  for (int i = 0; i < idle; ++i) {
    // One request first, so that the server has accepted it and is waiting in its read.
    if (auto c = connect(port); c && get(*c)) {
      idlers.push_back(std::move(*c));
    }
  }
  bool keep_alive = false;
  if (auto c = connect(port)) {
    keep_alive = get(*c) && get(*c) && get(*c);
    // Half-close, and wait until the server, having read the end of stream, closes its side.
    keep_alive = keep_alive && c->shutdown() && closed_by_server(*c);
  }
  std::printf("keep-alive self-test: %s\n", keep_alive ? "ok" : "FAILED");
  // The keep-alive connection's coroutine closed it as it ended: only the idle ones are left.
  bool released = stats.live == idlers.size();
  if (!released) {
    std::printf("%zu connection coroutines running before the shutdown, %zu expected\n",
                stats.live.load(),
                idlers.size());
  }
  bool finished = shut_down();
  int closed = 0;
  for (auto& c : idlers) {
    closed += closed_by_server(c) ? 1 : 0;
  }
  std::printf("%d of %d idle connections closed by the shutdown\n", closed, idle);
  bool ok = keep_alive && closed == idle && released && finished &&
            stats.served == std::size_t{idle + 1} && stats.cancelled == std::size_t{idle};
  return ok ? 0 : 3;
}

/// The command line.
struct options {
  std::string port;  // empty: 8080, or any free port for the self-test
  bool self_test = false;
  double seconds = -1;   // --for SECONDS; negative: serve until killed
  unsigned threads = 0;  // --threads N; 0: no runtime, the calling thread's loop
};

bool parse(int argc, char** argv, options& o) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--self-test") {
      o.self_test = true;
    } else if (a == "--for" && i + 1 < argc) {
      char* end = nullptr;
      o.seconds = std::strtod(argv[++i], &end);
      if (*end != '\0' || !(o.seconds >= 0 && o.seconds <= 1e9)) {
        return false;
      }
    } else if (a == "--threads" && i + 1 < argc) {
      char* end = nullptr;
      unsigned long n = std::strtoul(argv[++i], &end, 10);
      if (*end != '\0' || n == 0 || n > 1024) {
        return false;
      }
      o.threads = static_cast<unsigned>(n);
    } else if (!a.empty() && a[0] != '-') {
      o.port = a;
    } else {
      return false;
    }
  }
  if (o.port.empty()) {
    o.port = o.self_test ? "0" : "8080";
  }
  return !(o.self_test && o.seconds >= 0);
}

/// http_hello --threads N: N servers, one per worker.
int run_threaded(const options& o) {
  xcoro::runtime_options ro;
  ro.threads = o.threads;
  auto rt = xcoro::runtime::create(ro);
  if (!rt) {
    std::fprintf(stderr, "runtime: %s\n", rt.error().message().c_str());
    return 1;
  }
  reuse_port::fleet f(o.threads);
  if (std::error_code ec = reuse_port::start(*rt, o.port, f, accept_loop)) {
    std::fprintf(stderr, "cannot bind 127.0.0.1:%s: %s\n", o.port.c_str(), ec.message().c_str());
    return 2;
  }
  int code = 0;
  if (f.failed != 0) {
    std::fprintf(stderr, "cannot listen on 127.0.0.1:%u\n", f.port);
    code = 2;
  } else {
    auto announce = [&] {
      std::printf("http hello on http://127.0.0.1:%u/, %u worker threads (servers on %d)\n",
                  f.port, o.threads, std::popcount(f.on_workers.load()));
      std::fflush(stdout);
    };
    if (o.self_test || o.seconds >= 0) {
      announce();
    }
    if (o.self_test) {
      auto r = rt->block_on([&] {
        return self_test(f.port, [&] {
          reuse_port::cancel_all(f);
          while (f.finished < o.threads) {
            (void)aio::sleep(nullptr, std::chrono::milliseconds(1));
          }
          return report();
        });
      });
      code = r ? *r : 1;
    } else if (o.seconds >= 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<long long>(o.seconds * 1e3)));
    } else {
      // Serving until killed: a coroutine on a worker waits for the signal; the servers are
      // then cancelled below, as with --for.
      code = stop_signals::wait_on(*rt, announce);
    }
  }
  // From this thread, which is not a worker: posted to each server's worker. After the
  // self-test's own shutdown there is nothing left to cancel; after a server failed to
  // listen, or the self-test could not run, the others are stopped here.
  reuse_port::stop(f);
  if (!o.self_test && code == 0) {
    code = report() ? 0 : 4;
  }
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  if (!parse(argc, argv, o)) {
    std::fprintf(stderr,
                 "usage: http_hello [port]                serve until SIGINT or SIGTERM (port 8080)\n"
                 "       http_hello [port] --for SECONDS  serve, then shut down\n"
                 "       http_hello --self-test\n"
                 "       add --threads N to run on N worker threads\n");
    return 2;
  }
  if (o.threads != 0) {
    return run_threaded(o);
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
    if (!o.self_test && o.seconds < 0) {
      auto s = stop_signals::make();
      if (!s) {
        return 1;
      }
      sigs.emplace(std::move(*s));
    }
    std::uint16_t bound = listener->local_endpoint()->port();
    std::printf("http hello on http://127.0.0.1:%u/\n", bound);
    std::fflush(stdout);
    auto server = xcoro::xasync(accept_loop, &*listener);
    if (!server) {
      return 1;
    }
    if (o.self_test) {
      return self_test(bound, [&] { return shut_down(*server); });
    }
    if (sigs) {
      stop_signals::wait(*sigs);
    } else {
      (void)aio::sleep(nullptr,
                       std::chrono::milliseconds(static_cast<long long>(o.seconds * 1e3)));
    }
    return shut_down(*server) ? 0 : 4;
  });
  return r ? *r : 1;
}
