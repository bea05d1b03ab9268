// The Boost.Asio peer of the echo benchmark: stackful coroutines through
// boost::asio::spawn (Boost.Coroutine on Boost 1.74), one per connection, on one
// io_context with concurrency hint 1, run by one thread.
// Usage: echo_asio PORT   (serves 127.0.0.1:PORT until killed)
#include <array>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/spawn.hpp>
#include <boost/asio/write.hpp>

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

void serve_connection(tcp::socket& sock, asio::yield_context yield) {
  std::array<char, 4096> buf;
  boost::system::error_code ec;
  for (;;) {
    std::size_t n = sock.async_read_some(asio::buffer(buf), yield[ec]);
    if (ec) {
      return;  // end of stream or reset: the client closes with RST
    }
    asio::async_write(sock, asio::buffer(buf.data(), n), yield[ec]);
    if (ec) {
      return;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: echo_asio PORT\n");
    return 2;
  }
  asio::io_context io(1);
  boost::system::error_code ec;
  tcp::endpoint at(asio::ip::make_address("127.0.0.1"),
                   static_cast<unsigned short>(std::atoi(argv[1])));
  tcp::acceptor acceptor(io);
  acceptor.open(at.protocol(), ec);
  if (!ec) {
    acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    acceptor.bind(at, ec);
  }
  if (!ec) {
    acceptor.listen(4096, ec);
  }
  if (ec) {
    std::fprintf(stderr, "echo_asio: cannot listen on 127.0.0.1:%s: %s\n", argv[1],
                 ec.message().c_str());
    return 3;
  }
  asio::spawn(io, [&](asio::yield_context yield) {
    for (;;) {
      boost::system::error_code aec;
      tcp::socket sock(io);
      acceptor.async_accept(sock, yield[aec]);
      if (aec) {
        continue;
      }
      // The socket moves into the coroutine's own function object, which lives as long
      // as the coroutine does.
      asio::spawn(io, [s = std::move(sock)](asio::yield_context y) mutable {
        serve_connection(s, y);
      });
    }
  });
  io.run();
  return 0;
}
