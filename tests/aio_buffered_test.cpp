// buffered_reader and buffered_writer (<xcoro/buffered.hpp>) over a socket and a pipe, on
// each backend: lines and records with their limit, hostile over-long input, end of stream
// in the middle of a record, exact reads across many small writes, timeouts and a cancel
// from a third coroutine, and gathered writes.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "support/aio_fixture.hpp"
#include "support/stream_pair.hpp"
#include "xcoro/buffered.hpp"
#include "xcoro/scope.hpp"

namespace {

using namespace std::chrono_literals;
namespace aio = xcoro::aio;
using Buffered = xcoro_test::aio_fixture;
using clock_type = std::chrono::steady_clock;

void send_all(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
    ASSERT_GT(n, 0);
    s.remove_prefix(static_cast<std::size_t>(n));
  }
}

TEST_F(Buffered, LinesWithLfAndCrlfAndAPartialLastOne) {
  xcoro_test::stream_pair p;
  ASSERT_TRUE(p.end);
  send_all(p.peer, "GET / HTTP/1.1\r\nHost: x\r\n\r\nlast");
  ::shutdown(p.peer, SHUT_WR);
  auto r = aio::run(nullptr, [&] {
    aio::buffered_reader in(*p.end, {.buffer = 64});
    std::vector<std::string> lines;
    for (;;) {
      auto l = in.read_line(64);
      if (!l) {
        EXPECT_EQ(l.error(), xcoro::errc::eof);
        break;
      }
      lines.emplace_back(*l);
    }
    EXPECT_EQ(lines, (std::vector<std::string>{"GET / HTTP/1.1", "Host: x", ""}));
    auto rest = in.buffered();
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(rest.data()), rest.size()), "last");
  });
  ASSERT_TRUE(r);
}

// A record longer than the limit is an error, not memory: it is dropped through its
// delimiter, however long it is, and the next record comes out whole.
TEST_F(Buffered, AnOverLongLineIsAnErrorAndTheNextLineIsIntact) {
  xcoro_test::stream_pair p;
  ASSERT_TRUE(p.end);
  std::thread writer([&] {
    send_all(p.peer, "short\n");
    send_all(p.peer, std::string(100000, 'x') + "\n");  // hostile: 1,500 times the limit
    send_all(p.peer, std::string(40, 'y') + "\nafter\n");
    ::shutdown(p.peer, SHUT_WR);
  });
  auto r = aio::run(nullptr, [&] {
    aio::buffered_reader in(*p.end, {.buffer = 128});
    EXPECT_EQ(*in.read_line(64), "short");
    auto big = in.read_line(64);
    ASSERT_FALSE(big);
    EXPECT_EQ(big.error(), std::errc::message_size);
    auto mid = in.read_line(64);  // 40 y's fit the limit even as the buffer refills
    ASSERT_TRUE(mid) << mid.error().message();
    EXPECT_EQ(*mid, std::string(40, 'y'));
    EXPECT_EQ(*in.read_line(64), "after");
    EXPECT_EQ(in.read_line(64).error(), xcoro::errc::eof);
  });
  writer.join();
  ASSERT_TRUE(r);
}

TEST_F(Buffered, ALimitLargerThanTheBufferIsRefused) {
  xcoro_test::stream_pair p;
  ASSERT_TRUE(p.end);
  auto r = aio::run(nullptr, [&] {
    aio::buffered_reader in(*p.end, {.buffer = 32});
    EXPECT_EQ(in.read_until('\0', 33).error(), std::errc::invalid_argument);
    EXPECT_EQ(in.read_until('\0', 0).error(), std::errc::invalid_argument);
  });
  ASSERT_TRUE(r);
}

// Many one-byte writes from another thread, read back as fixed-size records and
// NUL-delimited ones over a pipe: nothing lost, nothing duplicated.
TEST_F(Buffered, ExactReadsAndRecordsOverAPipeFedByteByByte) {
  auto pp = aio::pipe(nullptr);
  ASSERT_TRUE(pp) << pp.error().message();
  int wfd = ::dup(pp->writer.native_handle());
  ASSERT_TRUE(pp->writer.close());
  std::string sent;
  for (int i = 0; i < 200; ++i) {
    sent += "rec" + std::to_string(i) + '\0' + "12345678";
  }
  std::thread writer([&] {
    for (char c : sent) {
      ASSERT_EQ(::write(wfd, &c, 1), 1);
    }
    ::close(wfd);
  });
  auto r = aio::run(nullptr, [&] {
    aio::buffered_reader in(pp->reader, {.buffer = 16});
    for (int i = 0; i < 200; ++i) {
      auto rec = in.read_until('\0', 16);
      ASSERT_TRUE(rec) << i << ": " << rec.error().message();
      EXPECT_EQ(*rec, "rec" + std::to_string(i) + std::string(1, '\0'));
      char eight[8];
      ASSERT_TRUE(in.read_exact(std::as_writable_bytes(std::span(eight))));
      EXPECT_EQ(std::string_view(eight, 8), "12345678");
    }
    char more[4];
    std::size_t got = 99;
    EXPECT_EQ(in.read_exact(std::as_writable_bytes(std::span(more)), &got).error(),
              xcoro::errc::eof);
    EXPECT_EQ(got, 0u);
  });
  writer.join();
  ASSERT_TRUE(r);
}

