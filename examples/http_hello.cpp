// A minimal HTTP/1.1 keep-alive server answering "hello" to every request, one coroutine
// per connection. curl and wrk can drive it.
//   http_hello [port]          serve on 127.0.0.1:port (default 8080)
//   http_hello --self-test     serve, send three keep-alive requests, check, exit
#include <array>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include <xcoro/aio.hpp>

namespace aio = xcoro::aio;

constexpr std::string_view response =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 6\r\n"
    "\r\n"
    "hello\n";

/// Serves requests on one connection until the peer closes it. Requests are only scanned
/// for their end ("\r\n\r\n"): bodies are not supported, which "hello" does not need.
void serve(aio::tcp conn) {
  std::array<char, 8192> buf;
  std::size_t have = 0;
  for (;;) {
    auto n = conn.read(std::as_writable_bytes(std::span(buf).subspan(have)));
    if (!n) {
      return;
    }
    have += *n;
    std::string_view data(buf.data(), have);
    std::size_t consumed = 0;
    for (std::size_t end; (end = data.find("\r\n\r\n", consumed)) != std::string_view::npos;) {
      if (!conn.write_all(std::as_bytes(std::span(response)))) {
        return;
      }
      consumed = end + 4;
    }
    std::memmove(buf.data(), buf.data() + consumed, have - consumed);
    have -= consumed;
    if (have == buf.size()) {
      return;  // a request too large for this server
    }
  }
}

void accept_loop(aio::tcp* listener, int limit) {
  std::vector<xcoro::frame_t<void>> connections;
  for (int i = 0; limit < 0 || i < limit; ++i) {
    auto conn = listener->accept();
    if (!conn) {
      continue;
    }
    if (auto f = xcoro::xasync(std::size_t{32 * 1024}, serve, std::move(*conn))) {
      connections.push_back(std::move(*f));
    }
  }
  xcoro::xawait_all(connections);
}

bool self_test_client(std::uint16_t port) {
  auto to = *aio::endpoint::parse("127.0.0.1:" + std::to_string(port));
  auto c = aio::tcp::open(nullptr, to);
  if (!c || !c->connect(to)) {
    return false;
  }
  std::string_view request = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
  for (int i = 0; i < 3; ++i) {  // three requests on one keep-alive connection
    if (!c->write_all(std::as_bytes(std::span(request)))) {
      return false;
    }
    std::string got;
    std::array<char, 256> buf;
    while (got.size() < response.size()) {
      auto n = c->read(std::as_writable_bytes(std::span(buf)));
      if (!n) {
        return false;
      }
      got.append(buf.data(), *n);
    }
    if (got != response) {
      return false;
    }
  }
  return true;
}

int main(int argc, char** argv) {
  bool self_test = argc > 1 && std::string(argv[1]) == "--self-test";
  auto loop = aio::loop::create();
  if (!loop) {
    return 1;
  }
  aio::executor ex(*loop);
  aio::init_env({.executor = &ex});
  std::string port = self_test ? "0" : (argc > 1 ? argv[1] : "8080");
  auto r = aio::run(nullptr, [&]() -> int {
    auto at = aio::endpoint::parse("127.0.0.1:" + port);
    auto listener = at ? aio::tcp::open(nullptr, *at) : xcoro::result<aio::tcp>(at.error());
    if (!listener || !listener->bind(*at) || !listener->listen(1024)) {
      std::fprintf(stderr, "cannot listen on 127.0.0.1:%s\n", port.c_str());
      return 2;
    }
    std::uint16_t bound = listener->local_endpoint()->port();
    std::printf("http hello on http://127.0.0.1:%u/\n", bound);
    std::fflush(stdout);
    auto server = xcoro::xasync(accept_loop, &*listener, self_test ? 1 : -1);
    if (!self_test) {
      xcoro::xawait(*server);
      return 0;
    }
    bool ok = self_test_client(bound);
    xcoro::xawait(*server);
    std::printf("keep-alive self-test: %s\n", ok ? "ok" : "FAILED");
    return ok ? 0 : 3;
  });
  return r ? *r : 1;
}
