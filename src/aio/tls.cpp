// TLS over OpenSSL 3 (<xcoro/tls.hpp>): contexts, and streams that drive an SSL object
// through a BIO pair, moving its bytes to and from an aio::tcp with xcoro's own reads and
// writes. Built into the xcoro_tls library only, so that xcoro itself does not link OpenSSL.
#include "xcoro/tls.hpp"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <cerrno>
#include <string>
#include <utility>

namespace xcoro::aio {

// An error of tls_category packs what kind of failure it is and OpenSSL's detail into the
// int of the error_code, so that message() can give OpenSSL's text without storage:
//   bits 24..27  the kind below
//   bits  0..23  bad_certificate: the X509_V_ERR_* value;
//                handshake and protocol: OpenSSL's library (bits 16..23) and reason
//                (bits 0..15), or 0 with peer_closed.
namespace {

enum kind : int {
  protocol = 0,         // after the handshake: compares equal to no xcoro errc
  handshake_failure = 1,// errc::tls_handshake_failed
  bad_certificate = 2,  // errc::tls_bad_certificate
  setup = 3,            // a context or stream OpenSSL would not make
};
constexpr int kind_shift = 24;
constexpr int peer_closed = 0;  // handshake detail: the socket ended during the handshake

// The records are at most 16 KiB of plaintext, 16 KiB + 2 KiB of ciphertext on the wire
// (RFC 5246 6.2.3), plus a 5-byte header: each direction's buffer holds one whole record.
constexpr std::size_t bio_buffer = 20 * 1024;

int pack(kind k, int detail) {
  return (static_cast<int>(k) << kind_shift) | (detail & 0xFFFFFF);
}

class tls_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "xcoro.tls"; }
  std::string message(int value) const override {
    int k = (value >> kind_shift) & 0xF;
    int detail = value & 0xFFFFFF;
    if (k == bad_certificate) {
      return std::string("TLS certificate verify failed: ") +
             X509_verify_cert_error_string(detail);
    }
    std::string what = k == handshake_failure ? "TLS handshake failed: "
                       : k == setup   ? "TLS setup failed: "
                                      : "TLS error: ";
    if (k == handshake_failure && detail == peer_closed) {
      return what + "the peer closed the connection";
    }
    unsigned long code = ERR_PACK(static_cast<unsigned>(detail >> 16) & 0xFF, 0,
                                  static_cast<unsigned>(detail) & 0xFFFF);
    const char* reason = ERR_reason_error_string(code);
    return what + (reason != nullptr ? reason : "reason " + std::to_string(detail & 0xFFFF));
  }
  std::error_condition default_error_condition(int value) const noexcept override {
    switch ((value >> kind_shift) & 0xF) {
      case handshake_failure:
        return {static_cast<int>(errc::tls_handshake_failed), xcoro::category()};
      case bad_certificate:
        return {static_cast<int>(errc::tls_bad_certificate), xcoro::category()};
      default:
        return {value, *this};
    }
  }
};

// The error OpenSSL's queue holds, as `k`, and the queue emptied: the first error queued,
// which is the cause (those after it say which calls it failed), or, if the cause is the
// system's (a file that cannot be opened), that system error.
std::error_code take_error(kind k) {
  unsigned long first = 0;
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    if (ERR_SYSTEM_ERROR(e)) {
      ERR_clear_error();
      return {static_cast<int>(ERR_GET_REASON(e)), std::system_category()};
    }
    if (first == 0) {
      first = e;
    }
  }
  if (first == 0) {
    return {pack(k, 0xFFFF), tls_category()};  // no reason given: "reason 65535"
  }
  int lib = ERR_GET_LIB(first) & 0xFF;
  int reason = ERR_GET_REASON(first) & 0xFFFF;
  return {pack(k, (lib << 16) | reason), tls_category()};
}

// ALPN's wire format: each name behind its one-byte length.
result<std::string> alpn_wire(const std::vector<std::string>& names) {
  std::string wire;
  for (const auto& n : names) {
    if (n.empty() || n.size() > 255) {
      return std::make_error_code(std::errc::invalid_argument);
    }
    wire.push_back(static_cast<char>(n.size()));
    wire += n;
  }
  return wire;
}

}  // namespace

const std::error_category& tls_category() noexcept {
  static const tls_category_impl c;
  return c;
}

struct tls_context::state {
  SSL_CTX* ctx = nullptr;
  bool server = false;
  std::string alpn;  // wire format; the server's select callback reads it
  ~state() { SSL_CTX_free(ctx); }
};

