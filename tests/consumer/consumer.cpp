// Checks that an installed or embedded xcoro links and runs: exits 0 only if a coroutine
// ran, suspended, resumed and returned its result.
#include <xcoro/xcoro.hpp>

int main() {
  auto f = xcoro::xasync([](int v) {
    xcoro::xsuspend();
    return v * 2;
  }, 21);
  if (!f || f->status() != xcoro::status::suspended) {
    return 1;
  }
  xcoro::xresume(*f);
  if (xcoro::xawait(*f) != 42) {
    return 2;
  }
  // Destroying a suspended frame unwinds it, or, built without exceptions, frees it: it
  // must never terminate.
  auto abandoned = xcoro::xasync([] { xcoro::xsuspend(); });
  return abandoned && abandoned->status() == xcoro::status::suspended ? 0 : 3;
}
