// CollectionRegistry: which collections the mount shows and under what names.
//
// The root directory holds, in this order:
//   * the configured collections (Config::collections and --collection; ids or display
//     names), resolved lazily: GetEndpoint for ids, endpoint_search (exact display name) for
//     names. Until a configured id resolves (e.g. the network is down) it is shown under its
//     id; an unresolvable display name is skipped with one log line and retried later;
//   * the collections of the user's bookmarks, and each bookmark as a SYMLINK
//     "<bookmark name> -> <collection dir>/<bookmark path>" (relative, so it works wherever
//     the mount is). A bookmark name that collides with a collection gets " (bookmark)";
//   * any collection looked up by exact display name (endpoint_search fallback: `ls
//     "MOUNT/UManitoba Grex HPC"` works with no configuration). The result joins the root;
//     misses go to the negative cache.
// Naming rules: the directory name is the display name with '/' replaced by U+2215 '∕'
// (DIVISION SLASH, looks the same, is legal in a file name); "", "." and ".." become the id.
// A second collection with the same name gets " (<first 8 hex digits of its id>)"; the first
// one keeps the plain name, so names never change under a running mount. That suffixed form
// can also be looked up directly.
// GCSv5 endpoints (non_functional) hold no data: they are never listed, and looking one up
// fails with ENOENT and a log line saying so. `.by-id/<uuid>` reaches any collection.
//
// Collections are interned in the CollectionCatalog: a Collection lives as long as the catalog
// (the mount), so inodes hold plain pointers to it. Root resolution never holds the mutex across a
// remote call; concurrent resolutions coalesce (SingleFlight).
#pragma once

#include "common/uuid.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "api/documents.h"
#include "common/clock.h"
#include "common/mutex.h"
#include "fs/remote.h"
#include "fs/superblock/negative_cache.h"
#include "fs/superblock/single_flight.h"

namespace gf::fs {

struct Collection {
  std::string id;
  std::string display_name;
  std::string entity_type;
  std::optional<std::string> https_server;
  bool non_functional = false;

  // File bytes travel over the collection's HTTPS server; without one (Globus Connect
  // Personal) the mount can list and transfer, but not read or write contents.
  bool HasHttps() const { return https_server && !https_server->empty(); }

  static Collection From(const api::Endpoint& e);
};

struct RootEntry {
  enum class Type { kCollection, kBookmark, kUnresolved };
  Type type = Type::kCollection;
  std::string name;
  const Collection* collection = nullptr;  // kCollection
  std::string link_target;                 // kBookmark
  std::string id;                          // kUnresolved: the configured id
};

// Every collection the mount has met, interned by id. Built first (before the remote door and
// the Authorizer, which name collections in what they tell the user). Thread-safe; `mu_` is a
// leaf lock.
class CollectionCatalog {
 public:
  const Collection* Intern(const api::Endpoint& e) EXCLUDES(mu_);
  const Collection* Find(const std::string& id) const EXCLUDES(mu_);
  // Every functional collection (GCSv5 endpoints hold no data), ordered by id.
  std::vector<const Collection*> Functional() const EXCLUDES(mu_);
  // The display name of a functional collection, "" when unknown.
  std::string NameOf(const std::string& id) const EXCLUDES(mu_);

 private:
  mutable Mutex mu_;
  std::map<std::string, std::unique_ptr<Collection>> interned_ GUARDED_BY(mu_);
};

// '/' -> U+2215; "", ".", ".." -> fallback.
std::string SanitizeName(const std::string& name, const std::string& fallback);

class CollectionRegistry {
 public:
  struct Options {
    std::vector<std::string> specs;  // configured collections: ids or display names
    bool bookmarks = true;
    std::chrono::nanoseconds retry_interval = std::chrono::seconds(60);  // after a failure
    std::chrono::nanoseconds bookmark_ttl = std::chrono::seconds(60);
    // How long a listing waits for a refresh of the bookmarks it has already: past it, the
    // listing answers with the ones it has and the refresh goes on by itself (so `ls` of the
    // root does not wait out the retry budget while the service is down).
    std::chrono::milliseconds refresh_wait = std::chrono::seconds(2);
  };
  CollectionRegistry(Remote& remote, CollectionCatalog& catalog, Clock& clock,
                     NegativeCache& negative, Options options);
  // Ends a refresh still under way (its waits end at once) and waits for it.
  ~CollectionRegistry();
  CollectionRegistry(const CollectionRegistry&) = delete;
  CollectionRegistry& operator=(const CollectionRegistry&) = delete;

