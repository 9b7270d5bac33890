// CurlTransport: the libcurl implementation of http::Transport.
//
// Design:
//   - Thread-safe for any number of concurrent Send() calls. Easy handles come from a free-list
//     (taken for one request, reset and returned afterwards), so handles - and through them
//     keep-alive connections - are reused without a handle per thread.
//   - One CURLSH share object holds the DNS cache, TLS session cache and connection cache for
//     all handles (CURL_LOCK_DATA_CONNECT sharing, supported by libcurl >= 7.57; we run 7.88),
//     so a connection opened by one thread is reused by the next request on any thread.
//   - TLS is always verified: VERIFYPEER/VERIFYHOST are never turned off; `ca_file` adds a CA
//     bundle (CURLOPT_CAINFO) for globus-sim.
//   - Proxies: libcurl honours http_proxy / https_proxy / no_proxy (and upper-case forms) by
//     default; we never set CURLOPT_PROXY or CURLOPT_NOPROXY, so the environment decides.
//   - Stale connections: a kept-alive connection that the server or a NAT dropped while idle
//     fails on reuse (reset, empty reply). libcurl re-sends such a request on a new
//     connection by itself when nothing came back; beyond that the failure is kReset, which
//     api/ retries with Request::fresh_connection (CURLOPT_FRESH_CONNECT).
//   - Redirects are never followed: a 3xx is returned as a Response (HTTPS 302 = "log in").
//   - Streaming: with Request::on_body, 2xx bodies go to the callback; other bodies are kept in
//     Response::body. on_headers/on_body returning false, or Request::cancel becoming true
//     or the process shutting down (gf::Cancelled, checked in the progress callback), end the
//     transfer with kAborted.
//   - Errors map to TransportFailure (ClassifyCurlFailure); CURLE_PARTIAL_FILE (body shorter
//     than Content-Length) is kTruncated. A TLS handshake the network cut (reset, EOF, timeout:
//     a server restarting, a proxy, Wi-Fi dropping) is kConnect, like a refused connection:
//     the request was not sent, so every call may retry it. Other handshake failures are kTls.
//   - Logging: log::Debug of method, URL, status and time only - never headers or bodies.
//
// Locks (all leaves, never nested): pool_mu_ guards the free-list; share_mu_[i] is the lock
// libcurl asks for on shared data i (taken and released by libcurl inside curl calls).
#pragma once

#include <array>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/http.h"

#ifndef GF_VERSION
#define GF_VERSION "0.0.0"
#endif

namespace gf::api {

// What a failed libcurl transfer was: `curl_code` is its CURLcode, `os_errno` its
// CURLINFO_OS_ERRNO, `detail` its error message. CURLE_SSL_CONNECT_ERROR stands for any failed
// TLS handshake, a bad certificate chain as well as a connection reset mid-handshake; only the
// socket error (or, when libcurl did not record it, the message) tells them apart.
TransportFailure ClassifyCurlFailure(int curl_code, long os_errno, std::string_view detail);

class CurlTransport final : public http::Transport {
 public:
  struct Options {
    std::string ca_file;           // extra CA bundle; empty = system store
    double connect_timeout = 10;   // seconds
    double low_speed_time = 30;    // abort when below low_speed_limit B/s for this long
    long low_speed_limit = 1;      // bytes per second
    double request_timeout = 120;  // overall, when Request::timeout is 0
    std::string user_agent = "globus-fuse/" GF_VERSION;
    bool verbose = false;  // CURLOPT_VERBOSE (stderr; debugging only)
  };

  explicit CurlTransport(Options o);
  ~CurlTransport() override;
  CurlTransport(const CurlTransport&) = delete;
  CurlTransport& operator=(const CurlTransport&) = delete;

  Result<http::Response> Send(const http::Request& request) override;

 private:
  void* AcquireHandle();  // CURL*
  void ReleaseHandle(void* h);

  Options opts_;
  void* share_ = nullptr;  // CURLSH*
  // Indexed by curl_lock_data (all values < CURL_LOCK_DATA_LAST <= 16, checked in the .cc).
  std::array<std::mutex, 16> share_mu_;

  std::mutex pool_mu_;       // guards free_
  std::vector<void*> free_;  // idle CURL* handles
};

}  // namespace gf::api
