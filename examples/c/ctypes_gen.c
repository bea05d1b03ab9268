/* The C side of ctypes_generator.py: a generator function that Python hands to
 * xcoro_create_gen from libxcoro.so. It yields the squares of start, start+step, ...
 * (a uint64_t each) and takes a new step (an int64_t) at every resume; it stops after
 * `count` values. Built as a shared module that Python loads next to libxcoro.so. */
#include <stdint.h>

#include "xcoro/xcoro.h"

typedef struct squares_args {
  int64_t start;
  int64_t count;
  int64_t produced; /* written by the generator: how many values it yielded */
} squares_args;

#if defined(_WIN32)
#define EXAMPLE_EXPORT
#else
#define EXAMPLE_EXPORT __attribute__((visibility("default")))
#endif

EXAMPLE_EXPORT void squares(void* arg) {
  squares_args* a = (squares_args*)arg;
  int64_t x = a->start, step = 1;
  for (a->produced = 0; a->produced < a->count; ++a->produced) {
    uint64_t sq = (uint64_t)(x * x);
    if (xcoro_yield(&sq, &step) != XCORO_OK) {
      return;
    }
    x += step;
  }
}
