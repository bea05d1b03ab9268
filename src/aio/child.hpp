// What pipes, processes and the reaper share inside aio (never installed).
#pragma once

namespace xcoro::aio::detail {

/// Sets SIGPIPE to ignored, once per process, if its action is the default: a write to a
/// pipe whose reader is gone then fails with EPIPE on both backends (io_uring writes in a
/// kernel worker as well as inline, so blocking the signal per thread would not cover it).
void ignore_sigpipe() noexcept;
/// Whether ignore_sigpipe changed SIGPIPE's action: process::spawn then gives children
/// the default back (an ignored signal stays ignored across exec).
bool sigpipe_ignored_by_xcoro() noexcept;

/// Hands `pidfd` (of a child of this process, not yet reaped) to the process-wide reaper
/// thread, which reaps the child when it exits and closes the pidfd. Never blocks.
/// Falls back to a blocking-free waitid(WNOHANG) and a leaked pidfd only if the thread
/// cannot be started.
void reap_later(int pidfd) noexcept;

}  // namespace xcoro::aio::detail
