// TransferEngine: removes held back behind the transfers that use their path (see ORDERING in
// engine.h).
#include "common/log.h"
#include "fs/paths.h"
#include "fs/transfers/engine.h"
#include "fs/transfers/engine_internal.h"

namespace gf::fs {

namespace {

// `a` and `b` are the same entry, or one lies below the other.
bool Overlap(const Location& a, const Location& b) {
  return a.collection == b.collection &&
         (a.path == b.path || IsUnder(a.path, b.path) || IsUnder(b.path, a.path));
}

}  // namespace

OpId TransferEngine::UserOfLocked(const Location& at, OpId before) const {
  for (const auto& [id, o] : journal_->state().ops) {
    if (before != 0 && id >= before) break;  // ops are ordered by id: only older ones count
    if (o.Terminal() || o.kind == OpKind::kRemove) continue;
    if (o.kind != OpKind::kUpload && Overlap(at, o.src)) return id;  // it reads `at`
    if (Overlap(at, o.dst)) return id;                               // it writes `at`
  }
  return 0;
}

bool TransferEngine::InUse(const Location& at) const {
  MutexLock l(mu_);
  return UserOfLocked(at, 0) != 0;
}

void TransferEngine::ReleaseHeld(MonoTime now) {
  MutexLock l(mu_);
  const auto& ops = journal_->state().ops;
  for (auto it = held_.begin(); it != held_.end();) {
    auto op = ops.find(*it);
    if (op == ops.end() || op->second.state != OpState::kQueued) {  // cancelled meanwhile
      it = held_.erase(it);
      continue;
    }
    if (UserOfLocked(op->second.src, op->first) != 0) {
      ++it;
      continue;
    }
    it = held_.erase(it);
    log::Info(engine_internal::kLog, "op ", op->first, " (rm ", Where(op->second.src),
              "): the transfer it waited for ended; deleting");
    AddToGroupLocked(op->second, now);
  }
}

}  // namespace gf::fs
