// Typed-frame storage: the callable and its arguments, the yield / inject / return slots
// and a captured exception, placed on the coroutine's stack just below its record.
#pragma once

#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <new>
#include <tuple>
#include <type_traits>
#include <utility>

#include "xcoro/detail/coro_record.hpp"

namespace xcoro::detail {

/// Storage for one T whose lifetime is managed by hand; empty for void.
template <class T>
struct manual {
  alignas(T) unsigned char bytes[sizeof(T)];
  template <class... A>
  void emplace(A&&... a) {
    ::new (static_cast<void*>(bytes)) T(std::forward<A>(a)...);
  }
  T& get() noexcept { return *std::launder(reinterpret_cast<T*>(bytes)); }
  void destroy() noexcept { get().~T(); }
};
template <>
struct manual<void> {};

/// A string naming a type, stable within one binary and comparable across binaries.
template <class Yield, class Inject>
const char* yield_inject_tag() noexcept {
  return __PRETTY_FUNCTION__;
}

/// slot bits of frame_storage_base::slots.
enum : std::uint8_t {
  slot_call = 1,       // the callable and its arguments are alive
  slot_yield = 2,      // a yielded value waits to be taken
  slot_inject = 4,     // an injected value waits to be taken
  slot_return = 8,     // the return value is alive
  slot_error = 16,     // the coroutine ended with an exception
  slot_taken = 32,     // a move-only return value was moved out
  slot_seen = 64,      // the exception was rethrown to someone (xawait, xnext, ...)
};

/// The type-erased part of a typed frame's storage.
struct frame_storage_base {
  const char* tag = nullptr;                     // yield_inject_tag<Yield, Inject>()
  void (*destroy)(frame_storage_base*) noexcept = nullptr;  // destroys the whole storage
  std::uint8_t slots = 0;
#if defined(__cpp_exceptions)
  std::exception_ptr error;
#endif
};

/// True if two yield_inject_tag strings name the same types.
inline bool same_tag(const char* a, const char* b) noexcept {
  return a == b || std::strcmp(a, b) == 0;
}

/// The slots xyield touches; they depend on Yield and Inject only, not on R.
template <class Yield, class Inject>
struct yield_slots : frame_storage_base {
  manual<Yield> yielded;
  manual<Inject> injected;
};

/// All slots of a frame typed on R, Yield and Inject.
template <class R, class Yield, class Inject>
struct frame_slots : yield_slots<Yield, Inject> {
  manual<R> returned;

  void destroy_slots() noexcept {
    std::uint8_t& slots = this->slots;
    if constexpr (!std::is_void_v<Yield>) {
      if (slots & slot_yield) {
        this->yielded.destroy();
      }
    }
    if constexpr (!std::is_void_v<Inject>) {
      if (slots & slot_inject) {
        this->injected.destroy();
      }
    }
    if constexpr (!std::is_void_v<R>) {
      if ((slots & slot_return) && !(slots & slot_taken)) {
        returned.destroy();
      }
    }
    slots &= static_cast<std::uint8_t>(~(slot_yield | slot_inject | slot_return));
  }
};

/// The full storage: slots plus the decayed callable and arguments (zigcoro's args tuple,
/// stored by value).
template <class R, class Yield, class Inject, class Fn, class... Args>
struct frame_storage final : frame_slots<R, Yield, Inject> {
  using call_type = std::tuple<Fn, Args...>;
  manual<call_type> call;

  void destroy_call() noexcept {
    if (this->slots & slot_call) {
      this->slots &= static_cast<std::uint8_t>(~slot_call);
      call.destroy();
    }
  }

  static void destroy_all(frame_storage_base* b) noexcept {
    auto* s = static_cast<frame_storage*>(b);
    s->destroy_call();
    s->destroy_slots();
    s->~frame_storage();
  }

  /// The coroutine's body: runs on its own stack, never lets an exception escape.
  static void run(coro* c) noexcept {
    auto* s = static_cast<frame_storage*>(coro_access::frame(c));
#if defined(__cpp_exceptions)
    try {
#endif
      if constexpr (std::is_void_v<R>) {
        std::apply([](auto&&... a) { std::invoke(std::move(a)...); }, std::move(s->call.get()));
      } else {
        s->returned.emplace(std::apply(
            [](auto&&... a) -> R { return std::invoke(std::move(a)...); },
            std::move(s->call.get())));
      }
      s->slots |= slot_return;
#if defined(__cpp_exceptions)
    } catch (const xcoro::forced_unwind&) {
      // The frame_t is being destroyed: the stack has been unwound, nothing to report.
    } catch (...) {
      s->error = std::current_exception();
      s->slots |= slot_error;
    }
#endif
    s->destroy_call();
  }
};

}  // namespace xcoro::detail
