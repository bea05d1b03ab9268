// Tests of aio::resolve and tcp::connect by name: localhost, numeric hosts (answered without
// the pool), a name that does not exist, bad names, timeouts (0 ms never asks the pool; an
// expired lookup is dropped when it returns), a cancel from a third coroutine while the
// lookup runs, 16 lookups at once through the pool of 4 threads, connecting by name, the
// fallback to the next address, one deadline across attempts, lookups from two workers of
// a runtime, and from a child of fork(). Slow lookups are made with the library's test seam
// (detail::set_resolve_hook): a gate the pool threads wait at. ctest runs the suite once
// per backend. Nothing sleeps to synchronise; timings are lower bounds.
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "support/aio_fixture.hpp"
#include "support/test_stacks.hpp"
#include "xcoro/xcoro.hpp"

namespace {

namespace aio = xcoro::aio;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

std::int64_t ms_since(clock_type::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t).count();
}

/// Where the pool threads wait while a test holds the gate closed. Counts the lookups that
/// reached it, and the most that waited there at once.
struct gate {
  std::mutex mu;
  std::condition_variable cv;
  bool open = true;
  int releases = 0;  // a lookup waits for the next release, not for `open`: a close that
                     // follows at once must not hold back the lookups an earlier release let go
  int arrived = 0;
  int inside = 0;
  int most_inside = 0;

  static gate& instance() {
    static gate g;
    return g;
  }
  static void hook(const char*) {
    gate& g = instance();
    std::unique_lock<std::mutex> lock(g.mu);
    ++g.arrived;
    if (g.open) {
      return;
    }
    ++g.inside;
    g.most_inside = std::max(g.most_inside, g.inside);
    // Bounded, so that a failed test cannot hang the process.
    int seen = g.releases;
    g.cv.wait_for(lock, 20s, [&] { return g.releases != seen; });
    --g.inside;
  }
  void close() {
    std::lock_guard<std::mutex> hold(mu);
    open = false;
    arrived = most_inside = 0;
  }
  void release() {
    {
      std::lock_guard<std::mutex> hold(mu);
      open = true;
      ++releases;
    }
    cv.notify_all();
  }
  int count_arrived() {
    std::lock_guard<std::mutex> hold(mu);
    return arrived;
  }
  int count_inside() {
    std::lock_guard<std::mutex> hold(mu);
    return inside;
  }
  int count_most_inside() {
    std::lock_guard<std::mutex> hold(mu);
    return most_inside;
  }
  /// Waits (sleeping in the loop, 1 ms at a time) until `n` lookups wait at the gate.
  bool await_inside(int n) {
    for (int i = 0; i < 10000; ++i) {
      if (count_inside() >= n) {
        return true;
      }
      EXPECT_TRUE(aio::sleep(nullptr, 1ms));
    }
    return false;
  }
};

class Resolve : public xcoro_test::aio_fixture {
 protected:
  void SetUp() override {
    aio_fixture::SetUp();
    aio::detail::set_resolve_hook(&gate::hook);
  }
  void TearDown() override {
    gate::instance().release();
    aio::detail::set_resolve_hook(nullptr);
    aio_fixture::TearDown();
  }
};

bool is_loopback(const aio::endpoint& e, std::uint16_t port) {
  std::string s = e.to_string();
  return s == "127.0.0.1:" + std::to_string(port) || s == "[::1]:" + std::to_string(port);
}

bool has_duplicates(const std::vector<aio::endpoint>& v) {
  for (std::size_t i = 0; i < v.size(); ++i) {
    for (std::size_t j = i + 1; j < v.size(); ++j) {
      if (v[i].to_string() == v[j].to_string()) {
        return true;
      }
    }
  }
  return false;
}

/// A listening socket on 127.0.0.1 and its port.
struct listener {
  aio::tcp socket;
  std::uint16_t port;
};

