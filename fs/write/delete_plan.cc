#include "fs/write/delete_plan.h"

#include <algorithm>

namespace gf::fs::write {
namespace {

std::string Normalized(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

bool IsStrictlyUnder(const std::string& path, const std::string& dir) {
  if (dir == "/") return path.size() > 1;
  return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
         path[dir.size()] == '/';
}

api::DeleteRequest NewRequest(const std::string& collection, const std::string& label,
                              bool recursive) {
  api::DeleteRequest r;
  r.endpoint = collection;
  r.label = label;
  r.recursive = recursive;
  r.ignore_missing = true;
  r.interpret_globs = false;
  r.notify_on_succeeded = r.notify_on_failed = r.notify_on_inactive = false;
  return r;
}

}  // namespace

std::vector<api::DeleteRequest> PlanDeleteTasks(const std::string& collection,
                                                const std::vector<DeleteTarget>& targets,
                                                const std::string& label) {
  std::vector<std::string> dirs;
  for (const auto& t : targets)
    if (t.is_dir) dirs.push_back(Normalized(t.path));
  std::sort(dirs.begin(), dirs.end());
  dirs.erase(std::unique(dirs.begin(), dirs.end()), dirs.end());
  // Sorted, a directory's descendants follow it: keep only the outermost directories.
  std::vector<std::string> top_dirs;
  for (const auto& d : dirs)
    if (top_dirs.empty() || !IsStrictlyUnder(d, top_dirs.back())) top_dirs.push_back(d);
  auto covered = [&](const std::string& p) {
    return std::any_of(top_dirs.begin(), top_dirs.end(),
                       [&](const std::string& d) { return IsStrictlyUnder(p, d); });
  };

  api::DeleteRequest files = NewRequest(collection, label, /*recursive=*/false);
  for (const auto& t : targets) {
    if (t.is_dir) continue;
    std::string p = Normalized(t.path);
    if (covered(p) || std::binary_search(top_dirs.begin(), top_dirs.end(), p)) continue;
    if (std::find(files.paths.begin(), files.paths.end(), p) == files.paths.end())
      files.paths.push_back(std::move(p));
  }
  std::vector<api::DeleteRequest> out;
  if (!files.paths.empty()) out.push_back(std::move(files));
  if (!top_dirs.empty()) {
    api::DeleteRequest d = NewRequest(collection, label, /*recursive=*/true);
    d.paths = std::move(top_dirs);
    out.push_back(std::move(d));
  }
  return out;
}

std::optional<DeleteMode> ParseDeleteMode(std::string_view s) {
  if (s == "https") return DeleteMode::kHttps;
  if (s == "task") return DeleteMode::kTask;
  return std::nullopt;
}

}  // namespace gf::fs::write
