// The C API's core: version, error codes, coroutines, generators, the executor and the
// env. A C coroutine is an ordinary coroutine record whose typed storage is a c_frame, so
// every C++ facility (xawait, cancel, the trace hook, gdb) sees it as any other coroutine;
// the handle given to C is the record's address.
#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>

#include "c_api/c_api.hpp"
#include "xcoro/channel.hpp"
#include "xcoro/executor.hpp"
#include "xcoro/scope.hpp"
#include "xcoro/version.hpp"

namespace xcoro::c_api {

namespace a = detail;
using acc = detail::coro_access;

const char c_frame_tag[] = "xcoro C coroutine";

namespace {

class c_error_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "xcoro C API"; }
  std::string message(int v) const override { return xcoro_strerror(v); }
};

/// Nothing to destroy: a c_frame holds only trivially destructible fields. The C++ teardown
/// paths call this through frame_storage_base::destroy.
void destroy_c_frame(detail::frame_storage_base*) noexcept {}

/// The entry of every C coroutine: runs fn(arg) on the coroutine's stack. An exception that
/// C++ code called from fn lets escape stops here, is reported, and becomes the outcome.
void run_c_frame(coro* c) noexcept {
  c_frame* s = c_frame_of(c);
#if defined(__cpp_exceptions)
  try {
    s->fn(s->arg);
  } catch (const forced_unwind&) {
    // Not thrown into C coroutines (they are never unwound), but harmless to accept.
  } catch (...) {
    report_exception("xcoro_create", c, std::current_exception());
    s->outcome = XCORO_EEXCEPTION;
  }
#else
  s->fn(s->arg);
#endif
}


/// xresume's cases that C reports instead of aborting on.
int resume_checked(coro* f) noexcept {
  detail::thread_state& t = detail::tls;
  coro* cur = t.cur();
  if (f == cur) {
    return XCORO_OK;
  }
  if (acc::handed_off(f)) {
    return XCORO_ETHREAD;  // spawned: the runtime runs it (and it may be running elsewhere)
  }
  switch (acc::state(f)) {
    case status::done:
      return XCORO_EDONE;
    case status::active:
      return XCORO_ERUNNING;
    case status::start:
    case status::suspended:
      break;
  }
  if (acc::owner(f) != &t) {
    return XCORO_ETHREAD;
  }
  xresume(f);
  return XCORO_OK;
}

/// The running coroutine's c_frame, or a code: XCORO_EROOT, XCORO_ENOTGEN.
int running_generator(c_frame*& out) noexcept {
  coro* cur = detail::tls.running_coroutine();
  if (cur == nullptr) {
    return XCORO_EROOT;
  }
  out = c_frame_of(cur);
  return out != nullptr && out->generator ? XCORO_OK : XCORO_ENOTGEN;
}

/// Whether the canary at `c`'s stack base is intact (always checked here: C has no
/// debug build of the library to rely on).
bool canary_ok(coro* c) noexcept {
  if (!(acc::flags(c) & detail::flag_canary)) {
    return true;
  }
  auto lo = reinterpret_cast<std::uintptr_t>(acc::stack_lo(c));
  lo = (lo + stack_alignment - 1) & ~(std::uintptr_t{stack_alignment} - 1);
  std::uint64_t v = 0;
  std::memcpy(&v, reinterpret_cast<const void*>(lo), sizeof v);
  return v == detail::canary_value;
}

#if defined(XCORO_C_ASM_ENTRIES)
#if defined(XCORO_ASAN) || defined(XCORO_TSAN)
#error "the C API's assembly entries skip the sanitizers' fiber hooks: build with XCORO_SANITIZE"
#endif

// The offsets the assembly's way back reads (XCORO_TLS_*, XCORO_CORO_FLAGS there): the
// record's status and flags bytes follow the x87 control word (a test checks the flags
// offset through coro_access, tests/c/switch_helper.cpp).
static_assert(offsetof(detail::thread_state, current) == 0);
static_assert(offsetof(detail::thread_state, pending_block) == 8);
static_assert(detail::context_offsets::fp_control2 == 36 && sizeof(std::uint16_t) == 2 &&
              sizeof(status) == 1);
