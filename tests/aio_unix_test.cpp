// Tests of aio::unix_socket: echo over a socket bound to a path in a temporary directory
// and to an abstract name, end of stream, the errors of bind and connect (a name in use, a
// path too long for sockaddr_un at its exact limit, a missing path, nothing listening),
// accept and read timeouts, accept cancelled from a third coroutine, 1 MiB through
// write_all, buffered_reader::read_line over a socket, and a server and a client on two
// workers of a runtime. ctest runs the suite once per backend (XCORO_BACKEND=io_uring and
// =epoll). Timing is asserted as lower bounds only; the payloads are std::string.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include <gtest/gtest.h>

#include "support/aio_fixture.hpp"
#include "support/temp_dir.hpp"
#include "xcoro/aio.hpp"
#include "xcoro/buffered.hpp"
#include "xcoro/coro.hpp"
#include "xcoro/runtime.hpp"
#include "xcoro/scope.hpp"

namespace {

namespace aio = xcoro::aio;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

constexpr auto short_timeout = 30ms;
// Never expires on a working loop; a wait that does fails the test instead of hanging it.
constexpr auto long_timeout = 20000ms;

std::int64_t ms_since(clock_type::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t).count();
}

std::span<const std::byte> bytes_of(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

std::span<std::byte> bytes_of(std::string& s) {
  return {reinterpret_cast<std::byte*>(s.data()), s.size()};
}

/// An abstract name no other test run uses.
std::string abstract_name(std::string_view what) {
  static std::atomic<int> n{0};
  return "@xcoro-unix-test-" + std::to_string(::getpid()) + "-" + std::to_string(n++) + "-" +
         std::string(what);
}

/// Reads `s` to its end (errc::eof), at most 4 KiB at a time.
xcoro::result<std::string> read_to_end(aio::unix_socket& s) {
  std::string all;
  std::string chunk(4096, '\0');
  for (;;) {
    auto n = s.read(bytes_of(chunk), long_timeout);
    if (!n) {
      if (n.error() == xcoro::errc::eof) {
        return all;
      }
      return n.error();
    }
    all.append(chunk, 0, *n);
  }
}

/// A listening socket on `name`.
aio::unix_socket listener_on(const std::string& name) {
  auto l = aio::unix_socket::open(nullptr);
  EXPECT_TRUE(l) << l.error().message();
  auto b = l->bind(name);
  EXPECT_TRUE(b) << name << ": " << b.error().message();
  EXPECT_TRUE(l->listen(16));
  return std::move(*l);
}

/// Both ends of a connection to `l`, which listens on `name`: connect first (the backlog
/// takes it), then accept. (Returned as a struct, not bound to [c, a]: clang 14's lambdas
/// cannot capture structured bindings.)
struct connection {
  std::optional<aio::unix_socket> client;
  std::optional<aio::unix_socket> server;
};
connection connect_to(aio::unix_socket& l, const std::string& name) {
  connection out;
  auto c = aio::unix_socket::open(nullptr);
  EXPECT_TRUE(c);
  if (!c) {
    return out;
  }
  auto con = c->connect(name, long_timeout);
  EXPECT_TRUE(con) << con.error().message();
  auto a = l.accept(long_timeout);
  EXPECT_TRUE(a) << a.error().message();
  if (con && a) {
    out.client.emplace(std::move(*c));
    out.server.emplace(std::move(*a));
  }
  return out;
}

/// Runs `f(client, server)` from a coroutine, over a new connection to a listener on `name`.
template <class F>
void over_connection(const std::string& name, F f) {
  aio::unix_socket l = listener_on(name);
  auto r = aio::run(nullptr, [&] {
    connection conn = connect_to(l, name);
    ASSERT_TRUE(conn.client && conn.server);
    f(*conn.client, *conn.server);
  });
  EXPECT_TRUE(r);
}

/// Accepts one client on `l` and echoes it until its end of stream, then shuts down.
void echo_one(aio::unix_socket& l) {
  auto c = l.accept(long_timeout);
  ASSERT_TRUE(c) << c.error().message();
  std::string buf(1000, '\0');
  for (;;) {
    auto n = c->read(bytes_of(buf), long_timeout);
    if (!n) {
      EXPECT_EQ(n.error(), xcoro::errc::eof);
      break;
    }
    ASSERT_TRUE(c->write_all(bytes_of(buf).first(*n), long_timeout));
  }
  EXPECT_TRUE(c->shutdown());
}

/// Connects to `name`, sends `msg`, shuts down, and returns what comes back.
std::string echo_through(const std::string& name, const std::string& msg) {
  aio::unix_socket l = listener_on(name);
  std::string back;
  auto r = aio::run(nullptr, [&] {
    auto server = xcoro::xasync([&] { echo_one(l); });
    auto c = aio::unix_socket::open(nullptr);
    ASSERT_TRUE(c);
    auto con = c->connect(name, long_timeout);
    ASSERT_TRUE(con) << con.error().message();
    ASSERT_TRUE(c->write_all(bytes_of(msg)));
    ASSERT_TRUE(c->shutdown());
    auto got = read_to_end(*c);
    ASSERT_TRUE(got) << got.error().message();
    back = std::move(*got);
    xcoro::xawait(*server);
  });
  EXPECT_TRUE(r);
  return back;
}

class AioUnix : public xcoro_test::aio_fixture {};

// --- echo and end of stream --------------------------------------------------------------

TEST_F(AioUnix, EchoOverAPathInATempDirectory) {
  xcoro_test::temp_dir dir("unix");
  std::string path = (dir / "echo.sock").string();
  std::string msg = "hello over a path\n" + std::string(5000, 'p');
  EXPECT_EQ(echo_through(path, msg), msg);
  // The file stays after the sockets are closed: removing it is the caller's choice.
  struct stat st{};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
}

// A connect made by a coroutine already cancelled returns errc::canceled without
// connecting, on both backends (epoll's connect loop used to try the connect first).
TEST_F(AioUnix, AConnectOfACancelledCoroutineIsCanceled) {
  std::string name = abstract_name("cancelled");
  aio::unix_socket l = listener_on(name);
  auto r = aio::run(nullptr, [&] {
    auto c = aio::unix_socket::open(nullptr);
    ASSERT_TRUE(c);
    auto client = xcoro::xasync([&] {
      xcoro::xsuspend();  // cancelled while parked here
      auto con = c->connect(name, long_timeout);
      return con ? std::string("connected") : con.error().message();
    });
    ASSERT_TRUE(client);
    EXPECT_TRUE(xcoro::cancel(client->frame()));
    xcoro::xresume(client->frame());
    EXPECT_EQ(xcoro::xawait(*client), make_error_code(xcoro::errc::canceled).message());
    auto pending = l.accept(std::chrono::milliseconds(20));  // nobody connected
    ASSERT_FALSE(pending);
    EXPECT_EQ(pending.error(), std::errc::timed_out);
  });
  EXPECT_TRUE(r);
}

TEST_F(AioUnix, EchoOverAnAbstractName) {
  std::string name = abstract_name("echo");
  std::string msg = "hello over an abstract name";
  EXPECT_EQ(echo_through(name, msg), msg);
  // No file of that name (without the '@') appears anywhere relative to here.
  EXPECT_FALSE(std::filesystem::exists(name.substr(1)));
}

TEST_F(AioUnix, EofAfterThePeerShutsDownOrCloses) {
  std::string name = abstract_name("eof");
  over_connection(name, [&](aio::unix_socket& c, aio::unix_socket& a) {
    std::string msg = "last words";
    ASSERT_TRUE(c.write_all(bytes_of(msg)));
    ASSERT_TRUE(c.shutdown());
    std::string buf(64, '\0');
    auto n = a.read(bytes_of(buf), long_timeout);
    ASSERT_TRUE(n);
    EXPECT_EQ(buf.substr(0, *n), msg);
    EXPECT_EQ(a.read(bytes_of(buf), long_timeout).error(), xcoro::errc::eof);
    EXPECT_EQ(a.read(bytes_of(buf)).error(), xcoro::errc::eof);  // and again
    // The other direction still works after a half close, then ends with close().
    ASSERT_TRUE(a.write_all(bytes_of(msg)));
    ASSERT_TRUE(a.close());
    auto back = read_to_end(c);
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, msg);
    // A write to a closed peer is broken_pipe (MSG_NOSIGNAL: no SIGPIPE).
    auto w = c.write(bytes_of(msg), long_timeout);
    ASSERT_FALSE(w);
    EXPECT_EQ(w.error(), std::errc::broken_pipe);
  });
}

