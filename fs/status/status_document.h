// The status document: MOUNT/.globus-fuse/status, the JSON `globus-fuse status` prints.
//
// Each component reports a plain stats struct (CacheStats, ReadStats, ErrorStats, the transfer
// overlay's TransfersStats, ...); WriteStatusDocument() is the one place that turns them into
// JSON, member by member, so the document's shape can be read in one file.
#pragma once

#include <cstdint>
#include <ctime>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "fs/read/read_ops.h"
#include "fs/remote.h"
#include "fs/status/error_log.h"
#include "fs/superblock/collections.h"
#include "fs/superblock/superblock.h"
#include "fs/transfers/pending_overlay.h"
#include "fs/write/staging_store.h"

namespace gf::fs {

struct StatusReport {
  std::string mount_point;
  double uptime_seconds = 0;
  std::vector<RootEntry> collections;
  std::vector<std::pair<std::string, std::string>> not_shown;  // (what, why)
  CacheStats cache;
  ReadStats reads;
  std::map<std::string, Remote::OpCounts> api_calls;  // the core's and the engine's calls
  std::map<std::string, double> api_client;           // e.g. the rate limiter's waits
  ErrorStats errors;
  std::string pending_authorizations = "[]";  // a JSON array, as the broker writes it
  TransfersStats transfers;
  std::vector<write::KeptFile> kept_files;  // staged bytes nothing will upload
};

std::string WriteStatusDocument(const StatusReport& r, const CollectionCatalog& names);

}  // namespace gf::fs
