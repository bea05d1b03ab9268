// runtime_test.cpp compiled with -fno-exceptions (tests/CMakeLists.txt): the same cases,
// less the one that throws, against the library built as usual. Shutdown, deadlock and
// cancellation then end waiting coroutines by draining them instead of unwinding them.
#include "runtime_test.cpp"
