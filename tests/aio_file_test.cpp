// Tests of aio::file on descriptors that are not regular files: pipes, FIFOs and
// pseudo-terminals. Their reads and writes can wait forever, so the timeouts and
// aio::cancel must reach them, and they must not hold up regular-file IO on the same loop.
// ctest runs this suite once per backend (XCORO_BACKEND=io_uring and =epoll). Timing is
// asserted as lower bounds only; nothing sleeps to synchronise.
#include <fcntl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <utility>

#include <gtest/gtest.h>

#include "support/aio_fixture.hpp"
#include "support/temp_dir.hpp"
#include "xcoro/aio.hpp"
#include "xcoro/coro.hpp"

namespace {

namespace aio = xcoro::aio;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

constexpr auto short_timeout = 50ms;
// Long enough never to expire on a working loop, however loaded; a wait that does expire
// fails the test with timed_out rather than hanging it.
constexpr auto long_timeout = 10000ms;

std::int64_t ms_since(clock_type::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t).count();
}

std::span<const std::byte> bytes_of(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

/// Reads until `n` bytes have arrived (a pipe or a terminal may hand them over in pieces),
/// an error, or the end of the input; returns what arrived.
std::string read_string(aio::file& f, std::size_t n) {
  std::string got;
  std::array<std::byte, 256> buf{};
  while (got.size() < n) {
    auto r = f.read(std::span(buf).first(std::min(buf.size(), n - got.size())), long_timeout);
    EXPECT_TRUE(r) << r.error().message();
    if (!r || *r == 0) {
      break;
    }
    got.append(reinterpret_cast<const char*>(buf.data()), *r);
  }
  return got;
}

/// Writes all of `s` (a pipe may take it in pieces); returns whether it did.
bool write_string(aio::file& f, const std::string& s) {
  std::size_t done = 0;
  while (done < s.size()) {
    auto r = f.write(bytes_of(s).subspan(done), long_timeout);
    EXPECT_TRUE(r) << r.error().message();
    if (!r) {
      return false;
    }
    done += *r;
  }
  return true;
}

/// A pipe whose two ends are adopted by the loop.
struct pipe_pair {
  std::optional<aio::file> reader;
  std::optional<aio::file> writer;
  explicit pipe_pair(aio::executor* ex) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) == 0) {
      reader.emplace(ex, fds[0]);
      writer.emplace(ex, fds[1]);
    }
  }
  bool ok() const { return reader.has_value(); }
};

/// A pseudo-terminal, both ends adopted by the loop, the slave in raw mode (no line
/// buffering, no echo), so that what one end writes reaches the other unchanged.
struct pty_pair {
  std::optional<aio::file> master;
  std::optional<aio::file> slave;
  std::string why_not;

  explicit pty_pair(aio::executor* ex) {
    int m = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0) {
      why_not = std::string("posix_openpt: ") + std::strerror(errno);
      return;
    }
    char name[128];
    if (::grantpt(m) != 0 || ::unlockpt(m) != 0 || ::ptsname_r(m, name, sizeof name) != 0) {
      why_not = std::string("grantpt/unlockpt/ptsname: ") + std::strerror(errno);
      ::close(m);
      return;
    }
    int s = ::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (s < 0) {
      why_not = std::string("open ") + name + ": " + std::strerror(errno);
      ::close(m);
      return;
    }
    termios t{};
    if (::tcgetattr(s, &t) == 0) {
      ::cfmakeraw(&t);
      ::tcsetattr(s, TCSANOW, &t);
    }
    master.emplace(ex, m);
    slave.emplace(ex, s);
  }
  bool ok() const { return master.has_value(); }
};

class AioFile : public xcoro_test::aio_fixture {
 protected:
  /// A read of `f`, with nothing to read, ends with timed_out after the timeout.
  static void expect_read_times_out(aio::file& f) {
    std::array<std::byte, 64> buf{};
    auto t0 = clock_type::now();
    auto r = f.read(buf, short_timeout);
    ASSERT_FALSE(r) << "read " << *r << " bytes from an empty descriptor";
    EXPECT_EQ(r.error(), std::errc::timed_out) << r.error().message();
    EXPECT_GE(ms_since(t0), short_timeout.count());
  }
};

