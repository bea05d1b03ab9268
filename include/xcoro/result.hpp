// Error codes and result<T>: how xcoro reports failures that are not programming errors.
#pragma once

#include <cstdlib>
#include <new>
#include <system_error>
#include <type_traits>
#include <utility>

#include "xcoro/export.hpp"

namespace xcoro {

/// Errors raised by xcoro itself. OS errors travel as
/// `std::error_code(errno, std::system_category())` instead, and timeouts are
/// `std::errc::timed_out`.
enum class errc {
  stack_too_small = 1,  ///< The stack cannot hold the coroutine record and its storage.
  stack_overflow,       ///< The stack canary was overwritten (checked at suspend points).
  suspend_from_main,    ///< `xsuspend_safe()` was called from the thread's root.
  channel_closed,       ///< A send on a closed channel.
  deadlock,             ///< Nothing can make progress and the coroutine is not finished.
  eof,                  ///< End of stream.
  canceled,             ///< The operation was cancelled.
  host_not_found,       ///< Name resolution: the host name does not exist or has no address.
  /// The TLS handshake failed: a protocol error, an alert from the peer, no common ALPN
  /// protocol, or the peer closed the connection during it.
  tls_handshake_failed,
  /// The TLS peer's certificate did not verify: expired, another name, an unknown CA.
  tls_bad_certificate,
  /// The TLS peer closed the connection without close_notify: what was read may be cut short.
  tls_truncated,
};

/// The error category of `errc`; its name is "xcoro".
XCORO_EXPORT const std::error_category& category() noexcept;

/// Makes an `std::error_code` of category `xcoro::category()`.
XCORO_EXPORT std::error_code make_error_code(errc e) noexcept;

/// Whether `ec` is the xcoro error `e`: `ec` is `make_error_code(e)`, or an error of another
/// category that names `e` as its condition (`ec.default_error_condition()`): a TLS error of
/// `aio::tls_category()` that carries OpenSSL's text compares equal to
/// errc::tls_bad_certificate, for example. Found by argument-dependent lookup, so
/// `r.error() == errc::eof` means this. Errors of the system and generic categories never
/// compare equal to an xcoro error.
inline bool operator==(const std::error_code& ec, errc e) noexcept {
  return ec.category().equivalent(ec.value(),
                                  std::error_condition(static_cast<int>(e), category()));
}

namespace detail {
/// Prints "xcoro: <what>, in <the running coroutine>" on one line of stderr and aborts.
/// Used where a result would be empty-accessed under -fno-exceptions.
[[noreturn]] XCORO_EXPORT void fatal_message(const char* what) noexcept;

/// Throws std::system_error(ec, what), or aborts with a message under -fno-exceptions.
[[noreturn]] inline void throw_error(std::error_code ec, const char* what) {
#if defined(__cpp_exceptions)
  throw std::system_error(ec, what);
#else
  (void)ec;
  fatal_message(what);
#endif
}

struct unexpect_t {
  explicit unexpect_t() = default;
};
}  // namespace detail

/// A value of type T or an `std::error_code`, shaped like C++23 `std::expected<T,
/// std::error_code>`. Converts implicitly from a T, from an `std::error_code` and from an
/// `xcoro::errc`. Move-only T are supported.
template <class T>
class [[nodiscard]] result {
  static_assert(!std::is_reference_v<T>, "result<T&> is not supported");

 public:
  using value_type = T;

  /// A default-constructed result holds a value-initialised T.
  result() requires std::is_default_constructible_v<T> : has_(true) { ::new (&val_) T(); }
  result(const T& v) requires std::is_copy_constructible_v<T> : has_(true) {
    ::new (&val_) T(v);
  }
  result(T&& v) noexcept(std::is_nothrow_move_constructible_v<T>) : has_(true) {
    ::new (&val_) T(std::move(v));
  }
  result(std::error_code ec) noexcept : has_(false) { ::new (&err_) std::error_code(ec); }
  result(errc e) noexcept : result(make_error_code(e)) {}

  result(const result& o) requires std::is_copy_constructible_v<T> : has_(o.has_) {
    if (has_) {
      ::new (&val_) T(o.val_);
    } else {
      ::new (&err_) std::error_code(o.err_);
    }
  }
  result(result&& o) noexcept(std::is_nothrow_move_constructible_v<T>) : has_(o.has_) {
    if (has_) {
      ::new (&val_) T(std::move(o.val_));
    } else {
      ::new (&err_) std::error_code(o.err_);
    }
  }
  result& operator=(const result& o) requires std::is_copy_constructible_v<T> {
    if (this != &o) {
      destroy();
      ::new (this) result(o);
    }
    return *this;
  }
  result& operator=(result&& o) noexcept(std::is_nothrow_move_constructible_v<T>) {
    if (this != &o) {
      destroy();
      ::new (this) result(std::move(o));
    }
    return *this;
  }
  ~result() { destroy(); }

  bool has_value() const noexcept { return has_; }
  explicit operator bool() const noexcept { return has_; }

  /// The value; throws std::system_error(error()) when empty (aborts under -fno-exceptions).
  T& value() & {
    check();
    return val_;
  }
  const T& value() const& {
    check();
    return val_;
  }
  T&& value() && {
    check();
    return std::move(val_);
  }

  /// The error; an empty `std::error_code` when a value is held.
  std::error_code error() const noexcept { return has_ ? std::error_code() : err_; }

  /// Unchecked access, as std::expected. Precondition: has_value().
  T& operator*() & noexcept { return val_; }
  const T& operator*() const& noexcept { return val_; }
  T&& operator*() && noexcept { return std::move(val_); }
  T* operator->() noexcept { return &val_; }
  const T* operator->() const noexcept { return &val_; }

  /// As std::expected: equal to a value if it holds an equal value.
  template <class U>
    requires(!std::is_same_v<std::remove_cvref_t<U>, result> &&
             !std::is_same_v<std::remove_cvref_t<U>, std::error_code> &&
             !std::is_same_v<std::remove_cvref_t<U>, errc> &&
             requires(const T& t, const U& u) { bool(t == u); })
  friend bool operator==(const result& r, const U& v) {
    return r.has_ && bool(r.val_ == v);
  }

 private:
  void check() const {
    if (!has_) {
      detail::throw_error(err_, "xcoro::result::value() on an error");
    }
  }
  void destroy() noexcept {
    if (has_) {
      val_.~T();
    }
  }

  union {
    T val_;
    std::error_code err_;
  };
  bool has_;
};

/// result<void>: success or an `std::error_code`.
template <>
class [[nodiscard]] result<void> {
 public:
  using value_type = void;
  result() noexcept = default;
  result(std::error_code ec) noexcept : err_(ec) {}
  result(errc e) noexcept : err_(make_error_code(e)) {}

  bool has_value() const noexcept { return !err_; }
  explicit operator bool() const noexcept { return !err_; }
  /// Throws std::system_error(error()) when it holds an error (aborts under -fno-exceptions).
  void value() const {
    if (err_) {
      detail::throw_error(err_, "xcoro::result::value() on an error");
    }
  }
  void operator*() const noexcept {}
  std::error_code error() const noexcept { return err_; }

 private:
  std::error_code err_;
};

namespace detail {
/// What a call that runs a function as a child returns (aio::run, with_timeout): the
/// function's result<T> as it is, anything else wrapped in result<>.
template <class R>
struct flat_result {
  using type = result<R>;
};
template <class T>
struct flat_result<result<T>> {
  using type = result<T>;
};
}  // namespace detail

}  // namespace xcoro

template <>
struct std::is_error_code_enum<xcoro::errc> : std::true_type {};
