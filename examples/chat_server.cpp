// A line chat server: every line a client sends goes to every other client.
//   chat_server [--port N] [--max-line N] [--unix PATH]
// serves on 127.0.0.1:N (default 0: any free port) until SIGINT or SIGTERM, then shuts down
// cleanly. --unix PATH also takes clients on a Unix domain socket (a path, or an abstract
// name starting with '@'; a path is removed at exit). Try it with `nc 127.0.0.1 PORT` and
// `nc -U PATH` in a few terminals.
//
// Each client is one coroutine in a task_group, with a child coroutine that reads its
// lines through a buffered_reader; the client's own coroutine writes what the others said,
// taken from its outbox (a channel of shared lines, so a line sent to many clients is one
// allocation). A line longer than --max-line (default 1024 bytes) ends that client, with
// an error message to it; the server and the other clients go on. A client whose outbox
// fills up (it does not read what the others say) is dropped, rather than slowing everyone.
// Shutting down is cancelling the server's coroutine: the cancel flows down to the accept
// loops and every client, and the task_group waits until all have finished.
#include <signal.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <xcoro/aio.hpp>
#include <xcoro/buffered.hpp>
#include <xcoro/channel.hpp>
#include <xcoro/scope.hpp>

#include "stop_signals.hpp"

namespace aio = xcoro::aio;
using namespace std::chrono_literals;

namespace {

using line = std::shared_ptr<const std::string>;

/// How long a write to a client may wait for it to read, before it is dropped.
constexpr auto write_timeout = 10s;
/// Lines waiting for a client; one that falls this far behind is dropped.
constexpr std::size_t outbox_lines = 256;

/// One connected client, as the room sees it: where lines for it go.
struct member {
  explicit member(unsigned id) : id(id) {}
  unsigned id;
  xcoro::channel<line> outbox{xcoro::channel_options{.capacity = outbox_lines}};
};

/// The clients connected now. The whole server runs on one thread's loop, so the room
/// needs no lock.
class room {
 public:
  unsigned next_id() { return ++ids_; }
  void join(member& m) {
    members_.push_back(&m);
    ++live_;
    std::printf("client %u joined\n", m.id);
    std::fflush(stdout);
  }
  void leave(member& m, std::string_view why) {
    std::erase(members_, &m);
    --live_;
    std::printf("client %u left: %.*s\n", m.id, static_cast<int>(why.size()), why.data());
    std::fflush(stdout);
  }
  /// Queues `text` for every member but `from` (nullptr: for all). Never waits: a member
  /// whose outbox is full has its outbox closed, which ends it.
  void broadcast(const member* from, std::string text) {
    auto shared = std::make_shared<const std::string>(std::move(text));
    for (member* m : members_) {
      line l = shared;
      if (m != from && !m->outbox.try_send(l)) {
        m->outbox.close();
      }
    }
  }
  unsigned served() const { return ids_; }
  unsigned live() const { return live_; }

 private:
  std::vector<member*> members_;
  unsigned ids_ = 0;
  unsigned live_ = 0;
};

/// Reads `conn`'s lines and hands each to the room until the client leaves, sends a line
/// over the limit, or is cancelled; then closes its outbox, after an error message when
/// the line was too long. Sets `why`.
template <class Stream>
void read_lines(room& r, member& me, Stream& conn, std::size_t max_line, std::string& why) {
  aio::buffered_reader in(conn);
  const std::string prefix = "client " + std::to_string(me.id) + ": ";
  for (;;) {
    auto text = in.read_line(max_line);
    if (!text) {
      if (text.error() == std::errc::message_size) {
        line msg = std::make_shared<const std::string>(
            "* error: line longer than " + std::to_string(max_line) + " bytes; goodbye\n");
        (void)me.outbox.try_send(msg);  // full: it is being dropped anyway
        why = "line over the limit";
      } else if (text.error() == xcoro::errc::eof) {
        why = "end of stream";
      } else {
        why = text.error().message();
      }
      break;
    }
    r.broadcast(&me, prefix + std::string(*text) + "\n");
  }
  me.outbox.close();
}

/// Reads what the client still sends, for up to a second, until it closes its side: closing
/// a TCP socket with unread data resets the connection, and the reset can overtake the last
/// lines sent to the client (the error message, typically).
template <class Stream>
void linger(Stream& conn) {
  if (!conn.shutdown()) {
    return;
  }
  auto until = std::chrono::steady_clock::now() + 1s;
  std::array<std::byte, 4096> sink;
  for (auto now = std::chrono::steady_clock::now(); now < until;
       now = std::chrono::steady_clock::now()) {
    if (!conn.read(sink, std::chrono::ceil<std::chrono::milliseconds>(until - now))) {
      return;  // end of stream, timed out, or cancelled
    }
  }
}

/// One client: its reader in a child coroutine, its writer here. Either side ending ends
/// the other: the reader closes the outbox, and the writer, done, cancels the reader.
template <class Stream>
void serve_client(room& r, Stream conn, std::size_t max_line) {
  member me(r.next_id());
  r.join(me);
  line hello = std::make_shared<const std::string>(
      "* you are client " + std::to_string(me.id) + "; lines up to " +
      std::to_string(max_line) + " bytes\n");
  (void)me.outbox.try_send(hello);
  r.broadcast(&me, "* client " + std::to_string(me.id) + " joined\n");
  std::string why = "dropped";
  auto reader = xcoro::xasync(std::size_t{64 * 1024}, [&] {
    read_lines(r, me, conn, max_line, why);
  });
  if (reader) {
    while (auto l = me.outbox.recv()) {
      if (auto w = conn.write_all(std::as_bytes(std::span((*l)->data(), (*l)->size())),
                                  write_timeout);
          !w) {
        why = "write: " + w.error().message();
        break;
      }
    }
    xcoro::cancel(reader->frame());  // false if it has finished
    xcoro::xawait(*reader);
  } else {
    why = "xasync: " + reader.error().message();
  }
  r.leave(me, why);
  r.broadcast(nullptr, "* client " + std::to_string(me.id) + " left\n");
  if (!xcoro::cancel_requested()) {
    linger(conn);
  }
}

/// Accepts clients on `l` until cancelled, each served by a coroutine in `clients`.
template <class Listener>
void accept_loop(room& r, Listener* l, xcoro::task_group* clients, std::size_t max_line) {
  for (;;) {
    auto conn = l->accept();
    if (!conn) {
      if (conn.error() == xcoro::errc::canceled) {
        return;  // shutting down
      }
      std::fprintf(stderr, "accept: %s\n", conn.error().message().c_str());
      (void)aio::sleep(nullptr, 100ms);  // EMFILE and friends: let clients leave first
      continue;
    }
    if (auto s = clients->spawn(std::size_t{64 * 1024}, serve_client<Listener>, std::ref(r),
                                std::move(*conn), max_line);
        !s) {
      std::fprintf(stderr, "spawn: %s\n", s.error().message().c_str());  // conn is closed
    }
  }
}

/// The server: the accept loops and the clients, all in one group, until cancelled.
void serve(room& r, aio::tcp* tcp_listener, aio::unix_socket* unix_listener,
           std::size_t max_line) {
  xcoro::task_group clients;
  (void)clients.spawn(accept_loop<aio::tcp>, std::ref(r), tcp_listener, &clients, max_line);
  if (unix_listener != nullptr) {
    (void)clients.spawn(accept_loop<aio::unix_socket>, std::ref(r), unix_listener, &clients,
                        max_line);
  }
  (void)clients.wait();  // returns once the cancel has ended every child
}

struct options {
  std::string port = "0";
  std::size_t max_line = 1024;
  std::string unix_path;
};

bool parse(int argc, char** argv, options& o) {
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string_view a = argv[i];
    const char* v = argv[i + 1];
    if (a == "--port") {
      o.port = v;
    } else if (a == "--max-line") {
      char* end = nullptr;
      unsigned long long n = std::strtoull(v, &end, 10);
      if (*end != '\0' || n == 0 || n > (1u << 20)) {
        return false;
      }
      o.max_line = static_cast<std::size_t>(n);
    } else if (a == "--unix") {
      o.unix_path = v;
    } else {
      return false;
    }
  }
  return argc % 2 == 1;
}