listener listen_local(int backlog = 16) {
  auto any = aio::endpoint::parse("127.0.0.1:0");
  EXPECT_TRUE(any);
  auto s = aio::tcp::open(nullptr, *any);
  EXPECT_TRUE(s);
  EXPECT_TRUE(s->bind(*any));
  EXPECT_TRUE(s->listen(backlog));
  auto local = s->local_endpoint();
  EXPECT_TRUE(local);
  return {std::move(*s), local->port()};
}

aio::endpoint at(const char* host, std::uint16_t port) {
  return *aio::endpoint::parse(std::string(host) + ":" + std::to_string(port));
}

TEST_F(Resolve, Localhost) {
  auto r = aio::run(ex(), [] {
    auto addrs = aio::resolve(nullptr, "localhost", 8080);
    ASSERT_TRUE(addrs) << addrs.error().message();
    ASSERT_FALSE(addrs->empty());
    for (const aio::endpoint& e : *addrs) {
      EXPECT_TRUE(is_loopback(e, 8080)) << e.to_string();
    }
    EXPECT_FALSE(has_duplicates(*addrs));
    // With a timeout, and the same answer.
    auto again = aio::resolve(nullptr, "localhost", 8080, 5s);
    ASSERT_TRUE(again) << again.error().message();
    ASSERT_EQ(again->size(), addrs->size());
    for (std::size_t i = 0; i < addrs->size(); ++i) {
      EXPECT_EQ((*again)[i].to_string(), (*addrs)[i].to_string());
    }
  });
  ASSERT_TRUE(r);
}

TEST_F(Resolve, FromRoot) {
  if (xcoro::in_coro()) {
    GTEST_SKIP() << "about the root coroutine";
  }
  auto addrs = aio::resolve(ex(), "localhost", 1);
  ASSERT_TRUE(addrs) << addrs.error().message();
  ASSERT_FALSE(addrs->empty());
  EXPECT_TRUE(is_loopback(addrs->front(), 1));
}

TEST_F(Resolve, NumericHostsNeedNoPool) {
  gate::instance().close();  // a lookup that reached the pool would wait here
  auto r = aio::run(ex(), [] {
    auto v4 = aio::resolve(nullptr, "127.0.0.1", 443);
    ASSERT_TRUE(v4) << v4.error().message();
    ASSERT_EQ(v4->size(), 1u);
    EXPECT_EQ(v4->front().to_string(), "127.0.0.1:443");
    EXPECT_EQ(v4->front().family(), AF_INET);
    auto v6 = aio::resolve(nullptr, "::1", 0, 0ms);  // no time needed
    ASSERT_TRUE(v6) << v6.error().message();
    ASSERT_EQ(v6->size(), 1u);
    EXPECT_EQ(v6->front().to_string(), "[::1]:0");
    EXPECT_EQ(v6->front().family(), AF_INET6);
  });
  ASSERT_TRUE(r);
  EXPECT_EQ(gate::instance().count_arrived(), 0);
}

TEST_F(Resolve, NameThatDoesNotExist) {
  auto r = aio::run(ex(), [] {
    auto addrs = aio::resolve(nullptr, "nonexistent.invalid", 80, 10s);
    ASSERT_FALSE(addrs);
    if ((addrs.error().category() == aio::resolve_category() &&
         addrs.error() == std::errc::resource_unavailable_try_again) ||
        addrs.error() == std::errc::timed_out) {
      // No DNS server answers here (one that drops queries makes glibc wait out its
      // retries): what the name would resolve to cannot be known.
      GTEST_SKIP() << "the resolver cannot be reached here: " << addrs.error().message();
    }
    EXPECT_EQ(addrs.error(), xcoro::errc::host_not_found) << addrs.error().message();
    EXPECT_EQ(addrs.error().message(), "host not found");
    auto conn = aio::tcp::connect(nullptr, "nonexistent.invalid", 80, 10s);
    ASSERT_FALSE(conn);
    EXPECT_EQ(conn.error(), xcoro::errc::host_not_found);
  });
  ASSERT_TRUE(r);
}

