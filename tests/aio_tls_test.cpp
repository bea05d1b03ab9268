// aio::tls_context and aio::tls_stream (<xcoro/tls.hpp>) on each backend: an xcoro client
// against `openssl s_server`, an xcoro server against `openssl s_client`, and xcoro against
// itself; ALPN both ways; certificates that must not verify (another name, expired, an
// unknown CA); a peer that sends garbage, one that stops in the middle of the handshake
// (timeout, and a cancel from a third coroutine), one that closes without close_notify;
// a clean shutdown; 1 MiB each way; lines through buffered_reader; no allocation per read
// or write. Certificates are made at run time (tests/support/tls_certs.hpp); the tests
// skip without the openssl tool.
#include "xcoro/tls.hpp"

#include <gtest/gtest.h>
#include <openssl/crypto.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "support/aio_fixture.hpp"
#include "support/counting_new.hpp"
#include "support/test_stacks.hpp"
#include "support/tls_certs.hpp"
#include "xcoro/buffered.hpp"
#include "xcoro/runtime.hpp"

namespace {

using namespace std::chrono_literals;
namespace aio = xcoro::aio;
using xcoro::errc;
using xcoro_test::tls_certs;

constexpr auto long_timeout = 20s;

// OpenSSL's allocations, counted through its memory hooks (set before its first
// allocation, by this static initialiser), so that a test can show that a read or write
// makes none.
std::atomic<long> openssl_allocations{0};
void* count_malloc(std::size_t n, const char*, int) {
  ++openssl_allocations;
  return std::malloc(n);
}
void* count_realloc(void* p, std::size_t n, const char*, int) {
  ++openssl_allocations;
  return std::realloc(p, n);
}
void count_free(void* p, const char*, int) { std::free(p); }
const bool hooks_set = CRYPTO_set_mem_functions(count_malloc, count_realloc, count_free) == 1;

std::span<const std::byte> bytes(std::string_view s) { return std::as_bytes(std::span(s)); }

class Tls : public xcoro_test::aio_fixture {
 protected:
  void SetUp() override {
    aio_fixture::SetUp();
    if (IsSkipped()) {
      return;
    }
    const auto& c = tls_certs::get();
    if (!c.error.empty()) {
      GTEST_SKIP() << c.error;
    }
  }
  const tls_certs& certs() { return tls_certs::get(); }

  /// A server context with `cert` (and the common key).
  aio::tls_context server_ctx(const std::filesystem::path& cert, aio::tls_options o = {}) {
    auto c = aio::tls_context::server(cert, certs().key, std::move(o));
    EXPECT_TRUE(c) << c.error().message();
    return std::move(*c);
  }
  /// A client context trusting the test CA.
  aio::tls_context client_ctx(aio::tls_options o = {}) {
    o.ca_file = certs().ca;
    auto c = aio::tls_context::client(std::move(o));
    EXPECT_TRUE(c) << c.error().message();
    return std::move(*c);
  }
};

/// A listener on 127.0.0.1 on a free port.
struct listener {
  aio::tcp sock;
  std::uint16_t port;
  static listener make() {
    auto at = *aio::endpoint::parse("127.0.0.1:0");
    auto s = aio::tcp::open(nullptr, at);
    EXPECT_TRUE(s && s->bind(at) && s->listen(16));
    std::uint16_t port = s->local_endpoint()->port();
    return {std::move(*s), port};
  }
};

xcoro::result<aio::tcp> connect_to(std::uint16_t port) {
  auto to = *aio::endpoint::parse("127.0.0.1:" + std::to_string(port));
  auto c = aio::tcp::open(nullptr, to);
  if (!c) {
    return c;
  }
  if (auto r = c->connect(to, 5s); !r) {
    return r.error();
  }
  return c;
}

/// A client stream to 127.0.0.1:port for `host`.
xcoro::result<aio::tls_stream> dial(std::uint16_t port, aio::tls_context& ctx,
                                    std::string host = "localhost") {
  auto c = connect_to(port);
  if (!c) {
    return c.error();
  }
  return aio::tls_stream::create(std::move(*c), ctx, {.host = std::move(host)});
}

/// Accepts one connection and wraps it in a server stream.
xcoro::result<aio::tls_stream> accept_on(listener& l, aio::tls_context& ctx) {
  auto c = l.sock.accept(long_timeout);
  if (!c) {
    return c.error();
  }
  return aio::tls_stream::create(std::move(*c), ctx);
}

/// Reads until errc::eof or an error; returns the text and sets `end` to that error.
std::string read_to_end(aio::tls_stream& s, std::error_code& end) {
  std::string got;
  char buf[4096];
  for (;;) {
    auto n = s.read(std::as_writable_bytes(std::span(buf)), long_timeout);
    if (!n) {
      end = n.error();
      return got;
    }
    got.append(buf, *n);
  }
}

// ---- against the openssl tool ----

/// `openssl s_server` on a free port: the port it printed, and the process.
struct s_server {
  std::optional<aio::process> proc;
  std::optional<aio::buffered_reader<aio::pipe_reader>> out;
  std::uint16_t port = 0;