// --- bind and connect errors ---------------------------------------------------------------

TEST_F(AioUnix, BindOnAnExistingSocketFileIsAddressInUse) {
  xcoro_test::temp_dir dir("unix");
  std::string path = (dir / "stale.sock").string();
  {
    auto first = aio::unix_socket::open(nullptr);
    ASSERT_TRUE(first);
    ASSERT_TRUE(first->bind(path));
    ASSERT_TRUE(first->close());  // the file stays: a stale socket
  }
  auto again = aio::unix_socket::open(nullptr);
  ASSERT_TRUE(again);
  auto b = again->bind(path);
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error(), std::errc::address_in_use) << b.error().message();
  // After the caller removes it, the name is free.
  ASSERT_EQ(::unlink(path.c_str()), 0);
  EXPECT_TRUE(again->bind(path));
}

TEST_F(AioUnix, BindOnAnAbstractNameInUseIsAddressInUse) {
  std::string name = abstract_name("taken");
  aio::unix_socket l = listener_on(name);
  auto other = aio::unix_socket::open(nullptr);
  ASSERT_TRUE(other);
  auto b = other->bind(name);
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error(), std::errc::address_in_use);
}

// sun_path holds 108 bytes: a path of 107 (plus its terminator) and an abstract name of 107
// (after its leading '\0') fit, and are used whole; one byte more is filename_too_long for
// bind and for connect, never a truncated name.
TEST_F(AioUnix, APathTooLongForSunPathIsFilenameTooLong) {
  xcoro_test::temp_dir dir("unix");
  std::string base = (dir / "").string();
  ASSERT_LT(base.size(), 100u);
  std::string fits = base + std::string(107 - base.size(), 'f');
  std::string too_long = base + std::string(108 - base.size(), 'f');
  ASSERT_EQ(fits.size(), 107u);
  std::string abstract_fits = abstract_name("");
  abstract_fits += std::string(108 - abstract_fits.size(), 'a');
  ASSERT_EQ(abstract_fits.size(), 108u);  // '@' + 107
  std::string abstract_too_long = abstract_fits + "a";

  for (const std::string& bad : {too_long, abstract_too_long}) {
    auto s = aio::unix_socket::open(nullptr);
    ASSERT_TRUE(s);
    auto b = s->bind(bad);
    ASSERT_FALSE(b);
    EXPECT_EQ(b.error(), std::errc::filename_too_long);
    auto c = s->connect(bad, long_timeout);
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error(), std::errc::filename_too_long);
  }
  // At the limit: bound and reached by exactly that name.
  for (const std::string& name : {fits, abstract_fits}) {
    std::string msg = "at the limit";
    EXPECT_EQ(echo_through(name, msg), msg) << name;
  }
  EXPECT_TRUE(std::filesystem::exists(fits));
  EXPECT_FALSE(std::filesystem::exists(fits.substr(0, 106)));
}

