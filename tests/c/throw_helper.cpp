// C++ code that a C coroutine calls in tests/c/c_api_test.c: it throws, and the exception
// unwinds through the C frames up to the coroutine's entry, where xcoro catches it.
#include <stdexcept>

extern "C" void xcoro_test_throw(void) {
  throw std::runtime_error("thrown by C++ under a C coroutine");
}
