// TransferClient over FakeTransport: URLs and encoding, paging, auth refresh, retries,
// idempotent submission.
#include <catch2/catch.hpp>

#include "api/transfer_client.h"
#include "tests/support/fake_transport.h"
#include "tests/support/fixtures.h"
#include "tests/support/token_fixed.h"
#include "tests/unit/api/test_policy.h"

using namespace gf;
using namespace gf::api;
using gf::testing::FakeTransport;
using gf::testing::FixedTokenSource;
using gf::testing::Fixture;

namespace {
constexpr const char* kRoot = "https://transfer.example";
constexpr const char* kBase = "https://transfer.example/v0.10";
const std::string kTransferRs = auth::kTransferResourceServer;

struct Env {
  FakeTransport transport;
  FixedTokenSource tokens;
  gf::testing::RecordingSleeper sleeper;
  FakeClock clock;
  TransferClient client{transport,        tokens,  std::string(kRoot) + "/",
                        sleeper.Policy(), nullptr, clock};
};

// The value of query parameter `key` (decoded), or "<absent>".
std::vector<std::string> QueryValues(const std::string& url, const std::string& key) {
  std::vector<std::string> out;
  auto q = url.find('?');
  if (q == std::string::npos) return out;
  std::string rest = url.substr(q + 1);
  std::size_t pos = 0;
  while (pos <= rest.size()) {
    auto amp = rest.find('&', pos);
    if (amp == std::string::npos) amp = rest.size();
    std::string kv = rest.substr(pos, amp - pos);
    auto eq = kv.find('=');
    if (eq != std::string::npos && http::UrlDecode(kv.substr(0, eq), false) == key) {
      out.push_back(http::UrlDecode(kv.substr(eq + 1), false));
    }
    pos = amp + 1;
  }
  return out;
}

std::string LsPage(int offset, int count, int total) {
  std::string data;
  for (int i = 0; i < count; ++i) {
    if (!data.empty()) data += ",";
    data += R"({"DATA_TYPE": "file", "name": "f)" + std::to_string(offset + i) +
            R"(", "type": "file", "size": 1, "permissions": "0644",
               "last_modified": "2021-01-15 01:45:50+00:00"})";
  }
  return R"({"DATA_TYPE": "file_list", "path": "/d/", "endpoint": "c", "DATA": [)" + data +
         R"(], "length": )" + std::to_string(count) + R"(, "total": )" + std::to_string(total) +
         "}";
}
}  // namespace

TEST_CASE("Ls sends an authorized GET with every parameter encoded", "[transfer_client]") {
  Env env;
  env.transport.Push(200, Fixture("transfer_ls_root_tutorial.json"));
  LsQuery q;
  q.path = "/-dash/sp ace/ünï#?%&=+/";
  q.limit = 50;
  q.offset = 100;
  q.show_hidden = false;
  q.orderby = "size DESC,name";
  q.filters = {"name:~*.png", "type:file"};
  auto l = env.client.Ls("aa752cea-8222", q);
  REQUIRE(l.ok());
  CHECK(l->entries.size() == 4);
  auto reqs = env.transport.requests();
  REQUIRE(reqs.size() == 1);
  const auto& r = reqs[0];
  CHECK(r.method == "GET");
  CHECK(r.url.rfind(std::string(kBase) + "/operation/endpoint/aa752cea-8222/ls?", 0) == 0);
  CHECK(r.Header("Authorization") == "Bearer " + env.tokens.Current(kTransferRs));
  // Everything round-trips, and nothing unsafe is left raw in the URL.
  CHECK(QueryValues(r.url, "path") == std::vector<std::string>{q.path});
  CHECK(QueryValues(r.url, "show_hidden") == std::vector<std::string>{"0"});
  CHECK(QueryValues(r.url, "limit") == std::vector<std::string>{"50"});
  CHECK(QueryValues(r.url, "offset") == std::vector<std::string>{"100"});
  CHECK(QueryValues(r.url, "orderby") == std::vector<std::string>{"size DESC,name"});
  CHECK(QueryValues(r.url, "filter") == std::vector<std::string>{"name:~*.png", "type:file"});
  std::string query = r.url.substr(r.url.find('?') + 1);
  for (char c : std::string(" #?ü+")) CHECK(query.find(c) == std::string::npos);
}

