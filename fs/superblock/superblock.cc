#include "fs/superblock/superblock.h"

#include <algorithm>
#include <cerrno>

#include "common/log.h"
#include "fs/paths.h"

namespace gf::fs {

Superblock::Superblock(Remote& remote, CollectionCatalog& catalog, TransferEngine& engine,
                       KernelNotifier& notifier, ErrorLog& errors, const FsOptions& options,
                       Clock& clock)
    : options_(options),
      clock_(clock),
      remote_(remote),
      notifier_(notifier),
      errors_(errors),
      table_(options.abort_on_lookup_underflow),
      attrs_(
          table_,
          AttrOptions{options.uid, options.gid, options.umask, options.entry_ttl, options.attr_ttl},
          std::chrono::system_clock::to_time_t(clock.WallNow())),
      negative_(clock, Seconds(options.negative_ttl), options.max_negative_entries),
      cache_(clock, Seconds(options.dir_ttl), options.max_cached_entries),
      registry_(remote, catalog, clock, negative_,
                CollectionRegistry::Options{options.collections, options.bookmarks,
                                            Seconds(std::max(options.dir_ttl, 1.0)),
                                            Seconds(options.dir_ttl)}),
      tree_(table_, registry_, attrs_, errors_),
      homes_(remote),
      overlay_(engine, *this, clock),
      listing_prefetch_("prefetch", std::max(options.listing_prefetch_workers, 0), 256, true) {}

Superblock::~Superblock() { Stop(); }

void Superblock::Start() {
  if (options_.listing_prefetch_workers > 0) listing_prefetch_.Start();
}

void Superblock::Stop() { listing_prefetch_.Stop(); }

CacheStats Superblock::Stats() const {
  CacheStats s;
  s.inodes = table_.size();
  s.listings = cache_.listings();
  s.listing_entries = cache_.entries();
  s.listing_evictions = cache_.evictions();
  s.max_cached_entries = options_.max_cached_entries;
  s.negative_entries = negative_.size();
  s.lookups_from_cache = lookups_from_cache_.load();
  s.listing_prefetch_scheduled = listing_prefetch_scheduled_.load();
  return s;
}

// ---------------------------------------------------------------------------------------------
// remote metadata

Result<std::shared_ptr<const Listing>> Superblock::GetListing(const Collection& c,
                                                              const std::string& dir) {
  const std::string key = CacheKey(c.id, dir);
  if (auto hit = cache_.Get(key)) return hit;
  return listing_flight_.Do(key, [&]() -> Result<std::shared_ptr<const Listing>> {
    if (auto hit = cache_.Get(key)) return hit;  // filled while we queued for the flight
    return FetchListing(c, dir, key);
  });
}

Result<std::shared_ptr<const Listing>> Superblock::ListFresh(const Collection& c,
                                                             const std::string& dir) {
  const std::string key = CacheKey(c.id, dir);
  cache_.Erase(key);  // a fetch under way for others stops being cached too
  return FetchListing(c, dir, key);
}

Result<std::shared_ptr<const Listing>> Superblock::FetchListing(const Collection& c,
                                                                const std::string& dir,
                                                                const std::string& key) {
  const uint64_t ticket = cache_.BeginFetch(key);
  auto r = remote_.LsAll(c.id, dir == "/" ? "/" : dir + "/");
  if (!r.ok()) {
    cache_.EndFetch(ticket);
    return r.error();
  }
  homes_.Learn(c, dir, r->absolute_path);
  auto l = std::make_shared<Listing>();
  l->fetched = clock_.Now();
  auto usable = [](const std::string& n) {
    return !n.empty() && n != "." && n != ".." && n.find('/') == std::string::npos;
  };
  size_t name_bytes = 0;
  for (const auto& e : r->entries) name_bytes += usable(e.name) ? e.name.size() : 0;
  l->names.reserve(name_bytes);
  l->items.reserve(r->entries.size());
  for (const auto& e : r->entries)
    if (usable(e.name) && !l->Add(e.name, Meta::From(e))) {
      cache_.EndFetch(ticket);
      return Error::Local(EOVERFLOW, "ls " + dir + ": more names than a listing can hold");
    }
  l->Seal();
  std::shared_ptr<const Listing> shared = l;
  // Not cached when this mount changed the directory while it was being listed: the
  // listing may predate the change (this caller still uses it once).
  if (!cache_.PutFetched(key, shared, ticket))
    log::Debug("fs", "ls ", Where(&c, dir), ": changed while listed; not cached");
  return shared;
}

Result<Meta> Superblock::StatPath(const Collection& c, const std::string& path) {
  return stat_flight_.Do(CacheKey(c.id, path), [&]() -> Result<Meta> {
    auto r = remote_.Stat(c.id, path);
    if (!r.ok()) return r.error();
    return Meta::From(*r);
  });
}

Result<Meta> Superblock::RefreshMeta(const InodePtr& in, bool force) {
  const Inode::Cached cached = in->cached();
  const MonoTime now = clock_.Now();
  if (!force && cached.meta && now < cached.expires) return *cached.meta;
  const Collection& c = *in->collection;
  const std::string path = table_.Path(*in);
  Result<Meta> m = Error::Local(ENOENT, "not found");
  auto listed =
      force ? std::nullopt : cache_.Find(CacheKey(c.id, ParentPath(path)), BaseName(path));
  if (listed) {
    if (!*listed) return Error::Local(ENOENT, path + " no longer exists");
    m = **listed;
  } else {
    m = StatPath(c, path);
    if (!m.ok()) return errors_.Report("stat", &c, path, m.error());
  }
  if (KindOf(m->type) != in->kind) {
    AfterKindChanged(*in);
    return Error::Local(ESTALE, path + " changed type on the server");
  }
  in->SetMeta(*m, now + Seconds(options_.attr_ttl));
  return m;
}

// ---------------------------------------------------------------------------------------------
// lookup

Result<InodePtr> Superblock::Named(Ino ino) const {
  InodePtr in = Inode(ino);
  if (!in) return Error::Local(ESTALE, "unknown inode");
  // Its path is the OLD one: acting on it would act where the name no longer is (an append
  // through the kernel's not yet invalidated dentry of `mv a OTHER/b` landed in a, which the
  // move then deleted). ESTALE makes the kernel walk the path again with LOOKUP_REVAL (every
  // name looked up) and retry once with what the name leads to now. Not logged: the kernel
  // recovers from it on its own.
  if (in->collection && table_.Stale(*in))
    return Error::Local(ESTALE, table_.Path(*in) + " was moved, removed or replaced");
  return in;
}

Result<Entry> Superblock::Lookup(Ino parent_ino, const std::string& name) {
  auto named = Named(parent_ino);
  if (!named.ok()) return named.error();
  const InodePtr parent = *named;
  if (parent->kind != Kind::kDir) return Error::Local(ENOTDIR, "not a directory");
  if (name.size() > 255) return Error::Local(ENAMETOOLONG, "name too long");
  if (!IsRemoteDir(*parent)) return tree_.Lookup(parent, name);
  if (IsHomeEntry(*parent, name)) return tree_.LookupHome(parent);
  auto r = Resolve(parent, name);
  if (!r.ok()) return r.error();
  auto in = Link(parent, name, *r);
  return attrs_.MakeEntry(*in, &r->meta);
}

Result<Resolved> Superblock::Resolve(const InodePtr& parent, const std::string& name) {
  const Collection* c = parent->collection;
  if (!c || !IsRemoteDir(*parent)) return Error::Local(ENOENT, "no such entry");
  if (IsHomeEntry(*parent, name)) return Resolved{Kind::kDir, Role::kHome, attrs_.SyntheticDir()};
  const std::string dir = table_.Path(*parent);
  const std::string path = JoinPath(dir, name);
  if (overlay_.Hidden(c->id, path)) return Error::Local(ENOENT, "hidden by a pending operation");
  Meta meta;
  if (auto pending = overlay_.Pending(c->id, path)) {
    meta = *pending;
  } else if (auto listed = cache_.Find(CacheKey(c->id, dir), name)) {
    if (!*listed) return Error::Local(ENOENT, "not in the cached listing");
    meta = **listed;
    ++lookups_from_cache_;
  } else {
    const std::string key = CacheKey(c->id, path);
    if (negative_.Contains(key)) return Error::Local(ENOENT, "cached miss");
    auto r = StatPath(*c, path);
    if (!r.ok()) {
      if (ErrnoFor(r.error()) == ENOENT) negative_.Insert(key);
      return errors_.Report("lookup", c, path, r.error());
    }
    meta = *r;
  }
  return Resolved{KindOf(meta.type), Role::kRemote, std::move(meta)};
}

InodePtr Superblock::Link(const InodePtr& parent, const std::string& name, const Resolved& r) {
  return LinkRow(parent, DirRow{name, r.kind, r.role, parent->collection, r.meta, true}, 1);
}

InodePtr Superblock::LinkRow(const InodePtr& dir, const DirRow& row, uint64_t lookups) {
  auto in = table_.Link(dir, row.name, row.kind, row.role, row.collection, lookups);
  if (row.role == Role::kRemote || row.role == Role::kBookmark)
    in->SetMeta(row.meta, clock_.Now() + Seconds(options_.attr_ttl));
  return in;
}

// ---------------------------------------------------------------------------------------------
// attributes

Result<AttrReply> Superblock::GetAttr(const InodePtr& in) {
  if (in->role != Role::kRemote) return tree_.GetAttr(*in);
  AttrReply r;
  r.timeout = options_.attr_ttl;
  const std::string path = table_.Path(*in);
  if (auto pending = overlay_.Pending(in->collection->id, path)) {
    r.attr = attrs_.Make(in->ino, in->kind, &*pending);
    r.timeout = 0;
    return r;
  }
  auto m = RefreshMeta(in);
  if (!m.ok()) return m.error();
  r.attr = attrs_.Make(in->ino, in->kind, &*m, in->kind == Kind::kSymlink ? ParentPath(path) : "");
  return r;
}

Result<std::string> Superblock::ReadLink(const InodePtr& in) {
  if (in->kind != Kind::kSymlink) return Error::Local(EINVAL, "not a symlink");
  Meta m;
  if (in->role == Role::kRemote) {
    auto r = RefreshMeta(in);
    if (!r.ok()) return r.error();
    m = *r;
  } else if (auto cached = in->cached(); cached.meta) {
    m = *cached.meta;
  }
  if (m.link_target.empty()) return Error::Local(EINVAL, "the service reported no link target");
  if (in->role == Role::kRemote)
    return Attrs::MountLinkTarget(ParentPath(table_.Path(*in)), m.link_target);
  return m.link_target.str();
}

// ---------------------------------------------------------------------------------------------
// listing prefetch

void Superblock::PrefetchListings(const Collection& c, const std::string& dir, const Listing& l) {
  if (options_.listing_prefetch_workers <= 0 || l.size() > options_.listing_prefetch_max_entries)
    return;
  uint64_t scheduled = 0;
  for (const auto& item : l.items) {
    if (scheduled >= options_.listing_prefetch_max_subdirs) break;
    if (item.meta.type != api::EntryType::kDir) continue;
    std::string path = JoinPath(dir, l.Name(item));
    const std::string key = CacheKey(c.id, path);
    if (cache_.Get(key) || listing_flight_.InFlight(key)) continue;
    const Collection* cp = &c;
    if (!listing_prefetch_.Submit([this, cp, path] {
          auto r = GetListing(*cp, path);
          if (!r.ok()) log::Debug("prefetch", "ls ", Where(cp, path), ": ", r.error().Describe());
        }))
      break;  // queue full: the walker will list it itself
    ++scheduled;
    ++listing_prefetch_scheduled_;
  }
}

}  // namespace gf::fs
