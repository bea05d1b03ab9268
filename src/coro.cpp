// Coroutine lifecycle: carving a stack into record + storage + first frame, the entry
// point and completion, unwinding on destruction, and the rare paths of resume and
// suspend (first resume, misuse aborts).
#include <cxxabi.h>
#include <pthread.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <thread>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define XCORO_VALGRIND 1
#endif

#include "arch/context.hpp"
#include "cancel_remote.hpp"
#include "stack_guard.hpp"
#include "stack_pool.hpp"
#include "xcoro/coro.hpp"
#include "xcoro/detail/wait_queue.hpp"
#if defined(XCORO_ASAN)  // defined by detail/switch.hpp, through coro.hpp
#include <sanitizer/asan_interface.h>
#endif

namespace xcoro {
namespace detail {

thread_local constinit thread_state tls;

/// Reads XCORO_REPORT_UNFINISHED and arms the report at thread exit (src/trace.cpp).
void unfinished_report_thread_init(thread_state& t) noexcept;

/// Writes "root coroutine (id 0)", "coroutine (id N)" or "coroutine 'name' (id N)" for
/// abort messages (also those of src/wait_queue.cpp). 80 bytes hold the longest.
void describe(char* out, std::size_t size, const coro* c) noexcept;
/// Prints "xcoro: <what>" on one line of stderr and aborts; `what` names the coroutine.
[[noreturn]] void fatal_plain(const char* what) noexcept;

namespace {

using a = coro_access;

thread_local env tls_env{};

#if defined(XCORO_ASAN)
thread_local const void* root_stack_bottom = nullptr;
thread_local std::size_t root_stack_size = 0;

void learn_root_stack() noexcept {
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    void* addr = nullptr;
    std::size_t size = 0;
    if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
      root_stack_bottom = addr;
      root_stack_size = size;
    }
    pthread_attr_destroy(&attr);
  }
}
#endif

/// First coroutine on this thread: cache the exception globals, own the root record and
/// give the thread an alternate signal stack for overflow reports.
void thread_init(thread_state& t) noexcept {
  t.eh = reinterpret_cast<eh_state*>(abi::__cxa_get_globals());
  a::owner(&t.root) = &t;
  a::flags(&t.root) |= flag_root;
  stack_guard::thread_init();
  unfinished_report_thread_init(t);
#if defined(XCORO_TSAN)
  a::sanitizer_fiber(&t.root) = __tsan_get_current_fiber();
#endif
#if defined(XCORO_ASAN)
  learn_root_stack();
#endif
  t.ready = true;
}

std::byte* align_down(std::byte* p, std::size_t align) noexcept {
  auto v = reinterpret_cast<std::uintptr_t>(p);
  return reinterpret_cast<std::byte*>(v & ~(static_cast<std::uintptr_t>(align) - 1));
}

std::byte* align_up(std::byte* p, std::size_t align) noexcept {
  return align_down(p + align - 1, align);
}

void link_child(coro* parent, coro* child) noexcept {
  a::starter(child) = parent;
  // A coroutine started by a cancelled one is born cancelled, unless a shield holds the
  // cancel back (docs/cancel.md); coro_create applies the same rule to its creator.
  if ((a::flags(parent) & flag_cancel_pending) && !(a::flags(child) & flag_cancel)) {
    a::flags(child) |= static_cast<std::uint8_t>(flag_cancel | flag_cancel_pending);
  }
  a::prev_sibling(child) = nullptr;
  a::next_sibling(child) = a::first_child(parent);
  if (a::first_child(parent) != nullptr) {
    a::prev_sibling(a::first_child(parent)) = child;
  }
  a::first_child(parent) = child;
}

void link_live(thread_state& t, coro* c) noexcept {
  a::prev_live(c) = nullptr;
  a::next_live(c) = t.live;
  if (t.live != nullptr) {
    a::prev_live(t.live) = c;
  }
  t.live = c;
}

void unlink_live(thread_state& t, coro* c) noexcept {
  if (a::prev_live(c) != nullptr) {
    a::next_live(a::prev_live(c)) = a::next_live(c);
  } else if (t.live == c) {
    t.live = a::next_live(c);
  }
  if (a::next_live(c) != nullptr) {
    a::prev_live(a::next_live(c)) = a::prev_live(c);
  }
  a::prev_live(c) = a::next_live(c) = nullptr;
}

// A handed-off coroutine's hand-off word (coro::handoff_) guards what threads other than
// the one running it may touch: its adoption (the owner), its end and its awaiter queue.
// One word per coroutine, so that the coroutines of a runtime do not all queue on one
// lock (skynet spent half its time on two workers in a process-wide mutex here). It is
// held for a few stores and the posting of wake-ups, never across a switch.

/// Takes `c`'s hand-off word. False, with nothing taken, once `c`'s end is published: the
/// record is then final and may be read without it.
bool handoff_acquire(coro* c) noexcept {
  std::atomic_ref<std::uint8_t> word(a::handoff_word(c));
  for (unsigned spins = 0;; ++spins) {
    std::uint8_t v = word.load(std::memory_order_acquire);
    if (v == handoff_published) {
      return false;
    }
    if (v == handoff_free &&
        word.compare_exchange_weak(v, handoff_held, std::memory_order_acquire,
                                   std::memory_order_relaxed)) {
      return true;
    }
    if (spins >= 64) {
      std::this_thread::yield();  // the holder's thread may have been preempted
    }
  }
}

/// Lets go of `c`'s hand-off word; with `to` handoff_published, also publishes its end
/// (the last write any thread makes to the record).
void handoff_release(coro* c, std::uint8_t to = handoff_free) noexcept {
  std::atomic_ref<std::uint8_t>(a::handoff_word(c)).store(to, std::memory_order_release);
}

/// Holds the hand-off word of `c` for a scope, if `c` was handed off and its end is not
/// published (held() says whether it is held).
class handoff_guard {
 public:
  explicit handoff_guard(coro* c) noexcept
      : c_(c), held_(a::handed_off(c) && handoff_acquire(c)) {}
  ~handoff_guard() {
    if (held_) {
      handoff_release(c_);
    }
  }
  handoff_guard(const handoff_guard&) = delete;
  handoff_guard& operator=(const handoff_guard&) = delete;
  bool held() const noexcept { return held_; }

