// The token file: $XDG_CONFIG_HOME/globus-fuse/tokens.json (Config::token_file).
//
// Format (JSON, version 1):
//   {"version": 1, "updated_at": <epoch s>,
//    "identity": {"sub": "...", "username": "..."},          // primary identity, when known
//    "session_identities": ["<sub>", ...],                    // who authenticated, when known
//    "tokens": {"<resource_server>": {"resource_server", "access_token", "refresh_token",
//                                     "expires_at", "scope", "token_type"}, ...}}
//
// Safety:
//  - Always mode 0600: written to a temp file created with open(O_CREAT|O_EXCL, 0600) plus an
//    explicit fchmod (so no umask can widen or narrow it), fsync'd, then rename()d over the file
//    (atomic replace) and the directory fsync'd. A directory we create is 0700.
//  - Concurrency between processes (the CLI and a running mount) and threads: an advisory
//    flock() on the sibling file "<path>.lock" (mode 0600), exclusive, for read-modify-write
//    (and Remove/MoveAside). Update()/Merge() re-read the file under it, so tokens for other
//    resource servers written by someone else are never clobbered. Reads (Load) take no lock:
//    every change is a rename, so a read sees one whole file, and a reader never waits for
//    another process's refresh, which holds the lock across its network call.
//  - A token file that is group/world accessible is NOT refused: we warn loudly (log::Warn) and
//    chmod it to 0600 before reading (refusing would strand a running mount; the fix is safe and
//    obvious). A token file owned by another user, or a symlink, IS refused (kLocal/EPERM).
//  - Change detection: ChangedOnDisk() compares (device, inode, size, mtime, ctime) with what
//    this instance last read or wrote; every write is a rename, so the inode changes too.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "auth/token.h"
#include "common/result.h"

namespace gf::auth {

struct StoredTokens {
  std::map<std::string, Token> tokens;  // by resource server
  std::string identity_sub;
  std::string identity_username;
  std::vector<std::string> session_identities;
  int64_t updated_at = 0;
  bool operator==(const StoredTokens&) const = default;
};

// Serialisation (exposed for tests).
std::string SerializeStoredTokens(const StoredTokens& s);
Result<StoredTokens> ParseStoredTokens(std::string_view json, const std::string& file_name);

// True for the error Load()/Update() return when the token file is not valid JSON
// (kLocal/EBADMSG): `login` moves such a file aside and starts afresh.
bool IsDamagedTokenFile(const Error& e);

class TokenStore {
 public:
  explicit TokenStore(std::string path);

  const std::string& path() const { return path_; }

  // Read the file (no lock: see "Concurrency" above). A missing file is an empty StoredTokens.
  Result<StoredTokens> Load();
  // True when the file differs (identity or times) from what this instance last read/wrote,
  // or when nothing was read yet.
  bool ChangedOnDisk() const;
  // Read-modify-write under the exclusive lock. `fn` edits the freshly read contents; if it
  // returns an error, or leaves the contents unchanged, nothing is written. Returns the result.
  // `fn` runs with the lock held (TokenManager refreshes inside it so two processes never refresh
  // the same token at once).
  Result<StoredTokens> Update(const std::function<Status(StoredTokens&)>& fn);
  // Add/replace tokens by resource server, keeping every other resource server's token. A new
  // token without a refresh_token keeps the old one's refresh_token.
  Result<StoredTokens> Merge(const std::vector<Token>& tokens);
  // Delete the token file (under the exclusive lock). Missing is fine.
  Status Remove();
  // Rename a damaged token file (see IsDamagedTokenFile) to "<path>.damaged-<epoch s>" (mode
  // kept: 0600), so a new login can write a fresh one and nothing is lost. Returns the new
  // name, or "" when there was no file.
  Result<std::string> MoveAside();

  // Current time source for updated_at (seconds since the epoch); settable for tests.
  void SetNow(std::function<int64_t()> now) { now_ = std::move(now); }

 private:
  struct FileId {
    bool exists = false;
    uint64_t dev = 0, ino = 0, size = 0;
    int64_t mtime_ns = 0, ctime_ns = 0;
    bool operator==(const FileId&) const = default;
  };
  FileId StatId() const;
  static FileId IdOf(const struct stat& st);
  Result<StoredTokens> Read();
  Status WriteLocked(const StoredTokens& s);
  void Remember(const FileId& id);

  std::string path_;
  std::function<int64_t()> now_;
  mutable std::mutex mu_;  // guards seen_ (a leaf lock)
  std::optional<FileId> seen_;
};

}  // namespace gf::auth
