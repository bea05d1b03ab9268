// Tests of pipes and child processes: aio::pipe, process::spawn with redirection, the
// environment and the working directory, process::kill, ~process of a running child (the
// reaper), a child that never reads its stdin, run_capture, and one run inside a runtime.
// ctest runs this suite once per backend (XCORO_BACKEND=io_uring and =epoll). Timing is
// asserted as lower bounds only; the payloads are std::string.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "support/aio_fixture.hpp"
#include "support/temp_dir.hpp"
#include "support/test_stacks.hpp"
#include "xcoro/aio.hpp"
#include "xcoro/coro.hpp"
#include "xcoro/runtime.hpp"
#include "xcoro/scope.hpp"

namespace {

namespace aio = xcoro::aio;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

constexpr auto short_timeout = 100ms;
// Never expires on a working loop; a wait that does fails the test instead of hanging it.
constexpr auto long_timeout = 20000ms;

std::int64_t ms_since(clock_type::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t).count();
}

std::span<const std::byte> bytes_of(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Whether `pid` is gone from this process's children: reaped by someone (the reaper).
/// Polls for up to `limit`, sleeping on the loop between looks.
bool reaped_within(pid_t pid, std::chrono::milliseconds limit) {
  auto until = clock_type::now() + limit;
  for (;;) {
    siginfo_t info{};
    int rc = ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT);
    if (rc < 0 && errno == ECHILD) {
      return true;
    }
    if (clock_type::now() > until) {
      return false;
    }
    (void)aio::sleep(nullptr, 5ms);
  }
}

class AioProcess : public xcoro_test::aio_fixture {};

// --- pipes -------------------------------------------------------------------------------

TEST_F(AioProcess, PipeCarriesDataThenEof) {
  auto r = aio::run(nullptr, [] {
    auto p = aio::pipe(nullptr);
    EXPECT_TRUE(p) << p.error().message();
    const std::string msg(100000, 'x');  // more than a pipe buffer: the writer must wait
    auto writer = xcoro::xasync([&] {
      EXPECT_TRUE(p->writer.write_all(bytes_of(msg), long_timeout));
      EXPECT_TRUE(p->writer.close());
    });
    auto got = aio::read_all(p->reader, 1 << 20, long_timeout);
    xcoro::xawait(*writer);
    EXPECT_TRUE(got) << got.error().message();
    EXPECT_EQ(*got, msg);
    std::array<std::byte, 8> buf{};
    auto again = p->reader.read(buf, long_timeout);
    EXPECT_EQ(again.error(), xcoro::errc::eof);
  });
  EXPECT_TRUE(r);
}

TEST_F(AioProcess, WriteToAClosedPipeIsBrokenPipeNotSigpipe) {
  auto p = aio::pipe(nullptr);
  ASSERT_TRUE(p);
  ASSERT_TRUE(p->reader.close());
  const std::string msg = "nobody reads this";
  auto w = p->writer.write(bytes_of(msg), long_timeout);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error(), std::errc::broken_pipe);
  auto wa = p->writer.write_all(bytes_of(msg));
  ASSERT_FALSE(wa);
  EXPECT_EQ(wa.error(), std::errc::broken_pipe);
  // Still alive: SIGPIPE did not end the process. Its action is now "ignore".
  struct sigaction now{};
  ASSERT_EQ(::sigaction(SIGPIPE, nullptr, &now), 0);
  EXPECT_EQ(now.sa_handler, SIG_IGN);
}

TEST_F(AioProcess, ChildrenGetTheDefaultSigpipeBack) {
  auto p = aio::pipe(nullptr);  // makes sure xcoro has set SIGPIPE to ignored
  ASSERT_TRUE(p);
  auto r = aio::run_capture(nullptr, {"grep", "SigIgn", "/proc/self/status"}, long_timeout);
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r->status, 0u);
  auto mask = std::stoull(r->out.substr(r->out.find(':') + 1), nullptr, 16);
  EXPECT_EQ(mask & (1ull << (SIGPIPE - 1)), 0u) << r->out;
}