TEST_F(Resolve, BadNames) {
  gate::instance().close();
  auto r = aio::run(ex(), [] {
    EXPECT_EQ(aio::resolve(nullptr, "", 80).error(), std::errc::invalid_argument);
    EXPECT_EQ(aio::resolve(nullptr, std::string(256, 'a'), 80).error(),
              std::errc::invalid_argument);
    EXPECT_EQ(aio::resolve(nullptr, std::string("local\0host", 10), 80).error(),
              std::errc::invalid_argument);
    EXPECT_EQ(aio::tcp::connect(nullptr, "", 80).error(), std::errc::invalid_argument);
    EXPECT_EQ(aio::tcp::connect(nullptr, std::span<const aio::endpoint>{}).error(),
              std::errc::invalid_argument);
  });
  ASSERT_TRUE(r);
  EXPECT_EQ(gate::instance().count_arrived(), 0);
}

TEST_F(Resolve, ResolveCategory) {
  const std::error_category& c = aio::resolve_category();
  EXPECT_STREQ(c.name(), "xcoro.resolve");
  std::error_code again(EAI_AGAIN, c);
  EXPECT_EQ(again.message(), ::gai_strerror(EAI_AGAIN));
  EXPECT_EQ(again, std::errc::resource_unavailable_try_again);
  EXPECT_EQ(std::error_code(EAI_MEMORY, c), std::errc::not_enough_memory);
  EXPECT_NE(std::error_code(EAI_FAIL, c), std::errc::resource_unavailable_try_again);
}

// A timeout of 0 (or less) returns at once, without asking the pool.
TEST_F(Resolve, ZeroTimeout) {
  gate::instance().close();
  auto r = aio::run(ex(), [] {
    EXPECT_EQ(aio::resolve(nullptr, "localhost", 80, 0ms).error(), std::errc::timed_out);
    EXPECT_EQ(aio::resolve(nullptr, "localhost", 80, -5ms).error(), std::errc::timed_out);
    EXPECT_EQ(aio::tcp::connect(nullptr, "localhost", 80, 0ms).error(), std::errc::timed_out);
  });
  ASSERT_TRUE(r);
  EXPECT_EQ(gate::instance().count_arrived(), 0);
}

// A lookup still running when its timeout expires: the call returns; the pool thread drops
// the answer when getaddrinfo returns (LSan checks that it is freed), and serves the next.
TEST_F(Resolve, TimeoutWhileInFlight) {
  gate& g = gate::instance();
  g.close();
  auto r = aio::run(ex(), [&] {
    auto t0 = clock_type::now();
    auto addrs = aio::resolve(nullptr, "localhost", 80, 50ms);
    ASSERT_FALSE(addrs);
    EXPECT_EQ(addrs.error(), std::errc::timed_out);
    EXPECT_GE(ms_since(t0), 50);
    EXPECT_EQ(g.count_arrived(), 1);
    g.release();
    auto next = aio::resolve(nullptr, "localhost", 80, 5s);
    ASSERT_TRUE(next) << next.error().message();
    EXPECT_TRUE(is_loopback(next->front(), 80));
  });
  ASSERT_TRUE(r);
}

