// How libcurl failures are classified for retrying: a TLS handshake the network cut is a
// failed connect (retried by every call, as nothing was sent), a real TLS problem is not.
#include <curl/curl.h>
#include <catch2/catch.hpp>
#include <cerrno>

#include "api/curl_transport.h"
#include "api/retry.h"

using namespace gf;
using namespace gf::api;

TEST_CASE("a handshake cut by the network is a failed connect", "[curl]") {
  // The messages libcurl 7.88 + OpenSSL 3 gives for a server that resets or closes the
  // connection during the handshake (a restart, a proxy): all CURLE_SSL_CONNECT_ERROR.
  struct Row {
    long os_errno;
    const char* detail;
  } rows[] = {
      {ECONNRESET, "Send failure: Connection reset by peer"},
      {ECONNRESET, "Recv failure: Connection reset by peer"},
      {0, "Recv failure: Connection reset by peer"},
      {0, "OpenSSL SSL_connect: SSL_ERROR_SYSCALL in connection to 127.0.0.1:38973"},
      {EPIPE, "Send failure: Broken pipe"},
      {0, "error:0A000126:SSL routines::unexpected eof while reading"},
      {ETIMEDOUT, "SSL connection timeout"},
  };
  for (const Row& r : rows) {
    INFO(r.detail);
    TransportFailure f = ClassifyCurlFailure(CURLE_SSL_CONNECT_ERROR, r.os_errno, r.detail);
    CHECK(f == TransportFailure::kConnect);
    Error e = Error::Transport(f, r.detail);
    CHECK(IsRetryable(e));
    CHECK(CertainlyNotProcessed(e));  // so a PUT, a rename, a submit retry it too
  }
}

TEST_CASE("a real TLS problem stays a TLS failure", "[curl]") {
  CHECK(ClassifyCurlFailure(CURLE_SSL_CONNECT_ERROR, 0,
                            "error:0A00042E:SSL routines::tlsv1 alert protocol version") ==
        TransportFailure::kTls);
  CHECK(ClassifyCurlFailure(CURLE_PEER_FAILED_VERIFICATION, ECONNRESET,
                            "SSL certificate problem: unable to get local issuer certificate") ==
        TransportFailure::kTls);
  CHECK_FALSE(IsRetryable(Error::Transport(TransportFailure::kTls, "m")));
}

TEST_CASE("other failures keep their classes", "[curl]") {
  CHECK(ClassifyCurlFailure(CURLE_RECV_ERROR, ECONNRESET, "Recv failure") ==
        TransportFailure::kReset);
  CHECK(ClassifyCurlFailure(CURLE_COULDNT_CONNECT, ECONNREFUSED, "refused") ==
        TransportFailure::kConnect);
  CHECK(ClassifyCurlFailure(CURLE_PARTIAL_FILE, 0, "") == TransportFailure::kTruncated);
  CHECK(ClassifyCurlFailure(CURLE_OPERATION_TIMEDOUT, ETIMEDOUT, "") == TransportFailure::kTimeout);
}
