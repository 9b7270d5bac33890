#include "fs/write/uploader.h"

#include <cerrno>

#include "common/log.h"

namespace gf::fs::write {
namespace {

constexpr const char* kLog = "upload";
constexpr std::string_view kTempPrefix = ".globus-fuse.";
constexpr std::string_view kTempSuffix = ".tmp";

bool IsLowerHex(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::string ParentOf(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0) return "/";
  return path.substr(0, slash);
}

// True when a failed PUT may have stored some bytes: the request got past connecting and the
// server did not refuse it outright.
bool MayHaveWritten(const Error& e) {
  if (e.NeedsAuthorization()) return false;
  if (e.kind == ErrorKind::kTransport)
    return e.transport != TransportFailure::kDns && e.transport != TransportFailure::kConnect &&
           e.transport != TransportFailure::kTls;
  if (e.kind == ErrorKind::kApi) return e.http_status >= 500 || api::IsTransientBackendFault(e);
  return false;
}

Error WithErrno(Error e, int err, const std::string& why) {
  e.sys_errno = err;
  e.message += " (" + why + ")";
  return e;
}

}  // namespace

std::string UploadTempName(std::string_view id) {
  return std::string(kTempPrefix) + std::string(id) + std::string(kTempSuffix);
}

bool IsUploadTempName(std::string_view name) {
  if (name.size() < kTempPrefix.size() + kTempSuffix.size()) return false;
  if (name.substr(0, kTempPrefix.size()) != kTempPrefix) return false;
  if (name.substr(name.size() - kTempSuffix.size()) != kTempSuffix) return false;
  std::string_view id =
      name.substr(kTempPrefix.size(), name.size() - kTempPrefix.size() - kTempSuffix.size());
  return id.size() >= 8 && id.size() <= 32 && IsLowerHex(id);
}

std::string UploadTempPath(const std::string& final_path, std::string_view id) {
  std::string dir = ParentOf(final_path);
  return (dir == "/" ? "" : dir) + "/" + UploadTempName(id);
}

std::optional<Replace> ParseReplace(std::string_view s) {
  if (s == "rename") return Replace::kRename;
  if (s == "delete-then-rename") return Replace::kDeleteThenRename;
  return std::nullopt;
}

Uploader::Uploader(api::TransferApi& transfer, api::DataApi& data, UploaderOptions options)
    : transfer_(transfer), data_(data), options_(options) {}

std::string Uploader::Https(const UploadRequest& r, const std::string& path) const {
  return r.https_path ? r.https_path(path) : path;
}

bool Uploader::RefusesReplace(const std::string& collection) const {
  MutexLock l(mu_);
  return refuses_replace_.count(collection) > 0;
}

void Uploader::NoteRefusesReplace(const std::string& collection) {
  MutexLock l(mu_);
  if (refuses_replace_.insert(collection).second)
    log::Info(kLog, "collection ", collection,
              ": rename does not replace an existing file; replacing by delete, then rename "
              "(set upload_replace = delete-then-rename to skip the first attempt)");
}

Result<UploadOutcome> Uploader::Upload(const UploadRequest& r) {
  if (options_.max_upload_size != 0 && r.body.size > options_.max_upload_size)
    return Error::Local(EFBIG, "upload " + r.collection.id + ":" + r.path + ": " +
                                   std::to_string(r.body.size) + " bytes is over max_upload_size");
  if (!r.replaces_existing && options_.new_file == NewFile::kDirect) return Direct(r);
  return ViaTemp(r);
}

Result<UploadOutcome> Uploader::Direct(const UploadRequest& r) {
  std::optional<uint64_t> noted;
  if (r.temp_names) {
    auto t = r.temp_names->BeginPut(r.collection.id, r.path, r.body.size);
    if (!t.ok()) return t.error();
    noted = *t;
  }
  bool stray = false;
  Result<UploadOutcome> out = PutDirect(r, stray);
  // A partial that may still be there stays noted: the next mount checks the name.
  if (noted && !stray) r.temp_names->EndPut(*noted);
  return out;
}

Result<UploadOutcome> Uploader::PutDirect(const UploadRequest& r, bool& stray) {
  UploadOutcome out;
  out.size = r.body.size;
  Status put = data_.Put(r.collection, Https(r, r.path), r.body, r.cancel);
  if (put.ok()) return out;
  Error e = put.error();
  if (!MayHaveWritten(e)) return Explain(r, r.path, std::move(e), out);
  // The name was free when the write began, so what is there now came from this PUT.
  ++out.transfer_calls;
  auto st = transfer_.Stat(r.collection.id, r.path);
  if (st.ok() && st->type == api::EntryType::kFile && st->size == r.body.size) {
    log::Info(kLog, r.collection.id, ":", r.path, ": the PUT's answer was lost (", e.Describe(),
              ") but the file is complete");
    out.last_modified = st->last_modified;
    return out;
  }
  if (st.ok() && st->type == api::EntryType::kFile)
    stray = !Remove(r, r.path, "partial upload");
  else if (!st.ok() && st.error().http_status != 404)
    stray = true;  // unknown: the next mount looks again
  return e;
}

Result<UploadOutcome> Uploader::ViaTemp(const UploadRequest& r) {
  if (!IsUploadTempName(UploadTempName(r.temp_id)))
    return Error::Local(EINVAL, "upload " + r.path + ": bad temp id '" + r.temp_id + "'");
  const std::string temp = UploadTempPath(r.path, r.temp_id);
  std::optional<uint64_t> noted;
  if (r.temp_names) {
    auto t = r.temp_names->Begin(r.collection.id, temp);
    if (!t.ok()) return t.error();
    noted = *t;
  }
  bool stray = false;
  Result<UploadOutcome> out = PutRenamed(r, temp, stray);
  // A temp name that could not be removed stays noted: the next mount removes it.
  if (noted && !stray) r.temp_names->End(*noted);
  return out;
}

Result<UploadOutcome> Uploader::PutRenamed(const UploadRequest& r, const std::string& temp,
                                           bool& stray) {
  UploadOutcome out;
  out.size = r.body.size;
  out.via_temp = true;
  Status put = data_.Put(r.collection, Https(r, temp), r.body, r.cancel);
  if (!put.ok()) {
    Error e = put.error();
    if (MayHaveWritten(e)) stray = !Remove(r, temp, "partial upload");
    return Explain(r, temp, std::move(e), out);
  }
  // Check what the server holds before it replaces anything.
  ++out.transfer_calls;
  auto st = transfer_.Stat(r.collection.id, temp);
  if (!st.ok() || st->type != api::EntryType::kFile || st->size != r.body.size) {
    stray = !Remove(r, temp, "unverified upload");
    if (!st.ok()) return st.error();
    return Error::Local(EIO, "upload " + r.collection.id + ":" + r.path + ": the server holds " +
                                 std::to_string(st->size) + " of " + std::to_string(r.body.size) +
                                 " bytes after the PUT");
  }
  out.last_modified = st->last_modified;
  GF_TRY_STATUS(Commit(r, temp, out, stray));
  return out;
}

Status Uploader::Commit(const UploadRequest& r, const std::string& temp, UploadOutcome& out,
                        bool& stray) {
  const std::string& c = r.collection.id;
  bool delete_first = options_.replace == Replace::kDeleteThenRename || RefusesReplace(c);
  for (;;) {
    if (delete_first && r.replaces_existing) {
      Status del = data_.Delete(r.collection, Https(r, r.path));
      if (!del.ok() && ErrnoFor(del.error()) != ENOENT) {
        stray = !Remove(r, temp, "upload whose old file could not be removed");
        return del.error();
      }
    }
    ++out.transfer_calls;
    Status mv = transfer_.Rename(c, temp, r.path);
    if (mv.ok()) return Status::Ok();
    const Error& e = mv.error();
    if (ErrnoFor(e) == EEXIST && !delete_first && r.replaces_existing) {
      NoteRefusesReplace(c);
      delete_first = true;
      continue;
    }
    if (delete_first && r.replaces_existing) {
      // The old file is gone and the new bytes are only at the temp name: keep them (and do
      // not leave them to the next mount's cleanup).
      Error kept = e;
      kept.message += " (the new content is kept at " + temp + ")";
      log::Warn(kLog, c, ":", r.path, ": ", kept.Describe());
      return kept;
    }
    stray = !Remove(r, temp, "upload that could not be renamed");
    return e;
  }
}

Error Uploader::Explain(const UploadRequest& r, const std::string& put_path, Error e,
                        UploadOutcome& out) {
  const std::string where = r.collection.id + ":" + r.path;
  if (e.kind != ErrorKind::kApi || e.NeedsAuthorization() || api::IsTransientBackendFault(e))
    return e;
  if (e.http_status == 413) {
    log::Warn(kLog, where, ": the server refused ", r.body.size,
              " bytes (413, its upload size limit). Files this large cannot be written through "
              "the mount; copy them with cp from another Globus collection instead (a "
              "server-side transfer). max_upload_size (now ",
              options_.max_upload_size, ") makes such writes fail before staging.");
    return e;
  }
  if (e.http_status != 403 && e.http_status != 404 && e.http_status != 409) return e;
  // These statuses also mean "no such parent" or "a directory is there" on WebDAV-like servers
  // (which one is UNVERIFIED for GCS); the Transfer view settles it.
  ++out.transfer_calls;
  auto parent = transfer_.Stat(r.collection.id, ParentOf(put_path));
  if (!parent.ok() && ErrnoFor(parent.error()) == ENOENT)
    return WithErrno(std::move(e), ENOENT, "the directory does not exist");
  if (parent.ok() && parent->type != api::EntryType::kDir)
    return WithErrno(std::move(e), ENOTDIR, "the parent is not a directory");
  if (e.http_status == 409) {
    ++out.transfer_calls;
    auto target = transfer_.Stat(r.collection.id, put_path);
    if (target.ok() && target->type == api::EntryType::kDir)
      return WithErrno(std::move(e), EISDIR, "a directory has that name");
  }
  return e;
}

bool Uploader::Remove(const UploadRequest& r, const std::string& path, const char* what) {
  Status s = data_.Delete(r.collection, Https(r, path));
  if (s.ok() || ErrnoFor(s.error()) == ENOENT) return true;
  log::Warn(kLog, r.collection.id, ":", path, ": could not remove the ", what, ": ",
            s.error().Describe());
  return false;
}

}  // namespace gf::fs::write