// End of stream in the middle of read_exact: the bytes that came are in the buffer given,
// and the count says how many.
TEST_F(Buffered, EofInTheMiddleOfAnExactReadKeepsWhatCame) {
  xcoro_test::stream_pair p;
  ASSERT_TRUE(p.end);
  send_all(p.peer, "abc");
  ::shutdown(p.peer, SHUT_WR);
  auto r = aio::run(nullptr, [&] {
    aio::buffered_reader in(*p.end);
    char buf[8] = {};
    std::size_t got = 0;
    EXPECT_EQ(in.read_exact(std::as_writable_bytes(std::span(buf)), &got).error(),
              xcoro::errc::eof);
    EXPECT_EQ(got, 3u);
    EXPECT_EQ(std::string_view(buf, 3), "abc");
  });
  ASSERT_TRUE(r);
}

// One timeout bounds the whole call, although each byte that trickles in would restart a
// per-read timeout.
TEST_F(Buffered, OneTimeoutBoundsALineThatTrickles) {
  xcoro_test::stream_pair p;
  ASSERT_TRUE(p.end);
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    while (!stop) {
      send_all(p.peer, "z");
      std::this_thread::sleep_for(10ms);
    }
  });
  auto r = aio::run(nullptr, [&] {
    aio::buffered_reader in(*p.end, {.buffer = 4096});
    auto t0 = clock_type::now();
    auto l = in.read_line(4096, 100ms);
    EXPECT_EQ(l.error(), std::errc::timed_out);
    EXPECT_GE(clock_type::now() - t0, 100ms);
    EXPECT_LT(clock_type::now() - t0, 10s);
  });
  stop = true;
  writer.join();
  ASSERT_TRUE(r);
}

// Cancelled from a third coroutine while it waits for the rest of a line: errc::canceled,
// and the bytes already read stay buffered.
TEST_F(Buffered, ACancelFromAThirdCoroutineKeepsTheBufferedBytes) {
  xcoro_test::stream_pair p;
  ASSERT_TRUE(p.end);
  send_all(p.peer, "partial");
  auto r = aio::run(nullptr, [&] {
    aio::buffered_reader in(*p.end);
    std::error_code got;
    auto reader = xcoro::xasync([&] { got = in.read_line(1024).error(); });
    auto canceller = xcoro::xasync([&] {
      EXPECT_TRUE(aio::sleep(nullptr, 20ms));
      EXPECT_TRUE(xcoro::cancel(reader->frame()));
    });
    xcoro::xawait(*canceller);
    xcoro::xawait(*reader);
    EXPECT_EQ(got, xcoro::errc::canceled);
    auto rest = in.buffered();
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(rest.data()), rest.size()), "partial");
  });
  ASSERT_TRUE(r);
}

// Small writes gather in the buffer (nothing reaches the peer before flush), a write
// larger than the buffer goes straight through, and the peer reads everything in order.
TEST_F(Buffered, WritesGatherUntilFlushAndLargeOnesGoStraightThrough) {
  xcoro_test::stream_pair p;
  ASSERT_TRUE(p.end);
  std::string big(50000, 'B');
  auto r = aio::run(nullptr, [&] {
    aio::buffered_writer out(*p.end, {.buffer = 256});
    for (int i = 0; i < 10; ++i) {
      ASSERT_TRUE(out.write("line " + std::to_string(i) + "\n"));
    }
    EXPECT_GT(out.pending(), 0u);
    char probe;
    EXPECT_EQ(::recv(p.peer, &probe, 1, MSG_DONTWAIT), -1);  // nothing sent yet
    ASSERT_TRUE(out.write(big, 5s));  // the buffered lines first, then these straight
    ASSERT_TRUE(out.write(std::string_view("tail\n")));
    ASSERT_TRUE(out.flush(5s));
    EXPECT_EQ(out.pending(), 0u);
  });
  ASSERT_TRUE(r);
  ::shutdown(p.peer, SHUT_WR);
  EXPECT_TRUE(p.end->close());
  std::string expect;
  for (int i = 0; i < 10; ++i) {
    expect += "line " + std::to_string(i) + "\n";
  }
  expect += big + "tail\n";
  std::string got;
  char buf[4096];
  for (ssize_t n; (n = ::recv(p.peer, buf, sizeof buf, 0)) > 0;) {
    got.append(buf, static_cast<std::size_t>(n));
  }
  EXPECT_EQ(got.size(), expect.size());
  EXPECT_TRUE(got == expect);
}

}  // namespace
