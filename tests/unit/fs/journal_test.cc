// Journal: record format, state machine, replay, torn writes, compaction, durability order.
#include "fs/transfers/journal.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace gf::fs {
namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/gf-journal-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

std::string ReadFile(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
void WriteFile(const std::string& p, const std::string& data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << data;
}

// A canonical text for a state: equal states give equal fingerprints.
std::string Fingerprint(const JournalState& s) {
  std::string out;
  for (const JournalRecord& r : CompactedRecords(s)) out += EncodeRecord(r) + "\n";
  return out;
}

OpRecord Op(OpId id, OpKind kind, const std::string& name) {
  OpRecord r;
  r.id = id;
  r.kind = kind;
  r.src = {"coll-a", "/src/" + name};
  r.dst = {"coll-b", "/dst/" + name};
  r.size = 100 * id;
  r.queued_at = 1700000000;
  return r;
}

BatchRecord Batch(BatchId id, StepKind kind, std::vector<OpId> ops, bool verify = true) {
  BatchRecord b;
  b.id = id;
  b.kind = kind;
  b.submission_id = "sub-" + std::to_string(id);
  b.src_collection = "coll-a";
  b.dst_collection = kind == StepKind::kTransfer ? "coll-b" : "";
  b.ops = std::move(ops);
  b.label = "globus-fuse cp x";
  b.options.verify_checksum = verify;
  return b;
}

// A realistic life: a copy and a move batched together, the move's delete step, a
// cancelled op, retirement.
std::vector<JournalRecord> Story() {
  return {
      Op(1, OpKind::kCopy, "a.h5"),
      Op(2, OpKind::kMove, "b.h5"),
      Op(3, OpKind::kCopy, "c \"quoted\" \\ ü.h5"),
      Batch(1, StepKind::kTransfer, {1, 2}),
      TaskRecord{1, "task-1"},
      FailRecord{{3}, {"CANCELED", "cancelled by the user"}},
      EndRecord{1, true, {}},
      Batch(2, StepKind::kDelete, {2}),
      TaskRecord{2, "task-2"},
      RetireRecord{{1, 3}},
      EndRecord{2, true, {}},
      RetireRecord{{2}},
  };
}

}  // namespace

TEST_CASE("records round-trip and carry a checksum", "[journal]") {
  OpRecord op = Op(7, OpKind::kMove, "weird\nname\t\"x\"");
  op.step = 1;
  op.succeeded = false;
  op.failure = OpFailure{"FILE_NOT_FOUND", "file not found\nFile: /x"};
  BatchRecord b = Batch(3, StepKind::kDelete, {7, 8});
  b.options.sync_level = 3;
  b.options.recursive = true;
  OpRecord planned = op;
  planned.copy_task = "copy-task";
  planned.plan = DeletePlan{false, {"/src/a", "/src/é b"}, 3, 1};
  std::vector<JournalRecord> all = {HeaderRecord{1, 9, 4},
                                    op,
                                    planned,
                                    PlanRecord{7, DeletePlan{true, {}, 0, 0}},
                                    PlanRecord{7, DeletePlan{false, {"/x/y"}, 2, 0}},
                                    b,
                                    TaskRecord{3, "t"},
                                    EndRecord{3, false, {"X", "y"}},
                                    FailRecord{{1}, {"C", "d"}},
                                    RetireRecord{{1, 2}},
                                    TempRecord{12, {"coll-a", "/d/.globus-fuse.0123abcd.tmp"}},
                                    TempGoneRecord{12},
                                    PutRecord{13, {"coll-a", "/d/new é"}, 1ull << 40}};
  for (const JournalRecord& r : all) {
    std::string line = EncodeRecord(r);
    REQUIRE(line.find('\n') == std::string::npos);  // one line, whatever the paths hold
    auto back = DecodeRecord(line);
    REQUIRE(back.ok());
    CHECK(EncodeRecord(*back) == line);
    // Any single flipped byte in the JSON is caught.
    for (size_t i = 9; i < line.size(); i += 7) {
      std::string bad = line;
      bad[i] = static_cast<char>(bad[i] ^ 0x01);
      CHECK_FALSE(DecodeRecord(bad).ok());
    }
  }
  CHECK(Crc32c("123456789") == 0xE3069283u);  // the CRC-32C check value
}

