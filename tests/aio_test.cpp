// Tests of async IO: zigcoro's aio tests 11-23 ported, then what it lacks: deadlock
// detection, ready work beside IO, timeouts, cancellation, resets and refusals, partial
// writes, EMFILE, many connections, a notify storm, 100,000 sleeps. ctest runs this suite
// once per backend (XCORO_BACKEND=io_uring and =epoll). Timing is asserted as lower bounds
// only; nothing sleeps to synchronise.
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <new>
#include <filesystem>
#include <numeric>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "support/in_root.hpp"
#include "support/aio_fixture.hpp"
#include "support/temp_dir.hpp"
#include "support/test_stacks.hpp"
#include "xcoro/aio.hpp"
#include "xcoro/channel.hpp"
#include "xcoro/coro.hpp"

#include "support/counted.hpp"
#include "support/counting_new.hpp"

namespace {

namespace aio = xcoro::aio;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

std::int64_t ms_since(clock_type::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t).count();
}

std::span<const std::byte> bytes(const void* p, std::size_t n) {
  return {static_cast<const std::byte*>(p), n};
}

using Aio = xcoro_test::aio_fixture;

// 11. aio sleep top-level: from root, the call pumps the loop.
TEST_F(Aio, SleepTopLevel) {
  XCORO_TEST_REQUIRES_ROOT();
  auto t0 = clock_type::now();
  ASSERT_TRUE(aio::sleep(ex(), 10ms));
  EXPECT_GE(ms_since(t0), 10);
}

// 12. aio sleep run: on a 4 KiB stack.
TEST_F(Aio, SleepRun) {
  alignas(16) static std::byte stack[xcoro_test::small_stack];
  auto t0 = clock_type::now();
  auto r = aio::run(ex(), xcoro::stack_span(stack), [this] {
    EXPECT_GT(xcoro::remaining_stack_size(), 1024u);
    EXPECT_TRUE(aio::sleep(ex(), 10ms));
    return clock_type::now();
  });
  ASSERT_TRUE(r);
  EXPECT_GE(std::chrono::duration_cast<std::chrono::milliseconds>(*r - t0).count(), 10);
}

// 13 and 21. Concurrent sleeps (explicit and env stacks).
TEST_F(Aio, ConcurrentSleep) {
  auto t0 = clock_type::now();
  auto r = aio::run(ex(), [this, t0] {
    auto sleep_for = [this](std::chrono::milliseconds d) {
      EXPECT_TRUE(aio::sleep(ex(), d));
      return clock_type::now();
    };
    auto a = xcoro::xasync(sleep_for, 10ms);
    auto b = xcoro::xasync(std::size_t{16 * 1024}, sleep_for, 20ms);
    clock_type::time_point after1 = xcoro::xawait(*a);
    clock_type::time_point after2 = xcoro::xawait(*b);
    EXPECT_GE(std::chrono::duration_cast<std::chrono::milliseconds>(after1 - t0).count(), 10);
    EXPECT_GE(std::chrono::duration_cast<std::chrono::milliseconds>(after2 - t0).count(), 20);
    EXPECT_LT(after1, after2);
  });
  ASSERT_TRUE(r);
  EXPECT_GE(ms_since(t0), 20);
}

// 14. aio timers: two tick loops; from its 7th tick the slow one sees the fast one done.
TEST_F(Aio, Timers) {
  int fast_ticks = 0;
  auto r = aio::run(ex(), [&] {
    auto fast = xcoro::xasync([&] {
      for (int i = 0; i < 10; ++i) {
        EXPECT_TRUE(aio::sleep(nullptr, 10ms));
        ++fast_ticks;
      }
    });
    auto slow = xcoro::xasync([&] {
      for (int i = 0; i < 10; ++i) {
        EXPECT_TRUE(aio::sleep(nullptr, 20ms));
        if (i >= 6) {
          EXPECT_EQ(fast_ticks, 10);
        }
      }
    });
    xcoro::xawait(*fast);
    xcoro::xawait(*slow);
  });
  ASSERT_TRUE(r);
}

struct listener {
  aio::tcp socket;
  std::uint16_t port;
};

listener listen_local(aio::executor* ex, int backlog = 128) {
  auto any = aio::endpoint::parse("127.0.0.1:0");
  EXPECT_TRUE(any);
  auto s = aio::tcp::open(ex, *any);
  EXPECT_TRUE(s);
  EXPECT_TRUE(s->bind(*any));
  EXPECT_TRUE(s->listen(backlog));
  auto local = s->local_endpoint();
  EXPECT_TRUE(local);
  return {std::move(*s), local->port()};
}

aio::endpoint local_port(std::uint16_t port) {
  return *aio::endpoint::parse("127.0.0.1:" + std::to_string(port));
}

// 15. aio tcp.
TEST_F(Aio, Tcp) {
  const std::array<std::uint8_t, 7> fib{1, 1, 2, 3, 5, 8, 13};
  auto r = aio::run(ex(), [&] {
    listener l = listen_local(nullptr, 1);
    auto server = xcoro::xasync(std::size_t{32 * 1024}, [&] {
      auto conn = l.socket.accept();
      EXPECT_TRUE(conn);
      EXPECT_TRUE(l.socket.close());
      std::array<std::byte, 7> got{};
      std::size_t have = 0;
      while (have < got.size()) {
        auto n = conn->read(std::span(got).subspan(have));
        EXPECT_TRUE(n);
        if (!n) {
          return;
        }
        have += *n;
      }
      EXPECT_EQ(std::memcmp(got.data(), fib.data(), 7), 0);
    });
    auto client = aio::tcp::open(nullptr, local_port(l.port));
    EXPECT_TRUE(client);
    EXPECT_TRUE(client->connect(local_port(l.port)));
    auto n = client->write(bytes(fib.data(), fib.size()));
    EXPECT_TRUE(n);
    EXPECT_EQ(*n, 7u);
    xcoro::xawait(*server);
  });
  ASSERT_TRUE(r);
}

