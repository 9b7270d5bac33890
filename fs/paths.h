// Paths inside a collection, and how a place is named in messages. The one home of these
// helpers: every part of fs/ joins, splits and formats paths here.
//
// A collection path is absolute ("/", "/a", "/a/b"; no trailing '/'). "/~" and "/~/..." are
// the home directory of the account the collection maps the user to: the service resolves
// them, and the mount learns their real path when the service says it (HomeDirs).
#pragma once

#include <string>
#include <string_view>

#include "fs/types.h"

namespace gf::fs {

struct Collection;

// "/a" + "b" -> "/a/b"; "/" + "b" -> "/b".
std::string JoinPath(std::string_view dir, std::string_view name);
// "/a/b" -> "/a"; "/a" -> "/"; "/" -> "/".
std::string ParentPath(const std::string& path);
// "/a/b" -> "b".
std::string BaseName(const std::string& path);
// "/a//b/" -> "/a/b": the form in which paths from different service answers compare equal.
std::string NormalPath(std::string_view path);
// `path` is strictly below `dir` (both normal).
bool IsUnder(const std::string& path, const std::string& dir);
// "/~" or below it.
bool UnderHome(const std::string& path);

// How messages name a place: "'Display Name' (id):/path" when the collection is known,
// "id:/path" for a bare Location, the path alone without a collection.
std::string Where(const Collection* c, const std::string& path);
std::string Where(const Location& l);

// The key of a (collection, path) in the caches, the negative cache and the single flights.
inline std::string CacheKey(const std::string& collection_id, const std::string& path) {
  return collection_id + path;
}

}  // namespace gf::fs
