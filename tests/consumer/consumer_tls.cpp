// Checks that an installed or embedded xcoro::tls links and runs: the target carries
// OpenSSL (found by xcoro-config.cmake) without the consumer naming it. Exits 0 only if a
// client context is made with verification on, and a server context on files that do not
// exist fails with the system's error.
#include <xcoro/tls.hpp>

#include <cstdio>
#include <system_error>

int main() {
  namespace aio = xcoro::aio;
  auto client = aio::tls_context::client();
  if (!client) {
    std::printf("tls_context::client: %s\n", client.error().message().c_str());
    return 1;
  }
  auto server = aio::tls_context::server("/nonexistent/chain.pem", "/nonexistent/key.pem");
  if (server || server.error() != std::errc::no_such_file_or_directory) {
    std::printf("tls_context::server on missing files did not fail as expected\n");
    return 1;
  }
  std::printf("xcoro::tls: contexts made through the installed package\n");
  return 0;
}