// 16. aio file.
TEST_F(Aio, File) {
  xcoro_test::temp_dir dir("aio");
  auto r = aio::run(ex(), [&] {
    const char data[] = "1123581";
    {
      auto f = aio::file::open(nullptr, dir / "f", O_CREAT | O_TRUNC | O_WRONLY);
      EXPECT_TRUE(f);
      auto n = f->write(bytes(data, 7));
      EXPECT_TRUE(n);
      EXPECT_EQ(*n, 7u);
      EXPECT_EQ(fsync(f->native_handle()), 0);
    }
    auto f = aio::file::open(nullptr, dir / "f", O_RDONLY);
    EXPECT_TRUE(f);
    std::array<std::byte, 128> buf{};
    auto n = f->read(buf);
    EXPECT_TRUE(n);
    EXPECT_EQ(*n, 7u);
    EXPECT_EQ(std::memcmp(buf.data(), data, 7), 0);
    // Positional IO leaves the file offset alone.
    auto p = f->pread(std::span(buf).first(3), 4);
    EXPECT_TRUE(p);
    EXPECT_EQ(std::memcmp(buf.data(), "581", 3), 0);
    auto rest = f->read(buf);
    EXPECT_TRUE(rest);
    EXPECT_EQ(*rest, 0u);  // at the end
  });
  ASSERT_TRUE(r);
}

// 17. aio udp; the fix: read_from keeps the sender's address.
TEST_F(Aio, Udp) {
  auto r = aio::run(ex(), [&] {
    auto any = *aio::endpoint::parse("127.0.0.1:0");
    auto server = aio::udp::open(nullptr, any);
    EXPECT_TRUE(server);
    EXPECT_TRUE(server->bind(any));
    auto addr = *server->local_endpoint();
    auto client = aio::udp::open(nullptr, any);
    EXPECT_TRUE(client->bind(any));
    auto client_addr = *client->local_endpoint();
    auto reader = xcoro::xasync([&] {
      std::array<std::byte, 64> buf{};
      auto got = server->read_from(buf);
      EXPECT_TRUE(got);
      EXPECT_EQ(got->first, 7u);
      EXPECT_EQ(got->second.port(), client_addr.port());
      EXPECT_EQ(std::memcmp(buf.data(), "datagrm", 7), 0);
    });
    auto n = client->write(addr, bytes("datagrm", 7));
    EXPECT_TRUE(n);
    EXPECT_EQ(*n, 7u);
    xcoro::xawait(*reader);
  });
  ASSERT_TRUE(r);
}

// 18. aio process.
TEST_F(Aio, Process) {
  auto r = aio::run(ex(), [&] {
    auto ok = aio::process::spawn(nullptr, {"sh", "-c", "exit 0"});
    EXPECT_TRUE(ok);
    EXPECT_EQ(ok->wait(), 0u);
    auto three = aio::process::spawn(nullptr, {"sh", "-c", "exit 3"});
    EXPECT_EQ(three->wait(), 3u);
    auto missing = aio::process::spawn(nullptr, {"/nonexistent/xcoro-no-such-program"});
    if (xcoro_test::emulated && missing) {
      // qemu-user runs posix_spawn's vfork as a fork, so the exec failure shows up as the
      // child's exit status 127 instead of an error from spawn.
      EXPECT_EQ(missing->wait(), 127u);
    } else {
      EXPECT_FALSE(missing);
    }
  });
  ASSERT_TRUE(r);
}

// 19. aio async: notify on the same thread; the waiter runs.
TEST_F(Aio, AsyncNotification) {
  bool notified = false;
  auto r = aio::run(ex(), [&] {
    auto n = aio::async_notification::create(nullptr);
    EXPECT_TRUE(n);
    auto waiter = xcoro::xasync([&] {
      EXPECT_TRUE(n->wait());
      notified = true;
    });
    EXPECT_TRUE(n->notify());
    EXPECT_TRUE(aio::sleep(nullptr, 10ms));
    EXPECT_TRUE(notified);
    xcoro::xawait(*waiter);
  });
  ASSERT_TRUE(r);
}

// 20. aio sleep env: everything from the env.
TEST_F(Aio, SleepEnv) {
  auto t0 = clock_type::now();
  auto r = aio::run(nullptr, [] { return aio::sleep(nullptr, 10ms); });
  ASSERT_TRUE(r);
  EXPECT_GE(ms_since(t0), 10);
}

// 22. aio mix channels.
TEST_F(Aio, MixChannels) {
  auto r = aio::run(nullptr, [] {
    xcoro::channel<int> ch({.capacity = 10});
    auto sender = xcoro::xasync([&] {
      for (int i = 0; i < 6; ++i) {
        EXPECT_TRUE(ch.send(i));
        EXPECT_TRUE(aio::sleep(nullptr, 10ms));
      }
      ch.close();
    });
    auto receiver = xcoro::xasync([&] {
      int sum = 0;
      while (auto v = ch.recv()) {
        sum += *v;
      }
      return sum;
    });
    xcoro::xawait(*sender);
    return xcoro::xawait(*receiver);
  });
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, 15);
}

