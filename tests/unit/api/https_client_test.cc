// HttpsClient over FakeTransport: ranges (206 / ignored 200 / 416), truncation, resume after a
// reset mid-body, auth errors, URL building.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "api/https_client.h"
#include "tests/support/fake_transport.h"
#include "tests/support/temp_file.h"
#include "tests/support/token_fixed.h"
#include "tests/unit/api/https_env.h"
#include "tests/unit/api/test_policy.h"

using namespace gf;
using namespace gf::api;
using gf::testing::FakeTransport;
using gf::testing::FixedTokenSource;

namespace {
const CollectionRef& kColl = gf::testing::kHttpsColl;

std::string Content(std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += static_cast<char>('a' + i % 26);
  return s;
}

using Env = gf::testing::HttpsEnv;

// An answer that serves `file` honouring the request's Range header (206).
FakeTransport::Answer Serve206(const std::string& file, const gf::testing::RecordedRequest& r) {
  std::string range = r.Header("Range");
  REQUIRE(range.rfind("bytes=", 0) == 0);
  auto dash = range.find('-');
  uint64_t a = std::stoull(range.substr(6, dash - 6));
  uint64_t b = std::stoull(range.substr(dash + 1));
  b = std::min<uint64_t>(b, file.size() - 1);
  return FakeTransport::Reply(
      206, file.substr(a, b - a + 1),
      {{"Content-Range",
        "bytes " + std::to_string(a) + "-" + std::to_string(b) + "/" + std::to_string(file.size())},
       {"Content-Length", std::to_string(b - a + 1)},
       {"ETag", "\"v1\""},
       {"Last-Modified", "Sun, 06 Nov 1994 08:49:37 GMT"}});
}
}  // namespace

TEST_CASE("FileUrl: origin + encoded absolute path", "[https_client]") {
  CHECK(DataApi::FileUrl(kColl, "/a b/ü#?%.txt") ==
        "https://m-1234.data.example:8443/a%20b/%C3%BC%23%3F%25.txt");
  CHECK(DataApi::FileUrl({"c", "https://h.example/ignored/path/"}, "/x") == "https://h.example/x");
  CHECK(DataApi::FileUrl({"c", "https://h.example/"}, "rel") == "https://h.example/rel");
  CHECK(DataApi::FileUrl({"c", "https://h.example"}, "/-dash") == "https://h.example/-dash");
}

TEST_CASE("header helpers", "[https_client]") {
  auto cr = ParseContentRange("bytes 10-19/100");
  REQUIRE(cr);
  CHECK(cr->start == 10);
  CHECK(cr->end == 19);
  CHECK(cr->total == 100u);
  auto star = ParseContentRange("bytes 0-0/*");
  REQUIRE(star);
  CHECK_FALSE(star->total);
  for (const char* bad :
       {"", "bytes 5-4/10", "bytes 0-9/5", "items 0-1/2", "bytes x-1/2", "bytes 0-1"})
    CHECK_FALSE(ParseContentRange(bad));
  CHECK(ParseUnsatisfiedRangeTotal("bytes */1234") == 1234u);
  CHECK_FALSE(ParseUnsatisfiedRangeTotal("bytes 0-1/2"));
  CHECK(ParseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT") == 784111777);
  CHECK_FALSE(ParseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT"));
  CHECK_FALSE(ParseHttpDate("Sun, 06 Foo 1994 08:49:37 GMT"));
}

TEST_CASE("206 range read", "[https_client]") {
  Env env;
  std::string file = Content(100);
  env.transport.SetHandler([&](const auto& r) { return Serve206(file, r); });
  auto rr = env.Read(10, 20);
  REQUIRE(rr.ok());
  CHECK(rr->bytes == 20);
  CHECK(env.got == file.substr(10, 20));
  CHECK(rr->total_size == 100u);
  CHECK(rr->etag == "\"v1\"");
  CHECK(rr->last_modified == 784111777);
  CHECK_FALSE(rr->range_ignored);
  auto reqs = env.transport.requests();
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].method == "GET");
  CHECK(reqs[0].url == "https://m-1234.data.example:8443/dir/file.bin");
  CHECK(reqs[0].Header("Range") == "bytes=10-29");
  CHECK(reqs[0].Header("X-Requested-With") == "XMLHttpRequest");
  CHECK(reqs[0].Header("Authorization") == "Bearer tok-c0ffee-0");  // collection token
}

