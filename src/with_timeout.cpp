// with_timeout's deadline and its wait for the child (scope.hpp; docs/cancel.md,
// "Deadlines").
#include "xcoro/coro.hpp"
#include "xcoro/executor.hpp"
#include "xcoro/scope.hpp"

namespace xcoro::detail {

timeout_guard::timeout_guard(std::int64_t at, coro* child) : child_(child) {
  if (at == already_expired) {
    fired_ = xcoro::cancel(child);  // not started yet: it starts cancelled
    return;
  }
  executor* ex = get_env().executor;
  clock_ = ex != nullptr ? executor_access::clock(*ex) : nullptr;
  if (clock_ == nullptr) {
    fatal("with_timeout", tls.cur(),
          "has a deadline, but the env executor has no clock to run it (deadlines need "
          "the executor of an aio loop: aio::init_env)");
  }
  d_.at_ns = at;
  d_.fire = &timeout_guard::fire;
  d_.ctx = this;
  clock_->arm(d_);
}

timeout_guard::~timeout_guard() {
  if (clock_ != nullptr && d_.armed()) {
    clock_->disarm(d_);
  }
}

void timeout_guard::fire(deadline& d) noexcept {
  auto* g = static_cast<timeout_guard*>(d.ctx);
  // False when the child finished meanwhile, or a cancel from above came first: then the
  // child's own result says what happened.
  g->fired_ = xcoro::cancel(g->child_);
}

bool join_anywhere(coro* c) {
  if (tls.running_coroutine() != nullptr) {
    await_done(c);
    return true;
  }
  executor* ex = get_env().executor;
  while (c->status() != status::done) {
    if (ex == nullptr || !executor_access::step(*ex)) {
      return false;
    }
  }
  return true;
}

}  // namespace xcoro::detail
