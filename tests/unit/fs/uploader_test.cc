// Uploader against FakeRemote: each branch (new file direct / via temp, replace by rename /
// delete-then-rename, rename that refuses), failures that must leave nothing that looks complete,
// and the errno refinements (missing parent, directory, 413).
#include <catch2/catch.hpp>

#include <cerrno>

#include "common/log.h"
#include "fs/write/uploader.h"
#include "tests/support/fake_remote.h"
#include "tests/support/temp_file.h"

using namespace gf;
using namespace gf::fs::write;
using gf::testing::FakeRemote;
using gf::testing::TempFile;

namespace {

const std::string kColl = "c011ec71-0000-4000-8000-000000000001";
const std::string kTempId = "00000000000000a1";
const std::string kTemp = "/dir/.globus-fuse.00000000000000a1.tmp";

struct World {
  FakeRemote remote;
  api::CollectionRef ref{kColl, "https://m.example:443"};
  World() {
    log::SetLevel(log::Level::kError);
    api::Endpoint e;
    e.id = kColl;
    e.entity_type = "GCSv5_mapped_collection";
    e.https_server = ref.https_server;
    remote.AddCollection(e);
    remote.AddDir(kColl, "/dir");
  }
  Result<UploadOutcome> Upload(const TempFile& f, uint64_t size, const std::string& path,
                               bool replaces, UploaderOptions o = {}) {
    Uploader u(remote, remote, o);
    UploadRequest r;
    r.collection = ref;
    r.path = path;
    r.replaces_existing = replaces;
    r.temp_id = kTempId;
    r.body = api::UploadBody{f.fd(), size, nullptr};
    return u.Upload(r);
  }
  std::string Content(const std::string& path) {
    auto n = remote.Get(kColl, path);
    return n ? n->content : "<missing>";
  }
};

int Errno(const Result<UploadOutcome>& r) { return r.ok() ? 0 : ErrnoFor(r.error()); }

}  // namespace

TEST_CASE("temp names: recognised exactly", "[uploader]") {
  CHECK(UploadTempName(kTempId) == ".globus-fuse.00000000000000a1.tmp");
  CHECK(IsUploadTempName(UploadTempName(kTempId)));
  CHECK(IsUploadTempName(".globus-fuse.deadbeef.tmp"));
  CHECK_FALSE(IsUploadTempName(".globus-fuse.notes.tmp"));  // a user's own name stays visible
  CHECK_FALSE(IsUploadTempName(".globus-fuse.DEADBEEF.tmp"));
  CHECK_FALSE(IsUploadTempName(".globus-fuse.1234567.tmp"));  // too short
  CHECK_FALSE(IsUploadTempName("globus-fuse.deadbeef.tmp"));
  CHECK_FALSE(IsUploadTempName(".globus-fuse.deadbeef.tmp~"));
  CHECK(UploadTempPath("/dir/f.txt", kTempId) == kTemp);
  CHECK(UploadTempPath("/f.txt", kTempId) == "/.globus-fuse.00000000000000a1.tmp");
  CHECK(ParseReplace("rename") == Replace::kRename);
  CHECK(ParseReplace("delete-then-rename") == Replace::kDeleteThenRename);
  CHECK_FALSE(ParseReplace("overwrite"));
}

TEST_CASE("new file: one PUT to the final name, no Transfer call", "[uploader]") {
  World w;
  TempFile f("new bytes");
  auto r = w.Upload(f, 9, "/dir/new.txt", false);
  REQUIRE(r.ok());
  CHECK(w.Content("/dir/new.txt") == "new bytes");
  CHECK(r->transfer_calls == 0);
  CHECK_FALSE(r->via_temp);
  CHECK(w.remote.Calls("put") == 1);
  CHECK(w.remote.Calls("stat") + w.remote.Calls("rename") == 0);
}