 private:
  coro* c_;
  bool held_;
};

/// Forgets `c`'s starter link and tells its unfinished children that their starter is
/// gone: they will return to their latest resumer instead.
void detach_family(coro* c) noexcept {
  if (coro* p = a::starter(c)) {
    if (a::prev_sibling(c) != nullptr) {
      a::next_sibling(a::prev_sibling(c)) = a::next_sibling(c);
    } else {
      a::first_child(p) = a::next_sibling(c);
    }
    if (a::next_sibling(c) != nullptr) {
      a::prev_sibling(a::next_sibling(c)) = a::prev_sibling(c);
    }
    a::starter(c) = nullptr;
    a::prev_sibling(c) = a::next_sibling(c) = nullptr;
  }
  for (coro* k = a::first_child(c); k != nullptr;) {
    coro* next = a::next_sibling(k);
    a::starter(k) = nullptr;
    a::prev_sibling(k) = a::next_sibling(k) = nullptr;
    k = next;
  }
  a::first_child(c) = nullptr;
}

std::byte* stack_base(coro* c) noexcept {
  return align_up(a::stack_lo(c), stack_alignment);
}

/// False if `c` has a canary and it was overwritten.
bool canary_intact(coro* c) noexcept {
  if (!(a::flags(c) & flag_canary)) {
    return true;
  }
  std::uint64_t v = 0;
  std::memcpy(&v, stack_base(c), sizeof v);
  return v == canary_value;
}

/// Whether `c` is `from` or waits in an xresume on the chain of resumers above `from`: then
/// control already comes back to it through that chain, and its resumer must stay.
bool waits_in_xresume_below(coro* c, coro* from) noexcept {
  thread_state& t = tls;
  std::size_t steps = 0;
  for (coro* k = from; k != nullptr && k != &t.root && steps < 100000; ++steps) {
    if (k == c) {
      return true;
    }
    k = a::resumer(k);
  }
  return false;
}

/// Ends the running coroutine `self`: marks it done and switches to its first resumer
/// (zigcoro), or to its latest resumer if the first one is gone or if it was unwound by a
/// destroying frame_t. Never returns. A starter switched to this way takes over `self`'s
/// latest resumer: that one is waiting in its xresume for control to come back, and the
/// starter's own resumer may be anything by now, even finished (the coroutine that started
/// the starter, which then returned). Unless the starter is itself on that resumer's chain
/// (it waits in an xresume that led here): then taking it over would make the two resume
/// each other forever, and the starter's resumer stays.
[[noreturn]] void finish(coro* self) noexcept {
  thread_state& t = tls;
  coro* to = a::resumer(self);
  a::state(self) = status::done;
  if (!(a::flags(self) & (flag_unwind | flag_drain)) && a::starter(self) != nullptr) {
    coro* starter = a::starter(self);
    if (!waits_in_xresume_below(starter, to)) {
      a::resumer(starter) = to;
    }
    to = starter;
  }
  detach_family(self);
  if (a::handed_off(self)) [[unlikely]] {
    // Awaiters may be on other threads, and any of them may free this stack once told:
    // root tells them (coro_publish_finished), after this switch leaves the stack.
    unlink_live(t, self);
    a::next_live(self) = t.finished_handed_off;
    t.finished_handed_off = self;
  } else {
    signal_all(a::awaiters(self));
  }
  if (a::state(to) == status::done) {
    fatal("return", self, "finished but the coroutine it returns to has finished too");
  }
  a::state(to) = status::active;
  ++a::invocation(to);
  t.current = to;
  switch_to(t, self, to, trace_event::finish);
  fatal("xresume", self, "was resumed after it finished");
}

/// The C++ entry of every coroutine, called by the arch entry stub on the new stack.
[[noreturn]] void coro_main(void* arg) noexcept {
  auto* self = static_cast<coro*>(arg);
#if defined(XCORO_ASAN)
  __sanitizer_finish_switch_fiber(nullptr, nullptr, nullptr);
#endif
  thread_state& t = tls;
  if (t.pending_block != nullptr) {
    run_pending_block(t);
  }
  a::entry(self)(self);
  finish(self);
}

}  // namespace