TEST_F(AioProcess, PipeReadTimesOut) {
  auto p = aio::pipe(nullptr);
  ASSERT_TRUE(p);
  std::array<std::byte, 8> buf{};
  auto t0 = clock_type::now();
  auto r = p->reader.read(buf, short_timeout);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), std::errc::timed_out);
  EXPECT_GE(ms_since(t0), short_timeout.count());
}

TEST_F(AioProcess, PipeWriteAllTimesOutWhenNobodyReads) {
  auto p = aio::pipe(nullptr);
  ASSERT_TRUE(p);
  const std::string big(4 << 20, 'y');  // far more than a pipe holds
  auto t0 = clock_type::now();
  auto r = p->writer.write_all(bytes_of(big), short_timeout);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), std::errc::timed_out);
  EXPECT_GE(ms_since(t0), short_timeout.count());
}

TEST_F(AioProcess, FileWriteAllWritesEverything) {
  xcoro_test::temp_dir dir("aio-process");
  auto f = aio::file::open(nullptr, dir.path() / "out", O_WRONLY | O_CREAT | O_TRUNC);
  ASSERT_TRUE(f);
  const std::string msg(300000, 'z');
  ASSERT_TRUE(f->write_all(bytes_of(msg), long_timeout));
  ASSERT_TRUE(f->write_all(bytes_of(msg)));
  ASSERT_TRUE(f->close());
  EXPECT_EQ(slurp(dir.path() / "out"), msg + msg);
}

TEST_F(AioProcess, ReadBlockedOnAPipeCancelledFromAThirdCoroutine) {
  auto r = aio::run(nullptr, [] {
    auto p = aio::pipe(nullptr);
    EXPECT_TRUE(p);
    auto reader = xcoro::xasync([&] {
      std::array<std::byte, 16> buf{};
      return p->reader.read(buf);
    });
    auto third = xcoro::xasync([&] {
      EXPECT_TRUE(aio::sleep(nullptr, 1ms));
      EXPECT_TRUE(xcoro::cancel(reader->frame()));
    });
    EXPECT_EQ(xcoro::xawait(*reader).error(), xcoro::errc::canceled);
    xcoro::xawait(*third);
    // The pipe still works.
    const std::string msg = "after";
    EXPECT_TRUE(p->writer.write_all(bytes_of(msg), long_timeout));
    std::array<std::byte, 16> buf{};
    EXPECT_EQ(p->reader.read(buf, long_timeout), msg.size());
  });
  EXPECT_TRUE(r);
}

// --- spawn -------------------------------------------------------------------------------

TEST_F(AioProcess, StdinAndStdoutPipesThroughCat) {
  auto r = aio::run(nullptr, [] {
    auto p = aio::process::spawn(nullptr, {.argv = {"cat"},
                                           .in = aio::stdio::pipe(),
                                           .out = aio::stdio::pipe()});
    EXPECT_TRUE(p) << p.error().message();
    std::string msg;
    for (int i = 0; i < 20000; ++i) {
      msg += "line " + std::to_string(i) + "\n";
    }
    auto feeder = xcoro::xasync([&] {
      EXPECT_TRUE(p->stdin_pipe().write_all(bytes_of(msg), long_timeout));
      EXPECT_TRUE(p->close_stdin());
    });
    auto out = aio::read_all(p->stdout_pipe(), 1 << 22, long_timeout);
    xcoro::xawait(*feeder);
    EXPECT_TRUE(out);
    EXPECT_EQ(*out, msg);
    EXPECT_EQ(p->wait(long_timeout), 0u);
    EXPECT_EQ(p->close_stdin().error(), std::errc::bad_file_descriptor);
  });
  EXPECT_TRUE(r);
}

