// Tests of the trace hook (per thread, the process-wide default, the adoption of a
// handed-off coroutine, every worker of a runtime) and the report of unfinished coroutines.
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "support/test_stacks.hpp"
#include "xcoro/config.hpp"
#include "xcoro/coro.hpp"
#include "xcoro/trace.hpp"
#if XCORO_WITH_AIO
#include "xcoro/runtime.hpp"
#endif

namespace {

struct recorded {
  std::vector<std::pair<xcoro::trace_event, std::uint64_t>> events;
};

void record(xcoro::trace_event e, xcoro::coro* subject, xcoro::coro*, void* user) noexcept {
  static_cast<recorded*>(user)->events.emplace_back(e, subject->id());
}

TEST(Trace, HookSeesEveryEventInOrder) {
  recorded r;
  xcoro::set_trace_hook(record, &r);
  std::uint64_t id = 0;
  {
    auto f = xcoro::xasync([] { xcoro::xsuspend(); });
    ASSERT_TRUE(f);
    id = f->frame()->id();
    xcoro::xresume(*f);
  }
  xcoro::set_trace_hook(nullptr);
  using e = xcoro::trace_event;
  std::vector<std::pair<e, std::uint64_t>> want{
      {e::create, id}, {e::resume, id}, {e::suspend, id},
      {e::resume, id}, {e::finish, id}, {e::destroy, id}};
  EXPECT_EQ(r.events, want);
  // Unset: nothing more is recorded.
  auto g = xcoro::xasync([] {});
  EXPECT_EQ(r.events.size(), want.size());
}

TEST(Trace, ReportListsUnfinishedCoroutines) {
  auto a = xcoro::xasync([] { xcoro::xsuspend(); });
  a->frame()->set_name("stuck");
  auto b = xcoro::frame_t<void>::init(nullptr, [] {});
  auto done = xcoro::xasync([] {});
  ASSERT_TRUE(a && b && done);
  std::FILE* out = std::tmpfile();
  ASSERT_NE(out, nullptr);
  std::size_t n = xcoro::report_unfinished(out);
  std::rewind(out);
  char buf[512] = {};
  std::size_t got = std::fread(buf, 1, sizeof buf - 1, out);
  std::fclose(out);
  EXPECT_EQ(n, 2u);
  std::string text(buf, got);
  EXPECT_NE(text.find("'stuck': suspended"), std::string::npos) << text;
  EXPECT_NE(text.find("not started"), std::string::npos) << text;
}

TEST(TraceDeathTest, ReportAtThreadExit) {
  GTEST_FLAG_SET(death_test_style, xcoro_test::death_test_style());
  EXPECT_EXIT(
      {
        xcoro::set_report_unfinished(true);
        auto* leaked = new xcoro::frame_t<void>(std::move(*xcoro::xasync([] {
          xcoro::xframe()->set_name("forgotten");
          xcoro::xsuspend();
        })));
        (void)leaked;
        std::exit(0);  // runs the main thread's thread-local destructors
      },
      ::testing::ExitedWithCode(0), "xcoro:   id " XCORO_RE_ID " 'forgotten': suspended");
}

/// A hook for several threads at once: what happened, to which coroutine, on which thread.
struct shared_log {
  struct entry {
    xcoro::trace_event event;
    const xcoro::coro* subject;  // identity only: a destroyed record is gone
    std::uint64_t id;
    std::uint64_t other_id;
    int thread;                  // the test's tag of the calling thread (tag below)
    int worker;                  // xcoro::this_worker() where the build has runtimes
    int worker_index;            // what gdb reads for it: the thread state's worker_index
  };
  std::mutex m;
  std::vector<entry> entries;

  static thread_local int tag;  // set by each thread of a test; 0 until then

