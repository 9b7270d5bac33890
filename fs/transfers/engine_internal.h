// Internals shared by the TransferEngine's source files (engine*.cc); not for other users.
#pragma once

#include <string>
#include <string_view>

#include "common/error.h"
#include "fs/types.h"

namespace gf::fs::engine_internal {

inline constexpr char kLog[] = "transfer";
inline constexpr size_t kTaskListChunk = 1000;  // task_list limit
inline constexpr size_t kMaxErrorText = 2000;   // event details kept per task / op failure
inline constexpr int kMissingPollsBeforeLookup = 1;

// What to do about a failed submission (or submission_id) call.
enum class Disposition {
  kRetry,     // unknown outcome or transient: same submission_id later
  kConflict,  // 409: identical paths in a still-active task
  kBlocked,   // needs the user to (re)authorize: retry slowly, show why
  kFail,      // the service refused the document: fail the ops
};

Disposition Classify(const Error& e);
// At most kMaxErrorText characters.
std::string Truncated(std::string s);
// Log lines stay single lines (GridFTP details are multi-line).
std::string OneLine(std::string s);
// A 404 of a path (listing a source that is gone).
bool IsNotFound(const Error& e);
// An absolute path in a named collection.
bool ValidLocation(const Location& l);

}  // namespace gf::fs::engine_internal

namespace gf::fs {
using namespace engine_internal;  // NOLINT: the engine's own source files only
}  // namespace gf::fs
