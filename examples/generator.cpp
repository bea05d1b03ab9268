// A generator that yields values and takes injected ones: a running average.
#include <cstdio>

#include <xcoro/xcoro.hpp>

// Yields the average so far; receives the next sample; returns the sample count.
using averager = xcoro::frame_t<int, double, double>;

int average(int samples) {
  double sum = 0;
  double last = 0;
  for (int n = 1; n <= samples; ++n) {
    sum += last;
    last = averager::xyield(n > 1 ? sum / (n - 1) : 0.0);
  }
  return samples;
}

int main() {
  auto gen = averager::init(nullptr, average, 4);
  if (!gen) {
    return 1;
  }
  std::printf("start: %.2f\n", gen->xnext_start());
  double last = 0;
  for (double sample : {2.0, 4.0, 9.0}) {
    last = gen->xnext(sample);
    std::printf("after %.0f: %.2f\n", sample, last);
  }
  int samples = gen->xnext_end(0.0);
  std::printf("samples: %d\n", samples);
  return samples == 4 && last == 5.0 ? 0 : 1;
}