// 23. aio mix async recurse in sleep and notification: a child's completion wakes main
// spuriously while it waits for a notification from another thread.
TEST_F(Aio, SpuriousWakeDuringNotificationWait) {
  bool child_done = false;
  bool notified = false;
  auto r = aio::run(nullptr, [&] {
    auto n = aio::async_notification::create(nullptr);
    EXPECT_TRUE(n);
    auto child = xcoro::xasync([&] {
      EXPECT_TRUE(aio::sleep(nullptr, 1ms));
      child_done = true;
    });
    std::thread notifier([&] {
      std::this_thread::sleep_for(20ms);
      EXPECT_TRUE(n->notify());
    });
    EXPECT_TRUE(n->wait());
    notified = true;
    xcoro::xawait(*child);
    notifier.join();
  });
  ASSERT_TRUE(r);
  EXPECT_TRUE(child_done);
  EXPECT_TRUE(notified);
}

// A timer that falls due before the loop blocks may complete the last op in flight; the
// loop must not then block with no timeout (found by million_timers: it hung).
TEST_F(Aio, LastTimerDueBeforeBlockingDoesNotHang) {
  bool woke = false;
  auto f = xcoro::xasync([&] {
    EXPECT_TRUE(aio::sleep(nullptr, 1ms));
    woke = true;
  });
  ASSERT_TRUE(f);
  auto until = clock_type::now() + 5ms;
  while (clock_type::now() < until) {
    // busy in root while the sleep falls due
  }
  while (ex()->tick()) {
  }
  EXPECT_TRUE(woke);
}

// Fix: run returns errc::deadlock instead of spinning.
TEST_F(Aio, RunDetectsDeadlock) {
  xcoro::channel<int> ch;
  auto r = aio::run(nullptr, [&] { return ch.recv().value_or(-1); });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), xcoro::errc::deadlock);
  ch.close();  // the stuck coroutine is still suspended on it; let it finish
}

// When run() gives up with errc::deadlock it unwinds its coroutine, and with it the
// channels and children that coroutine owns, values still buffered inside: each value is
// destroyed exactly once (the channel destructor once destroyed them twice).
TEST_F(Aio, DeadlockUnwindDestroysBufferedValuesOnce) {
  xcoro_test::ledger().reset();
  auto r = aio::run(nullptr, [&] {
    xcoro::channel<xcoro_test::counted> values({.capacity = 4});
    xcoro::channel<std::string> stuck({.capacity = 0});
    EXPECT_TRUE(values.send(xcoro_test::counted(1)));
    EXPECT_TRUE(values.send(xcoro_test::counted(2)));
    auto child = xcoro::xasync([&] {
      xcoro_test::counted held(3);
      return stuck.recv();  // nobody ever sends
    });
    EXPECT_TRUE(child);
    return stuck.recv();
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), xcoro::errc::deadlock);
  EXPECT_EQ(xcoro_test::ledger().live(), 0);
  EXPECT_EQ(xcoro_test::ledger().twice.load(), 0);
  EXPECT_EQ(xcoro_test::ledger().dead_use.load(), 0);
}

// Fix: ready work never waits behind unrelated IO. A ping-pong runs to completion while a
// long sleep is in flight.
TEST_F(Aio, ReadyWorkDoesNotWaitForIo) {
  bool sleeper_done = false;
  auto r = aio::run(nullptr, [&] {
    auto sleeper = xcoro::xasync([&] {
      auto s = aio::sleep(nullptr, 60s);
      sleeper_done = true;
      return s;
    });
    xcoro::channel<int> ping({.capacity = 0}), pong({.capacity = 0});
    auto echo = xcoro::xasync([&] {
      while (auto v = ping.recv()) {
        EXPECT_TRUE(pong.send(*v));
      }
    });
    for (int i = 0; i < 1000; ++i) {
      EXPECT_TRUE(ping.send(i));
      EXPECT_EQ(pong.recv(), i);
    }
    ping.close();
    xcoro::xawait(*echo);
    EXPECT_FALSE(sleeper_done);
    EXPECT_TRUE(aio::cancel(sleeper->frame()));
    auto s = xcoro::xawait(*sleeper);
    EXPECT_EQ(s.error(), xcoro::errc::canceled);
  });
  ASSERT_TRUE(r);
}

TEST_F(Aio, ReadTimeoutLeavesSocketUsable) {
  auto r = aio::run(nullptr, [&] {
    listener l = listen_local(nullptr);
    auto client = aio::tcp::open(nullptr, local_port(l.port));
    EXPECT_TRUE(client->connect(local_port(l.port)));
    auto conn = l.socket.accept(1000ms);
    EXPECT_TRUE(conn);
    std::array<std::byte, 16> buf{};
    auto t0 = clock_type::now();
    auto n = conn->read(buf, 30ms);
    EXPECT_EQ(n.error(), std::errc::timed_out);
    EXPECT_GE(ms_since(t0), 30);
    EXPECT_TRUE(client->write_all(bytes("after", 5)));
    auto m = conn->read(buf, 1000ms);
    EXPECT_TRUE(m);
    EXPECT_EQ(*m, 5u);
  });
  ASSERT_TRUE(r);
}

