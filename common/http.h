// The HTTP interface every layer talks through. The libcurl implementation is
// api/curl_transport.h; unit tests use an in-memory fake (tests/support/fake_transport.h).
//
// A Transport never retries and never interprets Globus documents: it returns the status,
// headers and body, or a kTransport Error. Retries, rate limits and error parsing are the
// api/ layer's business.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace gf::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method = "GET";  // GET, POST, PUT, DELETE, HEAD
  std::string url;
  Headers headers;
  std::string body;

  // A streamed request body (uploads), used instead of `body` when `read` is set: exactly
  // `size` bytes, sent with Content-Length. read(offset, buf, len) fills `buf` with up to `len`
  // bytes starting at `offset` and returns how many (> 0 while offset < size). A negative return
  // is -errno: the transfer stops with a kTransport/kOther Error whose sys_errno is that errno
  // (a local read failure is not a network fault and is never retried). Each Send() starts
  // again at offset 0, so a retried request re-reads the source.
  struct BodySource {
    uint64_t size = 0;
    std::function<int64_t(uint64_t offset, char* buf, std::size_t len)> read;
  };
  BodySource body_source;

  // When set, body bytes of a 2xx answer are handed here as they arrive instead of being
  // collected in Response::body. Return false to abort the transfer (the result is kAborted).
  // Bodies of non-2xx answers are always collected in Response::body (so error documents can
  // be parsed) and never passed to on_body.
  std::function<bool(std::string_view chunk)> on_body;

  // When set, called once with the final status and headers (names lower-cased) before the
  // first on_body call. Return false to abort the transfer (the result is kAborted). Used by
  // ranged reads to check Content-Range / notice an ignored Range before consuming bytes.
  std::function<bool(int status, const Headers& headers)> on_headers;

  // Overall deadline for this request (0 = the transport's default). Negative: no overall
  // deadline (an upload whose length depends on its size); the transport's low-speed abort
  // still ends a stalled transfer.
  std::chrono::milliseconds timeout{0};

  // Set by another thread to abort the request early (e.g. FUSE interrupt). May be null.
  const std::atomic<bool>* cancel = nullptr;

  // Open a new connection for this request instead of reusing an idle one (a retry after a
  // failure that may be stuck to the connection used before).
  bool fresh_connection = false;
};

struct Response {
  int status = 0;
  Headers headers;  // names lower-cased
  std::string body;

  // First value of a header (name case-insensitive), or "" when absent.
  std::string Header(std::string_view name) const;
};

class Transport {
 public:
  virtual ~Transport() = default;
  virtual Result<Response> Send(const Request& request) = 0;
};

// Percent-encode a string for a query component (RFC 3986 unreserved kept).
std::string UrlEncode(std::string_view s);
// Percent-encode a path, keeping '/' separators.
std::string UrlEncodePath(std::string_view path);
// Build "a=b&c=d" from pairs, encoding both sides.
std::string FormEncode(const std::vector<std::pair<std::string, std::string>>& fields);
// Decode %XX and '+' (for forms).
std::string UrlDecode(std::string_view s, bool plus_is_space = true);

}  // namespace gf::http