TEST_CASE("a read past EOF: short 206 and 416", "[https_client]") {
  Env env;
  std::string file = Content(100);
  env.transport.SetHandler([&](const auto& r) { return Serve206(file, r); });
  auto tail = env.Read(90, 50);
  REQUIRE(tail.ok());
  CHECK(tail->bytes == 10);
  CHECK(env.got == file.substr(90));

  Env eof;
  eof.transport.Push(416, "", {{"Content-Range", "bytes */100"}});
  auto none = eof.Read(100, 10);
  REQUIRE(none.ok());
  CHECK(none->bytes == 0);
  CHECK(none->total_size == 100u);
  CHECK(eof.got.empty());
}

TEST_CASE("a 200 that ignored Range: skip, stop after length", "[https_client]") {
  Env env;
  std::string file = Content(1000);
  env.transport.Push(200, file, {{"Content-Length", "1000"}});
  auto rr = env.Read(300, 50);
  REQUIRE(rr.ok());
  CHECK(rr->range_ignored);
  CHECK(rr->bytes == 50);
  CHECK(env.got == file.substr(300, 50));
  CHECK(rr->total_size == 1000u);

  Env past;  // offset beyond the end of a 200 body: nothing to deliver
  past.transport.Push(200, Content(10), {{"Content-Length", "10"}});
  auto none = past.Read(50, 5);
  REQUIRE(none.ok());
  CHECK(none->bytes == 0);
  CHECK(past.got.empty());
}

TEST_CASE("Content-Range that does not match is an error", "[https_client]") {
  Env env;
  env.transport.Push(206, "xxxxx", {{"Content-Range", "bytes 0-4/100"}});
  auto rr = env.Read(10, 5);
  REQUIRE_FALSE(rr.ok());
  CHECK(rr.error().transport == TransportFailure::kMalformedBody);
  CHECK(env.got.empty());
  CHECK(env.transport.request_count() == 1);
}

TEST_CASE("a truncated body is retried from where it stopped", "[https_client]") {
  Env env;
  std::string file = Content(100);
  // 206 promising 40 bytes, delivering 15 and then ending "cleanly" (no transport error).
  FakeTransport::Answer shortbody =
      FakeTransport::Reply(206, file.substr(20, 15), {{"Content-Range", "bytes 20-59/100"}});
  env.transport.Push(shortbody);
  env.transport.SetHandler([&](const auto& r) { return Serve206(file, r); });
  auto rr = env.Read(20, 40);
  REQUIRE(rr.ok());
  CHECK(rr->bytes == 40);
  CHECK(env.got == file.substr(20, 40));
  auto reqs = env.transport.requests();
  REQUIRE(reqs.size() == 2);
  CHECK(reqs[1].Header("Range") == "bytes=35-59");
}

TEST_CASE("a reset mid-body resumes; every byte reaches the sink exactly once", "[https_client]") {
  Env env;
  std::string file = Content(200);
  FakeTransport::Answer first = Serve206(file, {"GET", "", {{"Range", "bytes=0-199"}}, ""});
  first.cut_after = 33;
  env.transport.Push(first);
  FakeTransport::Answer second = Serve206(file, {"GET", "", {{"Range", "bytes=33-199"}}, ""});
  second.cut_after = 70;
  second.cut_error = Error::Transport(TransportFailure::kTruncated, "partial file");
  env.transport.Push(second);
  env.transport.SetHandler([&](const auto& r) { return Serve206(file, r); });
  auto rr = env.Read(0, 200);
  REQUIRE(rr.ok());
  CHECK(rr->bytes == 200);
  CHECK(env.got == file);
  auto reqs = env.transport.requests();
  REQUIRE(reqs.size() == 3);
  CHECK(reqs[0].Header("Range") == "bytes=0-199");
  CHECK(reqs[1].Header("Range") == "bytes=33-199");
  CHECK(reqs[2].Header("Range") == "bytes=103-199");
  CHECK(env.sleeper.sleeps.size() == 2);
}

TEST_CASE("resume against a server that ignores Range", "[https_client]") {
  Env env;
  std::string file = Content(100);
  FakeTransport::Answer first = FakeTransport::Reply(200, file, {{"Content-Length", "100"}});
  first.cut_after = 30;  // delivers bytes 10..29 of the wanted 10..59, then resets
  env.transport.Push(first);
  env.transport.Push(200, file, {{"Content-Length", "100"}});
  auto rr = env.Read(10, 50);
  REQUIRE(rr.ok());
  CHECK(env.got == file.substr(10, 50));
  CHECK(rr->range_ignored);
}