TEST_F(AioUnix, AnEmptyPathOrOneWithANulIsInvalid) {
  auto s = aio::unix_socket::open(nullptr);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->bind("").error(), std::errc::invalid_argument);
  EXPECT_EQ(s->bind(std::string("/tmp/a\0b", 8)).error(), std::errc::invalid_argument);
  EXPECT_EQ(s->connect("").error(), std::errc::invalid_argument);
}

TEST_F(AioUnix, ConnectToNothingIsAClearError) {
  xcoro_test::temp_dir dir("unix");
  // No file at all.
  {
    auto c = aio::unix_socket::open(nullptr);
    ASSERT_TRUE(c);
    auto r = c->connect((dir / "missing.sock").string(), long_timeout);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), std::errc::no_such_file_or_directory) << r.error().message();
  }
  // A socket file with no listener behind it (bound, never listening, closed).
  std::string stale = (dir / "stale.sock").string();
  {
    auto s = aio::unix_socket::open(nullptr);
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->bind(stale));
  }
  {
    auto c = aio::unix_socket::open(nullptr);
    ASSERT_TRUE(c);
    auto r = c->connect(stale, long_timeout);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), std::errc::connection_refused) << r.error().message();
  }
  // An abstract name nobody holds.
  {
    auto c = aio::unix_socket::open(nullptr);
    ASSERT_TRUE(c);
    auto r = aio::run(nullptr, [&] { return c->connect(abstract_name("nobody")); });
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), std::errc::connection_refused) << r.error().message();
  }
}