static_assert(detail::flag_unwind == 1);

/// detail::switch_to's work before the switch itself when there is any: the trace hook,
/// the exception globals. For the assembly entries, which switch on their own.
[[gnu::noinline, gnu::cold]] void before_switch_slow(detail::thread_state& t, coro* from,
                                                     coro* to, trace_event event) noexcept {
  if (t.trace != nullptr) {
    if (event == trace_event::resume) {
      t.trace(event, to, from, t.trace_user);
    } else {
      t.trace(event, from, to, t.trace_user);
    }
  }
  detail::eh_state* g = t.eh;
  if (g->caught != nullptr || g->uncaught != 0) {
    acc::eh(from) = *g;
    *g = detail::eh_state{};
    acc::flags(from) |= detail::flag_eh;
  }
  if (acc::flags(to) & detail::flag_eh) {
    *g = acc::eh(to);
    acc::flags(to) &= static_cast<std::uint8_t>(~detail::flag_eh);
  }
}

inline void before_switch(detail::thread_state& t, coro* from, coro* to,
                          trace_event event) noexcept {
  detail::eh_state* g = t.eh;
  if (t.trace != nullptr || g->caught != nullptr || g->uncaught != 0 ||
      (acc::flags(to) & detail::flag_eh)) [[unlikely]] {
    before_switch_slow(t, from, to, event);
  }
}

/// xcoro_c_resume_begin's cases other than a plain switch.
[[gnu::noinline]] xcoro_c_switch resume_begin_slow(coro* f) noexcept {
  return {nullptr, f != nullptr ? resume_checked(f) : XCORO_EINVAL};
}

/// xcoro_c_suspend_begin's errors (`cur` is null in root), in xcoro_suspend's order.
[[gnu::noinline]] xcoro_c_switch suspend_begin_slow(detail::thread_state& t, coro* cur) noexcept {
  if (cur == nullptr) {
    return {nullptr, XCORO_EROOT};
  }
  if (!canary_ok(cur)) {
    return {nullptr, XCORO_ESTACK_OVERFLOW};
  }
  if (acc::state(acc::resumer(cur)) == status::done) {
    return {nullptr, XCORO_EDONE};
  }
  detail::suspend_fatal(t, "xcoro_suspend");  // flag_unwind: it may not suspend again
}

/// switch_to's work after it.
void after_switch(detail::thread_state& t) noexcept {
  if (t.pending_block != nullptr) [[unlikely]] {
    detail::run_pending_block(t);
  }
}
#endif

/// The stacks of xcoro_set_stack_allocator's hooks. Counted: the thread's slot holds one
/// reference and each stack given out one, so that a replaced allocator (or one left at
/// thread exit) lives until its last stack came back, on whichever thread that happens.
class c_stack_allocator final : public stack_allocator {
 public:
  explicit c_stack_allocator(const xcoro_allocator& hooks) noexcept : hooks_(hooks) {}

  result<stack_span> allocate(std::size_t size) override {
    void* p = hooks_.alloc(hooks_.user, size, stack_alignment);
    if (p == nullptr) {
      return std::make_error_code(std::errc::not_enough_memory);
    }
    if (reinterpret_cast<std::uintptr_t>(p) % stack_alignment != 0) {
      // The hook broke its contract: the memory cannot be a stack.
      hooks_.dealloc(hooks_.user, p, size);
      return to_error_code(XCORO_EINVAL);
    }
    refs_.fetch_add(1, std::memory_order_relaxed);
    return stack_span(static_cast<std::byte*>(p), size);
  }

  void deallocate(stack_span s) noexcept override {
    hooks_.dealloc(hooks_.user, s.data(), s.size());
    release();
  }

