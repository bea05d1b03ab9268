// task_group_test.cpp compiled with -fno-exceptions (tests/CMakeLists.txt): the same cases,
// less those that throw, against the library built as usual.
#include "task_group_test.cpp"