// --- timeouts and cancellation ---------------------------------------------------------------

TEST_F(AioUnix, AcceptTimesOut) {
  aio::unix_socket l = listener_on(abstract_name("accept-timeout"));
  auto r = aio::run(nullptr, [&] {
    auto t0 = clock_type::now();
    auto a = l.accept(short_timeout);
    ASSERT_FALSE(a);
    EXPECT_EQ(a.error(), std::errc::timed_out);
    EXPECT_GE(ms_since(t0), short_timeout.count());
  });
  ASSERT_TRUE(r);
}

// A coroutine waiting in accept is cancelled from a third one, first through aio::cancel
// (the op), then through xcoro::cancel (the whole coroutine); the listener still accepts.
TEST_F(AioUnix, AcceptCancelledFromAThirdCoroutine) {
  std::string name = abstract_name("accept-cancel");
  aio::unix_socket l = listener_on(name);
  auto r = aio::run(nullptr, [&] {
    for (bool whole : {false, true}) {
      std::error_code got;
      auto acceptor = xcoro::xasync([&] { got = l.accept().error(); });
      auto canceller = xcoro::xasync([&] {
        EXPECT_TRUE(aio::sleep(nullptr, 5ms));
        EXPECT_TRUE(whole ? xcoro::cancel(acceptor->frame()) : aio::cancel(acceptor->frame()));
      });
      xcoro::xawait(*canceller);
      xcoro::xawait(*acceptor);
      EXPECT_EQ(got, xcoro::errc::canceled) << (whole ? "xcoro::cancel" : "aio::cancel");
    }
    connection conn = connect_to(l, name);
    auto& c = conn.client;
    auto& a = conn.server;
    EXPECT_TRUE(c && a);
  });
  ASSERT_TRUE(r);
}

TEST_F(AioUnix, ReadAndConnectTimeOutOrSucceedInTime) {
  std::string name = abstract_name("read-timeout");
  over_connection(name, [&](aio::unix_socket& c, aio::unix_socket& a) {
    std::string buf(16, '\0');
    auto t0 = clock_type::now();
    auto n = a.read(bytes_of(buf), short_timeout);
    ASSERT_FALSE(n);
    EXPECT_EQ(n.error(), std::errc::timed_out);
    EXPECT_GE(ms_since(t0), short_timeout.count());
    // The socket is still good after a timed-out read.
    std::string msg = "late";
    ASSERT_TRUE(c.write_all(bytes_of(msg), long_timeout));
    auto m = a.read(bytes_of(buf), long_timeout);
    ASSERT_TRUE(m);
    EXPECT_EQ(buf.substr(0, *m), msg);
  });
}