TEST_F(AioProcess, RedirectsToAndFromFilesAndNull) {
  xcoro_test::temp_dir dir("aio-process");
  {
    std::ofstream in(dir.path() / "in");
    in << "from a file\n";
  }
  auto p = aio::process::spawn(
      nullptr, {.argv = {"/bin/sh", "-c", "cat; echo to-stderr >&2"},
                .in = aio::stdio::file(dir.path() / "in", O_RDONLY),
                .out = aio::stdio::file(dir.path() / "out", O_WRONLY | O_CREAT | O_TRUNC),
                .err = aio::stdio::to_stdout()});
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(p->wait(long_timeout), 0u);
  EXPECT_EQ(slurp(dir.path() / "out"), "from a file\nto-stderr\n");

  // /dev/null in and out: cat reads nothing and writes nothing; stderr to a pipe.
  auto q = aio::process::spawn(nullptr, {.argv = {"/bin/sh", "-c", "cat; echo e >&2"},
                                         .in = aio::stdio::null(),
                                         .out = aio::stdio::null(),
                                         .err = aio::stdio::pipe()});
  ASSERT_TRUE(q);
  auto err = aio::read_all(q->stderr_pipe(), 100, long_timeout);
  ASSERT_TRUE(err);
  EXPECT_EQ(*err, "e\n");
  EXPECT_EQ(q->wait(long_timeout), 0u);
}

TEST_F(AioProcess, AdoptedDescriptorAsStdout) {
  auto pp = aio::pipe(nullptr);
  ASSERT_TRUE(pp);
  auto p = aio::process::spawn(nullptr, {.argv = {"echo", "via fd"},
                                         .out = aio::stdio::fd(pp->writer.native_handle())});
  ASSERT_TRUE(p);
  ASSERT_TRUE(pp->writer.close());  // the child holds its own copy
  auto got = aio::read_all(pp->reader, 100, long_timeout);
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, "via fd\n");
  EXPECT_EQ(p->wait(long_timeout), 0u);
}

TEST_F(AioProcess, ChildSeesItsEnvironmentAndWorkingDirectory) {
  xcoro_test::temp_dir dir("aio-process");
  auto cwd = std::filesystem::canonical(dir.path()).string();
  ::setenv("XCORO_TEST_INHERITED", "parent", 1);
  auto p = aio::process::spawn(
      nullptr, {.argv = {"/bin/sh", "-c", "echo $X; echo $XCORO_TEST_INHERITED; pwd"},
                .env = {{"X", "hello world"}},
                .cwd = cwd,
                .out = aio::stdio::pipe()});
  ASSERT_TRUE(p) << p.error().message();
  auto out = aio::read_all(p->stdout_pipe(), 4096, long_timeout);
  ASSERT_TRUE(out);
  EXPECT_EQ(*out, "hello world\nparent\n" + cwd + "\n");
  EXPECT_EQ(p->wait(long_timeout), 0u);

  // clear_env: only what is given.
  auto q = aio::process::spawn(
      nullptr, {.argv = {"/bin/sh", "-c", "echo \"[$X][$XCORO_TEST_INHERITED]\""},
                .env = {{"X", "only"}},
                .clear_env = true,
                .out = aio::stdio::pipe()});
  ASSERT_TRUE(q);
  out = aio::read_all(q->stdout_pipe(), 4096, long_timeout);
  ASSERT_TRUE(out);
  EXPECT_EQ(*out, "[only][]\n");
  EXPECT_EQ(q->wait(long_timeout), 0u);
  ::unsetenv("XCORO_TEST_INHERITED");
}