TEST_CASE("state machine: the move's delete step needs a verified copy", "[journal]") {
  SECTION("verified transfer → delete step") {
    JournalState s;
    REQUIRE(ApplyRecord(s, Op(1, OpKind::kMove, "m")).ok());
    REQUIRE(ApplyRecord(s, Batch(1, StepKind::kTransfer, {1}, /*verify=*/true)).ok());
    CHECK(s.ops.at(1).state == OpState::kBatched);
    REQUIRE(ApplyRecord(s, TaskRecord{1, "t1"}).ok());
    CHECK(s.ops.at(1).state == OpState::kSubmitted);
    REQUIRE(ApplyRecord(s, EndRecord{1, true, {}}).ok());
    CHECK(s.ops.at(1).state == OpState::kQueued);
    CHECK(s.ops.at(1).CurrentStep() == StepKind::kDelete);
    CHECK(s.batches.empty());
    // A transfer batch can no longer take it; a delete batch can.
    CHECK_FALSE(CheckRecord(s, Batch(2, StepKind::kTransfer, {1})).ok());
    REQUIRE(ApplyRecord(s, Batch(2, StepKind::kDelete, {1})).ok());
    REQUIRE(ApplyRecord(s, EndRecord{2, true, {}}).ok());
    CHECK(s.ops.at(1).state == OpState::kSucceeded);
  }
  SECTION("unverified transfer → failed, source kept") {
    JournalState s;
    REQUIRE(ApplyRecord(s, Op(1, OpKind::kMove, "m")).ok());
    REQUIRE(ApplyRecord(s, Batch(1, StepKind::kTransfer, {1}, /*verify=*/false)).ok());
    REQUIRE(ApplyRecord(s, EndRecord{1, true, {}}).ok());
    CHECK(s.ops.at(1).state == OpState::kFailed);
    CHECK(s.ops.at(1).failure->code == "NotVerified");
  }
  SECTION("failed transfer → failed, no further step") {
    JournalState s;
    REQUIRE(ApplyRecord(s, Op(1, OpKind::kMove, "m")).ok());
    REQUIRE(ApplyRecord(s, Batch(1, StepKind::kTransfer, {1})).ok());
    REQUIRE(ApplyRecord(s, EndRecord{1, false, {"PERMISSION_DENIED", "denied"}}).ok());
    CHECK(s.ops.at(1).state == OpState::kFailed);
    CHECK(s.ops.at(1).failure->code == "PERMISSION_DENIED");
    CHECK(s.ops.at(1).step == 0);
  }
  SECTION("illegal transitions are refused without changing the state") {
    JournalState s;
    REQUIRE(ApplyRecord(s, Op(1, OpKind::kCopy, "c")).ok());
    const std::string before = Fingerprint(s);
    CHECK_FALSE(ApplyRecord(s, Op(1, OpKind::kCopy, "dup")).ok());
    CHECK_FALSE(ApplyRecord(s, Batch(1, StepKind::kTransfer, {1, 99})).ok());
    CHECK_FALSE(ApplyRecord(s, TaskRecord{5, "t"}).ok());
    CHECK_FALSE(ApplyRecord(s, RetireRecord{{1}}).ok());  // still live
    CHECK_FALSE(ApplyRecord(s, EndRecord{1, true, {}}).ok());
    CHECK(Fingerprint(s) == before);
  }
}

