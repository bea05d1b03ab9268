// A TCP echo server, one coroutine per connection. The connections live in a task_group
// owned by the accept loop, and the server shuts down by cancelling that loop.
//   echo_server [port]                serve on 127.0.0.1:port (0: any) until SIGINT or
//                                     SIGTERM, then shut down cleanly
//   echo_server [port] --for SECONDS  serve for SECONDS, then shut down cleanly
//   echo_server --self-test           serve 64 clients while 4 more connections stay open,
//                                     shut down, check that every connection coroutine ended
//   ... --threads N                   the same on a runtime of N worker threads: each
//                                     worker has its own listener on the port
//                                     (SO_REUSEPORT), and the kernel spreads connections
//
// Shutting down is cancelling the accept loop's coroutine (xcoro::cancel): its accept
// returns errc::canceled, so it stops accepting; the cancel flows down to the connection
// coroutines it started in its task_group, whose pending read returns errc::canceled, so
// they return and close their sockets; leaving the loop's scope, ~task_group waits until
// the last of them has finished. This is Go's context cancellation, or asio's closing the
// acceptor and the sockets, with the joining done by the group. With --threads, each
// worker waits on an aio::async_notification, which any thread may notify, and shuts its
// own server down. Serving until killed, the server waits for SIGINT or SIGTERM on an
// aio::signal_set (with --threads, in a coroutine of the runtime that then notifies every
// worker) and shuts down as --for does; other signals keep their default actions.
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
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

/// What the connections did, over every worker.
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