TEST_F(AioFile, PipeReadTimesOutAndThePipeStaysUsable) {
  pipe_pair p(ex());
  ASSERT_TRUE(p.ok()) << std::strerror(errno);
  // From root (the call pumps the loop) ...
  expect_read_times_out(*p.reader);
  ASSERT_TRUE(write_string(*p.writer, "from root"));
  EXPECT_EQ(read_string(*p.reader, 9), "from root");
  // ... and from a coroutine.
  auto r = aio::run(ex(), [&] {
    expect_read_times_out(*p.reader);
    EXPECT_TRUE(write_string(*p.writer, "after the timeout"));
    EXPECT_EQ(read_string(*p.reader, 17), "after the timeout");
  });
  ASSERT_TRUE(r) << r.error().message();
}

TEST_F(AioFile, FifoReadTimesOutAndTheFifoStaysUsable) {
  xcoro_test::temp_dir dir("aio-file");
  ASSERT_TRUE(dir.ok()) << std::strerror(errno);
  ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0600), 0) << std::strerror(errno);
  auto r = aio::run(ex(), [&] {
    // O_NONBLOCK only so that opening the read end does not wait for a writer; the loop
    // then gives the descriptor the mode it wants.
    auto reader = aio::file::open(nullptr, dir / "fifo", O_RDONLY | O_NONBLOCK);
    ASSERT_TRUE(reader) << reader.error().message();
    auto writer = aio::file::open(nullptr, dir / "fifo", O_WRONLY);
    ASSERT_TRUE(writer) << writer.error().message();
    expect_read_times_out(*reader);
    EXPECT_TRUE(write_string(*writer, "through the fifo"));
    EXPECT_EQ(read_string(*reader, 16), "through the fifo");
  });
  ASSERT_TRUE(r) << r.error().message();
}

TEST_F(AioFile, PtyReadsTimeOutOnBothEndsAndThePtyStaysUsable) {
  pty_pair t(ex());
  if (!t.ok()) {
    GTEST_SKIP() << "no pseudo-terminal here: " << t.why_not;
  }
  auto r = aio::run(ex(), [&] {
    expect_read_times_out(*t.slave);
    EXPECT_TRUE(write_string(*t.master, "to the slave"));
    EXPECT_EQ(read_string(*t.slave, 12), "to the slave");
    expect_read_times_out(*t.master);
    EXPECT_TRUE(write_string(*t.slave, "to the master"));
    EXPECT_EQ(read_string(*t.master, 13), "to the master");
  });
  ASSERT_TRUE(r) << r.error().message();
}

// The canceller is a third coroutine, neither the reader nor the one that started it, and
// it carries on (here with IO of its own) after the cancel.
TEST_F(AioFile, CancelABlockedPipeReadFromAnotherCoroutine) {
  pipe_pair p(ex());
  ASSERT_TRUE(p.ok()) << std::strerror(errno);
  auto r = aio::run(ex(), [&] {
    std::array<std::byte, 16> buf{};
    auto reader = xcoro::xasync([&] { return p.reader->read(buf); });
    ASSERT_TRUE(reader) << reader.error().message();
    ASSERT_EQ(reader->status(), xcoro::status::suspended);
    bool cancel_returned = false;
    bool carried_on = false;
    auto canceller = xcoro::xasync([&, f = reader->frame()] {
      bool accepted = aio::cancel(f);
      cancel_returned = true;
      auto slept = aio::sleep(nullptr, 1ms);
      EXPECT_TRUE(slept) << slept.error().message();
      carried_on = true;
      return accepted;
    });
    ASSERT_TRUE(canceller) << canceller.error().message();
    auto got = xcoro::xawait(*reader);
    ASSERT_FALSE(got) << "read " << *got << " bytes from an empty pipe";
    EXPECT_EQ(got.error(), xcoro::errc::canceled) << got.error().message();
    EXPECT_TRUE(xcoro::xawait(*canceller));
    EXPECT_TRUE(cancel_returned);
    EXPECT_TRUE(carried_on);
    // The pipe is still usable.
    EXPECT_TRUE(write_string(*p.writer, "after the cancel"));
    EXPECT_EQ(read_string(*p.reader, 16), "after the cancel");
  });
  ASSERT_TRUE(r) << r.error().message();
}

