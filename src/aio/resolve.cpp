// Name resolution: getaddrinfo on a process-wide pool of at most four threads, and
// tcp::connect by host name. A lookup lives on the asking coroutine's stack; the pool
// thread that runs it writes the answer there and wakes the coroutine's loop through an
// eventfd (an async_notification), so the coroutine is resumed by its own loop on its own
// thread, a runtime's worker included. See docs/io.md, "Name resolution".
#include "xcoro/resolve.hpp"

#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>

#include "aio/backend.hpp"
#include "xcoro/detail/wait_queue.hpp"

namespace xcoro::aio {
namespace {

// ---------------------------------------------------------------------------------------
// Errors

class resolve_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "xcoro.resolve"; }
  std::string message(int value) const override { return ::gai_strerror(value); }
  std::error_condition default_error_condition(int value) const noexcept override {
    switch (value) {
      case EAI_MEMORY:
        return std::errc::not_enough_memory;
      case EAI_AGAIN:
        return std::errc::resource_unavailable_try_again;
      default:
        return std::error_condition(value, *this);
    }
  }
};

/// getaddrinfo's `rc` (with errno `err` for EAI_SYSTEM) as an error_code.
std::error_code gai_error(int rc, int err) noexcept {
  switch (rc) {
    case EAI_NONAME:
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
#ifdef EAI_ADDRFAMILY
    case EAI_ADDRFAMILY:
#endif
      return errc::host_not_found;
    case EAI_SYSTEM:
      return std::error_code(err != 0 ? err : EIO, std::system_category());
    default:
      return std::error_code(rc, resolve_category());
  }
}

/// The answer as endpoints, in getaddrinfo's order, duplicates dropped. Frees `list`.
result<std::vector<endpoint>> to_endpoints(addrinfo* list) {
  std::vector<endpoint> out;
  for (addrinfo* a = list; a != nullptr; a = a->ai_next) {
    if ((a->ai_family != AF_INET && a->ai_family != AF_INET6) || a->ai_addr == nullptr) {
      continue;
    }
    endpoint e = endpoint::from_sockaddr(a->ai_addr, a->ai_addrlen);
    bool seen = false;
    for (const endpoint& o : out) {
      seen = seen || (o.size() == e.size() && std::memcmp(o.data(), e.data(), e.size()) == 0);
    }
    if (!seen) {
      out.push_back(e);
    }
  }
  ::freeaddrinfo(list);
  if (out.empty()) {
    return errc::host_not_found;
  }
  return out;
}

addrinfo hints_with(int flags) noexcept {
  addrinfo h{};
  h.ai_family = AF_UNSPEC;
  h.ai_socktype = SOCK_STREAM;
  // No AI_ADDRCONFIG: glibc does not count loopback addresses as configured, so on a
  // machine with only a loopback interface it would make "localhost" resolve to nothing.
  h.ai_flags = flags | AI_NUMERICSERV;
  return h;
}

// ---------------------------------------------------------------------------------------
// The pool

constexpr int max_threads = 4;
constexpr std::size_t max_host = 255;

/// One lookup, on the asking coroutine's stack. The pool reads `host` and `service` only
/// under the pool's mutex (a thread copies them when it takes the lookup), and writes the
/// answer only under it while the lookup is still wanted, so a lookup its caller gives up
/// on is forgotten under the mutex and never touched again.
struct lookup {
  enum class state : std::uint8_t { queued, running, done };
  lookup* next = nullptr;         // the queue
  lookup** running_in = nullptr;  // running: the pool thread's slot that names it
  const char* host = nullptr;
  const char* service = nullptr;
  int notify_fd = -1;  // the caller's eventfd
  state st = state::queued;
  int rc = 0;
  int err = 0;
  addrinfo* answer = nullptr;
};

std::atomic<void (*)(const char*)> hook{nullptr};

/// How many fork()s made this process, counted by a pthread_atfork child handler: a pool
/// made under another count is an ancestor's, whose threads did not come along.
std::atomic<unsigned> forks{0};

void count_fork_in_child() noexcept {
  forks.fetch_add(1, std::memory_order_relaxed);
}

/// Started on first use and never destroyed: its threads block in getaddrinfo or on the
/// condition variable until the process exits, so nothing here may run a destructor at
/// exit (a lookup still in flight then simply never returns). Its threads block every
/// signal, as the reaper's does.
///
/// A child of fork() inherits the pool's memory but none of its threads: the mutex may be
/// held by a thread that is not there, and the counts name threads that will never take a
/// lookup. So a pool belongs to one fork count; the child's first lookup makes a pool of
/// its own and leaves the inherited one untouched (and unfreed: destroying a mutex that may
/// be held is undefined).
class pool {
 public:
  static pool& instance() {
    // Registered before the first pool exists (other threads wait for a static's
    // initialisation), so every fork after it is counted. A child inherits both the
    // handler and this static, and needs no second registration. Should registering fail
    // (ENOMEM), forks go uncounted and a child must not resolve: no better is possible.
    static const bool registered =
        ::pthread_atfork(nullptr, nullptr, &count_fork_in_child) == 0;
    (void)registered;
    for (;;) {
      unsigned now = forks.load(std::memory_order_relaxed);
      pool* p = current_.load(std::memory_order_acquire);
      if (p != nullptr && p->forks_ == now) {
        return *p;
      }
      auto* fresh = new pool(now);
      if (current_.compare_exchange_strong(p, fresh, std::memory_order_acq_rel)) {
        return *fresh;
      }
      delete fresh;  // another thread installed one first: never used, no thread started
    }
  }

