// Stack sizes for tests. zigcoro's tests use 4 KiB stacks; sanitizer builds have much
// larger frames (redzones, checks), so there the small stacks grow to keep testing
// behaviour rather than the instrumentation's appetite.
#pragma once

#include <cstddef>

namespace xcoro_test {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool sanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(undefined_behavior_sanitizer)
inline constexpr bool sanitized = true;
#else
inline constexpr bool sanitized = false;
#endif
#else
inline constexpr bool sanitized = false;
#endif

/// ThreadSanitizer gives every coroutine (fiber) its own shadow stack mapping: a hundred
/// thousand of them exceed vm.max_map_count.
#if defined(__SANITIZE_THREAD__)
inline constexpr bool thread_sanitized = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
inline constexpr bool thread_sanitized = true;
#else
inline constexpr bool thread_sanitized = false;
#endif
#else
inline constexpr bool thread_sanitized = false;
#endif

/// True when the test binary runs under qemu-user or wine (cross builds).
#if defined(XCORO_TEST_EMULATED)
inline constexpr bool emulated = true;
#else
inline constexpr bool emulated = false;
#endif

#if defined(_WIN32)
inline constexpr bool windows = true;
#else
inline constexpr bool windows = false;
#endif

/// How many coroutines the "hundred thousand" tests may create here. Windows stacks are
/// committed in full, and wine maps each guard page's protection to a Linux mapping of
/// its own, so a hundred thousand stacks there exceed vm.max_map_count.
inline constexpr int many_coroutines = thread_sanitized || (windows && emulated) ? 10000 : 100000;

/// The death-test style to use: "threadsafe" re-executes the test binary for each death
/// test, which qemu-user cannot do without binfmt_misc; there, plain fork ("fast").
/// (Windows has only one style: a new process for every death test.)
inline const char* death_test_style() noexcept {
  return emulated ? "fast" : "threadsafe";
}

/// Matches a coroutine id in a death test's expected message. GoogleTest's regular
/// expressions are POSIX extended ones on POSIX systems, and its own simple syntax, which
/// has \d but no brackets, on Windows.
#if defined(_WIN32)
#define XCORO_RE_ID "\\d+"
#else
#define XCORO_RE_ID "[0-9]+"
#endif

/// zigcoro's 4 KiB test stack, or 64 KiB under sanitizers.
inline constexpr std::size_t small_stack = sanitized ? 64 * 1024 : 4096;

}  // namespace xcoro_test
