// Tracing hooks and the report of unfinished coroutines. The live list it walks is kept
// by coro_create and coro_free (src/coro.cpp).
#include "xcoro/trace.hpp"

#include <cstdlib>

namespace xcoro {
namespace detail {
namespace {

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

void unfinished_report_thread_init(thread_state& t) noexcept {
  const char* env = std::getenv("XCORO_REPORT_UNFINISHED");
  if (env != nullptr && env[0] == '1') {
    t.report_unfinished = true;
  }
  thread_exit_report.armed = true;  // constructs it: its destructor runs at thread exit
}

}  // namespace detail

void set_trace_hook(trace_hook hook, void* user) noexcept {
  detail::thread_state& t = detail::tls;
  t.trace = hook;
  t.trace_user = user;
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