namespace {

// The server's ALPN choice: its own first protocol that the client offers (RFC 7301 3.2:
// no overlap is a fatal no_application_protocol alert).
int select_alpn(SSL*, const unsigned char** out, unsigned char* out_len, const unsigned char* in,
                unsigned in_len, void* arg) {
  const auto* s = static_cast<const tls_context::state*>(arg);
  unsigned char* chosen = nullptr;
  const auto* ours = reinterpret_cast<const unsigned char*>(s->alpn.data());
  if (SSL_select_next_proto(&chosen, out_len, ours, static_cast<unsigned>(s->alpn.size()), in,
                            in_len) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

// What both sides share: the minimum version, the ALPN list.
result<std::unique_ptr<tls_context::state>> make_state(bool server, const tls_options& o) {
  auto wire = alpn_wire(o.alpn);
  if (!wire) {
    return wire.error();
  }
  auto s = std::make_unique<tls_context::state>();
  s->server = server;
  s->alpn = std::move(*wire);
  ERR_clear_error();
  s->ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  if (s->ctx == nullptr) {
    return take_error(setup);
  }
  int min = o.min_version == tls_version::tls1_3 ? TLS1_3_VERSION : TLS1_2_VERSION;
  if (SSL_CTX_set_min_proto_version(s->ctx, min) != 1) {
    return take_error(setup);
  }
  // Partial writes: write() returns after one record, as a socket's write returns after
  // what the kernel took. A moving buffer: a retried write may pass the rest of the span.
  SSL_CTX_set_mode(s->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (!s->alpn.empty()) {
    if (server) {
      SSL_CTX_set_alpn_select_cb(s->ctx, select_alpn, s.get());
    } else if (SSL_CTX_set_alpn_protos(s->ctx,
                                       reinterpret_cast<const unsigned char*>(s->alpn.data()),
                                       static_cast<unsigned>(s->alpn.size())) != 0) {
      // (The only OpenSSL call that returns 0 for success.)
      return take_error(setup);
    }
  }
  return s;
}

}  // namespace

result<tls_context> tls_context::client(tls_options o) {
  auto s = make_state(false, o);
  if (!s) {
    return s.error();
  }
  SSL_CTX* ctx = (*s)->ctx;
  if (!o.insecure_no_verify) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    int ok = o.ca_file.empty()
                 ? SSL_CTX_set_default_verify_paths(ctx)
                 : SSL_CTX_load_verify_locations(ctx, o.ca_file.c_str(), nullptr);
    if (ok != 1) {
      return take_error(setup);
    }
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  return tls_context(std::move(*s));
}

result<tls_context> tls_context::server(const std::filesystem::path& cert_chain_pem,
                                        const std::filesystem::path& key_pem, tls_options o) {
  if (!o.ca_file.empty()) {
    return std::make_error_code(std::errc::invalid_argument);
  }
  auto s = make_state(true, o);
  if (!s) {
    return s.error();
  }
  SSL_CTX* ctx = (*s)->ctx;
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_chain_pem.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, key_pem.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    return take_error(setup);
  }
  return tls_context(std::move(*s));
}

tls_context::tls_context(std::unique_ptr<state> s) noexcept : s_(std::move(s)) {}
tls_context::tls_context(tls_context&& o) noexcept = default;
tls_context& tls_context::operator=(tls_context&& o) noexcept = default;
tls_context::~tls_context() = default;
bool tls_context::is_server() const noexcept { return s_ && s_->server; }
ssl_ctx_st* tls_context::native_handle() const noexcept { return s_ ? s_->ctx : nullptr; }

result<tls_stream> tls_stream::create(tcp socket, tls_context& ctx, tls_stream_options o) {
  SSL_CTX* c = ctx.native_handle();
  bool server = ctx.is_server();
  bool verify = !server && (SSL_CTX_get_verify_mode(c) & SSL_VERIFY_PEER) != 0;
  if (verify && o.host.empty()) {
    return std::make_error_code(std::errc::invalid_argument);
  }
  ERR_clear_error();
  SSL* ssl = SSL_new(c);
  if (ssl == nullptr) {
    return std::make_error_code(std::errc::not_enough_memory);
  }
  BIO* inside = nullptr;
  BIO* net = nullptr;
  if (BIO_new_bio_pair(&inside, bio_buffer, &net, bio_buffer) != 1) {
    SSL_free(ssl);
    return std::make_error_code(std::errc::not_enough_memory);
  }
  SSL_set_bio(ssl, inside, inside);  // the SSL owns `inside` from here
  tls_stream t(std::move(socket), ssl, net);
  if (server) {
    SSL_set_accept_state(ssl);
    return t;
  }
  SSL_set_connect_state(ssl);
  if (!o.host.empty()) {
    unsigned char addr[16];
    bool is_ip = inet_pton(AF_INET, o.host.c_str(), addr) == 1 ||
                 inet_pton(AF_INET6, o.host.c_str(), addr) == 1;
    // SNI carries host names only (RFC 6066 3); an address is checked against the
    // certificate's IP addresses instead of its names.
    if (is_ip) {
      if (verify && X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), o.host.c_str()) != 1) {
        return take_error(setup);
      }
    } else if (SSL_set_tlsext_host_name(ssl, o.host.c_str()) != 1 ||
               (verify && SSL_set1_host(ssl, o.host.c_str()) != 1)) {
      return take_error(setup);
    }
  }
  return t;
}

