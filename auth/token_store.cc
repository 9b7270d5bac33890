#include "auth/token_store.h"

#include <fcntl.h>
#include <rapidjson/document.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "auth/pkce.h"
#include "common/blocking.h"
#include "common/log.h"

namespace gf::auth {
namespace {

constexpr const char* kLog = "token-store";

std::string Errno(int e) { return std::strerror(e); }

std::string DirOf(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// mkdir -p; directories we create are 0700.
Status MakeDirs(const std::string& dir) {
  if (dir.empty() || dir == "/" || dir == ".") return Status::Ok();
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return Error::Local(ENOTDIR, dir + " is not a directory");
    return Status::Ok();
  }
  GF_TRY_STATUS(MakeDirs(DirOf(dir)));
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return Error::Local(errno, "cannot create " + dir + ": " + Errno(errno));
  return Status::Ok();
}

// flock() on "<path>.lock" for the lifetime of the object.
class FileLock {
 public:
  static Result<FileLock> Acquire(const std::string& path, bool exclusive) {
    GF_TRY_STATUS(MakeDirs(DirOf(path)));
    std::string lock_path = path + ".lock";
    int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return Error::Local(errno, "cannot open " + lock_path + ": " + Errno(errno));
    MayBlock();  // another process may hold it across a token refresh
    while (::flock(fd, exclusive ? LOCK_EX : LOCK_SH) != 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      return Error::Local(e, "cannot lock " + lock_path + ": " + Errno(e));
    }
    return FileLock(fd);
  }
  FileLock(FileLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  FileLock& operator=(FileLock&&) = delete;
  ~FileLock() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the flock
  }

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_;
};

std::string Str(const rapidjson::Value& obj, const char* key) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || !it->value.IsString()) return "";
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

int64_t Int(const rapidjson::Value& obj, const char* key) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd()) return 0;
  if (it->value.IsInt64()) return it->value.GetInt64();
  if (it->value.IsDouble()) return static_cast<int64_t>(it->value.GetDouble());
  return 0;
}

}  // namespace

std::string SerializeStoredTokens(const StoredTokens& s) {
  rapidjson::StringBuffer buf;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("version");
  w.Int(1);
  w.Key("updated_at");
  w.Int64(s.updated_at);
  w.Key("identity");
  w.StartObject();
  w.Key("sub");
  w.String(s.identity_sub);
  w.Key("username");
  w.String(s.identity_username);
  w.EndObject();
  w.Key("session_identities");
  w.StartArray();
  for (const auto& i : s.session_identities) w.String(i);
  w.EndArray();
  w.Key("tokens");
  w.StartObject();
  for (const auto& [rs, t] : s.tokens) {
    w.Key(rs);
    w.StartObject();
    w.Key("resource_server");
    w.String(t.resource_server);
    w.Key("access_token");
    w.String(t.access_token);
    w.Key("refresh_token");
    w.String(t.refresh_token);
    w.Key("expires_at");
    w.Int64(t.expires_at);
    w.Key("scope");
    w.String(t.scope);
    w.Key("token_type");
    w.String(t.token_type);
    w.EndObject();
  }
  w.EndObject();
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize()) + "\n";
}

Result<StoredTokens> ParseStoredTokens(std::string_view json, const std::string& file_name) {
  rapidjson::Document d;
  d.Parse(json.data(), json.size());
  if (d.HasParseError() || !d.IsObject())
    return Error::Local(EBADMSG, file_name +
                                     ": not a globus-fuse token file (bad JSON); run "
                                     "`globus-fuse login` (it keeps the damaged file aside)");
  StoredTokens s;
  s.updated_at = Int(d, "updated_at");
  auto id = std::as_const(d).FindMember("identity");
  if (id != std::as_const(d).MemberEnd() && id->value.IsObject()) {
    s.identity_sub = Str(id->value, "sub");
    s.identity_username = Str(id->value, "username");
  }
  auto si = std::as_const(d).FindMember("session_identities");
  if (si != std::as_const(d).MemberEnd() && si->value.IsArray())
    for (const auto& v : si->value.GetArray())
      if (v.IsString()) s.session_identities.emplace_back(v.GetString(), v.GetStringLength());
  auto toks = std::as_const(d).FindMember("tokens");
  if (toks != std::as_const(d).MemberEnd() && toks->value.IsObject()) {
    for (const auto& m : toks->value.GetObject()) {
      if (!m.value.IsObject()) continue;
      Token t;
      t.resource_server = Str(m.value, "resource_server");
      if (t.resource_server.empty()) t.resource_server = m.name.GetString();
      t.access_token = Str(m.value, "access_token");
      t.refresh_token = Str(m.value, "refresh_token");
      t.expires_at = Int(m.value, "expires_at");
      t.scope = Str(m.value, "scope");
      t.token_type = Str(m.value, "token_type");
      if (t.token_type.empty()) t.token_type = "Bearer";
      if (t.access_token.empty()) continue;
      s.tokens[t.resource_server] = std::move(t);
    }
  }
  return s;
}

TokenStore::TokenStore(std::string path)
    : path_(std::move(path)), now_([] {
        return static_cast<int64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
      }) {}

TokenStore::FileId TokenStore::StatId() const {
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) return FileId{};
  return IdOf(st);
}

TokenStore::FileId TokenStore::IdOf(const struct stat& st) {
  FileId id;
  id.exists = true;
  id.dev = st.st_dev;
  id.ino = st.st_ino;
  id.size = static_cast<uint64_t>(st.st_size);
  id.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  id.ctime_ns = static_cast<int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec;
  return id;
}