TEST_F(AioFile, BlockedPipeReadsDoNotStallRegularFileIo) {
  xcoro_test::temp_dir dir("aio-file");
  ASSERT_TRUE(dir.ok()) << std::strerror(errno);
  pipe_pair a(ex());
  pipe_pair b(ex());
  pipe_pair c(ex());
  ASSERT_TRUE(a.ok() && b.ok() && c.ok()) << std::strerror(errno);
  auto r = aio::run(ex(), [&] {
    // More blocked readers than a thread pool of two could hold.
    auto reader_a = xcoro::xasync([&] { return read_string(*a.reader, 3); });
    auto reader_b = xcoro::xasync([&] { return read_string(*b.reader, 3); });
    auto reader_c = xcoro::xasync([&] { return read_string(*c.reader, 5); });
    ASSERT_TRUE(reader_a && reader_b && reader_c);
    EXPECT_EQ(reader_a->status(), xcoro::status::suspended);
    EXPECT_EQ(reader_b->status(), xcoro::status::suspended);
    EXPECT_EQ(reader_c->status(), xcoro::status::suspended);

    auto f = aio::file::open(nullptr, dir / "regular", O_CREAT | O_TRUNC | O_RDWR);
    ASSERT_TRUE(f) << f.error().message();
    const std::string text = "a regular file";
    auto w = f->pwrite(bytes_of(text), 0);
    ASSERT_TRUE(w) << w.error().message();
    EXPECT_EQ(*w, text.size());
    std::array<std::byte, 64> buf{};
    auto n = f->pread(buf, 0);
    ASSERT_TRUE(n) << n.error().message();
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(buf.data()), *n), text);

    EXPECT_TRUE(write_string(*a.writer, "one"));
    EXPECT_TRUE(write_string(*b.writer, "two"));
    EXPECT_TRUE(write_string(*c.writer, "three"));
    EXPECT_EQ(xcoro::xawait(*reader_a), "one");
    EXPECT_EQ(xcoro::xawait(*reader_b), "two");
    EXPECT_EQ(xcoro::xawait(*reader_c), "three");
  });
  ASSERT_TRUE(r) << r.error().message();
}

TEST_F(AioFile, WriteToAFullPipeTimesOutAndThePipeStaysUsable) {
  pipe_pair p(ex());
  ASSERT_TRUE(p.ok()) << std::strerror(errno);
  // As small as the kernel allows (one page), so that filling it is quick; the default
  // 64 KiB works too if this is refused.
  (void)::fcntl(p.writer->native_handle(), F_SETPIPE_SZ, 4096);  // best effort
  auto r = aio::run(ex(), [&] {
    const std::string chunk(512, 'x');
    std::size_t written = 0;
    bool timed_out = false;
    // 1 MiB is far more than any pipe holds by default.
    for (int i = 0; i < 2048 && !timed_out; ++i) {
      auto t0 = clock_type::now();
      auto n = p.writer->write(bytes_of(chunk), short_timeout);
      if (n) {
        written += *n;
        continue;
      }
      EXPECT_EQ(n.error(), std::errc::timed_out) << n.error().message();
      EXPECT_GE(ms_since(t0), short_timeout.count());
      timed_out = true;
    }
    ASSERT_TRUE(timed_out) << "wrote " << written << " bytes without the pipe filling up";
    // Everything written so far arrives intact, and the pipe takes more afterwards.
    std::string got = read_string(*p.reader, written);
    EXPECT_EQ(got.size(), written);
    EXPECT_EQ(got.find_first_not_of('x'), std::string::npos);
    EXPECT_TRUE(write_string(*p.writer, "after the timeout"));
    EXPECT_EQ(read_string(*p.reader, 17), "after the timeout");
  });
  ASSERT_TRUE(r) << r.error().message();
}