TEST_CASE("Stat and errors carry a context", "[transfer_client]") {
  Env env;
  env.transport.Push(200, Fixture("transfer_stat_file.json"));
  env.transport.Push(404, Fixture("error_stat_not_found_404.json"));
  auto ok = env.client.Stat("c1", "/file1.txt");
  REQUIRE(ok.ok());
  CHECK(ok->name == "file1.txt");
  auto missing = env.client.Stat("c1", "/~/foo");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == "NotFound");
  CHECK(missing.error().context == "stat c1:/~/foo");
  CHECK(env.transport.requests()[1].url ==
        std::string(kBase) + "/operation/endpoint/c1/stat?path=%2F~%2Ffoo");
  CHECK(env.sleeper.sleeps.empty());  // 404 is not retried
}

TEST_CASE("a malformed 200 body is kMalformedBody with context", "[transfer_client]") {
  Env env;  // the same unreadable answer every time: retried until the budget is spent
  env.transport.SetHandler([](const auto&) { return FakeTransport::Reply(200, "{\"DATA\": ["); });
  auto l = env.client.Ls("c1", LsQuery{});
  REQUIRE_FALSE(l.ok());
  CHECK(l.error().transport == TransportFailure::kMalformedBody);
  CHECK(l.error().context == "ls c1:/");
}

TEST_CASE("LsAll pages with offset until total", "[transfer_client]") {
  Env env;
  env.transport.SetHandler([](const gf::testing::RecordedRequest& r) {
    int offset = std::stoi(QueryValues(r.url, "offset").at(0));
    int limit = std::stoi(QueryValues(r.url, "limit").at(0));
    int total = 7;
    int count = std::max(0, std::min(limit, total - offset));
    return FakeTransport::Reply(200, LsPage(offset, count, total));
  });
  auto all = LsAll(env.client, "c", "/d", 3);
  REQUIRE(all.ok());
  REQUIRE(all->entries.size() == 7);
  for (int i = 0; i < 7; ++i) CHECK(all->entries[i].name == "f" + std::to_string(i));
  CHECK(all->total == 7u);
  CHECK(all->length == 7u);
  auto reqs = env.transport.requests();
  REQUIRE(reqs.size() == 3);
  CHECK(QueryValues(reqs[0].url, "offset") == std::vector<std::string>{"0"});
  CHECK(QueryValues(reqs[1].url, "offset") == std::vector<std::string>{"3"});
  CHECK(QueryValues(reqs[2].url, "offset") == std::vector<std::string>{"6"});
}

TEST_CASE("LsAll: single page without total, and a shrinking directory ends", "[transfer_client]") {
  Env env;
  env.transport.Push(200, R"({"DATA": [{"name": "a", "type": "file"}]})");
  auto one = LsAll(env.client, "c", "/");
  REQUIRE(one.ok());
  CHECK(one->entries.size() == 1);
  CHECK(env.transport.request_count() == 1);

  Env shrink;
  shrink.transport.Push(200, LsPage(0, 2, 10));
  shrink.transport.Push(200, LsPage(2, 0, 10));
  auto part = LsAll(shrink.client, "c", "/d", 2);
  REQUIRE(part.ok());
  CHECK(part->entries.size() == 2);
  CHECK(shrink.transport.request_count() == 2);
}

