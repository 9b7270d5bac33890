// LsAll: a whole directory through TransferApi::Ls pages (offset/limit, compared with `total`;
// the service has no has_next_page for ls, globus-api.md §1.1). Works over any TransferApi.
#include "api/transfer_api.h"
#include "common/log.h"

namespace gf::api {

Result<FileList> LsAll(TransferApi& api, const std::string& collection, const std::string& path,
                       uint64_t page_size) {
  if (page_size == 0 || page_size > 100000) page_size = 100000;
  LsQuery q;
  q.path = path;
  q.limit = page_size;
  q.offset = 0;
  auto first = api.Ls(collection, q);
  if (!first.ok()) return first;
  FileList all = std::move(first).value();
  uint64_t offset = all.entries.size();
  // Bound the number of pages by what `total` promised, so a misbehaving server cannot keep
  // us looping.
  const uint64_t total = all.total.value_or(offset);
  const uint64_t max_pages = total / page_size + 2;
  for (uint64_t page = 1; all.total && offset < total && page < max_pages; ++page) {
    q.offset = offset;
    auto next = api.Ls(collection, q);
    if (!next.ok()) return next;
    if (next->entries.empty()) {
      // The directory shrank between pages: what we have is all there is now.
      log::Info("api", "ls ", collection, ":", path, ": listing ended at ", offset, " of ", total);
      break;
    }
    offset += next->entries.size();
    for (auto& e : next->entries) all.entries.push_back(std::move(e));
  }
  all.length = all.entries.size();
  all.total = all.entries.size();
  return all;
}

}  // namespace gf::api
