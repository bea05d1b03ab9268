// The stall report (loop_options::stall_report, XCORO_STALL_REPORT_MS): what it prints on
// stderr for a coroutine, or root, that keeps the loop from running, and that a sleeping
// loop, or a loop without the option, prints nothing. Runs once per backend.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "xcoro/aio.hpp"
#include "xcoro/runtime.hpp"
#include "xcoro/coro.hpp"

namespace {

namespace aio = xcoro::aio;
using namespace std::chrono_literals;

/// Sends this process's stderr (fd 2) to a temporary file while it lives.
class stderr_capture {
 public:
  stderr_capture() {
    std::fflush(stderr);
    file_ = std::tmpfile();
    saved_ = dup(STDERR_FILENO);
    if (file_ != nullptr && saved_ >= 0) {
      dup2(fileno(file_), STDERR_FILENO);
    }
  }
  ~stderr_capture() { restore(); }
  stderr_capture(const stderr_capture&) = delete;
  stderr_capture& operator=(const stderr_capture&) = delete;

  /// Restores stderr and returns the lines written meanwhile that start with "xcoro: ".
  std::vector<std::string> lines() {
    restore();
    std::vector<std::string> out;
    if (file_ == nullptr) {
      return out;
    }
    std::rewind(file_);
    std::string line;
    for (int ch; (ch = std::fgetc(file_)) != EOF;) {
      if (ch != '\n') {
        line += static_cast<char>(ch);
        continue;
      }
      if (line.rfind("xcoro: ", 0) == 0) {
        out.push_back(line);
      } else {
        std::fprintf(stderr, "%s\n", line.c_str());  // not ours: pass it on
      }
      line.clear();
    }
    std::fclose(file_);
    file_ = nullptr;
    return out;
  }