  /// Queues `l`, starting a thread if every one is busy and fewer than four run. false if
  /// no thread runs and none could be started.
  bool submit(lookup& l) {
    std::lock_guard<std::mutex> hold(mu_);
    if (tail_ != nullptr) {
      tail_->next = &l;
    } else {
      head_ = &l;
    }
    tail_ = &l;
    ++queued_;
    if (queued_ > idle_ && threads_ < max_threads && start_thread()) {
      ++threads_;
    }
    if (threads_ == 0) {
      unlink(l);
      return false;
    }
    cv_.notify_one();
    return true;
  }

  /// The caller is done waiting for `l` (answered, timed out or cancelled): after this the
  /// pool never touches it. Returns the answer if it came, else nullptr.
  addrinfo* finish(lookup& l) noexcept {
    if (forks_ != forks.load(std::memory_order_relaxed)) {
      // `l` was queued in the parent and this is the child: no thread of this process
      // runs this pool, so nothing else touches `l`, and the mutex may be held for ever.
      return l.st == lookup::state::done ? l.answer : nullptr;
    }
    std::lock_guard<std::mutex> hold(mu_);
    switch (l.st) {
      case lookup::state::queued:
        unlink(l);
        return nullptr;
      case lookup::state::running:
        *l.running_in = nullptr;  // the thread frees the answer when getaddrinfo returns
        return nullptr;
      case lookup::state::done:
        return l.answer;
    }
    return nullptr;
  }

 private:
  explicit pool(unsigned fork_count) noexcept : forks_(fork_count) {}

  void unlink(lookup& l) noexcept {
    lookup* prev = nullptr;
    for (lookup* p = head_; p != nullptr; prev = p, p = p->next) {
      if (p == &l) {
        (prev != nullptr ? prev->next : head_) = l.next;
        if (tail_ == &l) {
          tail_ = prev;
        }
        --queued_;
        return;
      }
    }
  }

  bool start_thread() noexcept {
    // pthread_create rather than std::thread: no exception on a path that may not throw.
    // The thread inherits a full signal mask, so no process-directed signal lands on it.
    sigset_t all;
    sigset_t old;
    ::sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t t;
    int rc = ::pthread_create(&t, nullptr, &pool::start, this);
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    if (rc != 0) {
      return false;
    }
    ::pthread_detach(t);
    return true;
  }

  static void* start(void* self) noexcept {
    static_cast<pool*>(self)->run();
    return nullptr;
  }

  [[noreturn]] void run() noexcept {
    char host[max_host + 1];
    char service[8];
    lookup* current = nullptr;  // the lookup being run, or nullptr once its caller left
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      while (head_ == nullptr) {
        ++idle_;
        cv_.wait(lock);
        --idle_;
      }
      lookup* l = head_;
      head_ = l->next;
      if (head_ == nullptr) {
        tail_ = nullptr;
      }
      --queued_;
      // Copied now: the caller's stack may be gone before getaddrinfo returns.
      std::snprintf(host, sizeof host, "%s", l->host);
      std::snprintf(service, sizeof service, "%s", l->service);
      l->st = lookup::state::running;
      l->running_in = &current;
      current = l;
      lock.unlock();

      if (void (*h)(const char*) = hook.load(std::memory_order_acquire)) {
        h(host);
      }
      addrinfo hints = hints_with(0);
      addrinfo* answer = nullptr;
      int rc = ::getaddrinfo(host, service, &hints, &answer);
      int err = errno;

      lock.lock();
      if (current != nullptr) {
        current->rc = rc;
        current->err = err;
        current->answer = rc == 0 ? answer : nullptr;
        current->st = lookup::state::done;
        // Under the mutex: once it is released the caller may close the eventfd.
        std::uint64_t one = 1;
        (void)!::write(current->notify_fd, &one, sizeof one);
        current = nullptr;
      } else if (rc == 0) {
        ::freeaddrinfo(answer);  // abandoned: nobody wants it
      }
    }
  }

  static inline std::atomic<pool*> current_{nullptr};  // this process's, or an ancestor's

  const unsigned forks_;  // the fork count this pool belongs to
  std::mutex mu_;
  std::condition_variable cv_;
  lookup* head_ = nullptr;  // the queue, under mu_
  lookup* tail_ = nullptr;
  int queued_ = 0;   // under mu_
  int idle_ = 0;     // threads waiting on cv_, under mu_
  int threads_ = 0;  // under mu_
};

