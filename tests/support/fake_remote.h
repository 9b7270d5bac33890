// FakeRemote: an in-memory Globus (Transfer + collection HTTPS) for unit tests of fs/.
//
// One object implements both TransferApi and DataApi over a tree of collections held in memory.
// It has per-operation call counters, one-shot failure injection, and gates that block an
// operation until released (for coalescing and concurrency tests). Tasks do not run by
// themselves: tests drive them with RunTasks()/FailTask(), so nothing depends on timing.
//
// fake_remote.cc implements files, listings, metadata and data; fake_remote_tasks.cc
// implements submission and task monitoring over the same tree.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "api/transfer_api.h"

namespace gf::testing {

class FakeRemote : public api::TransferApi, public api::DataApi {
 public:
  struct Node {
    api::EntryType type = api::EntryType::kFile;
    std::string content;      // files
    std::string link_target;  // symlinks
    std::time_t mtime = 1600000000;
    uint32_t permissions = 0644;            // 0755 for dirs by default
    std::optional<uint64_t> size_override;  // report this size (e.g. > 4 GiB) without content
  };

  struct FakeTask {
    api::Task doc;
    std::vector<api::TransferItem> items;   // transfer
    std::vector<std::string> delete_paths;  // delete
    bool recursive_delete = false;
    bool ignore_missing = false;      // delete
    bool interpret_globs = false;     // delete
    bool notify = false;              // delete: any notify_on_* was true
    bool preserve_timestamp = false;  // transfer: copies keep the source mtime
    std::string submission_id;
    std::vector<api::Event> events;
    std::vector<api::SuccessfulTransfer> successful;  // transfer: files copied, in order
  };

  FakeRemote();

  // ---- building the world ----
  // Adds a collection (its root "/" exists). `e.id` must be set.
  void AddCollection(api::Endpoint e);
  void AddFile(const std::string& collection, const std::string& path, std::string content,
               std::time_t mtime = 1600000000, uint32_t permissions = 0644);
  void AddDir(const std::string& collection, const std::string& path, uint32_t permissions = 0755);
  void AddSymlink(const std::string& collection, const std::string& path, std::string target);
  void SetNode(const std::string& collection, const std::string& path, Node n);
  void Remove(const std::string& collection, const std::string& path);  // recursive
  bool Exists(const std::string& collection, const std::string& path) const;
  std::optional<Node> Get(const std::string& collection, const std::string& path) const;
  void AddBookmark(api::Bookmark b);

  // ---- observing and steering ----
  // Operation names: "get_endpoint", "endpoint_search", "bookmark_list", "ls", "stat", "mkdir",
  // "rename", "submission_id", "submit_transfer", "submit_delete", "get_task", "task_list",
  // "cancel_task", "event_list", "successful_transfers", "get", "put", "delete".
  int Calls(const std::string& op) const;
  void ResetCalls();
  // The next `count` calls of `op` fail with `e`.
  void FailNext(const std::string& op, Error e, int count = 1);
  // Calls of `op` block until ReleaseGate(op). Blocked() tells how many are waiting.
  void CloseGate(const std::string& op);
  void ReleaseGate(const std::string& op);
  // Lets one call of `op` through a closed gate (the gate stays closed for the next).
  void PassGate(const std::string& op);
  int Blocked(const std::string& op) const;
  // Serve GET ignoring Range (answer as a 200 with the whole body).
  void SetIgnoreRange(bool on);
  // "~" of `collection` is `absolute` (e.g. "/home/alice"): ls under "/~" answers
  // absolute_path, and HTTPS serves "/home/alice/x" as "/~/x". With tilde_over_https false,
  // HTTPS answers 404 for "/~/..." paths (a server that does not expand "~").
  void SetHome(const std::string& collection, const std::string& absolute, bool tilde_over_https);
  // What `rename` onto an existing file does (the real service's behaviour is UNVERIFIED):
  // kRefuse answers ExternalError.RenameFailed.Exists (the default), kReplace replaces it.
  // A directory target is always refused.
  enum class RenameOntoExisting { kRefuse, kReplace };
  void SetRenameOntoExisting(RenameOntoExisting mode);
  // PUT bodies larger than this are refused with 413 before anything is stored (Apache
  // LimitRequestBody). nullopt: no limit.
  void SetPutLimit(std::optional<uint64_t> bytes);
  // The next PUT stores only its first `bytes` bytes at its path and then fails with a
  // connection reset (a PUT cut off mid-body leaves a partial file, writes-and-deletes.md §1.2).
  void CutNextPut(uint64_t bytes);
  // Bytes served by GET / received by PUT, for "no bytes through the workstation" tests.
  uint64_t BytesServed() const;
  uint64_t BytesReceived() const;

