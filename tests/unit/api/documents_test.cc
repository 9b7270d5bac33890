// Parsers over every reference fixture, timestamps, permissions, entry types, and hostile input.
#include <catch2/catch.hpp>

#include "api/documents.h"
#include "tests/support/fixtures.h"

using namespace gf;
using namespace gf::api;
using gf::testing::Fixture;

namespace {
std::time_t Utc(int y, int mo, int d, int h, int mi, int s) {
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return timegm(&tm);
}
bool IsMalformed(const Error& e) {
  return e.kind == ErrorKind::kTransport && e.transport == TransportFailure::kMalformedBody;
}
}  // namespace

TEST_CASE("ParseGlobusTime: both Globus formats and variants", "[documents][time]") {
  CHECK(ParseGlobusTime("2020-09-23 18:53:12+00:00") == Utc(2020, 9, 23, 18, 53, 12));
  CHECK(ParseGlobusTime("2021-01-15T18:13:10+00:00") == Utc(2021, 1, 15, 18, 13, 10));
  CHECK(ParseGlobusTime("2021-01-15T18:13:10Z") == Utc(2021, 1, 15, 18, 13, 10));
  CHECK(ParseGlobusTime("2021-01-15T18:13:10.123456+00:00") == Utc(2021, 1, 15, 18, 13, 10));
  CHECK(ParseGlobusTime("2021-01-15T18:13:10") == Utc(2021, 1, 15, 18, 13, 10));
  CHECK(ParseGlobusTime("2021-01-15T20:13:10+02:00") == Utc(2021, 1, 15, 18, 13, 10));
  CHECK(ParseGlobusTime("2021-01-15T13:13:10-0500") == Utc(2021, 1, 15, 18, 13, 10));
  CHECK(ParseGlobusTime("2024-02-29 00:00:00+00:00") == Utc(2024, 2, 29, 0, 0, 0));
  CHECK(ParseGlobusTime("1969-12-31 23:59:59+00:00") == -1);
  for (const char* bad :
       {"", "2021-01-15", "2021-13-01 00:00:00", "2023-02-29 00:00:00", "2021-01-15 24:00:00",
        "2021-01-15x18:13:10", "2021-01-15 18:13:10+", "2021-01-15 18:13:10 junk",
        "2021-01-15 18:13:10.+00:00", "abcd-01-15 18:13:10"}) {
    INFO(bad);
    CHECK_FALSE(ParseGlobusTime(bad).has_value());
  }
}

TEST_CASE("FormatTaskTime round-trips", "[documents][time]") {
  CHECK(FormatTaskTime(Utc(2026, 6, 23, 22, 3, 26)) == "2026-06-23T22:03:26+00:00");
  CHECK(ParseGlobusTime(FormatTaskTime(1700000000)) == 1700000000);
}

TEST_CASE("ParsePermissions keeps special bits", "[documents]") {
  CHECK(ParsePermissions("0644") == 0644u);
  CHECK(ParsePermissions("0755") == 0755u);
  CHECK(ParsePermissions("2770") == 02770u);
  CHECK(ParsePermissions("755") == 0755u);
  CHECK_FALSE(ParsePermissions("0855"));
  CHECK_FALSE(ParsePermissions(""));
  CHECK_FALSE(ParsePermissions("07777x"));
  CHECK_FALSE(ParsePermissions("12345"));
}

TEST_CASE("ParseEntryType maps every documented type", "[documents]") {
  CHECK(ParseEntryType("dir") == EntryType::kDir);
  CHECK(ParseEntryType("file") == EntryType::kFile);
  CHECK(ParseEntryType("invalid_symlink") == EntryType::kInvalidSymlink);
  CHECK(ParseEntryType("symlink") == EntryType::kSymlink);
  CHECK(ParseEntryType("chr") == EntryType::kChr);
  CHECK(ParseEntryType("blk") == EntryType::kBlk);
  CHECK(ParseEntryType("pipe") == EntryType::kPipe);
  CHECK(ParseEntryType("other") == EntryType::kOther);
  CHECK(ParseEntryType("socket-from-the-future") == EntryType::kOther);
}