  // Root directory entries (resolving what is pending, at most once per retry_interval;
  // expired bookmarks are refreshed in the background, waited for at most refresh_wait).
  std::vector<RootEntry> List();
  // One root name: known names, then ids, then the endpoint_search fallback.
  Result<RootEntry> Lookup(const std::string& name);
  // Any collection by id (GetEndpoint once, then interned). Fails for GCSv5 endpoints.
  Result<const Collection*> ById(const std::string& id);
  // Every collection resolved so far (the .by-id listing), ordered by id.
  std::vector<const Collection*> Known() const;
  // Forget bookmarks and resolution back-off so the next List() asks again.
  void Refresh();
  // Configured collections and bookmarks that are missing from the root, with why ("no
  // collection is named ...", or why it cannot be resolved yet), for `globus-fuse status`.
  std::vector<std::pair<std::string, std::string>> NotShown() const;

 private:
  void ResolvePending();
  // The remote half of ResolvePending: configured collections still pending and, when
  // `bookmarks_due`, the bookmarks. One at a time (resolve_flight_).
  void Resolve(bool bookmarks_due);
  Result<const Collection*> SearchExact(const std::string& display_name,
                                        const std::string& id_prefix);
  // The remote half of SearchExact: every exact match, interned, sorted by id (none added to
  // the root). Safe to run concurrently.
  Result<std::vector<const Collection*>> FindExact(const std::string& display_name,
                                                   const std::string& id_prefix);
  // Adds a collection to the root (if not there yet) and returns its root name.
  std::string AddToRootLocked(const Collection* c) REQUIRES(mu_);
  void AddEntryLocked(RootEntry e) REQUIRES(mu_);
  void RemoveEntryLocked(std::string name) REQUIRES(mu_);  // by value: callers pass map keys
  void LogOnceLocked(const std::string& message) REQUIRES(mu_);
  Error NonFunctional(const api::Endpoint& e) const;

  Remote& remote_;
  CollectionCatalog& catalog_;
  Clock& clock_;
  NegativeCache& negative_;
  const Options options_;
  SingleFlight<std::string, const Collection*> endpoint_flight_;
  SingleFlight<std::string, bool> resolve_flight_;

  mutable Mutex mu_;  // leaf lock: guards everything below; never held over a remote call
  std::vector<std::string> pending_specs_ GUARDED_BY(mu_);  // configured, not resolved yet
  // INVARIANT: order_ holds exactly the keys of names_ (presentation order).
  std::map<std::string, RootEntry> names_ GUARDED_BY(mu_);  // root name -> entry
  std::vector<std::string> order_ GUARDED_BY(mu_);
  std::map<std::string, std::string> root_name_of_ GUARDED_BY(mu_);  // collection id -> root name
  std::set<std::string> logged_ GUARDED_BY(mu_);                     // messages already logged once
  // "collection 'X'" / "bookmark 'Y'" -> why
  std::map<std::string, std::string> not_shown_ GUARDED_BY(mu_);
  bool bookmarks_loaded_ GUARDED_BY(mu_) = false;
  MonoTime bookmarks_expire_ GUARDED_BY(mu_){};
  MonoTime next_attempt_ GUARDED_BY(mu_){};

  std::atomic<bool> stopping_{false};  // the destructor: a background refresh's waits end
  Mutex refresh_mu_;                   // leaf lock, never held with mu_: guards refresh_
  std::shared_future<void> refresh_ GUARDED_BY(refresh_mu_);  // the last background refresh
};

}  // namespace gf::fs