tls_stream::tls_stream(tcp socket, ssl_st* ssl, bio_st* net) noexcept
    : socket_(std::move(socket)), ssl_(ssl), net_(net) {}

tls_stream::tls_stream(tls_stream&& o) noexcept
    : socket_(std::move(o.socket_)),
      ssl_(std::exchange(o.ssl_, nullptr)),
      net_(std::exchange(o.net_, nullptr)),
      eof_(o.eof_) {}

tls_stream& tls_stream::operator=(tls_stream&& o) noexcept {
  if (this != &o) {
    free_ssl();
    socket_ = std::move(o.socket_);
    ssl_ = std::exchange(o.ssl_, nullptr);
    net_ = std::exchange(o.net_, nullptr);
    eof_ = o.eof_;
  }
  return *this;
}

tls_stream::~tls_stream() { free_ssl(); }

void tls_stream::free_ssl() noexcept {
  SSL_free(ssl_);  // and the inside half of the pair
  BIO_free(net_);
  ssl_ = nullptr;
  net_ = nullptr;
}

// Sends what OpenSSL has written into the pair, straight from the pair's buffer, one send
// at a time so that the pair gives up exactly what the socket took: a timeout or cancel in
// the middle leaves no byte both sent and still pending.
result<void> tls_stream::flush(const detail::call_deadline& d) {
  for (;;) {
    char* out = nullptr;
    int n = BIO_nread0(net_, &out);
    if (n <= 0) {
      return {};
    }
    milliseconds left{0};
    const milliseconds* t = d.left(left);
    auto bytes = std::as_bytes(std::span(out, static_cast<std::size_t>(n)));
    auto sent = t != nullptr ? socket_.write(bytes, *t) : socket_.write(bytes);
    if (!sent) {
      return sent.error();
    }
    BIO_nread(net_, nullptr, static_cast<int>(*sent));
  }
}

// One read of the socket, straight into the pair's free space.
result<void> tls_stream::fill(const detail::call_deadline& d) {
  char* in = nullptr;
  int room = BIO_nwrite0(net_, &in);
  if (room <= 0) {
    // OpenSSL asked for bytes while a whole record is buffered: cannot happen with
    // buffers larger than a record, but never spin on it.
    return take_error(protocol);
  }
  milliseconds left{0};
  const milliseconds* t = d.left(left);
  auto into = std::as_writable_bytes(std::span(in, static_cast<std::size_t>(room)));
  auto got = t != nullptr ? socket_.read(into, *t) : socket_.read(into);
  if (!got) {
    if (got.error() == errc::eof) {
      eof_ = true;
    }
    return got.error();
  }
  BIO_nwrite(net_, nullptr, static_cast<int>(*got));
  return {};
}

// What a failed SSL call means, from SSL_get_error's answer and the error queue.
std::error_code tls_stream::failure(int ssl_error) const {
  bool in_handshake = SSL_is_init_finished(ssl_) == 0;
  long verify = SSL_get_verify_result(ssl_);
  if (in_handshake && (SSL_get_verify_mode(ssl_) & SSL_VERIFY_PEER) != 0 && verify != X509_V_OK) {
    ERR_clear_error();
    return {pack(bad_certificate, static_cast<int>(verify)), tls_category()};
  }
  if (ssl_error == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
    // The pair never fails; OpenSSL saw the end of its input.
    return in_handshake ? std::error_code(pack(handshake_failure, peer_closed), tls_category())
                        : make_error_code(errc::tls_truncated);
  }
  return take_error(in_handshake ? handshake_failure : protocol);
}