TEST_CASE("fixture transfer_ls_root_tutorial.json", "[documents][fixtures]") {
  auto l = ParseFileList(Fixture("transfer_ls_root_tutorial.json"));
  REQUIRE(l.ok());
  CHECK(l->path == "/");
  CHECK_FALSE(l->absolute_path);
  CHECK(l->endpoint == "aa752cea-8222-5bc8-acd9-555b090c0ccb");
  CHECK(l->length == 4);
  CHECK(l->total == 4u);
  CHECK(l->rename_supported);
  CHECK(l->symlink_supported);
  REQUIRE(l->entries.size() == 4);
  const FileEntry& home = l->entries[0];
  CHECK(home.name == "home");
  CHECK(home.type == EntryType::kDir);
  CHECK(home.size == 24576);
  CHECK(home.permissions == 0755u);
  CHECK(home.user == "root");
  CHECK(home.group == "root");
  CHECK(home.last_modified == Utc(2021, 1, 15, 1, 45, 50));
  CHECK_FALSE(home.link_target);
  CHECK_FALSE(home.link_size);
  CHECK_FALSE(home.link_last_modified);
  CHECK(l->entries[2].name == "not shareable");
  CHECK(l->entries[2].last_modified == Utc(2020, 9, 23, 18, 53, 12));
}

TEST_CASE("fixture transfer_ls_home_gcs.json", "[documents][fixtures]") {
  auto l = ParseFileList(Fixture("transfer_ls_home_gcs.json"));
  REQUIRE(l.ok());
  CHECK(l->path == "/~/");
  CHECK_FALSE(l->symlink_supported);
  REQUIRE(l->entries.size() == 7);
  CHECK(l->entries[0].name == ".bash_history");
  CHECK(l->entries[0].permissions == 0600u);
  CHECK(l->entries[0].size == 150);
  CHECK(l->entries[0].user == "tg882963");
  CHECK(l->entries[0].group == "G-818990");
  CHECK(l->entries[5].name == ".ssh");
  CHECK(l->entries[5].type == EntryType::kDir);
  CHECK(l->entries[6].size == 0);
  CHECK(l->entries[6].last_modified == Utc(2022, 7, 22, 20, 31, 2));
}

TEST_CASE("fixture transfer_stat_file.json", "[documents][fixtures]") {
  auto e = ParseFileEntry(Fixture("transfer_stat_file.json"));
  REQUIRE(e.ok());
  CHECK(e->name == "file1.txt");
  CHECK(e->type == EntryType::kFile);
  CHECK(e->size == 4);
  CHECK(e->permissions == 0644u);
  CHECK(e->user == "tutorial");
  CHECK(e->last_modified == Utc(2023, 12, 18, 16, 52, 50));
}

TEST_CASE("fixture transfer_mkdir_result.json", "[documents][fixtures]") {
  auto r = ParseOperationResult(Fixture("transfer_mkdir_result.json"));
  REQUIRE(r.ok());
  CHECK(r->data_type == "mkdir_result");
  CHECK(r->code == "DirectoryCreated");
  CHECK(r->request_id == "ShbIUzrWT");
}

TEST_CASE("fixture transfer_submit_result.json", "[documents][fixtures]") {
  auto r = ParseSubmitResult(Fixture("transfer_submit_result.json"));
  REQUIRE(r.ok());
  CHECK(r->code == "Accepted");
  CHECK(r->task_id == "00000000-0000-0000-0000-000000000001");
  CHECK(r->submission_id == "00000000-0000-0000-0000-000000000001");
}