TEST_CASE("401 -> ForceRefresh -> a retry with the new token", "[transfer_client]") {
  Env env;
  env.transport.Push(401, Fixture("error_authentication_failed_401.json"));
  env.transport.Push(200, Fixture("transfer_task_active.json"));
  auto t = env.client.GetTask("00000000-0000-0000-0000-000000000001");
  REQUIRE(t.ok());
  CHECK(env.tokens.refresh_calls() == 1);
  auto reqs = env.transport.requests();
  REQUIRE(reqs.size() == 2);
  CHECK(reqs[0].Header("Authorization") == "Bearer tok-transfer.api.globus.org-0");
  CHECK(reqs[1].Header("Authorization") == "Bearer tok-transfer.api.globus.org-1");

  // Every new token refused too: refreshed at most three times in one call, then the 401.
  Env refused;
  for (int i = 0; i < 5; ++i)
    refused.transport.Push(401, Fixture("error_authentication_failed_401.json"));
  auto fail = refused.client.GetTask("t");
  REQUIRE_FALSE(fail.ok());
  CHECK(fail.error().http_status == 401);
  CHECK(refused.tokens.refresh_calls() == 3);
  CHECK(refused.transport.request_count() == 4);
}

TEST_CASE("a refused refresh is reported as the auth error", "[transfer_client]") {
  Env env;
  env.tokens.SetRefreshError(Error::Auth(AuthFailure::kLoginAgain, "invalid_grant"));
  env.transport.Push(401, Fixture("error_authentication_failed_401.json"));
  auto r = env.client.BookmarkList();
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().kind == ErrorKind::kAuth);
  CHECK(r.error().auth == AuthFailure::kLoginAgain);
  CHECK(r.error().context == "bookmark_list");
  CHECK(env.transport.request_count() == 1);
}

TEST_CASE("no token: no request is sent", "[transfer_client]") {
  Env env;
  env.tokens.SetMissing(kTransferRs);
  auto r = env.client.GetEndpoint("c");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().auth == AuthFailure::kNotLoggedIn);
  CHECK(env.transport.request_count() == 0);
}

TEST_CASE("5xx and transport failures are retried with backoff", "[transfer_client]") {
  Env env;
  env.transport.Push(503, R"({"code": "ServiceUnavailable", "message": "maintenance"})");
  env.transport.Push(FakeTransport::Fail(TransportFailure::kReset));
  env.transport.Push(429, "", {{"Retry-After", "2"}});
  env.transport.Push(500, "oops");
  env.transport.Push(200, Fixture("transfer_endpoint_gcsv5_endpoint.json"));
  auto e = env.client.GetEndpoint("c574170d-3690-4343-bd16-2c9e49bd1ab0");
  REQUIRE(e.ok());
  CHECK(e->entity_type == "GCSv5_endpoint");
  CHECK(env.transport.request_count() == 5);
  // jitter 0.5 => base*2*2^n: 500, 1000, Retry-After 2000, 4000.
  CHECK(env.sleeper.sleeps ==
        std::vector<Millis>{Millis(500), Millis(1000), Millis(2000), Millis(4000)});
}

TEST_CASE("retries stop after max_retries when it is set", "[transfer_client]") {
  FakeTransport transport;
  FixedTokenSource tokens;
  gf::testing::RecordingSleeper sleeper;
  RetryPolicy policy = sleeper.Policy();
  policy.max_retries = 5;
  TransferClient client{transport, tokens, kRoot, policy};
  for (int i = 0; i < 10; ++i) transport.Push(502, "bad gateway");
  auto r = client.GetSubmissionId();
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().http_status == 502);
  CHECK(transport.request_count() == 6);  // 1 + 5 retries
  CHECK(sleeper.sleeps ==
        std::vector<Millis>{Millis(500), Millis(1000), Millis(2000), Millis(4000), Millis(8000)});
}

TEST_CASE("retries stop when the budget is spent", "[transfer_client]") {
  Env env;
  for (int i = 0; i < 30; ++i) env.transport.Push(502, "bad gateway");
  auto r = env.client.GetSubmissionId();
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().http_status == 502);
  // 500 .. 8000, then the 10 s cap, and the last wait cut to end at 60 s.
  CHECK(env.sleeper.sleeps == std::vector<Millis>{Millis(500), Millis(1000), Millis(2000),
                                                  Millis(4000), Millis(8000), Millis(10000),
                                                  Millis(10000), Millis(10000), Millis(10000),
                                                  Millis(4500)});
  CHECK(env.sleeper.total() == Millis(60000));
  CHECK(env.transport.request_count() == 11);
  CHECK(ErrnoFor(r.error()) == ETIMEDOUT);
}