// A connect to a listener whose backlog is full waits: it times out while nobody accepts,
// is cancelled by aio::cancel, and completes once the server accepts. (On epoll the kernel
// says EAGAIN and never wakes a poller of the connecting socket: a readiness wait would
// last until the timeout; the test caught that.)
TEST_F(AioUnix, ConnectToAFullBacklogWaitsForAnAccept) {
  std::string name = abstract_name("backlog");
  auto l = aio::unix_socket::open(nullptr);
  ASSERT_TRUE(l);
  ASSERT_TRUE(l->bind(name));
  ASSERT_TRUE(l->listen(0));  // one connection waits; the next finds the backlog full
  auto r = aio::run(nullptr, [&] {
    auto first = aio::unix_socket::open(nullptr);
    ASSERT_TRUE(first);
    ASSERT_TRUE(first->connect(name, long_timeout));
    auto second = aio::unix_socket::open(nullptr);
    ASSERT_TRUE(second);
    auto t0 = clock_type::now();
    auto late = second->connect(name, short_timeout);
    ASSERT_FALSE(late);
    EXPECT_EQ(late.error(), std::errc::timed_out);
    EXPECT_GE(ms_since(t0), short_timeout.count());
    std::error_code got;
    auto connector = xcoro::xasync([&] { got = second->connect(name).error(); });
    auto canceller = xcoro::xasync([&] {
      EXPECT_TRUE(aio::sleep(nullptr, 5ms));
      EXPECT_TRUE(aio::cancel(connector->frame()));
    });
    xcoro::xawait(*canceller);
    xcoro::xawait(*connector);
    EXPECT_EQ(got, xcoro::errc::canceled);
    auto acceptor = xcoro::xasync([&]() -> xcoro::result<void> {
      auto s = aio::sleep(nullptr, short_timeout);
      if (!s) {
        return s.error();
      }
      for (int i = 0; i < 2; ++i) {
        auto a = l->accept(long_timeout);
        if (!a) {
          return a.error();
        }
      }
      return {};
    });
    t0 = clock_type::now();
    auto in_time = second->connect(name, long_timeout);
    EXPECT_TRUE(in_time) << in_time.error().message();
    EXPECT_GE(ms_since(t0), short_timeout.count() - 1);
    auto accepted = xcoro::xawait(*acceptor);
    EXPECT_TRUE(accepted) << accepted.error().message();
  });
  ASSERT_TRUE(r);
}

// A write_all to a peer that never reads ends at its deadline with timed_out, having
// written less than all (the socket buffers are far smaller than 16 MiB).
TEST_F(AioUnix, WriteAllToAPeerThatDoesNotReadTimesOut) {
  std::string name = abstract_name("write-timeout");
  over_connection(name, [&](aio::unix_socket& c, aio::unix_socket& /*never reads*/) {
    std::string big(16 << 20, 'w');
    auto t0 = clock_type::now();
    auto w = c.write_all(bytes_of(big), short_timeout);
    ASSERT_FALSE(w);
    EXPECT_EQ(w.error(), std::errc::timed_out);
    EXPECT_GE(ms_since(t0), short_timeout.count());
  });
}

// --- bulk and buffered ---------------------------------------------------------------------

TEST_F(AioUnix, OneMebibyteThroughWriteAll) {
  xcoro_test::temp_dir dir("unix");
  std::string path = (dir / "bulk.sock").string();
  std::string msg(1 << 20, '\0');
  for (std::size_t i = 0; i < msg.size(); ++i) {
    msg[i] = static_cast<char>('a' + (i * 7 + i / 4096) % 26);
  }
  over_connection(path, [&](aio::unix_socket& c, aio::unix_socket& a) {
    auto writer = xcoro::xasync([&] {
      auto w = c.write_all(bytes_of(msg), long_timeout);
      ASSERT_TRUE(w) << w.error().message();
      ASSERT_TRUE(c.shutdown());
    });
    auto got = read_to_end(a);
    xcoro::xawait(*writer);
    ASSERT_TRUE(got) << got.error().message();
    EXPECT_EQ(got->size(), msg.size());
    EXPECT_TRUE(*got == msg);
  });
}

