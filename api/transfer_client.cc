#include "api/transfer_client.h"

#include <cerrno>

#include "api/json_reader.h"
#include "common/log.h"

namespace gf::api {
namespace {

constexpr const char* kJson = "application/json";

std::string EndpointPath(const std::string& collection, const char* op) {
  return "/operation/endpoint/" + http::UrlEncode(collection) + "/" + op;
}

// A validate function (CallOptions::validate) that parses a 2xx body into `out`: a body that
// does not parse (kMalformedBody) becomes a failed attempt inside the executor's loop, retried
// within the budget on an idempotent call and never blindly repeated on another.
template <class T>
std::function<std::optional<Error>(const http::Response&)> ParseInto(
    Result<T> (*parse)(std::string_view), std::optional<T>& out) {
  return [parse, &out](const http::Response& resp) -> std::optional<Error> {
    auto p = parse(resp.body);
    if (!p.ok()) return std::move(p).error();
    out = std::move(*p);
    return std::nullopt;
  };
}

// For calls whose answer nothing needs (mkdir, rename): the body must still parse, or a
// proxy's page (a 2xx that is not the service's JSON) would pass for success although the
// operation may never have reached the service. kMalformedBody is then an ambiguous failed
// attempt, resolved by each call's own rule.
std::optional<Error> JsonBody(const http::Response& resp) {
  rapidjson::Document doc;
  Status s = json::Parse(resp.body, doc, "result document");
  if (!s.ok()) return s.error();
  return std::nullopt;
}

std::string Join(const std::vector<std::string>& v, char sep) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

}  // namespace

TransferClient::TransferClient(http::Transport& transport, auth::TokenSource& tokens,
                               std::string transfer_url, RetryPolicy retry, RateLimiter* limiter,
                               Clock& clock)
    : exec_(transport, tokens, std::move(retry), limiter), clock_(clock) {
  while (!transfer_url.empty() && transfer_url.back() == '/') transfer_url.pop_back();
  base_ = transfer_url + "/v0.10";
}

std::string TransferClient::Url(const std::string& path, const Query& query) const {
  std::string url = base_ + path;
  if (!query.empty()) url += "?" + http::FormEncode(query);
  return url;
}

std::string TransferClient::TaskFilter(const TaskListQuery& q) {
  std::vector<std::string> clauses;
  if (!q.task_ids.empty()) clauses.push_back("task_id:" + Join(q.task_ids, ','));
  if (!q.statuses.empty()) clauses.push_back("status:" + Join(q.statuses, ','));
  if (!q.type.empty()) clauses.push_back("type:" + q.type);
  return Join(clauses, '/');
}

template <class T>
Result<T> TransferClient::Get(const std::string& url, const std::string& context,
                              Result<T> (*parse)(std::string_view)) {
  http::Request req;
  req.method = "GET";
  req.url = url;
  std::optional<T> parsed;
  CallOptions o;
  o.resource_server = auth::kTransferResourceServer;
  o.context = context;
  o.validate = ParseInto(parse, parsed);
  auto t0 = clock_.Now();
  auto r = exec_.Execute(std::move(req), o);
  log::Debug("transfer", context, " took ",
             std::chrono::duration_cast<Millis>(clock_.Now() - t0).count(), " ms");
  if (!r.ok()) return std::move(r).error();
  return std::move(*parsed);
}

Result<http::Response> TransferClient::Post(const std::string& url, std::string body, CallOptions o,
                                            CallStats* stats) {
  http::Request req;
  req.method = "POST";
  req.url = url;
  req.body = std::move(body);
  req.headers.emplace_back("Content-Type", kJson);
  o.resource_server = auth::kTransferResourceServer;
  auto t0 = clock_.Now();
  auto r = exec_.Execute(std::move(req), o, stats);
  log::Debug("transfer", o.context, " took ",
             std::chrono::duration_cast<Millis>(clock_.Now() - t0).count(), " ms");
  return r;
}

Result<Endpoint> TransferClient::GetEndpoint(const std::string& id) {
  return Get(Url("/endpoint/" + http::UrlEncode(id)), "endpoint " + id, ParseEndpoint);
}

Result<std::vector<Endpoint>> TransferClient::EndpointSearch(const EndpointSearchQuery& q) {
  Query query;
  if (!q.filter_fulltext.empty()) query.emplace_back("filter_fulltext", q.filter_fulltext);
  if (!q.filter_scope.empty()) query.emplace_back("filter_scope", q.filter_scope);
  if (q.filter_non_functional) {
    query.emplace_back("filter_non_functional", *q.filter_non_functional ? "1" : "0");
  }
  query.emplace_back("limit", std::to_string(q.limit));
  query.emplace_back("offset", std::to_string(q.offset));
  std::string ctx = "endpoint_search";
  return Get(Url("/endpoint_search", query), ctx, ParseEndpointList);
}

Result<std::vector<Bookmark>> TransferClient::BookmarkList() {
  return Get(Url("/bookmark_list"), "bookmark_list", ParseBookmarkList);
}

Result<FileList> TransferClient::Ls(const std::string& collection, const LsQuery& q) {
  Query query{{"path", q.path}, {"show_hidden", q.show_hidden ? "1" : "0"}};
  if (q.limit) query.emplace_back("limit", std::to_string(*q.limit));
  if (q.offset) query.emplace_back("offset", std::to_string(*q.offset));
  if (!q.orderby.empty()) query.emplace_back("orderby", q.orderby);
  for (const auto& f : q.filters) query.emplace_back("filter", f);
  std::string ctx = "ls " + collection + ":" + q.path;
  return Get(Url(EndpointPath(collection, "ls"), query), ctx, ParseFileList);
}

Result<FileEntry> TransferClient::Stat(const std::string& collection, const std::string& path) {
  std::string ctx = "stat " + collection + ":" + path;
  return Get(Url(EndpointPath(collection, "stat"), {{"path", path}}), ctx, ParseFileEntry);
}

Status TransferClient::Mkdir(const std::string& collection, const std::string& path) {
  CallOptions o;
  o.context = "mkdir " + collection + ":" + path;
  o.validate = JsonBody;
  CallStats stats;
  auto r = Post(Url(EndpointPath(collection, "mkdir")), SerializeMkdir(path), o, &stats);
  if (!r.ok()) {
    // Our own earlier attempt may have created it before its answer was lost.
    if (stats.ambiguous && r.error().code == "ExternalError.MkdirFailed.Exists") {
      log::Info("transfer", o.context, ": exists after an ambiguous retry; treating as created");
      return Status::Ok();
    }
    return r.error();
  }
  return Status::Ok();
}

Status TransferClient::Rename(const std::string& collection, const std::string& old_path,
                              const std::string& new_path) {
  CallOptions o;
  o.context = "rename " + collection + ":" + old_path + " -> " + new_path;
  o.idempotent = false;
  o.validate = JsonBody;
  // After an ambiguous failure, look. The caller saw old_path exist, so "old gone, new there" is
  // our own rename, done by an attempt whose answer was lost. A rename is atomic: while its
  // source is still there, no attempt renamed it, so another attempt is safe (a reset or a 5xx
  // need not end an upload's commit).
  CallStats stats;
  bool done = false;
  int looked_at = 0;  // the attempt whose failure was looked into last
  auto look = [&] {
    looked_at = stats.attempts;
    auto old_there = Stat(collection, old_path);
    if (old_there.ok()) return true;
    done = ErrnoFor(old_there.error()) == ENOENT && Stat(collection, new_path).ok();
    return false;
  };
  o.had_no_effect = [&](const Error&) { return look(); };
  auto r =
      Post(Url(EndpointPath(collection, "rename")), SerializeRename(old_path, new_path), o, &stats);
  if (r.ok()) return Status::Ok();
  // The last failure was not looked into: it came past the budget (the attempt may still have
  // renamed it), or plainly after an ambiguous one (e.g. "not found": the earlier attempt
  // renamed it after all).
  if (stats.ambiguous && looked_at != stats.attempts) look();
  if (!done) return r.error();
  log::Info("transfer", o.context, ": done by an attempt whose answer was lost");
  return Status::Ok();
}

Result<std::string> TransferClient::GetSubmissionId() {
  return Get(Url("/submission_id"), "submission_id", ParseSubmissionId);
}

Result<SubmitResult> TransferClient::Submit(const std::string& path, const std::string& body,
                                            const std::string& context) {
  CallOptions o;
  o.context = context;
  // Safe to repeat: the body carries a submission_id, so the service runs it at most once. A
  // repeat is also how a lost or unreadable answer (a 2xx that does not parse) is resolved:
  // the service answers a submission_id it knows with "Duplicate" and the original task_id.
  o.idempotent = true;
  std::optional<SubmitResult> parsed;
  o.validate = ParseInto(ParseSubmitResult, parsed);
  auto r = Post(Url(path), body, o);
  if (!r.ok()) return std::move(r).error();
  if (parsed->code != "Accepted" && parsed->code != "Duplicate") {
    log::Warn("transfer", context, ": unexpected result code ", parsed->code,
              " (treated as accepted)");
  }
  return std::move(*parsed);
}

Result<SubmitResult> TransferClient::SubmitTransfer(const TransferRequest& r) {
  if (!r.submission_id.empty()) {
    return Submit("/transfer", SerializeTransfer(r), "submit transfer " + r.submission_id);
  }
  auto id = GetSubmissionId();
  if (!id.ok()) return std::move(id).error();
  TransferRequest copy = r;
  copy.submission_id = *id;
  return Submit("/transfer", SerializeTransfer(copy), "submit transfer " + copy.submission_id);
}

Result<SubmitResult> TransferClient::SubmitDelete(const DeleteRequest& r) {
  if (!r.submission_id.empty()) {
    return Submit("/delete", SerializeDelete(r), "submit delete " + r.submission_id);
  }
  auto id = GetSubmissionId();
  if (!id.ok()) return std::move(id).error();
  DeleteRequest copy = r;
  copy.submission_id = *id;
  return Submit("/delete", SerializeDelete(copy), "submit delete " + copy.submission_id);
}

Result<Task> TransferClient::GetTask(const std::string& task_id) {
  std::string ctx = "task " + task_id;
  return Get(Url("/task/" + http::UrlEncode(task_id)), ctx, ParseTask);
}

Result<std::vector<Task>> TransferClient::TaskList(const TaskListQuery& q) {
  Query query{{"limit", std::to_string(q.limit)}, {"offset", std::to_string(q.offset)}};
  std::string filter = TaskFilter(q);
  if (!filter.empty()) query.emplace_back("filter", filter);
  return Get(Url("/task_list", query), "task_list", ParseTaskList);
}

Status TransferClient::CancelTask(const std::string& task_id) {
  CallOptions o;
  o.context = "cancel task " + task_id;
  auto r = Post(Url("/task/" + http::UrlEncode(task_id) + "/cancel"), "", o);
  if (!r.ok()) return r.error();
  return Status::Ok();
}

Result<std::vector<Event>> TransferClient::EventList(const std::string& task_id, int limit,
                                                     int offset) {
  std::string ctx = "event_list " + task_id;
  Query query{{"limit", std::to_string(limit)}, {"offset", std::to_string(offset)}};
  return Get(Url("/task/" + http::UrlEncode(task_id) + "/event_list", query), ctx, ParseEventList);
}

Result<SuccessfulTransfersPage> TransferClient::SuccessfulTransfers(const std::string& task_id,
                                                                    const std::string& marker) {
  std::string ctx = "successful_transfers " + task_id;
  Query query;
  if (!marker.empty()) query.emplace_back("marker", marker);
  return Get(Url("/task/" + http::UrlEncode(task_id) + "/successful_transfers", query), ctx,
             ParseSuccessfulTransfers);
}

}  // namespace gf::api