TEST_CASE("ExternalError is not retried", "[transfer_client]") {
  Env env;
  env.transport.Push(502, Fixture("error_session_domain_required_ls_502.json"));
  LsQuery q;
  q.path = "/x";
  auto r = env.client.Ls("eed63c24", q);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().NeedsAuthorization());
  CHECK(r.error().context == "ls eed63c24:/x");
  CHECK(env.transport.request_count() == 1);
  CHECK(env.sleeper.sleeps.empty());
}

TEST_CASE("Mkdir posts JSON; Exists after an ambiguous retry is success", "[transfer_client]") {
  Env env;
  env.transport.Push(200, Fixture("transfer_mkdir_result.json"));
  REQUIRE(env.client.Mkdir("c", "/new dir").ok());
  auto r0 = env.transport.requests()[0];
  CHECK(r0.method == "POST");
  CHECK(r0.url == std::string(kBase) + "/operation/endpoint/c/mkdir");
  CHECK(r0.Header("Content-Type") == "application/json");
  CHECK(r0.body == R"({"DATA_TYPE":"mkdir","path":"/new dir"})");

  Env lost;
  lost.transport.Push(FakeTransport::Fail(TransportFailure::kTimeout));
  lost.transport.Push(502, R"({"code": "ExternalError.MkdirFailed.Exists", "message": "exists"})");
  CHECK(lost.client.Mkdir("c", "/d").ok());

  Env plain;  // no ambiguity: Exists is a real EEXIST
  plain.transport.Push(502, R"({"code": "ExternalError.MkdirFailed.Exists", "message": "exists"})");
  auto s = plain.client.Mkdir("c", "/d");
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().code == "ExternalError.MkdirFailed.Exists");
}

TEST_CASE("a 2xx that is not JSON is no proof that mkdir or rename happened", "[transfer_client]") {
  // Found by the chaos soak: a proxy's page answering mkdir passed for success, and cp -r then
  // failed inside a directory that did not exist.
  Env env;  // mkdir is repeated; the repeat finds it (the first attempt did create it)
  env.transport.Push(200, "<html>proxy</html>");
  env.transport.Push(502, R"({"code": "ExternalError.MkdirFailed.Exists", "message": "exists"})");
  CHECK(env.client.Mkdir("c", "/d").ok());
  Env none;  // ... or creates it
  none.transport.Push(200, "<html>proxy</html>");
  none.transport.Push(200, Fixture("transfer_mkdir_result.json"));
  CHECK(none.client.Mkdir("c", "/d").ok());
  CHECK(none.transport.request_count() == 2);

  Env rename;  // rename is repeated only after a look: the old name is still there, so the
  rename.transport.Push(200, "<html>proxy</html>");  // proxy's page renamed nothing
  rename.transport.Push(200, Fixture("transfer_stat_file.json"));
  rename.transport.Push(200, R"({"DATA_TYPE": "result", "code": "FileRenamed"})");
  REQUIRE(rename.client.Rename("c", "/a", "/b").ok());
  auto rr = rename.transport.requests();
  REQUIRE(rr.size() == 3);
  CHECK(rr[0].method == "POST");
  CHECK(rr[1].method == "GET");
  CHECK(rr[2].method == "POST");
}

TEST_CASE("Rename is not blindly retried", "[transfer_client]") {
  Env env;
  env.transport.Push(FakeTransport::Fail(TransportFailure::kReset));
  auto s = env.client.Rename("c", "/a", "/b");
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().transport == TransportFailure::kReset);
  int posts = 0;  // lookups may follow (GET stat); unanswered, they prove nothing: one rename
  for (const auto& r : env.transport.requests()) posts += r.method == "POST";
  CHECK(posts == 1);

  Env refused;  // connect failure: nothing reached the server, so retrying is safe
  refused.transport.Push(FakeTransport::Fail(TransportFailure::kConnect));
  refused.transport.Push(200, R"({"DATA_TYPE": "result", "code": "FileRenamed"})");
  REQUIRE(refused.client.Rename("c", "/a", "/b").ok());
  CHECK(refused.transport.requests()[1].body ==
        R"({"DATA_TYPE":"rename","old_path":"/a","new_path":"/b"})");
}

