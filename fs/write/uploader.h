// Uploader: puts a staged file at its remote name so that the name never holds a truncated,
// mixed or empty version of it (writes-and-deletes.md §0, §1.2, §2.2).
//
//   brand-new file, NewFile::kDirect (the default)
//       PUT to the final name. Zero Transfer calls: with the 20 requests/s Transfer budget, a
//       stat or rename per file would cap `cp -r` of small files at 10-20 files/s. If the PUT
//       fails after bytes may have reached the server (reset, timeout, 5xx, a local read error),
//       the name is checked with Transfer stat: our full size means the PUT completed and only
//       its answer was lost (success); anything else there is our partial file and is deleted.
//       With UploadRequest::temp_names set, the PUT is noted (TempNames::BeginPut: name and
//       size, in the transfer journal) before its first byte and closed once it ended, so a
//       partial left by a kill -9 mid-PUT is found and removed by the next mount (journal.h,
//       "DIRECT PUTS").
//   brand-new file, NewFile::kViaTemp, and every replacement of an existing file
//       PUT to a hidden temporary name in the same directory (UploadTempName), Transfer stat of
//       it (its size must be ours, else it is deleted and the upload fails), then Transfer
//       rename over the final name. Whether rename replaces an existing file is UNVERIFIED, so:
//         Replace::kRename            rename, assuming it replaces. If the service refuses
//                                     (RenameFailed.Exists), log it once per collection, fall
//                                     back to kDeleteThenRename for this and later uploads to
//                                     that collection.
//         Replace::kDeleteThenRename  HTTPS DELETE of the old file, then rename. Between the two
//                                     the name is briefly absent (never partial). If the rename
//                                     then fails, the new bytes stay at the temp name (the
//                                     error says where) and are never deleted by us.
//       Any failure before the rename deletes the temp name (best effort; a leftover is hidden
//       by IsUploadTempName). With UploadRequest::temp_names set, the temp name is noted
//       (TempNames::Begin: the transfer journal, durably) before the first byte is PUT and
//       closed (End) once it is gone again, so one left by a crash or a failed removal is
//       removed by the next mount (journal.h, "UPLOAD TEMP NAMES").
//
// Errors: the api/ error (errno through the one table in common/error.cc), refined only where
// the table cannot know: a 403/404/409 PUT answer is checked with Transfer stat of the parent
// (missing -> ENOENT, not a directory -> ENOTDIR) and of the target (a directory -> EISDIR); a
// 413 logs one line naming max_upload_size and suggesting a server-side cp instead. Errors that
// need an authorization flow are returned untouched (fs::Remote runs the flow).
//
// Thread-safe: concurrent Upload() calls share only the per-collection fallback set (mu_).
#pragma once

#include <atomic>
#include <cstdint>
#include <ctime>
#include <functional>
#include <mutex>

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include "common/mutex.h"

#include "api/transfer_api.h"