/// Serves until SIGINT or SIGTERM; returns the exit status.
int run(const options& o) {
  auto at = aio::endpoint::parse("127.0.0.1:" + o.port);
  if (!at) {
    std::fprintf(stderr, "bad port: %s\n", o.port.c_str());
    return 2;
  }
  auto tcp_listener = aio::tcp::open(nullptr, *at);
  if (!tcp_listener || !tcp_listener->bind(*at) || !tcp_listener->listen(128)) {
    std::fprintf(stderr, "cannot listen on 127.0.0.1:%s\n", o.port.c_str());
    return 3;
  }
  std::optional<aio::unix_socket> unix_listener;
  if (!o.unix_path.empty()) {
    auto u = aio::unix_socket::open(nullptr);
    auto bound = u ? u->bind(o.unix_path) : xcoro::result<void>(u.error());
    if (!bound) {
      std::fprintf(stderr, "cannot bind %s: %s%s\n", o.unix_path.c_str(),
                   bound.error().message().c_str(),
                   bound.error() == std::errc::address_in_use
                       ? " (remove the file if no server uses it)"
                       : "");
      return 3;
    }
    unix_listener.emplace(std::move(*u));
    if (!unix_listener->listen(128)) {
      return 3;
    }
  }
  auto sigs = stop_signals::make();
  if (!sigs) {
    return 1;
  }
  std::printf("chat server on 127.0.0.1:%u", tcp_listener->local_endpoint()->port());
  if (unix_listener) {
    std::printf(" and %s", o.unix_path.c_str());
  }
  std::printf(", lines up to %zu bytes\n", o.max_line);
  std::fflush(stdout);
  room r;
  auto server = xcoro::xasync(serve, std::ref(r), &*tcp_listener,
                              unix_listener ? &*unix_listener : nullptr, o.max_line);
  if (!server) {
    std::fprintf(stderr, "xasync: %s\n", server.error().message().c_str());
    return 1;
  }
  stop_signals::wait(*sigs);
  xcoro::cancel(server->frame());
  xcoro::xawait(*server);
  if (unix_listener && o.unix_path.front() != '@') {
    ::unlink(o.unix_path.c_str());  // ours: bind made it
  }
  std::printf("shut down: %u clients served, ", r.served());
  if (r.live() == 0) {
    std::printf("all finished\n");
  } else {
    std::printf("%u still running\n", r.live());
  }
  std::fflush(stdout);
  return r.live() == 0 ? 0 : 5;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  if (!parse(argc, argv, o)) {
    std::fprintf(stderr, "usage: chat_server [--port N] [--max-line N] [--unix PATH]\n");
    return 2;
  }
  auto loop = aio::loop::create();
  if (!loop) {
    std::fprintf(stderr, "loop: %s\n", loop.error().message().c_str());
    return 1;
  }
  aio::executor ex(*loop);
  aio::init_env({.executor = &ex});
  auto r = aio::run(nullptr, run, std::cref(o));
  if (!r) {
    std::fprintf(stderr, "run: %s\n", r.error().message().c_str());
    return 1;
  }
  return *r;
}
