// For tests about the thread's root coroutine (calls made from root, the messages that
// name it, root pumping a loop). The suites also run whole inside a coroutine on a
// runtime's worker (tests/support/in_runtime_main.cpp), where these skip with a reason.
#pragma once

#include <gtest/gtest.h>

#include "xcoro/coro.hpp"

#define XCORO_TEST_REQUIRES_ROOT()                                                     \
  do {                                                                                 \
    if (xcoro::in_coro()) {                                                            \
      GTEST_SKIP() << "about the root coroutine, and this suite runs inside a coroutine"; \
    }                                                                                  \
  } while (0)