namespace gf::fs::write {

// ".globus-fuse.<id>.tmp": `id` is 8-32 lower-case hex digits (the write path uses its staged
// file's id; the journal records the whole temp path, not the id).
std::string UploadTempName(std::string_view id);
// True only for names UploadTempName can produce: listings hide them, and a user's own
// ".globus-fuse.notes.tmp" is not hidden.
bool IsUploadTempName(std::string_view name);
// The temp path next to `final_path` ("/a/b.txt" -> "/a/.globus-fuse.<id>.tmp").
std::string UploadTempPath(const std::string& final_path, std::string_view id);

enum class NewFile { kDirect, kViaTemp };
enum class Replace { kRename, kDeleteThenRename };

// "rename" / "delete-then-rename" (the config values of upload_replace).
std::optional<Replace> ParseReplace(std::string_view s);

struct UploaderOptions {
  NewFile new_file = NewFile::kDirect;
  Replace replace = Replace::kRename;
  uint64_t max_upload_size = 1ull << 30;  // for the 413 message only (staging enforces it)
};

// Where temp names are noted so that a crash cannot leave one behind for good (the transfer
// journal, through TransferEngine::TempBegin/TempGone).
class TempNames {
 public:
  virtual ~TempNames() = default;
  // Before the first byte goes to `temp`: noted durably, or the upload fails with this error
  // (nothing sent).
  virtual Result<uint64_t> Begin(const std::string& collection, const std::string& temp) = 0;
  // Before the first byte of a brand-new file's PUT straight to `path` (`size` bytes): noted
  // (not necessarily fdatasync'd: enough against a kill of the process, not a power loss), or
  // the upload fails with this error (nothing sent). EndPut(token) once the PUT ended and no
  // partial file of it is left at the name.
  virtual Result<uint64_t> BeginPut(const std::string& collection, const std::string& path,
                                    uint64_t size) = 0;
  // The temp name is gone again (renamed over the final name, or removed), or holds the only
  // copy of the new content (a failed delete-then-rename: the error names it, and it must not
  // be deleted): nothing for the next mount to remove. Noted before it returns.
  virtual void End(uint64_t token) = 0;
  // A direct PUT ended and left no partial file. The note may be closed a little later (after
  // the close that made it is answered): lost in a crash, it only makes the next mount look at
  // the name and find the whole file.
  virtual void EndPut(uint64_t token) = 0;
};

struct UploadRequest {
  api::CollectionRef collection;  // id + https_server
  std::string path;               // final remote path, as Transfer names it
  // The HTTPS form of a Transfer path (e.g. "/~/x" -> "/home/u/x" on a server that does not
  // expand "~"); identity when empty.
  std::function<std::string(const std::string&)> https_path;
  bool replaces_existing = false;  // a file was at `path` when the write began
  std::string temp_id;             // for UploadTempName; required when a temp name is used
  api::UploadBody body;
  const std::atomic<bool>* cancel = nullptr;
  TempNames* temp_names = nullptr;  // none: a crash's leftover temp name stays
};

struct UploadOutcome {
  uint64_t size = 0;
  std::optional<std::time_t> last_modified;  // the server's, when a stat was made
  bool via_temp = false;
  int transfer_calls = 0;  // stat / rename: each counts against the 20/s budget
};

class Uploader {
 public:
  Uploader(api::TransferApi& transfer, api::DataApi& data, UploaderOptions options);

  Result<UploadOutcome> Upload(const UploadRequest& r);

 private:
  Result<UploadOutcome> Direct(const UploadRequest& r);
  // Direct's work once the PUT is noted. `stray`: set when a partial file of ours may still be
  // at the name (its removal failed, or the stat to find out did).
  Result<UploadOutcome> PutDirect(const UploadRequest& r, bool& stray);
  Result<UploadOutcome> ViaTemp(const UploadRequest& r);
  // ViaTemp's work once the temp name is noted. `stray`: set when the temp name may still
  // hold bytes of ours that should go (a removal failed).
  Result<UploadOutcome> PutRenamed(const UploadRequest& r, const std::string& temp, bool& stray);
  // Renames the checked temp over the final name under the configured strategy.
  Status Commit(const UploadRequest& r, const std::string& temp, UploadOutcome& out, bool& stray);
  // A failed PUT's error, refined (see the header comment).
  Error Explain(const UploadRequest& r, const std::string& put_path, Error e, UploadOutcome& out);
  // Best-effort removal of a partial file or temp we created; false when it may still be there.
  bool Remove(const UploadRequest& r, const std::string& path, const char* what);
  std::string Https(const UploadRequest& r, const std::string& path) const;
  bool RefusesReplace(const std::string& collection) const;
  void NoteRefusesReplace(const std::string& collection);

  api::TransferApi& transfer_;
  api::DataApi& data_;
  const UploaderOptions options_;
  mutable Mutex mu_;  // leaf; guards refuses_replace_
  std::set<std::string> refuses_replace_ GUARDED_BY(mu_);
};

}  // namespace gf::fs::write
