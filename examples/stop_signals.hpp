// How the example servers stop when they serve until killed: on SIGINT or SIGTERM, through
// an aio::signal_set (the default action of those signals would end the process at once).
#pragma once

#include <csignal>
#include <cstdio>

#include <xcoro/aio.hpp>
#include <xcoro/runtime.hpp>

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

/// A server on a runtime serving until killed: makes the signals and waits for one in a
/// coroutine on a worker of `rt`, calling `announce()` there in between (so that whoever
/// waits for the announcement can stop the server at once). Returns 0, or 1 if the signals
/// could not be made.
template <class Announce>
int wait_on(xcoro::runtime& rt, Announce announce) {
  auto r = rt.block_on([&] {
    auto sigs = make();
    if (!sigs) {
      return 1;
    }
    announce();
    wait(*sigs);
    return 0;
  });
  return r ? *r : 1;
}

}  // namespace stop_signals