TEST_CASE("new file cut off mid-PUT: the partial file is removed", "[uploader]") {
  World w;
  TempFile f("0123456789");
  w.remote.CutNextPut(4);
  auto r = w.Upload(f, 10, "/dir/new.txt", false);
  REQUIRE_FALSE(r.ok());
  CHECK(Errno(r) == EIO);
  CHECK_FALSE(w.remote.Exists(kColl, "/dir/new.txt"));
  CHECK(w.remote.Calls("delete") == 1);
}

TEST_CASE("new file whose PUT answer was lost after it completed: success", "[uploader]") {
  World w;
  TempFile f("0123456789");
  w.remote.CutNextPut(10);  // every byte stored, then the connection drops
  auto r = w.Upload(f, 10, "/dir/new.txt", false);
  REQUIRE(r.ok());
  CHECK(w.Content("/dir/new.txt") == "0123456789");
  CHECK(r->transfer_calls == 1);
  CHECK(w.remote.Calls("delete") == 0);
}

TEST_CASE("new file via temp: PUT, stat, rename", "[uploader]") {
  World w;
  TempFile f("abc");
  UploaderOptions o;
  o.new_file = NewFile::kViaTemp;
  auto r = w.Upload(f, 3, "/dir/new.txt", false, o);
  REQUIRE(r.ok());
  CHECK(r->via_temp);
  CHECK(r->transfer_calls == 2);
  CHECK(w.Content("/dir/new.txt") == "abc");
  CHECK_FALSE(w.remote.Exists(kColl, kTemp));
}

TEST_CASE("replace with rename, on a service whose rename replaces", "[uploader]") {
  World w;
  w.remote.SetRenameOntoExisting(FakeRemote::RenameOntoExisting::kReplace);
  w.remote.AddFile(kColl, "/dir/f.txt", "old content");
  TempFile f("new");
  auto r = w.Upload(f, 3, "/dir/f.txt", true);
  REQUIRE(r.ok());
  CHECK(r->via_temp);
  CHECK(w.Content("/dir/f.txt") == "new");
  CHECK_FALSE(w.remote.Exists(kColl, kTemp));
  CHECK(w.remote.Calls("rename") == 1);
  CHECK(w.remote.Calls("delete") == 0);
  CHECK(r->last_modified.has_value());
}

TEST_CASE("replace with rename, on a service that refuses: falls back once, then remembers",
          "[uploader]") {
  World w;  // FakeRemote refuses rename onto an existing file by default
  w.remote.AddFile(kColl, "/dir/f.txt", "old");
  Uploader u(w.remote, w.remote, UploaderOptions{});
  TempFile f("new!");
  UploadRequest req;
  req.collection = w.ref;
  req.path = "/dir/f.txt";
  req.replaces_existing = true;
  req.temp_id = kTempId;
  req.body = api::UploadBody{f.fd(), 4, nullptr};
  auto r = u.Upload(req);
  REQUIRE(r.ok());
  CHECK(w.Content("/dir/f.txt") == "new!");
  CHECK(w.remote.Calls("rename") == 2);  // refused, then after the delete
  CHECK(w.remote.Calls("delete") == 1);
  w.remote.ResetCalls();
  REQUIRE(u.Upload(req).ok());
  CHECK(w.remote.Calls("rename") == 1);  // no wasted attempt the second time
}

TEST_CASE("replace with delete-then-rename", "[uploader]") {
  World w;
  w.remote.AddFile(kColl, "/dir/f.txt", "old");
  TempFile f("new");
  UploaderOptions o;
  o.replace = Replace::kDeleteThenRename;
  auto r = w.Upload(f, 3, "/dir/f.txt", true, o);
  REQUIRE(r.ok());
  CHECK(w.Content("/dir/f.txt") == "new");
  CHECK(w.remote.Calls("rename") == 1);
  CHECK(w.remote.Calls("delete") == 1);
}

