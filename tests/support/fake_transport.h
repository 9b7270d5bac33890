// FakeTransport: an in-memory http::Transport for unit tests of api/ (no network).
//
// Answers come from a FIFO script (Push*) or, when the script is empty, from a handler
// function (for answers that depend on the request, e.g. paging). Every request is recorded
// (without its callbacks) for assertions. It follows the Transport contract exactly like
// CurlTransport: on_headers is called once per answer before any body byte; 2xx bodies go to
// on_body (in chunks of `chunk_size`) when set; other bodies stay in Response::body; a false
// return from either callback, or a set cancel flag, gives kAborted.
// An answer can also be cut after N body bytes with a transport error (a reset mid-body).
//
// Thread-safe (one mutex guards the script and the log; callbacks run outside it).
#pragma once

#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/http.h"

namespace gf::testing {

struct RecordedRequest {
  std::string method;
  std::string url;
  http::Headers headers;
  std::string body;  // a streamed body (Request::body_source) is read in full and kept here
  bool fresh_connection = false;
  bool streamed = false;  // the body came from Request::body_source (not Request::body)
  std::string Header(std::string_view name) const;  // case-insensitive, "" when absent
};

class FakeTransport : public http::Transport {
 public:
  struct Answer {
    std::optional<http::Response> response;  // or:
    std::optional<Error> error;              // a transport failure before any answer
    // Cut the body after this many bytes and fail with `cut_error` (default kReset).
    std::optional<std::size_t> cut_after;
    Error cut_error = Error::Transport(TransportFailure::kReset, "connection reset by peer");
  };
  using Handler = std::function<Answer(const RecordedRequest&)>;
  // Answers every request for which nothing is scripted; unlike a Handler it runs outside the
  // transport's lock, so it may block (a test holding a refresh open) while others send.
  using Responder = std::function<Result<http::Response>(const RecordedRequest&)>;

  FakeTransport() = default;
  explicit FakeTransport(Responder r) : responder_(std::move(r)) {}

  // Convenience constructors.
  static Answer Reply(int status, std::string body, http::Headers headers = {});
  static Answer Fail(TransportFailure f, std::string message = "injected");

  void Push(Answer a);
  void Push(int status, std::string body, http::Headers headers = {}) {
    Push(Reply(status, std::move(body), std::move(headers)));
  }
  void SetHandler(Handler h);
  std::size_t chunk_size = 7;  // small, so streaming code sees many chunks

  Result<http::Response> Send(const http::Request& request) override;

  std::vector<RecordedRequest> requests() const;
  std::size_t request_count() const;
  std::size_t pending() const;  // scripted answers not consumed yet

 private:
  mutable std::mutex mu_;  // guards script_, handler_, log_
  std::deque<Answer> script_;
  Handler handler_;
  const Responder responder_;  // set at construction only: read without the lock
  std::vector<RecordedRequest> log_;
};

// A response with a JSON content type.
http::Response Json(int status, std::string body);

// The value of a field in an x-www-form-urlencoded body ("" when absent).
std::string FormField(const std::string& body, const std::string& key);

}  // namespace gf::testing
