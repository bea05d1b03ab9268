// Tests of whole-coroutine cancellation that need no IO: the request flag, its flow down the
// tree of started coroutines, coroutines born cancelled, shields, and what a cancel must not
// do (wake a plain xsuspend, reach a finished coroutine, flow up). aio_cancel_test covers
// the blocking calls that honour it, once per backend.
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "support/test_stacks.hpp"
#include "xcoro/coro.hpp"
#include "xcoro/scope.hpp"

namespace {

using xcoro::status;

TEST(Scope, CancelMarksTheCoroutineAndIsLevelTriggered) {
  bool seen_before = true;
  bool seen_after = false;
  bool seen_later = false;
  auto f = xcoro::xasync([&] {
    seen_before = xcoro::cancel_requested();
    xcoro::xsuspend();
    seen_after = xcoro::cancel_requested();
    xcoro::xsuspend();
    seen_later = xcoro::cancel_requested();
  });
  ASSERT_TRUE(f);
  EXPECT_FALSE(seen_before);
  EXPECT_TRUE(xcoro::cancel(f->frame()));
  EXPECT_FALSE(xcoro::cancel(f->frame())) << "already cancelled";
  EXPECT_EQ(f->status(), status::suspended) << "a plain xsuspend is not woken";
  xcoro::xresume(*f);
  EXPECT_TRUE(seen_after);
  xcoro::xresume(*f);
  EXPECT_TRUE(seen_later);
  EXPECT_EQ(f->status(), status::done);
  EXPECT_FALSE(xcoro::cancel(f->frame())) << "finished";
  EXPECT_FALSE(xcoro::cancel(nullptr));
  EXPECT_FALSE(xcoro::cancel(xcoro::xframe())) << "root cannot be cancelled";
  EXPECT_FALSE(xcoro::cancel_requested()) << "root";
}

// A cancel reaches, three levels down, every unfinished coroutine that the target started,
// but not its starter (it never flows up) nor a sibling.
TEST(Scope, CancelFlowsDownNeverUp) {
  bool top_saw = false;
  bool mid_saw = false;
  bool leaf_saw = false;
  bool sibling_saw = false;
  std::unique_ptr<xcoro::frame_t<void>> mid_frame;
  auto top = xcoro::xasync([&] {
    auto mid = xcoro::xasync([&] {
      auto leaf = xcoro::xasync([&] {
        xcoro::xsuspend();
        leaf_saw = xcoro::cancel_requested();
      });
      xcoro::xsuspend();
      mid_saw = xcoro::cancel_requested();
      xcoro::xresume(*leaf);
    });
    mid_frame = std::make_unique<xcoro::frame_t<void>>(std::move(*mid));
    xcoro::xsuspend();
    top_saw = xcoro::cancel_requested();
  });
  auto sibling = xcoro::xasync([&] {
    xcoro::xsuspend();
    sibling_saw = xcoro::cancel_requested();
  });
  ASSERT_TRUE(top && sibling);
  // Cancelled from a third coroutine: neither root nor any of the tree.
  auto canceller = xcoro::xasync([&] { EXPECT_TRUE(xcoro::cancel(mid_frame->frame())); });
  ASSERT_TRUE(canceller);
  xcoro::xresume(*top);
  xcoro::xresume(*mid_frame);
  xcoro::xresume(*sibling);
  EXPECT_FALSE(top_saw);
  EXPECT_TRUE(mid_saw);
  EXPECT_TRUE(leaf_saw);
  EXPECT_FALSE(sibling_saw);
}

TEST(Scope, ACoroutineStartedByACancelledOneIsBornCancelled) {
  bool child_saw = false;
  bool unstarted_saw = false;
  std::unique_ptr<xcoro::frame_t<void>> unstarted;
  auto parent = xcoro::xasync([&] {
    xcoro::xsuspend();
    auto child = xcoro::xasync([&] { child_saw = xcoro::cancel_requested(); });
    // Created by a coroutine that was not cancelled, started by one that is.
    xcoro::xresume(unstarted->frame());
  });
  ASSERT_TRUE(parent);
  auto maker = xcoro::frame_t<void>::init(nullptr, [&] {
    unstarted_saw = xcoro::cancel_requested();
  });
  ASSERT_TRUE(maker);
  unstarted = std::make_unique<xcoro::frame_t<void>>(std::move(*maker));
  EXPECT_TRUE(xcoro::cancel(parent->frame()));
  xcoro::xresume(*parent);
  EXPECT_TRUE(child_saw);
  EXPECT_TRUE(unstarted_saw);
}

TEST(Scope, ShieldsNestAndDoNotHideTheRequest) {
  bool inside = false;
  auto f = xcoro::xasync([&] {
    xcoro::cancel_shield outer;
    {
      xcoro::cancel_shield inner;
      xcoro::xsuspend();
      inside = xcoro::cancel_requested();  // the shield changes blocking calls only
    }
    xcoro::xsuspend();
  });
  ASSERT_TRUE(f);
  EXPECT_TRUE(xcoro::cancel(f->frame()));
  xcoro::xresume(*f);
  EXPECT_TRUE(inside);
  xcoro::xresume(*f);
  EXPECT_EQ(f->status(), status::done);
  xcoro::cancel_shield in_root;  // does nothing, and must not abort
}

// What a shielded coroutine starts inside its shield is not cancelled while the shield
// holds (cleanup helpers must be able to finish), a cancel of an ancestor stops at a
// shielded coroutine, and when the last shield ends the cancel goes on to the children
// still running.
TEST(Scope, AShieldProtectsWhatItsCoroutineStarts) {
  bool helper_saw_early = true;
  bool helper_saw_late = false;
  bool grandchild_saw_early = true;
  bool grandchild_saw_late = false;
  std::unique_ptr<xcoro::frame_t<void>> helper;
  auto owner = xcoro::xasync([&] {
    {
      xcoro::cancel_shield shield;
      xcoro::xsuspend();  // cancelled here, shielded
      auto h = xcoro::xasync([&] {
        auto g = xcoro::xasync([&] {
          grandchild_saw_early = xcoro::cancel_requested();
          xcoro::xsuspend();
          grandchild_saw_late = xcoro::cancel_requested();
        });
        helper_saw_early = xcoro::cancel_requested();
        xcoro::xsuspend();
        helper_saw_late = xcoro::cancel_requested();
        xcoro::xresume(*g);
      });
      helper = std::make_unique<xcoro::frame_t<void>>(std::move(*h));
    }  // the shield ends with the helper still running
    xcoro::xsuspend();
  });
  ASSERT_TRUE(owner);
  auto top = owner->frame();
  auto canceller = xcoro::xasync([&] { EXPECT_TRUE(xcoro::cancel(top)); });
  xcoro::xresume(*owner);  // starts the helper inside the shield, then ends the shield
  EXPECT_FALSE(helper_saw_early);
  EXPECT_FALSE(grandchild_saw_early);
  xcoro::xresume(*helper);
  EXPECT_TRUE(helper_saw_late);
  EXPECT_TRUE(grandchild_saw_late);
  // The helper returned to its starter, the owner, which then finished too.
  if (owner->status() != status::done) {
    xcoro::xresume(*owner);
  }
  EXPECT_EQ(owner->status(), status::done);
}

TEST(ScopeDeathTest, ShieldDestroyedByAnotherCoroutine) {
  GTEST_FLAG_SET(death_test_style, xcoro_test::death_test_style());
  EXPECT_DEATH(
      {
        std::unique_ptr<xcoro::cancel_shield> leaked;
        auto f = xcoro::xasync([&] {
          xcoro::xframe()->set_name("holder");
          leaked = std::make_unique<xcoro::cancel_shield>();
        });
        auto g = xcoro::xasync([&] {
          xcoro::xframe()->set_name("other");
          leaked.reset();
        });
      },
      "xcoro: ~cancel_shield: coroutine 'other' \\(id " XCORO_RE_ID
      "\\) destroys a shield that another coroutine created");
}

}  // namespace
