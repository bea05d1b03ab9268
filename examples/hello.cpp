// The smallest xcoro program: start a coroutine, resume it, await its result.
#include <cstdio>

#include <xcoro/xcoro.hpp>

int count_to(int n) {
  for (int i = 1; i < n; ++i) {
    std::printf("coroutine: %d\n", i);
    xcoro::xsuspend();  // back to whoever resumed us
  }
  return n;
}

int main() {
  // xasync runs count_to at once, up to its first suspend, on a pooled 64 KiB stack.
  auto frame = xcoro::xasync(count_to, 3);
  if (!frame) {
    std::fprintf(stderr, "xasync: %s\n", frame.error().message().c_str());
    return 1;
  }
  while (frame->status() != xcoro::status::done) {
    std::printf("root: resuming\n");
    xcoro::xresume(*frame);
  }
  int result = xcoro::xawait(*frame);
  std::printf("result: %d\n", result);
  return result == 3 ? 0 : 1;
}