TEST_F(AioUnix, BufferedReadLineOverASocket) {
  std::string name = abstract_name("lines");
  over_connection(name, [&](aio::unix_socket& c, aio::unix_socket& a) {
    auto writer = xcoro::xasync([&] {
      aio::buffered_writer out(c, {.buffer = 64});
      for (int i = 0; i < 1000; ++i) {
        ASSERT_TRUE(out.write("line " + std::to_string(i) + "\r\n"));
      }
      ASSERT_TRUE(out.write(std::string(5000, 'x') + "\n"));  // over the reader's limit
      ASSERT_TRUE(out.write("after\n"));
      ASSERT_TRUE(out.flush());
      ASSERT_TRUE(c.shutdown());
    });
    aio::buffered_reader in(a, {.buffer = 128});
    for (int i = 0; i < 1000; ++i) {
      auto line = in.read_line(100, long_timeout);
      ASSERT_TRUE(line) << i << ": " << line.error().message();
      EXPECT_EQ(*line, "line " + std::to_string(i));
    }
    auto big = in.read_line(100, long_timeout);
    ASSERT_FALSE(big);
    EXPECT_EQ(big.error(), std::errc::message_size);
    auto after = in.read_line(100, long_timeout);
    ASSERT_TRUE(after);
    EXPECT_EQ(*after, "after");
    EXPECT_EQ(in.read_line(100, long_timeout).error(), xcoro::errc::eof);
    xcoro::xawait(*writer);
  });
}

// --- inside a runtime ------------------------------------------------------------------------

// A listener made with a nullptr executor on one worker accepts on another, and the client
// runs on a third block_on, each party on a worker of its own (block_on takes the workers
// in turn; each party waits for the other to start, so neither is counted idle meanwhile).
TEST(AioUnixRuntime, ServerAndClientOnTwoWorkers) {
  if (auto probe = aio::loop::create(); !probe) {
    GTEST_SKIP() << "backend unavailable here: " << probe.error().message();
  }
  auto rt = xcoro::runtime::create({.threads = 2});
  ASSERT_TRUE(rt) << rt.error().message();
  std::string name = abstract_name("runtime");
  std::optional<aio::unix_socket> listener;
  ASSERT_TRUE(rt->block_on([&] { listener.emplace(listener_on(name)); }));
  std::string msg(200000, '\0');
  for (std::size_t i = 0; i < msg.size(); ++i) {
    msg[i] = static_cast<char>('A' + i % 23);
  }
  std::atomic<int> arrived{0};
  std::atomic<int> worker[2] = {-1, -1};
  auto arrive = [&](int i) {
    worker[i] = xcoro::this_worker();
    ++arrived;
    while (arrived.load() < 2) {
      EXPECT_TRUE(aio::sleep(nullptr, 1ms));
    }
  };
  std::string back;
  std::thread server([&] {
    auto r = rt->block_on([&] {
      arrive(0);
      echo_one(*listener);
    });
    EXPECT_TRUE(r) << r.error().message();
  });
  std::thread client([&] {
    auto r = rt->block_on([&] {
      arrive(1);
      auto c = aio::unix_socket::open(nullptr);
      ASSERT_TRUE(c);
      ASSERT_TRUE(c->connect(name, long_timeout));
      // Write and read at once: the echo would fill both directions' buffers otherwise.
      auto w = xcoro::xasync([&] {
        EXPECT_TRUE(c->write_all(bytes_of(msg), long_timeout));
        EXPECT_TRUE(c->shutdown());
      });
      auto got = read_to_end(*c);
      xcoro::xawait(*w);
      ASSERT_TRUE(got) << got.error().message();
      back = std::move(*got);
    });
    EXPECT_TRUE(r) << r.error().message();
  });
  server.join();
  client.join();
  EXPECT_TRUE(back == msg) << back.size() << " bytes came back of " << msg.size();
  EXPECT_NE(worker[0].load(), worker[1].load());
  ASSERT_TRUE(rt->block_on([&] { listener.reset(); }));
}

}  // namespace
