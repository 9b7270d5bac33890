#include "fs/paths.h"

#include "fs/superblock/collections.h"

namespace gf::fs {

std::string JoinPath(std::string_view dir, std::string_view name) {
  std::string out;
  out.reserve(dir.size() + 1 + name.size());
  if (dir != "/") out.append(dir);
  if (out.empty() || out.back() != '/') out.push_back('/');
  out.append(name);
  return out;
}

std::string ParentPath(const std::string& path) {
  auto s = path.rfind('/');
  return s == 0 || s == std::string::npos ? "/" : path.substr(0, s);
}

std::string BaseName(const std::string& path) { return path.substr(path.rfind('/') + 1); }

std::string NormalPath(std::string_view p) {
  std::string out;
  for (char c : p) {
    if (c == '/' && !out.empty() && out.back() == '/') continue;
    out += c;
  }
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

bool IsUnder(const std::string& path, const std::string& dir) {
  if (dir == "/") return !path.empty() && path[0] == '/';
  return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
         path[dir.size()] == '/';
}

bool UnderHome(const std::string& path) { return path == "/~" || path.rfind("/~/", 0) == 0; }

std::string Where(const Collection* c, const std::string& path) {
  if (!c) return path;
  return "'" + c->display_name + "' (" + c->id + "):" + path;
}

std::string Where(const Location& l) { return l.collection + ":" + l.path; }

}  // namespace gf::fs
