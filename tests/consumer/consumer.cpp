// Checks that an installed or embedded xcoro links and runs: exits 0 only if a coroutine
// ran, suspended, resumed and returned its result, and, where the build has the async IO
// layer, if a coroutine slept on a timer and echoed a message over TCP on 127.0.0.1 through
// aio (so the package also carries aio's link dependencies, liburing for a static library).
// Everything comes from the umbrella header, which includes aio.hpp where aio exists.
#include <xcoro/xcoro.hpp>

#if XCORO_WITH_AIO
#include <array>
#include <chrono>
#include <cstring>
#include <span>

namespace aio = xcoro::aio;

namespace {

constexpr char message[] = "hello through the installed aio";
constexpr std::size_t message_size = sizeof message - 1;

/// Accepts one connection and echoes what it reads until the peer closes.
bool echo_one(aio::tcp* listener) {
  auto conn = listener->accept();
  if (!conn) {
    return false;
  }
  std::array<std::byte, 64> buf;
  for (;;) {
    auto n = conn->read(buf);
    if (!n) {
      return n.error() == xcoro::errc::eof;  // the client shut down its side
    }
    if (!conn->write_all(std::span(buf).first(*n))) {
      return false;
    }
  }
}

/// Returns 0 on success, or the exit code that names the step that failed.
int aio_program() {
  auto start = std::chrono::steady_clock::now();
  if (!aio::sleep(nullptr, aio::milliseconds(2))) {
    return 10;
  }
  if (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(2)) {
    return 11;
  }
  auto any = aio::endpoint::parse("127.0.0.1:0");
  if (!any) {
    return 12;
  }
  auto listener = aio::tcp::open(nullptr, *any);
  if (!listener || !listener->bind(*any) || !listener->listen(1)) {
    return 13;
  }
  auto bound = listener->local_endpoint();
  if (!bound) {
    return 14;
  }
  auto server = xcoro::xasync(echo_one, &*listener);
  if (!server) {
    return 15;
  }
  auto client = aio::tcp::open(nullptr, *bound);
  if (!client || !client->connect(*bound) ||
      !client->write_all(std::as_bytes(std::span(message, message_size)))) {
    return 16;
  }
  std::array<std::byte, message_size> back;
  std::size_t have = 0;
  while (have < message_size) {
    auto n = client->read(std::span(back).subspan(have));
    if (!n) {
      return 17;
    }
    have += *n;
  }
  if (std::memcmp(back.data(), message, message_size) != 0 || !client->shutdown()) {
    return 18;
  }
  return xcoro::xawait(*server) ? 0 : 19;
}

/// Runs aio_program on an event loop (io_uring, or epoll where io_uring is unavailable).
int run_aio() {
  auto loop = aio::loop::create();
  if (!loop) {
    return 20;
  }
  aio::executor ex(*loop);
  aio::init_env({.executor = &ex});
  auto r = aio::run(nullptr, aio_program);
  return r ? *r : 21;
}

}  // namespace
#endif

int main() {
  auto f = xcoro::xasync([](int v) {
    xcoro::xsuspend();
    return v * 2;
  }, 21);
  if (!f || f->status() != xcoro::status::suspended) {
    return 1;
  }
  xcoro::xresume(*f);
  if (xcoro::xawait(*f) != 42) {
    return 2;
  }
  // Destroying a suspended frame unwinds it, or, built without exceptions, frees it: it
  // must never terminate.
  auto abandoned = xcoro::xasync([] { xcoro::xsuspend(); });
  if (!abandoned || abandoned->status() != xcoro::status::suspended) {
    return 3;
  }
#if XCORO_WITH_AIO
  return run_aio();
#else
  return 0;
#endif
}
