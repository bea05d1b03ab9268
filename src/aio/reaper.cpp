// The reaper: one process-wide thread that reaps the children of dropped aio::process
// objects, so that ~process neither blocks nor leaves a zombie (as Tokio's orphan queue).
// It polls an eventfd (new pidfds arrived) and every pidfd it holds; a pidfd becomes
// readable when its process exits, and waitid(P_PIDFD, WNOHANG) then reaps it.
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <mutex>
#include <vector>

#include "aio/child.hpp"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace xcoro::aio::detail {
namespace {

struct reaper {
  std::mutex mu;
  std::vector<int> incoming;  // guarded by mu: pidfds handed over since the last poll
  int wake = -1;              // eventfd: incoming is not empty

  static void* start(void* self) noexcept {
    static_cast<reaper*>(self)->run();
    return nullptr;
  }

  [[noreturn]] void run() noexcept {
    std::vector<int> held;
    std::vector<pollfd> fds;
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(mu);
        held.insert(held.end(), incoming.begin(), incoming.end());
        incoming.clear();
      }
      fds.clear();
      fds.push_back({wake, POLLIN, 0});
      for (int fd : held) {
        fds.push_back({fd, POLLIN, 0});
      }
      int n = ::poll(fds.data(), fds.size(), -1);
      if (n < 0) {
        continue;  // EINTR; nothing else is expected of poll on valid descriptors
      }
      if (fds[0].revents != 0) {
        std::uint64_t count;
        (void)!::read(wake, &count, sizeof count);
      }
      std::size_t kept = 0;
      for (std::size_t i = 0; i < held.size(); ++i) {
        if (fds[i + 1].revents == 0) {
          held[kept++] = held[i];
          continue;
        }
        siginfo_t info{};
        int rc;
        do {
          rc = ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(held[i]), &info,
                        WEXITED | WNOHANG);
        } while (rc < 0 && errno == EINTR);
        if (rc == 0 && info.si_pid == 0) {
          held[kept++] = held[i];  // readable but not yet waitable: poll it again
          continue;
        }
        ::close(held[i]);  // reaped, or not ours to reap (ECHILD): done with it either way
      }
      held.resize(kept);
    }
  }
};

/// The reaper, started on first use; never destroyed (its thread runs until the process
/// exits, and a child still running then is reparented to init as usual).
reaper* instance() noexcept {
  static reaper* r = []() -> reaper* {
    int wake = ::eventfd(0, EFD_CLOEXEC);
    if (wake < 0) {
      return nullptr;
    }
    auto* made = new reaper;
    made->wake = wake;
    // pthread_create rather than std::thread: no exception to escape a noexcept path.
    // The thread blocks every signal (it inherits the mask it is created with), so that
    // no process-directed signal is delivered to a thread the program does not know of.
    sigset_t all;
    sigset_t old;
    ::sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t t;
    int rc = ::pthread_create(&t, nullptr, &reaper::start, made);
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    if (rc != 0) {
      ::close(wake);
      delete made;
      return nullptr;
    }
    ::pthread_detach(t);
    return made;
  }();
  return r;
}

}  // namespace

void reap_later(int pidfd) noexcept {
  reaper* r = instance();
  if (r == nullptr) {
    siginfo_t info{};
    (void)::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &info,
                   WEXITED | WNOHANG);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(r->mu);
    r->incoming.push_back(pidfd);
  }
  std::uint64_t one = 1;
  (void)!::write(r->wake, &one, sizeof one);
}

}  // namespace xcoro::aio::detail