// aio::cancel from a third coroutine while the lookup waits in the pool: it returns at once.
TEST_F(Resolve, CancelWhileInFlight) {
  gate& g = gate::instance();
  g.close();
  auto r = aio::run(ex(), [&] {
    auto lookup = xcoro::xasync([] {
      auto t0 = clock_type::now();
      auto addrs = aio::resolve(nullptr, "localhost", 80);
      return std::make_pair(addrs ? std::error_code() : addrs.error(), ms_since(t0));
    });
    ASSERT_TRUE(lookup);
    auto canceller = xcoro::xasync([&] {
      EXPECT_TRUE(g.await_inside(1));
      EXPECT_TRUE(aio::cancel(lookup->frame()));
    });
    ASSERT_TRUE(canceller);
    xcoro::xawait(*canceller);
    auto [ec, ms] = xcoro::xawait(std::move(*lookup));
    EXPECT_EQ(ec, xcoro::errc::canceled);
    EXPECT_EQ(g.count_inside(), 1);  // the lookup itself still runs
    g.release();
    // The pool serves the next lookup.
    auto again = aio::resolve(nullptr, "localhost", 80, 5s);
    EXPECT_TRUE(again) << again.error().message();
  });
  ASSERT_TRUE(r);
}

// A coroutine destroyed (unwound by its frame_t) while its lookup runs: the pool must
// forget the lookup, which lived on that coroutine's stack. It used to write the answer
// into the dead stack, where nothing freed it (LeakSanitizer reports it in the sanitizer
// builds), and wake whatever descriptor number the dead stack held (seen: 0): a new
// eventfd that may take the notification's number must stay silent.
TEST_F(Resolve, ACallerUnwoundMidLookupIsForgotten) {
  gate& g = gate::instance();
  g.close();
  // A stack of the test's own, so that the lookup's bytes stay as they were after the
  // coroutine is gone (a pooled stack may be reused or given back to the kernel).
  auto stack = std::make_unique<std::byte[]>(256 * 1024);
  auto r = aio::run(ex(), [&] {
    {
      auto lookup = xcoro::xasync(xcoro::stack_span(stack.get(), 256 * 1024),
                                  [] { (void)aio::resolve(nullptr, "localhost", 80); });
      ASSERT_TRUE(lookup);
      while (g.count_inside() < 1) {
        EXPECT_TRUE(aio::sleep(nullptr, 1ms));
      }
    }  // ~frame_t unwinds the lookup's coroutine
    EXPECT_TRUE(aio::sleep(nullptr, 10ms));  // its notification's descriptor is closed
    int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    ASSERT_GE(fd, 0);
    g.release();
    // The pool thread's lookup returns and is dropped; the next one is served.
    auto again = aio::resolve(nullptr, "localhost", 80, 5s);
    EXPECT_TRUE(again) << again.error().message();
    std::uint64_t v = 0;
    EXPECT_EQ(::read(fd, &v, sizeof v), -1) << "the pool woke a descriptor it does not own";
    ::close(fd);
  });
  ASSERT_TRUE(r);
}

// resolve is a cancellation point even where it needs no lookup: a cancelled coroutine
// gets errc::canceled for a numeric host as for a name.
TEST_F(Resolve, ACancelledCallerGetsCanceledEvenForANumericHost) {
  auto r = aio::run(ex(), [] {
    auto lookup = xcoro::xasync([] {
      xcoro::xsuspend();  // cancelled while parked here
      auto numeric = aio::resolve(nullptr, "127.0.0.1", 80);
      auto named = aio::resolve(nullptr, "localhost", 80, 5s);
      return std::make_pair(numeric ? std::error_code() : numeric.error(),
                            named ? std::error_code() : named.error());
    });
    ASSERT_TRUE(lookup);
    EXPECT_TRUE(xcoro::cancel(lookup->frame()));
    xcoro::xresume(lookup->frame());
    auto [numeric, named] = xcoro::xawait(*lookup);
    EXPECT_EQ(numeric, xcoro::errc::canceled);
    EXPECT_EQ(named, xcoro::errc::canceled);
  });
  ASSERT_TRUE(r);
}