TEST_F(Aio, TimeoutsOnEveryKindOfWait) {
  auto r = aio::run(nullptr, [&] {
    listener l = listen_local(nullptr);
    EXPECT_EQ(l.socket.accept(20ms).error(), std::errc::timed_out);
    auto any = *aio::endpoint::parse("127.0.0.1:0");
    auto u = aio::udp::open(nullptr, any);
    EXPECT_TRUE(u->bind(any));
    std::array<std::byte, 8> buf{};
    EXPECT_EQ(u->read(buf, 20ms).error(), std::errc::timed_out);
    EXPECT_EQ(u->read_from(buf, 20ms).error(), std::errc::timed_out);
    auto n = aio::async_notification::create(nullptr);
    EXPECT_EQ(n->wait(20ms).error(), std::errc::timed_out);
    EXPECT_TRUE(n->notify());
    EXPECT_TRUE(n->wait(1000ms));  // still usable
    auto child = aio::process::spawn(nullptr, {"sleep", "5"});
    EXPECT_TRUE(child);
    EXPECT_EQ(child->wait(20ms).error(), std::errc::timed_out);
    kill(child->pid(), SIGKILL);
    EXPECT_EQ(child->wait(5000ms), 128u + SIGKILL);
  });
  ASSERT_TRUE(r);
}

TEST_F(Aio, CancelAPendingRead) {
  auto r = aio::run(nullptr, [&] {
    listener l = listen_local(nullptr);
    auto client = aio::tcp::open(nullptr, local_port(l.port));
    EXPECT_TRUE(client->connect(local_port(l.port)));
    auto conn = l.socket.accept();
    std::array<std::byte, 16> buf{};
    auto reader = xcoro::xasync([&] { return conn->read(buf); });
    EXPECT_EQ(reader->status(), xcoro::status::suspended);
    EXPECT_TRUE(aio::cancel(reader->frame()));
    auto got = xcoro::xawait(*reader);
    EXPECT_EQ(got.error(), xcoro::errc::canceled);
    EXPECT_FALSE(aio::cancel(reader->frame()));
    EXPECT_TRUE(client->write_all(bytes("x", 1)));
    EXPECT_EQ(conn->read(buf, 1000ms), 1u);  // the socket is still usable
  });
  ASSERT_TRUE(r);
}

// Destroying a coroutine blocked in a read: the kernel lets go of its stack buffer first.
TEST_F(Aio, DestroyCoroutineBlockedInRead) {
  auto r = aio::run(nullptr, [&] {
    listener l = listen_local(nullptr);
    auto client = aio::tcp::open(nullptr, local_port(l.port));
    EXPECT_TRUE(client->connect(local_port(l.port)));
    auto conn = l.socket.accept();
    {
      auto reader = xcoro::xasync([&] {
        std::array<std::byte, 64> buf{};
        return conn->read(buf);
      });
      EXPECT_EQ(reader->status(), xcoro::status::suspended);
    }
    EXPECT_TRUE(client->write_all(bytes("later", 5)));
    std::array<std::byte, 16> buf{};
    EXPECT_EQ(conn->read(buf, 1000ms), 5u);
  });
  ASSERT_TRUE(r);
}

// A stream socket pair whose first end is adopted by the loop; the second stays a plain
// descriptor that the test writes to with write(2).
struct socket_pair {
  std::optional<aio::tcp> end;
  int peer = -1;
  explicit socket_pair(aio::executor* ex = nullptr) {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0) {
      end.emplace(ex, fds[0]);
      peer = fds[1];
    }
  }
  socket_pair(socket_pair&& o) noexcept : end(std::move(o.end)), peer(std::exchange(o.peer, -1)) {}
  ~socket_pair() {
    if (peer >= 0) {
      ::close(peer);
    }
  }
  void poke() const { EXPECT_EQ(::write(peer, "x", 1), 1); }
};

// A cancel from a coroutine that did not start the target: the cancelled coroutine must
// not run inside the canceller's aio::cancel, or on finishing it would switch to its own
// starter and the canceller would never run again (run() then reported a false deadlock).
TEST_F(Aio, CancelFromAThirdCoroutineLeavesTheCancellerRunning) {
  bool canceller_returned = false;
  bool sleeper_saw_cancel = false;
  auto r = aio::run(nullptr, [&] {
    auto sleeper = xcoro::xasync([&] {
      auto s = aio::sleep(nullptr, 10s);
      sleeper_saw_cancel = s.error() == xcoro::errc::canceled;
    });
    auto canceller = xcoro::xasync([&] {
      EXPECT_TRUE(aio::sleep(nullptr, 10ms));
      EXPECT_TRUE(aio::cancel(sleeper->frame()));
      EXPECT_EQ(sleeper->status(), xcoro::status::suspended);  // not resumed in here
      canceller_returned = true;
    });
    xcoro::xawait(*canceller);
    xcoro::xawait(*sleeper);
  });
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(canceller_returned);
  EXPECT_TRUE(sleeper_saw_cancel);
}

// The same for a socket read, with payloads that own memory flowing before and after: the
// reader is started by one coroutine and cancelled by another, and the canceller goes on to
// use the socket.
TEST_F(Aio, CancelASocketReadFromAThirdCoroutine) {
  std::string after;
  auto r = aio::run(nullptr, [&] {
    socket_pair sp;
    ASSERT_TRUE(sp.end);
    std::optional<xcoro::frame_t<xcoro::result<std::size_t>>> reader;
    auto starter = xcoro::xasync([&] {
      reader.emplace(std::move(*xcoro::xasync([&] {
        std::array<std::byte, 64> buf{};
        return sp.end->read(buf);
      })));
    });
    ASSERT_EQ(reader->status(), xcoro::status::suspended);
    auto canceller = xcoro::xasync([&] {
      EXPECT_TRUE(aio::sleep(nullptr, 1ms));
      EXPECT_TRUE(aio::cancel(reader->frame()));
      const std::string msg(100, 'm');
      EXPECT_EQ(::write(sp.peer, msg.data(), msg.size()), 100);
      std::string got(100, '\0');
      std::size_t have = 0;
      while (have < got.size()) {
        auto n = sp.end->read({reinterpret_cast<std::byte*>(got.data()) + have, got.size() - have},
                              1000ms);
        if (!n) {
          ADD_FAILURE() << n.error().message();
          return;
        }
        have += *n;
      }
      after = got;
    });
    xcoro::xawait(*canceller);
    xcoro::xawait(*starter);
    auto got = xcoro::xawait(*reader);
    EXPECT_EQ(got.error(), xcoro::errc::canceled);
  });
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(after, std::string(100, 'm'));
}

