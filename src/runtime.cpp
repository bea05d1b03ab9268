// The multi-core runtime: workers (a thread, an aio loop, a shared executor), block_on,
// spawn, the idle and deadlock accounting, and shutdown. See docs/runtime.md.
#include "xcoro/runtime.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "aio/backend.hpp"
#include "aio/stall_report.hpp"
#include "cancel_remote.hpp"
#include "xcoro/executor.hpp"
#include "xcoro/scope.hpp"

namespace xcoro {
namespace detail {

[[noreturn]] void fatal_message(const char* what) noexcept;  // src/coro.cpp

namespace {

using a = coro_access;

struct worker;

/// A block_on call as the runtime tracks it, on the calling thread's stack.
struct job_slot {
  block_on_job* job = nullptr;
  worker* on = nullptr;
  executor::func start{};    // posted to `on`: job->start
  executor::func discard{};  // posted to `on` after a deadlock: job->discard
  bool started = false;      // under runtime_state::m: its coroutine exists
  bool done = false;         // under runtime_state::m
};

struct worker {
  runtime_state* rt = nullptr;
  unsigned index = 0;
  std::thread thread;
  std::optional<aio::loop> loop;
  std::optional<aio::executor> ex;
  int wake_fd = -1;
  bool ready = false;  // under runtime_state::m: set up, loop running (ex may be used)
  executor::func stop{};
  // Owner only: block_on jobs started here whose coroutine has not been collected.
  std::vector<job_slot*> jobs;
  // Coroutines spawned here, or stolen by this worker, not started yet. The owner starts
  // them in order; an idle worker takes the older half (docs/runtime.md, "Scheduling").
  std::mutex spawned_m;
  std::deque<coro*> spawned;             // under spawned_m
  std::atomic<std::size_t> queued{0};    // spawned.size(), for a look without the lock
  // Stealing: set while the worker looks for work to steal before parking, or is parked.
  std::atomic<bool> idle{false};
  // A hint posted to this idle worker that work was spawned elsewhere, not yet run.
  std::atomic<bool> hinted{false};
  executor::func hint{};
};

thread_local constinit worker* current_worker = nullptr;

}  // namespace

class runtime_state {
 public:
  runtime_options opts;
  std::vector<std::unique_ptr<worker>> workers;
  std::mutex m;
  std::condition_variable cv;
  // Under m:
  unsigned started = 0;           // workers past their setup (failed or not)
  unsigned running = 0;           // workers whose setup succeeded
  std::error_code start_error;    // the first setup error
  unsigned idle = 0;              // workers parked with nothing ready and nothing in flight
  // Every worker went idle with nothing posted (all_idle), and none has woken since: the
  // block_on calls still waiting suspect a deadlock, which they declare after a grace
  // period unless a worker wakes (`wakes` changes) meanwhile.
  bool all_idle_seen = false;
  std::uint64_t wakes = 0;        // idle workers woken up, ever
  bool stopping = false;          // ~runtime began
  bool exit_all = false;          // stopping, and every worker went idle: leave
  std::vector<job_slot*> pending; // block_on calls not finished
  std::atomic<unsigned> next_worker{0};
  std::atomic<unsigned> idle_workers{0};  // workers whose `idle` is set
  std::atomic<bool> stopping_now{false};  // stopping, readable without m
  // Its address, in each worker's tls.shared_lock, marks the workers' threads: channels,
  // sync objects and task_groups made there are shared (each with a lock of its own,
  // detail/shared_lock.hpp), and a task_group knows its runtime by it. Nothing locks it.
  std::mutex shared_lock;
};

namespace {

void wake_worker(void* p) noexcept {
  auto* w = static_cast<worker*>(p);
  eventfd_t one = 1;
  (void)eventfd_write(w->wake_fd, one);
}

void finish_job(runtime_state& rt, job_slot& s) {
  std::lock_guard<std::mutex> hold(rt.m);
  s.done = true;
  rt.cv.notify_all();
}

/// Collects block_on coroutines that finished on this worker.
void collect_jobs(worker& w) {
  for (std::size_t i = 0; i < w.jobs.size();) {
    job_slot* s = w.jobs[i];
    if (s->job->c->status() != status::done) {
      ++i;
      continue;
    }
    w.jobs[i] = w.jobs.back();
    w.jobs.pop_back();
    s->job->collect(s->job);
    finish_job(*w.rt, *s);
  }
}

void start_job(void* p) {
  auto* s = static_cast<job_slot*>(p);
  s->job->start(s->job);
  if (s->job->c == nullptr) {
    finish_job(*s->on->rt, *s);  // start failed: its error goes back to the caller
    return;
  }
  s->on->jobs.push_back(s);
  std::lock_guard<std::mutex> hold(s->on->rt->m);
  s->started = true;
}

void discard_job(void* p) {
  auto* s = static_cast<job_slot*>(p);
  worker& w = *s->on;
  for (std::size_t i = 0; i < w.jobs.size(); ++i) {
    if (w.jobs[i] == s) {
      w.jobs[i] = w.jobs.back();
      w.jobs.pop_back();
      break;
    }
  }
  if (s->job->c->status() == status::done) {
    s->job->collect(s->job);  // it finished after all (the unwinding of another, say)
  } else {
    s->job->discard(s->job);
    s->job->error = errc::deadlock;
  }
  finish_job(*w.rt, *s);
}

/// Adopts and starts a spawned coroutine on this worker. During shutdown it is born
/// cancelled, as the coroutines already running were cancelled by the stop request.
void start_spawned(runtime_state& rt, coro* c) {
  coro_adopt(c);
  if (rt.stopping_now.load(std::memory_order_acquire)) {
    xcoro::cancel(c);
  }
  xresume(c);
}

coro* pop_spawned(worker& w) {
  std::lock_guard<std::mutex> hold(w.spawned_m);
  if (w.spawned.empty()) {
    return nullptr;
  }
  // The newest first, as a stack: a coroutine that spawns children and awaits them has
  // them start, depth first, before its siblings do, so a tree of spawns keeps about
  // depth x fan-out coroutines alive instead of all of them (skynet: 10^6 alive and 4 GiB
  // of stacks with the oldest first; 0 MiB more this way). Thieves take the oldest, the
  // biggest pieces of such a tree. This order applies only to coroutines that have not
  // started: woken ones run from the executor in the order they were woken, and each
  // round starts only as many as were queued when it began (start_queued). An early spawn
  // waits while newer ones keep coming faster than this worker starts them, and no other
  // worker is idle to steal it: docs/runtime.md, "Scheduling". (An age limit that took an
  // old one first undid the depth-first order: the whole tree came alive again.)
  coro* c = w.spawned.back();
  w.spawned.pop_back();
  w.queued.store(w.spawned.size(), std::memory_order_relaxed);
  return c;
}

/// Starts the coroutines queued here when it was called (not those they spawn meanwhile,
/// so that woken coroutines get their turn). One at a time: while one runs, idle workers
/// may steal the rest. True if it started any.
bool start_queued(worker& w) {
  std::size_t n = w.queued.load(std::memory_order_relaxed);
  bool started = false;
  for (; n != 0; --n) {
    coro* c = pop_spawned(w);
    if (c == nullptr) {
      break;
    }
    start_spawned(*w.rt, c);
    coro_publish_finished();
    started = true;
  }
  return started;
}

/// Runs on an idle worker that was told of spawned work: the worker's loop goes round
/// once more and steals it.
void take_hint(void* p) {
  static_cast<worker*>(p)->hinted.store(false, std::memory_order_release);
}

/// Tells one idle worker, if any, that `from` queued a coroutine it could steal. Posting
/// the hint ends the worker's park.
void hint_idle(runtime_state& rt, worker& from) {
  const std::size_t n = rt.workers.size();
  for (std::size_t i = 1; i < n; ++i) {
    worker& v = *rt.workers[(from.index + i) % n];
    if (v.idle.load(std::memory_order_seq_cst) &&
        !v.hinted.exchange(true, std::memory_order_acq_rel)) {
      v.ex->exec().run_soon(v.hint);
      return;
    }
  }
}

/// Takes the older half of another worker's queue of spawned coroutines into this one's.
/// Victims are tried from the next worker on, so that thieves spread out. True if it took
/// any.
bool steal(worker& w) {
  runtime_state& rt = *w.rt;
  const std::size_t n = rt.workers.size();
  for (std::size_t i = 1; i < n; ++i) {
    worker& v = *rt.workers[(w.index + i) % n];
    if (v.queued.load(std::memory_order_relaxed) == 0) {
      continue;
    }
    constexpr std::size_t batch = 32;
    std::size_t k = 0;
    {
      // Both queues at once, so that a cancel flowing to spawned coroutines, which looks
      // in every worker's queue under all their locks, cannot miss a batch in between.
      std::scoped_lock hold(v.spawned_m, w.spawned_m);
      std::size_t half = std::min((v.spawned.size() + 1) / 2, batch);
      for (; k < half; ++k) {
        w.spawned.push_back(v.spawned.front());
        v.spawned.pop_front();
      }
      v.queued.store(v.spawned.size(), std::memory_order_relaxed);
      w.queued.store(w.spawned.size(), std::memory_order_relaxed);
    }
    if (k == 0) {
      continue;
    }
    if (k > 1 && rt.idle_workers.load(std::memory_order_seq_cst) != 0) {
      hint_idle(rt, w);  // more than this worker starts at once: pass the word on (Go's wakep)
    }
    return true;
  }
  return false;
}

/// A cancel() from another thread, on its way to the worker that runs the coroutine.
struct cancel_node {
  executor::func node{};
  coro* c = nullptr;
  std::uint64_t id = 0;
};

/// On the worker: cancels the coroutine if it still runs here. It is looked for among the
/// worker's records, not touched through the pointer alone: it may have finished and been
/// freed since the request was sent.
void run_cancel(void* p) {
  auto* n = static_cast<cancel_node*>(p);
  for (coro* c = tls.live; c != nullptr; c = a::next_live(c)) {
    if (c == n->c && c->id() == n->id) {
      if (c->status() != status::done) {
        xcoro::cancel(c);
      }
      break;
    }
  }
  delete n;
}

void post_cancel_to(void* w, coro* c, std::uint64_t id) noexcept {
  auto* n = new cancel_node;
  n->node.fn = &run_cancel;
  n->node.userdata = n;
  n->c = c;
  n->id = id;
  static_cast<worker*>(w)->ex->exec().run_soon(n->node);
}

/// A cancel flowing from a coroutine that spawned to the coroutines it spawned, on one
/// worker.
struct cancel_spawned_node {
  executor::func node{};
  coro* spawner = nullptr;
  std::uint64_t id = 0;
};

bool spawned_by(coro* c, const cancel_spawned_node& n) noexcept {
  return a::spawner(c) == n.spawner && a::spawner_id(c) == n.id;
}

/// On each worker: cancels the unfinished coroutines on this worker's list of records
/// (started here) that the node's spawner spawned. Each cancel flows on from there.
void run_cancel_spawned(void* p) {
  auto* n = static_cast<cancel_spawned_node*>(p);
  for (coro* c = tls.live; c != nullptr; c = a::next_live(c)) {
    if (spawned_by(c, *n) && c->status() != status::done) {
      xcoro::cancel(c);
    }
  }
  delete n;
}

void post_cancel_spawned_to(coro* spawner, std::uint64_t id) noexcept {
  worker* here = current_worker;
  if (here == nullptr) {
    return;  // not on a worker: nothing was spawned from here
  }
  // Those not started yet, in every worker's queue at once: a steal holds two queues' locks,
  // so each queued coroutine is seen once, and is born cancelled. One that leaves a queue
  // after this starts on the worker that took it, whose job below runs after that start
  // and finds it on its list of records.
  cancel_spawned_node match{{}, spawner, id};
  for (auto& w : here->rt->workers) {
    w->spawned_m.lock();
  }
  for (auto& w : here->rt->workers) {
    for (coro* c : w->spawned) {
      if (spawned_by(c, match)) {
        xcoro::cancel(c);  // not adopted yet: its flags, under its hand-off word
      }
    }
  }
  for (auto& w : here->rt->workers) {
    w->spawned_m.unlock();
  }
  for (auto& w : here->rt->workers) {
    if (!w->ready) {
      continue;
    }
    auto* n = new cancel_spawned_node;
    n->node.fn = &run_cancel_spawned;
    n->node.userdata = n;
    n->spawner = spawner;
    n->id = id;
    w->ex->exec().run_soon(n->node);
  }
}

/// A frame_t destroyed on another thread than its coroutine's worker: the record is freed
/// here, where it is on this thread's list of records.
struct free_node {
  executor::func node{};
  coro* c = nullptr;
};

void run_free(void* p) {
  auto* n = static_cast<free_node*>(p);
  coro_free(n->c);
  delete n;
}

void post_free_to(void* w, coro* c) noexcept {
  auto* n = new free_node;
  n->node.fn = &run_free;
  n->node.userdata = n;
  n->c = c;
  static_cast<worker*>(w)->ex->exec().run_soon(n->node);
}

/// The destructor's request to a worker: cancel every coroutine still running on it.
void stop_worker(void*) {
  for (coro* c = tls.live; c != nullptr; c = a::next_live(c)) {
    if (c->status() != status::done) {
      xcoro::cancel(c);
    }
  }
}

/// Under rt.m, with every worker idle: nothing can run again unless work was posted. If
/// none was, the block_on calls still waiting are deadlocked, or shutdown is complete.
void all_idle(runtime_state& rt) {
  for (auto& w : rt.workers) {
    if (w->ready && executor_access::has_posted(w->ex->exec())) {
      return;  // that worker is being woken
    }
    if (w->queued.load(std::memory_order_relaxed) != 0) {
      wake_worker(w.get());  // cannot happen (a worker parks with its queue empty); safe
      return;
    }
  }
  if (rt.stopping) {
    rt.exit_all = true;
    for (auto& w : rt.workers) {
      if (w->ready) {
        wake_worker(w.get());
      }
    }
    return;
  }
  // The block_on callers decide (run_block_on): another thread's block_on that would
  // make progress may be on its way still.
  rt.all_idle_seen = true;
  rt.cv.notify_all();
}

void run_worker(worker& w) {
  runtime_state& rt = *w.rt;
  current_worker = &w;
  std::error_code ec;
  if (auto l = aio::loop::create(rt.opts.loop); l) {
    w.loop.emplace(std::move(*l));
    w.wake_fd = w.loop->impl().wake_fd();
    if (w.wake_fd < 0) {
      ec = std::error_code(errno, std::system_category());
    }
  } else {
    ec = l.error();
  }
  if (!ec) {
    tls.worker = &w;
    tls.worker_index = static_cast<int>(w.index);
    tls.shared_lock = &rt.shared_lock;
    if (aio::detail::stall_watch* stall = w.loop->stall()) {
      stall->set_worker(static_cast<int>(w.index));
    }
    w.ex.emplace(*w.loop);
    aio::init_env(aio::env{&*w.ex, nullptr, 0});
    executor_access::share(w.ex->exec(), &wake_worker, &w);
    w.hint.fn = &take_hint;
    w.hint.userdata = &w;
  }
  {
    std::lock_guard<std::mutex> hold(rt.m);
    ++rt.started;
    if (ec && !rt.start_error) {
      rt.start_error = ec;
    }
    if (!ec) {
      ++rt.running;
      w.ready = true;
    }
    rt.cv.notify_all();
  }
  if (ec) {
    current_worker = nullptr;
    return;
  }
  aio::detail::io_backend& b = w.loop->impl();
  xcoro::executor& exec = w.ex->exec();
  const bool stealing = rt.opts.work_stealing && rt.workers.size() > 1;
  for (;;) {
    // aio::executor::tick, without its wait in the kernel: that comes below, after the
    // worker looked for spawned work and, if it steals, announced itself idle.
    executor_access::take_posted(exec);
    bool progressed = b.resume_ready();
    if (!exec.empty()) {
      b.poll(false);
      exec.tick();
      progressed = true;
    }
    // Finishes during the last wait in the kernel are told now; that may queue their
    // awaiters here, which the next round runs.
    progressed |= coro_publish_finished();
    if (w.queued.load(std::memory_order_relaxed) != 0) {
      progressed |= start_queued(w);
    }
    if (!w.jobs.empty()) {
      collect_jobs(w);
    }
    if (progressed) {
      continue;
    }
    if (stealing) {
      if (steal(w)) {
        continue;
      }
      // Announce this worker idle, then look once more: a spawn that queued work before
      // the announcement is seen here, one after it sees the announcement and hints.
      w.idle.store(true, std::memory_order_seq_cst);
      rt.idle_workers.fetch_add(1, std::memory_order_seq_cst);
      if (steal(w)) {
        rt.idle_workers.fetch_sub(1, std::memory_order_relaxed);
        w.idle.store(false, std::memory_order_relaxed);
        continue;
      }
    }
    // Nothing ready: wait in the kernel for IO, a timer or work another thread posts. With
    // nothing in flight either, the worker is idle, which deadlock detection and shutdown
    // count.
    const bool idle = !b.busy();
    if (idle) {
      std::lock_guard<std::mutex> hold(rt.m);
      if (rt.exit_all) {
        break;  // every worker is idle with nothing posted: no hint can come any more
      }
      if (++rt.idle == rt.running) {
        all_idle(rt);
      }
    }
    bool block = executor_access::park(exec);
    if (aio::detail::stall_watch* stall = w.loop->stall(); stall != nullptr) {
      stall->poll(b, exec, block);
    } else {
      b.poll(block);
    }
    executor_access::unpark(exec);
    if (stealing) {
      rt.idle_workers.fetch_sub(1, std::memory_order_relaxed);
      w.idle.store(false, std::memory_order_relaxed);
    }
    if (idle) {
      std::lock_guard<std::mutex> hold(rt.m);
      --rt.idle;
      ++rt.wakes;
      if (rt.all_idle_seen) {
        rt.all_idle_seen = false;
        rt.cv.notify_all();  // a block_on caller waiting out the grace period
      }
      if (rt.exit_all) {
        break;
      }
    }
  }
  executor_access::unshare(exec);
  coro_orphan_all();  // frames still held elsewhere are freed where they are destroyed
  tls.worker = nullptr;
  tls.worker_index = -1;
  tls.shared_lock = nullptr;
  aio::init_env(aio::env{});
  w.ex.reset();
  w.loop.reset();
  current_worker = nullptr;
}

}  // namespace

/// How long every worker must stay idle, with nothing posted and a block_on unfinished,
/// before that block_on returns errc::deadlock.
constexpr std::chrono::milliseconds deadlock_grace{100};

std::error_code run_block_on(runtime_state& rt, block_on_job& j) {
  if (current_worker != nullptr) {
    fatal_message("runtime::block_on: called on one of the runtime's worker threads (it would "
                  "block the worker; use spawn and xawait)");
  }
  job_slot s;
  s.job = &j;
  s.on = rt.workers[rt.next_worker.fetch_add(1, std::memory_order_relaxed) % rt.workers.size()]
             .get();
  s.start.fn = &start_job;
  s.start.userdata = &s;
  s.discard.fn = &discard_job;
  s.discard.userdata = &s;
  std::unique_lock<std::mutex> hold(rt.m);
  rt.pending.push_back(&s);
  hold.unlock();
  s.on->ex->exec().run_soon(s.start);
  hold.lock();
  for (;;) {
    rt.cv.wait(hold, [&] { return s.done || (rt.all_idle_seen && s.started); });
    if (s.done) {
      break;
    }
    // Every worker is idle with nothing posted while f is unfinished. That is a deadlock
    // unless a block_on of another thread, which f may be waiting for, is still on its way
    // (its thread not scheduled yet): so it is declared only if no worker wakes within a
    // grace period.
    std::uint64_t seen = rt.wakes;
    if (!rt.cv.wait_for(hold, deadlock_grace, [&] { return s.done || rt.wakes != seen; })) {
      break;  // deadlocked
    }
  }
  if (!s.done) {
    hold.unlock();
    s.on->ex->exec().run_soon(s.discard);
    hold.lock();
    rt.cv.wait(hold, [&] { return s.done; });
  }
  std::erase(rt.pending, &s);
  return j.error;
}

void require_worker(const char* call) noexcept {
  if (current_worker == nullptr) {
    char line[160];
    std::snprintf(line, sizeof line,
                  "%s: called outside a runtime's worker (use runtime::block_on to get onto one)",
                  call);
    fatal_message(line);
  }
}

std::size_t spawn_stack_size() noexcept {
  return current_worker->rt->opts.stack_size;
}

void spawn_start(coro* c) noexcept {
  worker& w = *current_worker;
  runtime_state& rt = *w.rt;
  if (coro* self = tls.running_coroutine()) {
    // A cancel of the spawner finds this one by these (post_cancel_spawned_to).
    a::spawner(c) = self;
    a::spawner_id(c) = self->id();
    a::spawned_any(self) = true;
  }
  coro_hand_off(c);
  {
    std::lock_guard<std::mutex> hold(w.spawned_m);
    w.spawned.push_back(c);
    w.queued.store(w.spawned.size(), std::memory_order_relaxed);
  }
  if (rt.opts.work_stealing && rt.idle_workers.load(std::memory_order_seq_cst) != 0) {
    hint_idle(rt, w);
  }
}

}  // namespace detail

int this_worker() noexcept {
  return detail::current_worker != nullptr ? static_cast<int>(detail::current_worker->index) : -1;
}

result<runtime> runtime::create(runtime_options o) {
  unsigned n = o.threads != 0 ? o.threads : std::thread::hardware_concurrency();
  if (n == 0) {
    n = 1;
  }
  // Once, before any worker exists to read it.
  static const bool cancel_installed = (detail::post_cancel = &detail::post_cancel_to, true);
  static const bool free_installed = (detail::post_free = &detail::post_free_to, true);
  static const bool spawned_installed =
      (detail::post_cancel_spawned = &detail::post_cancel_spawned_to, true);
  (void)cancel_installed;
  (void)free_installed;
  (void)spawned_installed;
  auto* rt = new detail::runtime_state;
  rt->opts = o;
  runtime owner(rt);  // joins whatever started if anything below fails
  for (unsigned i = 0; i < n; ++i) {
    auto w = std::make_unique<detail::worker>();
    w->rt = rt;
    w->index = i;
    rt->workers.push_back(std::move(w));
  }
  unsigned launched = 0;
  for (auto& w : rt->workers) {
#if defined(__cpp_exceptions)
    try {
#endif
      w->thread = std::thread(&detail::run_worker, std::ref(*w));
#if defined(__cpp_exceptions)
    } catch (const std::system_error& e) {
      std::lock_guard<std::mutex> hold(rt->m);
      rt->start_error = e.code();
      break;
    }
#endif
    ++launched;
  }
  std::unique_lock<std::mutex> hold(rt->m);
  rt->cv.wait(hold, [&] { return rt->started == launched; });
  if (rt->start_error) {
    return rt->start_error;  // ~runtime of `owner` stops the workers that did start
  }
  hold.unlock();
  return owner;
}

runtime::runtime(runtime&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}

runtime& runtime::operator=(runtime&& o) noexcept {
  if (this != &o) {
    destroy();
    s_ = std::exchange(o.s_, nullptr);
  }
  return *this;
}

runtime::~runtime() { destroy(); }

unsigned runtime::threads() const noexcept {
  return s_ != nullptr ? static_cast<unsigned>(s_->workers.size()) : 0;
}

void runtime::destroy() noexcept {
  if (s_ == nullptr) {
    return;
  }
  detail::runtime_state& rt = *s_;
  {
    // Posted under the lock: no worker can be told to leave (all_idle) before its stop
    // request is in its inbox, and one in its inbox keeps it from being told.
    std::lock_guard<std::mutex> hold(rt.m);
    rt.stopping = true;
    rt.stopping_now.store(true, std::memory_order_release);
    for (auto& w : rt.workers) {
      if (w->ready) {
        w->stop.fn = &detail::stop_worker;
        w->stop.userdata = w.get();
        w->ex->exec().run_soon(w->stop);
      }
    }
  }
  for (auto& w : rt.workers) {
    if (w->thread.joinable()) {
      w->thread.join();
    }
  }
  delete s_;
  s_ = nullptr;
}

}  // namespace xcoro
