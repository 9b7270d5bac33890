#include "fs/superblock/collections.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <future>

#include "api/background_calls.h"
#include "common/cancel.h"
#include "common/log.h"

namespace gf::fs {

namespace {
constexpr const char* kDivisionSlash = "\xE2\x88\x95";  // U+2215
const std::string kRootNegPrefix = std::string("\x01root");

std::string RootNegKey(const std::string& name) { return kRootNegPrefix + "/" + name; }

// "Name (1a2b3c4d)" -> {"Name", "1a2b3c4d"}.
std::pair<std::string, std::string> SplitIdSuffix(const std::string& name) {
  if (name.size() < 12 || name.back() != ')') return {name, ""};
  auto open = name.size() - 11;
  if (name.compare(open, 2, " (") != 0) return {name, ""};
  std::string hex = name.substr(open + 2, 8);
  for (char c : hex)
    if (!std::isxdigit(static_cast<unsigned char>(c))) return {name, ""};
  return {name.substr(0, open), hex};
}

std::string TrimSlashes(const std::string& p) {
  std::size_t b = p.find_first_not_of('/');
  if (b == std::string::npos) return "";
  std::size_t e = p.find_last_not_of('/');
  return p.substr(b, e - b + 1);
}
}  // namespace

Collection Collection::From(const api::Endpoint& e) {
  Collection c;
  c.id = e.id;
  c.display_name = e.display_name;
  c.entity_type = e.entity_type;
  c.https_server = e.https_server;
  c.non_functional = e.non_functional;
  return c;
}

std::string SanitizeName(const std::string& name, const std::string& fallback) {
  if (name.empty() || name == "." || name == "..") return fallback;
  std::string out;
  for (char c : name) {
    if (c == '/')
      out += kDivisionSlash;
    else if (c == '\0')
      out += '_';
    else
      out += c;
  }
  return out;
}

CollectionRegistry::CollectionRegistry(Remote& remote, CollectionCatalog& catalog, Clock& clock,
                                       NegativeCache& negative, Options options)
    : remote_(remote),
      catalog_(catalog),
      clock_(clock),
      negative_(negative),
      options_(std::move(options)) {
  for (const auto& s : options_.specs)
    if (std::find(pending_specs_.begin(), pending_specs_.end(), s) == pending_specs_.end())
      pending_specs_.push_back(s);
  // Configured ids are shown (under their id) even before they resolve.
  for (const auto& s : pending_specs_)
    if (LooksLikeUuid(s))
      AddEntryLocked(RootEntry{RootEntry::Type::kUnresolved, s, nullptr, "", s});
}

std::vector<std::pair<std::string, std::string>> CollectionRegistry::NotShown() const {
  MutexLock l(mu_);
  return {not_shown_.begin(), not_shown_.end()};
}

void CollectionRegistry::LogOnceLocked(const std::string& message) {
  if (logged_.size() > 10000) logged_.clear();
  if (logged_.insert(message).second) log::Warn("collections", message);
}

void CollectionRegistry::AddEntryLocked(RootEntry e) {
  std::string name = e.name;
  if (!names_.count(name)) order_.push_back(name);
  names_[name] = std::move(e);
}

// `name` is taken by value: callers often pass the key of the very node erased here.
void CollectionRegistry::RemoveEntryLocked(std::string name) {
  if (!names_.erase(name)) return;
  order_.erase(std::remove(order_.begin(), order_.end(), name), order_.end());
}

const Collection* CollectionCatalog::Intern(const api::Endpoint& e) {
  MutexLock l(mu_);
  auto& slot = interned_[e.id];
  if (!slot) slot = std::make_unique<Collection>(Collection::From(e));
  return slot.get();
}

const Collection* CollectionCatalog::Find(const std::string& id) const {
  MutexLock l(mu_);
  auto it = interned_.find(id);
  return it == interned_.end() ? nullptr : it->second.get();
}

std::vector<const Collection*> CollectionCatalog::Functional() const {
  MutexLock l(mu_);
  std::vector<const Collection*> out;
  for (const auto& [id, c] : interned_)
    if (!c->non_functional) out.push_back(c.get());
  return out;
}

std::string CollectionCatalog::NameOf(const std::string& id) const {
  MutexLock l(mu_);
  auto it = interned_.find(id);
  return it == interned_.end() || it->second->non_functional ? std::string()
                                                             : it->second->display_name;
}

std::string CollectionRegistry::AddToRootLocked(const Collection* c) {
  auto known = root_name_of_.find(c->id);
  if (known != root_name_of_.end()) return known->second;
  // A configured id shown unresolved gives way to the collection's real name.
  auto unresolved = names_.find(c->id);
  if (unresolved != names_.end() && unresolved->second.type == RootEntry::Type::kUnresolved)
    RemoveEntryLocked(c->id);
  std::string base = SanitizeName(c->display_name, c->id);
  std::string name = base;
  if (names_.count(name)) name = base + " (" + c->id.substr(0, 8) + ")";
  if (names_.count(name)) name = base + " (" + c->id + ")";
  AddEntryLocked(RootEntry{RootEntry::Type::kCollection, name, c, "", ""});
  root_name_of_[c->id] = name;
  return name;
}

Error CollectionRegistry::NonFunctional(const api::Endpoint& e) const {
  return Error::Local(ENOENT, "'" + e.display_name + "' (" + e.id + ") is a " + e.entity_type +
                                  " (non_functional): it holds no files; use one of its "
                                  "collections instead");
}

Result<const Collection*> CollectionRegistry::ById(const std::string& id) {
  if (const Collection* known = catalog_.Find(id)) return known;
  return endpoint_flight_.Do(id, [&]() -> Result<const Collection*> {
    auto e = remote_.GetEndpoint(id);
    if (!e.ok()) return e.error();
    if (e->non_functional) {
      Error err = NonFunctional(*e);
      MutexLock l(mu_);
      LogOnceLocked(err.message);
      return err;
    }
    return catalog_.Intern(*e);
  });
}

Result<const Collection*> CollectionRegistry::SearchExact(const std::string& display_name,
                                                          const std::string& id_prefix) {
  auto found = FindExact(display_name, id_prefix);
  if (!found.ok()) return found.error();
  // Every same-named collection joins the root, so the duplicates get their suffixes.
  MutexLock l(mu_);
  for (const auto* c : *found) AddToRootLocked(c);
  return found->front();
}

Result<std::vector<const Collection*>> CollectionRegistry::FindExact(
    const std::string& display_name, const std::string& id_prefix) {
  api::EndpointSearchQuery q;
  q.filter_fulltext = display_name;
  q.filter_non_functional = false;
  q.limit = 100;
  auto found = remote_.EndpointSearch(q);
  if (!found.ok()) return found.error();
  std::vector<api::Endpoint> exact;
  for (const auto& e : *found) {
    if (e.non_functional) continue;
    if (e.display_name != display_name && SanitizeName(e.display_name, e.id) != display_name)
      continue;
    if (!id_prefix.empty() && e.id.compare(0, id_prefix.size(), id_prefix) != 0) continue;
    exact.push_back(e);
  }
  if (exact.empty()) return Error::Local(ENOENT, "no collection is named '" + display_name + "'");
  std::sort(exact.begin(), exact.end(),
            [](const api::Endpoint& a, const api::Endpoint& b) { return a.id < b.id; });
  std::vector<const Collection*> interned;
  for (const auto& e : exact) interned.push_back(catalog_.Intern(e));
  return interned;
}

CollectionRegistry::~CollectionRegistry() {
  stopping_.store(true);
  std::shared_future<void> refresh;
  {
    MutexLock l(refresh_mu_);
    refresh = refresh_;
  }
  if (refresh.valid()) refresh.wait();
}

void CollectionRegistry::ResolvePending() {
  bool bookmarks_due, refresh_only;
  {
    MutexLock l(mu_);
    MonoTime now = clock_.Now();
    bookmarks_due = options_.bookmarks && (!bookmarks_loaded_ || now >= bookmarks_expire_);
    if (pending_specs_.empty() && !bookmarks_due) return;
    if (now < next_attempt_) return;
    refresh_only = pending_specs_.empty() && bookmarks_loaded_;
  }
  if (!refresh_only) return Resolve(bookmarks_due);
  // Only bookmarks the root already shows are due: a listing waits for their refresh at most
  // refresh_wait, then answers with the ones it has (stale by one refresh) while the refresh
  // goes on in the background. With the service down it would otherwise wait out the whole
  // retry budget, at every listing after each retry_interval.
  if (resolve_flight_.InFlight("root")) return;  // under way: nothing new to wait for
  std::shared_future<void> refresh;
  {
    MutexLock l(refresh_mu_);
    if (refresh_.valid() && refresh_.wait_for(std::chrono::seconds(0)) != std::future_status::ready)
      return;
    refresh_ = std::async(std::launch::async, [this] {
                 CancelScope scope(&stopping_);  // the unmount's shutdown ends it too
                 api::BackgroundCalls background;
                 Resolve(true);
               }).share();
    refresh = refresh_;
  }
  refresh.wait_for(options_.refresh_wait);
}

void CollectionRegistry::Resolve(bool bookmarks_due) {
  (void)resolve_flight_.Do("root", [&]() -> Result<bool> {
    std::vector<std::string> specs;
    {
      MutexLock l(mu_);
      specs = pending_specs_;
    }
    bool failed = false;
    // The lookups run concurrently (at WAN latency, five collections one after the other
    // delayed the first `ls` of the mount by five round trips); results apply in config order,
    // so names and suffixes do not depend on which answer came first.
    constexpr size_t kConcurrent = 8;
    std::future<Result<std::vector<api::Bookmark>>> marks_f;
    if (bookmarks_due)
      marks_f = std::async(std::launch::async, [this] { return remote_.BookmarkList(); });
    using Found = Result<std::vector<const Collection*>>;
    std::vector<Found> results;
    results.reserve(specs.size());
    for (size_t i = 0; i < specs.size(); i += kConcurrent) {
      std::vector<std::future<Found>> batch;
      for (size_t j = i; j < std::min(specs.size(), i + kConcurrent); ++j)
        batch.push_back(std::async(std::launch::async, [this, spec = specs[j]]() -> Found {
          if (!LooksLikeUuid(spec)) return FindExact(spec, "");
          auto c = ById(spec);
          if (!c.ok()) return c.error();
          return std::vector<const Collection*>{*c};
        }));
      for (auto& f : batch) results.push_back(f.get());
    }
    for (size_t i = 0; i < specs.size(); ++i) {
      const std::string& spec = specs[i];
      const Found& r = results[i];
      MutexLock l(mu_);
      const std::string what = "collection '" + spec + "'";
      if (r.ok()) {
        not_shown_.erase(what);
        // A name: every same-named collection joins the root (the duplicates get suffixes).
        for (const auto* c : *r) AddToRootLocked(c);
        pending_specs_.erase(std::remove(pending_specs_.begin(), pending_specs_.end(), spec),
                             pending_specs_.end());
      } else if (ErrnoFor(r.error()) == ENOENT) {
        not_shown_[what] = r.error().Describe() + " (check `collections` in the config)";
        LogOnceLocked("configured " + what + " is not shown: " + not_shown_[what]);
        pending_specs_.erase(std::remove(pending_specs_.begin(), pending_specs_.end(), spec),
                             pending_specs_.end());
        if (LooksLikeUuid(spec)) RemoveEntryLocked(spec);
      } else {
        failed = true;
        if (!LooksLikeUuid(spec)) not_shown_[what] = "not resolved yet: " + r.error().Describe();
        LogOnceLocked("cannot resolve configured collection '" + spec +
                      "' yet: " + r.error().Describe() +
                      (LooksLikeUuid(spec) ? " (shown under its id; will retry)"
                                           : " (not shown; will retry)"));
      }
    }
    if (bookmarks_due) {
      auto marks = marks_f.get();
      if (!marks.ok()) {
        failed = true;
        MutexLock l(mu_);
        LogOnceLocked("cannot list bookmarks: " + marks.error().Describe() + " (will retry)");
      } else {
        std::map<std::string, Result<const Collection*>> colls;
        for (const auto& b : *marks)
          if (!colls.count(b.endpoint_id)) colls.emplace(b.endpoint_id, ById(b.endpoint_id));
        MutexLock l(mu_);
        for (auto it = names_.begin(); it != names_.end();) {
          auto next = std::next(it);
          if (it->second.type == RootEntry::Type::kBookmark) RemoveEntryLocked(it->first);
          it = next;
        }
        for (auto it = not_shown_.begin(); it != not_shown_.end();)  // as of this listing
          it = it->first.rfind("bookmark '", 0) == 0 ? not_shown_.erase(it) : std::next(it);
        for (const auto& b : *marks) {
          const auto& c = colls.at(b.endpoint_id);
          std::string rel = TrimSlashes(b.path);
          std::string target;
          if (c.ok()) {
            target = AddToRootLocked(*c);
          } else if (ErrnoFor(c.error()) == ENOENT) {
            not_shown_["bookmark '" + b.name + "'"] = c.error().Describe();
            LogOnceLocked("bookmark '" + b.name + "' is not shown: " + c.error().Describe());
            continue;
          } else {
            target = ".by-id/" + b.endpoint_id;
          }
          if (!rel.empty()) target += "/" + rel;
          std::string name = SanitizeName(b.name, b.id);
          if (names_.count(name)) name += " (bookmark)";
          if (names_.count(name)) continue;
          AddEntryLocked(RootEntry{RootEntry::Type::kBookmark, name, nullptr, target, ""});
        }
        bookmarks_loaded_ = true;
        bookmarks_expire_ = clock_.Now() + options_.bookmark_ttl;
      }
    }
    if (failed) {
      MutexLock l(mu_);
      next_attempt_ = clock_.Now() + options_.retry_interval;
    }
    return true;
  });
}

std::vector<RootEntry> CollectionRegistry::List() {
  ResolvePending();
  MutexLock l(mu_);
  std::vector<RootEntry> out;
  out.reserve(order_.size());
  for (const auto& n : order_) out.push_back(names_.at(n));
  return out;
}

Result<RootEntry> CollectionRegistry::Lookup(const std::string& name) {
  ResolvePending();
  std::string unresolved_id;
  {
    MutexLock l(mu_);
    auto it = names_.find(name);
    if (it != names_.end()) {
      if (it->second.type != RootEntry::Type::kUnresolved) return it->second;
      unresolved_id = it->second.id;
    }
  }
  if (!unresolved_id.empty() || LooksLikeUuid(name)) {
    auto c = ById(unresolved_id.empty() ? name : unresolved_id);
    if (!c.ok()) return c.error();
    MutexLock l(mu_);
    AddToRootLocked(*c);
    return RootEntry{RootEntry::Type::kCollection, name, *c, "", ""};
  }
  // Hidden names (".Trash", ".hidden", ...) are probed by desktop tools: never search them.
  if (name.empty() || name[0] == '.') return Error::Local(ENOENT, "no such root entry");
  if (negative_.Contains(RootNegKey(name))) return Error::Local(ENOENT, "no such collection");
  auto [base, prefix] = SplitIdSuffix(name);
  auto c = SearchExact(base, prefix);
  if (!c.ok()) {
    if (ErrnoFor(c.error()) == ENOENT) negative_.Insert(RootNegKey(name));
    return c.error();
  }
  MutexLock l(mu_);
  std::string rn = AddToRootLocked(*c);
  return RootEntry{RootEntry::Type::kCollection, rn == name ? rn : name, *c, "", ""};
}

std::vector<const Collection*> CollectionRegistry::Known() const { return catalog_.Functional(); }

void CollectionRegistry::Refresh() {
  {
    MutexLock l(mu_);
    bookmarks_expire_ = MonoTime{};
    next_attempt_ = MonoTime{};
  }
  negative_.ErasePrefix(kRootNegPrefix);
}

}  // namespace gf::fs