TEST_CASE("state machine: a directory move's delete step waits for its plan", "[journal]") {
  JournalState s;
  OpRecord dir = Op(1, OpKind::kMove, "d");
  dir.recursive = true;
  REQUIRE(ApplyRecord(s, dir).ok());
  REQUIRE(ApplyRecord(s, Op(2, OpKind::kMove, "f")).ok());  // a file move: no plan
  CHECK_FALSE(CheckRecord(s, PlanRecord{1, {}}).ok());      // still copying
  REQUIRE(ApplyRecord(s, Batch(1, StepKind::kTransfer, {1, 2})).ok());
  REQUIRE(ApplyRecord(s, TaskRecord{1, "copy-1"}).ok());
  REQUIRE(ApplyRecord(s, EndRecord{1, true, {}}).ok());
  const JournalOp& op = s.ops.at(1);
  CHECK(op.copy_task == "copy-1");  // remembered for the plan (also after a restart)
  CHECK(op.NeedsPlan());
  CHECK_FALSE(s.ops.at(2).NeedsPlan());
  CHECK_FALSE(CheckRecord(s, PlanRecord{2, {}}).ok());
  CHECK_FALSE(CheckRecord(s, PlanRecord{1, DeletePlan{true, {"/x"}, 0, 0}}).ok());
  SECTION("a plan makes it batchable; a second plan is refused") {
    const DeletePlan plan{false, {"/src/d/a"}, 1, 0};
    REQUIRE(ApplyRecord(s, PlanRecord{1, plan}).ok());
    CHECK_FALSE(op.NeedsPlan());
    CHECK(op.state == OpState::kQueued);
    CHECK(op.plan == plan);
    CHECK_FALSE(CheckRecord(s, PlanRecord{1, plan}).ok());
    // The compacted snapshot keeps the copy task and the plan.
    JournalState again;
    for (const JournalRecord& r : CompactedRecords(s)) REQUIRE(ApplyRecord(again, r).ok());
    CHECK(again.ops.at(1).plan == plan);
    CHECK(again.ops.at(1).copy_task == "copy-1");
    CHECK(Fingerprint(again) == Fingerprint(s));
  }
  SECTION("a plan with nothing to delete ends the move") {
    REQUIRE(ApplyRecord(s, PlanRecord{1, DeletePlan{false, {}, 2, 0}}).ok());
    CHECK(op.state == OpState::kSucceeded);
  }
}

TEST_CASE("a format 1 journal is read, then rewritten as the current format", "[journal]") {
  TempDir d;
  const std::string path = d.path + "/j.log";
  OpRecord dir = Op(1, OpKind::kMove, "d");
  dir.recursive = true;
  std::string v1;
  for (const JournalRecord& r :
       std::vector<JournalRecord>{HeaderRecord{1, 1, 1}, dir, Batch(1, StepKind::kTransfer, {1}),
                                  TaskRecord{1, "copy-1"}, EndRecord{1, true, {}}})
    v1 += EncodeRecord(r) + "\n";
  WriteFile(path, v1);
  {
    auto j = Journal::Open(path);
    REQUIRE(j.ok());
    CHECK((*j)->version_at_open() == 1);
    const JournalOp& op = (*j)->state().ops.at(1);
    CHECK(op.NeedsPlan());
    CHECK(op.copy_task == "copy-1");
  }
  const std::string now = ReadFile(path);
  CHECK(now.find("\"v\":" + std::to_string(kJournalVersion)) != std::string::npos);
  CHECK(now.find("\"ct\":\"copy-1\"") != std::string::npos);
  auto j = Journal::Open(path);
  REQUIRE(j.ok());
  CHECK((*j)->version_at_open() == kJournalVersion);
  CHECK((*j)->state().ops.at(1).copy_task == "copy-1");
}

