// A three-stage pipeline over channels: a generator of numbers, a squarer, and a summer,
// each a coroutine, all driven by one executor from root.
#include <cstdio>
#include <optional>

#include <xcoro/xcoro.hpp>

int main() {
  xcoro::executor ex;
  xcoro::get_env().executor = &ex;

  xcoro::channel<int> numbers({.capacity = 4});
  xcoro::channel<int> squares({.capacity = 0});  // rendezvous

  auto generate = xcoro::xasync([&] {
    for (int i = 1; i <= 10; ++i) {
      numbers.send(i).value();
    }
    numbers.close();
  });
  auto square = xcoro::xasync([&] {
    while (std::optional<int> n = numbers.recv()) {
      squares.send(*n * *n).value();
    }
    squares.close();
  });
  auto sum = xcoro::xasync([&] {
    int total = 0;
    while (std::optional<int> s = squares.recv()) {
      total += *s;
    }
    return total;
  });
  if (!generate || !square || !sum) {
    return 1;
  }
  while (ex.tick()) {
  }
  std::printf("sum of squares 1..10: %d\n", xcoro::xawait(*sum));
  return xcoro::xawait(*sum) == 385 ? 0 : 1;
}