  /// Drops one reference: the slot's, or (from deallocate) a stack's.
  void release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      delete this;
    }
  }

 private:
  xcoro_allocator hooks_;
  std::atomic<std::size_t> refs_{1};
};

/// xcoro_set_allocator's hooks, counted as c_stack_allocator is: the thread's slot holds one
/// reference and each block given out one.
class c_hooks {
 public:
  explicit c_hooks(const xcoro_allocator& hooks) noexcept : hooks_(hooks) {}

  void* allocate(std::size_t size) noexcept {
    void* p = hooks_.alloc(hooks_.user, size, c_block_header);
    if (p != nullptr) {
      refs_.fetch_add(1, std::memory_order_relaxed);
    }
    return p;
  }
  void deallocate(void* p, std::size_t size) noexcept {
    hooks_.dealloc(hooks_.user, p, size);
    release();
  }
  void release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      delete this;
    }
  }

  /// Each block starts with the c_hooks* it came from (nullptr: operator new), padded to
  /// this many bytes, which keeps the object after it 16-byte aligned.
  static constexpr std::size_t c_block_header = 16;

 private:
  xcoro_allocator hooks_;
  std::atomic<std::size_t> refs_{1};
};

/// The calling thread's c_hooks.
struct c_hooks_slot {
  c_hooks* current = nullptr;
  void replace(c_hooks* h) noexcept {
    if (current != nullptr) {
      current->release();
    }
    current = h;
  }
  ~c_hooks_slot() { replace(nullptr); }
};
thread_local c_hooks_slot current_c_hooks;

/// The calling thread's c_stack_allocator, installed as its env's stack allocator.
struct c_allocator_slot {
  c_stack_allocator* current = nullptr;
  void replace(c_stack_allocator* a) noexcept {
    env& e = get_env();
    if (current != nullptr) {
      if (e.stack_allocator == current) {
        e.stack_allocator = nullptr;
      }
      current->release();
    }
    current = a;
    if (a != nullptr) {
      e.stack_allocator = a;
    }
  }
  ~c_allocator_slot() { replace(nullptr); }
};
thread_local c_allocator_slot current_c_allocator;

}  // namespace

void* c_alloc(std::size_t size) noexcept {
  constexpr std::size_t header = c_hooks::c_block_header;
  c_hooks* h = current_c_hooks.current;
  void* raw = h != nullptr ? h->allocate(size + header)
                           : ::operator new(size + header, std::nothrow);
  if (raw == nullptr) {
    return nullptr;
  }
  *static_cast<c_hooks**>(raw) = h;
  return static_cast<unsigned char*>(raw) + header;
}

void c_free(void* p, std::size_t size) noexcept {
  if (p == nullptr) {
    return;
  }
  constexpr std::size_t header = c_hooks::c_block_header;
  void* raw = static_cast<unsigned char*>(p) - header;
  if (c_hooks* h = *static_cast<c_hooks**>(raw)) {
    h->deallocate(raw, size + header);
  } else {
    ::operator delete(raw);
  }
}

int make_c_coro(xcoro_coro** out, void (*fn)(void*), void* arg, const stack_arg& stack,
                std::size_t yield_size, std::size_t inject_size, bool generator) noexcept {
  if (out == nullptr || fn == nullptr || yield_size > XCORO_CHAN_MAX_ELEM ||
      inject_size > XCORO_CHAN_MAX_ELEM) {
    return XCORO_EINVAL;
  }
  std::error_code ec;
  detail::created made = detail::coro_create(stack,
                                             sizeof(c_frame) + yield_size + inject_size,
                                             alignof(c_frame), &run_c_frame, ec);
  if (made.c == nullptr) {
    return to_c(ec);
  }
  auto* s = ::new (made.storage) c_frame;
  s->tag = c_frame_tag;
  s->destroy = &destroy_c_frame;
  s->fn = fn;
  s->arg = arg;
  s->generator = generator;
  s->yield_size = yield_size;
  s->inject_size = inject_size;
  acc::frame(made.c) = s;
  *out = to_c(made.c);
  return XCORO_OK;
}