TEST_CASE("fixture transfer_task_active.json", "[documents][fixtures]") {
  auto t = ParseTask(Fixture("transfer_task_active.json"));
  REQUIRE(t.ok());
  CHECK(t->task_id == "00000000-0000-0000-0000-000000000001");
  CHECK(t->type == TaskType::kTransfer);
  CHECK(t->status == TaskStatus::kActive);
  CHECK_FALSE(t->label);
  CHECK(t->request_time == Utc(2026, 6, 23, 22, 3, 26));
  CHECK_FALSE(t->completion_time);
  CHECK(t->deadline == Utc(2026, 6, 24, 22, 3, 26));
  CHECK(t->source_endpoint_id == "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa");
  CHECK(t->destination_endpoint_display_name == "Test Destination Collection - GUEST");
  CHECK(t->subtasks_total == 1);
  CHECK(t->subtasks_pending == 1);
  CHECK(t->total_estimated_bytes == 0);
  CHECK_FALSE(t->fatal_error);
  CHECK(t->is_ok);
  CHECK(t->nice_status == "Queued");
}

TEST_CASE("fixture transfer_task_failed.json", "[documents][fixtures]") {
  auto t = ParseTask(Fixture("transfer_task_failed.json"));
  REQUIRE(t.ok());
  CHECK(t->task_id == "6e9948e6-6f49-11f1-9c77-0e9f7c26f401");
  CHECK(t->status == TaskStatus::kFailed);
  CHECK(t->completion_time == Utc(2026, 6, 23, 21, 21, 2));
  REQUIRE(t->fatal_error);
  CHECK(t->fatal_error->code == "CANCELED");
  CHECK(t->fatal_error->description == "canceled");
  CHECK(t->is_ok);  // null once finished: "not known to be failing"
  CHECK_FALSE(t->nice_status);
  CHECK(t->directories == 1);
  CHECK(t->subtasks_total == 2);
}

TEST_CASE("fixture transfer_task_event_list.json", "[documents][fixtures]") {
  auto ev = ParseEventList(Fixture("transfer_task_event_list.json"));
  REQUIRE(ev.ok());
  REQUIRE(ev->size() == 3);
  CHECK((*ev)[0].code == "CANCELED");
  CHECK((*ev)[0].is_error);
  CHECK((*ev)[0].time == Utc(2021, 10, 6, 16, 14, 5));
  CHECK((*ev)[1].code == "PERMISSION_DENIED");
  CHECK((*ev)[1].description == "permission denied");
  CHECK((*ev)[1].details.find("MKD /foo") != std::string::npos);
  CHECK((*ev)[2].code == "STARTED");
  CHECK_FALSE((*ev)[2].is_error);
}

TEST_CASE("successful_transfers: marker paging, files only", "[documents]") {
  // Shaped like globus-api.md §1.7 (SDK endpoint_manager_task_successful_transfers), with the
  // docs-derived extra fields on the second entry.
  auto p = ParseSuccessfulTransfers(R"({
    "DATA_TYPE": "successful_transfers", "marker": 0, "next_marker": 93979,
    "DATA": [
      {"DATA_TYPE": "successful_transfer", "source_path": "/~/dir/a.txt",
       "destination_path": "/~/moved/a.txt"},
      {"DATA_TYPE": "successful_transfer", "source_path": "/dir/sub/b.bin",
       "destination_path": "/moved/sub/b.bin", "checksum": "abc", "checksum_algorithm": "MD5",
       "dynamic": false, "size": 1234}
    ]})");
  REQUIRE(p.ok());
  CHECK(p->marker == "0");
  REQUIRE(p->next_marker);
  CHECK(*p->next_marker == "93979");
  REQUIRE(p->transfers.size() == 2);
  CHECK(p->transfers[0].source_path == "/~/dir/a.txt");
  CHECK(p->transfers[0].destination_path == "/~/moved/a.txt");
  CHECK_FALSE(p->transfers[0].size);
  CHECK(p->transfers[1].source_path == "/dir/sub/b.bin");
  CHECK(p->transfers[1].size == 1234);

  auto last = ParseSuccessfulTransfers(
      R"({"DATA_TYPE": "successful_transfers", "marker": 93979, "next_marker": null, "DATA": []})");
  REQUIRE(last.ok());
  CHECK(last->marker == "93979");
  CHECK_FALSE(last->next_marker);
  CHECK(last->transfers.empty());
  auto text = ParseSuccessfulTransfers(R"({"marker": "m1", "next_marker": "m2", "DATA": []})");
  REQUIRE(text.ok());
  CHECK(text->next_marker == std::optional<std::string>("m2"));

  CHECK_FALSE(ParseSuccessfulTransfers(R"({"marker": 0})").ok());
  CHECK_FALSE(ParseSuccessfulTransfers(R"({"DATA": [{"destination_path": "/x"}]})").ok());
  CHECK_FALSE(ParseSuccessfulTransfers(R"({"next_marker": [1], "DATA": []})").ok());
}