TEST_F(AioProcess, SpawnErrors) {
  if (xcoro_test::emulated) {
    GTEST_SKIP() << "qemu-user does not report a failed exec back through posix_spawn";
  }
  EXPECT_EQ(aio::process::spawn(nullptr, aio::process_options{}).error(),
            std::errc::invalid_argument);
  EXPECT_EQ(aio::process::spawn(nullptr, {.argv = {"xcoro-no-such-program"}}).error(),
            std::errc::no_such_file_or_directory);
  EXPECT_EQ(aio::process::spawn(nullptr, {.argv = {"true"}, .cwd = "/nonexistent/xcoro"})
                .error(),
            std::errc::no_such_file_or_directory);
  EXPECT_EQ(aio::process::spawn(nullptr, {.argv = {"true"}, .out = aio::stdio::to_stdout()})
                .error(),
            std::errc::invalid_argument);
  EXPECT_FALSE(aio::process::spawn(
      nullptr, {.argv = {"true"}, .in = aio::stdio::file("/nonexistent/xcoro", O_RDONLY)}));
}

TEST_F(AioProcess, KillThenWaitReportsTheSignal) {
  auto p = aio::process::spawn(nullptr, {"sleep", "30"});
  ASSERT_TRUE(p);
  ASSERT_TRUE(p->kill(SIGTERM));
  EXPECT_EQ(p->wait(long_timeout), 128u + SIGTERM);
  EXPECT_EQ(p->kill(SIGTERM).error(), std::errc::no_such_process);
}

TEST_F(AioProcess, WaitTimesOut) {
  auto p = aio::process::spawn(nullptr, {"sleep", "30"});
  ASSERT_TRUE(p);
  auto t0 = clock_type::now();
  EXPECT_EQ(p->wait(short_timeout).error(), std::errc::timed_out);
  EXPECT_GE(ms_since(t0), short_timeout.count());
  ASSERT_TRUE(p->kill(SIGKILL));
  EXPECT_EQ(p->wait(long_timeout), 128u + SIGKILL);
}

TEST_F(AioProcess, DroppingARunningChildLeavesNoZombie) {
  pid_t pid;
  {
    auto p = aio::process::spawn(nullptr, {.argv = {"sleep", "30"},
                                           .in = aio::stdio::pipe(),
                                           .out = aio::stdio::pipe()});
    ASSERT_TRUE(p);
    pid = p->pid();
  }  // must not block for 30 s
  // Not reaped yet (the reaper waits for it), so the pid is still ours to signal.
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  EXPECT_TRUE(reaped_within(pid, long_timeout));
}

TEST_F(AioProcess, KillOnDropAndAChildThatExitsAfterTheDrop) {
  pid_t killed;
  pid_t exits;
  {
    auto p = aio::process::spawn(nullptr, {.argv = {"sleep", "30"}, .kill_on_drop = true});
    ASSERT_TRUE(p);
    killed = p->pid();
    auto q = aio::process::spawn(nullptr, {"sleep", "0.05"});
    ASSERT_TRUE(q);
    exits = q->pid();
  }
  EXPECT_TRUE(reaped_within(killed, long_timeout));
  EXPECT_TRUE(reaped_within(exits, long_timeout));
}

TEST_F(AioProcess, ChildThatNeverReadsStdin) {
  auto p = aio::process::spawn(nullptr, {.argv = {"sleep", "30"}, .in = aio::stdio::pipe()});
  ASSERT_TRUE(p);
  const std::string big(4 << 20, 'q');
  auto t0 = clock_type::now();
  auto r = p->stdin_pipe().write_all(bytes_of(big), short_timeout);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), std::errc::timed_out);
  EXPECT_GE(ms_since(t0), short_timeout.count());
  ASSERT_TRUE(p->kill(SIGKILL));
  EXPECT_EQ(p->wait(long_timeout), 128u + SIGKILL);
  // Its reader is gone now: the write is broken_pipe, not a signal.
  EXPECT_EQ(p->stdin_pipe().write_all(bytes_of(big), long_timeout).error(),
            std::errc::broken_pipe);
}

// --- run_capture -------------------------------------------------------------------------

TEST_F(AioProcess, RunCaptureStatusOutAndErr) {
  auto r = aio::run_capture(nullptr, {"/bin/sh", "-c", "echo out; echo err >&2; exit 3"},
                            long_timeout);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->status, 3u);
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");
}

