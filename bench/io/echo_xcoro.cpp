// The xcoro server of the echo benchmark: one coroutine per connection, as in
// examples/echo_server.cpp, on one thread, silent. XCORO_BACKEND=io_uring|epoll picks the
// backend. Usage: echo_xcoro PORT   (serves 127.0.0.1:PORT until killed)
#include <algorithm>
#include <array>
#include <cstdio>
#include <string>
#include <vector>

#include <xcoro/aio.hpp>

namespace aio = xcoro::aio;

namespace {

void serve_connection(aio::tcp conn) {
  std::array<std::byte, 4096> buf;
  for (;;) {
    auto n = conn.read(buf);
    if (!n || !conn.write_all(std::span(buf).first(*n))) {
      return;  // end of stream or reset: the client closes with RST
    }
  }
}

void accept_loop(aio::tcp* listener) {
  std::vector<xcoro::frame_t<void>> connections;
  std::size_t prune_at = 1024;
  for (;;) {
    auto conn = listener->accept();
    if (!conn) {
      continue;  // EMFILE and friends: keep accepting
    }
    // 16 KiB: the 4 KiB buffer plus the read/write call chain, with room to spare.
    if (auto f = xcoro::xasync(std::size_t{16 * 1024}, serve_connection, std::move(*conn))) {
      connections.push_back(std::move(*f));
    }
    // Finished connections keep their stacks until their frame_t goes; drop them now and
    // then so that a long-running server does not grow without bound.
    if (connections.size() >= prune_at) {
      std::erase_if(connections,
                    [](const auto& f) { return f.status() == xcoro::status::done; });
      prune_at = std::max<std::size_t>(1024, 2 * connections.size());
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: echo_xcoro PORT\n");
    return 2;
  }
  auto loop = aio::loop::create();
  if (!loop) {
    std::fprintf(stderr, "echo_xcoro: loop: %s\n", loop.error().message().c_str());
    return 1;
  }
  aio::executor ex(*loop);
  aio::init_env({.executor = &ex});
  std::string port = argv[1];
  auto r = aio::run(nullptr, [&]() -> int {
    auto at = aio::endpoint::parse("127.0.0.1:" + port);
    if (!at) {
      return 2;
    }
    auto listener = aio::tcp::open(nullptr, *at);
    if (!listener || !listener->bind(*at) || !listener->listen(4096)) {
      std::fprintf(stderr, "echo_xcoro: cannot listen on 127.0.0.1:%s\n", port.c_str());
      return 3;
    }
    accept_loop(&*listener);
    return 0;
  });
  return r ? *r : 1;
}
