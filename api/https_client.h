// HttpsClient: DataApi over a collection's HTTPS server (GCSv5 `https_server`, globus-api.md §4).
//
//   URL     DataApi::FileUrl: the https_server origin + the percent-encoded absolute path ('/'
//           kept). Like `new URL(path, https_server)` in the official SDK, the path replaces
//           any path the https_server value may carry.
//   Token   TokenSource::AccessToken(<collection id>) (resource server = the collection).
//   Headers always `X-Requested-With: XMLHttpRequest` (so an unauthenticated request gets a
//           JSON 401 instead of a login redirect); redirects are never followed.
//   Auth    302 or 401 (after the executor's one refresh-and-retry) become a kApi Error that
//           NeedsAuthorization(), with required_scopes =
//           ["https://auth.globus.org/scopes/<C>/https"] when the body named none.
//   Reads   GetRange sends `Range: bytes=a-b` and accepts 206 (Content-Range start must match),
//           200 (Range ignored: leading bytes are skipped, the read stops after `length`,
//           range_ignored is set) and 416 (offset at/after EOF: 0 bytes, total size reported).
//           A body shorter than promised is kTruncated. Retries follow the shared policy and
//           RESUME: a reset or truncation mid-body re-requests only the bytes not yet delivered
//           to the sink, so the sink sees every byte exactly once. If the ETag changes between
//           attempts the read fails (sys_errno ESTALE) rather than splice two versions.
//   Writes  Put (PUT, application/octet-stream, idempotent overwrite) and Delete (DELETE).
//
// Thread-safe; per-call state lives on the stack.
#pragma once

#include "api/request_executor.h"
#include "api/retry.h"
#include "api/transfer_api.h"
#include "auth/token_source.h"
#include "common/http.h"

namespace gf::api {

class HttpsClient final : public DataApi {
 public:
  HttpsClient(http::Transport& transport, auth::TokenSource& tokens, RetryPolicy retry = {});

  Result<RangeResult> GetRange(const CollectionRef& c, const std::string& path, uint64_t offset,
                               uint64_t length, const std::function<bool(std::string_view)>& sink,
                               const std::atomic<bool>* cancel = nullptr) override;
  // A body up to kInlineUploadMax bytes is read into memory before the first attempt and sent
  // with the headers in one write; a bigger one streams from the file (pread per chunk, again
  // at every attempt). Either way the file's descriptor offset is not moved.
  static constexpr uint64_t kInlineUploadMax = 64 * 1024;
  Status Put(const CollectionRef& c, const std::string& path, const UploadBody& body,
             const std::atomic<bool>* cancel = nullptr) override;
  Status Delete(const CollectionRef& c, const std::string& path) override;

  // The scope a collection's HTTPS token needs.
  static std::string HttpsScope(const std::string& collection_id);

 private:
  // Adds the HTTPS scope remedy to a 302/401 error.
  static Error AuthRemedy(Error e, const std::string& collection_id);

  RequestExecutor exec_;
};

// Parsing helpers (public for tests).
struct ContentRange {
  uint64_t start = 0, end = 0;    // inclusive
  std::optional<uint64_t> total;  // nullopt for "*"
};
// "bytes 0-99/1234" or "bytes 0-99/*"; nullopt when malformed.
std::optional<ContentRange> ParseContentRange(std::string_view v);
// "bytes */1234" (a 416 answer) -> 1234.
std::optional<uint64_t> ParseUnsatisfiedRangeTotal(std::string_view v);
// IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT" -> time_t.
std::optional<std::time_t> ParseHttpDate(std::string_view v);

}  // namespace gf::api