 private:
  void restore() {
    if (saved_ >= 0) {
      std::fflush(stderr);
      dup2(saved_, STDERR_FILENO);
      close(saved_);
      saved_ = -1;
    }
  }
  std::FILE* file_ = nullptr;
  int saved_ = -1;
};

/// Sets (or unsets, for nullptr) an environment variable while it lives.
class env_var {
 public:
  env_var(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) {
      old_ = old;
    }
    if (value != nullptr) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~env_var() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }
  env_var(const env_var&) = delete;
  env_var& operator=(const env_var&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

/// Keeps the thread busy for `d` without a blocking call.
void spin_for(std::chrono::milliseconds d) {
  auto end = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < end) {
  }
}

/// The figure in a matching line, or -1.
long long match_ms(const std::string& line, const std::regex& re) {
  std::smatch m;
  if (!std::regex_match(line, m, re)) {
    return -1;
  }
  return std::stoll(m[1].str());
}

/// Checks that `lines` are exactly the report of one stall of `who` (a regex) of at least
/// `threshold_ms`: the line that names it, then the one that says it gave the loop back.
void expect_one_stall(const std::vector<std::string>& lines, const std::string& who,
                      long long threshold_ms) {
  ASSERT_EQ(lines.size(), 2u) << (lines.empty() ? std::string("no report") : lines[0]);
  std::regex ran("xcoro: " + who + " ran ([0-9]+) ms without suspending");
  std::regex back("xcoro: " + who + " gave the loop back after at least ([0-9]+) ms");
  EXPECT_GE(match_ms(lines[0], ran), threshold_ms) << lines[0];
  EXPECT_GE(match_ms(lines[1], back), threshold_ms) << lines[1];
}

class Stall : public ::testing::Test {
 protected:
  /// A loop with the stall report at `threshold` (XCORO_STALL_REPORT_MS unset).
  std::optional<aio::loop> make_loop(std::chrono::milliseconds threshold) {
    env_var unset("XCORO_STALL_REPORT_MS", nullptr);
    auto l = aio::loop::create({.stall_report = threshold});
    if (!l) {
      ADD_FAILURE() << l.error().message();
      return std::nullopt;
    }
    return std::move(*l);
  }
  void SetUp() override {
    auto probe = aio::loop::create();
    if (!probe && probe.error() != std::errc::invalid_argument) {
      GTEST_SKIP() << "backend unavailable here: " << probe.error().message();
    }
  }
};

// A coroutine that blocks its thread in a system call for 400 ms is named, once.
TEST_F(Stall, ReportsACoroutineThatBlocks) {
  stderr_capture capture;
  {
    auto l = make_loop(100ms);
    ASSERT_TRUE(l);
    aio::executor ex(*l);
    auto r = aio::run(&ex, [] {
      xcoro::xframe()->set_name("blocker");
      std::this_thread::sleep_for(400ms);
    });
    ASSERT_TRUE(r);
  }
  expect_one_stall(capture.lines(), "coroutine 'blocker' \\(id [0-9]+\\)", 100);
}

// On a runtime's worker, the report names the worker as well.
TEST_F(Stall, NamesTheWorkerOfARuntime) {
  stderr_capture capture;
  int worker = -1;
  {
    env_var unset("XCORO_STALL_REPORT_MS", nullptr);
    xcoro::runtime_options o;
    o.threads = 2;
    o.loop.stall_report = 100ms;
    auto rt = xcoro::runtime::create(o);
    ASSERT_TRUE(rt) << rt.error().message();
    auto r = rt->block_on([&] {
      xcoro::xframe()->set_name("spinner");
      worker = xcoro::this_worker();
      spin_for(400ms);
    });
    ASSERT_TRUE(r);
  }
  ASSERT_GE(worker, 0);
  expect_one_stall(capture.lines(),
                   "worker " + std::to_string(worker) + ": coroutine 'spinner' \\(id [0-9]+\\)", 100);
}

// So is one that keeps the CPU busy.
TEST_F(Stall, ReportsACoroutineThatSpins) {
  stderr_capture capture;
  {
    auto l = make_loop(100ms);
    ASSERT_TRUE(l);
    aio::executor ex(*l);
    auto r = aio::run(&ex, [] {
      xcoro::xframe()->set_name("spinner");
      spin_for(400ms);
    });
    ASSERT_TRUE(r);
  }
  expect_one_stall(capture.lines(), "coroutine 'spinner' \\(id [0-9]+\\)", 100);
}

// A coroutine resumed by a completion inside the loop's blocking poll (here a timer's) and
// an unnamed one: the loop's poll brackets must not hide it.
TEST_F(Stall, ReportsACoroutineResumedFromThePoll) {
  stderr_capture capture;
  {
    auto l = make_loop(100ms);
    ASSERT_TRUE(l);
    aio::executor ex(*l);
    auto r = aio::run(&ex, [&ex] {
      EXPECT_TRUE(aio::sleep(&ex, 20ms));
      std::this_thread::sleep_for(400ms);
      EXPECT_TRUE(aio::sleep(&ex, 20ms));  // the loop gets control back, and ticks
    });
    ASSERT_TRUE(r);
  }
  expect_one_stall(capture.lines(), "coroutine \\(id [0-9]+\\)", 100);
}

// Root code that keeps the thread from a loop with work to do counts too: here a sleep
// in flight while root blocks.
TEST_F(Stall, ReportsRootWhileTheLoopHasWork) {
  stderr_capture capture;
  {
    auto l = make_loop(100ms);
    ASSERT_TRUE(l);
    aio::executor ex(*l);
    ASSERT_TRUE(aio::sleep(&ex, 1ms));  // a blocking poll: the report knows the loop
    auto sleeper = xcoro::xasync([&ex] { return aio::sleep(&ex, 50ms); });
    ASSERT_TRUE(sleeper);
    std::this_thread::sleep_for(400ms);
    while (sleeper->status() != xcoro::status::done && ex.tick()) {
    }
    EXPECT_TRUE(xcoro::xawait(*sleeper));
  }
  expect_one_stall(capture.lines(), "root coroutine \\(id 0\\)", 100);
}

// Root doing other work while the loop has nothing to do (between runs) is not a stall,
// and the watchdog stops probing it: its sleep is not cut short by probes.
TEST_F(Stall, IdleLoopLeavesRootAlone) {
  stderr_capture capture;
  {
    auto l = make_loop(100ms);
    ASSERT_TRUE(l);
    aio::executor ex(*l);
    ASSERT_TRUE(aio::sleep(&ex, 1ms));
    struct timespec ts{0, 400 * 1000 * 1000};
    int interrupted = 0;
    while (::nanosleep(&ts, &ts) != 0 && errno == EINTR) {
      ++interrupted;
    }
    EXPECT_LE(interrupted, 1) << "the first probe may interrupt; then it must stop";
  }
  EXPECT_EQ(capture.lines(), std::vector<std::string>{});
}

// Two stalls separated by a return to the loop are two episodes.
TEST_F(Stall, EachEpisodeOnce) {
  stderr_capture capture;
  {
    auto l = make_loop(100ms);
    ASSERT_TRUE(l);
    aio::executor ex(*l);
    auto r = aio::run(&ex, [&ex] {
      xcoro::xframe()->set_name("twice");
      std::this_thread::sleep_for(300ms);
      EXPECT_TRUE(aio::sleep(&ex, 1ms));
      std::this_thread::sleep_for(300ms);
    });
    ASSERT_TRUE(r);
  }
  std::vector<std::string> lines = capture.lines();
  ASSERT_EQ(lines.size(), 4u);
  expect_one_stall({lines[0], lines[1]}, "coroutine 'twice' \\(id [0-9]+\\)", 100);
  expect_one_stall({lines[2], lines[3]}, "coroutine 'twice' \\(id [0-9]+\\)", 100);
}

// A loop that sleeps in the kernel is not stalled.
TEST_F(Stall, SleepingLoopIsNotReported) {
  stderr_capture capture;
  {
    auto l = make_loop(100ms);
    ASSERT_TRUE(l);
    aio::executor ex(*l);
    auto t0 = std::chrono::steady_clock::now();
    auto r = aio::run(&ex, [&ex] { return aio::sleep(&ex, 400ms); });
    ASSERT_TRUE(r);
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 400ms);
  }
  EXPECT_EQ(capture.lines(), std::vector<std::string>{});
}

