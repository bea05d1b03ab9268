// What the programs that tests/gdb/run_gdb_test.sh debugs share: the function where gdb
// stops, and their command line. Include it once per program: it defines gdb_stop_here.
#pragma once

#include <cstdlib>
#include <cstring>

namespace gdb_test {

/// Set by parse_args from the argument "abort": gdb_stop_here aborts, for a core dump
/// written by the kernel.
inline bool crash = false;

/// Reads the arguments: "abort" (see crash) and "heap", returned as true: the program
/// puts its stacks on heap_stack_allocator(), whose memory gdb's gcore can read (gcore
/// cannot dump memory with MADV_GUARD_INSTALL guard pages; see run_gdb_test.sh).
inline bool parse_args(int argc, char** argv) {
  bool heap = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "abort") == 0) {
      crash = true;
    } else if (std::strcmp(argv[i], "heap") == 0) {
      heap = true;
    }
  }
  return heap;
}

}  // namespace gdb_test

/// Where gdb stops. Not static, and kept from being inlined or folded away.
extern "C" [[gnu::noinline]] void gdb_stop_here() {
  __asm__ volatile("" ::: "memory");
  if (gdb_test::crash) {
    std::abort();  // for a core dump written by the kernel
  }
}
