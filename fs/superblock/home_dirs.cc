#include "fs/superblock/home_dirs.h"

#include "common/log.h"
#include "fs/paths.h"
#include "fs/superblock/collections.h"

namespace gf::fs {

void HomeDirs::Learn(const Collection& c, const std::string& dir,
                     const std::optional<std::string>& absolute_path) {
  if (!UnderHome(dir) || !absolute_path || absolute_path->empty() || (*absolute_path)[0] != '/')
    return;
  std::string abs = *absolute_path;
  while (abs.size() > 1 && abs.back() == '/') abs.pop_back();
  if (abs == "/") abs.clear();
  const std::string rel = dir.size() > 2 ? dir.substr(2) : "";  // "/~/a/b" -> "/a/b"
  if (rel.size() > abs.size() || abs.compare(abs.size() - rel.size(), rel.size(), rel) != 0)
    return;  // not the shape we expect: learn nothing
  std::string home = abs.substr(0, abs.size() - rel.size());
  MutexLock l(mu_);
  auto& known = homes_[c.id];
  if (!known || *known != home) {
    log::Info("fs", Where(&c, "/~"), ": ~ is ", home.empty() ? "/" : home,
              " (HTTPS reads under ~ use that path)");
    known = home;
  }
}

std::optional<std::string> HomeDirs::ResolvedLocked(const std::string& collection_id,
                                                    const std::string& path) {
  auto it = homes_.find(collection_id);
  if (it == homes_.end()) return std::nullopt;
  if (!it->second) return path;  // the service does not say
  std::string out = *it->second + path.substr(2);
  return out.empty() ? "/" : out;
}

std::string HomeDirs::HttpsPath(const Collection& c, const std::string& path) {
  if (!UnderHome(path)) return path;
  {
    MutexLock l(mu_);
    if (auto known = ResolvedLocked(c.id, path)) return *known;
  }
  api::LsQuery q;
  q.path = "/~/";
  q.limit = 1;
  auto r = remote_.Ls(c.id, q);
  if (!r.ok()) return path;  // try again next time; the read itself reports what is wrong
  if (!r->absolute_path) {
    MutexLock l(mu_);
    homes_.try_emplace(c.id, std::nullopt);
    return path;
  }
  Learn(c, "/~", r->absolute_path);
  MutexLock l(mu_);
  return ResolvedLocked(c.id, path).value_or(path);
}

std::string HomeDirs::Alias(const std::string& collection_id, const std::string& path) {
  MutexLock l(mu_);
  auto it = homes_.find(collection_id);
  if (it == homes_.end() || !it->second) return {};
  const std::string& home = *it->second;  // "" when ~ is the collection root
  if (UnderHome(path)) {
    std::string out = home + path.substr(2);
    return out.empty() ? "/" : out;
  }
  if (path.rfind(home + "/", 0) == 0) return "/~" + path.substr(home.size());
  return {};
}

}  // namespace gf::fs