void describe(char* out, std::size_t size, const coro* c) noexcept {
  if (c->id() == 0) {
    std::snprintf(out, size, "root coroutine (id 0)");
  } else if (c->name().empty()) {
    std::snprintf(out, size, "coroutine (id %llu)", static_cast<unsigned long long>(c->id()));
  } else {
    std::snprintf(out, size, "coroutine '%s' (id %llu)", c->name().data(),
                  static_cast<unsigned long long>(c->id()));
  }
}

void fatal(const char* call, const coro* c, const char* what) noexcept {
  char who[80];
  char line[256];
  if (c == nullptr) {
    // Every caller passes the frame it was asked to act on: a null one is an empty frame_t
    // (or a null frame), whatever `what` says about its state. Name the caller instead.
    describe(who, sizeof who, tls.cur());
    std::snprintf(line, sizeof line,
                  "xcoro: %s: no coroutine (an empty or moved-from frame_t, or a null frame), "
                  "called from %s\n",
                  call, who);
  } else {
    describe(who, sizeof who, c);
    std::snprintf(line, sizeof line, "xcoro: %s: %s %s\n", call, who, what);
  }
  ssize_t ignored = ::write(STDERR_FILENO, line, std::strlen(line));
  (void)ignored;
  std::abort();
}

void fatal_plain(const char* what) noexcept {
  char line[256];
  std::snprintf(line, sizeof line, "xcoro: %s\n", what);
  ssize_t ignored = ::write(STDERR_FILENO, line, std::strlen(line));
  (void)ignored;
  std::abort();
}

void fatal_message(const char* what) noexcept {
  char who[80];
  char line[224];
  describe(who, sizeof who, tls.cur());
  std::snprintf(line, sizeof line, "%s, in %s", what, who);
  fatal_plain(line);
}

void run_pending_block(thread_state& t) noexcept {
  suspend_block_base* b = t.pending_block;
  t.pending_block = nullptr;
  b->run(b);
}

#if defined(XCORO_ASAN)
void asan_stack_bounds(coro* c, const void** bottom, std::size_t* size) noexcept {
  thread_state& t = tls;
  if (c == &t.root) {
    *bottom = root_stack_bottom;
    *size = root_stack_size;
  } else {
    *bottom = a::stack_lo(c);
    *size = a::stack_size(c);
  }
}
#endif

