#include "fs/remote.h"

#include <cerrno>

namespace gf::fs {

Remote::Remote(api::TransferApi& transfer, api::DataApi& data, Authorizer& authorizer)
    : transfer_(transfer), data_(data), authorizer_(authorizer) {}

void Remote::Count(const char* op, bool ok) {
  MutexLock l(mu_);
  auto& c = counts_[op];
  ++c.calls;
  if (!ok) ++c.errors;
}

std::map<std::string, Remote::OpCounts> Remote::Counts() const {
  MutexLock l(mu_);
  return counts_;
}

template <class F>
auto Remote::Call(const char* op, const std::string& collection, F&& f) -> decltype(f()) {
  auto r = f();
  Count(op, r.ok());
  if (!r.ok() && r.error().NeedsAuthorization()) {
    Status s = authorizer_.Authorize(r.error(), collection);
    if (s.ok()) {
      r = f();
      Count(op, r.ok());
    } else if (s.error().kind == ErrorKind::kLocal && s.error().sys_errno == EINTR) {
      return s.error();  // the caller was interrupted (Ctrl-C) while waiting for the login
    }
  }
  return r;
}

Result<api::FileList> Remote::LsAll(const std::string& collection, const std::string& path,
                                    uint64_t page_size) {
  return api::LsAll(*this, collection, path, page_size);
}

Result<api::Endpoint> Remote::GetEndpoint(const std::string& id) {
  return Call("get_endpoint", id, [&] { return transfer_.GetEndpoint(id); });
}
Result<std::vector<api::Endpoint>> Remote::EndpointSearch(const api::EndpointSearchQuery& q) {
  return Call("endpoint_search", "", [&] { return transfer_.EndpointSearch(q); });
}
Result<std::vector<api::Bookmark>> Remote::BookmarkList() {
  return Call("bookmark_list", "", [&] { return transfer_.BookmarkList(); });
}
Result<api::FileList> Remote::Ls(const std::string& collection, const api::LsQuery& q) {
  return Call("ls", collection, [&] { return transfer_.Ls(collection, q); });
}
Result<api::FileEntry> Remote::Stat(const std::string& collection, const std::string& path) {
  return Call("stat", collection, [&] { return transfer_.Stat(collection, path); });
}
Status Remote::Mkdir(const std::string& collection, const std::string& path) {
  return Call("mkdir", collection, [&] { return transfer_.Mkdir(collection, path); });
}
Status Remote::Rename(const std::string& collection, const std::string& from,
                      const std::string& to) {
  return Call("rename", collection, [&] { return transfer_.Rename(collection, from, to); });
}
Result<std::string> Remote::GetSubmissionId() {
  return Call("submission_id", "", [&] { return transfer_.GetSubmissionId(); });
}
Result<api::SubmitResult> Remote::SubmitTransfer(const api::TransferRequest& r) {
  return Call("submit_transfer", r.source_endpoint, [&] { return transfer_.SubmitTransfer(r); });
}
Result<api::SubmitResult> Remote::SubmitDelete(const api::DeleteRequest& r) {
  return Call("submit_delete", r.endpoint, [&] { return transfer_.SubmitDelete(r); });
}
Result<api::Task> Remote::GetTask(const std::string& task_id) {
  return Call("get_task", "", [&] { return transfer_.GetTask(task_id); });
}
Result<std::vector<api::Task>> Remote::TaskList(const api::TaskListQuery& q) {
  return Call("task_list", "", [&] { return transfer_.TaskList(q); });
}
Status Remote::CancelTask(const std::string& task_id) {
  return Call("cancel_task", "", [&] { return transfer_.CancelTask(task_id); });
}
Result<std::vector<api::Event>> Remote::EventList(const std::string& task_id, int limit,
                                                  int offset) {
  return Call("event_list", "", [&] { return transfer_.EventList(task_id, limit, offset); });
}
Result<api::SuccessfulTransfersPage> Remote::SuccessfulTransfers(const std::string& task_id,
                                                                 const std::string& marker) {
  return Call("successful_transfers", "",
              [&] { return transfer_.SuccessfulTransfers(task_id, marker); });
}

Result<api::RangeResult> Remote::GetRange(const api::CollectionRef& c, const std::string& path,
                                          uint64_t offset, uint64_t length,
                                          const std::function<bool(std::string_view)>& sink,
                                          const std::atomic<bool>* cancel) {
  uint64_t delivered = 0;
  std::function<bool(std::string_view)> counting_sink = [&](std::string_view chunk) {
    delivered += chunk.size();
    return sink(chunk);
  };
  auto r = Call("get", c.id, [&] {
    delivered = 0;  // authorization errors come before any body byte, so a retry starts clean
    return data_.GetRange(c, path, offset, length, counting_sink, cancel);
  });
  bytes_read_ += delivered;
  return r;
}
Status Remote::Put(const api::CollectionRef& c, const std::string& path,
                   const api::UploadBody& body, const std::atomic<bool>* cancel) {
  return Call("put", c.id, [&] { return data_.Put(c, path, body, cancel); });
}
Status Remote::Delete(const api::CollectionRef& c, const std::string& path) {
  return Call("delete", c.id, [&] { return data_.Delete(c, path); });
}

}  // namespace gf::fs