// Closing a socket from a third coroutine ends a read blocked on it (EBADF on epoll, where
// close withdraws the waiting ops; io_uring's read ends by itself) without running the
// reader inside close().
TEST_F(Aio, CloseFromAThirdCoroutineWhileAnotherReads) {
  bool closer_returned = false;
  auto r = aio::run(nullptr, [&] {
    socket_pair sp;
    ASSERT_TRUE(sp.end);
    auto reader = xcoro::xasync([&] {
      std::array<std::byte, 64> buf{};
      return sp.end->read(buf, 200ms);
    });
    auto closer = xcoro::xasync([&] {
      EXPECT_TRUE(aio::sleep(nullptr, 1ms));
      EXPECT_TRUE(sp.end->close());
      EXPECT_EQ(reader->status(), xcoro::status::suspended);
      closer_returned = true;
    });
    xcoro::xawait(*closer);
    auto got = xcoro::xawait(*reader);
    EXPECT_FALSE(got);  // EBADF, or timed_out where the kernel's read outlives the close
  });
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(closer_returned);
}

// A coroutine resumed from the middle of a batch of completions unwinds another one blocked
// in a read: the unwinding reaps the rest of the batch while waiting for its own op, and
// the loop must then neither lose those completions nor take a CQE twice. The killer's read
// is submitted first, so on io_uring its CQE comes first in the batch, ahead of the others.
TEST_F(Aio, UnwindACoroutineFromInsideABatchOfCompletions) {
  constexpr int readers = 16;
  int got = 0;
  bool victim_returned = false;
  auto r = aio::run(nullptr, [&] {
    std::vector<socket_pair> pairs(readers + 2);
    for (const socket_pair& p : pairs) {
      ASSERT_TRUE(p.end);
    }
    socket_pair& killer_pair = pairs[readers];
    socket_pair& victim_pair = pairs[readers + 1];
    std::optional<xcoro::frame_t<void>> victim;
    auto killer = xcoro::xasync([&] {
      std::array<std::byte, 8> buf{};
      EXPECT_EQ(killer_pair.end->read(buf), 1u);
      victim.reset();  // unwinds it while the rest of the batch waits to be resumed
    });
    victim.emplace(std::move(*xcoro::xasync([&] {
      std::array<std::byte, 8> buf{};
      (void)victim_pair.end->read(buf);
      victim_returned = true;  // not reached: the frame is destroyed while it waits
    })));
    std::vector<xcoro::frame_t<void>> others;
    for (int i = 0; i < readers; ++i) {
      others.push_back(std::move(*xcoro::xasync([&, i] {
        std::array<std::byte, 8> buf{};
        EXPECT_EQ(pairs[static_cast<std::size_t>(i)].end->read(buf), 1u);
        ++got;
      })));
    }
    // All the data is there before the loop next enters the kernel, so the reads complete
    // together.
    killer_pair.poke();
    for (int i = 0; i < readers; ++i) {
      pairs[static_cast<std::size_t>(i)].poke();
    }
    xcoro::xawait(*killer);
    xcoro::xawait_all(others);
    EXPECT_FALSE(victim);
    // The victim's socket is still usable.
    victim_pair.poke();
    std::array<std::byte, 8> buf{};
    EXPECT_EQ(victim_pair.end->read(buf, 1000ms), 1u);
  });
  ASSERT_TRUE(r);
  EXPECT_EQ(got, readers);
  EXPECT_FALSE(victim_returned);
}

// More completions at once than the completion queue holds (4 SQ entries: 8 CQEs here):
// io_uring keeps the rest in its overflow list, and the loop must flush it rather than
// wait for completions that are already there.
TEST_F(Aio, MoreCompletionsThanTheCompletionQueueHolds) {
  auto small = aio::loop::create({.entries = 4});
  ASSERT_TRUE(small);
  aio::executor ex(*small);
  constexpr int readers = 64;
  int got = 0;
  auto r = aio::run(&ex, [&] {
    std::vector<socket_pair> pairs;
    pairs.reserve(readers);
    for (int i = 0; i < readers; ++i) {
      pairs.emplace_back(&ex);
      ASSERT_TRUE(pairs.back().end);
    }
    std::vector<xcoro::frame_t<void>> waiting;
    for (int i = 0; i < readers; ++i) {
      waiting.push_back(std::move(*xcoro::xasync([&, i] {
        std::array<std::byte, 8> buf{};
        EXPECT_EQ(pairs[static_cast<std::size_t>(i)].end->read(buf), 1u);
        ++got;
      })));
    }
    for (const socket_pair& p : pairs) {
      p.poke();
    }
    xcoro::xawait_all(waiting);
  });
  ASSERT_TRUE(r);
  EXPECT_EQ(got, readers);
}