// Runs `call` (an SSL_* call returning > 0 on success) until it succeeds or fails for
// good: its output goes to the socket after every attempt, and when it wants input, one
// read of the socket feeds it. SSL_ERROR_ZERO_RETURN (close_notify received) is errc::eof.
template <class Call>
result<int> tls_stream::drive(const char* name, Call call, const milliseconds* timeout) {
  if (ssl_ == nullptr) {
    return std::make_error_code(std::errc::bad_file_descriptor);
  }
  // Two operations waiting at once would both move bytes of the pair: a programming error.
  if (busy_) {
    xcoro::detail::fatal(name, xcoro::xframe(),
                         "while another call on the same tls_stream is waiting (one at a time)");
  }
  struct busy_mark {
    bool& b;
    explicit busy_mark(bool& flag) : b(flag) { b = true; }
    ~busy_mark() { b = false; }
  } mark(busy_);
  detail::call_deadline d(timeout);
  for (;;) {
    ERR_clear_error();
    int n = call();
    int e = n > 0 ? SSL_ERROR_NONE : SSL_get_error(ssl_, n);
    // Handshake messages, alerts and records: out before anything else, even after an
    // error (the alert that tells the peer why).
    if (auto f = flush(d); !f) {
      return f.error();
    }
    switch (e) {
      case SSL_ERROR_NONE:
        return n;
      case SSL_ERROR_WANT_WRITE:
        continue;  // the pair was full; flushed above
      case SSL_ERROR_WANT_READ:
        if (eof_) {
          return failure(SSL_ERROR_SYSCALL);
        }
        if (auto f = fill(d); !f) {
          if (f.error() == errc::eof) {
            return failure(SSL_ERROR_SYSCALL);
          }
          return f.error();
        }
        continue;
      case SSL_ERROR_ZERO_RETURN:
        return make_error_code(errc::eof);
      default:
        return failure(e);
    }
  }
}

namespace {
result<void> done(const result<int>& r) {
  return r ? result<void>() : result<void>(r.error());
}
int clamp(std::size_t n) {
  return n > 0x40000000 ? 0x40000000 : static_cast<int>(n);
}
}  // namespace

result<void> tls_stream::handshake() {
  return done(drive("tls_stream::handshake", [this] { return SSL_do_handshake(ssl_); }, nullptr));
}
result<void> tls_stream::handshake(milliseconds timeout) {
  return done(drive("tls_stream::handshake", [this] { return SSL_do_handshake(ssl_); }, &timeout));
}

result<std::size_t> tls_stream::read_for(std::span<std::byte> buf, const milliseconds* timeout) {
  if (buf.empty()) {
    return std::size_t{0};
  }
  auto r = drive(
      "tls_stream::read", [&] { return SSL_read(ssl_, buf.data(), clamp(buf.size())); }, timeout);
  return r ? result<std::size_t>(static_cast<std::size_t>(*r)) : result<std::size_t>(r.error());
}
result<std::size_t> tls_stream::read(std::span<std::byte> buf) { return read_for(buf, nullptr); }
result<std::size_t> tls_stream::read(std::span<std::byte> buf, milliseconds timeout) {
  return read_for(buf, &timeout);
}

result<std::size_t> tls_stream::write_for(std::span<const std::byte> buf,
                                          const milliseconds* timeout) {
  if (buf.empty()) {
    return std::size_t{0};
  }
  auto r = drive(
      "tls_stream::write", [&] { return SSL_write(ssl_, buf.data(), clamp(buf.size())); }, timeout);
  return r ? result<std::size_t>(static_cast<std::size_t>(*r)) : result<std::size_t>(r.error());
}
result<std::size_t> tls_stream::write(std::span<const std::byte> buf) {
  return write_for(buf, nullptr);
}
result<std::size_t> tls_stream::write(std::span<const std::byte> buf, milliseconds timeout) {
  return write_for(buf, &timeout);
}

// write_all as writes of what is left, under one deadline.
result<void> tls_stream::write_all_for(std::span<const std::byte> buf,
                                       const milliseconds* timeout) {
  detail::call_deadline d(timeout);
  while (!buf.empty()) {
    milliseconds left{0};
    auto n = write_for(buf, d.left(left));
    if (!n) {
      return n.error();
    }
    buf = buf.subspan(*n);
  }
  return {};
}
result<void> tls_stream::write_all(std::span<const std::byte> buf) {
  return write_all_for(buf, nullptr);
}
result<void> tls_stream::write_all(std::span<const std::byte> buf, milliseconds timeout) {
  return write_all_for(buf, &timeout);
}

// SSL_shutdown returns 0 once close_notify is sent and the peer's has not come: done.
result<void> tls_stream::shutdown() {
  return done(drive("tls_stream::shutdown", [this] { return SSL_shutdown(ssl_) >= 0 ? 1 : -1; },
                    nullptr));
}
result<void> tls_stream::shutdown(milliseconds timeout) {
  return done(drive("tls_stream::shutdown", [this] { return SSL_shutdown(ssl_) >= 0 ? 1 : -1; },
                    &timeout));
}

result<void> tls_stream::close() { return socket_.close(); }

std::string_view tls_stream::alpn() const noexcept {
  const unsigned char* p = nullptr;
  unsigned n = 0;
  if (ssl_ != nullptr) {
    SSL_get0_alpn_selected(ssl_, &p, &n);
  }
  return p == nullptr ? std::string_view() : std::string_view(reinterpret_cast<const char*>(p), n);
}

bool tls_stream::handshake_done() const noexcept {
  return ssl_ != nullptr && SSL_is_init_finished(ssl_) != 0;
}

}  // namespace xcoro::aio