TEST_CASE("replay rebuilds the state; ids keep increasing", "[journal]") {
  TempDir d;
  const std::string path = JournalPath(d.path + "/state", "m1");
  std::string expected;
  {
    auto j = Journal::Open(path);
    REQUIRE(j.ok());
    auto story = Story();
    for (size_t i = 0; i < 8; ++i) REQUIRE((*j)->Append(story[i]).ok());
    expected = Fingerprint((*j)->state());
    CHECK((*j)->state().ops.size() == 3);
  }
  auto j = Journal::Open(path);
  REQUIRE(j.ok());
  CHECK(Fingerprint((*j)->state()) == expected);
  CHECK((*j)->NextOpId() == 4);
  CHECK((*j)->NextBatchId() == 3);
  CHECK((*j)->state().ops.at(2).state == OpState::kBatched);  // the move's delete step
  CHECK((*j)->state().batches.at(2).record.submission_id == "sub-2");
  CHECK(std::filesystem::status(path).permissions() ==
        (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
}

TEST_CASE("a second process cannot open the same journal", "[journal]") {
  TempDir d;
  const std::string path = JournalPath(d.path, "m");
  auto a = Journal::Open(path);
  REQUIRE(a.ok());
  auto b = Journal::Open(path);
  REQUIRE_FALSE(b.ok());
  CHECK(b.error().sys_errno == EBUSY);
}

TEST_CASE("a journal from a newer format is refused, not truncated", "[journal]") {
  TempDir d;
  const std::string path = d.path + "/j.log";
  const std::string text = EncodeRecord(HeaderRecord{kJournalVersion + 1, 1, 1}) + "\n";
  WriteFile(path, text);
  CHECK_FALSE(Journal::Open(path).ok());
  CHECK(ReadFile(path) == text);
}

TEST_CASE("torn last record at every byte offset: old state or new state, never garbage",
          "[journal]") {
  TempDir d;
  const std::string path = d.path + "/live.log";
  auto story = Story();
  // File images and states after each record.
  std::vector<std::string> images, states;
  {
    auto j = Journal::Open(path);
    REQUIRE(j.ok());
    images.push_back(ReadFile(path));
    states.push_back(Fingerprint((*j)->state()));
    for (const JournalRecord& r : story) {
      REQUIRE((*j)->Append(r).ok());
      images.push_back(ReadFile(path));
      states.push_back(Fingerprint((*j)->state()));
    }
  }
  JournalOptions fast;  // durability is tested elsewhere; here only the bytes matter
  fast.sync = [](int) { return 0; };
  int checked = 0;
  for (size_t k = 1; k < images.size(); ++k) {
    const std::string& old_image = images[k - 1];
    const std::string& new_image = images[k];
    REQUIRE(new_image.compare(0, old_image.size(), old_image) == 0);  // append-only
    for (size_t cut = old_image.size(); cut <= new_image.size(); ++cut) {
      const std::string p = d.path + "/cut.log";
      WriteFile(p, new_image.substr(0, cut));
      {
        auto j = Journal::Open(p, fast);
        REQUIRE(j.ok());
        const std::string got = Fingerprint((*j)->state());
        if (cut == new_image.size()) {
          CHECK(got == states[k]);
        } else {
          CHECK(got == states[k - 1]);
          CHECK((*j)->dropped_bytes_at_open() == cut - old_image.size());
        }
        // The torn tail is gone: a new record is not glued to it.
        REQUIRE((*j)->Append(RetireRecord{{}}).ok());
      }
      auto again = Journal::Open(p, fast);
      REQUIRE(again.ok());
      CHECK((*again)->dropped_bytes_at_open() == 0);
      CHECK(Fingerprint((*again)->state()) ==
            (cut == new_image.size() ? states[k] : states[k - 1]));
      ++checked;
    }
  }
  CHECK(checked > 500);
}

TEST_CASE("a corrupt record drops it and everything after it", "[journal]") {
  TempDir d;
  const std::string path = d.path + "/j.log";
  std::string after_two;
  {
    auto j = Journal::Open(path);
    REQUIRE(j.ok());
    REQUIRE((*j)->Append(Op(1, OpKind::kCopy, "a")).ok());
    REQUIRE((*j)->Append(Op(2, OpKind::kCopy, "b")).ok());
    after_two = Fingerprint((*j)->state());
    REQUIRE((*j)->Append(Op(3, OpKind::kCopy, "c")).ok());
  }
  std::string image = ReadFile(path);
  image[image.size() - 5] ^= 0x20;  // inside the last record, LF intact
  WriteFile(path, image);
  auto j = Journal::Open(path);
  REQUIRE(j.ok());
  CHECK(Fingerprint((*j)->state()) == after_two);
}

TEST_CASE("Append is durable before it returns and changes nothing when sync fails", "[journal]") {
  TempDir d;
  const std::string path = d.path + "/j.log";
  Journal* jp = nullptr;
  bool fail_sync = false;
  std::vector<std::string> seen_at_sync;
  std::vector<size_t> ops_at_sync;
  JournalOptions o;
  o.sync = [&](int fd) {
    // At the barrier the record is already in the file, and not yet in the state.
    seen_at_sync.push_back(ReadFile(path));
    ops_at_sync.push_back(jp ? jp->state().ops.size() : 0);
    if (fail_sync) {
      errno = EIO;
      return -1;
    }
    return ::fdatasync(fd);
  };
  auto j = Journal::Open(path, o);
  REQUIRE(j.ok());
  jp = j->get();
  seen_at_sync.clear();
  ops_at_sync.clear();

  REQUIRE(jp->Append(Op(1, OpKind::kCopy, "first")).ok());
  REQUIRE(seen_at_sync.size() == 1);
  CHECK(seen_at_sync[0].find("/src/first") != std::string::npos);
  CHECK(ops_at_sync[0] == 0);
  CHECK(jp->state().ops.size() == 1);

  const std::string good = ReadFile(path);
  fail_sync = true;
  Status s = jp->Append(Op(2, OpKind::kCopy, "second"));
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().sys_errno == EIO);
  CHECK(jp->state().ops.size() == 1);  // not applied
  CHECK(ReadFile(path) == good);       // rolled back

  fail_sync = false;
  REQUIRE(jp->Append(Op(2, OpKind::kCopy, "third")).ok());
  j->reset();
  auto re = Journal::Open(path);
  REQUIRE(re.ok());
  CHECK((*re)->state().ops.size() == 2);
  CHECK((*re)->state().ops.at(2).src.path == "/src/third");
  CHECK((*re)->dropped_bytes_at_open() == 0);
}

TEST_CASE("compaction keeps the live state and shrinks the file", "[journal]") {
  TempDir d;
  const std::string path = d.path + "/j.log";
  JournalOptions o;
  o.compact_min_records = 50;
  o.compact_ratio = 4;
  std::string expected;
  {
    auto j = Journal::Open(path, o);
    REQUIRE(j.ok());
    // 200 ops that each live and die, 3 that stay (one mid-task).
    OpId id = 1;
    for (int i = 0; i < 200; ++i, ++id) {
      REQUIRE((*j)->Append(Op(id, OpKind::kCopy, "t" + std::to_string(i))).ok());
      REQUIRE((*j)->Append(FailRecord{{id}, {"CANCELED", "x"}}).ok());
      REQUIRE((*j)->Append(RetireRecord{{id}}).ok());
      CHECK((*j)->records_in_file() <= 51);  // compacted along the way
    }
    REQUIRE((*j)->Append(Op(id, OpKind::kMove, "keep1")).ok());
    REQUIRE((*j)->Append(Op(id + 1, OpKind::kCopy, "keep2")).ok());
    REQUIRE((*j)->Append(Batch((*j)->NextBatchId(), StepKind::kTransfer, {id})).ok());
    REQUIRE((*j)->Append(TaskRecord{(*j)->NextBatchId() - 1, "task-x"}).ok());
    REQUIRE((*j)->Compact().ok());
    CHECK((*j)->records_in_file() == 5);  // hdr, 2 ops, batch, task
    expected = Fingerprint((*j)->state());
    // Appending after compaction goes to the new file.
    REQUIRE((*j)->Append(Op(id + 2, OpKind::kCopy, "after")).ok());
    expected = Fingerprint((*j)->state());
  }
  CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
  auto j = Journal::Open(path);
  REQUIRE(j.ok());
  CHECK(Fingerprint((*j)->state()) == expected);
  CHECK((*j)->NextOpId() == 204);  // ids are not reused after compaction
  CHECK((*j)->state().batches.begin()->second.task_id == "task-x");
}

}  // namespace gf::fs

