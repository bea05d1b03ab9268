// The SIGSEGV handler that turns a fault just below the running coroutine's stack into
// "xcoro: stack overflow in coroutine <name> (id N)". Everything here is async-signal-safe:
// the message is formatted by hand and written with write(2).
#include "stack_guard.hpp"

#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "xcoro/coro.hpp"

namespace xcoro::detail::stack_guard {
namespace {

// A fault this far below a coroutine's stack counts as an overflow of it: the guard page
// itself, or a frame large enough to jump over it.
constexpr std::uintptr_t overflow_window = 64 * 1024;
constexpr std::size_t altstack_size = 64 * 1024;

struct sigaction previous {};

[[noreturn]] void report_overflow(coro* c) noexcept {
  char line[160];
  std::size_t n = format_overflow(c, line, sizeof line);
  ssize_t ignored = ::write(STDERR_FILENO, line, n);
  (void)ignored;
  std::abort();
}

void chain(int sig, siginfo_t* info, void* ctx) noexcept {
  // Honour the previous handler's mask while it runs.
  sigset_t old;
  pthread_sigmask(SIG_BLOCK, &previous.sa_mask, &old);
  if (previous.sa_flags & SA_SIGINFO) {
    if (previous.sa_sigaction != nullptr) {
      previous.sa_sigaction(sig, info, ctx);
      pthread_sigmask(SIG_SETMASK, &old, nullptr);
      return;
    }
  } else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
    previous.sa_handler(sig);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    return;
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  // Default action: uninstall ourselves. A fault re-executes the faulting instruction on
  // return, which now kills the process the usual way; a SIGSEGV sent by kill or raise
  // (si_code <= 0) would not come back, so send it again.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(SIGSEGV, &dfl, nullptr);
  if (info->si_code <= 0) {
    raise(sig);
  }
}

void on_segv(int sig, siginfo_t* info, void* ctx) noexcept {
  coro* c = tls.running_coroutine();
  if (c != nullptr) {
    auto addr = reinterpret_cast<std::uintptr_t>(info->si_addr);
    auto lo = reinterpret_cast<std::uintptr_t>(coro_access::stack_lo(c));
    if (addr < lo && lo - addr <= overflow_window) {
      report_overflow(c);
    }
  }
  chain(sig, info, ctx);
}

void install_handler() noexcept {
  struct sigaction sa {};
  sa.sa_sigaction = &on_segv;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, &previous);
}

/// This thread's alternate signal stack, if xcoro made it; released at thread exit.
struct altstack {
  void* mem = nullptr;
  ~altstack() {
    if (mem != nullptr) {
      stack_t off{};
      off.ss_flags = SS_DISABLE;
      sigaltstack(&off, nullptr);
      munmap(mem, altstack_size);
    }
  }
};
thread_local altstack thread_altstack;

}  // namespace

void thread_init() noexcept {
  static std::once_flag once;
  std::call_once(once, install_handler);
  stack_t cur{};
  if (sigaltstack(nullptr, &cur) == 0 && (cur.ss_flags & SS_DISABLE) != 0) {
    void* mem = mmap(nullptr, altstack_size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (mem != MAP_FAILED) {
      stack_t ss{};
      ss.ss_sp = mem;
      ss.ss_size = altstack_size;
      if (sigaltstack(&ss, nullptr) == 0) {
        thread_altstack.mem = mem;
      } else {
        munmap(mem, altstack_size);
      }
    }
  }
}

}  // namespace xcoro::detail::stack_guard
