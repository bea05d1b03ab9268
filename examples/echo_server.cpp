// A TCP echo server, one coroutine per connection, on one thread.
//   echo_server [port]         serve on 127.0.0.1:port (0: any) until killed
//   echo_server --self-test    serve, run 64 clients against it, check, exit
#include <array>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <xcoro/aio.hpp>

namespace aio = xcoro::aio;

void serve_connection(aio::tcp conn) {
  std::array<std::byte, 4096> buf;
  for (;;) {
    auto n = conn.read(buf);
    if (!n || !conn.write_all(std::span(buf).first(*n))) {
      return;  // end of stream, reset, ...
    }
  }
}

/// Accepts `limit` connections (or forever with -1), each served by its own coroutine.
void accept_loop(aio::tcp* listener, int limit) {
  std::vector<xcoro::frame_t<void>> connections;
  for (int i = 0; limit < 0 || i < limit; ++i) {
    auto conn = listener->accept();
    if (!conn) {
      std::fprintf(stderr, "accept: %s\n", conn.error().message().c_str());
      continue;  // EMFILE and friends: keep accepting
    }
    auto f = xcoro::xasync(std::size_t{32 * 1024}, serve_connection, std::move(*conn));
    if (f) {
      connections.push_back(std::move(*f));
    }
  }
  xcoro::xawait_all(connections);
}

bool client(std::uint16_t port, int id) {
  auto to = *aio::endpoint::parse("127.0.0.1:" + std::to_string(port));
  auto c = aio::tcp::open(nullptr, to);
  if (!c || !c->connect(to)) {
    return false;
  }
  for (int round = 0; round < 10; ++round) {
    std::string msg = "client " + std::to_string(id) + " round " + std::to_string(round);
    if (!c->write_all(std::as_bytes(std::span(msg)))) {
      return false;
    }
    std::array<std::byte, 64> back;
    std::size_t have = 0;
    while (have < msg.size()) {
      auto n = c->read(std::span(back).subspan(have));
      if (!n) {
        return false;
      }
      have += *n;
    }
    if (std::memcmp(back.data(), msg.data(), msg.size()) != 0) {
      return false;
    }
  }
  return true;
}

int main(int argc, char** argv) {
  bool self_test = argc > 1 && std::string(argv[1]) == "--self-test";
  auto loop = aio::loop::create();
  if (!loop) {
    std::fprintf(stderr, "loop: %s\n", loop.error().message().c_str());
    return 1;
  }
  aio::executor ex(*loop);
  aio::init_env({.executor = &ex});
  std::string port = self_test || argc < 2 ? "0" : argv[1];
  auto r = aio::run(nullptr, [&]() -> int {
    auto at = aio::endpoint::parse("127.0.0.1:" + port);
    if (!at) {
      return 2;
    }
    auto listener = aio::tcp::open(nullptr, *at);
    if (!listener || !listener->bind(*at) || !listener->listen(1024)) {
      return 3;
    }
    std::uint16_t bound = listener->local_endpoint()->port();
    std::printf("echo server on 127.0.0.1:%u\n", bound);
    std::fflush(stdout);
    constexpr int clients = 64;
    auto server = xcoro::xasync(accept_loop, &*listener, self_test ? clients : -1);
    if (!self_test) {
      xcoro::xawait(*server);
      return 0;
    }
    std::vector<xcoro::frame_t<bool>> cs;
    for (int i = 0; i < clients; ++i) {
      cs.push_back(std::move(*xcoro::xasync(std::size_t{32 * 1024}, client, bound, i)));
    }
    int ok = 0;
    for (bool b : xcoro::xawait_all(cs)) {
      ok += b ? 1 : 0;
    }
    std::printf("%d of %d clients echoed correctly\n", ok, clients);
    // Clients closed their sockets: the handlers see end of stream and finish.
    xcoro::xawait(*server);
    return ok == clients ? 0 : 4;
  });
  if (!r) {
    std::fprintf(stderr, "run: %s\n", r.error().message().c_str());
    return 1;
  }
  return *r;
}