void TokenStore::Remember(const FileId& id) {
  std::lock_guard<std::mutex> l(mu_);
  seen_ = id;
}

bool TokenStore::ChangedOnDisk() const {
  FileId now = StatId();
  std::lock_guard<std::mutex> l(mu_);
  return !seen_.has_value() || !(*seen_ == now);
}

Result<StoredTokens> TokenStore::Read() {
  int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    int e = errno;
    if (e == ENOENT) {
      Remember(FileId{});
      return StoredTokens{};
    }
    if (e == ELOOP) return Error::Local(EPERM, path_ + " is a symlink; refusing to use it");
    return Error::Local(e, "cannot read " + path_ + ": " + Errno(e));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return Error::Local(e, "cannot stat " + path_ + ": " + Errno(e));
  }
  if (st.st_uid != ::geteuid()) {
    ::close(fd);
    return Error::Local(EPERM, path_ + " belongs to another user; refusing to use it");
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    log::Warn(kLog, "WARNING: ", path_, " was accessible by other users (mode ", mode,
              "); changing it to 0600. If others could have read it, run `globus-fuse logout` ",
              "and log in again.");
    if (::fchmod(fd, 0600) != 0) {
      int e = errno;
      ::close(fd);
      return Error::Local(e, "cannot chmod 0600 " + path_ + ": " + Errno(e));
    }
  }
  std::string data;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      return Error::Local(e, "cannot read " + path_ + ": " + Errno(e));
    }
    if (n == 0) break;
    data.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  // What was read, not what the name holds now: a rename since would otherwise be taken for
  // seen, and its tokens never loaded.
  Remember(IdOf(st));
  if (data.empty()) return StoredTokens{};
  return ParseStoredTokens(data, path_);
}

Status TokenStore::WriteLocked(const StoredTokens& s) {
  std::string dir = DirOf(path_);
  GF_TRY_STATUS(MakeDirs(dir));
  auto rnd = RandomBytes(6);
  if (!rnd) return rnd.error();
  std::string tmp = path_ + ".tmp." + std::to_string(::getpid()) + "." + Base64Url(*rnd);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Error::Local(errno, "cannot create " + tmp + ": " + Errno(errno));
  auto fail = [&](const std::string& what) -> Status {
    int e = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return Error::Local(e, what + " " + tmp + ": " + Errno(e));
  };
  if (::fchmod(fd, 0600) != 0) return fail("cannot chmod");
  std::string data = SerializeStoredTokens(s);
  std::size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("cannot write");
    }
    off += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) return fail("cannot fsync");
  if (::close(fd) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return Error::Local(e, "cannot close " + tmp + ": " + Errno(e));
  }
  if (::rename(tmp.c_str(), path_.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return Error::Local(e, "cannot replace " + path_ + ": " + Errno(e));
  }
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
  Remember(StatId());
  return Status::Ok();
}

Result<StoredTokens> TokenStore::Load() {
  // No lock: every write is a rename of a whole file, so a read sees the old file or the new.
  // A reader never waits for another process's refresh (which holds the lock across a network
  // call); a token it reads that is being replaced gets a 401, and its refresh then finds the
  // new one (Update re-reads under the lock).
  return Read();
}

Result<StoredTokens> TokenStore::Update(const std::function<Status(StoredTokens&)>& fn) {
  auto lock = FileLock::Acquire(path_, /*exclusive=*/true);
  if (!lock) return lock.error();
  auto cur = Read();
  if (!cur) return cur.error();
  StoredTokens s = std::move(*cur);
  const StoredTokens before = s;
  GF_TRY_STATUS(fn(s));
  if (s == before) return s;  // nothing changed: no write
  s.updated_at = now_();
  GF_TRY_STATUS(WriteLocked(s));
  return s;
}

Result<StoredTokens> TokenStore::Merge(const std::vector<Token>& tokens) {
  return Update([&](StoredTokens& s) -> Status {
    for (const auto& t : tokens) {
      Token merged = t;
      auto it = s.tokens.find(t.resource_server);
      if (merged.refresh_token.empty() && it != s.tokens.end())
        merged.refresh_token = it->second.refresh_token;
      s.tokens[t.resource_server] = std::move(merged);
    }
    return Status::Ok();
  });
}

bool IsDamagedTokenFile(const Error& e) {
  return e.kind == ErrorKind::kLocal && e.sys_errno == EBADMSG;
}

Result<std::string> TokenStore::MoveAside() {
  auto lock = FileLock::Acquire(path_, /*exclusive=*/true);
  if (!lock) return lock.error();
  std::string aside = path_ + ".damaged-" + std::to_string(now_());
  for (int n = 1; ::access(aside.c_str(), F_OK) == 0; ++n)
    aside = path_ + ".damaged-" + std::to_string(now_()) + "-" + std::to_string(n);
  if (::rename(path_.c_str(), aside.c_str()) != 0) {
    int e = errno;
    if (e == ENOENT) return std::string();
    return Error::Local(e, "cannot move " + path_ + " aside: " + Errno(e));
  }
  Remember(FileId{});
  return aside;
}

Status TokenStore::Remove() {
  auto lock = FileLock::Acquire(path_, /*exclusive=*/true);
  if (!lock) return lock.error();
  if (::unlink(path_.c_str()) != 0 && errno != ENOENT)
    return Error::Local(errno, "cannot delete " + path_ + ": " + Errno(errno));
  Remember(FileId{});
  return Status::Ok();
}

}  // namespace gf::auth
