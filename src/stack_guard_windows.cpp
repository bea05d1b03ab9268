// Stack-overflow reporting on Windows: a vectored exception handler that turns an
// overflow of the running coroutine's stack into "xcoro: stack overflow in coroutine
// <name> (id N)" and ends the process the way an overflow of a thread's stack does.
//
// The handler runs on the overflowing stack itself, in the pages the guard page keeps
// free below it (src/stack_memory_windows.cpp), so it formats by hand and writes with
// WriteFile. Exceptions that are not about the running coroutine's stack go on to the
// next handler.
#include <windows.h>

#include <cstdint>
#include <mutex>

#include "stack_guard.hpp"
#include "xcoro/coro.hpp"

namespace xcoro::detail::stack_guard {
namespace {

// A fault this far below a coroutine's stack counts as an overflow of it: the no-access
// page, or a frame large enough to jump over it.
constexpr std::uintptr_t overflow_window = 64 * 1024;
// How far above the bottom of the stack the guard page may sit (reserve and guard pages).
constexpr std::uintptr_t guard_window = 16 * 1024;

[[noreturn]] void report_overflow(coro* c) noexcept {
  char line[160];
  std::size_t n = format_overflow(c, line, sizeof line);
  DWORD written = 0;
  WriteFile(GetStdHandle(STD_ERROR_HANDLE), line, static_cast<DWORD>(n), &written, nullptr);
  TerminateProcess(GetCurrentProcess(), static_cast<UINT>(EXCEPTION_STACK_OVERFLOW));
  for (;;) {
  }
}

LONG CALLBACK on_exception(EXCEPTION_POINTERS* info) noexcept {
  const EXCEPTION_RECORD* rec = info->ExceptionRecord;
  std::uintptr_t addr = 0;
  switch (rec->ExceptionCode) {
    case EXCEPTION_STACK_OVERFLOW:
      addr = static_cast<std::uintptr_t>(info->ContextRecord->Rsp);
      break;
    case EXCEPTION_ACCESS_VIOLATION:
    case EXCEPTION_GUARD_PAGE:
      addr = static_cast<std::uintptr_t>(rec->ExceptionInformation[1]);
      break;
    default:
      return EXCEPTION_CONTINUE_SEARCH;
  }
  coro* c = tls.running_coroutine();
  if (c != nullptr) {
    auto lo = reinterpret_cast<std::uintptr_t>(coro_access::stack_lo(c));
    if (addr < lo + guard_window && addr + overflow_window >= lo) {
      report_overflow(c);
    }
  }
  return EXCEPTION_CONTINUE_SEARCH;
}

}  // namespace

void thread_init() noexcept {
  static std::once_flag once;
  std::call_once(once, [] { AddVectoredExceptionHandler(1, &on_exception); });
}

}  // namespace xcoro::detail::stack_guard