// 16 lookups at once: at most 4 run (the pool's bound), the rest queue, all are answered;
// a cancel of a queued lookup takes it out of the queue.
TEST_F(Resolve, MoreLookupsThanThreads) {
  gate& g = gate::instance();
  g.close();
  auto r = aio::run(ex(), [&] {
    // Each returns how many loopback addresses it got (0 for none or an error).
    std::vector<xcoro::frame_t<std::size_t>> lookups;
    for (int i = 0; i < 16; ++i) {
      auto f = xcoro::xasync([]() -> std::size_t {
        auto addrs = aio::resolve(nullptr, "localhost", 7000, 20s);
        EXPECT_TRUE(addrs) << addrs.error().message();
        if (!addrs) {
          return 0;
        }
        return static_cast<std::size_t>(std::count_if(
            addrs->begin(), addrs->end(), [](const aio::endpoint& e) { return is_loopback(e, 7000); }));
      });
      ASSERT_TRUE(f);
      lookups.push_back(std::move(*f));
    }
    auto queued = xcoro::xasync([] {
      auto addrs = aio::resolve(nullptr, "localhost", 7000);
      return addrs ? std::error_code() : addrs.error();
    });
    ASSERT_TRUE(queued);
    EXPECT_TRUE(g.await_inside(4));
    EXPECT_TRUE(aio::sleep(nullptr, 20ms));  // time for a fifth, were there one
    EXPECT_EQ(g.count_most_inside(), 4);
    EXPECT_TRUE(aio::cancel(queued->frame()));
    EXPECT_EQ(xcoro::xawait(std::move(*queued)), xcoro::errc::canceled);
    g.release();
    for (auto& f : lookups) {
      EXPECT_GE(xcoro::xawait(std::move(f)), 1u);
    }
    EXPECT_EQ(g.count_most_inside(), 4);
    EXPECT_EQ(g.count_arrived(), 16);
  });
  ASSERT_TRUE(r);
}

TEST_F(Resolve, ConnectByName) {
  auto r = aio::run(ex(), [] {
    auto addrs = aio::resolve(nullptr, "localhost", 1);
    ASSERT_TRUE(addrs);
    bool v4 = std::any_of(addrs->begin(), addrs->end(),
                          [](const aio::endpoint& e) { return e.family() == AF_INET; });
    if (!v4) {
      GTEST_SKIP() << "localhost has no IPv4 address here";
    }
    // Only 127.0.0.1 listens: were ::1 first, its refusal is the fallback at work.
    listener l = listen_local();
    auto server = xcoro::xasync([&] {
      auto conn = l.socket.accept(5s);
      EXPECT_TRUE(conn);
      std::byte b{};
      auto n = conn->read(std::span(&b, 1), 5s);
      EXPECT_TRUE(n);
      EXPECT_EQ(b, std::byte{42});
    });
    auto conn = aio::tcp::connect(nullptr, "localhost", l.port, 5s);
    ASSERT_TRUE(conn) << conn.error().message();
    std::byte b{42};
    EXPECT_TRUE(conn->write_all(std::span(&b, 1)));
    xcoro::xawait(*server);
    // Without a timeout, and by a numeric host.
    auto plain = aio::tcp::connect(nullptr, "127.0.0.1", l.port);
    ASSERT_TRUE(plain) << plain.error().message();
  });
  ASSERT_TRUE(r);
}

// The addresses are tried in order; a refusal moves on to the next.
TEST_F(Resolve, ConnectFallsBackToTheNextAddress) {
  auto r = aio::run(ex(), [] {
    listener l = listen_local();
    // Bound but not listening: connecting to it is refused.
    auto closed = aio::tcp::open(nullptr, at("127.0.0.1", 0));
    ASSERT_TRUE(closed);
    ASSERT_TRUE(closed->bind(at("127.0.0.1", 0)));
    std::uint16_t refused = closed->local_endpoint()->port();

    std::vector<aio::endpoint> to{at("127.0.0.1", refused), at("127.0.0.1", l.port)};
    auto conn = aio::tcp::connect(nullptr, to, 5s);
    ASSERT_TRUE(conn) << conn.error().message();
    auto accepted = l.socket.accept(5s);
    ASSERT_TRUE(accepted);

    std::vector<aio::endpoint> none{at("127.0.0.1", refused), at("127.0.0.1", refused)};
    auto failed = aio::tcp::connect(nullptr, none);
    ASSERT_FALSE(failed);
    EXPECT_EQ(failed.error(), std::errc::connection_refused);
  });
  ASSERT_TRUE(r);
}