// A read of a pipe whose writer has gone returns 0 bytes, as a regular file's read at its
// end does (aio::file reports the end as 0, not as errc::eof).
TEST_F(AioFile, PipeReadAfterTheWriterClosedReturnsZero) {
  pipe_pair p(ex());
  ASSERT_TRUE(p.ok()) << std::strerror(errno);
  auto r = aio::run(ex(), [&] {
    std::array<std::byte, 16> buf{};
    auto reader = xcoro::xasync([&] {
      std::string got = read_string(*p.reader, 4);
      auto end = p.reader->read(buf, long_timeout);
      EXPECT_TRUE(end) << end.error().message();
      return std::pair(got, end ? *end : std::size_t{99});
    });
    ASSERT_TRUE(reader) << reader.error().message();
    EXPECT_TRUE(write_string(*p.writer, "last"));
    EXPECT_TRUE(p.writer->close());
    auto [got, end] = xcoro::xawait(*reader);
    EXPECT_EQ(got, "last");
    EXPECT_EQ(end, 0u);
  });
  ASSERT_TRUE(r) << r.error().message();
}

// Adopting a pipe gives it the mode the backend needs: non-blocking for epoll (which waits
// for readiness, then calls read), blocking for io_uring (which would otherwise hand back
// EAGAIN). A regular file's mode is left alone.
TEST_F(AioFile, AdoptingAPipeSetsTheModeTheBackendNeeds) {
  xcoro_test::temp_dir dir("aio-file");
  ASSERT_TRUE(dir.ok()) << std::strerror(errno);
  bool want_nonblocking = loop_->backend() == aio::backend::epoll;
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC | (want_nonblocking ? 0 : O_NONBLOCK)), 0);
  aio::file reader(ex(), fds[0]);
  aio::file writer(ex(), fds[1]);
  EXPECT_EQ((::fcntl(fds[0], F_GETFL) & O_NONBLOCK) != 0, want_nonblocking);
  EXPECT_EQ((::fcntl(fds[1], F_GETFL) & O_NONBLOCK) != 0, want_nonblocking);
  auto f = aio::file::open(ex(), dir / "regular", O_CREAT | O_RDWR);
  ASSERT_TRUE(f) << f.error().message();
  EXPECT_EQ(::fcntl(f->native_handle(), F_GETFL) & O_NONBLOCK, 0);
}

// Adopting a descriptor whose open file description others share (a shell's terminal is
// stdin, stdout and stderr at once) must not change the mode the others see: a pipe end or
// a terminal moves onto a private description first. Data still flows through it.
TEST_F(AioFile, AdoptingLeavesOtherHoldersModeAlone) {
  bool want_nonblocking = loop_->backend() == aio::backend::epoll;
  int base = want_nonblocking ? 0 : O_NONBLOCK;  // the mode the loop must change
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC | base), 0);
  int other_reader = ::dup(fds[0]);  // another holder of the read end's description
  ASSERT_GE(other_reader, 0);
  aio::file reader(ex(), fds[0]);
  EXPECT_EQ((::fcntl(fds[0], F_GETFL) & O_NONBLOCK) != 0, want_nonblocking);
  EXPECT_EQ(::fcntl(other_reader, F_GETFL) & O_NONBLOCK, base) << "the other holder's mode";
  EXPECT_EQ(::write(fds[1], "abc", 3), 3);
  std::array<std::byte, 8> buf{};
  auto n = reader.read(buf, long_timeout);
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(*n, 3u);
  ::close(other_reader);
  ::close(fds[1]);

  pty_pair pty(nullptr);  // the env executor adopts both ends
  if (!pty.ok()) {
    GTEST_SKIP() << pty.why_not;
  }
  int term = ::dup(pty.slave->native_handle());
  ASSERT_GE(term, 0);
  int term_mode = ::fcntl(term, F_GETFL) & O_NONBLOCK;
  aio::file again(ex(), ::dup(term));  // adopting a copy, as a program would adopt stdin
  EXPECT_EQ(::fcntl(term, F_GETFL) & O_NONBLOCK, term_mode) << "the terminal's other holders";
  ::close(term);
}