  static void hook(xcoro::trace_event e, xcoro::coro* subject, xcoro::coro* other,
                   void* user) noexcept {
    auto* self = static_cast<shared_log*>(user);
    int worker = -1;
#if XCORO_WITH_AIO
    worker = xcoro::this_worker();
#endif
    std::lock_guard<std::mutex> hold(self->m);
    self->entries.push_back(
        {e, subject, subject->id(), other != nullptr ? other->id() : ~0ull, tag, worker,
         xcoro::detail::tls.worker_index});
  }
  std::vector<entry> of_thread(int t) {
    std::lock_guard<std::mutex> hold(m);
    std::vector<entry> out;
    for (const entry& x : entries) {
      if (x.thread == t) {
        out.push_back(x);
      }
    }
    return out;
  }
};
thread_local int shared_log::tag = 0;

using ev = xcoro::trace_event;

std::vector<ev> events_of(const std::vector<shared_log::entry>& entries) {
  std::vector<ev> out;
  for (const auto& x : entries) {
    out.push_back(x.event);
  }
  return out;
}

// Threads without a hook of their own take the default when they start using coroutines;
// one with its own keeps it, and goes back to the default when it removes it; a thread
// that starts after the default was removed traces nothing.
TEST(Trace, DefaultHookReachesThreadsWithoutTheirOwn) {
  shared_log log;
  recorded own;
  xcoro::set_default_trace_hook(&shared_log::hook, &log);
  std::thread plain([] {
    shared_log::tag = 1;
    auto f = xcoro::xasync([] {});
    ASSERT_TRUE(f);
  });
  plain.join();
  std::thread mine([&own] {
    shared_log::tag = 2;
    xcoro::set_trace_hook(record, &own);
    {
      auto f = xcoro::xasync([] {});
      ASSERT_TRUE(f);
    }
    xcoro::set_trace_hook(nullptr);  // back to the default
    auto g = xcoro::xasync([] { xcoro::xsuspend(); });
    ASSERT_TRUE(g);
    xcoro::xresume(*g);
  });
  mine.join();
  xcoro::set_default_trace_hook(nullptr);
  std::thread late([] {
    shared_log::tag = 3;
    auto f = xcoro::xasync([] {});
    ASSERT_TRUE(f);
  });
  late.join();

  const std::vector<ev> one_run{ev::create, ev::resume, ev::finish, ev::destroy};
  EXPECT_EQ(events_of(log.of_thread(1)), one_run);
  ASSERT_EQ(own.events.size(), 4u);
  EXPECT_EQ(own.events[0].first, ev::create);
  EXPECT_EQ(own.events[3].first, ev::destroy);
  EXPECT_EQ(events_of(log.of_thread(2)),
            (std::vector<ev>{ev::create, ev::resume, ev::suspend, ev::resume, ev::finish,
                             ev::destroy}));
  EXPECT_TRUE(log.of_thread(3).empty());
  EXPECT_EQ(log.entries.size(), 10u);
  for (const auto& x : log.entries) {
    EXPECT_EQ(x.worker_index, -1);  // no runtime here
  }
}

// A coroutine made on one thread and handed to another (what a runtime's spawn does): the
// taking thread reports adopt before the first resume, with its running coroutine (root)
// as `other`; every event comes from the thread where it happens.
TEST(Trace, AdoptionIsReportedByTheTakingThread) {
  shared_log log;
  xcoro::set_default_trace_hook(&shared_log::hook, &log);
  std::optional<xcoro::frame_t<int>> f;
  std::thread maker([&f] {
    shared_log::tag = 1;
    f.emplace(xcoro::frame_t<int>::init({}, [] { return 7; }).value());
    xcoro::detail::coro_hand_off(f->frame());
  });
  maker.join();
  std::thread taker([&f] {
    shared_log::tag = 2;
    xcoro::detail::coro_adopt(f->frame());
    xcoro::xresume(f->frame());
    EXPECT_TRUE(xcoro::detail::coro_publish_finished());
  });
  taker.join();
  const xcoro::coro* c = f->frame();
  std::uint64_t id = c->id();
  std::thread freer([&f] {
    shared_log::tag = 3;
    // This thread has made and adopted nothing, so it has not taken the default yet.
    xcoro::set_trace_hook(nullptr);
    f.reset();
  });
  freer.join();
  xcoro::set_default_trace_hook(nullptr);

  std::lock_guard<std::mutex> hold(log.m);
  ASSERT_EQ(log.entries.size(), 5u);
  const std::vector<std::pair<ev, int>> want{
      {ev::create, 1}, {ev::adopt, 2}, {ev::resume, 2}, {ev::finish, 2}, {ev::destroy, 3}};
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(log.entries[i].event, want[i].first) << i;
    EXPECT_EQ(log.entries[i].thread, want[i].second) << i;
    EXPECT_EQ(log.entries[i].subject, c) << i;
    EXPECT_EQ(log.entries[i].id, id) << i;
  }
  EXPECT_EQ(log.entries[1].other_id, 0u);  // the taker's root
}

#if XCORO_WITH_AIO
// With the default installed before the runtime, every worker that runs coroutines traces
// them, without any code of the user's on the workers; a spawned coroutine is created on
// its spawner's worker and adopted once, by the worker that starts it, before it runs. The
// thread state's worker_index, which gdb reads, agrees with this_worker() on every event.
TEST(Trace, DefaultHookTracesEveryWorkerOfARuntime) {
  shared_log log;
  xcoro::set_default_trace_hook(&shared_log::hook, &log);
  std::set<int> ran_on;
  std::size_t calls = 0;
  {
    auto rt = xcoro::runtime::create({.threads = 2});
    if (!rt) {
      xcoro::set_default_trace_hook(nullptr);
      GTEST_SKIP() << "no runtime here: " << rt.error().message();
    }
    // block_on puts its calls on the workers in turn; a bound keeps a change of that
    // policy from hanging the test, and the assertions below hold for whatever ran.
    for (; calls < 64 && ran_on.size() < 2; ++calls) {
      auto got = rt->block_on([] {
        auto f = xcoro::spawn([] { return xcoro::this_worker(); });
        EXPECT_TRUE(f);
        auto w = xcoro::xawait(*f);
        EXPECT_GE(w, 0);
        return xcoro::this_worker();
      });
      ASSERT_TRUE(got);
      ran_on.insert(*got);
    }
  }
  xcoro::set_default_trace_hook(nullptr);
  EXPECT_EQ(ran_on, (std::set<int>{0, 1}));

  std::lock_guard<std::mutex> hold(log.m);
  std::set<int> traced;
  std::map<const xcoro::coro*, int> created_on;  // live records: created, not destroyed
  std::size_t adoptions = 0;
  for (const auto& x : log.entries) {
    EXPECT_EQ(x.worker_index, x.worker);
    if (x.event == ev::create) {
      ASSERT_GE(x.worker, 0);
      traced.insert(x.worker);
      created_on[x.subject] = x.worker;
    } else if (x.event == ev::adopt) {
      ++adoptions;
      ASSERT_GE(x.worker, 0);
      ASSERT_TRUE(created_on.count(x.subject)) << "adopt before create";
      EXPECT_EQ(x.other_id, 0u);
    } else if (x.event == ev::destroy) {
      created_on.erase(x.subject);  // its address may be reused by a later one
    }
  }
  EXPECT_EQ(traced, ran_on);
  EXPECT_EQ(adoptions, calls);  // each call spawned one
  EXPECT_TRUE(created_on.empty());
}
#endif  // XCORO_WITH_AIO

}  // namespace