TEST_CASE("the ETag changing between attempts fails with ESTALE", "[https_client]") {
  Env env;
  std::string file = Content(100);
  FakeTransport::Answer first = Serve206(file, {"GET", "", {{"Range", "bytes=0-99"}}, ""});
  first.cut_after = 10;
  env.transport.Push(first);
  FakeTransport::Answer changed = Serve206(file, {"GET", "", {{"Range", "bytes=10-99"}}, ""});
  for (auto& [k, v] : changed.response->headers)
    if (k == "etag") v = "\"v2\"";
  env.transport.Push(changed);
  auto rr = env.Read(0, 100);
  REQUIRE_FALSE(rr.ok());
  CHECK(ErrnoFor(rr.error()) == ESTALE);
  CHECK(env.got == file.substr(0, 10));
}

TEST_CASE("the sink stopping aborts without retry", "[https_client]") {
  Env env;
  std::string file = Content(100);
  env.transport.SetHandler([&](const auto& r) { return Serve206(file, r); });
  std::function<bool(std::string_view)> stop = [](std::string_view) { return false; };
  auto rr = env.client.GetRange(kColl, "/f", 0, 100, stop);
  REQUIRE_FALSE(rr.ok());
  CHECK(rr.error().transport == TransportFailure::kAborted);
  CHECK(env.transport.request_count() == 1);

  std::atomic<bool> cancel{true};
  auto cancelled = env.client.GetRange(kColl, "/f", 0, 100, env.sink, &cancel);
  REQUIRE_FALSE(cancelled.ok());
  CHECK(cancelled.error().transport == TransportFailure::kAborted);
  CHECK(env.transport.request_count() == 1);  // nothing sent
}

TEST_CASE("302 and 401 need authorization with the https scope", "[https_client]") {
  Env env;
  env.transport.Push(
      302, "", {{"Location", "https://auth.globus.org/v2/oauth2/authorize?client_id=c0ffee"}});
  auto r = env.Read(0, 10);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().http_status == 302);
  CHECK(r.error().NeedsAuthorization());
  REQUIRE(r.error().authorization);
  CHECK(r.error().authorization->required_scopes ==
        std::vector<std::string>{"https://auth.globus.org/scopes/c0ffee/https"});
  CHECK(env.transport.request_count() == 1);

  // A 401 is also how the server refuses an expired token: each new token refused too is
  // refreshed again, three times at most; then the 401 is the answer.
  Env unauth;
  for (int i = 0; i < 4; ++i) unauth.transport.Push(401, R"({"code": "unauthorized"})");
  auto u = unauth.Read(0, 10);
  REQUIRE_FALSE(u.ok());
  CHECK(u.error().NeedsAuthorization());
  CHECK(unauth.tokens.refresh_calls() == 3);
  CHECK(unauth.transport.request_count() == 4);

  Env named;  // a body that names its own remedy keeps it
  for (int i = 0; i < 4; ++i)
    named.transport.Push(401, R"({"authorization_parameters": {"required_scopes": ["s:x"]}})");
  auto n = named.Read(0, 10);
  REQUIRE_FALSE(n.ok());
  REQUIRE(n.error().authorization);
  CHECK(n.error().authorization->required_scopes == std::vector<std::string>{"s:x"});
}

TEST_CASE("Put and Delete", "[https_client]") {
  Env env;
  env.transport.Push(503, "");
  env.transport.Push(200, "");
  env.transport.Push(204, "");
  env.transport.Push(403, R"({"DATA_TYPE": "result#1.0.0", "code": "permission_denied",
      "http_response_code": 403, "message": "no"})");
  gf::testing::TempFile hello("hello");
  std::atomic<uint64_t> progress{0};
  REQUIRE(env.client.Put(kColl, "/up load.txt", UploadBody{hello.fd(), 5, &progress}).ok());
  CHECK(progress.load() == 5);
  REQUIRE(env.client.Delete(kColl, "/gone").ok());
  auto denied = env.client.Delete(kColl, "/nope");
  REQUIRE_FALSE(denied.ok());
  CHECK(denied.error().code == "permission_denied");
  CHECK(denied.error().context == "delete c0ffee:/nope");
  CHECK_FALSE(denied.error().NeedsAuthorization());
  auto reqs = env.transport.requests();
  REQUIRE(reqs.size() == 4);
  CHECK(reqs[1].method == "PUT");
  CHECK(reqs[1].url == "https://m-1234.data.example:8443/up%20load.txt");
  CHECK(reqs[1].body == "hello");
  CHECK(reqs[1].Header("Content-Type") == "application/octet-stream");
  CHECK(reqs[2].method == "DELETE");
}

