// The remote API the filesystem stands on, as interfaces. The real implementations are
// TransferClient (Transfer v0.10) and HttpsClient (collection HTTPS); tests use
// tests/support/fake_remote.h. fs/ includes only this header (and documents.h) from api/.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/documents.h"
#include "common/result.h"

namespace gf::api {

struct LsQuery {
  std::string path = "/";
  std::optional<uint64_t> limit;  // <= 100000
  std::optional<uint64_t> offset;
  bool show_hidden = true;
  std::string orderby;               // e.g. "name"
  std::vector<std::string> filters;  // e.g. "name:~*.png", "type:dir"
};

struct EndpointSearchQuery {
  std::string filter_fulltext;
  std::string filter_scope;  // "" (service default "all"), "my-endpoints", "recently-used", ...
  std::optional<bool> filter_non_functional;
  int limit = 100;
  int offset = 0;
};

struct TaskListQuery {
  std::vector<std::string> task_ids;  // filter=task_id:a,b,c
  std::vector<std::string> statuses;  // filter=status:ACTIVE,INACTIVE
  std::string type;                   // filter=type:TRANSFER
  int limit = 1000;
  int offset = 0;
};

class TransferApi {
 public:
  virtual ~TransferApi() = default;

  virtual Result<Endpoint> GetEndpoint(const std::string& id) = 0;
  virtual Result<std::vector<Endpoint>> EndpointSearch(const EndpointSearchQuery& q) = 0;
  virtual Result<std::vector<Bookmark>> BookmarkList() = 0;

  // One page of `operation/endpoint/{id}/ls`.
  virtual Result<FileList> Ls(const std::string& collection, const LsQuery& q) = 0;
  virtual Result<FileEntry> Stat(const std::string& collection, const std::string& path) = 0;
  virtual Status Mkdir(const std::string& collection, const std::string& path) = 0;
  virtual Status Rename(const std::string& collection, const std::string& old_path,
                        const std::string& new_path) = 0;

  virtual Result<std::string> GetSubmissionId() = 0;
  // Idempotent: a "Duplicate" answer is success. Retries reuse r.submission_id.
  virtual Result<SubmitResult> SubmitTransfer(const TransferRequest& r) = 0;
  virtual Result<SubmitResult> SubmitDelete(const DeleteRequest& r) = 0;

  virtual Result<Task> GetTask(const std::string& task_id) = 0;
  virtual Result<std::vector<Task>> TaskList(const TaskListQuery& q) = 0;
  virtual Status CancelTask(const std::string& task_id) = 0;
  virtual Result<std::vector<Event>> EventList(const std::string& task_id, int limit = 100,
                                               int offset = 0) = 0;
  // One page of `task/{id}/successful_transfers` (marker paging; "" = the first page). Only
  // meaningful for a finished task: the files it actually transferred.
  virtual Result<SuccessfulTransfersPage> SuccessfulTransfers(const std::string& task_id,
                                                              const std::string& marker) = 0;
};

// Lists a whole directory, paging with offset/total (pages of up to 100000).
Result<FileList> LsAll(TransferApi& api, const std::string& collection, const std::string& path,
                       uint64_t page_size = 100000);

// What the data plane needs to know about a collection.
struct CollectionRef {
  std::string id;
  std::string https_server;  // origin, e.g. "https://127.0.0.1:8443" (no path)
};

struct RangeResult {
  uint64_t bytes = 0;                        // bytes delivered to the sink
  std::optional<uint64_t> total_size;        // from Content-Range / Content-Length when known
  std::string etag;                          // when the server sends one
  std::optional<std::time_t> last_modified;  // from Last-Modified when sent
  bool range_ignored = false;                // the server answered 200 to a Range request
};

// The body of an upload: `size` bytes of the open file `fd`, read with pread() from offset 0 as
// the connection takes them (never the whole file in memory). The descriptor's file offset is
// never used or moved. Not owned: it must stay open, and the bytes unchanged, until Put returns.
struct UploadBody {
  int fd = -1;  // may be -1 when size is 0
  uint64_t size = 0;
  // Optional: bytes read for the current attempt so far (a retried attempt starts again at 0);
  // for progress reports.
  std::atomic<uint64_t>* progress = nullptr;
};

// Collection HTTPS data access (GCSv5 https_server).
class DataApi {
 public:
  virtual ~DataApi() = default;
  // GET path bytes [offset, offset+length). Bytes go to `sink` in order. A server that
  // ignores Range (200) is handled: leading bytes are skipped and the read stops at length.
  virtual Result<RangeResult> GetRange(const CollectionRef& c, const std::string& path,
                                       uint64_t offset, uint64_t length,
                                       const std::function<bool(std::string_view)>& sink,
                                       const std::atomic<bool>* cancel = nullptr) = 0;
  // PUT the whole file (one request: the service has no partial or resumable upload). Any 2xx
  // is success. The parent directory must exist. A PUT that fails may leave a partial file at
  // `path` (writes-and-deletes.md §1.2): callers that replace a file upload to a temporary name.
  virtual Status Put(const CollectionRef& c, const std::string& path, const UploadBody& body,
                     const std::atomic<bool>* cancel = nullptr) = 0;
  // DELETE one file (synchronous). Never use it on a directory: its effect there is UNVERIFIED.
  virtual Status Delete(const CollectionRef& c, const std::string& path) = 0;
  // The URL a user or another tool can use for this file (https_server + encoded path).
  static std::string FileUrl(const CollectionRef& c, const std::string& path);
};

}  // namespace gf::api