// A loop that busy-polls (loop_options::busy_poll) before it sleeps still serves sockets
// and timers: a thread's writes are read as they come, a sleep longer than the spin lasts
// at least its time, and an idle loop with nothing in flight still reports a deadlock
// instead of spinning forever.
TEST_F(Aio, BusyPollingLoopServesSocketsAndTimers) {
  auto spinning = aio::loop::create(
      {.busy_poll = std::chrono::milliseconds(5), .busy_poll_adaptive = false});
  ASSERT_TRUE(spinning);
  aio::executor ex(*spinning);
  socket_pair pair(&ex);
  ASSERT_TRUE(pair.end);
  constexpr int messages = 50;
  std::thread writer([&] {
    for (int i = 0; i < messages; ++i) {
      pair.poke();
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  int got = 0;
  auto r = aio::run(&ex, [&] {
    std::array<std::byte, 64> buf{};
    while (got < messages) {
      auto n = pair.end->read(buf);
      ASSERT_TRUE(n);
      got += static_cast<int>(*n);
    }
    auto t0 = clock_type::now();
    EXPECT_TRUE(aio::sleep(&ex, std::chrono::milliseconds(20)));
    EXPECT_GE(ms_since(t0), 20);
  });
  writer.join();
  ASSERT_TRUE(r);
  EXPECT_EQ(got, messages);
  auto stuck = aio::run(&ex, [] { xcoro::xsuspend(); });
  EXPECT_EQ(stuck.error(), xcoro::errc::deadlock);
}

// Adaptive busy polling (the default) opens its window while the loop's sleeps are short
// and closes it once they grow long. A thread pokes the loop 40 times 1 ms apart (with a
// 20 ms limit, sleeps of 1 ms open the window until a spin catches each poke: the loop
// spends most of that burst spinning), then 10 times 100 ms apart: the first of those gaps
// may be spun for one window (a few ms: the window stops growing once its spins catch the
// pokes) before its long sleep closes it, and the others are slept. A fixed 20 ms spin
// would burn 20 ms on each gap; a window that never opened would not spin through the
// burst. Measured as the loop thread's CPU time.
TEST_F(Aio, AdaptiveBusyPollingOpensOnShortSleepsAndClosesWhenIdle) {
  if (std::getenv("XCORO_BUSY_POLL_US") != nullptr) {
    GTEST_SKIP() << "XCORO_BUSY_POLL_US replaces the adaptive window with a fixed spin";
  }
  auto adaptive = aio::loop::create({.busy_poll = std::chrono::milliseconds(20)});
  ASSERT_TRUE(adaptive);
  aio::executor ex(*adaptive);
  socket_pair pair(&ex);
  ASSERT_TRUE(pair.end);
  constexpr int burst = 40;
  constexpr int gaps = 10;
  std::thread writer([&] {
    for (int i = 0; i < burst; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      pair.poke();
    }
    for (int i = 0; i < gaps; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      pair.poke();
    }
  });
  auto thread_cpu_ms = [] {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
  };
  int got = 0;
  long burst_cpu_ms = 0;
  long gaps_cpu_ms = 0;
  auto r = aio::run(&ex, [&] {
    std::array<std::byte, 1> buf{};
    long t0 = thread_cpu_ms();
    for (; got < burst; ++got) {
      ASSERT_TRUE(pair.end->read(buf));
    }
    long t1 = thread_cpu_ms();
    for (; got < burst + gaps; ++got) {
      ASSERT_TRUE(pair.end->read(buf));
    }
    burst_cpu_ms = t1 - t0;
    gaps_cpu_ms = thread_cpu_ms() - t1;
  });
  writer.join();
  ASSERT_TRUE(r);
  EXPECT_EQ(got, burst + gaps);
  EXPECT_GE(burst_cpu_ms, 5) << "the window never opened during the burst";
  EXPECT_LT(gaps_cpu_ms, 50) << "the loop kept spinning through idle gaps";
}

TEST_F(Aio, BusyPollFromEnvironment) {
  const char* saved = std::getenv("XCORO_BUSY_POLL_US");
  std::string keep = saved != nullptr ? saved : "";
  for (const char* bad : {"", "fast", "-5", "12us", "99999999"}) {
    ::setenv("XCORO_BUSY_POLL_US", bad, 1);
    EXPECT_EQ(aio::loop::create().error(), std::errc::invalid_argument) << bad;
  }
  ::setenv("XCORO_BUSY_POLL_US", "50", 1);
  EXPECT_TRUE(aio::loop::create());
  if (saved != nullptr) {
    ::setenv("XCORO_BUSY_POLL_US", keep.c_str(), 1);
  } else {
    ::unsetenv("XCORO_BUSY_POLL_US");
  }
}

TEST_F(Aio, ConnectionRefused) {
  auto r = aio::run(nullptr, [&] {
    std::uint16_t port;
    {
      listener l = listen_local(nullptr);
      port = l.port;
    }  // closed: nothing listens there now
    auto c = aio::tcp::open(nullptr, local_port(port));
    auto rc = c->connect(local_port(port));
    EXPECT_EQ(rc.error(), std::errc::connection_refused);
  });
  ASSERT_TRUE(r);
}

TEST_F(Aio, PeerResetAndPeerClose) {
  auto r = aio::run(nullptr, [&] {
    listener l = listen_local(nullptr);
    std::array<std::byte, 16> buf{};
    {
      auto client = aio::tcp::open(nullptr, local_port(l.port));
      EXPECT_TRUE(client->connect(local_port(l.port)));
      auto conn = l.socket.accept();
      linger hard{1, 0};
      setsockopt(conn->native_handle(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
      EXPECT_TRUE(conn->close());  // RST
      EXPECT_EQ(client->read(buf, 1000ms).error(), std::errc::connection_reset);
    }
    {
      auto client = aio::tcp::open(nullptr, local_port(l.port));
      EXPECT_TRUE(client->connect(local_port(l.port)));
      auto conn = l.socket.accept();
      auto reader = xcoro::xasync([&] { return client->read(buf); });
      EXPECT_TRUE(conn->write_all(bytes("ab", 2)));
      EXPECT_EQ(xcoro::xawait(*reader), 2u);
      auto reader2 = xcoro::xasync([&] { return client->read(buf); });
      EXPECT_TRUE(conn->shutdown());  // the peer closes mid-read
      EXPECT_EQ(xcoro::xawait(*reader2).error(), xcoro::errc::eof);
    }
  });
  ASSERT_TRUE(r);
}

TEST_F(Aio, PartialWritesAndWriteAll) {
  constexpr std::size_t total = 4 << 20;
  auto r = aio::run(nullptr, [&] {
    listener l = listen_local(nullptr);
    auto client = aio::tcp::open(nullptr, local_port(l.port));
    int small = 4096;
    setsockopt(client->native_handle(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    EXPECT_TRUE(client->connect(local_port(l.port)));
    auto conn = l.socket.accept();
    std::vector<std::byte> out(total);
    for (std::size_t i = 0; i < total; ++i) {
      out[i] = static_cast<std::byte>(i * 7);
    }
    auto n = client->write(out);  // one send: the socket cannot take 4 MiB at once
    EXPECT_TRUE(n);
    EXPECT_LT(*n, total);
    auto reader = xcoro::xasync([&] {
      std::vector<std::byte> in;
      std::array<std::byte, 65536> buf;
      for (;;) {
        auto m = conn->read(buf);
        if (!m) {
          EXPECT_EQ(m.error(), xcoro::errc::eof);
          break;
        }
        in.insert(in.end(), buf.begin(), buf.begin() + static_cast<long>(*m));
      }
      return in;
    });
    EXPECT_TRUE(client->write_all(std::span(out).subspan(*n)));
    EXPECT_TRUE(client->shutdown());
    std::vector<std::byte> in = xcoro::xawait(std::move(*reader));
    EXPECT_EQ(in.size(), total);
    EXPECT_TRUE(in == out);
  });
  ASSERT_TRUE(r);
}

// Many concurrent connections through one echo server on one thread.
TEST_F(Aio, ManyConnectionEcho) {
  constexpr int connections = 256;
  constexpr int rounds = 10;
  int echoed = 0;
  auto r = aio::run(nullptr, [&] {
    listener l = listen_local(nullptr, connections);
    std::vector<xcoro::frame_t<void>> handlers;
    auto server = xcoro::xasync([&] {
      for (int i = 0; i < connections; ++i) {
        auto conn = l.socket.accept();
        EXPECT_TRUE(conn);
        handlers.push_back(std::move(*xcoro::xasync(
            std::size_t{16 * 1024},
            [](aio::tcp c) {
              std::array<std::byte, 64> buf;
              for (;;) {
                auto n = c.read(buf);
                if (!n) {
                  return;
                }
                if (!c.write_all(std::span(buf).first(*n))) {
                  return;
                }
              }
            },
            std::move(*conn))));
      }
    });
    std::vector<xcoro::frame_t<void>> clients;
    for (int i = 0; i < connections; ++i) {
      clients.push_back(std::move(*xcoro::xasync(std::size_t{16 * 1024}, [&, i] {
        auto c = aio::tcp::open(nullptr, local_port(l.port));
        EXPECT_TRUE(c->connect(local_port(l.port)));
        for (int k = 0; k < rounds; ++k) {
          std::string msg = std::to_string(i) + ":" + std::to_string(k);
          EXPECT_TRUE(c->write_all(bytes(msg.data(), msg.size())));
          std::array<std::byte, 64> buf;
          std::size_t have = 0;
          while (have < msg.size()) {
            auto n = c->read(std::span(buf).subspan(have));
            EXPECT_TRUE(n);
            if (!n) {
              return;
            }
            have += *n;
          }
          EXPECT_EQ(std::memcmp(buf.data(), msg.data(), msg.size()), 0);
          ++echoed;
        }
      })));
    }
    xcoro::xawait_all(clients);
    xcoro::xawait(*server);
    xcoro::xawait_all(handlers);
  });
  ASSERT_TRUE(r);
  EXPECT_EQ(echoed, connections * rounds);
}

// Accept under EMFILE: the error comes back, and the accept loop goes on once
// descriptors are free again. Runs in a child process, since it lowers RLIMIT_NOFILE.
TEST_F(Aio, AcceptSurvivesEmfile) {
  // A forked child must not share the parent's io_uring: re-execute instead.
  GTEST_FLAG_SET(death_test_style, xcoro_test::death_test_style());
  EXPECT_EXIT(
      {
        bool ok = false;
        auto r = aio::run(nullptr, [&] {
          listener l = listen_local(nullptr);
          auto c1 = aio::tcp::open(nullptr, local_port(l.port));
          auto c2 = aio::tcp::open(nullptr, local_port(l.port));
          if (!c1->connect(local_port(l.port)) || !c2->connect(local_port(l.port))) {
            return;
          }
          // Lower the limit so that exactly one more descriptor fits, then take it. (Not
          // dup(0): standard input may be closed, as it is in CI.)
          int lowest_free = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
          if (lowest_free < 0) {
            return;
          }
          rlimit lim{static_cast<rlim_t>(lowest_free + 1), static_cast<rlim_t>(lowest_free + 1)};
          std::vector<int> filler{lowest_free};
          setrlimit(RLIMIT_NOFILE, &lim);
          auto first = l.socket.accept();
          // Compared by value: with no descriptor left, UBSan cannot check the virtual
          // call that comparing with std::errc makes, and reports it.
          bool saw_emfile = !first && first.error().value() == EMFILE &&
                            &first.error().category() == &std::system_category();
          close(filler.back());
          auto second = l.socket.accept();
          ok = saw_emfile && second.has_value();
        });
        _exit(r && ok ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST_F(Aio, NotifyStormFromThreads) {
  constexpr int threads = 4;
  constexpr int per_thread = 2000;
  std::atomic<int> sent{0};
  auto r = aio::run(nullptr, [&] {
    auto n = aio::async_notification::create(nullptr);
    EXPECT_TRUE(n);
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
      ts.emplace_back([&] {
        for (int i = 0; i < per_thread; ++i) {
          sent.fetch_add(1);
          EXPECT_TRUE(n->notify());
        }
      });
    }
    // Every notify follows its increment, so once the count is complete a notification
    // is pending or already consumed: waiting never hangs, and at least one wait returns.
    int wakeups = 0;
    do {
      EXPECT_TRUE(n->wait());
      ++wakeups;
    } while (sent.load() < threads * per_thread);
    for (auto& t : ts) {
      t.join();
    }
    EXPECT_GE(wakeups, 1);
    EXPECT_LE(wakeups, threads * per_thread);
  });
  ASSERT_TRUE(r);
}

TEST_F(Aio, HundredThousandConcurrentSleeps) {
  constexpr int n = xcoro_test::many_coroutines;
  int woke = 0;
  auto r = aio::run(nullptr, [&] {
    std::vector<xcoro::frame_t<void>> sleepers;
    sleepers.reserve(n);
    for (int i = 0; i < n; ++i) {
      auto f = xcoro::xasync(std::size_t{16 * 1024}, [&woke](int ms) {
        if (aio::sleep(nullptr, std::chrono::milliseconds(ms))) {
          ++woke;
        }
      }, 1 + i % 50);
      EXPECT_TRUE(f);
      sleepers.push_back(std::move(*f));
    }
    xcoro::xawait_all(sleepers);
  });
  ASSERT_TRUE(r);
  EXPECT_EQ(woke, n);
}

// No heap allocation per operation in steady state: a thousand echo round trips, a
// thousand sleeps, with timeouts and without.
TEST_F(Aio, NoHeapAllocationPerOperation) {
  if (xcoro_test::allocations() < 0) {
    GTEST_SKIP() << "allocation counting is off in this build (ThreadSanitizer owns operator new)";
  }
  long during = -1;
  auto r = aio::run(nullptr, [&] {
    listener l = listen_local(nullptr);
    auto client = aio::tcp::open(nullptr, local_port(l.port));
    EXPECT_TRUE(client->connect(local_port(l.port)));
    auto conn = l.socket.accept();
    auto echo = xcoro::xasync([&] {
      std::array<std::byte, 64> buf;
      for (;;) {
        auto n = conn->read(buf);
        if (!n || !conn->write_all(std::span(buf).first(*n))) {
          return;
        }
      }
    });
    std::array<std::byte, 8> msg{};
    std::array<std::byte, 8> back{};
    auto round_trips = [&](int count) {
      for (int i = 0; i < count; ++i) {
        EXPECT_TRUE(client->write_all(msg, 1000ms));
        std::size_t have = 0;
        while (have < back.size()) {
          auto n = i % 2 == 0 ? client->read(std::span(back).subspan(have))
                              : client->read(std::span(back).subspan(have), 1000ms);
          EXPECT_TRUE(n);
          if (!n) {
            return;
          }
          have += *n;
        }
        EXPECT_TRUE(aio::sleep(nullptr, 0ms));
      }
    };
    round_trips(100);  // warm up: descriptor tables, timer heap, pooled stacks
    long before = xcoro_test::allocations();
    round_trips(1000);
    during = xcoro_test::allocations() - before;
    EXPECT_TRUE(client->close());
    xcoro::xawait(*echo);
  });
  ASSERT_TRUE(r);
  EXPECT_EQ(during, 0);
}

TEST_F(Aio, EndpointParseAndFormat) {
  auto v4 = aio::endpoint::parse("127.0.0.1:8080");
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->port(), 8080);
  EXPECT_EQ(v4->family(), AF_INET);
  EXPECT_EQ(v4->to_string(), "127.0.0.1:8080");
  auto v6 = aio::endpoint::parse("[::1]:0");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->family(), AF_INET6);
  EXPECT_EQ(v6->to_string(), "[::1]:0");
  for (const char* bad : {"", "127.0.0.1", "1.2.3.4:99999", "[::1]", "x:1", "1.2.3.4:-1",
                          "[::1]8080", "1.2.3.4:80a"}) {
    EXPECT_EQ(aio::endpoint::parse(bad).error(), std::errc::invalid_argument) << bad;
  }
}

TEST_F(Aio, BackendHonoursEnvironment) {
  const char* forced = std::getenv("XCORO_BACKEND");
  if (forced == nullptr) {
    GTEST_SKIP() << "XCORO_BACKEND not set";
  }
  std::string want = forced;
  EXPECT_EQ(loop_->backend() == aio::backend::io_uring ? "io_uring" : "epoll", want);
}

}  // namespace
