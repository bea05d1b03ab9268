// Name resolution for coroutines: getaddrinfo on a small process-wide thread pool, the
// answer delivered to the asking coroutine's loop, with timeouts and cancellation. See
// docs/io.md, "Name resolution".
#pragma once

#include "xcoro/config.hpp"

#if XCORO_WITH_AIO

#include <cstdint>
#include <string_view>
#include <system_error>
#include <vector>

#include "xcoro/aio.hpp"
#include "xcoro/export.hpp"
#include "xcoro/result.hpp"

namespace xcoro::aio {

/// The category of getaddrinfo's errors (EAI_* values, such as EAI_AGAIN for a resolver
/// that cannot be reached), named "xcoro.resolve"; messages come from gai_strerror.
/// EAI_MEMORY compares equal to std::errc::not_enough_memory and EAI_AGAIN to
/// std::errc::resource_unavailable_try_again. A name that does not exist (EAI_NONAME,
/// EAI_NODATA) is not in this category: it is errc::host_not_found itself, and EAI_SYSTEM
/// is the errno it carries, of std::system_category().
XCORO_EXPORT const std::error_category& resolve_category() noexcept;

/// Every TCP address of `host` for `port`, in the order getaddrinfo returns them (RFC 6724:
/// the preferred first), duplicates dropped. Resolution is the C library's, as for every
/// other program on the machine: /etc/hosts, nsswitch.conf's modules, DNS.
///
/// A numeric host ("127.0.0.1", "::1", "fe80::1%eth0") is parsed at once, on the calling
/// thread. Any other name is looked up by getaddrinfo on a process-wide pool of at most 4
/// threads (more lookups wait in a queue), while the calling coroutine is suspended (from
/// root, the call pumps the loop); the loop is woken when the answer arrives. The lookup
/// itself cannot be interrupted: on a timeout or a cancel the call returns at once and the
/// pool drops the answer when it arrives. No heap allocation but getaddrinfo's and the
/// returned vector. A cancellation point. A child of fork() may resolve on a loop of its
/// own: its first lookup starts a pool for the child (a lookup in flight in the parent at
/// the fork stays the parent's).
///
/// Errors: errc::host_not_found for a name that does not exist or has no address;
/// std::errc::timed_out (a timeout of 0 or less returns it without asking the pool;
/// a numeric host needs no time); errc::canceled; std::errc::invalid_argument for an
/// empty host, one longer than 255 bytes or one holding a '\0'; resolve_category()
/// errors (EAI_AGAIN: the resolver cannot be reached); std::errc::resource_unavailable_try_again
/// if no pool thread could be started. `ex` nullptr: the env executor (inside a runtime, the
/// worker the call runs on).
XCORO_EXPORT result<std::vector<endpoint>> resolve(executor* ex, std::string_view host,
                                                   std::uint16_t port);
XCORO_EXPORT result<std::vector<endpoint>> resolve(executor* ex, std::string_view host,
                                                   std::uint16_t port, milliseconds timeout);

namespace detail {
/// Test seam, not for programs: when `hook` is not null, each pool thread calls it with
/// the host name before each getaddrinfo (a test makes lookups slow by blocking in it).
/// Thread-safe.
XCORO_EXPORT void set_resolve_hook(void (*hook)(const char* host)) noexcept;
}  // namespace detail

}  // namespace xcoro::aio

#endif  // XCORO_WITH_AIO
