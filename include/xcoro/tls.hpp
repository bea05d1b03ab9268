// TLS over OpenSSL 3 for aio streams: a context (certificates, verification, ALPN) and a
// stream that runs the protocol over an aio::tcp through memory BIOs, so that every wait is
// an ordinary xcoro operation with its timeouts and cancellation. In the library xcoro::tls
// (CMake option XCORO_WITH_TLS); programs that do not include this header do not link
// OpenSSL. See docs/io.md, "TLS (OpenSSL 3)".
#pragma once

#include "xcoro/config.hpp"

#if XCORO_WITH_AIO

#include <cstddef>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "xcoro/aio.hpp"
#include "xcoro/export.hpp"
#include "xcoro/result.hpp"

// OpenSSL's types, declared so that this header does not include OpenSSL's.
struct ssl_st;
struct ssl_ctx_st;
struct bio_st;

namespace xcoro::aio {

/// The category of TLS errors that carry OpenSSL's detail: an X509 verification result
/// ("certificate has expired", "hostname mismatch") or an OpenSSL reason ("wrong version
/// number", "tlsv1 alert unknown ca"), in message(). Its name is "xcoro.tls". Each error
/// compares equal to the xcoro::errc it is an instance of: errc::tls_bad_certificate for a
/// verification failure, errc::tls_handshake_failed for any other failure of the
/// handshake. A protocol error after the handshake compares equal to neither.
XCORO_EXPORT const std::error_category& tls_category() noexcept;

/// The oldest protocol version a context accepts.
enum class tls_version {
  tls1_2,
  tls1_3,
};

/// How a tls_context is made. The defaults are the safe ones.
struct tls_options {
  /// Client: a PEM file of the certificate authorities to trust instead of the system's
  /// trust store. Servers do not verify clients: a server context with a CA file is
  /// std::errc::invalid_argument.
  std::filesystem::path ca_file{};
  /// ALPN protocols ("h2", "http/1.1"), most preferred first. A client offers them; a
  /// server picks the first of its list that the client offers, and fails the handshake
  /// (errc::tls_handshake_failed) when the client offers ALPN but none of these. Each name
  /// is 1 to 255 bytes (std::errc::invalid_argument otherwise).
  std::vector<std::string> alpn{};
  /// Client: do not verify the server's certificate or name. Anyone on the path can then
  /// read and change the traffic; for tests against self-signed servers only.
  bool insecure_no_verify = false;
  /// The oldest version accepted; TLS 1.2 at least.
  tls_version min_version = tls_version::tls1_2;
};

/// An OpenSSL SSL_CTX: the certificates, the verification settings and the ALPN list that
/// tls_streams are made with. Move-only. It must outlive the streams made from it. Not
/// changed after it is made, so streams on several threads may share it.
class XCORO_EXPORT tls_context {
 public:
  /// A client context: verifies the server (SSL_VERIFY_PEER) against the system's trust
  /// store or `o.ca_file`, unless `o.insecure_no_verify`. Errors: a tls_category error if
  /// OpenSSL refuses the settings; the system error of a CA file it cannot open;
  /// std::errc::invalid_argument for a bad ALPN name.
  static result<tls_context> client(tls_options o = {});
  /// A server context with the certificate chain (the server's certificate first) and the
  /// private key in two PEM files. Errors: the system error of a file it cannot open; a
  /// tls_category error for a file that is not PEM or a key that does not match the
  /// certificate; std::errc::invalid_argument for a CA file or a bad ALPN name.
  static result<tls_context> server(const std::filesystem::path& cert_chain_pem,
                                    const std::filesystem::path& key_pem, tls_options o = {});

  tls_context(tls_context&& o) noexcept;
  tls_context& operator=(tls_context&& o) noexcept;
  ~tls_context();

  /// Whether streams made with this context take the server's side.
  bool is_server() const noexcept;
  /// The SSL_CTX, for settings this class does not cover. Changing it while streams use it
  /// is the caller's business.
  ssl_ctx_st* native_handle() const noexcept;

  /// Internal: the context's state (the SSL_CTX, and the ALPN list its callback reads).
  struct state;