TEST_CASE("fixture transfer_endpoint_gcsv5_endpoint.json", "[documents][fixtures]") {
  auto e = ParseEndpoint(Fixture("transfer_endpoint_gcsv5_endpoint.json"));
  REQUIRE(e.ok());
  CHECK(e->id == "c574170d-3690-4343-bd16-2c9e49bd1ab0");
  CHECK(e->display_name == "My Cool GCSv5.4 Sandbox Endpoint");
  CHECK(e->entity_type == "GCSv5_endpoint");
  CHECK(e->non_functional);
  CHECK_FALSE(e->https_server);
  CHECK_FALSE(e->high_assurance);
  CHECK_FALSE(e->authentication_timeout_mins);
  CHECK_FALSE(e->default_directory);
  CHECK(e->owner_string == "foo@globus.org");
  CHECK_FALSE(e->IsMappedGcsv5());
}

TEST_CASE("fixture transfer_endpoint_search.json", "[documents][fixtures]") {
  auto l = ParseEndpointList(Fixture("transfer_endpoint_search.json"));
  REQUIRE(l.ok());
  REQUIRE(l->size() == 1);
  CHECK((*l)[0].id == "aa752cea-8222-5bc8-acd9-555b090c0ccb");
  CHECK((*l)[0].display_name == "Globus Tutorial Endpoint 1");
  CHECK_FALSE((*l)[0].non_functional);
  CHECK((*l)[0].owner_string == "go@globusid.org");
}

TEST_CASE("endpoint with an https_server and legacy null display_name", "[documents]") {
  auto e = ParseEndpoint(R"({"id": "c1", "display_name": null, "canonical_name": "go#ep1",
      "entity_type": "GCSv5_mapped_collection", "https_server": "https://x.data.globus.org",
      "authentication_timeout_mins": 15840, "high_assurance": true})");
  REQUIRE(e.ok());
  CHECK(e->display_name == "go#ep1");
  CHECK(e->https_server == "https://x.data.globus.org");
  CHECK(e->authentication_timeout_mins == 15840);
  CHECK(e->high_assurance);
  CHECK(e->IsMappedGcsv5());
}

TEST_CASE("bookmark list", "[documents]") {
  auto b = ParseBookmarkList(R"({"DATA": [{"DATA_TYPE": "bookmark", "id": "b1", "name": "home",
      "endpoint_id": "e1", "path": "/home/", "pinned": false}]})");
  REQUIRE(b.ok());
  REQUIRE(b->size() == 1);
  CHECK((*b)[0].name == "home");
  CHECK((*b)[0].endpoint_id == "e1");
  CHECK((*b)[0].path == "/home/");
  auto missing = ParseBookmarkList(R"({"DATA": [{"id": "b1", "name": "x", "path": "/"}]})");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message.find("endpoint_id") != std::string::npos);
}