namespace gf::fs {
namespace {

TEST_CASE("upload temp names: noted, closed, kept by compaction and replay, ids shared with ops",
          "[journal]") {
  TempDir d;
  const std::string path = d.path + "/j.log";
  const Location temp{"coll-a", "/d/.globus-fuse.0123456789abcdef.tmp"};
  {
    auto j = Journal::Open(path);
    REQUIRE(j.ok());
    Journal& jr = **j;
    REQUIRE(jr.Append(Op(jr.NextOpId(), OpKind::kCopy, "a")).ok());  // op 1
    REQUIRE(jr.Append(TempRecord{jr.NextOpId(), temp}).ok());        // temp 2
    CHECK(jr.NextOpId() == 3);                         // an op and a temp name never share an id
    CHECK_FALSE(jr.Append(TempRecord{2, temp}).ok());  // duplicate
    CHECK_FALSE(jr.Append(TempRecord{1, temp}).ok());  // an op's id
    CHECK_FALSE(jr.Append(TempRecord{3, {"coll-a", "relative"}}).ok());
    CHECK_FALSE(jr.Append(TempGoneRecord{9}).ok());  // unknown
    REQUIRE(jr.Append(TempRecord{3, {"coll-b", "/x/.globus-fuse.fedcba9876543210.tmp"}}).ok());
    REQUIRE(jr.Append(TempGoneRecord{3}).ok());
    CHECK_FALSE(jr.Append(TempGoneRecord{3}).ok());  // closed once
    REQUIRE(jr.state().temps.size() == 1);
    CHECK(jr.state().temps.at(2) == temp);
    REQUIRE(jr.Compact().ok());
    CHECK(jr.state().temps.size() == 1);
  }
  auto j = Journal::Open(path);  // a crash: temp 2 was never closed
  REQUIRE(j.ok());
  REQUIRE((*j)->state().temps.size() == 1);
  CHECK((*j)->state().temps.at(2) == temp);
  CHECK((*j)->NextOpId() == 4);
}

TEST_CASE("direct PUT notes: appended without fdatasync, closed by tmpgone, kept by compaction",
          "[journal]") {
  TempDir d;
  const std::string path = d.path + "/j.log";
  int syncs = 0;
  JournalOptions o;
  o.sync = [&syncs](int) {
    ++syncs;
    return 0;
  };
  const PutRecord put{2, {"coll-a", "/d/new.bin"}, 12345};
  {
    auto j = Journal::Open(path, o);
    REQUIRE(j.ok());
    Journal& jr = **j;
    REQUIRE(jr.Append(Op(jr.NextOpId(), OpKind::kCopy, "a")).ok());  // op 1
    const int before = syncs;
    REQUIRE(jr.AppendUnsynced(put).ok());
    CHECK(syncs == before);  // a write(2), no disk flush
    CHECK(jr.NextOpId() == 3);
    CHECK_FALSE(jr.AppendUnsynced(PutRecord{2, put.path, 1}).ok());  // duplicate
    CHECK_FALSE(jr.AppendUnsynced(PutRecord{1, put.path, 1}).ok());  // an op's id
    CHECK_FALSE(jr.AppendUnsynced(PutRecord{3, {"coll-a", "relative"}, 1}).ok());
    REQUIRE(jr.AppendUnsynced(PutRecord{3, {"coll-b", "/x"}, 0}).ok());
    REQUIRE(jr.AppendUnsynced(TempGoneRecord{3}).ok());
    CHECK(syncs == before);
    REQUIRE(jr.state().puts.size() == 1);
    REQUIRE(jr.Compact().ok());
    REQUIRE(jr.state().puts.size() == 1);
  }
  auto j = Journal::Open(path, o);  // a crash: put 2 was never closed
  REQUIRE(j.ok());
  REQUIRE((*j)->state().puts.size() == 1);
  const PutRecord& back = (*j)->state().puts.at(2);
  CHECK(back.path == put.path);
  CHECK(back.size == put.size);
  CHECK((*j)->NextOpId() == 4);
}

TEST_CASE("a format 3 journal is upgraded to the current format at open", "[journal]") {
  TempDir d;
  const std::string path = d.path + "/j.log";
  const Location temp{"c", "/.globus-fuse.0123abcd.tmp"};
  WriteFile(path, EncodeRecord(HeaderRecord{3, 1, 1}) + "\n" +
                      EncodeRecord(Op(1, OpKind::kCopy, "a")) + "\n" +
                      EncodeRecord(TempRecord{2, temp}) + "\n");
  {
    auto j = Journal::Open(path);
    REQUIRE(j.ok());
    CHECK((*j)->version_at_open() == 3);
    REQUIRE((*j)->AppendUnsynced(PutRecord{3, {"c", "/new"}, 7}).ok());
  }
  CHECK(ReadFile(path).find("\"v\":" + std::to_string(kJournalVersion)) != std::string::npos);
  auto j = Journal::Open(path);
  REQUIRE(j.ok());
  CHECK((*j)->state().ops.count(1));
  CHECK((*j)->state().temps.at(2) == temp);
  CHECK((*j)->state().puts.count(3));
}

TEST_CASE("a format 2 journal is upgraded before a temp name record can follow", "[journal]") {
  TempDir d;
  const std::string path = d.path + "/j.log";
  WriteFile(path, EncodeRecord(HeaderRecord{2, 1, 1}) + "\n" +
                      EncodeRecord(Op(1, OpKind::kCopy, "a")) + "\n");
  {
    auto j = Journal::Open(path);
    REQUIRE(j.ok());
    CHECK((*j)->version_at_open() == 2);
    REQUIRE((*j)->Append(TempRecord{2, {"c", "/.globus-fuse.0123abcd.tmp"}}).ok());
  }
  // An older globus-fuse would now refuse the file ("written by a newer globus-fuse"), not
  // truncate it at the record it does not know.
  CHECK(ReadFile(path).find("\"v\":" + std::to_string(kJournalVersion)) != std::string::npos);
  auto j = Journal::Open(path);
  REQUIRE(j.ok());
  CHECK((*j)->state().ops.count(1));
  CHECK((*j)->state().temps.count(2));
}

OpRecord UploadOp(OpId id, const std::string& name) {
  OpRecord r;
  r.id = id;
  r.kind = OpKind::kUpload;
  r.dst = {"coll-b", "/dst/" + name};
  r.size = 7;
  r.queued_at = 1700000000;
  r.staged_id = "0123456789abcdef";
  r.replaces = true;
  return r;
}

TEST_CASE("upload ops: staged id kept, done or fail outside a batch, never batched", "[journal]") {
  TempDir d;
  const std::string path = d.path + "/j.log";
  {
    auto j = Journal::Open(path);
    REQUIRE(j.ok());
    Journal& jr = **j;
    REQUIRE(jr.Append(UploadOp(1, "a")).ok());
    REQUIRE(jr.Append(UploadOp(2, "b")).ok());
    REQUIRE(jr.Append(UploadOp(3, "c")).ok());
    OpRecord bad = UploadOp(4, "d");
    bad.staged_id.clear();
    CHECK_FALSE(jr.Append(bad).ok());                                 // no staged file
    CHECK_FALSE(jr.Append(Batch(1, StepKind::kTransfer, {1})).ok());  // not a transfer
    CHECK_FALSE(jr.Append(DoneRecord{{9}}).ok());                     // unknown
    REQUIRE(jr.Append(Op(4, OpKind::kCopy, "x")).ok());
    CHECK_FALSE(jr.Append(DoneRecord{{4}}).ok());  // not an upload
    REQUIRE(jr.Append(DoneRecord{{1}}).ok());
    CHECK_FALSE(jr.Append(DoneRecord{{1}}).ok());  // already done
    REQUIRE(jr.Append(FailRecord{{2}, {"SUPERSEDED", "newer"}}).ok());
    CHECK(jr.state().ops.at(1).state == OpState::kSucceeded);
    CHECK(jr.state().ops.at(2).state == OpState::kFailed);
    REQUIRE(jr.Compact().ok());
  }
  auto j = Journal::Open(path);
  REQUIRE(j.ok());
  const JournalOp& c = (*j)->state().ops.at(3);
  CHECK(c.kind == OpKind::kUpload);
  CHECK(c.state == OpState::kQueued);
  CHECK(c.staged_id == "0123456789abcdef");
  CHECK(c.replaces);
  CHECK(c.dst == Location{"coll-b", "/dst/c"});
  CHECK((*j)->state().ops.at(1).state == OpState::kSucceeded);
  CHECK((*j)->state().ops.at(2).failure->code == "SUPERSEDED");
}

TEST_CASE("a format 4 journal is upgraded before an upload op can follow", "[journal]") {
  TempDir d;
  const std::string path = d.path + "/j.log";
  WriteFile(path, EncodeRecord(HeaderRecord{4, 1, 1}) + "\n" +
                      EncodeRecord(Op(1, OpKind::kCopy, "a")) + "\n" +
                      EncodeRecord(PutRecord{2, {"c", "/new"}, 7}) + "\n");
  {
    auto j = Journal::Open(path);
    REQUIRE(j.ok());
    CHECK((*j)->version_at_open() == 4);
    REQUIRE((*j)->Append(UploadOp(3, "u")).ok());
  }
  // An older globus-fuse refuses the file ("written by a newer globus-fuse") instead of
  // truncating it at the upload op it does not know.
  CHECK(ReadFile(path).find("\"v\":5") != std::string::npos);
  auto j = Journal::Open(path);
  REQUIRE(j.ok());
  CHECK((*j)->version_at_open() == 5);
  CHECK((*j)->state().ops.count(1));
  CHECK((*j)->state().puts.count(2));
  CHECK((*j)->state().ops.at(3).kind == OpKind::kUpload);
}

}  // namespace
}  // namespace gf::fs
