/* A small test harness for the C suites: CHECK macros that count failures and name the
 * line, and a runner that runs every test or the one named on the command line. */
#ifndef XCORO_TEST_CHECK_H
#define XCORO_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

extern int check_failures;

#define CHECK(cond)                                                       \
  do {                                                                    \
    if (!(cond)) {                                                        \
      ++check_failures;                                                   \
      fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
    }                                                                     \
  } while (0)

#define CHECK_EQ(a, b)                                                             \
  do {                                                                             \
    long long check_a_ = (long long)(a), check_b_ = (long long)(b);                \
    if (check_a_ != check_b_) {                                                    \
      ++check_failures;                                                            \
      fprintf(stderr, "%s:%d: CHECK_EQ(%s, %s) failed: %lld != %lld\n", __FILE__, \
              __LINE__, #a, #b, check_a_, check_b_);                               \
    }                                                                              \
  } while (0)

typedef struct check_test {
  const char* name;
  void (*fn)(void);
} check_test;

/* Runs tests[0..n) (or only the one named by argv[1]); 0 if every check held. */
int check_run(const check_test* tests, size_t n, int argc, char** argv);

#if !defined(_WIN32)
/* Runs fn in a child process; true if it aborted with `expected` in its stderr. */
int aborts_with(void (*fn)(void), const char* expected);
#endif

#endif
