#include "api/https_client.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <unistd.h>

#include "common/log.h"

namespace gf::api {
namespace {

// All `src.size` bytes of a body source, read once (for a body sent from memory).
Result<std::string> ReadWhole(const http::Request::BodySource& src) {
  std::string out(src.size, '\0');
  for (uint64_t got = 0; got < src.size;) {
    const int64_t n = src.read(got, out.data() + got, src.size - got);
    if (n < 0)
      return Error::Local(
          static_cast<int>(-n),
          "put: reading the upload body: " + std::string(std::strerror(static_cast<int>(-n))));
    if (n == 0)
      return Error::Local(EIO, "put: the file to upload holds " + std::to_string(got) + " of " +
                                   std::to_string(src.size) + " bytes");
    got += static_cast<uint64_t>(n);
  }
  return out;
}

bool Is2xx(int s) { return s >= 200 && s < 300; }

std::optional<uint64_t> ParseU64(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

std::string HeaderValue(const http::Headers& h, std::string_view name) {
  http::Response r;
  r.headers = h;
  return r.Header(name);
}

// State of one GetRange call, shared by the per-attempt callbacks.
struct RangeRead {
  uint64_t offset = 0, length = 0;
  const std::function<bool(std::string_view)>* sink = nullptr;
  uint64_t delivered = 0;  // bytes handed to the sink, over all attempts

  // Per attempt (reset by Begin()).
  int status = 0;
  uint64_t attempt_start = 0;
  uint64_t skip = 0;                 // leading bytes to drop (200 that ignored Range)
  std::optional<uint64_t> promised;  // bytes this attempt should deliver
  std::optional<Error> fault;        // protocol problem found in the headers

  bool done = false;          // every wanted byte delivered: a later abort is ours
  bool sink_stopped = false;  // the sink returned false
  std::optional<std::string> first_etag;
  RangeResult result;

  uint64_t remaining() const { return length - delivered; }

  void Begin(http::Request& req) {
    status = 0;
    attempt_start = delivered;
    skip = 0;
    promised.reset();
    fault.reset();
    SetHeader(
        req.headers, "Range",
        "bytes=" + std::to_string(offset + delivered) + "-" + std::to_string(offset + length - 1));
  }

  bool OnHeaders(int st, const http::Headers& h) {
    status = st;
    if (!Is2xx(st)) return true;  // an error document: the executor parses it
    std::string etag = HeaderValue(h, "etag");
    if (first_etag && !first_etag->empty() && !etag.empty() && etag != *first_etag) {
      Error e = Error::Transport(TransportFailure::kOther,
                                 "the file changed on the server during the read (ETag " +
                                     *first_etag + " -> " + etag + ")");
      e.sys_errno = ESTALE;
      fault = std::move(e);
      return false;
    }
    if (!first_etag) first_etag = etag;
    result.etag = etag;
    if (auto lm = ParseHttpDate(HeaderValue(h, "last-modified"))) result.last_modified = lm;

    const uint64_t want_start = offset + delivered;
    if (st == 206) {
      auto cr = ParseContentRange(HeaderValue(h, "content-range"));
      if (!cr || cr->start != want_start) {
        fault = Error::Transport(TransportFailure::kMalformedBody,
                                 "206 with Content-Range \"" +
                                     HeaderValue(h, "content-range").substr(0, 60) +
                                     "\" for a read at " + std::to_string(want_start));
        return false;
      }
      if (cr->total) result.total_size = cr->total;
      promised = std::min(cr->end - cr->start + 1, remaining());
      return true;
    }
    // 200 (or another 2xx): the server sent the whole file from byte 0.
    result.range_ignored = true;
    skip = want_start;
    if (auto cl = ParseU64(HeaderValue(h, "content-length"))) {
      result.total_size = *cl;
      promised = *cl > skip ? std::min(*cl - skip, remaining()) : 0;
      if (*promised == 0) {
        done = true;  // nothing of the file lies in our range: do not download it
        return false;
      }
    }
    return true;
  }

  bool OnBody(std::string_view chunk) {
    if (skip > 0) {
      uint64_t n = std::min<uint64_t>(skip, chunk.size());
      chunk.remove_prefix(n);
      skip -= n;
    }
    uint64_t take = std::min<uint64_t>(remaining(), chunk.size());
    if (take > 0) {
      if (!(*sink)(chunk.substr(0, take))) {
        sink_stopped = true;
        return false;
      }
      delivered += take;
    }
    if (remaining() == 0) {
      done = true;
      // Stop a body that carries more than we asked for (a 200 sends the rest of the file).
      if (take < chunk.size() || status != 206) return false;
    }
    return true;
  }

  std::optional<Error> Validate(const http::Response& r) const {
    if (!Is2xx(r.status) || done) return std::nullopt;
    uint64_t got = delivered - attempt_start;
    if (promised && got < *promised) {
      return Error::Transport(TransportFailure::kTruncated,
                              "body ended after " + std::to_string(got) + " of " +
                                  std::to_string(*promised) + " bytes");
    }
    return std::nullopt;
  }
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// Header parsing
// ---------------------------------------------------------------------------------------------
std::optional<ContentRange> ParseContentRange(std::string_view v) {
  constexpr std::string_view kUnit = "bytes ";
  if (v.substr(0, kUnit.size()) != kUnit) return std::nullopt;
  v.remove_prefix(kUnit.size());
  auto dash = v.find('-');
  auto slash = v.find('/');
  if (dash == std::string_view::npos || slash == std::string_view::npos || slash < dash) {
    return std::nullopt;
  }
  auto start = ParseU64(v.substr(0, dash));
  auto end = ParseU64(v.substr(dash + 1, slash - dash - 1));
  if (!start || !end || *end < *start) return std::nullopt;
  ContentRange cr{*start, *end, std::nullopt};
  std::string_view total = v.substr(slash + 1);
  if (total != "*") {
    cr.total = ParseU64(total);
    if (!cr.total || *cr.total <= *end) return std::nullopt;
  }
  return cr;
}

std::optional<uint64_t> ParseUnsatisfiedRangeTotal(std::string_view v) {
  constexpr std::string_view kPrefix = "bytes */";
  if (v.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  return ParseU64(v.substr(kPrefix.size()));
}

std::optional<std::time_t> ParseHttpDate(std::string_view v) {
  // "Sun, 06 Nov 1994 08:49:37 GMT"
  static const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  auto comma = v.find(", ");
  if (comma == std::string_view::npos) return std::nullopt;
  v.remove_prefix(comma + 2);
  if (v.size() != 24 || v.substr(20) != " GMT") return std::nullopt;
  int month = 0;
  for (int i = 0; i < 12; ++i) {
    if (v.substr(3, 3) == kMonths[i]) month = i + 1;
  }
  if (month == 0 || v[2] != ' ' || v[6] != ' ' || v[11] != ' ') return std::nullopt;
  // Rebuild it in the file-document format: "YYYY-MM-DD HH:MM:SS+00:00".
  std::string iso = std::string(v.substr(7, 4)) + "-" + (month < 10 ? "0" : "") +
                    std::to_string(month) + "-" + std::string(v.substr(0, 2)) + " " +
                    std::string(v.substr(12, 8)) + "+00:00";
  return ParseGlobusTime(iso);
}

// ---------------------------------------------------------------------------------------------
// DataApi
// ---------------------------------------------------------------------------------------------
std::string DataApi::FileUrl(const CollectionRef& c, const std::string& path) {
  std::string origin = c.https_server;
  auto scheme = origin.find("://");
  auto cut = origin.find_first_of("/?#", scheme == std::string::npos ? 0 : scheme + 3);
  if (cut != std::string::npos) origin.resize(cut);
  std::string p = path.empty() || path.front() != '/' ? "/" + path : path;
  return origin + http::UrlEncodePath(p);
}

HttpsClient::HttpsClient(http::Transport& transport, auth::TokenSource& tokens, RetryPolicy retry)
    : exec_(transport, tokens, std::move(retry), nullptr) {}

std::string HttpsClient::HttpsScope(const std::string& collection_id) {
  return "https://auth.globus.org/scopes/" + collection_id + "/https";
}

Error HttpsClient::AuthRemedy(Error e, const std::string& collection_id) {
  if (e.kind != ErrorKind::kApi || (e.http_status != 302 && e.http_status != 401)) return e;
  if (!e.authorization) e.authorization = AuthorizationParameters{};
  if (e.authorization->required_scopes.empty()) {
    e.authorization->required_scopes.push_back(HttpsScope(collection_id));
  }
  if (e.code.empty()) e.code = "AuthorizationRequired";
  return e;
}

Result<RangeResult> HttpsClient::GetRange(const CollectionRef& c, const std::string& path,
                                          uint64_t offset, uint64_t length,
                                          const std::function<bool(std::string_view)>& sink,
                                          const std::atomic<bool>* cancel) {
  if (length == 0) return RangeResult{};
  if (offset > UINT64_MAX - length) {
    return Error::Local(EINVAL, "read range overflows");
  }
  RangeRead st;
  st.offset = offset;
  st.length = length;
  st.sink = &sink;

  http::Request req;
  req.method = "GET";
  req.url = FileUrl(c, path);
  req.headers.emplace_back("X-Requested-With", "XMLHttpRequest");
  req.on_headers = [&st](int s, const http::Headers& h) { return st.OnHeaders(s, h); };
  req.on_body = [&st](std::string_view chunk) { return st.OnBody(chunk); };

  CallOptions o;
  o.resource_server = c.id;
  o.context = "read " + c.id + ":" + path + " [" + std::to_string(offset) + "+" +
              std::to_string(length) + "]";
  o.cancel = cancel;
  o.accept = [](int s) { return Is2xx(s) || s == 416; };
  o.before_attempt = [&st](http::Request& r) { st.Begin(r); };
  o.validate = [&st](const http::Response& r) { return st.Validate(r); };

  auto r = exec_.Execute(std::move(req), o);
  if (!r.ok()) {
    Error e = std::move(r).error();
    if (e.kind == ErrorKind::kTransport && e.transport == TransportFailure::kAborted) {
      if (st.done) {
        st.result.bytes = st.delivered;
        return st.result;
      }
      if (st.fault) {
        Error f = *st.fault;
        f.context = o.context;
        return f;
      }
    }
    return AuthRemedy(std::move(e), c.id);
  }
  if (r->status == 416) {
    if (auto total = ParseUnsatisfiedRangeTotal(r->Header("content-range"))) {
      st.result.total_size = total;
    }
  }
  st.result.bytes = st.delivered;
  return st.result;
}

Status HttpsClient::Put(const CollectionRef& c, const std::string& path, const UploadBody& body,
                        const std::atomic<bool>* cancel) {
  if (body.size > 0 && body.fd < 0) return Error::Local(EBADF, "put: no file to upload");
  http::Request req;
  req.method = "PUT";
  req.url = FileUrl(c, path);
  req.headers.emplace_back("X-Requested-With", "XMLHttpRequest");
  req.headers.emplace_back("Content-Type", "application/octet-stream");
  req.body_source.size = body.size;
  req.body_source.read = [&body](uint64_t offset, char* buf, std::size_t len) -> int64_t {
    ssize_t n;
    do {
      n = ::pread(body.fd, buf, len, static_cast<off_t>(offset));
    } while (n < 0 && errno == EINTR);
    if (n < 0) return -errno;
    if (body.progress) body.progress->store(offset + static_cast<uint64_t>(n));
    return n;  // 0 before the end: the file shrank, which the transport reports
  };
  const bool inline_body = body.size > 0 && body.size <= kInlineUploadMax;
  if (inline_body) {
    // A small body goes out with the request line and headers in one write: the server wakes
    // once for the whole request (a small-file `cp -r` makes one PUT per file; see
    // docs/PERFORMANCE.md). It is read once, here; a retry sends the same bytes.
    auto bytes = ReadWhole(req.body_source);
    if (!bytes.ok()) return bytes.error();
    req.body = std::move(*bytes);
    req.body_source = {};
  }
  // An upload takes as long as its size needs; a stalled one still ends (low-speed abort).
  req.timeout = std::chrono::milliseconds(-1);
  CallOptions o;
  o.resource_server = c.id;
  o.context = "put " + c.id + ":" + path + " (" + std::to_string(body.size) + " bytes)";
  o.cancel = cancel;
  // Idempotent in effect: every attempt sends the whole body again (re-read from the file from
  // offset 0, or the small body's bytes read before the first) and a PUT replaces whatever an
  // earlier, cut attempt left at the name; sending the same bytes twice makes the same file. So a
  // reset, a timeout, a 5xx or the transient 404 is retried like a GET, within the retry budget.
  // The budget is time since the first attempt, so an upload that fails after a long transfer is
  // not sent again: the caller reports it (docs/WRITES.md).
  o.idempotent = true;
  o.before_attempt = [&body](http::Request&) {
    if (body.progress) body.progress->store(0);
  };
  auto r = exec_.Execute(std::move(req), o);
  if (!r.ok()) return AuthRemedy(std::move(r).error(), c.id);
  if (inline_body && body.progress) body.progress->store(body.size);
  return Status::Ok();
}

Status HttpsClient::Delete(const CollectionRef& c, const std::string& path) {
  http::Request req;
  req.method = "DELETE";
  req.url = FileUrl(c, path);
  req.headers.emplace_back("X-Requested-With", "XMLHttpRequest");
  CallOptions o;
  o.resource_server = c.id;
  o.context = "delete " + c.id + ":" + path;
  // Idempotent in effect (HTTP says so too): a DELETE sent twice removes the file once, and the
  // second answer is a 404 that the lines below turn into success. So resets, timeouts, 5xx and
  // the transient 404 are retried within the budget, like a GET: `rm` rides out what `cat`
  // does.
  o.idempotent = true;
  CallStats stats;
  auto r = exec_.Execute(std::move(req), o, &stats);
  if (!r.ok()) {
    Error e = AuthRemedy(std::move(r).error(), c.id);
    // An earlier attempt may have deleted it before its answer was lost. A transient backend
    // fault (404 + ENDPOINT_ERROR, code set by ParseApiError) is not "missing".
    if (stats.ambiguous && e.kind == ErrorKind::kApi && e.http_status == 404 &&
        !IsTransientBackendFault(e)) {
      log::Info("https", o.context, ": missing after an ambiguous retry; treating as deleted");
      return Status::Ok();
    }
    return e;
  }
  return Status::Ok();
}

}  // namespace gf::api
