// The coroutine record (class coro) and the per-thread state, which the inline switch
// paths in coro.hpp need to see. Layout notes are in docs/design.md.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <string_view>

#include "xcoro/detail/wait_kind.hpp"
#include "xcoro/detail/wait_list.hpp"
#include "xcoro/export.hpp"

namespace xcoro {

/// Where a coroutine is in its life. `start` → (first resume) `active` ⇄ `suspended` →
/// `done`. A coroutine that resumed another one is `suspended` until control comes back.
enum class status : std::uint8_t { start, active, suspended, done };

class coro;
class stack_allocator;

/// What happened to a coroutine (see set_trace_hook in <xcoro/trace.hpp>).
enum class trace_event : std::uint8_t {
  create,   ///< made (xasync / frame_t::init); `other` is the creating coroutine
  resume,   ///< switched into by xresume; `other` is the resumer
  suspend,  ///< switched out by xsuspend; `other` is where control goes
  finish,   ///< its function returned (or was unwound); `other` is where control goes
  destroy,  ///< its frame_t let go of it; the record is gone after the hook returns
  adopt,    ///< made on another thread and handed to this one (a runtime's spawn), which
            ///< takes it before it first runs; `other` is this thread's running coroutine
};

/// Thrown out of a suspended coroutine's `xsuspend`/`xyield` when its `frame_t` is
/// destroyed, so that the coroutine's stack unwinds and its destructors run. User code
/// must not swallow it: a `catch (...)` has to rethrow. Deliberately not derived from
/// std::exception.
class forced_unwind {
 public:
  explicit forced_unwind(coro* c) noexcept : coro_(c) {}
  /// The coroutine being unwound.
  coro* frame() const noexcept { return coro_; }

 private:
  coro* coro_;
};

namespace detail {

/// Mirrors the C++ runtime's per-thread exception globals (`__cxa_eh_globals` in
/// libstdc++ and libc++abi): the caught-exception stack and the uncaught count.
struct eh_state {
  void* caught = nullptr;
  unsigned int uncaught = 0;
};

struct thread_state;
struct frame_storage_base;
struct coro_access;

/// Where the switch finds the saved context in a record (see class coro).
struct context_offsets {
  static constexpr std::size_t sp = 0;
  static constexpr std::size_t pc = 8;
  static constexpr std::size_t fp = 16;
  static constexpr std::size_t bx = 24;
  static constexpr std::size_t fp_control = 32;
  static constexpr std::size_t fp_control2 = 36;
};

/// A pending suspend block: set by xsuspend_block, run on the resumer's side.
struct suspend_block_base {
  void (*run)(suspend_block_base*) = nullptr;
};

/// coro::flags_ bits.
enum : std::uint8_t {
  flag_unwind = 1,    // destroying frame_t asked this coroutine to unwind its stack
  flag_canary = 2,    // a canary word sits at the stack's lowest address
  flag_eh = 4,        // eh_ holds exception globals saved at the last switch out
  flag_root = 8,      // the thread's root coroutine (set by thread_init)
  flag_cancel = 16,   // cancel() was called on it (docs/cancel.md); never cleared
  flag_cancel_pending = 32,  // flag_cancel and no cancel_shield alive: blocking calls end
  flag_drain = 64,    // its frame_t was destroyed without exceptions: cancelled, shields or
                      // not, and resumed until it finishes (docs/cancel.md)
};

inline constexpr std::uint64_t canary_value = 0x5E574D6D5E574D6Dull;
inline constexpr std::size_t max_name_length = 31;

}  // namespace detail

/// The control block of one coroutine. It lives at the high end of the coroutine's own
/// stack, so a coroutine costs one allocation. Handles to it are `xcoro::frame` (a
/// `coro*`); it is neither copied nor created by users.
class alignas(64) coro {
 public:
  coro(const coro&) = delete;
  coro& operator=(const coro&) = delete;

