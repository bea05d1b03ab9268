// The aio core: the loop and its executor, the env, running an operation from a coroutine
// or from root, the timer heap and the completion path shared by both backends.
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string_view>
#include <utility>
#include <vector>

#include "aio/backend.hpp"
#include "aio/stall_report.hpp"

namespace xcoro::aio {
namespace detail {

using xcoro::detail::coro_access;

// ---------------------------------------------------------------------------------------
// io_op and the shared completion path

void io_op::release() noexcept {
  if (st == state::in_flight) {
    // Unwinding (~frame_t) with the op in flight: the kernel may still write into the
    // buffers on this stack, so wait here until it is done with them.
    backend->abandon(*this);
  }
  if (ready_listed) {
    backend->unlink_ready(*this);
  }
  if (waiter != nullptr && coro_access::wait_ctx(waiter) == this) {
    coro_access::end_wait(waiter);
  }
}

void io_backend::park_ready(io_op& op) noexcept {
  op.ready_listed = true;
  op.next = nullptr;
  op.prev = ready_tail_;
  if (ready_tail_ != nullptr) {
    ready_tail_->next = &op;
  } else {
    ready_head_ = &op;
  }
  ready_tail_ = &op;
}

void io_backend::unlink_ready(io_op& op) noexcept {
  if (op.prev != nullptr) {
    op.prev->next = op.next;
  } else {
    ready_head_ = op.next;
  }
  if (op.next != nullptr) {
    op.next->prev = op.prev;
  } else {
    ready_tail_ = op.prev;
  }
  op.next = op.prev = nullptr;
  op.ready_listed = false;
}

void io_backend::resume_ready_list() noexcept {
  while (io_op* op = ready_head_) {
    unlink_ready(*op);
    xresume(op->waiter);
  }
}

// Two binary min-heaps, of ops on deadline_ns and of wait deadlines on at_ns; each element
// knows its index, so removal is O(log n).
namespace {

std::int64_t& key(io_op* op) noexcept {
  return op->deadline_ns;
}
std::size_t& slot(io_op* op) noexcept {
  return op->heap_index;
}
std::int64_t& key(xcoro::detail::deadline* d) noexcept {
  return d->at_ns;
}
std::size_t& slot(xcoro::detail::deadline* d) noexcept {
  return d->index;
}

template <class T>
void heap_swap(std::vector<T*>& h, std::size_t i, std::size_t j) noexcept {
  std::swap(h[i], h[j]);
  slot(h[i]) = i;
  slot(h[j]) = j;
}

template <class T>
void heap_push(std::vector<T*>& h, T& x) {
  h.push_back(&x);
  std::size_t i = h.size() - 1;
  slot(&x) = i;
  while (i > 0) {
    std::size_t parent = (i - 1) / 2;
    if (key(h[parent]) <= key(h[i])) {
      break;
    }
    heap_swap(h, parent, i);
    i = parent;
  }
}

template <class T>
void heap_erase(std::vector<T*>& h, T& x, std::size_t none) noexcept {
  std::size_t i = slot(&x);
  std::size_t last = h.size() - 1;
  slot(&x) = none;
  if (i != last) {
    h[i] = h[last];
    slot(h[i]) = i;
  }
  h.pop_back();
  if (i >= h.size()) {
    return;
  }
  // Sift the moved element up or down.
  while (i > 0 && key(h[(i - 1) / 2]) > key(h[i])) {
    heap_swap(h, (i - 1) / 2, i);
    i = (i - 1) / 2;
  }
  for (;;) {
    std::size_t l = 2 * i + 1;
    std::size_t r = l + 1;
    std::size_t m = i;
    if (l < h.size() && key(h[l]) < key(h[m])) {
      m = l;
    }
    if (r < h.size() && key(h[r]) < key(h[m])) {
      m = r;
    }
    if (m == i) {
      break;
    }
    heap_swap(h, m, i);
    i = m;
  }
}

}  // namespace

void io_backend::timer_add(io_op& op) {
  heap_push(heap_, op);
  ++timers_;
}

void io_backend::timer_remove(io_op& op) noexcept {
  heap_erase(heap_, op, no_heap_index);
  --timers_;
}

void io_backend::arm(xcoro::detail::deadline& d) {
  heap_push(deadlines_, d);
  ++timers_;
  ++in_flight_;
}

void io_backend::disarm(xcoro::detail::deadline& d) noexcept {
  if (d.armed()) {
    heap_erase(deadlines_, d, ~std::size_t{0});
    --timers_;
    --in_flight_;
  }
}

std::int64_t io_backend::timer_wait_ns() const noexcept {
  if (!timers_armed()) {
    return -1;
  }
  std::int64_t first = INT64_MAX;
  if (!heap_.empty()) {
    first = heap_.front()->deadline_ns;
  }
  if (!deadlines_.empty() && deadlines_.front()->at_ns < first) {
    first = deadlines_.front()->at_ns;
  }
  std::int64_t left = first - now_ns();
  return left > 0 ? left : 0;
}

bool io_backend::expire_due() {
  std::int64_t now = now_ns();
  bool any = false;
  // Both heaps in one order of time: when the loop comes late (a stalled thread, a loaded
  // machine), a with_timeout deadline that was due first must fire first, or a sleep due
  // after it would complete, and its coroutine run on, as if the deadline had not passed.
  for (;;) {
    bool op_due = !heap_.empty() && heap_.front()->deadline_ns <= now;
    bool deadline_due = !deadlines_.empty() && deadlines_.front()->at_ns <= now;
    if (!op_due && !deadline_due) {
      return any;
    }
    any = true;
    if (deadline_due && (!op_due || deadlines_.front()->at_ns <= heap_.front()->deadline_ns)) {
      // A wait deadline's fire withdraws the wait, which queues its coroutine's wake-up on
      // the executor: nobody is resumed here.
      xcoro::detail::deadline& d = *deadlines_.front();
      disarm(d);
      d.fire(d);
      continue;
    }
    io_op& op = *heap_.front();
    timer_remove(op);
    if (op.kind == op_kind::timer) {
      complete(op, 0);
    } else {
      expire(op);
    }
  }
}

namespace {

const char* call_name(op_kind k) noexcept {
  switch (k) {
    case op_kind::timer:
      return "aio::sleep";
    case op_kind::accept:
      return "tcp::accept";
    case op_kind::connect:
      return "tcp::connect";
    case op_kind::recv:
      return "tcp::read";
    case op_kind::send:
      return "tcp::write";
    case op_kind::recvmsg:
      return "udp::read";
    case op_kind::sendmsg:
      return "udp::write";
    case op_kind::read:
      return "file::read or async_notification::wait";
    case op_kind::write:
      return "file::write";
    case op_kind::poll_in:
      return "process::wait";
  }
  return "an aio operation";
}

const char* io_call(const void* ctx) noexcept {
  return call_name(static_cast<const io_op*>(ctx)->kind);
}

void io_withdraw(void* ctx) noexcept {
  auto* op = static_cast<io_op*>(ctx);
  if (op->st != io_op::state::in_flight) {
    return;  // completed already: the coroutine will see its result
  }
  op->backend->cancel_for_caller(*op);  // each backend's cancel marks cancel_requested
}

}  // namespace

const xcoro::detail::wait_kind io_wait{&io_withdraw, &io_call};

void io_backend::wrong_thread(const char* call) noexcept {
  xcoro::detail::fatal(call, xframe(),
                       "used an aio object whose executor belongs to another thread (make it "
                       "with a nullptr executor to use it on whichever worker runs the call)");
}

std::int64_t execute(aio::executor& ex, io_op& op) {
  io_backend& b = *op.backend;
  coro* self = xcoro::detail::tls.running_coroutine();
  if (self != nullptr && coro_access::cancel_pending(self)) [[unlikely]] {
    op.cancel_requested = true;  // cancelled before it started: never submitted
    return -ECANCELED;
  }
  op.waiter = self;
  b.submit(op);
  if (op.st == io_op::state::completed) {
    return op.res;
  }
  if (self != nullptr) {
    op.waiting = true;
    coro_access::begin_wait(self, &io_wait, &op);
    for (;;) {  // not completed yet (checked above)
      xsuspend();
      if (op.st == io_op::state::completed) [[likely]] {
        break;
      }
      if (coro_access::flags(self) & xcoro::detail::flag_drain) [[unlikely]] {
        // Its frame_t was destroyed without exceptions, and the drain resumed it directly
        // (docs/cancel.md): the cancel it asked for has not completed yet.
        b.abandon(op);
        break;
      }
    }
    coro_access::end_wait(self);
    op.waiting = false;
  } else {
    while (op.st != io_op::state::completed) {
      ex.tick();
    }
  }
  return op.res;
}

std::error_code to_error(const io_op& op, std::int64_t res) noexcept {
  int err = static_cast<int>(-res);
  if (err == ECANCELED || err == EINTR) {
    if (op.cancel_requested) {
      return errc::canceled;
    }
    // A linked timeout ends its op with ECANCELED; an op that io_uring ran in a worker
    // thread (a terminal read on older kernels) may end with EINTR instead.
    if (op.timeout_linked) {
      return std::make_error_code(std::errc::timed_out);
    }
  }
  if (err == ETIMEDOUT && op.deadline_ns >= 0 && op.kind != op_kind::timer) {
    return std::make_error_code(std::errc::timed_out);
  }
  return std::error_code(err, std::system_category());
}

// ---------------------------------------------------------------------------------------
// env and executor resolution

namespace {
thread_local aio::env tls_env{};

/// Each thread's env executor, by the thread's coroutine state, so that aio::cancel of a
/// coroutine running on another worker can post the request there (init_env keeps it).
struct env_registry {
  std::mutex mu;
  std::vector<std::pair<const void*, aio::executor*>> by_thread;  // under mu
};

env_registry& envs() {
  static env_registry* r = new env_registry;  // never destroyed: threads may outlive exit
  return *r;
}

void remember_env(aio::executor* ex) noexcept {
  env_registry& r = envs();
  std::lock_guard<std::mutex> hold(r.mu);
  const void* me = &xcoro::detail::tls;
  for (auto& entry : r.by_thread) {
    if (entry.first == me) {
      if (ex != nullptr) {
        entry.second = ex;
      } else {
        entry = r.by_thread.back();
        r.by_thread.pop_back();
      }
      return;
    }
  }
  if (ex != nullptr) {
    r.by_thread.emplace_back(me, ex);
  }
}

/// An aio::cancel on its way to the worker that runs the coroutine.
struct cancel_request {
  xcoro::executor::func node{};
  coro* c = nullptr;
  std::uint64_t id = 0;
};

/// On that worker: cancels the op the coroutine waits in now, if it still runs here. It is
/// looked for among the thread's records, by address and id: it may have finished and been
/// freed since the request was sent.
void run_cancel_request(void* p) {
  auto* n = static_cast<cancel_request*>(p);
  for (coro* c = xcoro::detail::tls.live; c != nullptr; c = coro_access::next_live(c)) {
    if (c == n->c && c->id() == n->id) {
      if (c->status() != status::done) {
        (void)aio::cancel(c);
      }
      break;
    }
  }
  delete n;
}

/// aio::cancel of a coroutine owned by `owner`, another thread: posted to that thread's env
/// executor, which must be a runtime worker's (the only executors other threads may post
/// to). Returns true: the request was sent.
bool post_cancel_request(coro* f, const void* owner) noexcept {
  env_registry& r = envs();
  std::lock_guard<std::mutex> hold(r.mu);
  aio::executor* ex = nullptr;
  for (auto& entry : r.by_thread) {
    if (entry.first == owner) {
      ex = entry.second;
      break;
    }
  }
  if (ex == nullptr || !xcoro::detail::executor_access::shared(ex->exec())) {
    xcoro::detail::fatal("aio::cancel", f,
                         "belongs to another thread that is not a runtime's worker");
  }
  auto* n = new cancel_request;
  n->node.fn = &run_cancel_request;
  n->node.userdata = n;
  n->c = f;
  n->id = f->id();
  ex->exec().run_soon(n->node);
  return true;
}
}  // namespace

aio::executor& resolve_env(const char* call) noexcept {
  aio::executor* ex = tls_env.executor;
  if (ex == nullptr) {
    xcoro::detail::fatal(call, xframe(),
                         "has no aio executor (pass one, or set aio::env::executor)");
  }
  return *ex;
}

bool pump_until_done(aio::executor& ex, coro* c) {
  while (c->status() != status::done) {
    if (!ex.tick()) {
      return false;
    }
  }
  return true;
}

}  // namespace detail

void init_env(const env& e) noexcept {
  detail::tls_env = e;
  detail::remember_env(e.executor);
  xcoro::env& base = xcoro::get_env();
  base.executor = e.executor != nullptr ? &e.executor->exec() : nullptr;
  base.stack_allocator = e.stack_allocator;
  base.default_stack_size = e.default_stack_size;
}

env& get_env() noexcept {
  return detail::tls_env;
}

// ---------------------------------------------------------------------------------------
// loop and executor

#if !defined(XCORO_WITH_IO_URING)
namespace detail {
std::unique_ptr<io_backend> make_uring_backend(const loop_options&, std::error_code& ec) {
  ec = std::make_error_code(std::errc::function_not_supported);  // built without liburing
  return nullptr;
}
}  // namespace detail
#endif

result<loop> loop::create(loop_options o) {
  if (const char* forced = std::getenv("XCORO_BACKEND")) {
    std::string_view name(forced);
    if (name == "io_uring") {
      o.backend = backend::io_uring;
    } else if (name == "epoll") {
      o.backend = backend::epoll;
    } else if (!name.empty() && name != "automatic") {
      return std::make_error_code(std::errc::invalid_argument);
    }
  }
  if (const char* spin = std::getenv("XCORO_BUSY_POLL_US")) {
    char* end = nullptr;
    errno = 0;
    unsigned long long us = std::strtoull(spin, &end, 10);
    if (end == spin || *end != '\0' || errno != 0 || us > 1000000) {
      return std::make_error_code(std::errc::invalid_argument);
    }
    o.busy_poll = std::chrono::microseconds(us);
    o.busy_poll_adaptive = false;
  }
  if (const char* stall = std::getenv("XCORO_STALL_REPORT_MS")) {
    char* end = nullptr;
    errno = 0;
    unsigned long long ms = std::strtoull(stall, &end, 10);
    // Digits only: strtoull would also take leading blanks and a sign.
    if (*stall < '0' || *stall > '9' || *end != '\0' || errno != 0 || ms > 3600000) {
      return std::make_error_code(std::errc::invalid_argument);
    }
    o.stall_report = std::chrono::milliseconds(ms);
  }
  if (o.busy_poll.count() < 0 || o.stall_report.count() < 0) {
    return std::make_error_code(std::errc::invalid_argument);
  }
  std::error_code ec;
  std::unique_ptr<detail::io_backend> impl;
  if (o.backend != backend::epoll) {
    impl = detail::make_uring_backend(o, ec);
    bool refused = ec == std::errc::function_not_supported || ec == std::errc::operation_not_permitted ||
                   ec == std::errc::permission_denied;
    if (impl == nullptr && (o.backend == backend::io_uring || !refused)) {
      return ec;
    }
  }
  if (impl == nullptr) {
    impl = detail::make_epoll_backend(ec);
    if (impl == nullptr) {
      return ec;
    }
  }
  impl->set_busy_poll(o.busy_poll.count(), o.busy_poll_adaptive);
  loop l(std::move(impl));
  if (o.stall_report.count() > 0) {
    std::unique_ptr<detail::stall_watch> watch = detail::stall_watch::start(o.stall_report, ec);
    if (watch == nullptr) {
      return ec;
    }
    l.stall_.reset(watch.release());
  }
  return l;
}

loop::loop(std::unique_ptr<detail::io_backend> impl) noexcept : impl_(std::move(impl)) {}
loop::loop(loop&&) noexcept = default;
loop& loop::operator=(loop&&) noexcept = default;
loop::~loop() = default;

aio::backend loop::backend() const noexcept {
  return impl_->kind();
}

executor::executor(loop& l) noexcept : loop_(&l) {
  xcoro::detail::executor_access::set_loop(
      exec_, &l.impl(), [](void* self) { return static_cast<executor*>(self)->tick(); }, this);
}

bool executor::tick() {
  detail::io_backend& b = loop_->impl();
  using xcoro::detail::executor_access;
  if (executor_access::shared(exec_)) [[unlikely]] {
    executor_access::take_posted(exec_);  // work other threads posted (a runtime's worker)
  }
  bool resumed = b.resume_ready();
  if (!exec_.empty()) {
    // Ready work first: never block in the kernel while the ready queue holds work.
    b.poll(false);
    exec_.tick();
    return true;
  }
  if (!b.busy()) {
    return resumed;  // nothing ready, nothing in flight: no progress is possible
  }
  // The stall report (off by default) is told only here, where the loop is about to wait
  // in the kernel anyway: ticks that find work cost nothing more.
  if (executor_access::shared(exec_)) [[unlikely]] {
    // Announce the wait, so that a thread posting work meanwhile writes the loop's wake
    // eventfd; if one already did, just look at the kernel and go round again.
    bool block = executor_access::park(exec_);
    if (detail::stall_watch* stall = loop_->stall(); stall != nullptr) [[unlikely]] {
      stall->poll(b, exec_, block);
    } else {
      b.poll(block);
    }
    executor_access::unpark(exec_);
  } else if (detail::stall_watch* stall = loop_->stall(); stall != nullptr) [[unlikely]] {
    stall->poll_blocking(b, exec_);
  } else {
    b.poll(true);
  }
  if (!exec_.empty()) {
    exec_.tick();  // an out-of-line call, and IO completions rarely queue executor work
  }
  return true;
}

// ---------------------------------------------------------------------------------------
// sleep and cancel

result<void> sleep(executor* ex, milliseconds ms) {
  result<std::size_t> r = detail::run_op(ex, "aio::sleep", detail::op_kind::timer, -1,
                                         detail::io_deadline::after(ms), [](detail::io_op&) {});
  if (!r) {
    return r.error();
  }
  return {};
}

bool cancel(xcoro::frame f) noexcept {
  if (f == nullptr) {
    return false;
  }
  using xcoro::detail::coro_access;
  if (coro_access::handed_off(f) || coro_access::owner(f) != &xcoro::detail::tls)
      [[unlikely]] {
    // A coroutine of another worker: only its own thread may look at its wait and its
    // loop, so the request goes there (docs/aio.md, "IO inside a runtime").
    struct look {
      coro* f;
      const void* owner;
      bool finished;
    } l{f, nullptr, false};
    xcoro::detail::with_handoff_lock(
        f,
        [](void* p) noexcept {
          auto& l = *static_cast<look*>(p);
          l.owner = coro_access::owner(l.f);
          l.finished = coro_access::finish_published(l.f);
        },
        &l);
    if (l.finished || l.owner == nullptr) {
      return false;  // finished, or spawned and not started: not waiting for IO
    }
    if (l.owner != &xcoro::detail::tls) {
      return detail::post_cancel_request(f, l.owner);
    }
  }
  if (coro_access::waits_in(f) != &detail::io_wait) {
    return false;  // not suspended in an aio operation
  }
  auto* op = static_cast<detail::io_op*>(coro_access::wait_ctx(f));
  if (op->st != detail::io_op::state::in_flight) {
    return false;
  }
  detail::io_wait.withdraw(op);
  return true;
}

}  // namespace xcoro::aio