  // ---- tasks (fake_remote_tasks.cc) ----
  // Runs every ACTIVE task to completion: copies/deletes in the tree, status SUCCEEDED
  // (or FAILED with FILE_NOT_FOUND for a delete of a missing path without ignore_missing).
  // A transfer whose source is missing stays ACTIVE with faults++ and an error event, like
  // the real service.
  void RunTasks();
  void FailTask(const std::string& task_id, const std::string& code,
                const std::string& description);
  // The next delete task that RunTasks() works fails with this fatal error and deletes nothing
  // (e.g. QUOTA_EXCEEDED). PERMISSION_DENIED instead leaves it ACTIVE with that nice_status,
  // is_ok false and faults++, as the service and globus-sim do (the client must cancel it).
  void FailNextDeleteTask(const std::string& code, const std::string& description);
  // How many DELETE tasks the service works at a time (3, globus-api.md: "3 transfer tasks and
  // 3 delete tasks per user at a time"). Each RunTasks() call works at most this many delete
  // tasks, oldest first; the others stay ACTIVE with nice_status "Queued".
  void SetDeleteConcurrency(int n);
  std::vector<FakeTask> Tasks() const;
  // Entries per successful_transfers page (the service's page size is not documented; the
  // emulator uses 1000). Markers are entry indexes, like the emulator's.
  void SetSuccessfulTransfersPageSize(size_t n);

  // ---- TransferApi ----
  Result<api::Endpoint> GetEndpoint(const std::string& id) override;
  Result<std::vector<api::Endpoint>> EndpointSearch(const api::EndpointSearchQuery& q) override;
  Result<std::vector<api::Bookmark>> BookmarkList() override;
  Result<api::FileList> Ls(const std::string& collection, const api::LsQuery& q) override;
  Result<api::FileEntry> Stat(const std::string& collection, const std::string& path) override;
  Status Mkdir(const std::string& collection, const std::string& path) override;
  Status Rename(const std::string& collection, const std::string& old_path,
                const std::string& new_path) override;
  Result<std::string> GetSubmissionId() override;
  Result<api::SubmitResult> SubmitTransfer(const api::TransferRequest& r) override;
  Result<api::SubmitResult> SubmitDelete(const api::DeleteRequest& r) override;
  Result<api::Task> GetTask(const std::string& task_id) override;
  Result<std::vector<api::Task>> TaskList(const api::TaskListQuery& q) override;
  Status CancelTask(const std::string& task_id) override;
  Result<std::vector<api::Event>> EventList(const std::string& task_id, int limit,
                                            int offset) override;
  Result<api::SuccessfulTransfersPage> SuccessfulTransfers(const std::string& task_id,
                                                           const std::string& marker) override;

  // ---- DataApi ----
  Result<api::RangeResult> GetRange(const api::CollectionRef& c, const std::string& path,
                                    uint64_t offset, uint64_t length,
                                    const std::function<bool(std::string_view)>& sink,
                                    const std::atomic<bool>* cancel) override;
  Status Put(const api::CollectionRef& c, const std::string& path, const api::UploadBody& body,
             const std::atomic<bool>* cancel = nullptr) override;
  // Ends with kAborted when the calling thread's CancelScope flag is raised (as a real request
  // does).
  Status Delete(const api::CollectionRef& c, const std::string& path) override;

 private:
  // Counts the call, waits at a closed gate, and returns an injected failure if any.
  // Called WITHOUT mu_ held. (Lock order: gate_mu_ is never held while taking mu_.)
  std::optional<Error> Enter(const std::string& op);
  static std::string Normalize(const std::string& path);  // "/a/b" form, no trailing '/'
  // Where an HTTPS path is in the tree (files under "~" are kept at "/~/..."); nullopt: the
  // server answers 404 (a "/~/..." path where tilde_over_https is off). Called with mu_ held.
  std::optional<std::string> HttpsTreePathLocked(const std::string& collection,
                                                 const std::string& path) const;

  mutable std::mutex mu_;  // guards everything below except the gate state
  std::map<std::string, api::Endpoint> collections_;
  std::map<std::string, std::map<std::string, Node>> trees_;  // collection -> path -> node
  std::vector<api::Bookmark> bookmarks_;
  std::map<std::string, int> calls_;
  std::map<std::string, std::vector<Error>> failures_;
  std::map<std::string, FakeTask> tasks_;           // task_id -> task
  std::map<std::string, std::string> submissions_;  // submission_id -> task_id
  uint64_t next_id_ = 1;
  size_t successful_page_size_ = 1000;
  bool ignore_range_ = false;
  RenameOntoExisting rename_mode_ = RenameOntoExisting::kRefuse;
  std::optional<uint64_t> put_limit_;
  std::optional<uint64_t> cut_next_put_;
  std::optional<api::FatalError> fail_next_delete_;
  int delete_concurrency_ = 3;
  struct Home {
    std::string absolute;
    bool tilde_over_https = true;
  };
  std::map<std::string, Home> homes_;  // collection -> where "~" is
  uint64_t bytes_served_ = 0, bytes_received_ = 0;

  mutable std::mutex gate_mu_;
  std::condition_variable gate_cv_;
  std::map<std::string, bool> gate_closed_;
  std::map<std::string, int> gate_waiting_;
  std::map<std::string, int> gate_passes_;
};

}  // namespace gf::testing