  explicit s_server(std::vector<std::string> extra) {
    const auto& c = tls_certs::get();
    std::vector<std::string> argv = {"openssl", "s_server", "-accept", "127.0.0.1:0",
                                     "-naccept", "1", "-cert", c.server.string(),
                                     "-key", c.key.string()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto p = aio::process::spawn(nullptr, {.argv = argv,
                                           .in = aio::stdio::pipe(),
                                           .out = aio::stdio::pipe(),
                                           .err = aio::stdio::null(),
                                           .kill_on_drop = true});
    if (!p) {
      ADD_FAILURE() << "spawn openssl s_server: " << p.error().message();
      return;
    }
    proc.emplace(std::move(*p));
    out.emplace(proc->stdout_pipe());
    for (;;) {  // "Using default temp DH parameters", then "ACCEPT 127.0.0.1:PORT"
      auto line = out->read_line(1024, long_timeout);
      if (!line) {
        ADD_FAILURE() << "s_server said no ACCEPT line: " << line.error().message();
        return;
      }
      if (line->starts_with("ACCEPT ")) {
        port = static_cast<std::uint16_t>(std::atoi(line->data() + line->rfind(':') + 1));
        return;
      }
    }
  }
  /// The next line s_server prints that is not its own chatter, which is what the client
  /// sent it.
  std::string line_received() {
    for (;;) {
      auto line = out->read_line(1024, long_timeout);
      if (!line) {
        return "<" + line.error().message() + ">";
      }
      if (*line == "hello from xcoro") {
        return std::string(*line);
      }
    }
  }
};

TEST_F(Tls, ClientAgainstOpensslServer) {
  auto r = aio::run(nullptr, [&] {
    s_server srv({"-alpn", "x-other,http/1.1"});
    ASSERT_NE(srv.port, 0);
    auto ctx = client_ctx({.alpn = {"h2", "http/1.1"}});
    auto t = dial(srv.port, ctx);
    ASSERT_TRUE(t) << t.error().message();
    EXPECT_FALSE(t->handshake_done());
    auto h = t->handshake(long_timeout);
    ASSERT_TRUE(h) << h.error().message();
    EXPECT_TRUE(t->handshake_done());
    EXPECT_EQ(t->alpn(), "http/1.1");  // ours, in the server's order of preference
    ASSERT_TRUE(t->write_all(bytes("hello from xcoro\n"), long_timeout));
    EXPECT_EQ(srv.line_received(), "hello from xcoro");
    // What s_server reads on its stdin, it sends to the client.
    ASSERT_TRUE(srv.proc->stdin_pipe().write_all(bytes("hello from openssl\n")));
    aio::buffered_reader in(*t);
    auto line = in.read_line(1024, long_timeout);
    ASSERT_TRUE(line) << line.error().message();
    EXPECT_EQ(*line, "hello from openssl");
    EXPECT_TRUE(t->shutdown(long_timeout));
  });
  ASSERT_TRUE(r) << r.error().message();
}

TEST_F(Tls, ServerAgainstOpensslClient) {
  auto sctx = server_ctx(certs().server, {.alpn = {"http/1.1", "h2"}});
  auto l = listener::make();
  auto r = aio::run(nullptr, [&] {
    std::string alpn;
    auto server = xcoro::xasync([&] {
      auto t = accept_on(l, sctx);
      ASSERT_TRUE(t) << t.error().message();
      auto h = t->handshake(long_timeout);
      ASSERT_TRUE(h) << h.error().message();
      alpn = t->alpn();
      ASSERT_TRUE(t->write_all(bytes("hello from xcoro\n"), long_timeout));
      ASSERT_TRUE(t->shutdown(long_timeout));
    });
    ASSERT_TRUE(server);
    // -quiet: no session chatter, and stdin's end does not end the connection; s_client
    // exits when the server's close_notify arrives.
    auto out = aio::run_capture(
        nullptr,
        {"openssl", "s_client", "-connect", "127.0.0.1:" + std::to_string(l.port), "-CAfile",
         certs().ca.string(), "-servername", "localhost", "-verify_return_error", "-alpn",
         "h2,http/1.1", "-quiet"},
        long_timeout);
    xcoro::xawait(*server);
    ASSERT_TRUE(out) << out.error().message();
    EXPECT_EQ(out->status, 0u) << out->err;
    EXPECT_EQ(out->out, "hello from xcoro\n");
    EXPECT_EQ(alpn, "http/1.1");  // the server's preference
  });
  ASSERT_TRUE(r) << r.error().message();
}

// ---- xcoro against xcoro ----

/// Runs `server_body(stream)` on an accepted connection in one coroutine and
/// `client_body(stream or error)` on a connection to it in this one.
template <class Server, class Client>
void pair_up(aio::tls_context& sctx, aio::tls_context& cctx, const std::string& host,
             Server server_body, Client client_body) {
  auto l = listener::make();
  auto r = aio::run(nullptr, [&] {
    auto server = xcoro::xasync([&] {
      auto t = accept_on(l, sctx);
      ASSERT_TRUE(t) << t.error().message();
      server_body(*t);
    });
    ASSERT_TRUE(server);
    auto c = dial(l.port, cctx, host);
    client_body(c);
    xcoro::xawait(*server);
  });
  ASSERT_TRUE(r) << r.error().message();
}

TEST_F(Tls, AlpnAgreedAndCleanShutdownIsEof) {
  auto sctx = server_ctx(certs().server, {.alpn = {"http/1.1", "h2"}});
  auto cctx = client_ctx({.alpn = {"h2", "http/1.1"}});
  std::string server_alpn;
  pair_up(
      sctx, cctx, "localhost",
      [&](aio::tls_stream& t) {
        ASSERT_TRUE(t.handshake(long_timeout));
        server_alpn = t.alpn();
        ASSERT_TRUE(t.write_all(bytes("bye"), long_timeout));
        ASSERT_TRUE(t.shutdown(long_timeout));
        // The client answers with its own close_notify.
        std::error_code end;
        EXPECT_EQ(read_to_end(t, end), "");
        EXPECT_EQ(end, errc::eof) << end.message();
      },
      [&](xcoro::result<aio::tls_stream>& t) {
        ASSERT_TRUE(t) << t.error().message();
        std::error_code end;
        EXPECT_EQ(read_to_end(*t, end), "bye");  // the handshake runs inside the read
        EXPECT_EQ(end, errc::eof) << end.message();
        EXPECT_EQ(t->alpn(), "http/1.1");
        // Still eof when asked again.
        std::byte b[1];
        EXPECT_EQ(t->read(b, 1s).error(), errc::eof);
        EXPECT_TRUE(t->shutdown(long_timeout));
      });
  EXPECT_EQ(server_alpn, "http/1.1");
}

TEST_F(Tls, NoCommonAlpnFailsTheHandshake) {
  auto sctx = server_ctx(certs().server, {.alpn = {"h2"}});
  auto cctx = client_ctx({.alpn = {"http/1.1"}});
  pair_up(
      sctx, cctx, "localhost",
      [&](aio::tls_stream& t) {
        auto h = t.handshake(long_timeout);
        ASSERT_FALSE(h);
        EXPECT_EQ(h.error(), errc::tls_handshake_failed) << h.error().message();
      },
      [&](xcoro::result<aio::tls_stream>& t) {
        ASSERT_TRUE(t);
        auto h = t->handshake(long_timeout);
        ASSERT_FALSE(h);
        EXPECT_EQ(h.error(), errc::tls_handshake_failed) << h.error().message();
        EXPECT_NE(h.error().message().find("no application protocol"), std::string::npos)
            << h.error().message();
      });
}

/// The client's handshake with a server showing `cert` for `host` fails verification with
/// `text` in the message; the server sees the client's alert as a failed handshake.
void expect_bad_certificate(aio::tls_context sctx, aio::tls_context cctx, const std::string& host,
                            std::string_view text) {
  pair_up(
      sctx, cctx, host,
      [&](aio::tls_stream& t) {
        auto h = t.handshake(long_timeout);
        ASSERT_FALSE(h);
        EXPECT_EQ(h.error(), errc::tls_handshake_failed) << h.error().message();
        EXPECT_NE(h.error(), errc::tls_bad_certificate);
      },
      [&](xcoro::result<aio::tls_stream>& t) {
        ASSERT_TRUE(t);
        auto h = t->handshake(long_timeout);
        ASSERT_FALSE(h);
        EXPECT_EQ(h.error(), errc::tls_bad_certificate) << h.error().message();
        EXPECT_EQ(h.error().category(), aio::tls_category());
        EXPECT_NE(h.error().message().find(text), std::string::npos) << h.error().message();
        // The stream is not usable now: a read fails rather than hangs.
        std::byte b[1];
        EXPECT_FALSE(t->read(b, 1s));
      });
}

TEST_F(Tls, WrongHostNameIsABadCertificate) {
  expect_bad_certificate(server_ctx(certs().server), client_ctx(), "other.example",
                         "hostname mismatch");
}

TEST_F(Tls, CertificateForAnotherNameIsABadCertificate) {
  expect_bad_certificate(server_ctx(certs().other), client_ctx(), "localhost",
                         "hostname mismatch");
}

TEST_F(Tls, ExpiredCertificateIsABadCertificate) {
  expect_bad_certificate(server_ctx(certs().expired), client_ctx(), "localhost",
                         "certificate has expired");
}

TEST_F(Tls, UnknownCaIsABadCertificate) {
  expect_bad_certificate(server_ctx(certs().rogue), client_ctx(), "localhost",
                         "local issuer certificate");
}

TEST_F(Tls, AnIpAddressIsCheckedAgainstTheCertificatesAddresses) {
  auto sctx = server_ctx(certs().server);
  auto cctx = client_ctx();
  pair_up(
      sctx, cctx, "127.0.0.1",
      [&](aio::tls_stream& t) { EXPECT_TRUE(t.handshake(long_timeout)); },
      [&](xcoro::result<aio::tls_stream>& t) {
        ASSERT_TRUE(t);
        auto h = t->handshake(long_timeout);
        EXPECT_TRUE(h) << h.error().message();
      });
  // 127.0.0.2 is not among them.
  auto sctx2 = server_ctx(certs().server);
  expect_bad_certificate(std::move(sctx2), client_ctx(), "127.0.0.2", "IP address mismatch");
}

TEST_F(Tls, InsecureNoVerifyAcceptsAnyCertificate) {
  auto sctx = server_ctx(certs().rogue);
  auto cctx = aio::tls_context::client({.insecure_no_verify = true});
  ASSERT_TRUE(cctx);
  pair_up(
      sctx, *cctx, "",  // no name needed either
      [&](aio::tls_stream& t) { EXPECT_TRUE(t.handshake(long_timeout)); },
      [&](xcoro::result<aio::tls_stream>& t) {
        ASSERT_TRUE(t) << t.error().message();
        auto h = t->handshake(long_timeout);
        EXPECT_TRUE(h) << h.error().message();
      });
}

TEST_F(Tls, PeerClosingWithoutCloseNotifyIsTruncation) {
  auto sctx = server_ctx(certs().server);
  auto cctx = client_ctx();
  pair_up(
      sctx, cctx, "localhost",
      [&](aio::tls_stream& t) {
        ASSERT_TRUE(t.write_all(bytes("Content-Length: 100\r\n\r\nonly part"), long_timeout));
        ASSERT_TRUE(t.close());  // no close_notify
      },
      [&](xcoro::result<aio::tls_stream>& t) {
        ASSERT_TRUE(t);
        std::error_code end;
        EXPECT_EQ(read_to_end(*t, end), "Content-Length: 100\r\n\r\nonly part");
        EXPECT_EQ(end, errc::tls_truncated) << end.message();
        EXPECT_NE(end, errc::eof);
      });
}

TEST_F(Tls, OneMebibyteEachWay) {
  auto sctx = server_ctx(certs().server);
  auto cctx = client_ctx();
  std::string payload(1 << 20, '\0');
  for (std::size_t i = 0; i < payload.size(); ++i) {
    payload[i] = static_cast<char>((i * 131) ^ (i >> 9));
  }
  pair_up(
      sctx, cctx, "localhost",
      [&](aio::tls_stream& t) {
        // Echo what arrives until the client's close_notify.
        std::vector<std::byte> buf(64 * 1024);
        std::size_t total = 0;
        for (;;) {
          auto n = t.read(buf, long_timeout);
          if (!n) {
            EXPECT_EQ(n.error(), errc::eof) << n.error().message();
            break;
          }
          total += *n;
          ASSERT_TRUE(t.write_all(std::span(buf).first(*n), long_timeout));
        }
        EXPECT_EQ(total, payload.size());
        EXPECT_TRUE(t.shutdown(long_timeout));
      },
      [&](xcoro::result<aio::tls_stream>& t) {
        ASSERT_TRUE(t);
        // Written in one call, read back after each 64 KiB piece, so that neither side's
        // socket buffers need to hold a mebibyte.
        std::string back;
        std::span<const std::byte> rest = bytes(payload);
        while (!rest.empty()) {
          auto piece = rest.first(std::min<std::size_t>(rest.size(), 64 * 1024));
          ASSERT_TRUE(t->write_all(piece, long_timeout));
          rest = rest.subspan(piece.size());
          std::size_t want = back.size() + piece.size();
          char buf[16 * 1024];
          while (back.size() < want) {
            auto n = t->read(std::as_writable_bytes(std::span(buf)), long_timeout);
            ASSERT_TRUE(n) << n.error().message();
            back.append(buf, *n);
          }
        }
        EXPECT_TRUE(back == payload);
        ASSERT_TRUE(t->shutdown(long_timeout));
        std::error_code end;
        EXPECT_EQ(read_to_end(*t, end), "");
        EXPECT_EQ(end, errc::eof) << end.message();
      });
}

TEST_F(Tls, WriteAllOfAMebibyteInOneCall) {
  auto sctx = server_ctx(certs().server);
  auto cctx = client_ctx();
  std::string payload(1 << 20, 'm');
  payload.back() = '!';
  pair_up(
      sctx, cctx, "localhost",
      [&](aio::tls_stream& t) {
        std::error_code end;
        std::string got = read_to_end(t, end);
        EXPECT_EQ(end, errc::eof) << end.message();
        EXPECT_TRUE(got == payload) << got.size();
      },
      [&](xcoro::result<aio::tls_stream>& t) {
        ASSERT_TRUE(t);
        auto w = t->write_all(bytes(payload), long_timeout);
        ASSERT_TRUE(w) << w.error().message();
        ASSERT_TRUE(t->shutdown(long_timeout));
      });
}

TEST_F(Tls, LinesThroughBufferedReaderAndWriter) {
  auto sctx = server_ctx(certs().server);
  auto cctx = client_ctx();
  pair_up(
      sctx, cctx, "localhost",
      [&](aio::tls_stream& t) {
        aio::buffered_writer out(t, {.buffer = 1024});
        for (int i = 0; i < 100; ++i) {
          ASSERT_TRUE(out.write(bytes("line " + std::to_string(i) + "\r\n")));
        }
        ASSERT_TRUE(out.write(bytes("last, without an end")));
        ASSERT_TRUE(out.flush(long_timeout));
        ASSERT_TRUE(t.shutdown(long_timeout));
      },
      [&](xcoro::result<aio::tls_stream>& t) {
        ASSERT_TRUE(t);
        aio::buffered_reader in(*t, {.buffer = 256});
        for (int i = 0; i < 100; ++i) {
          auto line = in.read_line(64, long_timeout);
          ASSERT_TRUE(line) << line.error().message();
          EXPECT_EQ(*line, "line " + std::to_string(i));
        }
        EXPECT_EQ(in.read_line(64, long_timeout).error(), errc::eof);
        auto rest = in.buffered();
        EXPECT_EQ(std::string(reinterpret_cast<const char*>(rest.data()), rest.size()),
                  "last, without an end");
      });
}

// Once the handshake is done, a read or write asks nothing of operator new, and OpenSSL's
// own allocations do not grow with the traffic: OpenSSL 3.0 takes and frees a record
// buffer per record written (its internal allocator, not ours to change); the same number
// for every 100 round trips shows it keeps nothing.
TEST_F(Tls, ReadsAndWritesAllocateNothing) {
  if (!hooks_set || xcoro_test::allocations() < 0) {
    GTEST_SKIP() << "allocation counting is not available in this build";
  }
  auto sctx = server_ctx(certs().server);
  auto cctx = client_ctx();
  long ours = -1;
  long openssl_first = -1;
  long openssl_second = -2;
  pair_up(
      sctx, cctx, "localhost",
      [&](aio::tls_stream& t) {
        char buf[256];
        for (;;) {
          auto n = t.read(std::as_writable_bytes(std::span(buf)), long_timeout);
          if (!n || !t.write_all(std::as_bytes(std::span(buf).first(*n)), long_timeout)) {
            break;
          }
        }
      },
      [&](xcoro::result<aio::tls_stream>& t) {
        ASSERT_TRUE(t);
        char buf[256];
        auto ping = [&] {
          auto w = t->write_all(bytes("ping"), long_timeout);
          auto n = t->read(std::as_writable_bytes(std::span(buf)), long_timeout);
          return w && n && *n == 4;
        };
        for (int i = 0; i < 10; ++i) {  // the handshake, TLS 1.3's session tickets
          ASSERT_TRUE(ping());
        }
        long before = xcoro_test::allocations();
        long o0 = openssl_allocations.load();
        for (int i = 0; i < 100; ++i) {
          ASSERT_TRUE(ping());
        }
        long o1 = openssl_allocations.load();
        for (int i = 0; i < 100; ++i) {
          ASSERT_TRUE(ping());
        }
        ours = xcoro_test::allocations() - before;
        openssl_first = o1 - o0;
        openssl_second = openssl_allocations.load() - o1;
        ASSERT_TRUE(t->shutdown(long_timeout));
      });
  EXPECT_EQ(ours, 0);
  EXPECT_EQ(openssl_first, openssl_second);
  // At most two per operation (each round trip is two reads and two writes).
  EXPECT_LE(openssl_first, 100 * 4 * 2);
  std::printf("OpenSSL allocations per round trip: %.1f\n",
              static_cast<double>(openssl_first) / 100);
}

// ---- peers that misbehave ----

/// A plain TCP peer on a listener: accepts one connection and runs `body` on it.
template <class Body, class Client>
void raw_peer(Body body, Client client) {
  auto l = listener::make();
  auto r = aio::run(nullptr, [&] {
    auto peer = xcoro::xasync([&] {
      auto c = l.sock.accept(long_timeout);
      ASSERT_TRUE(c);
      body(*c);
    });
    ASSERT_TRUE(peer);
    client(l.port);
    xcoro::xawait(*peer);
  });
  ASSERT_TRUE(r) << r.error().message();
}

TEST_F(Tls, ServerSendingGarbageFailsTheHandshake) {
  auto cctx = client_ctx();
  raw_peer(
      [](aio::tcp& c) {
        std::byte hello[512];
        (void)c.read(hello, long_timeout);  // the ClientHello
        (void)c.write_all(bytes("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"));
        std::byte rest[512];
        while (c.read(rest, long_timeout)) {  // until the client gives up
        }
      },
      [&](std::uint16_t port) {
        auto t = dial(port, cctx);
        ASSERT_TRUE(t);
        auto h = t->handshake(long_timeout);
        ASSERT_FALSE(h);
        EXPECT_EQ(h.error(), errc::tls_handshake_failed) << h.error().message();
        EXPECT_EQ(h.error().category(), aio::tls_category());
        EXPECT_NE(h.error().message().find("wrong version number"), std::string::npos)
            << h.error().message();
      });
}

TEST_F(Tls, ClientSendingGarbageFailsTheHandshake) {
  auto sctx = server_ctx(certs().server);
  auto l = listener::make();
  auto r = aio::run(nullptr, [&] {
    auto server = xcoro::xasync([&] {
      auto t = accept_on(l, sctx);
      ASSERT_TRUE(t);
      auto h = t->handshake(long_timeout);
      ASSERT_FALSE(h);
      EXPECT_EQ(h.error(), errc::tls_handshake_failed) << h.error().message();
    });
    ASSERT_TRUE(server);
    auto c = connect_to(l.port);
    ASSERT_TRUE(c);
    ASSERT_TRUE(c->write_all(bytes("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")));
    std::byte rest[512];
    while (c->read(rest, long_timeout)) {  // the server's alert, then its close
    }
    xcoro::xawait(*server);
  });
  ASSERT_TRUE(r) << r.error().message();
}

TEST_F(Tls, PeerClosingInTheHandshakeFailsIt) {
  auto cctx = client_ctx();
  raw_peer(
      [](aio::tcp& c) {
        std::byte hello[512];
        (void)c.read(hello, long_timeout);
        (void)c.close();
      },
      [&](std::uint16_t port) {
        auto t = dial(port, cctx);
        ASSERT_TRUE(t);
        auto h = t->handshake(long_timeout);
        ASSERT_FALSE(h);
        EXPECT_EQ(h.error(), errc::tls_handshake_failed) << h.error().message();
        EXPECT_NE(h.error().message().find("closed"), std::string::npos) << h.error().message();
      });
}

TEST_F(Tls, SilentPeerTimesTheHandshakeOut) {
  auto cctx = client_ctx();
  raw_peer(
      [](aio::tcp& c) {
        std::byte b[4096];
        while (c.read(b, long_timeout)) {  // reads the ClientHello, answers nothing
        }
      },
      [&](std::uint16_t port) {
        auto t = dial(port, cctx);
        ASSERT_TRUE(t);
        auto start = std::chrono::steady_clock::now();
        auto h = t->handshake(150ms);
        ASSERT_FALSE(h);
        EXPECT_EQ(h.error(), std::errc::timed_out) << h.error().message();
        EXPECT_GE(std::chrono::steady_clock::now() - start, 150ms);
        ASSERT_TRUE(t->close());  // ends the peer's read
      });
}

TEST_F(Tls, HandshakeCancelledFromAThirdCoroutine) {
  auto cctx = client_ctx();
  raw_peer(
      [](aio::tcp& c) {
        std::byte b[4096];
        while (c.read(b, long_timeout)) {
        }
      },
      [&](std::uint16_t port) {
        auto t = dial(port, cctx);
        ASSERT_TRUE(t);
        std::error_code got;
        auto shaker = xcoro::xasync([&] { got = t->handshake(long_timeout).error(); });
        ASSERT_TRUE(shaker);
        auto canceller = xcoro::xasync([&] {
          (void)aio::sleep(nullptr, 50ms);
          EXPECT_TRUE(aio::cancel(shaker->frame()));
        });
        ASSERT_TRUE(canceller);
        xcoro::xawait(*canceller);
        xcoro::xawait(*shaker);
        EXPECT_EQ(got, errc::canceled) << got.message();
        ASSERT_TRUE(t->close());
      });
}

TEST_F(Tls, ReadTimesOutAndLosesNothing) {
  auto sctx = server_ctx(certs().server);
  auto cctx = client_ctx();
  pair_up(
      sctx, cctx, "localhost",
      [&](aio::tls_stream& t) {
        ASSERT_TRUE(t.handshake(long_timeout));
        std::byte go[1];
        ASSERT_TRUE(t.read(go, long_timeout));  // the client's signal, after its timeout
        ASSERT_TRUE(t.write_all(bytes("late"), long_timeout));
        ASSERT_TRUE(t.shutdown(long_timeout));
      },
      [&](xcoro::result<aio::tls_stream>& t) {
        ASSERT_TRUE(t);
        ASSERT_TRUE(t->handshake(long_timeout));
        std::byte b[16];
        auto n = t->read(b, 50ms);
        ASSERT_FALSE(n);
        EXPECT_EQ(n.error(), std::errc::timed_out);
        ASSERT_TRUE(t->write_all(bytes("!"), long_timeout));
        std::error_code end;
        EXPECT_EQ(read_to_end(*t, end), "late");
        EXPECT_EQ(end, errc::eof) << end.message();
      });
}

// ---- inside a runtime ----

// A server and a client on two workers of a runtime, each in a block_on of its own thread:
// the streams use the loop of the worker they run on, as the socket does.
TEST(TlsInRuntime, ServerAndClientOnTwoWorkers) {
  const auto& c = tls_certs::get();
  if (!c.error.empty()) {
    GTEST_SKIP() << c.error;
  }
  auto rt = xcoro::runtime::create({.threads = 2, .stack_size = 256 * 1024});
  if (!rt) {
    GTEST_SKIP() << "runtime unavailable here: " << rt.error().message();
  }
  auto sctx = aio::tls_context::server(c.server, c.key);
  auto cctx = aio::tls_context::client({.ca_file = c.ca});
  ASSERT_TRUE(sctx && cctx);
  std::atomic<std::uint16_t> port{0};
  std::atomic<int> server_worker{-1};
  std::string got;
  std::thread server([&] {
    auto r = rt->block_on([&] {
      auto l = listener::make();
      server_worker = xcoro::this_worker();
      port = l.port;
      auto t = accept_on(l, *sctx);
      ASSERT_TRUE(t) << t.error().message();
      aio::buffered_reader in(*t);
      auto line = in.read_line(1024, long_timeout);
      ASSERT_TRUE(line) << line.error().message();
      std::string reply = "got " + std::string(*line) + "\n";
      ASSERT_TRUE(t->write_all(bytes(reply), long_timeout));
      ASSERT_TRUE(t->shutdown(long_timeout));
    });
    EXPECT_TRUE(r) << r.error().message();
  });
  while (port == 0) {
    std::this_thread::sleep_for(1ms);
  }
  auto r = rt->block_on([&] {
    EXPECT_NE(xcoro::this_worker(), server_worker.load());  // the next worker in turn
    auto t = dial(port, *cctx);
    ASSERT_TRUE(t) << t.error().message();
    ASSERT_TRUE(t->write_all(bytes("hello from another worker\n"), long_timeout));
    std::error_code end;
    got = read_to_end(*t, end);
    EXPECT_EQ(end, errc::eof) << end.message();
  });
  server.join();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(got, "got hello from another worker\n");
}

// ---- bad input ----

// Two calls waiting on one stream at once: a programming error, reported by name.
TEST_F(Tls, TwoCallsAtOnceAbortWithTheCallsName) {
  // A forked child must not share the parent's io_uring: re-execute instead.
  GTEST_FLAG_SET(death_test_style, xcoro_test::death_test_style());
  EXPECT_DEATH(
      {
        auto sctx = server_ctx(certs().server);
        auto cctx = client_ctx();
        pair_up(
            sctx, cctx, "localhost",
            [&](aio::tls_stream& t) {
              std::byte b[1];
              (void)t.read(b, long_timeout);
            },
            [&](xcoro::result<aio::tls_stream>& t) {
              auto reader = xcoro::xasync([&] {
                std::byte b[1];
                (void)t->read(b, long_timeout);  // waits for data that never comes
              });
              (void)t->write_all(bytes("x"), long_timeout);  // while the read waits
              xcoro::xawait(*reader);
            });
      },
      "tls_stream::write.*one at a time");
}


TEST_F(Tls, ContextErrors) {
  // A missing file is the system's error; a file that is not PEM, OpenSSL's.
  auto missing = aio::tls_context::server(certs().dir / "none.pem", certs().key);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), std::errc::no_such_file_or_directory) << missing.error().message();
  auto not_pem = aio::tls_context::server(certs().dir / "localhost.ext", certs().key);
  ASSERT_FALSE(not_pem);
  EXPECT_EQ(not_pem.error().category(), aio::tls_category()) << not_pem.error().message();
  // The key of another certificate.
  auto mismatch = aio::tls_context::server(certs().ca, certs().key);
  ASSERT_FALSE(mismatch);
  EXPECT_EQ(mismatch.error().category(), aio::tls_category());
  EXPECT_NE(mismatch.error().message().find("mismatch"), std::string::npos)
      << mismatch.error().message();
  auto bad_alpn = aio::tls_context::client({.alpn = {""}});
  EXPECT_EQ(bad_alpn.error(), std::errc::invalid_argument);
  auto long_alpn = aio::tls_context::client({.alpn = {std::string(256, 'a')}});
  EXPECT_EQ(long_alpn.error(), std::errc::invalid_argument);
  auto server_ca = aio::tls_context::server(certs().server, certs().key, {.ca_file = certs().ca});
  EXPECT_EQ(server_ca.error(), std::errc::invalid_argument);
  auto no_ca = aio::tls_context::client({.ca_file = certs().dir / "none.pem"});
  EXPECT_FALSE(no_ca);
}

TEST_F(Tls, AVerifyingClientNeedsAHostName) {
  auto cctx = client_ctx();
  auto l = listener::make();
  auto r = aio::run(nullptr, [&] {
    auto c = connect_to(l.port);
    ASSERT_TRUE(c);
    auto t = aio::tls_stream::create(std::move(*c), cctx, {});
    ASSERT_FALSE(t);
    EXPECT_EQ(t.error(), std::errc::invalid_argument);
  });
  ASSERT_TRUE(r);
}

TEST_F(Tls, ErrorsCompareEqualToTheirXcoroCondition) {
  // The category's own codes are not xcoro's, but name them as conditions.
  EXPECT_STREQ(aio::tls_category().name(), "xcoro.tls");
  EXPECT_EQ(xcoro::make_error_code(errc::tls_truncated), errc::tls_truncated);
  EXPECT_NE(xcoro::make_error_code(errc::tls_truncated), errc::eof);
  EXPECT_NE(std::make_error_code(std::errc::timed_out), errc::canceled);
  EXPECT_FALSE(xcoro::make_error_code(errc::tls_bad_certificate).message().empty());
}

}  // namespace
