// A TCP echo server, one coroutine per connection, on one thread. The connections live in a
// task_group owned by the accept loop, and the server shuts down by cancelling that loop.
//   echo_server [port]                serve on 127.0.0.1:port (0: any) until killed
//   echo_server [port] --for SECONDS  serve for SECONDS, then shut down cleanly
//   echo_server --self-test           serve 64 clients while 4 more connections stay open,
//                                     shut down, check that every connection coroutine ended
//
// Shutting down is cancelling the accept loop's coroutine (xcoro::cancel): its accept
// returns errc::canceled, so it stops accepting; the cancel flows down to the connection
// coroutines it started in its task_group, whose pending read returns errc::canceled, so
// they return and close their sockets; leaving the loop's scope, ~task_group waits until
// the last of them has finished. This is Go's context cancellation, or asio's closing the
// acceptor and the sockets, with the joining done by the group. xcoro has no signal
// handling yet: a killed server exits without it.
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include <xcoro/aio.hpp>
#include <xcoro/scope.hpp>

namespace aio = xcoro::aio;

namespace {

/// What the connections did. One thread: plain counters.
struct counters {
  std::size_t served = 0;     // connections handed to a coroutine
  std::size_t cancelled = 0;  // connections ended by the shutdown (errc::canceled)
  std::size_t live = 0;       // connection coroutines started and not yet finished
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

/// Cancels the server's accept loop and waits until it and every connection have finished.
/// Prints what was served; returns whether no connection coroutine is left.
bool shut_down(xcoro::frame_t<void>& server) {
  xcoro::cancel(server.frame());
  xcoro::xawait(server);
  std::printf("shut down: %zu connections served, %zu cancelled, ", stats.served, stats.cancelled);
  if (stats.live == 0) {
    std::printf("all finished\n");
  } else {
    std::printf("%zu still running\n", stats.live);
  }
  std::fflush(stdout);
  return stats.live == 0;
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
int self_test(xcoro::frame_t<void>& server, std::uint16_t port) {
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
    std::printf("%zu connection coroutines running before the shutdown, %zu expected\n", stats.live,
                idlers.size());
  }
  bool finished = shut_down(server);
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
                 "usage: echo_server [port]                serve until killed\n"
                 "       echo_server [port] --for SECONDS  serve, then shut down\n"
                 "       echo_server --self-test\n");
    return 2;
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
    std::uint16_t bound = listener->local_endpoint()->port();
    std::printf("echo server on 127.0.0.1:%u\n", bound);
    std::fflush(stdout);
    auto server = xcoro::xasync(accept_loop, &*listener);
    if (!server) {
      std::fprintf(stderr, "xasync: %s\n", server.error().message().c_str());
      return 1;
    }
    if (o.self_test) {
      return self_test(*server, bound);
    }
    if (o.seconds < 0) {
      xcoro::xawait(*server);  // serves until the process is killed
      return 0;
    }
    (void)aio::sleep(nullptr, std::chrono::milliseconds(static_cast<long long>(o.seconds * 1e3)));
    return shut_down(*server) ? 0 : 5;
  });
  if (!r) {
    std::fprintf(stderr, "run: %s\n", r.error().message().c_str());
    return 1;
  }
  return *r;
}
