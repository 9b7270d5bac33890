// The journal file: open, replay, append with fdatasync, compaction (see journal.h).
#include "fs/transfers/journal.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "common/blocking.h"
#include "common/log.h"
#include "fs/transfers/journal_internal.h"

namespace gf::fs {

using journal_internal::Invalid;

namespace {
constexpr char kLog[] = "journal";
constexpr int kVersion = kJournalVersion;

Error Sys(const std::string& what) {
  int e = errno;
  return Error::Local(e, "journal: " + what + ": " + std::strerror(e));
}
}  // namespace

// ---------------------------------------------------------------------------------------------
// The file
// ---------------------------------------------------------------------------------------------
std::string JournalPath(const std::string& state_dir, const std::string& mount_id) {
  return state_dir + "/journal/" + mount_id + ".log";
}

namespace {
std::string DirOf(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Status MakeDirs(const std::string& dir) {
  if (dir.empty() || dir == "/" || dir == ".") return {};
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return {};
    return Error::Local(ENOTDIR, "journal: " + dir + " is not a directory");
  }
  GF_TRY_STATUS(MakeDirs(DirOf(dir)));
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return Sys("mkdir " + dir);
  return {};
}

Status SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Sys("open " + dir);
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Sys("fsync " + dir);
  return {};
}
}  // namespace

int Journal::Sync(int fd) const {
  MayBlock();  // a disk flush: milliseconds, and more on a busy disk
  return opts_.sync ? opts_.sync(fd) : ::fdatasync(fd);
}

Result<std::unique_ptr<Journal>> Journal::Open(const std::string& path, JournalOptions o) {
  std::unique_ptr<Journal> j(new Journal(path, std::move(o)));
  const std::string dir = DirOf(path);
  GF_TRY_STATUS(MakeDirs(dir));
  j->fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (j->fd_ < 0) return Sys("open " + path);
  if (::flock(j->fd_, LOCK_EX | LOCK_NB) != 0)
    return Error::Local(EBUSY, "journal: " + path + " is in use by another globus-fuse");
  GF_TRY_STATUS(j->Replay());
  if (j->records_ == 0) {  // new (or emptied) file: start with a header
    GF_TRY_STATUS(j->Append(HeaderRecord{kVersion, j->state_.next_op, j->state_.next_batch}));
    GF_TRY_STATUS(SyncDir(dir));
  } else if (j->version_at_open_ < kVersion) {
    // An older format: rewrite it as this one before appending records it does not know.
    log::Info(kLog, path, ": upgrading from format ", j->version_at_open_, " to ", kVersion);
    GF_TRY_STATUS(j->Compact());
  }
  return j;
}

Journal::~Journal() {
  if (fd_ >= 0) ::close(fd_);
}

Status Journal::Replay() {
  std::string data;
  char buf[1 << 16];
  if (::lseek(fd_, 0, SEEK_SET) < 0) return Sys("lseek " + path_);
  for (;;) {
    ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Sys("read " + path_);
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
  }
  size_t pos = 0;
  while (pos < data.size()) {
    size_t nl = data.find('\n', pos);
    if (nl == std::string::npos) break;  // no LF: torn
    auto rec = DecodeRecord(std::string_view(data).substr(pos, nl - pos));
    if (!rec.ok()) break;  // bad CRC / JSON: torn or corrupt; everything after is dropped
    if (const auto* h = std::get_if<HeaderRecord>(&*rec); h && version_at_open_ == 0)
      version_at_open_ = h->version;
    Status applied = ApplyRecord(state_, *rec);
    if (!applied.ok()) {
      // A record that checks out but does not fit the state: a bug, not a crash artefact.
      // Refuse a newer format outright; otherwise skip the record and keep the rest.
      if (std::holds_alternative<HeaderRecord>(*rec)) return applied;
      log::Warn(kLog, path_, ": skipping inconsistent record at byte ", pos, ": ",
                applied.error().Describe());
    }
    ++records_;
    pos = nl + 1;
  }
  size_ = pos;
  dropped_bytes_ = data.size() - pos;
  if (dropped_bytes_ > 0) {
    log::Warn(kLog, path_, ": dropping ", dropped_bytes_,
              " bytes of torn or corrupt records at byte ", pos);
    if (::ftruncate(fd_, static_cast<off_t>(size_)) != 0) return Sys("ftruncate " + path_);
    if (Sync(fd_) != 0) return Sys("sync " + path_);
  }
  if (::lseek(fd_, static_cast<off_t>(size_), SEEK_SET) < 0) return Sys("lseek " + path_);
  return {};
}

Status Journal::WriteLine(int fd, const std::string& line) {
  size_t done = 0;
  while (done < line.size()) {
    ssize_t n = ::write(fd, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Sys("write " + path_);
    done += static_cast<size_t>(n);
  }
  return {};
}

Status Journal::Append(const JournalRecord& r) { return AppendImpl(r, true); }

Status Journal::AppendUnsynced(const JournalRecord& r) { return AppendImpl(r, false); }

Status Journal::AppendImpl(const JournalRecord& r, bool sync) {
  if (fd_ < 0) return Error::Local(EIO, "journal: " + path_ + " is unusable after an error");
  GF_TRY_STATUS(CheckRecord(state_, r));
  const std::string line = EncodeRecord(r) + "\n";
  Status written = WriteLine(fd_, line);
  if (written.ok() && sync && Sync(fd_) != 0) written = Sys("sync " + path_);
  if (!written.ok()) {
    // Cut the partial or unsynced record off so later records are not glued to it.
    if (::ftruncate(fd_, static_cast<off_t>(size_)) != 0 ||
        ::lseek(fd_, static_cast<off_t>(size_), SEEK_SET) < 0) {
      log::Error(kLog, path_, ": cannot roll back a failed append; journal disabled");
      ::close(fd_);
      fd_ = -1;
    }
    return written;
  }
  size_ += line.size();
  ++records_;
  journal_internal::ApplyChecked(state_, r);

  const uint64_t live =
      state_.ops.size() + state_.batches.size() + state_.temps.size() + state_.puts.size();
  if (records_ > std::max(opts_.compact_min_records, opts_.compact_ratio * live)) {
    Status c = Compact();
    if (!c.ok()) log::Warn(kLog, "compaction failed (will retry): ", c.error().Describe());
  }
  return {};
}

Status Journal::Compact() {
  if (fd_ < 0) return Error::Local(EIO, "journal: " + path_ + " is unusable after an error");
  const std::string tmp = path_ + ".tmp";
  int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Sys("open " + tmp);
  auto fail = [&](Error e) -> Status {
    ::close(fd);
    ::unlink(tmp.c_str());
    return e;
  };
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) return fail(Sys("flock " + tmp));
  std::string text;
  uint64_t n = 0;
  for (const JournalRecord& r : CompactedRecords(state_)) {
    text += EncodeRecord(r);
    text += '\n';
    ++n;
  }
  if (Status w = WriteLine(fd, text); !w.ok()) return fail(w.error());
  if (Sync(fd) != 0) return fail(Sys("sync " + tmp));
  if (::rename(tmp.c_str(), path_.c_str()) != 0) return fail(Sys("rename " + tmp));
  ::close(fd_);
  fd_ = fd;
  size_ = text.size();
  records_ = n;
  if (::lseek(fd_, static_cast<off_t>(size_), SEEK_SET) < 0) return Sys("lseek " + path_);
  return SyncDir(DirOf(path_));
}

}  // namespace gf::fs
