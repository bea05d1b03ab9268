/* The runner of tests/c/check.h, and aborts_with. */
#if !defined(_WIN32)
#define _POSIX_C_SOURCE 200809L /* fork, pipe */
#endif
#include "check.h"

#if !defined(_WIN32)
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

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

#if !defined(_WIN32)
/* Runs fn in a child process; true if it aborted with `expected` in its stderr. */
int aborts_with(void (*fn)(void), const char* expected) {
  int p[2];
  char out[1024];
  size_t len = 0;
  ssize_t got;
  int status = 0;
  pid_t pid;
  if (pipe(p) != 0) {
    return 0;
  }
  fflush(stdout);
  fflush(stderr);
  pid = fork();
  if (pid == 0) {
    dup2(p[1], 2);
    close(p[0]);
    fn();
    _exit(0);
  }
  close(p[1]);
  while (len + 1 < sizeof out && (got = read(p[0], out + len, sizeof out - 1 - len)) > 0) {
    len += (size_t)got;
  }
  out[len] = '\0';
  close(p[0]);
  waitpid(pid, &status, 0);
  if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT && strstr(out, expected) != NULL)) {
    fprintf(stderr, "expected an abort with \"%s\", got status %d and:\n%s\n", expected,
            status, out);
    return 0;
  }
  return 1;
}
#endif