void resume_slow(thread_state& t, coro* cur, coro* f) {
  if (f == nullptr) {
    fatal("xresume", f, "cannot be resumed");
  }
  if (a::owner(f) != &t) {
    fatal("xresume", f, "belongs to another thread");
  }
  switch (a::state(f)) {
    case status::done:
      fatal("xresume", f, "has finished and cannot be resumed");
    case status::active:
      fatal("xresume", f, "is already running");
    case status::start:
      link_child(cur, f);
      break;
    case status::suspended:
      break;
  }
  a::state(cur) = status::suspended;
  a::resumer(f) = cur;
  a::state(f) = status::active;
  ++a::invocation(f);
  t.current = f;
  switch_to(t, cur, f, trace_event::resume);
}

void suspend_fatal(thread_state& t, const char* call) noexcept {
  coro* cur = t.cur();
  if (cur == &t.root) {
    fatal(call, cur, "called from root, not from a coroutine");
  }
  if (a::flags(cur) & flag_unwind) {
    fatal(call, cur,
          "suspended while its frame_t unwinds it (xcoro::forced_unwind must not be caught "
          "and kept)");
  }
  fatal(call, cur, "cannot suspend: the coroutine that resumed it has finished");
}

void throw_forced_unwind(coro* c) {
#if defined(__cpp_exceptions)
  throw forced_unwind(c);
#else
  fatal("xsuspend", c, "was asked to unwind in a build without exceptions");
#endif
}

void check_canary(coro* c, const char* call) noexcept {
  if (!canary_intact(c)) {
    fatal(call, c, "overflowed its stack (the canary at the stack base was overwritten)");
  }
}

created coro_create(const stack_arg& stack, std::size_t storage_size, std::size_t storage_align,
                    void (*entry)(coro*), std::error_code& ec) {
  thread_state& t = tls;
  if (!t.ready) {
    thread_init(t);
  }
  stack_span span;
  stack_allocator* owner = nullptr;
  if (stack_arg_access::caller_owned(stack)) {
    span = stack_arg_access::span(stack);
  } else {
    env& e = tls_env;
    std::size_t size = stack_arg_access::size(stack);
    if (size == 0) {
      size = e.default_stack_size != 0 ? e.default_stack_size : default_stack_size;
    }
    owner = e.stack_allocator != nullptr ? e.stack_allocator : &default_stack_allocator();
    result<stack_span> got = owner->allocate(size);
    if (!got) {
      ec = got.error();
      return created{nullptr, nullptr};
    }
    span = *got;
  }

  // Carve from the high end: record (64-aligned), typed storage, then the first frame.
  // Everything must leave room for the canary and a minimal working stack.
  constexpr std::size_t min_free = 256;
  std::byte* lo = span.data();
  std::byte* hi = lo + span.size();
  std::byte* base = align_up(lo, stack_alignment);
  std::size_t align = storage_align > stack_alignment ? storage_align : stack_alignment;
  std::size_t need = sizeof(coro) + storage_size + align + alignof(coro) + arch::first_frame_size +
                     min_free + sizeof(canary_value);
  if (lo == nullptr || span.size() < need) {
    if (owner != nullptr) {
      owner->deallocate(span);
    }
    ec = errc::stack_too_small;
    return created{nullptr, nullptr};
  }
  std::byte* record = align_down(hi - sizeof(coro), alignof(coro));
  std::byte* storage = align_down(record - storage_size, align);
  std::byte* top = align_down(storage, stack_alignment);
#if defined(XCORO_ASAN)
  // A pooled stack keeps the shadow of its last coroutine's frames, and the frames a
  // coroutine never returns from (finish, or a stack freed while suspended) stay poisoned:
  // the next coroutine's frames at those addresses would be reported as overflows.
  __asan_unpoison_memory_region(lo, span.size());
#endif

  coro* c = a::make(record);
  a::id(c) = ++t.last_id;
  a::owner(c) = &t;
  a::entry(c) = entry;
  a::stack_lo(c) = lo;
  a::stack_size(c) = span.size();
  a::allocator(c) = owner;
  if (owner != &default_stack_allocator() || !default_stacks_guarded()) {
    std::memcpy(base, &canary_value, sizeof canary_value);
    a::flags(c) = flag_canary;
  }
  arch::init_context(c, top, &coro_main);
#if defined(XCORO_TSAN)
  a::sanitizer_fiber(c) = __tsan_create_fiber(0);
#endif
#if defined(XCORO_VALGRIND)
  // A client request: a few no-op instructions unless running under Valgrind, which must
  // be told that this memory is a stack or it reports every switch as a wild jump.
  a::valgrind_stack(c) = VALGRIND_STACK_REGISTER(lo, hi);
#endif
  if (coro* creator = t.running_coroutine();
      creator && (a::flags(creator) & flag_cancel_pending)) {
    a::flags(c) |= static_cast<std::uint8_t>(flag_cancel | flag_cancel_pending);
  }
  link_live(t, c);
  if (t.trace != nullptr) {
    t.trace(trace_event::create, c, t.cur(), t.trace_user);
  }
  return created{c, storage};
}