result<std::vector<endpoint>> resolve_for(executor* ex, std::string_view host,
                                          std::uint16_t port, const milliseconds* timeout) {
  if (xcoro::detail::cancel_pending_here()) {
    return errc::canceled;  // a cancellation point, even for a name that needs no lookup
  }
  if (host.empty() || host.size() > max_host || host.find('\0') != std::string_view::npos) {
    return std::make_error_code(std::errc::invalid_argument);
  }
  char name[max_host + 1];
  std::memcpy(name, host.data(), host.size());
  name[host.size()] = '\0';
  char service[8];
  std::snprintf(service, sizeof service, "%u", static_cast<unsigned>(port));

  // A numeric address needs no lookup: parsed here, at once.
  addrinfo hints = hints_with(AI_NUMERICHOST);
  addrinfo* answer = nullptr;
  int rc = ::getaddrinfo(name, service, &hints, &answer);
  if (rc == 0) {
    return to_endpoints(answer);
  }
  if (rc != EAI_NONAME) {
    return gai_error(rc, errno);
  }
  if (timeout != nullptr && timeout->count() <= 0) {
    return std::make_error_code(std::errc::timed_out);
  }

  // Checked here so that misuse (no env executor, or another thread's) names this call.
  (void)detail::resolve_op(ex, "aio::resolve");
  auto note = async_notification::create(ex);
  if (!note) {
    return note.error();
  }
  lookup l;
  l.host = name;
  l.service = service;
  l.notify_fd = note->native_handle();
  pool& p = pool::instance();
  if (!p.submit(l)) {
    return std::make_error_code(std::errc::resource_unavailable_try_again);
  }
  // A coroutine unwound while it waits (its frame_t or task_group destroyed) leaves
  // through here too: the pool must forget `l`, on this stack, before it goes, or it would
  // write the answer into freed memory and wake a closed descriptor.
  struct forget_on_unwind {
    pool& p;
    lookup& l;
    bool armed = true;
    ~forget_on_unwind() {
      if (armed) {
        if (addrinfo* a = p.finish(l)) {
          ::freeaddrinfo(a);
        }
      }
    }
  } guard{p, l};
  result<void> woke = timeout != nullptr ? note->wait(*timeout) : note->wait();
  guard.armed = false;
  answer = p.finish(l);
  if (!woke) {
    if (answer != nullptr) {
      ::freeaddrinfo(answer);
    }
    return woke.error();
  }
  if (l.st != lookup::state::done) {
    // Woken with no answer: only a child of fork() that waits on a lookup of its parent's
    // pool, which no thread here will answer.
    return std::make_error_code(std::errc::resource_unavailable_try_again);
  }
  if (l.rc != 0) {
    return gai_error(l.rc, l.err);
  }
  return to_endpoints(answer);
}

/// Connects a new socket to each of `to` in turn until one accepts, all within `deadline`.
result<tcp> connect_each(executor* ex, std::span<const endpoint> to, std::int64_t deadline) {
  if (to.empty()) {
    return std::make_error_code(std::errc::invalid_argument);
  }
  std::error_code last;
  for (const endpoint& e : to) {
    milliseconds left;
    const milliseconds* t = detail::time_left(deadline, left);
    if (t != nullptr && t->count() <= 0) {
      return std::make_error_code(std::errc::timed_out);  // addresses left untried
    }
    auto s = tcp::open(ex, e);
    if (!s) {
      last = s.error();
      continue;
    }
    result<void> r = t != nullptr ? s->connect(e, *t) : s->connect(e);
    if (r) {
      return std::move(*s);
    }
    last = r.error();
    if (last == errc::canceled) {
      return last;
    }
  }
  return last;
}

result<tcp> connect_host(executor* ex, std::string_view host, std::uint16_t port,
                         const milliseconds* timeout) {
  std::int64_t deadline = detail::deadline_of(timeout);
  auto addrs = timeout != nullptr ? resolve(ex, host, port, *timeout) : resolve(ex, host, port);
  if (!addrs) {
    return addrs.error();
  }
  return connect_each(ex, *addrs, deadline);
}

}  // namespace

const std::error_category& resolve_category() noexcept {
  static const resolve_category_impl c;
  return c;
}

result<std::vector<endpoint>> resolve(executor* ex, std::string_view host, std::uint16_t port) {
  return resolve_for(ex, host, port, nullptr);
}

result<std::vector<endpoint>> resolve(executor* ex, std::string_view host, std::uint16_t port,
                                      milliseconds timeout) {
  return resolve_for(ex, host, port, &timeout);
}

result<tcp> tcp::connect(executor* ex, std::string_view host, std::uint16_t port) {
  return connect_host(ex, host, port, nullptr);
}

result<tcp> tcp::connect(executor* ex, std::string_view host, std::uint16_t port,
                         milliseconds timeout) {
  return connect_host(ex, host, port, &timeout);
}

result<tcp> tcp::connect(executor* ex, std::span<const endpoint> to) {
  return connect_each(ex, to, -1);
}

result<tcp> tcp::connect(executor* ex, std::span<const endpoint> to, milliseconds timeout) {
  return connect_each(ex, to, detail::deadline_of(&timeout));
}

namespace detail {
void set_resolve_hook(void (*h)(const char* host)) noexcept {
  hook.store(h, std::memory_order_release);
}
}  // namespace detail

}  // namespace xcoro::aio