TEST_CASE("submission retries reuse the submission_id; Duplicate is success", "[transfer_client]") {
  Env env;
  env.transport.Push(200, R"({"DATA_TYPE": "submission_id", "value": "sub-42"})");
  env.transport.Push(FakeTransport::Fail(TransportFailure::kTimeout));  // response lost
  env.transport.Push(200, R"({"DATA_TYPE": "transfer_result", "code": "Duplicate",
      "task_id": "task-1", "submission_id": "sub-42"})");
  TransferRequest r;
  r.source_endpoint = "s";
  r.destination_endpoint = "d";
  r.items.push_back({"/a", "/b", false});
  auto res = env.client.SubmitTransfer(r);
  REQUIRE(res.ok());
  CHECK(res->code == "Duplicate");
  CHECK(res->task_id == "task-1");
  auto reqs = env.transport.requests();
  REQUIRE(reqs.size() == 3);
  CHECK(reqs[0].url == std::string(kBase) + "/submission_id");
  CHECK(reqs[1].url == std::string(kBase) + "/transfer");
  CHECK(reqs[1].body == reqs[2].body);
  CHECK(reqs[1].body.find(R"("submission_id":"sub-42")") != std::string::npos);
}

TEST_CASE("SubmitDelete with a given submission_id", "[transfer_client]") {
  Env env;
  env.transport.Push(202, Fixture("transfer_submit_result.json"));
  DeleteRequest d;
  d.submission_id = "given";
  d.endpoint = "ep";
  d.paths = {"/x"};
  auto res = env.client.SubmitDelete(d);
  REQUIRE(res.ok());
  CHECK(res->code == "Accepted");
  auto reqs = env.transport.requests();
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].url == std::string(kBase) + "/delete");
  CHECK(reqs[0].body.find(R"("submission_id":"given")") != std::string::npos);
}

TEST_CASE("TaskList filter syntax, EventList, CancelTask, EndpointSearch", "[transfer_client]") {
  TaskListQuery q;
  q.task_ids = {"a", "b"};
  q.statuses = {"ACTIVE", "INACTIVE"};
  q.type = "TRANSFER";
  CHECK(TransferClient::TaskFilter(q) == "task_id:a,b/status:ACTIVE,INACTIVE/type:TRANSFER");
  CHECK(TransferClient::TaskFilter(TaskListQuery{}).empty());

  Env env;
  env.transport.Push(200, R"({"DATA": [{"task_id": "a", "status": "ACTIVE"}]})");
  env.transport.Push(200, Fixture("transfer_task_event_list.json"));
  env.transport.Push(200, R"({"DATA_TYPE": "result", "code": "Canceled"})");
  env.transport.Push(200, Fixture("transfer_endpoint_search.json"));
  REQUIRE(env.client.TaskList(q).ok());
  auto ev = env.client.EventList("t 1", 10, 5);
  REQUIRE(ev.ok());
  CHECK(ev->size() == 3);
  REQUIRE(env.client.CancelTask("t1").ok());
  EndpointSearchQuery sq;
  sq.filter_fulltext = "Tutorial & co";
  sq.filter_scope = "my-endpoints";
  sq.filter_non_functional = false;
  auto found = env.client.EndpointSearch(sq);
  REQUIRE(found.ok());
  CHECK(found->size() == 1);

  auto reqs = env.transport.requests();
  CHECK(QueryValues(reqs[0].url, "filter") ==
        std::vector<std::string>{"task_id:a,b/status:ACTIVE,INACTIVE/type:TRANSFER"});
  CHECK(QueryValues(reqs[0].url, "limit") == std::vector<std::string>{"1000"});
  CHECK(reqs[1].url == std::string(kBase) + "/task/t%201/event_list?limit=10&offset=5");
  CHECK(reqs[2].method == "POST");
  CHECK(reqs[2].url == std::string(kBase) + "/task/t1/cancel");
  CHECK(QueryValues(reqs[3].url, "filter_fulltext") == std::vector<std::string>{"Tutorial & co"});
  CHECK(QueryValues(reqs[3].url, "filter_scope") == std::vector<std::string>{"my-endpoints"});
  CHECK(QueryValues(reqs[3].url, "filter_non_functional") == std::vector<std::string>{"0"});
}

