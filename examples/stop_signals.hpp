// How the example servers stop when they serve until killed: on SIGINT or SIGTERM, through
// an aio::signal_set (the default action of those signals would end the process at once).
#pragma once

#include <csignal>
#include <cstdio>

#include <xcoro/aio.hpp>

namespace stop_signals {

namespace aio = xcoro::aio;

/// The signals that stop a server serving until killed: made before the server says it is
/// listening, so that whoever waits for that line can stop it at once.
inline xcoro::result<aio::signal_set> make() {
  auto sigs = aio::signal_set::create(nullptr, {SIGINT, SIGTERM});
  if (!sigs) {
    std::fprintf(stderr, "signal_set: %s\n", sigs.error().message().c_str());
  }
  return sigs;
}

/// Waits until SIGINT or SIGTERM arrives, and says so.
inline void wait(aio::signal_set& sigs) {
  if (auto s = sigs.wait()) {
    std::printf("%s: shutting down\n", *s == SIGINT ? "SIGINT" : "SIGTERM");
  } else {
    std::printf("waiting for a signal: %s; shutting down\n", s.error().message().c_str());
  }
  std::fflush(stdout);
}

}  // namespace stop_signals
