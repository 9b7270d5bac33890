// Delete planning: how removals become as few Globus delete tasks as is safe.
//
// The service works 3 delete tasks per user at a time and queues the rest, so `rm -r` of a
// 1000-file tree as 1000 tasks would take hours; it becomes at most two tasks:
//   * one NON-recursive task listing every file (and symlink) path, and
//   * one recursive task listing every directory path
// (the service has one `recursive` flag per task, and a directory needs it even when empty).
// Keeping files out of the recursive task means a path we believe is a file can never take a
// whole directory with it if someone replaced it by a directory meanwhile. A path under a
// directory of the same plan is dropped: the recursive delete of that directory covers it.
//
// Options of every planned task: interpret_globs false (names are literal), notify_on_* false
// (no email per rm), ignore_missing TRUE: an entry that is already gone has the effect the user
// asked for, and a task replayed after a crash (same submission_id, or a re-plan) must not fail
// on what its first run removed.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/documents.h"

namespace gf::fs::write {

struct DeleteTarget {
  std::string path;  // Transfer path, absolute
  bool is_dir = false;
};

// Up to two requests (files first, then directories); empty when there is nothing to delete.
// submission_id is left empty for the caller (the journal records one per task before
// submitting).
std::vector<api::DeleteRequest> PlanDeleteTasks(const std::string& collection,
                                                const std::vector<DeleteTarget>& targets,
                                                const std::string& label);

// How a single file is removed: a synchronous HTTPS DELETE (no task slot; its answers are
// partly UNVERIFIED) or a one-item delete task. A directory always uses a task.
enum class DeleteMode { kHttps, kTask };
// "https" / "task" (the config values of delete_mode).
std::optional<DeleteMode> ParseDeleteMode(std::string_view s);

}  // namespace gf::fs::write