void coro_hand_off(coro* c) noexcept {
  thread_state& t = tls;
  unlink_live(t, c);
  a::owner(c) = nullptr;
  a::handed_off(c) = true;
}

bool coro_publish_finished() noexcept {
  thread_state& t = tls;
  coro* c = t.finished_handed_off;
  if (c == nullptr) {
    return false;
  }
  t.finished_handed_off = nullptr;
  while (c != nullptr) {
    coro* next = a::next_live(c);
    a::next_live(c) = nullptr;
    if (!handoff_acquire(c)) {
      fatal("coro_publish_finished", c, "was published twice");
    }
    // Empties the queue: every entry is signalled and unlinked, or unlinked as its waiter
    // was signalled elsewhere, so no awaiter's entry stays linked in a final record.
    signal_all(a::awaiters(c));
    handoff_release(c, handoff_published);
    c = next;
  }
  return true;
}

void coro_adopt(coro* c) noexcept {
  thread_state& t = tls;
  if (!t.ready) {
    thread_init(t);
  }
  {
    // A cancel from another thread reads the owner (and sets the flags of a coroutine not
    // adopted yet) holding the hand-off word.
    handoff_guard hold(c);
    a::owner(c) = &t;
  }
  link_live(t, c);
  if (t.trace != nullptr) {
    t.trace(trace_event::adopt, c, t.cur(), t.trace_user);
  }
}

void with_handoff_lock(coro* c, void (*fn)(void* ctx), void* ctx) noexcept {
  handoff_guard hold(c);
  fn(ctx);
}

bool drain(coro* c) noexcept;  // src/cancel.cpp

void coro_retire(coro* c, bool unwind) noexcept {
  if (a::handed_off(c)) [[unlikely]] {
    // Spawned onto a runtime: it may be running on another worker right now.
    if (a::finish_published(c)) {
      return;
    }
    fatal("~frame_t", c,
          "was spawned and has not finished; xawait it (cancel it first to stop it) before "
          "its frame_t goes");
  }
  switch (a::state(c)) {
    case status::start:
    case status::done:
      return;
    case status::active:
      fatal("~frame_t", c, "is running; a coroutine cannot destroy its own frame_t");
    case status::suspended:
      break;
  }
  // A coroutine that is waiting for one it resumed is suspended in an xresume, not an
  // xsuspend: it can be neither unwound nor freed while that one runs.
  thread_state& t = tls;
  std::size_t steps = 0;
  for (coro* k = t.cur(); k != nullptr && k != &t.root && steps < 100000; ++steps) {
    if (k == c) {
      fatal("~frame_t", c, "is waiting for a coroutine it resumed and cannot be destroyed");
    }
    k = a::resumer(k);
  }
  if (!unwind) {
    // Built without exceptions: a coroutine that waits on something is linked from it (a
    // wait queue, the loop's ready list or the kernel's operation), so its stack cannot
    // just be freed. It is cancelled and resumed until it returns (src/cancel.cpp). One in
    // a plain xsuspend is freed without unwinding.
    drain(c);
    return;
  }
  a::flags(c) |= flag_unwind;
  xresume(c);
  if (a::state(c) != status::done) {
    fatal("~frame_t", c, "swallowed xcoro::forced_unwind (catch (...) must rethrow it)");
  }
}