TEST_CASE("zero-length read sends nothing", "[https_client]") {
  Env env;
  auto r = env.Read(5, 0);
  REQUIRE(r.ok());
  CHECK(r->bytes == 0);
  CHECK(env.transport.request_count() == 0);
}

TEST_CASE("Put streams the file from offset 0 without moving the descriptor", "[https_client]") {
  Env env;
  const std::string big = Content(100000);
  gf::testing::TempFile f(big);
  REQUIRE(::lseek(f.fd(), 123, SEEK_SET) == 123);  // a caller's file offset is not our start
  env.transport.Push(201, "");                     // any 2xx is success
  REQUIRE(env.client.Put(kColl, "/big", UploadBody{f.fd(), big.size(), nullptr}).ok());
  CHECK(::lseek(f.fd(), 0, SEEK_CUR) == 123);
  auto reqs = env.transport.requests();
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].body == big);

  // Only `size` bytes are sent, even when the file is longer; an empty body needs no file.
  env.transport.Push(200, "");
  env.transport.Push(204, "");
  REQUIRE(env.client.Put(kColl, "/prefix", UploadBody{f.fd(), 10, nullptr}).ok());
  REQUIRE(env.client.Put(kColl, "/empty", UploadBody{}).ok());
  reqs = env.transport.requests();
  CHECK(reqs[1].body == big.substr(0, 10));
  CHECK(reqs[2].body.empty());
}

TEST_CASE("Put: a small body goes with the headers (read once), a big one streams",
          "[https_client]") {
  Env env;
  const std::string small = Content(HttpsClient::kInlineUploadMax);
  const std::string big = Content(HttpsClient::kInlineUploadMax + 1);
  gf::testing::TempFile s(small), b(big);
  std::atomic<uint64_t> progress{0};
  env.transport.Push(503, "");  // retried: the same bytes again
  env.transport.Push(201, "");
  env.transport.Push(201, "");
  REQUIRE(env.client.Put(kColl, "/small", UploadBody{s.fd(), small.size(), &progress}).ok());
  CHECK(progress.load() == small.size());
  REQUIRE(env.client.Put(kColl, "/big", UploadBody{b.fd(), big.size(), nullptr}).ok());
  auto reqs = env.transport.requests();
  REQUIRE(reqs.size() == 3);
  for (int i : {0, 1}) {
    CHECK(reqs[i].body == small);
    CHECK_FALSE(reqs[i].streamed);
    CHECK(reqs[i].method == "PUT");
  }
  CHECK(reqs[2].body == big);
  CHECK(reqs[2].streamed);
}

TEST_CASE("Put: a file shorter than promised fails locally and is not retried", "[https_client]") {
  Env env;
  gf::testing::TempFile f("short");
  env.transport.Push(200, "");
  auto r = env.client.Put(kColl, "/x", UploadBody{f.fd(), 50, nullptr});
  REQUIRE_FALSE(r.ok());
  CHECK(ErrnoFor(r.error()) == EIO);
  CHECK(env.transport.pending() == 1);  // the scripted answer was never needed
  auto bad = env.client.Put(kColl, "/x", UploadBody{-1, 5, nullptr});
  REQUIRE_FALSE(bad.ok());
  CHECK(ErrnoFor(bad.error()) == EBADF);
}

TEST_CASE("Put and Delete errors map to errno", "[https_client][errno]") {
  Env env;
  gf::testing::TempFile f("data");
  const UploadBody body{f.fd(), 4, nullptr};
  auto put_errno = [&](int status, std::string body_text) {
    env.transport.Push(status, std::move(body_text));
    auto r = env.client.Put(kColl, "/dir/f", body);
    REQUIRE_FALSE(r.ok());
    return ErrnoFor(r.error());
  };
  CHECK(put_errno(413, "<html>Request Entity Too Large</html>") == EFBIG);
  CHECK(put_errno(507, "") == EDQUOT);
  CHECK(put_errno(403, R"({"DATA_TYPE": "result#1.0.0", "code": "permission_denied",
      "http_response_code": 403, "message": "Permission denied"})") == EACCES);
  CHECK(put_errno(404, R"({"code": "not_found", "message": "Parent directory does not exist"})") ==
        ENOENT);
  // The HTTPS server's transient backend fault is a 404 too, but never "no such file".
  const std::string fault =
      "Mapping collection to specified ID failed. GlobusError: v=1 c=ENDPOINT_ERROR GCS Manager "
      "Internal Error";
  // It is retried (nothing was written) until the retry budget is spent: ETIMEDOUT, and EIO
  // by the errno table alone.
  env.transport.SetHandler([&](const auto&) { return FakeTransport::Reply(404, fault); });
  auto r = env.client.Put(kColl, "/dir/f", body);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == "ENDPOINT_ERROR");
  CHECK(IsTransientBackendFault(r.error()));
  CHECK(ErrnoFor(r.error()) == ETIMEDOUT);
  Error plain = r.error();
  plain.sys_errno = 0;
  CHECK(ErrnoFor(plain) == EIO);
  auto d = env.client.Delete(kColl, "/dir/f");
  REQUIRE_FALSE(d.ok());
  CHECK(ErrnoFor(d.error()) == ETIMEDOUT);
  env.transport.SetHandler({});
  env.transport.Push(404, R"({"code": "not_found", "message": "No such file"})");
  auto missing = env.client.Delete(kColl, "/dir/f");
  REQUIRE_FALSE(missing.ok());
  CHECK(ErrnoFor(missing.error()) == ENOENT);
  CHECK_FALSE(IsTransientBackendFault(missing.error()));
}