  /// The coroutine's status. Any thread that owns it may call this.
  xcoro::status status() const noexcept { return status_; }
  /// Sets the coroutine-local user pointer (zigcoro storage). xcoro never reads it.
  void set_storage(void* p) noexcept { storage_ = p; }
  /// The user pointer set by set_storage, cast to T*; nullptr until set.
  template <class T>
  T* get_storage() const noexcept {
    return static_cast<T*>(storage_);
  }
  /// Root is 0; coroutines are numbered 1, 2, ... per thread in creation order.
  std::uint64_t id() const noexcept { return id_; }
  /// How many times control has switched into this coroutine (zigcoro id.invocation).
  std::uint64_t invocation() const noexcept { return invocation_; }
  /// The name given by set_name, or "".
  std::string_view name() const noexcept { return std::string_view(name_); }
  /// Copies `n` into the record, truncated to 31 bytes. Names appear in abort messages.
  void set_name(std::string_view n) noexcept {
    std::size_t len = n.size() < detail::max_name_length ? n.size() : detail::max_name_length;
    if (len != 0) {  // an empty view may have a null data(), which memcpy must not get
      std::memcpy(name_, n.data(), len);
    }
    name_[len] = '\0';
  }

 private:
  friend struct detail::coro_access;
  friend struct detail::thread_state;
  constexpr coro() noexcept : name_{} {}
  // For a new coroutine: the name only needs its terminator, and zeroing all 32 bytes
  // shows up in xasync's cost.
  explicit coro(std::nullptr_t) noexcept { name_[0] = '\0'; }

  // First cache line: everything a switch reads or writes. The saved execution context
  // comes first; the switch (detail/switch_x86_64.hpp, src/arch/*.S) addresses it by the
  // offsets in detail::context_offsets.
  void* sp_ = nullptr;                  // saved stack pointer while switched out
  void* pc_ = nullptr;                  // where it continues
  void* fp_ = nullptr;                  // saved frame pointer (rbp)
  void* bx_ = nullptr;                  // saved rbx: clang's base pointer in functions with
                                        // over-aligned locals and VLAs, so never clobbered
  std::uint32_t fp_control_ = 0;        // MXCSR
  std::uint16_t fp_control2_ = 0;       // x87 control word
  xcoro::status status_ = xcoro::status::start;
  std::uint8_t flags_ = 0;
  coro* resumer_ = nullptr;             // most recent resumer: xsuspend goes there
  std::uint64_t invocation_ = 0;        // switches into this coroutine
  detail::thread_state* owner_ = nullptr;  // the thread that created it

  // Cold part: creation, completion and diagnostics.
  std::uint64_t id_ = 0;
  detail::eh_state eh_{};               // exception globals while switched out (flag_eh)
  coro* starter_ = nullptr;             // first resumer: a finished coroutine returns there
  coro* first_child_ = nullptr;         // unfinished coroutines whose starter is this one
  coro* prev_sibling_ = nullptr;
  coro* next_sibling_ = nullptr;
  void* storage_ = nullptr;             // user pointer (set_storage)
  detail::frame_storage_base* frame_ = nullptr;  // typed-frame storage below the record
  void (*entry_)(coro*) = nullptr;      // typed trampoline run on the coroutine's stack
  std::byte* stack_lo_ = nullptr;       // the whole stack: [stack_lo_, stack_lo_ + size)
  std::size_t stack_size_ = 0;
  stack_allocator* allocator_ = nullptr;  // non-null: the stack is owned and freed here
  detail::wait_queue awaiters_;         // coroutines other than the starter in xawait
  const detail::wait_kind* wait_kind_ = nullptr;  // the blocking call it waits in, or nullptr
  void* wait_ctx_ = nullptr;            // that wait's context (detail/wait_kind.hpp)
  void* sanitizer_fiber_ = nullptr;     // ThreadSanitizer's fiber for this coroutine
  coro* prev_live_ = nullptr;           // every record of the thread, for reports and gdb
  coro* next_live_ = nullptr;
  unsigned valgrind_stack_ = 0;         // Valgrind's id for this stack
  std::uint32_t shields_ = 0;           // cancel_shield objects alive in this coroutine
  bool handed_off_ = false;             // made on one thread to run on another (runtime
                                        // spawn): written before the hand-off, then only
                                        // read; see coro_hand_off
  // The hand-off word of a handed-off coroutine: free, held (handoff_held) by a thread
  // that adopts it, publishes its end, registers an awaiter or looks at it from another
  // thread, or handoff_published once it finished and its awaiters were told, after which
  // nothing writes the record. Only through coro_access's atomic accessors (src/coro.cpp).
  std::uint8_t handoff_ = 0;
  char name_[detail::max_name_length + 1];
  // A runtime's spawn: set on the spawning thread before the hand-off, then only read. A
  // cancel of the spawner reaches the coroutines it spawned through them (src/runtime.cpp,
  // post_cancel_spawned), since they run from their worker's root, not below it.
  bool spawned_any_ = false;            // this coroutine spawned some (runtime spawn)
  coro* spawner_ = nullptr;             // the coroutine that spawned this one, and its id
  std::uint64_t spawner_id_ = 0;
};

namespace detail {

/// Per-thread coroutine state: the root coroutine, the running one, id counter.
/// Constant-initialised so that accesses need no TLS init guard.
struct thread_state {
  constexpr thread_state() noexcept {}

