// HomeDirs: where each collection's "~" really is.
//
// Inside a collection the entry "~" is "/~/", the home directory of the account the collection
// maps the user to. Listings and stats of "/~/..." work as they are, but a collection's HTTPS
// server is asked for absolute paths, and one file under "~" and under its real path is the same
// file. The service tells where "~" is in the `absolute_path` of an `ls` answer: Learn() keeps
// it per collection. HttpsPath() asks once (one small ls of "/~/") when no listing under "~"
// told it yet; when the service does not say (absolute_path null), "/~/..." is sent as it is
// (whether servers expand "~" is UNVERIFIED).
//
// Thread-safe; `mu_` is a leaf lock, never held across the remote call.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "common/mutex.h"
#include "fs/remote.h"

namespace gf::fs {

struct Collection;

class HomeDirs {
 public:
  explicit HomeDirs(Remote& remote) : remote_(remote) {}

  // An `ls` of `dir` answered with `absolute_path`: learn where "~" is, when dir is under it.
  void Learn(const Collection& c, const std::string& dir,
             const std::optional<std::string>& absolute_path) EXCLUDES(mu_);
  // The path the collection's HTTPS server is asked for (may make one remote call).
  std::string HttpsPath(const Collection& c, const std::string& path) EXCLUDES(mu_);
  // The other name of a path of the home directory ("/~/f" <-> "/home/alice/f"), if the
  // service said where "~" is (no remote call); "" else.
  std::string Alias(const std::string& collection_id, const std::string& path) EXCLUDES(mu_);

 private:
  // path under "~" resolved with what is known; nullopt when nothing is known yet.
  std::optional<std::string> ResolvedLocked(const std::string& collection_id,
                                            const std::string& path) REQUIRES(mu_);

  Remote& remote_;
  Mutex mu_;  // leaf lock: guards homes_
  // collection id -> absolute path of "~" without the trailing '/' ("" = the collection root),
  // or nullopt: asked, the service does not say.
  std::map<std::string, std::optional<std::string>> homes_ GUARDED_BY(mu_);
};

}  // namespace gf::fs