TEST_CASE("replace: a failed PUT never touches the original and leaves no temp", "[uploader]") {
  World w;
  w.remote.AddFile(kColl, "/dir/f.txt", "old content");
  TempFile f("0123456789");
  SECTION("connection reset mid-body") {
    w.remote.CutNextPut(3);
    CHECK(Errno(w.Upload(f, 10, "/dir/f.txt", true)) == EIO);
  }
  SECTION("refused") {
    w.remote.FailNext("put", Error::Api(403, "permission_denied", "no"));
    CHECK(Errno(w.Upload(f, 10, "/dir/f.txt", true)) == EACCES);
  }
  SECTION("quota") {
    w.remote.FailNext("put", Error::Api(507, "", "Insufficient Storage"));
    CHECK(Errno(w.Upload(f, 10, "/dir/f.txt", true)) == EDQUOT);
  }
  SECTION("too large for the server") {
    w.remote.SetPutLimit(5);
    CHECK(Errno(w.Upload(f, 10, "/dir/f.txt", true)) == EFBIG);
  }
  SECTION("transient backend fault") {
    Error fault = Error::Api(404, "ENDPOINT_ERROR", "GlobusError: v=1 c=ENDPOINT_ERROR");
    w.remote.FailNext("put", fault);
    CHECK(Errno(w.Upload(f, 10, "/dir/f.txt", true)) == EIO);
  }
  CHECK(w.Content("/dir/f.txt") == "old content");
  CHECK_FALSE(w.remote.Exists(kColl, kTemp));
  CHECK(w.remote.Calls("rename") == 0);
}

TEST_CASE("replace: a temp that cannot be verified is deleted, never renamed", "[uploader]") {
  World w;
  w.remote.AddFile(kColl, "/dir/f.txt", "old");
  TempFile f("new");
  w.remote.FailNext("stat", Error::Api(503, "ServiceUnavailable", "down"));
  auto bad = w.Upload(f, 3, "/dir/f.txt", true);
  REQUIRE_FALSE(bad.ok());
  CHECK(w.Content("/dir/f.txt") == "old");
  CHECK_FALSE(w.remote.Exists(kColl, kTemp));
  CHECK(w.remote.Calls("rename") == 0);
}

TEST_CASE("delete-then-rename whose rename fails keeps the new bytes at the temp name",
          "[uploader]") {
  World w;
  w.remote.AddFile(kColl, "/dir/f.txt", "old");
  TempFile f("new");
  UploaderOptions o;
  o.replace = Replace::kDeleteThenRename;
  w.remote.FailNext("rename", Error::Api(503, "ServiceUnavailable", "down"));
  auto r = w.Upload(f, 3, "/dir/f.txt", true, o);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find(kTemp) != std::string::npos);
  CHECK(w.Content(kTemp) == "new");
}

TEST_CASE("PUT errors are explained through the Transfer view", "[uploader]") {
  World w;
  TempFile f("x");
  SECTION("missing parent (the status the server uses is UNVERIFIED)") {
    for (int status : {403, 404, 409}) {
      w.remote.FailNext("put", Error::Api(status, "", "refused"));
      CHECK(Errno(w.Upload(f, 1, "/nodir/f", false)) == ENOENT);
    }
  }
  SECTION("parent is a file") {
    w.remote.AddFile(kColl, "/plain", "p");
    w.remote.FailNext("put", Error::Api(409, "", "conflict"));
    CHECK(Errno(w.Upload(f, 1, "/plain/f", false)) == ENOTDIR);
  }
  SECTION("a directory has the name") {
    w.remote.AddDir(kColl, "/dir/sub");
    CHECK(Errno(w.Upload(f, 1, "/dir/sub", false)) == EISDIR);
  }
  SECTION("a plain refusal stays EACCES") {
    w.remote.FailNext("put", Error::Api(403, "permission_denied", "no"));
    CHECK(Errno(w.Upload(f, 1, "/dir/f", false)) == EACCES);
  }
  SECTION("over max_upload_size: refused before any call") {
    UploaderOptions o;
    o.max_upload_size = 0;
    REQUIRE(w.Upload(f, 1, "/dir/ok", false, o).ok());
    o.max_upload_size = 1;
    TempFile two("ab");
    CHECK(Errno(w.Upload(two, 2, "/dir/f", false, o)) == EFBIG);
    CHECK(w.remote.Calls("put") == 1);
  }
}
