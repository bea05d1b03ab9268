// Compiled by ctest three times (tests/CMakeLists.txt): as is it must compile; with
// DISCARD_FRAME or DISCARD_RESULT defined it must fail under -Werror=unused-result, because
// a discarded frame_t destroys its coroutine at its first suspend and a discarded result
// loses an error.
#include <xcoro/coro.hpp>
#include <xcoro/result.hpp>

xcoro::result<int> parse() {
  return 1;
}

void use() {
#if defined(DISCARD_FRAME)
  xcoro::xasync([] { xcoro::xsuspend(); });
#elif defined(DISCARD_RESULT)
  parse();
#else
  auto f = xcoro::xasync([] { xcoro::xsuspend(); });
  auto r = parse();
  (void)f;
  (void)r;
#endif
}