TEST_CASE("task list and submission id", "[documents]") {
  auto tl = ParseTaskList(R"({"DATA_TYPE": "task_list", "DATA": [
      {"task_id": "t1", "status": "SUCCEEDED", "type": "DELETE", "request_time": null}]})");
  REQUIRE(tl.ok());
  REQUIRE(tl->size() == 1);
  CHECK((*tl)[0].status == TaskStatus::kSucceeded);
  CHECK((*tl)[0].type == TaskType::kDelete);
  CHECK((*tl)[0].request_time == 0);
  auto id = ParseSubmissionId(R"({"value": "abc-123"})");
  REQUIRE(id.ok());
  CHECK(*id == "abc-123");
  CHECK_FALSE(ParseSubmissionId(R"({"value": ""})").ok());
  CHECK_FALSE(ParseSubmissionId(R"({"DATA_TYPE": "submission_id"})").ok());
}

TEST_CASE("nullable and missing optional fields never fail", "[documents]") {
  auto e = ParseFileEntry(R"({"name": "x", "type": "file", "size": null, "last_modified": null,
      "permissions": null, "user": null, "group": null})");
  REQUIRE(e.ok());
  CHECK(e->size == 0);
  CHECK(e->permissions == 0u);
  CHECK_FALSE(e->user);
  auto minimal = ParseTask(R"({"task_id": "t", "status": "ACTIVE"})");
  REQUIRE(minimal.ok());
  CHECK(minimal->type == TaskType::kTransfer);
}

TEST_CASE("symlink fields are kept; the entry keeps its target's type", "[documents]") {
  auto e = ParseFileEntry(R"({"name": "l", "type": "dir", "link_target": "/data/real",
      "link_size": 11, "link_last_modified": "2021-01-15 01:45:50+00:00",
      "link_user": "u", "link_group": "g"})");
  REQUIRE(e.ok());
  CHECK(e->type == EntryType::kDir);
  CHECK(e->link_target == "/data/real");
  CHECK(e->link_size == 11u);
  CHECK(e->link_last_modified == Utc(2021, 1, 15, 1, 45, 50));
  auto dangling =
      ParseFileEntry(R"({"name": "d", "type": "invalid_symlink", "link_target": "/gone"})");
  REQUIRE(dangling.ok());
  CHECK(dangling->type == EntryType::kInvalidSymlink);
}

TEST_CASE("missing required fields are named in kMalformedBody", "[documents][malformed]") {
  struct Case {
    const char* json;
    const char* field;
  } cases[] = {
      {R"({"type": "file"})", "name"},
      {R"({"name": "x"})", "type"},
      {R"({"name": 5, "type": "file"})", "name"},
      {R"({"name": "x", "type": "file", "size": "big"})", "size"},
      {R"({"name": "x", "type": "file", "size": -1})", "size"},
      {R"({"name": "x", "type": "file", "permissions": "rwxr-xr-x"})", "permissions"},
      {R"({"name": "x", "type": "file", "last_modified": "yesterday"})", "last_modified"},
  };
  for (const auto& c : cases) {
    INFO(c.json);
    auto r = ParseFileEntry(c.json);
    REQUIRE_FALSE(r.ok());
    CHECK(IsMalformed(r.error()));
    CHECK(r.error().message.find(c.field) != std::string::npos);
  }
  auto l = ParseFileList(R"({"DATA_TYPE": "file_list", "path": "/"})");
  REQUIRE_FALSE(l.ok());
  CHECK(l.error().message.find("DATA") != std::string::npos);
  auto t = ParseTask(R"({"task_id": "t", "status": "EXPLODED"})");
  REQUIRE_FALSE(t.ok());
  CHECK(t.error().message.find("status") != std::string::npos);
  CHECK_FALSE(ParseEndpoint(R"({"display_name": "x"})").ok());
  CHECK_FALSE(ParseSubmitResult(R"({"task_id": "t"})").ok());
  CHECK_FALSE(ParseEventList(R"({"DATA": [{"description": "no code"}]})").ok());
}