// Off by default.
TEST_F(Stall, OffByDefault) {
  env_var unset("XCORO_STALL_REPORT_MS", nullptr);
  EXPECT_EQ(aio::loop_options{}.stall_report, 0ms);
  stderr_capture capture;
  {
    auto l = aio::loop::create();
    ASSERT_TRUE(l);
    aio::executor ex(*l);
    auto r = aio::run(&ex, [] { std::this_thread::sleep_for(400ms); });
    ASSERT_TRUE(r);
  }
  EXPECT_EQ(capture.lines(), std::vector<std::string>{});
}

// XCORO_STALL_REPORT_MS turns it on, over the option.
TEST_F(Stall, EnvironmentTurnsItOn) {
  env_var on("XCORO_STALL_REPORT_MS", "100");
  stderr_capture capture;
  {
    auto l = aio::loop::create();
    ASSERT_TRUE(l);
    aio::executor ex(*l);
    auto r = aio::run(&ex, [] {
      xcoro::xframe()->set_name("from-env");
      std::this_thread::sleep_for(400ms);
    });
    ASSERT_TRUE(r);
  }
  expect_one_stall(capture.lines(), "coroutine 'from-env' \\(id [0-9]+\\)", 100);
}

// XCORO_STALL_REPORT_MS=0 turns it off, over the option.
TEST_F(Stall, EnvironmentTurnsItOff) {
  env_var off("XCORO_STALL_REPORT_MS", "0");
  stderr_capture capture;
  {
    auto l = aio::loop::create({.stall_report = 100ms});
    ASSERT_TRUE(l);
    aio::executor ex(*l);
    auto r = aio::run(&ex, [] { std::this_thread::sleep_for(400ms); });
    ASSERT_TRUE(r);
  }
  EXPECT_EQ(capture.lines(), std::vector<std::string>{});
}

TEST_F(Stall, RejectsGarbage) {
  for (const char* bad : {"", "abc", "100ms", " 100", "-1", "99999999999999999999", "3600001"}) {
    env_var set("XCORO_STALL_REPORT_MS", bad);
    auto l = aio::loop::create();
    ASSERT_FALSE(l) << "'" << bad << "'";
    EXPECT_EQ(l.error(), std::errc::invalid_argument) << "'" << bad << "'";
  }
  env_var unset("XCORO_STALL_REPORT_MS", nullptr);
  auto l = aio::loop::create({.stall_report = -1ms});
  ASSERT_FALSE(l);
  EXPECT_EQ(l.error(), std::errc::invalid_argument);
}

// A SIGURG that is not a probe still reaches the handler installed before the first loop
// with a stall report (here: this test's, when it runs first in its process).
TEST_F(Stall, OtherSigurgIsPassedOn) {
  static volatile sig_atomic_t seen = 0;
  struct sigaction sa {};
  sa.sa_handler = [](int) { seen = 1; };
  sigemptyset(&sa.sa_mask);
  struct sigaction old {};
  sigaction(SIGURG, &sa, &old);
  bool ours_first = old.sa_handler == SIG_DFL && (old.sa_flags & SA_SIGINFO) == 0;
  if (!ours_first) {
    sigaction(SIGURG, &old, nullptr);
    GTEST_SKIP() << "the stall report's handler is installed already (run this test alone)";
  }
  {
    auto l = make_loop(100ms);
    ASSERT_TRUE(l);
    raise(SIGURG);
  }
  EXPECT_EQ(seen, 1);
}

}  // namespace