bool finished(coro* f) noexcept {
  if (!acc::handed_off(f)) {
    return f->status() == status::done;
  }
  // Spawned: it may be running on another worker; finish_published is set under the
  // hand-off lock once it finished there and its awaiters were told.
  struct probe {
    coro* c;
    bool done;
  } p{f, false};
  detail::with_handoff_lock(
      f,
      [](void* v) noexcept {
        auto* q = static_cast<probe*>(v);
        q->done = acc::finish_published(q->c);
      },
      &p);
  return p.done;
}

const std::error_category& c_category() noexcept {
  static const c_error_category cat;
  return cat;
}

int to_c(std::error_code ec) noexcept {
  if (!ec) {
    return XCORO_OK;
  }
  if (ec.category() == c_category()) {
    return ec.value();
  }
  if (ec.category() == xcoro::category()) {
    switch (static_cast<errc>(ec.value())) {
      case errc::stack_too_small:
        return XCORO_ESTACK_TOO_SMALL;
      case errc::stack_overflow:
        return XCORO_ESTACK_OVERFLOW;
      case errc::suspend_from_main:
        return XCORO_EROOT;
      case errc::channel_closed:
        return XCORO_ECLOSED;
      case errc::deadlock:
        return XCORO_EDEADLOCK;
      case errc::eof:
        return XCORO_EEOF;
      case errc::canceled:
        return XCORO_ECANCELED;
      default:  // no C code of their own (host_not_found: no C call resolves names)
        break;
    }
    return XCORO_EINVAL;
  }
  if (ec == std::errc::timed_out) {
    return XCORO_ETIMEDOUT;
  }
  if (ec == std::errc::not_enough_memory) {
    return XCORO_ENOMEM;
  }
  if (ec.category() == std::system_category() || ec.category() == std::generic_category()) {
    return XCORO_ERRNO(ec.value());
  }
  return XCORO_EINVAL;
}

void report_exception(const char* call, const coro* c, std::exception_ptr ep) noexcept {
  const char* what = "an exception not derived from std::exception";
#if defined(__cpp_exceptions)
  try {
    std::rethrow_exception(ep);
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
#else
  (void)ep;
#endif
  if (c == nullptr) {
    std::fprintf(stderr, "xcoro: %s: C++ exception: %s\n", call, what);
    return;
  }
  std::fprintf(stderr, "xcoro: %s: coroutine '%s' (id %llu) ended with a C++ exception: %s\n",
               call, c->name().data(), static_cast<unsigned long long>(c->id()), what);
}

bool timeout_allowed(xcoro::executor* ex, std::int64_t timeout_ms) noexcept {
  return timeout_ms <= 0 ||  // 0: only what completes at once, no deadline to run
         (ex != nullptr && detail::executor_access::clock(*ex) != nullptr);
}

}  // namespace xcoro::c_api

using namespace xcoro;
using namespace xcoro::c_api;
using acc = xcoro::detail::coro_access;

