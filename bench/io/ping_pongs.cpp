// libuv's and libxev's ping_pongs with xcoro: P client/server pairs of TCP connections
// over 127.0.0.1, in one process on one thread (as libxev runs it). Each client writes
// "PING", waits for the whole "PONG" and repeats until the time is up; each server side
// reads whole "PING"s and answers "PONG". Reads are accumulated byte by byte against the
// 4-byte message, as libuv's pinger does, so a short read is never miscounted. Prints the
// round trips per second. Usage: ping_pongs [PAIRS] [SECONDS]
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <xcoro/aio.hpp>

namespace aio = xcoro::aio;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr char ping[] = "PING";
constexpr char pong[] = "PONG";
constexpr std::size_t message = 4;

/// Reads exactly one `expect` message; false at end of stream or on a mismatch.
bool read_message(aio::tcp& conn, const char* expect) {
  std::array<char, message> buf;
  std::size_t have = 0;
  while (have < message) {
    auto n = conn.read(std::as_writable_bytes(std::span(buf).subspan(have)));
    if (!n) {
      return false;
    }
    have += *n;
  }
  return std::memcmp(buf.data(), expect, message) == 0;
}

void server(aio::tcp conn) {
  while (read_message(conn, ping)) {
    if (!conn.write_all(std::as_bytes(std::span(pong, message)))) {
      return;
    }
  }
}

void accept_all(aio::tcp* listener, int count) {
  std::vector<xcoro::frame_t<void>> servers;
  for (int i = 0; i < count; ++i) {
    auto conn = listener->accept();
    if (!conn) {
      std::fprintf(stderr, "ping_pongs: accept: %s\n", conn.error().message().c_str());
      return;
    }
    servers.push_back(std::move(*xcoro::xasync(std::size_t{16 * 1024}, server,
                                                std::move(*conn))));
  }
  xcoro::xawait_all(servers);
}

/// One pinger: round trips until `until`; returns how many completed.
long pinger(aio::endpoint to, clock_type::time_point until) {
  auto c = aio::tcp::open(nullptr, to);
  if (!c || !c->connect(to)) {
    return -1;
  }
  long pongs = 0;
  while (clock_type::now() < until) {
    if (!c->write_all(std::as_bytes(std::span(ping, message))) || !read_message(*c, pong)) {
      return -1;
    }
    ++pongs;
  }
  return pongs;  // closing the socket ends its server coroutine
}

}  // namespace

int main(int argc, char** argv) {
  int pairs = argc > 1 ? std::atoi(argv[1]) : 1;
  double seconds = argc > 2 ? std::atof(argv[2]) : 5.0;  // libuv runs for 5 s
  if (pairs <= 0 || seconds <= 0) {
    std::fprintf(stderr, "usage: ping_pongs [PAIRS] [SECONDS]\n");
    return 2;
  }
  auto loop = aio::loop::create();
  if (!loop) {
    std::fprintf(stderr, "ping_pongs: loop: %s\n", loop.error().message().c_str());
    return 1;
  }
  aio::executor ex(*loop);
  aio::init_env({.executor = &ex});
  auto r = aio::run(nullptr, [&]() -> int {
    auto at = *aio::endpoint::parse("127.0.0.1:0");
    auto listener = aio::tcp::open(nullptr, at);
    if (!listener || !listener->bind(at) || !listener->listen(4096)) {
      std::fprintf(stderr, "ping_pongs: cannot listen\n");
      return 3;
    }
    auto to = *aio::endpoint::parse("127.0.0.1:" +
                                    std::to_string(listener->local_endpoint()->port()));
    auto servers = xcoro::xasync(accept_all, &*listener, pairs);
    if (!servers) {
      return 1;
    }
    auto start = clock_type::now();
    auto until = start + std::chrono::duration_cast<clock_type::duration>(
                             std::chrono::duration<double>(seconds));
    std::vector<xcoro::frame_t<long>> pingers;
    for (int i = 0; i < pairs; ++i) {
      pingers.push_back(std::move(*xcoro::xasync(std::size_t{16 * 1024}, pinger, to, until)));
    }
    long total = 0;
    for (long pongs : xcoro::xawait_all(pingers)) {
      if (pongs < 0) {
        std::fprintf(stderr, "ping_pongs: a pinger failed\n");
        return 1;
      }
      total += pongs;
    }
    double elapsed = std::chrono::duration<double>(clock_type::now() - start).count();
    xcoro::xawait(*servers);
    std::printf("ping_pongs: %d pair%s, %.1f s: %ld round trips, %.0f round trips/s\n", pairs,
                pairs == 1 ? "" : "s", elapsed, total, static_cast<double>(total) / elapsed);
    return 0;
  });
  return r ? *r : 1;
}