TEST_CASE("a cut Put is sent again within the budget, and so is a Delete",
          "[https_client][retry]") {
  Env env;
  gf::testing::TempFile f("data");
  // A reset mid-upload: the next attempt re-reads the file from its start and replaces what the
  // cut one left.
  env.transport.Push(FakeTransport::Fail(TransportFailure::kReset));
  env.transport.Push(502, "");
  env.transport.Push(200, "");
  REQUIRE(env.client.Put(kColl, "/f", UploadBody{f.fd(), 4, nullptr}).ok());
  auto reqs = env.transport.requests();
  REQUIRE(reqs.size() == 3);
  CHECK(reqs[2].body == "data");
  // An upload that failed after the whole budget went by is not sent again.
  Env late;
  late.transport.SetHandler([&](const auto&) {
    late.sleeper.clock.Advance(std::chrono::seconds(120));  // a long transfer, then a reset
    return FakeTransport::Fail(TransportFailure::kReset);
  });
  auto r = late.client.Put(kColl, "/f", UploadBody{f.fd(), 4, nullptr});
  REQUIRE_FALSE(r.ok());
  CHECK(late.transport.request_count() == 1);
  // A DELETE is repeated: twice has the effect of once, and the 404 of a repeat whose first
  // attempt's answer was lost means it worked.
  env.transport.Push(FakeTransport::Fail(TransportFailure::kTimeout));
  env.transport.Push(502, "");
  env.transport.Push(404, R"({"code": "not_found", "message": "No such file"})");
  REQUIRE(env.client.Delete(kColl, "/f").ok());
  CHECK(env.transport.request_count() == 6);
}

TEST_CASE("an empty Put is repeated after a reset or an empty reply", "[https_client][retry]") {
  // Nothing can be left partial and sending it again makes the same empty file.
  Env env;
  env.transport.Push(FakeTransport::Fail(TransportFailure::kReset));
  env.transport.Push(FakeTransport::Fail(TransportFailure::kTruncated));
  env.transport.Push(200, "");
  REQUIRE(env.client.Put(kColl, "/empty", UploadBody{}).ok());
  CHECK(env.transport.request_count() == 3);
}

TEST_CASE("the policy's counter counts every retry", "[https_client][retry]") {
  FakeTransport transport;
  FixedTokenSource tokens;
  gf::testing::RecordingSleeper sleeper;
  RetryPolicy policy = sleeper.Policy();
  policy.retries = std::make_shared<std::atomic<uint64_t>>(0);
  HttpsClient client{transport, tokens, policy};
  transport.Push(FakeTransport::Fail(TransportFailure::kReset));
  transport.Push(FakeTransport::Fail(TransportFailure::kConnect));
  transport.Push(200, "");
  REQUIRE(client.Put(kColl, "/empty", UploadBody{}).ok());
  CHECK(policy.retries->load() == 2);
}

TEST_CASE("Put: an HTTPS scope error names the scope to consent to", "[https_client][auth]") {
  Env env;
  gf::testing::TempFile f("x");
  for (int i = 0; i < 4; ++i) env.transport.Push(401, "");  // each refreshed token refused too
  auto r = env.client.Put(kColl, "/f", UploadBody{f.fd(), 1, nullptr});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().NeedsAuthorization());
  REQUIRE(r.error().authorization);
  CHECK(r.error().authorization->required_scopes ==
        std::vector<std::string>{HttpsClient::HttpsScope("c0ffee")});
  CHECK(env.transport.requests()[1].body == "x");  // the refreshed attempt re-read the file
}
