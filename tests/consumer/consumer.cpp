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
  return xcoro::xawait(*f) == 42 ? 0 : 2;
}