// One deadline for the whole call: an address that never answers takes all of it, and the
// good address after it is not tried. (Given the whole timeout each, it would connect.)
TEST_F(Resolve, DeadlineAcrossAttempts) {
  auto r = aio::run(ex(), [] {
    // A listener whose accept queue is full drops further SYNs: a connect to it hangs.
    listener full = listen_local(0);
    std::vector<aio::tcp> fillers;
    bool hangs = false;
    for (int i = 0; i < 16 && !hangs; ++i) {
      auto c = aio::tcp::open(nullptr, at("127.0.0.1", full.port));
      ASSERT_TRUE(c);
      auto done = c->connect(at("127.0.0.1", full.port), 100ms);
      if (!done && done.error() == std::errc::timed_out) {
        hangs = true;
      } else {
        ASSERT_TRUE(done) << done.error().message();
        fillers.push_back(std::move(*c));
      }
    }
    if (!hangs) {
      GTEST_SKIP() << "a full accept queue does not drop connects here";
    }
    listener good = listen_local();
    std::vector<aio::endpoint> to{at("127.0.0.1", full.port), at("127.0.0.1", good.port)};
    auto t0 = clock_type::now();
    auto conn = aio::tcp::connect(nullptr, to, 150ms);
    ASSERT_FALSE(conn);
    EXPECT_EQ(conn.error(), std::errc::timed_out);
    EXPECT_GE(ms_since(t0), 150);
    // The good address alone connects: the timeout, not it, ended the call.
    std::vector<aio::endpoint> only_good{at("127.0.0.1", good.port)};
    EXPECT_TRUE(aio::tcp::connect(nullptr, only_good, 5s));
  });
  ASSERT_TRUE(r);
}

// Connect by name: the lookup's time counts against the one deadline.
TEST_F(Resolve, ConnectDeadlineIncludesTheLookup) {
  gate& g = gate::instance();
  g.close();
  auto r = aio::run(ex(), [&] {
    listener l = listen_local();
    auto t0 = clock_type::now();
    auto conn = aio::tcp::connect(nullptr, "localhost", l.port, 60ms);
    ASSERT_FALSE(conn);
    EXPECT_EQ(conn.error(), std::errc::timed_out);
    EXPECT_GE(ms_since(t0), 60);
    g.release();
  });
  ASSERT_TRUE(r);
}

/// In a child of fork(): resolves "localhost" on a loop of the child's own. Returns "ok", or
/// what went wrong.
std::string resolve_in_child() {
  aio::detail::set_resolve_hook(nullptr);  // the parent's test seam is not the child's
  auto l = aio::loop::create();
  if (!l) {
    return "loop: " + l.error().message();
  }
  aio::executor ex(*l);
  aio::init_env({.executor = &ex, .default_stack_size = 128 * 1024});
  auto r = aio::run(&ex, []() -> std::string {
    auto addrs = aio::resolve(nullptr, "localhost", 8080, 10s);
    if (!addrs) {
      return "resolve: " + addrs.error().message();
    }
    if (addrs->empty() || !is_loopback(addrs->front(), 8080)) {
      return "not a loopback address";
    }
    return "ok";
  });
  return r ? *r : "run: " + r.error().message();
}