// A character device that cannot be polled (/dev/null) still reads and writes.
TEST_F(AioFile, CharacterDeviceWithoutReadinessStillWorks) {
  auto r = aio::run(ex(), [&] {
    auto f = aio::file::open(nullptr, "/dev/null", O_RDWR);
    if (!f) {
      GTEST_SKIP() << "no /dev/null here: " << f.error().message();
    }
    const std::string text = "into the void";
    auto w = f->write(bytes_of(text), long_timeout);
    ASSERT_TRUE(w) << w.error().message();
    EXPECT_EQ(*w, text.size());
    std::array<std::byte, 16> buf{};
    auto n = f->read(buf, long_timeout);
    ASSERT_TRUE(n) << n.error().message();
    EXPECT_EQ(*n, 0u);
  });
  ASSERT_TRUE(r) << r.error().message();
}

// A regular file's read or write cannot be interrupted once it has started; with a timeout
// it still completes with its data, and leaves nothing behind in the loop.
TEST_F(AioFile, RegularFileOpsWithATimeoutComplete) {
  xcoro_test::temp_dir dir("aio-file");
  ASSERT_TRUE(dir.ok()) << std::strerror(errno);
  auto r = aio::run(ex(), [&] {
    auto f = aio::file::open(nullptr, dir / "regular", O_CREAT | O_TRUNC | O_RDWR);
    ASSERT_TRUE(f) << f.error().message();
    const std::string text = "regular with a deadline";
    auto w = f->pwrite(bytes_of(text), 0, long_timeout);
    ASSERT_TRUE(w) << w.error().message();
    EXPECT_EQ(*w, text.size());
    std::array<std::byte, 64> buf{};
    auto n = f->pread(buf, 0, long_timeout);
    ASSERT_TRUE(n) << n.error().message();
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(buf.data()), *n), text);
  });
  ASSERT_TRUE(r) << r.error().message();
}

// Regular-file ops whose deadline has already passed, or which are cancelled at once, end
// either with their data (the read had started, and ran to its end) or with timed_out /
// canceled (it had not); which one depends on how soon a worker took it, so the test
// accepts both and checks that nothing else comes back and the file stays usable.
TEST_F(AioFile, RegularFileOpsEndedEarlyReturnTheirDataOrTheirError) {
  xcoro_test::temp_dir dir("aio-file");
  ASSERT_TRUE(dir.ok()) << std::strerror(errno);
  constexpr int readers = 16;
  auto r = aio::run(ex(), [&] {
    auto f = aio::file::open(nullptr, dir / "regular", O_CREAT | O_TRUNC | O_RDWR);
    ASSERT_TRUE(f) << f.error().message();
    const std::string text = "ended early";
    ASSERT_EQ(f->pwrite(bytes_of(text), 0), text.size());
    auto read_one = [&](bool with_deadline) {
      std::array<std::byte, 32> buf{};
      auto n = with_deadline ? f->pread(buf, 0, 0ms) : f->pread(buf, 0);
      if (!n) {
        return n.error();
      }
      EXPECT_EQ(std::string(reinterpret_cast<const char*>(buf.data()), *n), text);
      return std::error_code();
    };
    std::optional<xcoro::frame_t<std::error_code>> timed[readers];
    std::optional<xcoro::frame_t<std::error_code>> cancelled[readers];
    for (int i = 0; i < readers; ++i) {
      auto a = xcoro::xasync(read_one, true);
      ASSERT_TRUE(a) << a.error().message();
      timed[i].emplace(std::move(*a));
      auto b = xcoro::xasync(read_one, false);
      ASSERT_TRUE(b) << b.error().message();
      // false if the read already finished, which a fast worker may have managed.
      (void)aio::cancel(b->frame());
      cancelled[i].emplace(std::move(*b));
    }
    for (int i = 0; i < readers; ++i) {
      std::error_code t = xcoro::xawait(*timed[i]);
      EXPECT_TRUE(!t || t == std::errc::timed_out) << t.message();
      std::error_code c = xcoro::xawait(*cancelled[i]);
      EXPECT_TRUE(!c || c == xcoro::errc::canceled) << c.message();
    }
    std::array<std::byte, 32> buf{};
    EXPECT_EQ(f->pread(buf, 0, long_timeout), text.size());
  });
  ASSERT_TRUE(r) << r.error().message();
}

}  // namespace