extern "C" {

unsigned xcoro_version(void) noexcept {
  return (XCORO_VERSION_MAJOR << 16) | (XCORO_VERSION_MINOR << 8) | XCORO_VERSION_PATCH;
}

unsigned xcoro_abi_version(void) noexcept {
  return XCORO_ABI_VERSION;
}

const char* xcoro_strerror(int err) noexcept {
  switch (err) {
    case XCORO_OK: return "success";
    case XCORO_EINVAL: return "invalid argument";
    case XCORO_ENOMEM: return "out of memory";
    case XCORO_ESTACK_TOO_SMALL: return "stack too small for the coroutine";
    case XCORO_ESTACK_OVERFLOW: return "coroutine stack overflow";
    case XCORO_EDONE: return "coroutine has finished";
    case XCORO_ERUNNING: return "coroutine is running";
    case XCORO_ETHREAD: return "coroutine belongs to another thread";
    case XCORO_EROOT: return "must be called inside a coroutine";
    case XCORO_ENOTGEN: return "coroutine is not a generator";
    case XCORO_ECLOSED: return "channel closed";
    case XCORO_ECANCELED: return "canceled";
    case XCORO_ETIMEDOUT: return "timed out";
    case XCORO_EAGAIN: return "would block";
    case XCORO_EDEADLOCK: return "deadlock: nothing can make progress";
    case XCORO_EEOF: return "end of stream";
    case XCORO_EEXCEPTION: return "a C++ exception ended the coroutine";
    case XCORO_EPERM: return "the caller does not hold the mutex";
    case XCORO_EBUSY: return "coroutines still wait on the object";
    case XCORO_ENORUNTIME: return "must be called on a runtime's worker";
    default: break;
  }
  if (err <= XCORO_EUSER) {
    return "user error";
  }
  if (int e = xcoro_errno(err); e != 0) {
    // std::strerror's buffer may be shared between threads; the generic category's
    // message is a fresh string, kept per thread until the next call.
    thread_local std::string text;
#if defined(__cpp_exceptions)
    try {
      text = std::generic_category().message(e);
    } catch (...) {
      return "operating system error";
    }
#else
    text = std::generic_category().message(e);
#endif
    return text.c_str();
  }
  return "unknown error";
}

int xcoro_errno(int err) noexcept {
  return err <= XCORO_ERRNO(1) && err > XCORO_EUSER ? -err - 1000 : 0;
}

int xcoro_create(xcoro_coro** out, void (*fn)(void*), void* arg, size_t stack_size) noexcept {
  return make_c_coro(out, fn, arg, stack_size, 0, 0, false);
}

int xcoro_create_gen(xcoro_coro** out, void (*fn)(void*), void* arg, size_t stack_size,
                     size_t yield_size, size_t inject_size) noexcept {
  return make_c_coro(out, fn, arg, stack_size, yield_size, inject_size, true);
}

int xcoro_create_on_stack(xcoro_coro** out, void (*fn)(void*), void* arg, void* stack,
                          size_t stack_size) noexcept {
  if (stack == nullptr || reinterpret_cast<std::uintptr_t>(stack) % XCORO_STACK_ALIGN != 0) {
    return XCORO_EINVAL;
  }
  return make_c_coro(out, fn, arg, stack_arg(stack_span(static_cast<std::byte*>(stack), stack_size)),
                     0, 0, false);
}

int xcoro_set_stack_allocator(const xcoro_allocator* a) noexcept {
  if (a != nullptr && (a->alloc == nullptr || a->dealloc == nullptr)) {
    return XCORO_EINVAL;
  }
  c_stack_allocator* made = nullptr;
  if (a != nullptr) {
    made = new (std::nothrow) c_stack_allocator(*a);
    if (made == nullptr) {
      return XCORO_ENOMEM;
    }
  }
  current_c_allocator.replace(made);
  return XCORO_OK;
}

int xcoro_set_allocator(const xcoro_allocator* a) noexcept {
  if (a != nullptr && (a->alloc == nullptr || a->dealloc == nullptr)) {
    return XCORO_EINVAL;
  }
  c_hooks* made = nullptr;
  if (a != nullptr) {
    made = new (std::nothrow) c_hooks(*a);
    if (made == nullptr) {
      return XCORO_ENOMEM;
    }
  }
  current_c_hooks.replace(made);
  return XCORO_OK;
}

int xcoro_async(xcoro_coro** out, void (*fn)(void*), void* arg, size_t stack_size) noexcept {
  int r = make_c_coro(out, fn, arg, stack_size, 0, 0, false);
  if (r == XCORO_OK) {
    xresume(to_coro(*out));
  }
  return r;
}

#if defined(XCORO_C_ASM_ENTRIES)

// xcoro_resume and xcoro_suspend are src/c_api/entry_x86_64_sysv_elf_gas.S: the checks
// and bookkeeping below, the switch, then the *_end call and a jump back to the caller.

xcoro_c_switch xcoro_c_resume_begin(xcoro_coro* c) noexcept {
  coro* f = to_coro(c);
  detail::thread_state& t = detail::tls;
  coro* cur = t.cur();
  // xresume's fast path; everything else is sorted out by resume_begin_slow.
  if (f != nullptr && acc::state(f) == status::suspended && acc::owner(f) == &t && f != cur)
      [[likely]] {
    acc::state(cur) = status::suspended;
    acc::resumer(f) = cur;
    acc::state(f) = status::active;
    ++acc::invocation(f);
    t.current = f;
    before_switch(t, cur, f, trace_event::resume);
    return {cur, reinterpret_cast<std::intptr_t>(f)};
  }
  return resume_begin_slow(f);
}

int xcoro_c_resume_end(void) noexcept {
  after_switch(detail::tls);
  return XCORO_OK;
}

xcoro_c_switch xcoro_c_suspend_begin(void) noexcept {
  detail::thread_state& t = detail::tls;
  coro* cur = t.running_coroutine();
  if (cur == nullptr || !canary_ok(cur) || acc::state(acc::resumer(cur)) == status::done ||
      (acc::flags(cur) & detail::flag_unwind)) [[unlikely]] {
    return suspend_begin_slow(t, cur);
  }
  coro* to = acc::resumer(cur);
  acc::state(cur) = status::suspended;
  acc::state(to) = status::active;
  ++acc::invocation(to);
  t.current = to;
  before_switch(t, cur, to, trace_event::suspend);
  return {cur, reinterpret_cast<std::intptr_t>(to)};
}

int xcoro_c_suspend_end(void) noexcept {
  detail::thread_state& t = detail::tls;
  after_switch(t);
  // A C++ owner is unwinding it: return without suspending again.
  return (acc::flags(t.current) & detail::flag_unwind) ? XCORO_ECANCELED : XCORO_OK;
}

#else

int xcoro_resume(xcoro_coro* c) noexcept {
  coro* f = to_coro(c);
  if (f == nullptr) [[unlikely]] {
    return XCORO_EINVAL;
  }
  detail::thread_state& t = detail::tls;
  // xresume's own fast path, inlined; everything else is sorted out by resume_checked.
  if (acc::state(f) == status::suspended && acc::owner(f) == &t && f != t.cur()) [[likely]] {
    xresume(f);
    return XCORO_OK;
  }
  return resume_checked(f);
}

int xcoro_suspend(void) noexcept {
  detail::thread_state& t = detail::tls;
  coro* cur = t.running_coroutine();
  if (cur == nullptr) [[unlikely]] {
    return XCORO_EROOT;
  }
  if (!canary_ok(cur)) [[unlikely]] {
    return XCORO_ESTACK_OVERFLOW;
  }
  if (acc::state(acc::resumer(cur)) == status::done) [[unlikely]] {
    return XCORO_EDONE;
  }
  if (detail::suspend_to_resumer(t, "xcoro_suspend")) [[unlikely]] {
    return XCORO_ECANCELED;  // a C++ owner is unwinding it: return without suspending again
  }
  return XCORO_OK;
}

#endif  // XCORO_C_ASM_ENTRIES

int xcoro_suspend_block(void (*fn)(void*), void* ctx) noexcept {
  if (fn == nullptr) {
    return XCORO_EINVAL;
  }
  if (in_root()) {
    return XCORO_EROOT;
  }
  return guarded("xcoro_suspend_block", [&] {
    xsuspend_block([fn, ctx]() noexcept { fn(ctx); });
    return XCORO_OK;
  });
}

int xcoro_await(xcoro_coro* c) noexcept {
  coro* f = to_coro(c);
  if (f == nullptr) {
    return XCORO_EINVAL;
  }
  c_frame* s = c_frame_of(f);
  if (s == nullptr) {
    return XCORO_EINVAL;
  }
  if (!finished(f)) {
    if (in_root()) {
      return XCORO_EROOT;
    }
    if (f == detail::tls.cur()) {
      return XCORO_ERUNNING;
    }
    detail::await_done(f);
  }
  return s->outcome;
}

int xcoro_status(const xcoro_coro* c) noexcept {
  if (c == nullptr) {
    return XCORO_EINVAL;
  }
  switch (to_coro(c)->status()) {
    case status::start: return XCORO_START;
    case status::active: return XCORO_RUNNING;
    case status::suspended: return XCORO_SUSPENDED;
    case status::done: return XCORO_DONE;
  }
  return XCORO_EINVAL;
}

void xcoro_destroy(xcoro_coro* c) noexcept {
  coro* f = to_coro(c);
  if (f == nullptr) {
    return;
  }
  // flag_root is set when the thread first makes a coroutine; its own root may come first.
  if (f == &detail::tls.root || (acc::flags(f) & detail::flag_root)) {
    detail::fatal("xcoro_destroy", f, "is a thread's root and cannot be destroyed");
  }
  c_frame* s = c_frame_of(f);
  if (s == nullptr) {
    detail::fatal("xcoro_destroy", f, "was not made by the C API (its frame_t owns it)");
  }
  if (acc::handed_off(f)) {
    // Spawned onto a runtime: freed from any thread once it finished, never before.
    if (!finished(f)) {
      detail::fatal("xcoro_destroy", f, "was spawned and has not finished; xcoro_await it first");
    }
  } else if (acc::state(f) == status::active) {
    detail::fatal("xcoro_destroy", f, "is running; a coroutine cannot destroy itself");
  } else if (acc::owner(f) != &detail::tls) {
    // Its record is linked into its own thread's list, which only that thread may touch.
    detail::fatal("xcoro_destroy", f, "belongs to another thread; destroy it there");
  }
  // Without unwinding: a coroutine in a plain suspend is freed as it is; one in a blocking
  // call is cancelled and resumed until it returns (docs/c-api.md, "Coroutines").
  detail::coro_retire(f, false);
  s->~c_frame();
  detail::coro_free(f);
}

void xcoro_fail(int err) noexcept {
  coro* cur = detail::tls.running_coroutine();
  if (cur == nullptr) {
    return;
  }
  if (c_frame* s = c_frame_of(cur)) {
    s->outcome = err < 0 ? err : XCORO_EINVAL;
  }
}

xcoro_coro* xcoro_self(void) noexcept {
  return to_c(xframe());
}

int xcoro_in_coro(void) noexcept {
  return in_coro() ? 1 : 0;
}

void xcoro_set_storage(xcoro_coro* c, void* p) noexcept {
  if (c != nullptr) {
    to_coro(c)->set_storage(p);
  }
}

void* xcoro_storage(const xcoro_coro* c) noexcept {
  return c != nullptr ? to_coro(c)->get_storage<void>() : nullptr;
}

uint64_t xcoro_id(const xcoro_coro* c) noexcept {
  return c != nullptr ? to_coro(c)->id() : 0;
}

uint64_t xcoro_invocation(const xcoro_coro* c) noexcept {
  return c != nullptr ? to_coro(c)->invocation() : 0;
}

void xcoro_set_name(xcoro_coro* c, const char* name) noexcept {
  if (c != nullptr) {
    to_coro(c)->set_name(name != nullptr ? std::string_view(name) : std::string_view());
  }
}

const char* xcoro_name(const xcoro_coro* c) noexcept {
  // The record keeps the name NUL-terminated.
  return c != nullptr ? to_coro(c)->name().data() : "";
}

size_t xcoro_remaining_stack(void) noexcept {
  return remaining_stack_size();
}

void xcoro_init_env(xcoro_executor* ex, size_t default_stack_size) noexcept {
  env e = get_env();
  e.executor = reinterpret_cast<executor*>(ex);
  e.default_stack_size = default_stack_size;
  init_env(e);
}

int xcoro_yield(const void* value, void* injected) noexcept {
  c_frame* s = nullptr;
  if (int r = running_generator(s); r != XCORO_OK) {
    return r;
  }
  if ((value == nullptr && s->yield_size > 0) || (injected == nullptr && s->inject_size > 0)) {
    return XCORO_EINVAL;
  }
  if (s->yield_size > 0) {
    std::memcpy(s->yield_slot(), value, s->yield_size);
  }
  s->yielded = true;
  if (int r = xcoro_suspend(); r != XCORO_OK) {
    s->yielded = false;
    return r;
  }
  if (s->inject_size > 0) {
    std::memcpy(injected, s->inject_slot(), s->inject_size);
  }
  return XCORO_OK;
}

int xcoro_next(xcoro_coro* g, const void* inject, void* out) noexcept {
  coro* f = to_coro(g);
  c_frame* s = f != nullptr ? c_frame_of(f) : nullptr;
  if (s == nullptr || !s->generator) {
    return XCORO_EINVAL;
  }
  if (f->status() == status::done) {
    return XCORO_EDONE;
  }
  bool first = f->status() == status::start;
  if ((!first && inject == nullptr && s->inject_size > 0) ||
      (out == nullptr && s->yield_size > 0)) {
    return XCORO_EINVAL;
  }
  if (!first && s->inject_size > 0) {
    std::memcpy(s->inject_slot(), inject, s->inject_size);
  }
  s->yielded = false;
  if (int r = xcoro_resume(g); r != XCORO_OK) {
    return r;
  }
  if (s->yielded) {
    s->yielded = false;
    if (s->yield_size > 0) {
      std::memcpy(out, s->yield_slot(), s->yield_size);
    }
    return XCORO_YIELDED;
  }
  if (f->status() == status::done) {
    return s->outcome < 0 ? s->outcome : XCORO_RETURNED;
  }
  // Suspended without yielding (a plain xcoro_suspend, or a blocking call): nothing to
  // read; the caller resumes it again with xcoro_next or lets the executor do it.
  return XCORO_EAGAIN;
}

int xcoro_executor_create(xcoro_executor** out) noexcept {
  return new_handle(reinterpret_cast<executor**>(out), "xcoro_executor_create");
}

void xcoro_executor_destroy(xcoro_executor* ex) noexcept {
  delete reinterpret_cast<executor*>(ex);
}

static_assert(sizeof(xcoro_func) == sizeof(executor::func) &&
                  offsetof(xcoro_func, fn) == offsetof(executor::func, fn) &&
                  offsetof(xcoro_func, userdata) == offsetof(executor::func, userdata) &&
                  offsetof(xcoro_func, next) == offsetof(executor::func, next),
              "xcoro_func must mirror executor::func");

int xcoro_executor_run_soon(xcoro_executor* ex, xcoro_func* f) noexcept {
  if (ex == nullptr || f == nullptr || f->fn == nullptr) {
    return XCORO_EINVAL;
  }
  return guarded("xcoro_executor_run_soon", [&] {
    reinterpret_cast<executor*>(ex)->run_soon(*reinterpret_cast<executor::func*>(f));
    return XCORO_OK;
  });
}

int xcoro_executor_tick(xcoro_executor* ex) noexcept {
  if (ex == nullptr) {
    return XCORO_EINVAL;
  }
  return guarded("xcoro_executor_tick",
                 [&] { return reinterpret_cast<executor*>(ex)->tick() ? 1 : 0; });
}

int xcoro_executor_empty(const xcoro_executor* ex) noexcept {
  if (ex == nullptr) {
    return XCORO_EINVAL;
  }
  return reinterpret_cast<const executor*>(ex)->empty() ? 1 : 0;
}

}  // extern "C"
