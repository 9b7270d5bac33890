// Staged bytes that nothing will upload are kept for the user, and `globus-fuse status` says
// where (WriteOps::KeptFiles, the status document's "kept_files"): a last close whose upload
// failed, a background upload that failed, and what was written through a mount that died
// before the file's close returned. A file in use or still to be uploaded is not listed, and
// a kept file the user deleted is no longer listed. FakeRemote + FakeClock, no sleeps.
#include <fcntl.h>

#include <rapidjson/document.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "common/log.h"
#include "tests/unit/fs/fs_world.h"

namespace gf::fs::testing {
namespace {

constexpr const char* kGrexName = "UManitoba Grex HPC";

// What the status document's "kept_files" says.
struct Kept {
  std::string path, collection, remote_path, why;
  uint64_t size = 0;
};

struct KeptWorld : World {
  explicit KeptWorld(bool background) {
    log::SetLevel(log::Level::kError);
    options.collections = {kGrex};
    options.write_background = background;
    remote.AddDir(kGrex, "/dst");
    Make();
  }
  uint64_t Create(const std::string& name) {
    auto dst = Walk(std::string(kGrexName) + "/dst");
    REQUIRE(dst.ok());
    auto h = fs->Create(dst->attr.ino, name, 0644, O_WRONLY | O_CREAT | O_TRUNC);
    REQUIRE(h.ok());
    return h->opened.fh;
  }
  std::vector<Kept> KeptFiles() {
    rapidjson::Document d;
    d.Parse(fs->StatusJson().c_str());
    REQUIRE(!d.HasParseError());
    REQUIRE(d.HasMember("kept_files"));
    std::vector<Kept> out;
    for (const auto& k : d["kept_files"].GetArray())
      out.push_back({k["path"].GetString(), k["collection"].GetString(),
                     k["remote_path"].GetString(), k["why"].GetString(), k["size"].GetUint64()});
    return out;
  }
  void Settle() {
    REQUIRE(Eventually([&] {
      engine->RunOnce();
      return engine->PendingUploads() == 0;
    }));
    engine->RunOnce();
  }
};

TEST_CASE("kept files: a failed last close is listed until the user deletes it",
          "[fs][upload][kept]") {
  KeptWorld w(false);
  const uint64_t fh = w.Create("out");
  REQUIRE(w.fs->Write(fh, 0, "RESULTS").ok());
  w.remote.FailNext("put", Error::Api(403, "PermissionDenied", "not allowed"));
  CHECK_FALSE(w.fs->Flush(fh).ok());
  CHECK(w.KeptFiles().empty());  // still open: the user may retry with fsync
  w.fs->Release(fh);
  auto kept = w.KeptFiles();
  REQUIRE(kept.size() == 1);
  CHECK(ReadFile(kept[0].path) == "RESULTS");
  CHECK(kept[0].size == 7);
  CHECK(kept[0].collection == kGrex);
  CHECK(kept[0].remote_path == "/dst/out");
  CHECK(kept[0].why.find("upload failed") != std::string::npos);
  std::filesystem::remove(kept[0].path);  // the user dealt with it
  CHECK(w.KeptFiles().empty());
}

TEST_CASE("kept files: a pending background upload is not listed; a failed one is",
          "[fs][upload][kept][background]") {
  KeptWorld w(true);
  const uint64_t fh = w.Create("new");
  REQUIRE(w.fs->Write(fh, 0, "KEEP ME").ok());
  REQUIRE(w.fs->Flush(fh).ok());
  w.fs->Release(fh);
  CHECK(w.KeptFiles().empty());  // the engine still sends it
  w.remote.FailNext("put", Error::Api(403, "PermissionDenied", "not allowed"));
  w.Settle();
  auto kept = w.KeptFiles();
  REQUIRE(kept.size() == 1);
  CHECK(ReadFile(kept[0].path) == "KEEP ME");
  CHECK(kept[0].why.find("upload failed") != std::string::npos);
}

// A shared mapping's stores written back after the close (RELEASE with no FLUSH), when the
// name was moved in between: kept, and the reason says so (no upload was tried or failed).
TEST_CASE("kept files: late mapping stores of a renamed file say why they were kept",
          "[fs][upload][kept]") {
  KeptWorld w(false);
  const uint64_t fh = w.Create("mapped");
  REQUIRE(w.fs->Write(fh, 0, "BEFORE").ok());
  REQUIRE(w.fs->Flush(fh).ok());  // close(2)
  auto dir = w.Walk(std::string(kGrexName) + "/dst");
  REQUIRE(dir.ok());
  REQUIRE(w.fs->Rename(dir->attr.ino, "mapped", dir->attr.ino, "moved", 0).ok());
  REQUIRE(w.fs->Write(fh, 0, "AFTER!").ok());  // the pages written back, then munmap
  w.fs->Release(fh);
  auto kept = w.KeptFiles();
  REQUIRE(kept.size() == 1);
  CHECK(ReadFile(kept[0].path) == "AFTER!");
  CHECK(kept[0].why.find("shared mapping") != std::string::npos);
  CHECK(kept[0].why.find("upload failed") == std::string::npos);
  std::filesystem::remove(kept[0].path);
  CHECK(w.KeptFiles().empty());
}

TEST_CASE("kept files: bytes whose close never returned are listed after the crash",
          "[fs][upload][kept][crash]") {
  KeptWorld w(true);
  const uint64_t fh = w.Create("new");
  REQUIRE(w.fs->Write(fh, 0, "CLOSED").ok());
  REQUIRE(w.fs->Flush(fh).ok());
  REQUIRE(w.fs->Write(fh, 6, " AND MORE").ok());  // after the close returned; never closed
  w.Make();                                       // kill -9, then the next mount
  w.Settle();
  CHECK(w.remote.Get(kGrex, "/dst/new")->content == "CLOSED");  // what the close journaled
  auto kept = w.KeptFiles();
  REQUIRE(kept.size() == 1);
  CHECK(ReadFile(kept[0].path) == "CLOSED AND MORE");
  CHECK(kept[0].remote_path == "/dst/new");
  CHECK(kept[0].why.find("close never returned") != std::string::npos);
}

}  // namespace
}  // namespace gf::fs::testing
