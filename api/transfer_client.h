// TransferClient: TransferApi over Transfer v0.10 (globus-api.md §1).
//
// Each method builds one request (URL-encoded query, JSON body), hands it to the shared
// RequestExecutor (token for transfer.api.globus.org, client-side rate limit, SDK retry policy,
// error parsing), and parses the answer with documents.h. Errors carry a context such as
// "ls <collection>:<path>".
//
// Idempotency decisions (what a retry after a lost answer may do):
//   - GETs and CancelTask: retried freely.
//   - Every answer body is parsed inside the executor's attempt loop: a 2xx that does not parse
//     is a failed attempt (kMalformedBody), retried within the budget when the call is safe to
//     repeat. GETs and submissions read their bodies; mkdir and rename only check that theirs
//     parse (a proxy's page must not pass for success); cancel takes any 2xx as done.
//   - SubmitTransfer/SubmitDelete: retried with the same submission_id, which the service
//     deduplicates; "Duplicate" is success. An empty submission_id is fetched first, so a
//     submission is never sent without one. An answer lost or unreadable (timeout, reset, 5xx,
//     malformed 2xx) is resolved by submitting again: the service looks the submission_id up
//     and answers "Duplicate" with the task_id of the first submission, so no task is ever
//     created twice.
//   - Mkdir: retried; "ExternalError.MkdirFailed.Exists" after an ambiguous earlier attempt
//     (timeout/reset/5xx) is our own earlier success and reported as success.
//   - Rename: not idempotent (a repeated rename fails or, worse, renames something new).
//     Retried when the failure proves the server never saw it (CertainlyNotProcessed), or
//     when, after an ambiguous failure (timeout, reset, 5xx), a stat finds the old path still
//     there: a rename is atomic, so no attempt did it (only another client creating a file at
//     the old name in that instant could be renamed instead; upload temp names are unique).
//     When the call ends in failure after an ambiguous attempt, it looks again: old path gone
//     and new path there is reported as done; anything else returns the failure.
//
// Thread-safe (no mutable state besides what the executor's collaborators guard).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "api/rate_limiter.h"
#include "api/request_executor.h"
#include "api/retry.h"
#include "api/transfer_api.h"
#include "auth/token_source.h"
#include "common/clock.h"
#include "common/http.h"

namespace gf::api {

class TransferClient final : public TransferApi {
 public:
  TransferClient(http::Transport& transport, auth::TokenSource& tokens,
                 std::string transfer_url /* service root, no /v0.10 */, RetryPolicy retry = {},
                 RateLimiter* limiter = nullptr, Clock& clock = SystemClock::Instance());

  Result<Endpoint> GetEndpoint(const std::string& id) override;
  Result<std::vector<Endpoint>> EndpointSearch(const EndpointSearchQuery& q) override;
  Result<std::vector<Bookmark>> BookmarkList() override;

  Result<FileList> Ls(const std::string& collection, const LsQuery& q) override;
  Result<FileEntry> Stat(const std::string& collection, const std::string& path) override;
  Status Mkdir(const std::string& collection, const std::string& path) override;
  Status Rename(const std::string& collection, const std::string& old_path,
                const std::string& new_path) override;

  Result<std::string> GetSubmissionId() override;
  Result<SubmitResult> SubmitTransfer(const TransferRequest& r) override;
  Result<SubmitResult> SubmitDelete(const DeleteRequest& r) override;

  Result<Task> GetTask(const std::string& task_id) override;
  Result<std::vector<Task>> TaskList(const TaskListQuery& q) override;
  Status CancelTask(const std::string& task_id) override;
  Result<std::vector<Event>> EventList(const std::string& task_id, int limit = 100,
                                       int offset = 0) override;
  Result<SuccessfulTransfersPage> SuccessfulTransfers(const std::string& task_id,
                                                      const std::string& marker) override;

  // The full URL for `path` (e.g. "/task_list") with an encoded query; public for tests.
  using Query = std::vector<std::pair<std::string, std::string>>;
  std::string Url(const std::string& path, const Query& query = {}) const;

  // The `filter` value for a task list query: "task_id:a,b/status:ACTIVE/type:TRANSFER".
  static std::string TaskFilter(const TaskListQuery& q);

 private:
  // GET `url` with its 2xx body parsed inside the retry loop (a malformed body is retried).
  template <class T>
  Result<T> Get(const std::string& url, const std::string& context,
                Result<T> (*parse)(std::string_view));
  Result<http::Response> Post(const std::string& url, std::string body, CallOptions options,
                              CallStats* stats = nullptr);
  Result<SubmitResult> Submit(const std::string& path, const std::string& body,
                              const std::string& context);

  RequestExecutor exec_;
  std::string base_;  // transfer_url + "/v0.10"
  Clock& clock_;
};

}  // namespace gf::api
