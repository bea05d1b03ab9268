// Tests of the trace hook and the report of unfinished coroutines.
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "support/test_stacks.hpp"
#include "xcoro/coro.hpp"
#include "xcoro/trace.hpp"

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

}  // namespace