TEST_F(AioProcess, RunCaptureLargeOutputOnBothStreams) {
  // stderr first: a caller reading only stdout would wait forever for a child blocked
  // writing stderr.
  auto check = [] {
    auto r = aio::run_capture(
        nullptr,
        {"/bin/sh", "-c", "head -c 1048576 /dev/zero | tr '\\0' e >&2; head -c 1048576 /dev/zero"},
        long_timeout);
    EXPECT_TRUE(r) << r.error().message();
    if (r) {
      EXPECT_EQ(r->status, 0u);
      EXPECT_EQ(r->out, std::string(1 << 20, '\0'));
      EXPECT_EQ(r->err, std::string(1 << 20, 'e'));
    }
  };
  check();                                 // from root
  EXPECT_TRUE(aio::run(nullptr, check));   // from a coroutine
}

TEST_F(AioProcess, RunCaptureOverTheLimit) {
  auto r = aio::run_capture(nullptr, {"head", "-c", "100000", "/dev/zero"}, long_timeout, 1000);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), std::errc::file_too_large);
  auto e = aio::run_capture(nullptr, {"/bin/sh", "-c", "head -c 100000 /dev/zero >&2"},
                            long_timeout, 1000);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error(), std::errc::file_too_large);
}

TEST_F(AioProcess, RunCaptureTimesOutAndCancels) {
  auto t0 = clock_type::now();
  auto r = aio::run_capture(nullptr, {"sleep", "30"}, short_timeout);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), std::errc::timed_out);
  EXPECT_GE(ms_since(t0), short_timeout.count());

  auto c = aio::run(nullptr, [] {
    auto runner = xcoro::xasync([] { return aio::run_capture(nullptr, {"sleep", "30"}, 20s); });
    auto third = xcoro::xasync([&] {
      EXPECT_TRUE(aio::sleep(nullptr, 1ms));
      EXPECT_TRUE(xcoro::cancel(runner->frame()));
    });
    auto got = xcoro::xawait(*runner);
    xcoro::xawait(*third);
    EXPECT_FALSE(got);
    if (!got) {
      EXPECT_EQ(got.error(), xcoro::errc::canceled);
    }
  });
  EXPECT_TRUE(c);
  if (!xcoro_test::emulated) {  // qemu-user does not report a failed exec (SpawnErrors)
    EXPECT_EQ(aio::run_capture(nullptr, {"xcoro-no-such-program"}, long_timeout).error(),
              std::errc::no_such_file_or_directory);
  }
}

// --- inside a runtime --------------------------------------------------------------------

TEST(AioProcessRuntime, PipesAndRunCaptureOnTwoWorkers) {
  auto rt = xcoro::runtime::create({.threads = 2});
  if (!rt) {
    GTEST_SKIP() << "runtime unavailable here: " << rt.error().message();
  }
  auto ok = rt->block_on([] {
    auto r = aio::run_capture(nullptr, {"/bin/sh", "-c", "echo hi; echo there >&2"},
                              long_timeout);
    EXPECT_TRUE(r);
    if (!r || r->out != "hi\n" || r->err != "there\n") {
      return false;
    }
    auto p = aio::process::spawn(nullptr, {.argv = {"sort"},
                                           .in = aio::stdio::pipe(),
                                           .out = aio::stdio::pipe()});
    EXPECT_TRUE(p);
    if (!p) {
      return false;
    }
    const std::string input = "pear\napple\nfig\n";
    EXPECT_TRUE(p->stdin_pipe().write_all(bytes_of(input), long_timeout));
    EXPECT_TRUE(p->close_stdin());
    auto out = aio::read_all(p->stdout_pipe(), 4096, long_timeout);
    EXPECT_TRUE(out);
    EXPECT_EQ(p->wait(long_timeout), 0u);
    return out && *out == "apple\nfig\npear\n";
  });
  ASSERT_TRUE(ok) << ok.error().message();
  EXPECT_TRUE(*ok);
}

}  // namespace
