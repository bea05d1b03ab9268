// The xcoro server of the echo benchmark: one coroutine per connection, as in
// examples/echo_server.cpp, on one thread, silent. XCORO_BACKEND=io_uring|epoll picks the
// backend. Usage: echo_xcoro PORT [--runtime]   (serves 127.0.0.1:PORT until killed)
// --runtime: the same server inside a one-worker xcoro::runtime (block_on) instead of the
// calling thread's own loop, to show what the runtime costs a single core.
#include <algorithm>
#include <array>
#include <cstdio>
#include <string>
#include <vector>

#include <xcoro/aio.hpp>
#include <xcoro/runtime.hpp>

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

/// Listens on 127.0.0.1:port and serves until killed. Returns an exit status on failure.
int serve(const std::string& port) {
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
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || (argc > 2 && std::string(argv[2]) != "--runtime")) {
    std::fprintf(stderr, "usage: echo_xcoro PORT [--runtime]\n");
    return 2;
  }
  std::string port = argv[1];
  if (argc > 2) {
    auto rt = xcoro::runtime::create({.threads = 1});
    if (!rt) {
      std::fprintf(stderr, "echo_xcoro: runtime: %s\n", rt.error().message().c_str());
      return 1;
    }
    auto r = rt->block_on(serve, port);
    return r ? *r : 1;
  }
  auto loop = aio::loop::create();
  if (!loop) {
    std::fprintf(stderr, "echo_xcoro: loop: %s\n", loop.error().message().c_str());
    return 1;
  }
  aio::executor ex(*loop);
  aio::init_env({.executor = &ex});
  auto r = aio::run(nullptr, serve, port);
  return r ? *r : 1;
}
