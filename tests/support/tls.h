// TLS for the tests: certificates made with the openssl program (a self-signed one is its own
// CA), and a raw TLS client that sends exactly the bytes a test gives, for hostile requests over
// TLS that a real client would not send.
#pragma once

#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/test_util.h"

namespace hayate::test {

struct CertFiles {
  std::string cert, key;
};

// A fresh self-signed P-256 certificate for 127.0.0.1 and localhost (or `names`, a
// subjectAltName value), valid for a day, written as PEM to DIR/NAME.crt and DIR/NAME.key.
inline CertFiles make_cert(const std::string& dir, const std::string& name,
                           const std::string& names = "IP:127.0.0.1,DNS:localhost") {
  CertFiles f{dir + "/" + name + ".crt", dir + "/" + name + ".key"};
  const auto r = run_command("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
                             "-subj /CN=" +
                             name + " -addext subjectAltName=" + names + " -keyout " + f.key + " -out " + f.cert +
                             " 2>&1");
  if (r.exit_code != 0) throw std::runtime_error("openssl req failed: " + r.output);
  return f;
}

// One TLS connection to 127.0.0.1:port made with blocking OpenSSL calls; the server's certificate
// is not checked (the tests that check it use net's client). Reads time out after 30 s so that a
// server that never answers fails the test instead of hanging it.
class RawTls {
 public:
  explicit RawTls(int port) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      throw std::runtime_error("connect to 127.0.0.1:" + std::to_string(port) + " failed");
    const timeval tv{30, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    if (SSL_connect(ssl_) != 1) throw std::runtime_error("TLS handshake with 127.0.0.1:" + std::to_string(port) + " failed");
  }
  ~RawTls() {
    if (ssl_) SSL_free(ssl_);
    if (fd_ >= 0) ::close(fd_);
    SSL_CTX_free(ctx_);
  }
  RawTls(const RawTls&) = delete;
  RawTls& operator=(const RawTls&) = delete;

  // False once the server has closed (a write into a closed connection).
  bool send(const std::string& bytes) {
    return bytes.empty() || SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size())) > 0;
  }
  // Everything the server sends until it closes (or 30 s of silence).
  std::string read_all() {
    std::string out;
    char buf[4096];
    int n;
    while ((n = SSL_read(ssl_, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    return out;
  }

 private:
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  int fd_ = -1;
};

}  // namespace hayate::test