/// Echoes until the peer closes the connection, resets it, or the server shuts down.
/// Closing the socket is aio::tcp's destructor.
void serve_connection(aio::tcp conn) {
  live_connection counted;
  std::array<std::byte, 4096> buf;
  for (;;) {
    auto n = conn.read(buf);
    if (!n || !conn.write_all(std::span(buf).first(*n))) {
      return;  // errc::eof, a reset, or errc::canceled: the server shuts down
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
      std::fprintf(stderr, "accept: %s\n", conn.error().message().c_str());
      continue;  // EMFILE and friends: keep accepting
    }
    if (auto s = connections.spawn(std::size_t{32 * 1024}, serve_connection, std::move(*conn))) {
      ++stats.served;
    } else {
      std::fprintf(stderr, "spawn: %s\n", s.error().message().c_str());  // conn is closed
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

/// Sends `msg` (at most 64 bytes) and checks that it comes back.
bool round_trip(aio::tcp& c, std::string_view msg) {
  if (!c.write_all(std::as_bytes(std::span(msg)))) {
    return false;
  }
  std::array<std::byte, 64> back;
  std::size_t have = 0;
  while (have < msg.size()) {
    auto n = c.read(std::span(back).subspan(have));
    if (!n) {
      return false;
    }
    have += *n;
  }
  return std::memcmp(back.data(), msg.data(), msg.size()) == 0;
}

/// A client of the self-test: ten round trips, then a graceful close: it shuts down its
/// send side and waits until the server, having read the end of stream, closes its own.
bool client(std::uint16_t port, int id) {
  auto c = connect(port);
  if (!c) {
    return false;
  }
  for (int round = 0; round < 10; ++round) {
    if (!round_trip(*c, "client " + std::to_string(id) + " round " + std::to_string(round))) {
      return false;
    }
  }
  if (!c->shutdown()) {
    return false;
  }
  std::array<std::byte, 16> buf;
  auto n = c->read(buf);
  return !n && n.error() == xcoro::errc::eof;
}

/// The self-test: a few idle connections, each echoed once and then left open, and 64
/// clients that talk and close; then the server shuts down while the idle ones are open,
/// so it must cancel their coroutines. Returns the exit status: 0 if every client was
/// echoed, every connection coroutine finished, and the idle connections were closed.
int self_test(std::uint16_t port, const std::function<bool()>& shut_down_server) {
  constexpr int clients = 64;
  constexpr int idle = 4;
  std::vector<aio::tcp> idlers;
  for (int i = 0; i < idle; ++i) {
    // One round trip first, so that the server has accepted it and is waiting in its read.
    if (auto c = connect(port); c && round_trip(*c, "idle " + std::to_string(i))) {
      idlers.push_back(std::move(*c));
    }
  }
  std::vector<xcoro::frame_t<bool>> cs;
  for (int i = 0; i < clients; ++i) {
    if (auto f = xcoro::xasync(std::size_t{32 * 1024}, client, port, i)) {
      cs.push_back(std::move(*f));
    }
  }
  int echoed = 0;
  for (bool b : xcoro::xawait_all(cs)) {
    echoed += b ? 1 : 0;
  }
  std::printf("%d of %d clients echoed correctly\n", echoed, clients);
  // Each client saw its connection closed, which the server does when its coroutine ends:
  // only the idle connections' coroutines are left.
  bool released = stats.live == idlers.size();
  if (!released) {
    std::printf("%zu connection coroutines running before the shutdown, %zu expected\n",
                stats.live.load(), idlers.size());
  }
  bool finished = shut_down_server();
  // The server closed the idle connections when it cancelled them: each reads end of stream.
  int closed = 0;
  for (auto& c : idlers) {
    std::array<std::byte, 16> buf;
    auto n = c.read(buf);
    closed += !n && n.error() == xcoro::errc::eof ? 1 : 0;
  }
  std::printf("%d of %d idle connections closed by the shutdown\n", closed, idle);
  bool ok = echoed == clients && closed == idle && released && finished &&
            stats.served == std::size_t{clients + idle} && stats.cancelled == std::size_t{idle};
  return ok ? 0 : 4;
}

/// The command line.
struct options {
  std::string port = "0";
  bool self_test = false;
  double seconds = -1;  // --for SECONDS; negative: serve until killed
  unsigned threads = 0;  // --threads N; 0: no runtime, the calling thread's loop
};

/// What the workers of a --threads server share.
struct fleet {
  explicit fleet(unsigned n) : stops(n) {}
  std::uint16_t port = 0;
  std::vector<std::atomic<aio::async_notification*>> stops;  // each worker's stop request
  std::atomic<unsigned> ready{0};                            // workers listening
  std::atomic<unsigned> finished{0};                         // workers shut down
  std::atomic<unsigned> failed{0};                           // workers that could not serve
  std::atomic<aio::async_notification*> on_finish{nullptr};  // told as each one shuts down
};

/// One worker's server: its own listener and accept loop, until its stop notification (or
/// --for SECONDS). Returns 0, or an exit status.
int serve_worker(fleet& f, unsigned index, double seconds) {
  auto listener = reuse_port::listener(f.port);
  auto stop = aio::async_notification::create(nullptr);
  auto server = listener && stop ? xcoro::xasync(accept_loop, &*listener)
                                 : xcoro::result<xcoro::frame_t<void>>(
                                       std::make_error_code(std::errc::bad_file_descriptor));
  if (!server) {
    std::fprintf(stderr, "worker %u: cannot serve on 127.0.0.1:%u\n", index, f.port);
    ++f.failed;
    return 3;
  }
  f.stops[index].store(&*stop);
  ++f.ready;
  if (seconds >= 0) {
    (void)aio::sleep(nullptr, std::chrono::milliseconds(static_cast<long long>(seconds * 1e3)));
  } else {
    (void)stop->wait();  // notified by the self-test, from another worker
  }
  xcoro::cancel(server->frame());
  xcoro::xawait(*server);
  f.stops[index].store(nullptr);
  ++f.finished;
  if (aio::async_notification* n = f.on_finish.load()) {
    (void)n->notify();
  }
  return 0;
}

/// The self-test's shutdown of a --threads server: tell every worker to stop, and wait
/// until all have (notifications coalesce, so the count decides).
bool shut_down_fleet(fleet& f) {
  auto done = aio::async_notification::create(nullptr);
  if (!done) {
    return false;
  }
  f.on_finish.store(&*done);
  for (auto& s : f.stops) {
    if (aio::async_notification* n = s.load()) {
      (void)n->notify();
    }
  }
  while (f.finished.load() < f.stops.size()) {
    (void)done->wait(std::chrono::milliseconds(100));  // a notify may precede on_finish
  }
  f.on_finish.store(nullptr);
  return report();
}

/// echo_server --threads N: N workers, each serving on the same port.
int run_threaded(const options& o) {
  xcoro::runtime_options ro;
  ro.threads = o.threads;
  auto rt = xcoro::runtime::create(ro);
  if (!rt) {
    std::fprintf(stderr, "runtime: %s\n", rt.error().message().c_str());
    return 1;
  }
  fleet f(o.threads);
  auto held = reuse_port::port_hold::bind(o.port);
  if (!held) {
    std::fprintf(stderr, "cannot bind 127.0.0.1:%s: %s\n", o.port.c_str(),
                 held.error().message().c_str());
    return 3;
  }
  f.port = held->port();
  // One block_on per worker, each from a thread of its own: block_on gives its calls to the
  // workers in turn, so each worker gets one server.
  std::vector<int> status(o.threads, 0);
  std::vector<std::thread> callers;
  for (unsigned i = 0; i < o.threads; ++i) {
    callers.emplace_back([&, i] {
      auto r = rt->block_on(serve_worker, std::ref(f), i, o.self_test ? -1.0 : o.seconds);
      status[i] = r ? *r : 1;
    });
  }
  while (f.ready.load() + f.failed.load() < o.threads && f.finished.load() == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  held->release();
  int code = 0;
  if (f.failed.load() != 0) {
    // Stop the workers that did start; they may still be on their way to listening.
    while (f.ready.load() + f.failed.load() < o.threads) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    for (auto& s : f.stops) {
      if (aio::async_notification* n = s.load()) {
        (void)n->notify();
      }
    }
    code = 3;
  }
  auto announce = [&] {
    std::printf("echo server on 127.0.0.1:%u, %u worker threads\n", f.port, o.threads);
    std::fflush(stdout);
  };
  if (code == 0 && (o.self_test || o.seconds >= 0)) {
    announce();
  }
  if (o.self_test && code == 0) {
    auto r = rt->block_on([&] { return self_test(f.port, [&] { return shut_down_fleet(f); }); });
    code = r ? *r : 1;
  } else if (o.seconds < 0 && code == 0) {
    // Serving until killed: a coroutine on a worker waits for the signal, then stops every
    // worker's server as the self-test does. The workers are waiting on their notifications.
    auto r = rt->block_on([&] {
      auto sigs = stop_signals::make();
      if (sigs) {
        announce();
        stop_signals::wait(*sigs);
      }
      bool finished = shut_down_fleet(f);
      return !sigs ? 1 : finished ? 0 : 5;
    });
    code = r ? *r : 1;
  }
  for (auto& c : callers) {
    c.join();
  }
  for (int s : status) {
    code = code != 0 ? code : s;
  }
  if (!o.self_test && o.seconds >= 0 && !report()) {
    code = 5;
  }
  return code;
}

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
  return !(o.self_test && o.seconds >= 0);
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  if (!parse(argc, argv, o)) {
    std::fprintf(stderr,
                 "usage: echo_server [port]                serve until SIGINT or SIGTERM\n"
                 "       echo_server [port] --for SECONDS  serve, then shut down\n"
                 "       echo_server --self-test\n"
                 "       add --threads N to run on N worker threads\n");
    return 2;
  }
  if (o.threads != 0) {
    return run_threaded(o);
  }
  auto loop = aio::loop::create();
  if (!loop) {
    std::fprintf(stderr, "loop: %s\n", loop.error().message().c_str());
    return 1;
  }
  aio::executor ex(*loop);
  aio::init_env({.executor = &ex});
  auto r = aio::run(nullptr, [&]() -> int {
    auto at = aio::endpoint::parse("127.0.0.1:" + o.port);
    if (!at) {
      std::fprintf(stderr, "bad port: %s\n", o.port.c_str());
      return 2;
    }
    auto listener = aio::tcp::open(nullptr, *at);
    if (!listener || !listener->bind(*at) || !listener->listen(1024)) {
      std::fprintf(stderr, "cannot listen on 127.0.0.1:%s\n", o.port.c_str());
      return 3;
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
    std::printf("echo server on 127.0.0.1:%u\n", bound);
    std::fflush(stdout);
    auto server = xcoro::xasync(accept_loop, &*listener);
    if (!server) {
      std::fprintf(stderr, "xasync: %s\n", server.error().message().c_str());
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
    return shut_down(*server) ? 0 : 5;
  });
  if (!r) {
    std::fprintf(stderr, "run: %s\n", r.error().message().c_str());
    return 1;
  }
  return *r;
}