TEST_CASE("SuccessfulTransfers: first page without a marker, then with it", "[transfer_client]") {
  Env env;
  env.transport.Push(200, R"({"DATA_TYPE": "successful_transfers", "marker": 0,
    "next_marker": 1000, "DATA": [{"DATA_TYPE": "successful_transfer", "source_path": "/d/a",
    "destination_path": "/e/a"}]})");
  env.transport.Push(200, R"({"DATA_TYPE": "successful_transfers", "marker": 1000,
    "next_marker": null, "DATA": []})");
  auto first = env.client.SuccessfulTransfers("t 1", "");
  REQUIRE(first.ok());
  REQUIRE(first->next_marker);
  CHECK(first->transfers.size() == 1);
  auto second = env.client.SuccessfulTransfers("t 1", *first->next_marker);
  REQUIRE(second.ok());
  CHECK_FALSE(second->next_marker);
  auto reqs = env.transport.requests();
  REQUIRE(reqs.size() == 2);
  CHECK(reqs[0].method == "GET");
  CHECK(reqs[0].url == std::string(kBase) + "/task/t%201/successful_transfers");
  CHECK(reqs[1].url == std::string(kBase) + "/task/t%201/successful_transfers?marker=1000");
}

TEST_CASE("the rate limiter is consulted for every attempt", "[transfer_client]") {
  FakeTransport transport;
  FixedTokenSource tokens;
  gf::testing::RecordingSleeper sleeper;
  FakeClock clock;
  RateLimiter limiter(1, 2, clock, 0.0, [&](Millis d) { clock.Advance(d); });  // budget 2 / 2 s
  TransferClient client(transport, tokens, kRoot, sleeper.Policy(), &limiter, clock);
  transport.Push(503, "");
  for (int i = 0; i < 2; ++i) transport.Push(200, R"({"value": "x"})");
  REQUIRE(client.GetSubmissionId().ok());  // 2 attempts
  REQUIRE(client.GetSubmissionId().ok());  // 3rd request in the window: waits
  CHECK(limiter.stats().acquired == 3);
  CHECK(limiter.stats().waits == 1);
  CHECK(limiter.stats().total_wait == Millis(2000));
}

TEST_CASE("calls inside a BackgroundCalls scope use the limiter's background lane",
          "[transfer_client]") {
  FakeTransport transport;
  FixedTokenSource tokens;
  gf::testing::RecordingSleeper sleeper;
  FakeClock clock;
  RateLimiter limiter(20, 10, clock, 0.1, [&](Millis d) { clock.Advance(d); });
  TransferClient client(transport, tokens, kRoot, sleeper.Policy(), &limiter, clock);
  for (int i = 0; i < 4; ++i) transport.Push(200, R"({"value": "x"})");
  REQUIRE(client.GetSubmissionId().ok());
  {
    BackgroundCalls outer;
    {
      BackgroundCalls inner;  // nestable
      REQUIRE(client.GetSubmissionId().ok());
    }
    CHECK(BackgroundCalls::Active());
    REQUIRE(client.GetSubmissionId().ok());
  }
  CHECK_FALSE(BackgroundCalls::Active());
  REQUIRE(client.GetSubmissionId().ok());
  CHECK(limiter.stats().acquired == 4);
  CHECK(limiter.stats().background == 2);
}
