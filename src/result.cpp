// The "xcoro" error category.
#include "xcoro/result.hpp"

#include <string>

namespace xcoro {
namespace {

class category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "xcoro"; }
  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::stack_too_small:
        return "stack too small";
      case errc::stack_overflow:
        return "stack overflow";
      case errc::suspend_from_main:
        return "suspend from the thread's root coroutine";
      case errc::channel_closed:
        return "channel closed";
      case errc::deadlock:
        return "deadlock: nothing can make progress";
      case errc::eof:
        return "end of stream";
      case errc::canceled:
        return "operation canceled";
      case errc::host_not_found:
        return "host not found";
      case errc::tls_handshake_failed:
        return "TLS handshake failed";
      case errc::tls_bad_certificate:
        return "TLS peer certificate did not verify";
      case errc::tls_truncated:
        return "TLS stream truncated: the peer closed without close_notify";
    }
    return "unknown xcoro error";
  }
};

}  // namespace

const std::error_category& category() noexcept {
  static const category_impl c;
  return c;
}

std::error_code make_error_code(errc e) noexcept {
  return std::error_code(static_cast<int>(e), category());
}

}  // namespace xcoro
