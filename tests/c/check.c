/* The runner of tests/c/check.h. */
#include "check.h"

int check_failures = 0;

int check_run(const check_test* tests, size_t n, int argc, char** argv) {
  size_t ran = 0;
  for (size_t i = 0; i < n; ++i) {
    if (argc > 1 && strcmp(argv[1], tests[i].name) != 0) {
      continue;
    }
    int before = check_failures;
    tests[i].fn();
    ++ran;
    printf("[%s] %s\n", check_failures == before ? "  OK  " : " FAIL ", tests[i].name);
  }
  if (ran == 0) {
    fprintf(stderr, "no test named %s\n", argc > 1 ? argv[1] : "(none)");
    return 2;
  }
  printf("%zu tests, %d failed checks\n", ran, check_failures);
  return check_failures == 0 ? 0 : 1;
}