// A child of fork() inherits the pool's memory but not its threads: with the parent's pool
// it would count threads that are not there (idle, so none is started) and its lookup would
// wait for ever. The child resolves "localhost" after the parent's pool has run lookups, on
// threads now idle, and says how it went through a pipe; the parent waits for that with a
// deadline, so that a hang fails the test rather than hanging it.
TEST_F(Resolve, AForkedChildResolvesWithAPoolOfItsOwn) {
  if (xcoro_test::emulated || xcoro_test::thread_sanitized) {
    GTEST_SKIP() << "a forked child of a process with threads starts threads: qemu-user and "
                    "ThreadSanitizer cannot run that";
  }
  // Four lookups at once, so that the parent's pool has started threads.
  auto r = aio::run(ex(), [] {
    std::vector<xcoro::frame_t<bool>> lookups;
    for (int i = 0; i < 4; ++i) {
      auto f = xcoro::xasync([] { return aio::resolve(nullptr, "localhost", 80, 10s).has_value(); });
      ASSERT_TRUE(f);
      lookups.push_back(std::move(*f));
    }
    for (auto& f : lookups) {
      EXPECT_TRUE(xcoro::xawait(std::move(f)));
    }
  });
  ASSERT_TRUE(r);

  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    std::string report = resolve_in_child();
    (void)!::write(fds[1], report.data(), std::min<std::size_t>(report.size(), 256));
    ::_exit(report == "ok" ? 0 : 1);
  }
  ::close(fds[1]);
  pollfd p{fds[0], POLLIN, 0};
  int ready = ::poll(&p, 1, 30000);
  std::string report(256, '\0');
  ssize_t n = ready == 1 ? ::read(fds[0], report.data(), report.size()) : 0;
  report.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  ::close(fds[0]);
  if (ready != 1) {
    ::kill(pid, SIGKILL);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_EQ(ready, 1) << "the child's lookup did not return within 30 s";
  EXPECT_EQ(report, "ok");
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;

  // The parent's pool still serves the parent.
  auto again = aio::run(ex(), [] {
    auto addrs = aio::resolve(nullptr, "localhost", 80, 10s);
    EXPECT_TRUE(addrs) << addrs.error().message();
    return addrs && !addrs->empty();
  });
  ASSERT_TRUE(again);
  EXPECT_TRUE(*again);
}

// Misuse names the call: a lookup with no executor, given or in the env.
TEST(ResolveDeath, NoExecutor) {
  GTEST_FLAG_SET(death_test_style, xcoro_test::death_test_style());
  EXPECT_DEATH((void)aio::resolve(nullptr, "localhost", 80), "aio::resolve");
  EXPECT_DEATH((void)aio::tcp::connect(nullptr, "localhost", 80), "aio::resolve");
}

// Lookups from coroutines on two workers of a runtime: each is woken through its own
// worker's loop.
TEST(ResolveRuntime, TwoWorkers) {
  if (auto l = aio::loop::create(); !l) {
    GTEST_SKIP() << "backend unavailable here: " << l.error().message();
  }
  auto rt = xcoro::runtime::create({.threads = 2});
  ASSERT_TRUE(rt) << rt.error().message();
  std::atomic<int> started{0};
  std::vector<int> workers(2, -1);
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&, i] {
      auto r = rt->block_on([&, i] {
        workers[static_cast<std::size_t>(i)] = xcoro::this_worker();
        ++started;
        while (started.load() < 2) {
          EXPECT_TRUE(aio::sleep(nullptr, 1ms));
        }
        std::vector<xcoro::frame_t<bool>> lookups;
        for (int j = 0; j < 4; ++j) {
          auto f = xcoro::xasync([] {
            auto addrs = aio::resolve(nullptr, "localhost", 9000, 10s);
            EXPECT_TRUE(addrs) << addrs.error().message();
            return addrs && is_loopback(addrs->front(), 9000);
          });
          EXPECT_TRUE(f);
          lookups.push_back(std::move(*f));
        }
        for (auto& f : lookups) {
          EXPECT_TRUE(xcoro::xawait(std::move(f)));
        }
      });
      EXPECT_TRUE(r) << r.error().message();
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_NE(workers[0], workers[1]);
}

}  // namespace
