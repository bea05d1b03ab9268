// Certificates for the TLS tests, made once per test program with the openssl tool in a
// temporary directory (removed at exit): a CA, a server certificate for localhost and
// 127.0.0.1 signed by it, one that has expired, one for another name, and one signed by a
// CA the clients do not know.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace xcoro_test {

struct tls_certs {
  std::filesystem::path dir;
  std::filesystem::path ca;       // the CA the clients trust
  std::filesystem::path key;      // the key of every server certificate below
  std::filesystem::path server;   // localhost, 127.0.0.1; signed by `ca`
  std::filesystem::path expired;  // as `server`, but it expired a day ago
  std::filesystem::path other;    // other.example only; signed by `ca`
  std::filesystem::path rogue;    // localhost, signed by a CA nobody trusts
  std::string error;              // why they could not be made; empty when they were

  tls_certs(const tls_certs&) = delete;
  tls_certs& operator=(const tls_certs&) = delete;

  /// The certificates of this process, made at the first call.
  static const tls_certs& get() {
    static tls_certs c;
    return c;
  }

 private:
  tls_certs() {
    if (std::system("openssl version >/dev/null 2>&1") != 0) {
      error = "the openssl tool is not installed (scripts/deps.sh installs it)";
      return;
    }
    char tmpl[] = "/tmp/xcoro-tls-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) {
      error = "mkdtemp failed";
      return;
    }
    dir = tmpl;
    ca = dir / "ca.pem";
    key = dir / "server.key";
    server = dir / "server.pem";
    expired = dir / "expired.pem";
    other = dir / "other.pem";
    rogue = dir / "rogue.pem";
    auto write = [&](const char* name, const char* text) {
      std::ofstream(dir / name) << text;
    };
    write("localhost.ext", "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
    write("other.ext", "subjectAltName=DNS:other.example\n");
    std::string d = dir.string();
    std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    std::string ca_ext =
        " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign";
    std::string script =
        "set -e; cd '" + d + "'; exec 2>gen.log;" +
        // The trusted CA and a rogue one.
        "openssl req -x509" + ec + " -keyout ca.key -out ca.pem -days 2 -subj /CN=xcoro-test-ca" +
        ca_ext + ";" + "openssl req -x509" + ec +
        " -keyout rogue-ca.key -out rogue-ca.pem -days 2 -subj /CN=xcoro-rogue-ca" + ca_ext +
        ";" +
        // One key and request, signed four ways.
        "openssl req" + ec + " -keyout server.key -out server.csr -subj /CN=localhost;" +
        "sign() { openssl x509 -req -in server.csr -CA $1.pem -CAkey $1.key -CAcreateserial"
        " -days $2 -extfile $3.ext -out $4.pem; };"
        "sign ca 2 localhost server; sign ca -1 localhost expired; sign ca 2 other other;"
        "sign rogue-ca 2 localhost rogue\n";
    write("gen.sh", script.c_str());
    if (std::system(("sh '" + d + "/gen.sh'").c_str()) != 0) {
      error = "openssl could not make the certificates (see " + d + "/gen.log)";
    }
  }
  ~tls_certs() {
    if (!dir.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(dir, ignored);
    }
  }
};

}  // namespace xcoro_test
