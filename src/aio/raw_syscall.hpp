// The system calls of the epoll backend's hot path, made without glibc's wrappers.
//
// recv, send, read, write, accept4, recvmsg, sendmsg and epoll_wait are POSIX cancellation
// points. In a process with more than one thread (a runtime's workers, the stall watchdog,
// the file thread pool), glibc's wrapper for each of them switches the thread to
// asynchronous cancellation around the call and back (__pthread_enable_asynccancel and
// __pthread_disable_asynccancel): measured under callgrind, about 120 instructions of a
// one-connection echo round trip of 1,120 on a one-worker runtime. xcoro never uses thread
// cancellation (a cancelled thread would abandon its coroutines' stacks), so the loop makes
// these calls through syscall(2), which is not a cancellation point. The results and errno
// are the wrappers'.
//
// Under AddressSanitizer and ThreadSanitizer the wrappers stay: their interceptors check
// the buffers the kernel reads and writes, which a raw system call would hide from them.
#pragma once

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <ctime>
#include <type_traits>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define XCORO_RAW_SYSCALLS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define XCORO_RAW_SYSCALLS 0
#endif
#endif
#if !defined(XCORO_RAW_SYSCALLS)
#define XCORO_RAW_SYSCALLS 1
#endif

namespace xcoro::aio::detail::raw {

#if XCORO_RAW_SYSCALLS

#if defined(__x86_64__)
/// The system call instruction, inlined: the variadic syscall(3) function costs more than
/// the single-thread path of glibc's wrappers, which would slow the loop of a program
/// without threads. Returns the result, or -1 with errno set, as the wrappers do.
inline long call6(long n, long a1, long a2, long a3, long a4 = 0, long a5 = 0,
                  long a6 = 0) noexcept {
  long ret;
  register long r10 __asm__("r10") = a4;
  register long r8 __asm__("r8") = a5;
  register long r9 __asm__("r9") = a6;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(n), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  if (static_cast<unsigned long>(ret) > static_cast<unsigned long>(-4096L)) [[unlikely]] {
    errno = static_cast<int>(-ret);
    return -1;
  }
  return ret;
}
#define XCORO_SYSCALL(n, ...) ::xcoro::aio::detail::raw::call6(n, __VA_ARGS__)
#else
#define XCORO_SYSCALL(n, ...) ::syscall(n, __VA_ARGS__)
#endif

/// An argument as the system call takes it: a long.
template <class T>
inline long arg(T v) noexcept {
  if constexpr (std::is_pointer_v<T>) {
    return reinterpret_cast<long>(v);
  } else {
    return static_cast<long>(v);
  }
}

inline ssize_t recv(int fd, void* buf, std::size_t len, int flags) noexcept {
  return XCORO_SYSCALL(SYS_recvfrom, arg(fd), arg(buf), arg(len), arg(flags), 0L, 0L);
}
inline ssize_t send(int fd, const void* buf, std::size_t len, int flags) noexcept {
  return XCORO_SYSCALL(SYS_sendto, arg(fd), arg(buf), arg(len), arg(flags), 0L, 0L);
}
inline ssize_t recvmsg(int fd, msghdr* msg, int flags) noexcept {
  return XCORO_SYSCALL(SYS_recvmsg, arg(fd), arg(msg), arg(flags));
}
inline ssize_t sendmsg(int fd, const msghdr* msg, int flags) noexcept {
  return XCORO_SYSCALL(SYS_sendmsg, arg(fd), arg(msg), arg(flags));
}
inline ssize_t read(int fd, void* buf, std::size_t len) noexcept {
  return XCORO_SYSCALL(SYS_read, arg(fd), arg(buf), arg(len));
}
inline ssize_t write(int fd, const void* buf, std::size_t len) noexcept {
  return XCORO_SYSCALL(SYS_write, arg(fd), arg(buf), arg(len));
}
inline ssize_t pread(int fd, void* buf, std::size_t len, off_t offset) noexcept {
  return XCORO_SYSCALL(SYS_pread64, arg(fd), arg(buf), arg(len), arg(offset));
}
inline ssize_t pwrite(int fd, const void* buf, std::size_t len, off_t offset) noexcept {
  return XCORO_SYSCALL(SYS_pwrite64, arg(fd), arg(buf), arg(len), arg(offset));
}
inline int accept4(int fd, sockaddr* addr, socklen_t* len, int flags) noexcept {
  return static_cast<int>(XCORO_SYSCALL(SYS_accept4, arg(fd), arg(addr), arg(len), arg(flags)));
}
/// epoll_pwait2 without a signal mask; -1 with ENOSYS where the kernel lacks it.
inline int epoll_pwait2(int epfd, epoll_event* events, int max, const timespec* timeout) noexcept {
#if defined(SYS_epoll_pwait2)
  return static_cast<int>(
      XCORO_SYSCALL(SYS_epoll_pwait2, arg(epfd), arg(events), arg(max), arg(timeout), 0L, 0L));
#else
  (void)epfd, (void)events, (void)max, (void)timeout;
  errno = ENOSYS;
  return -1;
#endif
}
/// epoll_wait, as epoll_pwait without a signal mask (the only form every architecture has).
inline int epoll_wait(int epfd, epoll_event* events, int max, int timeout_ms) noexcept {
  return static_cast<int>(
      XCORO_SYSCALL(SYS_epoll_pwait, arg(epfd), arg(events), arg(max), arg(timeout_ms), 0L, 0L));
}

#else

inline ssize_t recv(int fd, void* buf, std::size_t len, int flags) noexcept {
  return ::recv(fd, buf, len, flags);
}
inline ssize_t send(int fd, const void* buf, std::size_t len, int flags) noexcept {
  return ::send(fd, buf, len, flags);
}
inline ssize_t recvmsg(int fd, msghdr* msg, int flags) noexcept {
  return ::recvmsg(fd, msg, flags);
}
inline ssize_t sendmsg(int fd, const msghdr* msg, int flags) noexcept {
  return ::sendmsg(fd, msg, flags);
}
inline ssize_t read(int fd, void* buf, std::size_t len) noexcept { return ::read(fd, buf, len); }
inline ssize_t write(int fd, const void* buf, std::size_t len) noexcept {
  return ::write(fd, buf, len);
}
inline ssize_t pread(int fd, void* buf, std::size_t len, off_t offset) noexcept {
  return ::pread(fd, buf, len, offset);
}
inline ssize_t pwrite(int fd, const void* buf, std::size_t len, off_t offset) noexcept {
  return ::pwrite(fd, buf, len, offset);
}
inline int accept4(int fd, sockaddr* addr, socklen_t* len, int flags) noexcept {
  return ::accept4(fd, addr, len, flags);
}
inline int epoll_pwait2(int epfd, epoll_event* events, int max, const timespec* timeout) noexcept {
  return ::epoll_pwait2(epfd, events, max, timeout, nullptr);
}
inline int epoll_wait(int epfd, epoll_event* events, int max, int timeout_ms) noexcept {
  return ::epoll_wait(epfd, events, max, timeout_ms);
}

#endif

}  // namespace xcoro::aio::detail::raw

#undef XCORO_SYSCALL