void coro_free(coro* c) noexcept {
  if (!a::awaiters(c).idle()) {
    fatal("~frame_t", c, "was destroyed while another coroutine awaits it");
  }
  thread_state& t = tls;
  thread_state* made_on = a::owner(c);
  if (made_on != &t && made_on != nullptr && !a::handed_off(c)) [[unlikely]] {
    // Made by another thread, whose list of records still holds it, and only that thread
    // may change its list: a runtime's worker is told to free it; another thread's frame
    // cannot be freed here. (A handed-off coroutine is on no list once finished, and one
    // whose worker has exited was taken off its list then: coro_orphan_all.)
    if (made_on->worker == nullptr || post_free == nullptr) {
      fatal("~frame_t", c,
            "was made on another thread, which is not a runtime's worker; destroy it there");
    }
    post_free(made_on->worker, c);
    return;
  }
  detach_family(c);
  if (t.trace != nullptr) {
    t.trace(trace_event::destroy, c, t.cur(), t.trace_user);
  }
  unlink_live(t, c);  // a finished handed-off coroutine is in no list: nothing to do
#if defined(XCORO_TSAN)
  __tsan_destroy_fiber(a::sanitizer_fiber(c));
#endif
#if defined(XCORO_VALGRIND)
  VALGRIND_STACK_DEREGISTER(a::valgrind_stack(c));
#endif
  stack_allocator* owner = a::allocator(c);
  stack_span span(a::stack_lo(c), a::stack_size(c));
  if (owner != nullptr) {
    owner->deallocate(span);
  }
}

void (*post_free)(void* worker, coro* c) noexcept = nullptr;

void coro_orphan_all() noexcept {
  thread_state& t = tls;
  while (coro* c = t.live) {
    unlink_live(t, c);
    a::owner(c) = nullptr;
  }
}

