// Tracing hooks and the report of unfinished coroutines. The live list it walks is kept
// by coro_create and coro_free (src/coro.cpp).
#include "xcoro/trace.hpp"

#include <cstdlib>
#include <mutex>

namespace xcoro {
namespace detail {
namespace {

/// The process-wide default hook. The switch reads only the thread's own copy (tls.trace),
/// so a default costs nothing per switch: threads copy it when they start using coroutines
/// (thread_init), which is rare, hence a plain mutex.
struct default_hook {
  std::mutex m;
  trace_hook hook = nullptr;  // under m
  void* user = nullptr;       // under m
};
default_hook& default_trace() noexcept {
  static default_hook d;
  return d;
}

void take_default_hook(thread_state& t) noexcept {
  default_hook& d = default_trace();
  std::lock_guard<std::mutex> hold(d.m);
  t.trace = d.hook;
  t.trace_user = d.user;
}

const char* status_name(status s) noexcept {
  switch (s) {
    case status::start:
      return "not started";
    case status::active:
      return "running";
    case status::suspended:
      return "suspended";
    case status::done:
      return "done";
  }
  return "?";
}

/// Reports at thread exit, when asked to.
struct exit_report {
  bool armed = false;
  ~exit_report() {
    if (tls.report_unfinished) {
      report_unfinished(stderr);
    }
  }
};
thread_local exit_report thread_exit_report;

}  // namespace

// Called once per thread, by thread_init (src/coro.cpp), before the thread's first
// coroutine is made or adopted. Besides the report of unfinished coroutines, it gives the
// thread the default trace hook unless the thread installed one of its own already.
void unfinished_report_thread_init(thread_state& t) noexcept {
  const char* env = std::getenv("XCORO_REPORT_UNFINISHED");
  if (env != nullptr && env[0] == '1') {
    t.report_unfinished = true;
  }
  thread_exit_report.armed = true;  // constructs it: its destructor runs at thread exit
  if (t.trace == nullptr) {
    take_default_hook(t);
  }
}

}  // namespace detail

void set_trace_hook(trace_hook hook, void* user) noexcept {
  detail::thread_state& t = detail::tls;
  if (hook == nullptr) {
    detail::take_default_hook(t);
    return;
  }
  t.trace = hook;
  t.trace_user = user;
}

void set_default_trace_hook(trace_hook hook, void* user) noexcept {
  detail::default_hook& d = detail::default_trace();
  std::lock_guard<std::mutex> hold(d.m);
  d.hook = hook;
  d.user = hook != nullptr ? user : nullptr;
}

std::size_t report_unfinished(std::FILE* out) noexcept {
  std::size_t n = 0;
  for (coro* c = detail::tls.live; c != nullptr; c = detail::coro_access::next_live(c)) {
    if (c->status() == status::done) {
      continue;
    }
    if (n++ == 0) {
      std::fprintf(out, "xcoro: unfinished coroutines on this thread:\n");
    }
    if (c->name().empty()) {
      std::fprintf(out, "xcoro:   id %llu: %s\n", static_cast<unsigned long long>(c->id()),
                   detail::status_name(c->status()));
    } else {
      std::fprintf(out, "xcoro:   id %llu '%s': %s\n", static_cast<unsigned long long>(c->id()),
                   c->name().data(), detail::status_name(c->status()));
    }
  }
  return n;
}

void set_report_unfinished(bool on) noexcept {
  detail::tls.report_unfinished = on;
}

}  // namespace xcoro