  coro* current = nullptr;              // nullptr until root first switches away
  suspend_block_base* pending_block = nullptr;
  eh_state* eh = nullptr;               // this thread's exception globals
  std::uint64_t last_id = 0;
  bool ready = false;                   // thread_init has run
  bool report_unfinished = false;       // list unfinished coroutines at thread exit
  void (*trace)(trace_event event, coro* subject, coro* other, void* user) noexcept = nullptr;
  void* trace_user = nullptr;
  coro* live = nullptr;                 // head of the list of every record of the thread
  coro* finished_handed_off = nullptr;  // handed-off coroutines that finished here, not yet
                                        // published (coro_publish_finished)
  void* worker = nullptr;               // the runtime worker this thread is, opaque here
                                        // (src/runtime.cpp), or nullptr
  int worker_index = -1;                // that worker's index, or -1: for debuggers, which
                                        // cannot see the opaque type (share/gdb/xcoro.py)
  void* shared_lock = nullptr;          // identifies the runtime this thread is a worker
                                        // of (task_group compares it), or nullptr
  coro root;

  coro* cur() noexcept { return current != nullptr ? current : &root; }
  /// The running coroutine, or nullptr in root. Reads the record's flags rather than
  /// comparing with &root, which would cost a TLS address computation (and a register).
  coro* running_coroutine() const noexcept {
    return current != nullptr && !(current->flags_ & flag_root) ? current : nullptr;
  }
};

// With g++ on x86-64, UBSan's null check of &tls (-fsanitize=null, part of undefined) at -O1
// and above tests the flags that the initial-exec access `add tls@gottpoff(%rip), %reg`
// left, instead of a test of its own. Linking an executable, ld relaxes that add to
// `lea tls@tpoff(%reg), %reg`, which sets no flags, so the check reads whatever an earlier
// instruction left and reports "member access within null pointer of type thread_state"
// where there is none. The global-dynamic sequence ends in a call, after which GCC must
// test the address itself. Only sanitized builds take it (CMake's XCORO_SANITIZE defines
// XCORO_SANITIZE_NULL; define it when adding -fsanitize=undefined by hand): it costs the
// caller-saved registers of that call at each access, and every null check stays on.
#if defined(XCORO_SANITIZE_NULL) && defined(__GNUC__) && !defined(__clang__) && \
    defined(__x86_64__)
#define XCORO_TLS_MODEL __attribute__((tls_model("global-dynamic")))
#else
#define XCORO_TLS_MODEL
#endif
XCORO_EXPORT extern thread_local constinit thread_state tls XCORO_TLS_MODEL;

/// Accessors for the library's own code; not for users.
struct coro_access {
  static void*& sp(coro* c) noexcept { return c->sp_; }
  static void*& pc(coro* c) noexcept { return c->pc_; }
  static void*& fp(coro* c) noexcept { return c->fp_; }
  static void*& bx(coro* c) noexcept { return c->bx_; }
  static std::uint32_t& fp_control(coro* c) noexcept { return c->fp_control_; }
  static std::uint16_t& fp_control2(coro* c) noexcept { return c->fp_control2_; }
  static coro*& resumer(coro* c) noexcept { return c->resumer_; }
  static coro*& starter(coro* c) noexcept { return c->starter_; }
  static std::uint64_t& invocation(coro* c) noexcept { return c->invocation_; }
  static eh_state& eh(coro* c) noexcept { return c->eh_; }
  static thread_state*& owner(coro* c) noexcept { return c->owner_; }
  static std::uint64_t& id(coro* c) noexcept { return c->id_; }
  static status& state(coro* c) noexcept { return c->status_; }
  static std::uint8_t& flags(coro* c) noexcept { return c->flags_; }
  static coro*& first_child(coro* c) noexcept { return c->first_child_; }
  static coro*& prev_sibling(coro* c) noexcept { return c->prev_sibling_; }
  static coro*& next_sibling(coro* c) noexcept { return c->next_sibling_; }
  static frame_storage_base*& frame(coro* c) noexcept { return c->frame_; }
  static void (*&entry(coro* c) noexcept)(coro*) { return c->entry_; }
  static std::byte*& stack_lo(coro* c) noexcept { return c->stack_lo_; }
  static std::size_t& stack_size(coro* c) noexcept { return c->stack_size_; }
  static stack_allocator*& allocator(coro* c) noexcept { return c->allocator_; }
  static wait_queue& awaiters(coro* c) noexcept { return c->awaiters_; }
  static const wait_kind*& waits_in(coro* c) noexcept { return c->wait_kind_; }
  static void*& wait_ctx(coro* c) noexcept { return c->wait_ctx_; }
  /// Records that `c` waits: `k` says how to withdraw the wait, `ctx` is its context.
  static void begin_wait(coro* c, const detail::wait_kind* k, void* ctx) noexcept {
    c->wait_kind_ = k;
    c->wait_ctx_ = ctx;
  }
  static void end_wait(coro* c) noexcept {
    c->wait_kind_ = nullptr;
    c->wait_ctx_ = nullptr;
  }
  static void*& sanitizer_fiber(coro* c) noexcept { return c->sanitizer_fiber_; }
  static coro*& prev_live(coro* c) noexcept { return c->prev_live_; }
  static coro*& next_live(coro* c) noexcept { return c->next_live_; }
  static unsigned& valgrind_stack(coro* c) noexcept { return c->valgrind_stack_; }
  static std::uint32_t& shields(coro* c) noexcept { return c->shields_; }
  static bool& handed_off(coro* c) noexcept { return c->handed_off_; }
  static bool& spawned_any(coro* c) noexcept { return c->spawned_any_; }
  static coro*& spawner(coro* c) noexcept { return c->spawner_; }
  static std::uint64_t& spawner_id(coro* c) noexcept { return c->spawner_id_; }
  /// The hand-off word, read and changed atomically (see handoff_).
  static std::uint8_t& handoff_word(coro* c) noexcept { return c->handoff_; }
  /// Whether a handed-off `c` finished and its awaiters were told: it is then final, and
  /// may be freed by whoever owns its frame.
  static bool finish_published(coro* c) noexcept;
  /// Whether `c`'s blocking calls must return errc::canceled now: a cancel was requested
  /// and no cancel_shield holds it back. One bit in the record's first cache line, kept by
  /// cancel() and the shields, since every blocking call asks.
  static bool cancel_pending(const coro* c) noexcept {
    return (c->flags_ & flag_cancel_pending) != 0;
  }
  static coro* make(void* where) noexcept { return ::new (where) coro(nullptr); }

  // The switch path must touch one cache line of the record, and the assembly addresses
  // the saved context by fixed offsets.
  static_assert(offsetof(coro, owner_) + sizeof(coro::owner_) <= 64, "hot fields exceed a line");
  static_assert(offsetof(coro, sp_) == context_offsets::sp);
  static_assert(offsetof(coro, pc_) == context_offsets::pc);
  static_assert(offsetof(coro, fp_) == context_offsets::fp);
  static_assert(offsetof(coro, bx_) == context_offsets::bx);
  static_assert(offsetof(coro, fp_control_) == context_offsets::fp_control);
  static_assert(offsetof(coro, fp_control2_) == context_offsets::fp_control2);
  static_assert(sizeof(coro) == 320, "docs/design.md gives the record's size: update it too");
};

/// The values of coro::handoff_.
inline constexpr std::uint8_t handoff_free = 0;
inline constexpr std::uint8_t handoff_held = 1;
inline constexpr std::uint8_t handoff_published = 2;

inline bool coro_access::finish_published(coro* c) noexcept {
  return std::atomic_ref<std::uint8_t>(c->handoff_).load(std::memory_order_acquire) ==
         handoff_published;
}

}  // namespace detail
}  // namespace xcoro
