// Remote: the one door from the fs/ core to the service. A decorator implementing TransferApi
// and DataApi over the real (or fake) ones that
//  * counts calls and failures per operation (shown by `globus-fuse status`), and
//  * on an authorization error (Error::NeedsAuthorization) asks the Authorizer and, when it
//    reports success, retries the call once.
// It adds no waiting of its own: every call is bounded by the underlying transport.
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <string>

#include "api/transfer_api.h"
#include "common/mutex.h"
#include "fs/hooks.h"

namespace gf::fs {

class Remote final : public api::TransferApi, public api::DataApi {
 public:
  Remote(api::TransferApi& transfer, api::DataApi& data, Authorizer& authorizer);

  // A whole directory (api::LsAll over this decorator: every page is counted).
  Result<api::FileList> LsAll(const std::string& collection, const std::string& path,
                              uint64_t page_size = 100000);

  Result<api::Endpoint> GetEndpoint(const std::string& id) override;
  Result<std::vector<api::Endpoint>> EndpointSearch(const api::EndpointSearchQuery& q) override;
  Result<std::vector<api::Bookmark>> BookmarkList() override;
  Result<api::FileList> Ls(const std::string& collection, const api::LsQuery& q) override;
  Result<api::FileEntry> Stat(const std::string& collection, const std::string& path) override;
  Status Mkdir(const std::string& collection, const std::string& path) override;
  Status Rename(const std::string& collection, const std::string& from,
                const std::string& to) override;
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

  Result<api::RangeResult> GetRange(const api::CollectionRef& c, const std::string& path,
                                    uint64_t offset, uint64_t length,
                                    const std::function<bool(std::string_view)>& sink,
                                    const std::atomic<bool>* cancel) override;
  Status Put(const api::CollectionRef& c, const std::string& path, const api::UploadBody& body,
             const std::atomic<bool>* cancel = nullptr) override;
  Status Delete(const api::CollectionRef& c, const std::string& path) override;

  struct OpCounts {
    uint64_t calls = 0, errors = 0;
  };
  std::map<std::string, OpCounts> Counts() const;
  uint64_t bytes_read() const { return bytes_read_.load(); }

 private:
  template <class F>
  auto Call(const char* op, const std::string& collection, F&& f) -> decltype(f());
  void Count(const char* op, bool ok);

  api::TransferApi& transfer_;
  api::DataApi& data_;
  Authorizer& authorizer_;
  mutable Mutex mu_;  // leaf lock: guards counts_
  std::map<std::string, OpCounts> counts_ GUARDED_BY(mu_);
  std::atomic<uint64_t> bytes_read_{0};
};

}  // namespace gf::fs
