#include "fs/write/staging_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "common/blocking.h"
#include "common/log.h"

namespace gf::fs::write {
namespace {

constexpr const char* kLog = "staging";
constexpr std::string_view kDataSuffix = ".data";
constexpr std::string_view kSpareMark = ".spare-";
constexpr const char* kOriginXattr = "user.globus-fuse.origin";

Error Sys(int err, const std::string& what) {
  return Error::Local(err, what + ": " + std::strerror(err));
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// mkdir -p with 0700 for what it creates.
Status MakeDirs(const std::string& dir) {
  std::string path;
  std::size_t i = 0;
  while (i <= dir.size()) {
    std::size_t j = dir.find('/', i);
    if (j == std::string::npos) j = dir.size();
    path = dir.substr(0, j);
    if (!path.empty() && ::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST)
      return Sys(errno, "cannot create " + path);
    i = j + 1;
  }
  return Status::Ok();
}

// pwrite until done or an error. An error after some bytes were written ends the loop and
// reports what was written (pwrite's short-write contract); an error before any byte is
// returned as an Error.
Result<size_t> WriteAt(int fd, std::string_view bytes, uint64_t offset, const std::string& id) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n =
        ::pwrite(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      if (done == 0) return Sys(errno, "staging " + id + ": write");
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  return done;
}

// The one line of a `<id>.meta` file.
std::string MetaLine(const StageOrigin& o) { return o.collection + "\t" + o.path + "\n"; }

}  // namespace

std::string StagingDir(const std::string& cache_dir, const std::string& mount_id) {
  return cache_dir + "/" + mount_id;
}

bool ValidStageId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// StagedFile

StagedFile::StagedFile(StagingStore& store, uint64_t key, std::string id, int fd, FillFn fill,
                       StageOrigin origin, uint64_t size, bool dirty, bool adopted)
    : store_(store),
      key_(key),
      id_(std::move(id)),
      fd_(fd),
      adopted_(adopted),
      fill_(std::move(fill)),
      size_(size),
      dirty_(dirty),
      origin_(std::move(origin)) {}

StagedFile::~StagedFile() {
  if (fd_ >= 0) ::close(fd_);
  store_.Release(size_);
}

std::string StagedFile::data_path() const { return store_.DataPath(id_); }

bool StagedFile::filled() const {
  MutexLock l(mu_);
  return !fill_;
}

Status StagedFile::EnsureFilled() {
  MutexLock l(mu_);
  return FillLocked();
}

Status StagedFile::FillLocked() {
  if (!fill_) return Status::Ok();
  GF_TRY_STATUS(ClaimLocked());
  // The remote content goes in through the same limits as a write: a file the server could
  // not take back (max_upload_size) or that does not fit the cache is refused before download.
  uint64_t delivered = 0;
  FillSink put = [this, &delivered](uint64_t offset, std::string_view bytes) -> Status {
    mu_.AssertHeld();  // called by fill_ below, under mu_
    if (bytes.empty()) return Status::Ok();
    const uint64_t end = offset + bytes.size();
    if (end > size_) GF_TRY_STATUS(GrowLocked(end));
    auto n = WriteAt(fd_, bytes, offset, id_);
    if (!n.ok()) return n.error();
    if (*n != bytes.size()) return Error::Local(EIO, "staging " + id_ + ": short write");
    delivered += bytes.size();
    return Status::Ok();
  };
  auto total = fill_(put);
  // Every byte of the remote file, once: anything else would stage (and later upload) a file
  // with holes where the remote content was.
  if (!total.ok() || *total != size_ || delivered != size_) {
    Status undo = Status::Ok();
    if (::ftruncate(fd_, 0) != 0) undo = Sys(errno, "staging " + id_ + ": truncate");
    store_.Release(size_);
    size_ = 0;
    if (!total.ok()) return total.error();
    if (!undo.ok()) return undo;
    if (*total == 0 && delivered == 0) {
      fill_ = nullptr;  // an empty remote file
      return Status::Ok();
    }
    return Error::Local(EIO, "staging " + id_ + ": the remote content arrived incomplete (" +
                                 std::to_string(delivered) + " of " + std::to_string(*total) +
                                 " bytes)");
  }
  fill_ = nullptr;
  return Status::Ok();
}

Status StagedFile::GrowLocked(uint64_t new_size) {
  if (new_size <= size_) return Status::Ok();
  GF_TRY_STATUS(store_.CheckMaxUpload(new_size, id_));
  GF_TRY_STATUS(store_.Reserve(new_size - size_));
  // Allocate the blocks now: a disk that fills up fails this write, not a later one. A
  // spare's old bytes have theirs.
  const uint64_t from = std::max(size_, stale_);
  int rc = new_size <= from
               ? 0
               : ::fallocate(fd_, 0, static_cast<off_t>(from), static_cast<off_t>(new_size - from));
  if (rc != 0 && errno != EOPNOTSUPP && errno != ENOSYS) {
    const int err = errno;
    store_.Release(new_size - size_);
    return Sys(err, "staging " + id_ + ": cannot allocate " + std::to_string(new_size) + " bytes");
  }
  size_ = new_size;
  return Status::Ok();
}

Result<size_t> StagedFile::Write(uint64_t offset, std::string_view bytes) {
  MutexLock l(mu_);
  GF_TRY_STATUS(FillLocked());
  if (offset > UINT64_MAX - bytes.size())
    return Error::Local(EFBIG, "write past the largest offset");
  const uint64_t end = offset + bytes.size();
  const uint64_t old_size = size_;
  // A taken spare's first write: one that replaces every old byte is written first and the
  // file named after it; any other truncates the old bytes first (header comment, "Spares").
  const bool overwrite =
      !spare_path_.empty() && offset == 0 && !bytes.empty() && bytes.size() >= stale_;
  if (!overwrite) GF_TRY_STATUS(ClaimLocked());
  GF_TRY_STATUS(GrowLocked(end));
  auto n = WriteAt(fd_, bytes, offset, id_);
  if (overwrite) {
    // All of it, or nothing accepted: a part would leave old bytes behind the new ones.
    Status named = n.ok() ? Status::Ok() : Status(n.error());
    if (named.ok() && *n != bytes.size())
      named = Error::Local(EIO, "staging " + id_ + ": short write");
    if (named.ok()) {
      stale_ = 0;
      named = NameLocked();
    }
    if (!named.ok()) {
      if (::ftruncate(fd_, 0) == 0) stale_ = 0;
      store_.Release(size_ - old_size);
      size_ = old_size;
      return named.error();
    }
  }
  if (!n.ok()) {
    // Nothing accepted: give the new space back.
    if (size_ != old_size && ::ftruncate(fd_, static_cast<off_t>(old_size)) == 0) {
      store_.Release(size_ - old_size);
      size_ = old_size;
    }
    return n.error();
  }
  if (*n > 0 || bytes.empty()) {
    ++generation_;
    dirty_ = true;
  }
  return *n;
}

Result<size_t> StagedFile::Read(uint64_t offset, char* buf, size_t len) {
  MutexLock l(mu_);
  GF_TRY_STATUS(FillLocked());
  if (offset >= size_) return size_t{0};
  len = static_cast<size_t>(std::min<uint64_t>(len, size_ - offset));
  std::size_t done = 0;
  while (done < len) {
    ssize_t n = ::pread(fd_, buf + done, len - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Sys(errno, "staging " + id_ + ": read");
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  return done;
}

Status StagedFile::Truncate(uint64_t size) {
  MutexLock l(mu_);
  if (size == 0 && fill_) {
    fill_ = nullptr;  // O_TRUNC-like: the remote content is not needed
  } else {
    GF_TRY_STATUS(FillLocked());
  }
  GF_TRY_STATUS(ClaimLocked());
  if (size > size_) {
    GF_TRY_STATUS(ExtendLocked(size));
  } else if (size < size_) {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0)
      return Sys(errno, "staging " + id_ + ": truncate");
    store_.Release(size_ - size);
    size_ = size;
  }
  ++generation_;
  dirty_ = true;
  return Status::Ok();
}

Status StagedFile::Sync() {
  MayBlock();
  if (::fdatasync(fd_) != 0) return Sys(errno, "staging " + id_ + ": fsync");
  return Status::Ok();
}

Status StagedFile::ExtendLocked(uint64_t new_size) {
  GF_TRY_STATUS(ClaimLocked());
  GF_TRY_STATUS(GrowLocked(new_size));
  // GrowLocked's fallocate sets the size; this covers filesystems without fallocate.
  if (::ftruncate(fd_, static_cast<off_t>(new_size)) != 0)
    return Sys(errno, "staging " + id_ + ": truncate");
  return Status::Ok();
}

Result<bool> StagedFile::GrowTo(uint64_t end) {
  MutexLock l(mu_);
  GF_TRY_STATUS(FillLocked());
  if (end <= size_) return false;
  GF_TRY_STATUS(ExtendLocked(end));
  ++generation_;
  dirty_ = true;
  return true;
}

Result<uint64_t> StagedFile::Size() {
  MutexLock l(mu_);
  GF_TRY_STATUS(FillLocked());
  return size_;
}

StagedFile::State StagedFile::state() const {
  MutexLock l(mu_);
  return State{size_, generation_, dirty_};
}

bool StagedFile::MarkClean(uint64_t generation) {
  MutexLock l(mu_);
  if (generation != generation_) return false;
  dirty_ = false;
  return true;
}

Status StagedFile::MarkDirty() {
  MutexLock l(mu_);
  GF_TRY_STATUS(ClaimLocked());  // a file to upload has its name (and a failed one is kept)
  ++generation_;
  dirty_ = true;
  return Status::Ok();
}

Status StagedFile::SetOrigin(StageOrigin origin) {
  MutexLock l(mu_);
  if (spare_path_.empty()) GF_TRY_STATUS(store_.WriteOrigin(fd_, id_, origin));
  origin_ = std::move(origin);  // an unclaimed file's is written when it is named
  return Status::Ok();
}

Status StagedFile::Claim() {
  MutexLock l(mu_);
  return ClaimLocked();
}

std::string StagedFile::PathLocked() const {
  return spare_path_.empty() ? store_.DataPath(id_) : spare_path_;
}

Status StagedFile::NameLocked() {
  if (spare_path_.empty()) return Status::Ok();
  // The origin before the name: a crash in between leaves a spare, which nobody keeps.
  GF_TRY_STATUS(store_.WriteOrigin(fd_, id_, origin_));
  const std::string path = store_.DataPath(id_);
  if (::rename(spare_path_.c_str(), path.c_str()) != 0)
    return Sys(errno, "staging " + id_ + ": cannot rename " + spare_path_ + " to " + path);
  spare_path_.clear();
  return Status::Ok();
}

Status StagedFile::ClaimLocked() {
  if (spare_path_.empty()) return Status::Ok();
  if (stale_ > 0) {
    if (::ftruncate(fd_, 0) != 0) return Sys(errno, "staging " + id_ + ": truncate");
    stale_ = 0;
  }
  return NameLocked();
}

StageOrigin StagedFile::origin() const {
  MutexLock l(mu_);
  return origin_;
}

// ---------------------------------------------------------------------------------------------
// StagingStore

StagingStore::StagingStore(StagingOptions options)
    : options_(std::move(options)), xattrs_(options_.origin_xattrs) {}

StagingStore::~StagingStore() {
  MutexLock l(mu_);
  for (const Spare& s : spares_) ::close(s.fd);
}

std::string StagingStore::DataPath(const std::string& id) const {
  return options_.dir + "/" + id + std::string(kDataSuffix);
}
std::string StagingStore::MetaPath(const std::string& id) const {
  return options_.dir + "/" + id + ".meta";
}

Status StagingStore::WriteMeta(const std::string& id, const StageOrigin& origin) const {
  // Written whole to a temporary name and renamed: a crash leaves the old line or the new.
  const std::string tmp = MetaPath(id) + ".new";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Sys(errno, "cannot write " + tmp);
  const std::string line = MetaLine(origin);
  const bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  const int err = errno;
  ::close(fd);
  if (!ok) return Sys(err, "cannot write " + tmp);
  if (::rename(tmp.c_str(), MetaPath(id).c_str()) != 0) return Sys(errno, "cannot write " + tmp);
  return Status::Ok();
}

Status StagingStore::WriteOrigin(int fd, const std::string& id, const StageOrigin& origin) const {
  if (xattrs_.load()) {
    const std::string line = MetaLine(origin);
    // One call replaces the whole value: a crash leaves the old origin or the new.
    if (::fsetxattr(fd, kOriginXattr, line.data(), line.size(), 0) == 0) return Status::Ok();
    if (errno != ENOTSUP && errno != EOPNOTSUPP && errno != EPERM)
      return Sys(errno, "cannot note the origin of " + DataPath(id));
    log::Info(kLog, options_.dir, ": no user xattrs here (", std::strerror(errno),
              "); each staged file's origin goes to a .meta file beside it");
    xattrs_ = false;
  }
  return WriteMeta(id, origin);
}

StageOrigin StagingStore::ReadOrigin(const std::string& id) const {
  std::string line;
  char buf[4096];
  const ssize_t n = ::getxattr(DataPath(id).c_str(), kOriginXattr, buf, sizeof(buf));
  if (n > 0) {
    line.assign(buf, static_cast<std::size_t>(n));
    if (!line.empty() && line.back() == '\n') line.pop_back();
  } else {
    std::ifstream meta(MetaPath(id));
    if (!meta || !std::getline(meta, line)) return {};
  }
  auto tab = line.find('\t');
  if (tab == std::string::npos) return {};
  return {line.substr(0, tab), line.substr(tab + 1)};
}

Result<std::unique_ptr<StagingStore>> StagingStore::Open(StagingOptions options) {
  if (options.dir.empty()) return Error::Config("staging: no cache_dir");
  GF_TRY_STATUS(MakeDirs(options.dir));
  struct stat st {};
  if (::lstat(options.dir.c_str(), &st) != 0) return Sys(errno, "cannot stat " + options.dir);
  if (!S_ISDIR(st.st_mode)) return Error::Config("staging: " + options.dir + " is not a directory");
  if (st.st_uid != ::geteuid())
    return Error::Config("staging: " + options.dir + " belongs to another user");
  if ((st.st_mode & 0777) != 0700 && ::chmod(options.dir.c_str(), 0700) != 0)
    return Sys(errno, "cannot make " + options.dir + " private (0700)");

  std::unique_ptr<StagingStore> store(new StagingStore(std::move(options)));
  auto found = store->Scan(/*drop_spares=*/true);
  if (!found.ok()) return found.error();
  std::vector<Leftover> leftovers = std::move(*found);
  if (!leftovers.empty())
    log::Info(kLog, store->options_.dir, ": ", leftovers.size(),
              " staged file(s) left by an earlier mount");
  {
    MutexLock l(store->mu_);
    store->leftovers_ = std::move(leftovers);
  }
  return store;
}

Result<std::shared_ptr<StagedFile>> StagingStore::Acquire(uint64_t key, const std::string& id,
                                                          StageOrigin origin, FillFn fill) {
  if (auto existing = Find(key)) return existing;
  if (!ValidStageId(id)) return Error::Local(EINVAL, "staging: bad id '" + id + "'");
  const std::string path = DataPath(id);
  Spare spare = TakeSpare();
  int fd = spare.fd;
  if (fd < 0) {
    fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return Sys(errno, "cannot create " + path);
    // Empty until the origin is noted: a crash in between leaves nothing of the user's.
    if (Status s = WriteOrigin(fd, id, origin); !s.ok()) {
      ::close(fd);
      ::unlink(path.c_str());
      ::unlink(MetaPath(id).c_str());
      return s.error();
    }
  }
  std::shared_ptr<StagedFile> f(
      new StagedFile(*this, key, id, fd, std::move(fill), std::move(origin), 0, false));
  if (spare.fd >= 0) {
    MutexLock fl(f->mu_);  // (nobody else has it yet)
    f->spare_path_ = SparePath(spare.n);
    f->stale_ = spare.stale;
  }
  MutexLock l(mu_);
  auto [it, inserted] = files_.emplace(key, f);
  if (!inserted) {  // another thread staged the key meanwhile: use theirs, drop ours
    ::unlink(spare.fd >= 0 ? SparePath(spare.n).c_str() : path.c_str());
    ::unlink(MetaPath(id).c_str());
    return it->second;
  }
  return f;
}

std::shared_ptr<StagedFile> StagingStore::Find(uint64_t key) const {
  MutexLock l(mu_);
  auto it = files_.find(key);
  return it == files_.end() ? nullptr : it->second;
}

Status StagingStore::Rekey(uint64_t key, uint64_t new_key) {
  MutexLock l(mu_);
  auto it = files_.find(key);
  if (it == files_.end()) return Error::Local(ENOENT, "staging: key not staged");
  if (files_.count(new_key)) return Error::Local(EEXIST, "staging: key already staged");
  std::shared_ptr<StagedFile> f = std::move(it->second);
  files_.erase(it);
  f->key_ = new_key;
  files_.emplace(new_key, std::move(f));
  return Status::Ok();
}

void StagingStore::Discard(uint64_t key) { Recycle(Detach(key)); }

std::shared_ptr<StagedFile> StagingStore::Detach(uint64_t key) {
  MutexLock l(mu_);
  auto it = files_.find(key);
  if (it == files_.end()) return nullptr;
  std::shared_ptr<StagedFile> f = std::move(it->second);
  files_.erase(it);
  return f;
}

void StagingStore::Recycle(std::shared_ptr<StagedFile> f) {
  if (!f) return;
  bool reuse;
  {
    // Out of files_, nobody can get a new reference: held only here, its files can be reused.
    MutexLock l(mu_);
    reuse = f.use_count() == 1 && spares_.size() < kMaxSpares;
  }
  if (!reuse || !MakeSpare(*f)) {
    std::string path;  // (a taken spare never claimed is still under its spare's name)
    {
      MutexLock fl(f->mu_);  // held only here
      path = f->PathLocked();
    }
    ::unlink(path.c_str());
    ::unlink(MetaPath(f->id()).c_str());
  }
  // `f` goes here, outside mu_: its destructor releases its bytes through Release()
}

std::string StagingStore::SparePath(uint64_t n) const {
  return options_.dir + "/" + std::to_string(n) + std::string(kSpareMark) + "data";
}

bool StagingStore::MakeSpare(StagedFile& f) {
  uint64_t n;
  {
    MutexLock l(mu_);
    n = next_spare_++;
  }
  const std::string spare = SparePath(n);
  uint64_t stale;
  {
    MutexLock fl(f.mu_);  // held by nobody else: for the analysis
    stale = f.spare_path_.empty() ? f.size_ : f.stale_;
    if (stale > kKeepSpareBytes) {
      if (::ftruncate(f.fd_, 0) != 0) return false;
      stale = 0;
    }
    if (::rename(f.PathLocked().c_str(), spare.c_str()) != 0) return false;
  }
  if (!xattrs_.load() || f.adopted_)
    ::unlink(MetaPath(f.id()).c_str());  // where the origin went instead of an xattr
  MutexLock l(mu_);
  if (spares_.size() >= kMaxSpares) {  // filled meanwhile
    ::unlink(spare.c_str());
    return true;  // nothing of f is left behind; its descriptor closes with it
  }
  spares_.push_back(Spare{n, f.fd_, stale});
  f.fd_ = -1;  // the spare's now
  return true;
}

StagingStore::Spare StagingStore::TakeSpare() {
  MutexLock l(mu_);
  if (spares_.empty()) return Spare{};
  Spare spare = spares_.back();
  spares_.pop_back();
  return spare;
}

std::size_t StagingStore::spares() const {
  MutexLock l(mu_);
  return spares_.size();
}

Result<std::vector<StagingStore::Leftover>> StagingStore::Scan(bool drop_spares) const {
  std::vector<Leftover> out;
  DIR* d = ::opendir(options_.dir.c_str());
  if (!d) return Sys(errno, "cannot list " + options_.dir);
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name.find(kSpareMark) != std::string::npos) {  // an empty spare: nothing of the user's
      if (drop_spares) ::unlink((options_.dir + "/" + name).c_str());
      continue;
    }
    if (!EndsWith(name, kDataSuffix)) continue;
    Leftover l;
    l.id = name.substr(0, name.size() - kDataSuffix.size());
    if (!ValidStageId(l.id)) continue;
    l.data_path = DataPath(l.id);
    struct stat fst {};
    if (::stat(l.data_path.c_str(), &fst) != 0 || !S_ISREG(fst.st_mode)) continue;
    l.size = static_cast<uint64_t>(fst.st_size);
    l.origin = ReadOrigin(l.id);
    out.push_back(std::move(l));
  }
  ::closedir(d);
  std::sort(out.begin(), out.end(),
            [](const Leftover& a, const Leftover& b) { return a.id < b.id; });
  return out;
}

std::vector<StagingStore::Leftover> StagingStore::OnDisk() const {
  auto found = Scan(/*drop_spares=*/false);
  return found.ok() ? std::move(*found) : std::vector<Leftover>{};
}

std::vector<StagingStore::Leftover> StagingStore::Leftovers() const {
  MutexLock l(mu_);
  return leftovers_;
}

Result<std::shared_ptr<StagedFile>> StagingStore::Adopt(uint64_t key, const std::string& id) {
  Leftover found;
  {
    MutexLock l(mu_);
    auto it = std::find_if(leftovers_.begin(), leftovers_.end(),
                           [&](const Leftover& x) { return x.id == id; });
    if (it == leftovers_.end()) return Error::Local(ENOENT, "staging: no leftover '" + id + "'");
    if (files_.count(key)) return Error::Local(EEXIST, "staging: key already staged");
    found = *it;
  }
  int fd = ::open(found.data_path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return Sys(errno, "cannot open " + found.data_path);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return Sys(err, "cannot stat " + found.data_path);
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  std::shared_ptr<StagedFile> f;
  {
    MutexLock l(mu_);
    if (options_.write_cache_limit != 0 && used_ + size > options_.write_cache_limit) {
      ::close(fd);
      return Error::Local(ENOSPC,
                          "staging: " + found.data_path + " does not fit write_cache_limit");
    }
    used_ += size;
    // Dirty: it was never confirmed uploaded.
    f.reset(new StagedFile(*this, key, id, fd, nullptr, found.origin, size, true, true));
    files_.emplace(key, f);
    leftovers_.erase(std::remove_if(leftovers_.begin(), leftovers_.end(),
                                    [&](const Leftover& x) { return x.id == id; }),
                     leftovers_.end());
  }
  return f;
}

Status StagingStore::RemoveLeftover(const std::string& id) {
  MutexLock l(mu_);
  auto it = std::find_if(leftovers_.begin(), leftovers_.end(),
                         [&](const Leftover& x) { return x.id == id; });
  if (it == leftovers_.end()) return Error::Local(ENOENT, "staging: no leftover '" + id + "'");
  if (::unlink(it->data_path.c_str()) != 0 && errno != ENOENT)
    return Sys(errno, "cannot remove " + it->data_path);
  ::unlink(MetaPath(id).c_str());
  leftovers_.erase(it);
  return Status::Ok();
}

uint64_t StagingStore::used() const {
  MutexLock l(mu_);
  return used_;
}

Status StagingStore::CheckMaxUpload(uint64_t size, std::string_view id) const {
  const uint64_t max = options_.max_upload_size;
  if (max == 0 || size <= max) return Status::Ok();
  return Error::Local(EFBIG, (id.empty() ? std::string("staging") : "staging " + std::string(id)) +
                                 ": " + std::to_string(size) + " bytes is over max_upload_size (" +
                                 std::to_string(max) + ")");
}

Status StagingStore::RoomLocked(uint64_t bytes) const {
  const uint64_t limit = options_.write_cache_limit;
  if (limit == 0 || (bytes <= limit && used_ <= limit - bytes)) return Status::Ok();
  return Error::Local(ENOSPC, "staging: write_cache_limit (" + std::to_string(limit) +
                                  " bytes) reached; " + std::to_string(used_) +
                                  " bytes are waiting for upload");
}

Status StagingStore::Reserve(uint64_t bytes) {
  MutexLock l(mu_);
  GF_TRY_STATUS(RoomLocked(bytes));
  used_ += bytes;
  return Status::Ok();
}

Status StagingStore::CheckRoom(uint64_t size, uint64_t more) const {
  GF_TRY_STATUS(CheckMaxUpload(size, ""));
  MutexLock l(mu_);
  return RoomLocked(more);
}

void StagingStore::Release(uint64_t bytes) {
  MutexLock l(mu_);
  used_ -= std::min(bytes, used_);
}

}  // namespace gf::fs::write
