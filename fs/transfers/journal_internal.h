// Internals shared by the journal's source files (journal*.cc); not for other users.
#pragma once

#include <cerrno>
#include <string>

#include "common/error.h"
#include "fs/transfers/journal.h"

namespace gf::fs::journal_internal {

// A record or file that breaks the journal's rules.
inline Error Invalid(std::string what) {
  return Error::Local(EINVAL, "journal: " + std::move(what));
}

// Applies a record that CheckRecord() accepted against `s` (Journal::Append checks before it
// writes, and applies only what reached the file).
void ApplyChecked(JournalState& s, const JournalRecord& r);

}  // namespace gf::fs::journal_internal
