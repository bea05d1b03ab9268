// How long a blocking poll spins before it sleeps (loop_options::busy_poll and
// busy_poll_adaptive). The backends do the spinning; this only decides its length, from
// what the loop's recent sleeps looked like. See docs/aio.md, "Busy polling".
#pragma once

#include <algorithm>
#include <cstdint>

namespace xcoro::aio::detail {

/// The spin window of one loop.
///
/// Fixed: always the configured limit (0: never spin).
///
/// Adaptive: starts closed. A sleep that ended soon after it began (within twice the
/// limit: on a VM most of such a sleep is the wake-up itself) says a spin would have caught
/// that completion, so the window opens (first_ns, then doubling, up to the limit). A
/// sleep that lasted longer says the loop is idle at this rate, and closes the window. So
/// an idle loop spins at most once per idle spell, and a loop serving a slow trickle of
/// requests spins at most first_ns per request (a wait that completes a send inline looks
/// like a short sleep and opens the window; the long wait for the next request finds
/// nothing in first_ns and closes it). A spin that caught its completion changes nothing:
/// the window is earning its keep.
class busy_poll_window {
 public:
  static constexpr std::int64_t first_ns = 5'000;

  busy_poll_window() noexcept = default;
  busy_poll_window(std::int64_t limit_ns, bool adaptive) noexcept
      : limit_ns_(limit_ns), adaptive_(adaptive && limit_ns > 0),
        window_ns_(adaptive_ ? 0 : limit_ns) {}

  /// How long the next blocking poll may spin (unless a timer is due sooner).
  std::int64_t window_ns() const noexcept { return window_ns_; }
  /// Whether sleeps must be timed and reported through slept().
  bool adaptive() const noexcept { return adaptive_; }

  /// A blocking poll found nothing while spinning (or did not spin) and slept `ns`.
  void slept(std::int64_t ns) noexcept {
    if (!adaptive_) {
      return;
    }
    if (ns > 2 * limit_ns_) {
      window_ns_ = 0;
    } else {
      window_ns_ = window_ns_ == 0 ? std::min(first_ns, limit_ns_)
                                   : std::min(2 * window_ns_, limit_ns_);
    }
  }

 private:
  std::int64_t limit_ns_ = 0;
  bool adaptive_ = false;
  std::int64_t window_ns_ = 0;
};

}  // namespace xcoro::aio::detail