void report_unobserved(const coro* c, const frame_storage_base* s) noexcept {
  char who[80];
  describe(who, sizeof who, c);
  const char* what = "an exception not derived from std::exception";
#if defined(__cpp_exceptions)
  try {
    std::rethrow_exception(s->error);
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
#else
  (void)s;
#endif
  char line[512];
  int n = std::snprintf(line, sizeof line,
                        "xcoro: %s ended with an exception that nothing observed: %s\n", who,
                        what);
  if (n < 0) {
    return;
  }
  std::size_t len = static_cast<std::size_t>(n) < sizeof line ? static_cast<std::size_t>(n)
                                                               : sizeof line - 1;
  if (len > 0 && line[len - 1] != '\n') {
    line[len - 1] = '\n';  // truncated: still one whole line
  }
  ssize_t ignored = ::write(STDERR_FILENO, line, len);
  (void)ignored;
}

namespace {

/// Waits until one of `cs` is done. Coroutines that `self` did not start wake it through
/// the env executor when they finish; those it started switch back to it directly. Without
/// an env executor only the latter (and spurious wake-ups) can wake it, as in zigcoro.
const char* plain_await_call(const void* ctx) noexcept {
  return static_cast<const char*>(ctx);
}
/// The wait of an xawait without an env executor (its context is the call's name).
constexpr wait_kind plain_await_kind{nullptr, &plain_await_call};

std::size_t wait_any_done(coro* const* cs, std::size_t n, const char* call) {
  // Coroutines spawned onto a runtime may finish on another thread: each one's awaiter
  // queue is changed holding its hand-off word, and its end read from that word.
  bool any_handed_off = false;
  for (std::size_t i = 0; i < n; ++i) {
    if (cs[i] == nullptr) {
      fatal(call, cs[i], "is an empty frame_t");
    }
    any_handed_off |= a::handed_off(cs[i]);
  }
  auto first_done = [&]() -> std::size_t {
    for (std::size_t i = 0; i < n; ++i) {
      if (a::handed_off(cs[i]) ? a::finish_published(cs[i]) : cs[i]->status() == status::done) {
        return i;
      }
    }
    return n;
  };
  std::size_t i = first_done();
  if (i != n) {
    return i;
  }
  thread_state& t = tls;
  coro* self = t.running_coroutine();
  if (self == nullptr) {
    fatal(call, cs[0], "has not finished and xawait was called from root");
  }
  executor* ex = tls_env.executor;
  if (ex == nullptr) {
    // Registered all the same, so that a drain (docs/cancel.md) finds what it waits for.
    struct registration {
      coro* c;
      ~registration() { a::end_wait(c); }
    } reg{self};
    a::begin_wait(self, &plain_await_kind, const_cast<char*>(call));
    while ((i = first_done()) == n) {
      xsuspend();
    }
    return i;
  }
  waiter w(ex, call);
  // One entry per frame this coroutine did not start. Small counts stay on the stack.
  constexpr std::size_t inline_entries = 4;
  alignas(wait_entry) unsigned char inline_storage[inline_entries][sizeof(wait_entry)];
  std::unique_ptr<unsigned char[]> heap;
  auto* slots = reinterpret_cast<wait_entry*>(inline_storage);
  if (n > inline_entries) {
    heap.reset(new unsigned char[n * sizeof(wait_entry)]);
    slots = reinterpret_cast<wait_entry*>(heap.get());
  }
  std::size_t made = 0;
  struct destroy_entries {
    coro* const* cs;
    wait_entry* slots;
    std::size_t& made;
    /// Unlinks and destroys the entries. Each handed-off coroutine's word is taken in turn,
    /// so a publisher that has signalled this waiter but not yet let go of its word is
    /// waited for: afterwards its end reads as published. A published coroutine's queue
    /// was emptied when it was published, and its word is not taken.
    void run() noexcept {
      while (made > 0) {
        --made;
        handoff_guard hold(cs[made]);
        slots[made].~wait_entry();
      }
    }
    ~destroy_entries() { run(); }
  } cleanup{cs, slots, made};
  // Several handed-off coroutines may end at once on several threads, each holding only its
  // own word, and one of this thread's at the same moment: a waiter registered with more
  // than one coroutine, one of them handed off, is claimed with an atomic exchange, as a
  // select over shared channels is (detail::claim), so that one signal wins.
  if (n > 1 && any_handed_off) {
    w.lock = &w;  // only whether it is null is read
  }
  for (std::size_t k = 0; k < n; ++k) {
    ::new (&slots[made]) wait_entry(w, static_cast<int>(k));
    ++made;
    if (a::handed_off(cs[k])) {
      handoff_guard hold(cs[k]);
      if (!hold.held()) {
        i = k;  // published meanwhile: its queue is final, so nothing is linked
        break;
      }
      a::awaiters(cs[k]).push_back(slots[made - 1]);
    } else if (a::starter(cs[k]) != self) {
      a::awaiters(cs[k]).push_back(slots[made - 1]);
    }
  }
  // A coroutine of this thread cannot finish while this one runs; a handed-off one that
  // ended before its entry was linked was found above, and one that ends after signals it.
  if (i == n) {
    i = first_done();
  }
  if (i != n) {
    return i;
  }
  for (;;) {
    xsuspend();
    if (w.is_signalled()) {
      // A handed-off coroutine's publisher signals before it marks the end published (it
      // must not touch the record after that mark): the cleanup waits for the mark.
      cleanup.run();
      i = first_done();
      if (i == n) {
        fatal(call, self, "was signalled while none of the coroutines it awaits had finished");
      }
      return i;
    }
    // A child this coroutine started returns to it directly, without a signal.
    i = first_done();
    if (i != n) {
      return i;
    }
  }
}

}  // namespace

void await_done(coro* c) {
  wait_any_done(&c, 1, "xawait");
}

std::size_t await_any(coro* const* cs, std::size_t n) {
  if (n == 0) {
    fatal("xawait_any", tls.cur(), "was given no frames");
  }
  return wait_any_done(cs, n, "xawait_any");
}

}  // namespace detail

void init_env(const env& e) noexcept {
  detail::tls_env = e;
}

env& get_env() noexcept {
  return detail::tls_env;
}

std::error_code xsuspend_safe() noexcept {
  detail::thread_state& t = detail::tls;
  coro* cur = t.running_coroutine();
  if (cur == nullptr) {
    return errc::suspend_from_main;
  }
  if (!detail::canary_intact(cur)) {
    return errc::stack_overflow;
  }
  if (detail::suspend_to_resumer(t, "xsuspend_safe")) {
    return errc::canceled;
  }
  return {};
}

std::size_t remaining_stack_size() noexcept {
  detail::thread_state& t = detail::tls;
  coro* cur = t.running_coroutine();
  if (cur == nullptr) {
    return 0;
  }
  volatile char probe = 0;
  auto here = reinterpret_cast<std::uintptr_t>(&probe);
  auto base = reinterpret_cast<std::uintptr_t>(detail::stack_base(cur)) +
              sizeof(detail::canary_value);
  return here > base ? here - base : 0;
}

}  // namespace xcoro