 private:
  explicit tls_context(std::unique_ptr<state> s) noexcept;
  std::unique_ptr<state> s_;
};

/// The per-connection settings of a tls_stream.
struct tls_stream_options {
  /// Client: the server's name, checked against its certificate and sent as SNI (not sent
  /// for an IP address, which is checked against the certificate's IP addresses). Required
  /// unless the context is insecure_no_verify. Servers ignore it.
  std::string host{};
};

/// TLS over a connected aio::tcp, which the stream owns. The protocol runs in OpenSSL
/// against two memory buffers (a BIO pair of 20 KiB each way, allocated once, at the
/// first handshake step); the stream moves bytes between them and the socket with the
/// socket's own reads and writes. So each call is a cancellation point, takes a timeout
/// that bounds the whole call, and works on both backends and on any worker of a runtime
/// as the socket does. A read or write makes no allocation of xcoro's (OpenSSL 3.0 takes
/// and frees a buffer of its own per record). It has the stream shape that
/// aio::buffered_reader and aio::buffered_writer take.
///
/// One operation at a time: a read and a write may not wait at the same time from two
/// coroutines (both may move bytes of the other's records); a second call while one waits
/// aborts with a message naming the call and the coroutine. A write, handshake or shutdown
/// that fails, times out or is cancelled can leave part of a record unsent: the stream is
/// then unusable for writing, and should be closed. A read that times out or is cancelled
/// loses nothing.
///
/// Errors of every call: the socket's errors (std::errc::connection_reset, timed_out,
/// errc::canceled); tls_category errors (see tls_category()).
class XCORO_EXPORT tls_stream {
 public:
  /// Wraps a connected socket; the side (client or server) is the context's. Does no IO:
  /// the handshake happens in handshake(), or in the first read or write. `ctx` must
  /// outlive the stream. Errors: std::errc::invalid_argument for a client whose context
  /// verifies and `o.host` is empty; std::errc::not_enough_memory.
  static result<tls_stream> create(tcp socket, tls_context& ctx, tls_stream_options o = {});
  tls_stream(tls_stream&& o) noexcept;
  tls_stream& operator=(tls_stream&& o) noexcept;
  /// Frees the connection's state and closes the socket, without close_notify.
  ~tls_stream();

  /// Runs the handshake to its end; returns at once if it is done. Errors:
  /// errc::tls_bad_certificate (the peer's certificate did not verify; message() says
  /// why), errc::tls_handshake_failed (anything else, the peer closing the connection
  /// included), std::errc::timed_out, errc::canceled, the socket's errors.
  result<void> handshake();
  result<void> handshake(milliseconds timeout);
  /// Reads what is available, at least one byte (after the handshake, if it is not done).
  /// errc::eof once the peer has sent close_notify; errc::tls_truncated if it closed the
  /// connection without it (a response cut short could look complete).
  result<std::size_t> read(std::span<std::byte> buf);
  result<std::size_t> read(std::span<std::byte> buf, milliseconds timeout);
  /// Writes at least one byte of `buf` and at most one record (16 KiB), and returns when
  /// the socket has taken them.
  result<std::size_t> write(std::span<const std::byte> buf);
  result<std::size_t> write(std::span<const std::byte> buf, milliseconds timeout);
  /// Writes all of `buf`; the timeout bounds the whole call.
  result<void> write_all(std::span<const std::byte> buf);
  result<void> write_all(std::span<const std::byte> buf, milliseconds timeout);
  /// Sends close_notify, after which the peer's reads end with errc::eof, and returns once
  /// the socket has taken it. Does not wait for the peer's close_notify; the stream can
  /// still read until it arrives. Writing after it is an error.
  result<void> shutdown();
  result<void> shutdown(milliseconds timeout);
  /// Closes the socket (without close_notify: call shutdown() first for a clean end).
  /// std::errc::bad_file_descriptor if it is already closed.
  result<void> close();

  /// The ALPN protocol agreed in the handshake; empty if none (or before it).
  std::string_view alpn() const noexcept;
  /// Whether the handshake is done.
  bool handshake_done() const noexcept;
  /// The socket underneath.
  tcp& socket() noexcept { return socket_; }
  /// The SSL object, for what this class does not cover (the peer's certificate, the
  /// cipher).
  ssl_st* native_handle() const noexcept { return ssl_; }

 private:
  tls_stream(tcp socket, ssl_st* ssl, bio_st* net) noexcept;
  template <class Call>
  result<int> drive(const char* name, Call call, const milliseconds* timeout);
  result<std::size_t> read_for(std::span<std::byte> buf, const milliseconds* timeout);
  result<std::size_t> write_for(std::span<const std::byte> buf, const milliseconds* timeout);
  result<void> write_all_for(std::span<const std::byte> buf, const milliseconds* timeout);
  result<void> flush(const detail::call_deadline& d);
  result<void> fill(const detail::call_deadline& d);
  std::error_code failure(int ssl_error) const;
  void free_ssl() noexcept;

  tcp socket_;
  ssl_st* ssl_ = nullptr;  // owns the internal half of the BIO pair
  bio_st* net_ = nullptr;  // the network half: what is sent, what was received
  bool eof_ = false;       // the socket's read side has ended
  bool busy_ = false;      // a call is running (and may be waiting)
};

}  // namespace xcoro::aio

#endif  // XCORO_WITH_AIO