TEST_CASE("malformed and truncated JSON gives kMalformedBody, never a crash",
          "[documents][malformed]") {
  std::string full = Fixture("transfer_ls_root_tutorial.json");
  // Every truncation of a real document.
  for (std::size_t n = 0; n + 1 < full.size(); n += 13) {
    auto r = ParseFileList(std::string_view(full).substr(0, n));
    REQUIRE_FALSE(r.ok());
    CHECK(IsMalformed(r.error()));
  }
  for (const char* bad :
       {"", "null", "[]", "42", "\"str\"", "{", "{\"DATA\": 5}", "{\"DATA\": [1, 2]}",
        "{\"DATA\": [null]}", "<html>502</html>", "{\"DATA\": []} trailing"}) {
    INFO(bad);
    auto r = ParseFileList(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(IsMalformed(r.error()));
    CHECK_FALSE(ParseTask(bad).ok());
    CHECK_FALSE(ParseEndpoint(bad).ok());
  }
  std::string deep(100000, '[');
  CHECK_FALSE(ParseFileList(deep).ok());
}

TEST_CASE("SerializeTransfer writes the §1.6 document", "[documents][serialize]") {
  TransferRequest r;
  r.submission_id = "sub-1";
  r.source_endpoint = "src";
  r.destination_endpoint = "dst";
  r.items.push_back({"/a/f \"q\".txt", "/b/f.txt", false});
  r.items.push_back({"/dir/", "/b/dir/", true});
  r.label = "globus-fuse cp";
  r.sync_level = 3;
  r.deadline = "2026-01-01T00:00:00+00:00";
  CHECK(SerializeTransfer(r) ==
        R"({"DATA_TYPE":"transfer","submission_id":"sub-1","source_endpoint":"src",)"
        R"("destination_endpoint":"dst","DATA":[{"DATA_TYPE":"transfer_item",)"
        R"("source_path":"/a/f \"q\".txt","destination_path":"/b/f.txt","recursive":false},)"
        R"({"DATA_TYPE":"transfer_item","source_path":"/dir/","destination_path":"/b/dir/",)"
        R"("recursive":true}],"label":"globus-fuse cp","deadline":"2026-01-01T00:00:00+00:00",)"
        R"("sync_level":3,"verify_checksum":true,"preserve_timestamp":true,)"
        R"("encrypt_data":false,"skip_source_errors":false})");
  TransferRequest minimal;
  minimal.submission_id = "s";
  std::string m = SerializeTransfer(minimal);
  CHECK(m.find("label") == std::string::npos);
  CHECK(m.find("sync_level") == std::string::npos);
  CHECK(m.find("deadline") == std::string::npos);
}

TEST_CASE("SerializeDelete, mkdir and rename bodies", "[documents][serialize]") {
  DeleteRequest d;
  d.submission_id = "s2";
  d.endpoint = "ep";
  d.paths = {"/x", "/y z"};
  d.recursive = true;
  CHECK(SerializeDelete(d) ==
        R"({"DATA_TYPE":"delete","submission_id":"s2","endpoint":"ep","DATA":[)"
        R"({"DATA_TYPE":"delete_item","path":"/x"},{"DATA_TYPE":"delete_item","path":"/y z"}],)"
        R"("recursive":true,"ignore_missing":false,"interpret_globs":false,)"
        R"("notify_on_succeeded":false,"notify_on_failed":false,"notify_on_inactive":false})");
  d.label = "rm -r /x";
  d.interpret_globs = true;
  const std::string labelled = SerializeDelete(d);
  CHECK(labelled.find(R"("interpret_globs":true)") != std::string::npos);
  CHECK(labelled.find(R"("label":"rm -r /x")") != std::string::npos);
  CHECK(SerializeMkdir("/~/new dir/") == R"({"DATA_TYPE":"mkdir","path":"/~/new dir/"})");
  CHECK(SerializeRename("/a", "/b") == R"({"DATA_TYPE":"rename","old_path":"/a","new_path":"/b"})");
}
