#include "tests/support/fake_transport.h"

#include <algorithm>
#include <cctype>
#include <cerrno>

namespace gf::testing {

std::string RecordedRequest::Header(std::string_view name) const {
  http::Response r;
  r.headers = headers;
  return r.Header(name);
}

FakeTransport::Answer FakeTransport::Reply(int status, std::string body, http::Headers headers) {
  Answer a;
  http::Response r;
  r.status = status;
  r.body = std::move(body);
  for (auto& [k, v] : headers) {
    std::string lower = k;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    r.headers.emplace_back(std::move(lower), std::move(v));
  }
  a.response = std::move(r);
  return a;
}

FakeTransport::Answer FakeTransport::Fail(TransportFailure f, std::string message) {
  Answer a;
  a.error = Error::Transport(f, std::move(message));
  return a;
}

void FakeTransport::Push(Answer a) {
  std::lock_guard<std::mutex> l(mu_);
  script_.push_back(std::move(a));
}

void FakeTransport::SetHandler(Handler h) {
  std::lock_guard<std::mutex> l(mu_);
  handler_ = std::move(h);
}

std::vector<RecordedRequest> FakeTransport::requests() const {
  std::lock_guard<std::mutex> l(mu_);
  return log_;
}

std::size_t FakeTransport::request_count() const {
  std::lock_guard<std::mutex> l(mu_);
  return log_.size();
}

std::size_t FakeTransport::pending() const {
  std::lock_guard<std::mutex> l(mu_);
  return script_.size();
}

namespace {
// Reads a streamed body the way CurlTransport does (from offset 0, in small pieces, never past
// `size`, a short or failed read is an error), so the recorded body is what would be sent.
Result<std::string> DrainBody(const http::Request::BodySource& src, std::size_t piece) {
  std::string out;
  std::string buf(std::max<std::size_t>(piece, 1), '\0');
  while (out.size() < src.size) {
    const std::size_t want =
        static_cast<std::size_t>(std::min<uint64_t>(buf.size(), src.size - out.size()));
    const int64_t got = src.read(out.size(), buf.data(), want);
    if (got <= 0 || static_cast<uint64_t>(got) > want) {
      Error e = Error::Transport(TransportFailure::kOther, "reading the upload body failed");
      e.sys_errno = got < 0 ? static_cast<int>(-got) : EIO;
      return e;
    }
    out.append(buf.data(), static_cast<std::size_t>(got));
  }
  return out;
}
}  // namespace

Result<http::Response> FakeTransport::Send(const http::Request& req) {
  RecordedRequest rec{req.method, req.url, req.headers, req.body, req.fresh_connection};
  if (req.body_source.read) {
    auto body = DrainBody(req.body_source, 4096);
    if (!body.ok()) return body.error();
    rec.body = std::move(*body);
    rec.streamed = true;
  }
  Answer a;
  bool respond = false;
  {
    std::lock_guard<std::mutex> l(mu_);
    log_.push_back(rec);
    if (!script_.empty()) {
      a = std::move(script_.front());
      script_.pop_front();
    } else if (responder_) {
      respond = true;
    } else if (handler_) {
      a = handler_(rec);  // runs under mu_: handlers must not call back into the transport
    } else {
      return Error::Transport(TransportFailure::kOther, "FakeTransport: no scripted answer for " +
                                                            req.method + " " + req.url);
    }
  }
  if (respond) return responder_(rec);
  if (req.cancel && req.cancel->load())
    return Error::Transport(TransportFailure::kAborted, "cancelled");
  if (a.error) return *a.error;
  if (!a.response) return Error::Transport(TransportFailure::kOther, "FakeTransport: empty answer");

  http::Response resp = std::move(*a.response);
  if (req.on_headers && !req.on_headers(resp.status, resp.headers)) {
    return Error::Transport(TransportFailure::kAborted, "aborted by on_headers");
  }
  std::string body = std::move(resp.body);
  resp.body.clear();
  std::size_t limit = a.cut_after ? std::min(*a.cut_after, body.size()) : body.size();
  const bool stream = req.on_body && resp.status >= 200 && resp.status < 300;
  for (std::size_t pos = 0; pos < limit;) {
    if (req.cancel && req.cancel->load())
      return Error::Transport(TransportFailure::kAborted, "cancelled");
    std::size_t n = std::min(std::max<std::size_t>(chunk_size, 1), limit - pos);
    std::string_view chunk(body.data() + pos, n);
    if (stream) {
      if (!req.on_body(chunk))
        return Error::Transport(TransportFailure::kAborted, "aborted by on_body");
    } else {
      resp.body.append(chunk);
    }
    pos += n;
  }
  if (a.cut_after) return a.cut_error;
  return resp;
}

http::Response Json(int status, std::string body) {
  http::Response r;
  r.status = status;
  r.headers = {{"content-type", "application/json"}};
  r.body = std::move(body);
  return r;
}

std::string FormField(const std::string& body, const std::string& key) {
  std::size_t start = 0;
  while (start <= body.size()) {
    const auto amp = body.find('&', start);
    const std::string kv =
        body.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
    const auto eq = kv.find('=');
    if (http::UrlDecode(kv.substr(0, eq)) == key)
      return eq == std::string::npos ? "" : http::UrlDecode(kv.substr(eq + 1));
    if (amp == std::string::npos) break;
    start = amp + 1;
  }
  return "";
}

}  // namespace gf::testing
