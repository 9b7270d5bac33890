#include "fs/filesystem.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <deque>

#include "common/log.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

namespace gf::fs {

namespace {
std::chrono::nanoseconds Secs(double s) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::duration<double>(std::max(s, 0.0)));
}
// Readdir offsets: 1 = ".", 2 = "..", 3 + i = snapshot item i.
constexpr uint64_t kFirstItemOffset = 2;
}  // namespace

Meta Meta::From(const api::FileEntry& e) {
  Meta m;
  m.type = e.type;
  m.size = e.size;
  m.mtime = e.last_modified;
  m.permissions = e.permissions & 07777;
  if (e.link_target) {
    // Transfer reports a valid symlink with its target's type and size, plus link_target
    // (globus-api.md §1.1). POSIX wants the link itself: a symlink whose size is its target
    // string, with the link's own mtime when the service gives it.
    m.link_target = *e.link_target;
    if (e.type != api::EntryType::kInvalidSymlink) m.type = api::EntryType::kSymlink;
    m.size = m.link_target.size();
    if (e.link_last_modified) m.mtime = *e.link_last_modified;
  }
  return m;
}

Kind KindOf(api::EntryType t) {
  switch (t) {
    case api::EntryType::kDir:
      return Kind::kDir;
    case api::EntryType::kSymlink:
    case api::EntryType::kInvalidSymlink:
      return Kind::kSymlink;
    default:
      return Kind::kFile;  // files, and special files shown as (unreadable) files
  }
}

FsOptions FsOptions::FromConfig(const Config& c) {
  FsOptions o;
  o.collections = c.collections;
  o.bookmarks = c.bookmarks;
  o.entry_ttl = c.entry_ttl;
  o.attr_ttl = c.attr_ttl;
  o.dir_ttl = c.dir_ttl;
  o.negative_ttl = c.negative_ttl;
  o.max_cached_entries = c.max_cached_entries;
  o.max_negative_entries = c.max_negative_entries;
  o.readahead_max = c.readahead_max;
  o.read_memory_limit = c.read_memory_limit;
  o.read_parallelism = std::max(c.read_parallelism, 1);
  o.read_part_size = c.read_part_size;
  o.prefetch_workers = c.prefetch_workers;
  o.pending_wait_seconds = c.pending_wait_seconds;
  o.warm_root = true;
  o.uid = c.uid < 0 ? getuid() : static_cast<uint32_t>(c.uid);
  o.gid = c.gid < 0 ? getgid() : static_cast<uint32_t>(c.gid);
  o.umask = c.umask & 0777;
  o.copy_wait = c.copy_mode == "wait";
  o.preserve_timestamp = c.preserve_timestamp;
  return o;
}

struct Filesystem::DirHandle {
  Ino ino = 0;
  std::mutex mu;  // leaf: guards snap (one readdir per handle at a time in practice)
  std::optional<DirSnapshot> snap;
};

void Filesystem::DirSnapshot::AddHead(std::string name, Item it) {
  it.name = names.emplace_back(std::move(name));
  head.push_back(it);
}

void Filesystem::DirSnapshot::AddTail(std::string name, Item it) {
  it.name = names.emplace_back(std::move(name));
  tail.push_back(it);
}

size_t Filesystem::DirSnapshot::size() const {
  const size_t n = !listing ? 0 : all_listed ? listing->items.size() : listed.size();
  return head.size() + n + tail.size();
}

Filesystem::Item Filesystem::DirSnapshot::At(size_t i) const {
  if (i < head.size()) return head[i];
  i -= head.size();
  const size_t n = !listing ? 0 : all_listed ? listing->items.size() : listed.size();
  if (i >= n) return tail[i - n];
  const Listing::Item& li = listing->items[all_listed ? i : listed[i]];
  Item it{listing->Name(li), KindOf(li.meta.type), Role::kRemote, collection, li.meta, true};
  if (!pending.empty())
    if (auto p = pending.find(it.name); p != pending.end()) {
      it.meta = p->second;  // a truncated destination shows its pending size
      it.kind = KindOf(it.meta.type);
    }
  return it;
}

struct Filesystem::FileHandle {
  InodePtr inode;
  std::unique_ptr<FileReader> reader;  // data files
  std::string content;                 // control files (snapshot taken at open), placeholders
  // Write handles (cp destinations). `write` and `dst` are fixed at open.
  bool write = false;
  Location dst;
  std::mutex mu;               // leaf (but see CopyFileRange: -> TransferEngine::mu_)
  bool placeholder = false;    // this handle made the placeholder at dst
  bool write_refused = false;  // a write() was refused: the caller had data for this file
  OpId op = 0;                 // the copy queued into this destination
  Ino src_ino = 0;
  uint64_t src_size = 0;
  uint64_t next = 0;  // offset a continuing copy_file_range must use
};

namespace {
// The kernel clamps one copy_file_range to this (UINT_MAX & PAGE_MASK): its reply is 32-bit.
constexpr uint64_t kKernelCopyChunk = 4294963200ull;
}  // namespace

Filesystem::Filesystem(api::TransferApi& transfer, api::DataApi& data, FsOptions options,
                       Clock& clock)
    : options_(std::move(options)),
      clock_(clock),
      started_(clock.Now()),
      started_wall_(std::chrono::system_clock::to_time_t(clock.WallNow())),
      remote_(transfer, data, authorizer_proxy_),
      engine_remote_(transfer, data, default_authorizer_),
      table_(options_.abort_on_lookup_underflow),
      negative_(clock, Secs(options_.negative_ttl), options_.max_negative_entries),
      cache_(clock, Secs(options_.dir_ttl), options_.max_cached_entries),
      registry_(remote_, clock, negative_,
                CollectionRegistry::Options{options_.collections, options_.bookmarks,
                                            Secs(std::max(options_.dir_ttl, 1.0)),
                                            Secs(options_.dir_ttl)}),
      memory_(options_.read_memory_limit),
      read_queue_("read", std::max(options_.read_parallelism * 2, 4), 4096),
      dir_prefetch_("prefetch", std::max(options_.prefetch_workers, 0), 256, true),
      overlay_(&default_overlay_) {
  authorizer_proxy_.target = &default_authorizer_;
  auto byid = table_.AddPinned(kByIdIno, table_.root(), kByIdName, Kind::kDir, Role::kById);
  auto ctl = table_.AddPinned(kControlDirIno, table_.root(), kControlDirName, Kind::kDir,
                              Role::kControlDir);
  table_.AddPinned(kStatusFileIno, ctl, kStatusFileName, Kind::kFile, Role::kControlFile);
  (void)byid;
}

Filesystem::~Filesystem() { Stop(); }

void Filesystem::SetTransfers(TransferEngine* engine, PendingOverlay* overlay) {
  engine_ = overlay ? engine : nullptr;
  pending_ = engine ? overlay : nullptr;
  SetOverlay(pending_);
  if (!pending_) return;
  pending_->SetSettled([this](const SettledEvent& e) { OnSettled(e); });
  pending_->SetNameOf([this](const std::string& id) {
    for (const Collection* c : registry_.Known())
      if (c->id == id) return c->display_name;
    return std::string();
  });
}

void Filesystem::SetAuthorizer(Authorizer* a) {
  authorizer_proxy_.target = a ? a : &default_authorizer_;
}

void Filesystem::Start() {
  read_queue_.Start();
  if (options_.prefetch_workers > 0) dir_prefetch_.Start();
  // One task on the read pool (always running); a lookup arriving meanwhile joins the same
  // resolution (single flight), and a failure is retried by the next operation as before.
  if (options_.warm_root && !read_queue_.Submit([this] { (void)registry_.List(); }))
    log::Debug("fs", "root warm-up not queued; the first operation resolves the root");
}

void Filesystem::Stop() {
  dir_prefetch_.Stop();
  {
    std::lock_guard<std::mutex> l(handles_mu_);
    files_.clear();  // cancels in-flight parts
    dirs_.clear();
  }
  read_queue_.Stop();
}

// ---------------------------------------------------------------------------------------------
// helpers

InodePtr Filesystem::Inode(Ino ino) const { return table_.Get(ino); }

bool Filesystem::IsRemoteDir(const fs::Inode& in) {
  return in.kind == Kind::kDir &&
         (in.role == Role::kCollectionRoot || in.role == Role::kHome || in.role == Role::kRemote);
}

std::string Filesystem::Join(const std::string& dir, std::string_view name) {
  std::string out;
  out.reserve(dir.size() + 1 + name.size());
  if (dir != "/") out.append(dir);
  out.push_back('/');
  out.append(name);
  return out;
}
std::string Filesystem::ParentOf(const std::string& path) {
  auto s = path.rfind('/');
  return s == 0 || s == std::string::npos ? "/" : path.substr(0, s);
}
std::string Filesystem::BaseOf(const std::string& path) { return path.substr(path.rfind('/') + 1); }

std::string Filesystem::Where(const Collection* c, const std::string& path) const {
  if (!c) return path;
  return "'" + c->display_name + "' (" + c->id + "):" + path;
}

Error Filesystem::Report(const char* op, const Collection* c, const std::string& path, Error e) {
  int err = ErrnoFor(e);
  std::string msg = std::string(op) + " " + Where(c, path) + ": ";
  if (e.NeedsAuthorization()) {
    msg += authorizer_proxy_.Remedy(e, c ? c->display_name : "");
  } else {
    msg += e.Describe();
    if (e.kind == ErrorKind::kApi || e.kind == ErrorKind::kTransport) switch (err) {
        case EACCES:
          msg += " (check your permissions on this collection: `globus-fuse whoami`)";
          break;
        case EHOSTDOWN:
          msg += " (the collection's endpoint is offline; try again later)";
          break;
        case ETIMEDOUT:
        case EHOSTUNREACH:
          msg += " (cannot reach Globus; check the network)";
          break;
        case EOVERFLOW:
          msg += " (directory too large to list; open entries by name)";
          break;
        case EAGAIN:
          msg += " (the service is busy; try again)";
          break;
        default:
          break;
      }
  }
  if (err != ENOENT) {
    MonoTime now = clock_.Now();
    bool log_it = false;
    {
      std::lock_guard<std::mutex> l(stats_mu_);
      ++errors_by_errno_[err];
      auto it = logged_.find(msg);
      if (it == logged_.end() || now - it->second >= std::chrono::minutes(1)) {
        if (logged_.size() > 1000) logged_.clear();
        logged_[msg] = now;
        log_it = true;
        RecentErrorLocked(msg);
      }
    }
    if (log_it) log::Warn("fs", msg);
  }
  return e;
}

Error Filesystem::LocalError(const char* op, const Collection* c, const std::string& path, int err,
                             const std::string& why) {
  return Report(op, c, path, Error::Local(err, why));
}

Meta Filesystem::SyntheticDir() const {
  Meta m;
  m.type = api::EntryType::kDir;
  m.size = 4096;
  m.mtime = started_wall_;
  m.permissions = 0755;
  return m;
}

std::string Filesystem::MountLinkTarget(const std::string& link_dir, const std::string& target) {
  if (target.empty() || target[0] != '/') return target;
  std::string up;
  if (link_dir != "/")
    for (char ch : link_dir)
      if (ch == '/') up += "../";
  const std::size_t start = target.find_first_not_of('/');
  std::string rest = start == std::string::npos ? "" : target.substr(start);
  return up.empty() && rest.empty() ? "." : up + rest;
}

Attr Filesystem::MakeAttr(Ino ino, Kind kind, const Meta* meta, const std::string& link_dir) const {
  Attr a;
  a.ino = ino;
  a.uid = options_.uid;
  a.gid = options_.gid;
  uint32_t perms = meta ? meta->permissions : 0755;
  switch (kind) {
    case Kind::kDir:
      a.mode = S_IFDIR | (perms & 07777 & ~options_.umask);
      a.nlink = 2;
      a.size = meta ? meta->size : 4096;
      break;
    case Kind::kSymlink:
      a.mode = S_IFLNK | 0777;
      a.nlink = 1;
      // The size of what readlink returns (tools read links into a buffer of st_size bytes).
      if (meta)
        a.size = link_dir.empty() ? meta->link_target.size()
                                  : MountLinkTarget(link_dir, meta->link_target).size();
      break;
    case Kind::kFile:
      a.mode = S_IFREG | (perms & 07777 & ~options_.umask);
      a.nlink = 1;
      a.size = meta ? meta->size : 0;
      break;
  }
  a.mtime = meta ? meta->mtime : started_wall_;
  a.blocks = (a.size + 511) / 512;
  return a;
}

Entry Filesystem::MakeEntry(const fs::Inode& in, const Meta* meta) const {
  Entry e;
  const bool remote_link = in.kind == Kind::kSymlink && in.role == Role::kRemote;
  e.attr = MakeAttr(in.ino, in.kind, meta, remote_link ? ParentOf(table_.Path(in)) : "");
  e.entry_timeout = options_.entry_ttl;
  e.attr_timeout = options_.attr_ttl;
  return e;
}

InodePtr Filesystem::LinkItem(const InodePtr& dir, const Item& item, uint64_t lookups) {
  auto in = table_.Link(dir, item.name, item.kind, item.role, item.collection, lookups);
  if (item.role == Role::kRemote || item.role == Role::kBookmark)
    in->SetMeta(item.meta, clock_.Now() + Secs(options_.attr_ttl));
  return in;
}

// ---------------------------------------------------------------------------------------------
// remote metadata

Result<std::shared_ptr<const Listing>> Filesystem::GetListing(const Collection& c,
                                                              const std::string& dir) {
  std::string key = Key(c, dir);
  if (auto hit = cache_.Get(key)) return hit;
  return listing_flight_.Do(key, [&]() -> Result<std::shared_ptr<const Listing>> {
    if (auto hit = cache_.Get(key)) return hit;  // filled while we queued for the flight
    auto r = remote_.LsAll(c.id, dir == "/" ? "/" : dir + "/");
    if (!r.ok()) return r.error();
    LearnHome(c, dir, r->absolute_path);
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
      if (usable(e.name) && !l->Add(e.name, Meta::From(e)))
        return Error::Local(EOVERFLOW, "ls " + dir + ": more names than a listing can hold");
    l->Seal();
    std::shared_ptr<const Listing> shared = l;
    cache_.Put(key, shared);
    return shared;
  });
}

namespace {
bool UnderHome(const std::string& path) { return path == "/~" || path.rfind("/~/", 0) == 0; }
}  // namespace

void Filesystem::LearnHome(const Collection& c, const std::string& dir,
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
  std::lock_guard<std::mutex> l(homes_mu_);
  auto& known = homes_[c.id];
  if (!known || *known != home) {
    log::Info("fs", Where(&c, "/~"), ": ~ is ", home.empty() ? "/" : home,
              " (HTTPS reads under ~ use that path)");
    known = home;
  }
}

std::string Filesystem::HttpsPath(const Collection& c, const std::string& path) {
  if (!UnderHome(path)) return path;
  {
    std::lock_guard<std::mutex> l(homes_mu_);
    auto it = homes_.find(c.id);
    if (it != homes_.end()) {
      if (!it->second) return path;  // the service does not say
      std::string out = *it->second + path.substr(2);
      return out.empty() ? "/" : out;
    }
  }
  api::LsQuery q;
  q.path = "/~/";
  q.limit = 1;
  auto r = remote_.Ls(c.id, q);
  if (!r.ok()) return path;  // try again next time; the read itself reports what is wrong
  if (!r->absolute_path) {
    std::lock_guard<std::mutex> l(homes_mu_);
    homes_.try_emplace(c.id, std::nullopt);
    return path;
  }
  LearnHome(c, "/~", r->absolute_path);
  std::lock_guard<std::mutex> l(homes_mu_);
  auto it = homes_.find(c.id);
  if (it == homes_.end() || !it->second) return path;
  std::string out = *it->second + path.substr(2);
  return out.empty() ? "/" : out;
}

bool Filesystem::SameFile(const Collection& c, const std::string& src, const Meta& src_meta,
                          const std::string& dst) {
  if (src == dst) return true;
  if (UnderHome(src) == UnderHome(dst)) return false;
  const std::string home_side = UnderHome(src) ? src : dst;
  const std::string resolved = HttpsPath(c, home_side);
  if (resolved != home_side) return resolved == (UnderHome(src) ? dst : src);
  auto d = StatPath(c, dst);  // where "~" is, is not known
  return d.ok() && d->type == api::EntryType::kFile && d->size == src_meta.size &&
         d->mtime == src_meta.mtime;
}

Result<Meta> Filesystem::StatPath(const Collection& c, const std::string& path) {
  return stat_flight_.Do(Key(c, path), [&]() -> Result<Meta> {
    auto r = remote_.Stat(c.id, path);
    if (!r.ok()) return r.error();
    return Meta::From(*r);
  });
}

Result<Meta> Filesystem::RefreshMeta(const InodePtr& in, bool force) {
  auto st = in->Snapshot();
  MonoTime now = clock_.Now();
  if (!force && st.meta && now < st.expires) return *st.meta;
  const Collection& c = *in->collection;
  std::string path = table_.Path(*in);
  Result<Meta> m = Error::Local(ENOENT, "not found");
  auto listing = force ? nullptr : cache_.Get(Key(c, ParentOf(path)));
  if (listing) {
    const auto* item = listing->Find(BaseOf(path));
    if (!item) return Error::Local(ENOENT, path + " no longer exists");
    m = item->meta;
  } else {
    m = StatPath(c, path);
    if (!m.ok()) return Report("stat", &c, path, m.error());
  }
  if (KindOf(m->type) != in->kind) {
    // The remote entry changed kind: this inode is stale; the name gets a new one on lookup.
    Ino parent = table_.ParentIno(*in);
    std::string name = table_.Name(*in);
    table_.Unlink(parent, name, in->ino);
    if (notifier_) notifier_->InvalidateEntry(parent, name);
    return Error::Local(ESTALE, path + " changed type on the server");
  }
  in->SetMeta(*m, now + Secs(options_.attr_ttl));
  return m;
}

// ---------------------------------------------------------------------------------------------
// lookup

Result<Entry> Filesystem::Lookup(Ino parent_ino, const std::string& name) {
  auto parent = Inode(parent_ino);
  if (!parent) return Error::Local(ESTALE, "unknown inode");
  if (parent->kind != Kind::kDir) return Error::Local(ENOTDIR, "not a directory");
  if (name.size() > 255) return Error::Local(ENAMETOOLONG, "name too long");
  switch (parent->role) {
    case Role::kRoot:
      return LookupRoot(name);
    case Role::kById:
      return LookupById(name);
    case Role::kControlDir: {
      if (name != kStatusFileName) return Error::Local(ENOENT, "no such control file");
      auto f = Inode(kStatusFileIno);
      table_.Link(parent, name, Kind::kFile, Role::kControlFile, nullptr, 1);
      Entry e = MakeEntry(*f, nullptr);
      e.attr.mode = S_IFREG | 0444;
      return e;
    }
    default:
      return LookupRemote(parent, name);
  }
}

Result<Entry> Filesystem::LookupRoot(const std::string& name) {
  auto root = table_.root();
  if (name == kByIdName || name == kControlDirName) {
    Ino ino = name == kByIdName ? kByIdIno : kControlDirIno;
    auto in = table_.Link(root, name, Kind::kDir,
                          name == kByIdName ? Role::kById : Role::kControlDir, nullptr, 1);
    (void)ino;
    return MakeEntry(*in, nullptr);
  }
  auto r = registry_.Lookup(name);
  if (!r.ok()) return Report("lookup", nullptr, "/" + name, r.error());
  if (r->type == RootEntry::Type::kBookmark) {
    Item it{name, Kind::kSymlink, Role::kBookmark, nullptr, Meta{}, true};
    it.meta.type = api::EntryType::kSymlink;
    it.meta.link_target = r->link_target;
    it.meta.mtime = started_wall_;
    auto in = LinkItem(root, it, 1);
    return MakeEntry(*in, &it.meta);
  }
  auto in = table_.Link(root, name, Kind::kDir, Role::kCollectionRoot, r->collection, 1);
  Meta m = SyntheticDir();
  return MakeEntry(*in, &m);
}

Result<Entry> Filesystem::LookupById(const std::string& name) {
  if (!LooksLikeUuid(name)) return Error::Local(ENOENT, "not a collection id");
  auto c = registry_.ById(name);
  if (!c.ok()) return Report("lookup", nullptr, "/.by-id/" + name, c.error());
  auto in = table_.Link(Inode(kByIdIno), name, Kind::kDir, Role::kCollectionRoot, *c, 1);
  Meta m = SyntheticDir();
  return MakeEntry(*in, &m);
}

Result<Entry> Filesystem::LookupRemote(const InodePtr& parent, const std::string& name) {
  const Collection* c = parent->collection;
  if (!c || !IsRemoteDir(*parent)) return Error::Local(ENOENT, "no such entry");
  if (parent->role == Role::kCollectionRoot && name == "~") {
    auto in = table_.Link(parent, "~", Kind::kDir, Role::kHome, c, 1);
    Meta m = SyntheticDir();
    return MakeEntry(*in, &m);
  }
  std::string dir = table_.Path(*parent);
  std::string path = Join(dir, name);
  if (overlay_->Hidden(c->id, path)) return Error::Local(ENOENT, "hidden by a pending operation");
  Meta meta;
  if (auto pending = overlay_->Pending(c->id, path)) {
    meta = *pending;
  } else if (auto listing = cache_.Get(Key(*c, dir))) {
    const auto* item = listing->Find(name);
    if (!item) return Error::Local(ENOENT, "not in the cached listing");
    meta = item->meta;
    ++lookups_from_cache_;
  } else {
    std::string key = Key(*c, path);
    if (negative_.Contains(key)) return Error::Local(ENOENT, "cached miss");
    auto r = StatPath(*c, path);
    if (!r.ok()) {
      if (ErrnoFor(r.error()) == ENOENT) negative_.Insert(key);
      return Report("lookup", c, path, r.error());
    }
    meta = *r;
  }
  Item it{name, KindOf(meta.type), Role::kRemote, c, meta, true};
  auto in = LinkItem(parent, it, 1);
  return MakeEntry(*in, &meta);
}

void Filesystem::Forget(Ino ino, uint64_t n) { table_.Forget(ino, n); }

void Filesystem::ForgetMulti(const std::vector<std::pair<Ino, uint64_t>>& batch) {
  table_.ForgetMulti(batch);
}

// ---------------------------------------------------------------------------------------------
// attributes

Result<AttrReply> Filesystem::GetAttr(Ino ino) {
  auto in = Inode(ino);
  if (!in) return Error::Local(ESTALE, "unknown inode");
  AttrReply r;
  r.timeout = options_.attr_ttl;
  switch (in->role) {
    case Role::kRoot:
    case Role::kById:
    case Role::kControlDir:
    case Role::kCollectionRoot:
    case Role::kHome: {
      Meta m = SyntheticDir();
      r.attr = MakeAttr(ino, Kind::kDir, &m);
      return r;
    }
    case Role::kControlFile:
      r.attr = MakeAttr(ino, Kind::kFile, nullptr);
      r.attr.mode = S_IFREG | 0444;
      r.timeout = 0;
      return r;
    case Role::kBookmark: {
      auto st = in->Snapshot();
      r.attr = MakeAttr(ino, Kind::kSymlink, st.meta ? &*st.meta : nullptr);
      return r;
    }
    case Role::kRemote:
      break;
  }
  std::string path = table_.Path(*in);
  if (auto pending = overlay_->Pending(in->collection->id, path)) {
    r.attr = MakeAttr(ino, in->kind, &*pending);
    r.timeout = 0;
    return r;
  }
  auto m = RefreshMeta(in);
  if (!m.ok()) return m.error();
  r.attr = MakeAttr(ino, in->kind, &*m, in->kind == Kind::kSymlink ? ParentOf(path) : "");
  return r;
}

Result<AttrReply> Filesystem::SetAttr(Ino ino, const SetAttrRequest& req) {
  auto in = Inode(ino);
  if (!in) return Error::Local(ESTALE, "unknown inode");
  bool changes = req.size || req.mode || req.uid || req.gid || req.atime || req.mtime;
  if (!changes) return GetAttr(ino);
  std::string path = in->collection ? table_.Path(*in) : "";
  if (pending_ && in->role == Role::kRemote) {
    if (auto op = pending_->PendingOp({in->collection->id, path})) {
      // A placeholder or pending destination. Truncating a placeholder to 0 is what it is;
      // an explicit mtime is kept for display (the transfer preserves the source's mtime);
      // mode/owner/atime are accepted and not applied (Globus does not transfer them).
      if (req.size && (*req.size != 0 || *op != 0))
        return LocalError("truncate", in->collection, path, EOPNOTSUPP,
                          "only truncating a new file to 0 is supported");
      if (req.mtime_value) pending_->SetMtime({in->collection->id, path}, *req.mtime_value);
      return GetAttr(ino);
    }
  }
  return LocalError("setattr", in->collection, path, EROFS,
                    "changing size, mode, owner or times is not supported yet");
}

Result<std::string> Filesystem::ReadLink(Ino ino) {
  auto in = Inode(ino);
  if (!in) return Error::Local(ESTALE, "unknown inode");
  if (in->kind != Kind::kSymlink) return Error::Local(EINVAL, "not a symlink");
  Meta m;
  if (in->role == Role::kRemote) {
    auto r = RefreshMeta(in);
    if (!r.ok()) return r.error();
    m = *r;
  } else {
    auto st = in->Snapshot();
    if (st.meta) m = *st.meta;
  }
  if (m.link_target.empty()) return Error::Local(EINVAL, "the service reported no link target");
  if (in->role == Role::kRemote) return MountLinkTarget(ParentOf(table_.Path(*in)), m.link_target);
  return m.link_target.str();
}

// ---------------------------------------------------------------------------------------------
// directories

Result<uint64_t> Filesystem::OpenDir(Ino ino) {
  auto in = Inode(ino);
  if (!in) return Error::Local(ESTALE, "unknown inode");
  if (in->kind != Kind::kDir) return Error::Local(ENOTDIR, "not a directory");
  auto h = std::make_shared<DirHandle>();
  h->ino = ino;
  std::lock_guard<std::mutex> l(handles_mu_);
  uint64_t fh = next_fh_++;
  dirs_[fh] = h;
  return fh;
}

void Filesystem::ReleaseDir(uint64_t fh) {
  std::lock_guard<std::mutex> l(handles_mu_);
  dirs_.erase(fh);
}

void Filesystem::SchedulePrefetch(const Collection& c, const std::string& dir, const Listing& l) {
  if (options_.prefetch_workers <= 0 || l.size() > options_.prefetch_max_entries) return;
  uint64_t scheduled = 0;
  for (const auto& item : l.items) {
    if (scheduled >= options_.prefetch_max_subdirs) break;
    if (item.meta.type != api::EntryType::kDir) continue;
    std::string path = Join(dir, std::string(l.Name(item)));
    std::string key = Key(c, path);
    if (cache_.Get(key) || listing_flight_.InFlight(key)) continue;
    const Collection* cp = &c;
    if (!dir_prefetch_.Submit([this, cp, path] {
          auto r = GetListing(*cp, path);
          if (!r.ok()) log::Debug("prefetch", "ls ", Where(cp, path), ": ", r.error().Describe());
        }))
      break;  // queue full: the walker will list it itself
    ++scheduled;
    ++prefetch_scheduled_;
  }
}

Result<Filesystem::DirSnapshot> Filesystem::Snapshot(const InodePtr& dir) {
  DirSnapshot snap;
  switch (dir->role) {
    case Role::kRoot: {
      snap.AddHead(kByIdName, Item{{}, Kind::kDir, Role::kById, nullptr, SyntheticDir(), true});
      for (const auto& e : registry_.List()) {
        switch (e.type) {
          case RootEntry::Type::kCollection:
            snap.AddHead(
                e.name,
                Item{{}, Kind::kDir, Role::kCollectionRoot, e.collection, SyntheticDir(), true});
            break;
          case RootEntry::Type::kBookmark: {
            Item it{{}, Kind::kSymlink, Role::kBookmark, nullptr, Meta{}, true};
            it.meta.type = api::EntryType::kSymlink;
            it.meta.link_target = e.link_target;
            it.meta.mtime = started_wall_;
            snap.AddHead(e.name, it);
            break;
          }
          case RootEntry::Type::kUnresolved:
            snap.AddHead(
                e.name,
                Item{{}, Kind::kDir, Role::kCollectionRoot, nullptr, SyntheticDir(), false});
            break;
        }
      }
      return snap;
    }
    case Role::kById:
      for (const auto* c : registry_.Known())
        snap.AddHead(c->id, Item{{}, Kind::kDir, Role::kCollectionRoot, c, SyntheticDir(), true});
      return snap;
    case Role::kControlDir:
      snap.AddHead(kStatusFileName,
                   Item{{}, Kind::kFile, Role::kControlFile, nullptr, Meta{}, true});
      return snap;
    default:
      break;
  }
  const Collection* c = dir->collection;
  if (!c) return Error::Local(EIO, "directory without a collection");
  std::string path = table_.Path(*dir);
  snap.collection = c;
  if (dir->role == Role::kCollectionRoot)
    snap.AddHead("~", Item{{}, Kind::kDir, Role::kHome, c, SyntheticDir(), true});
  auto listing = GetListing(*c, path);
  if (!listing.ok() && ErrnoFor(listing.error()) == ENOENT && overlay_->Pending(c->id, path)) {
    // A pending destination directory (mv of a tree): nothing remote yet.
    listing = std::make_shared<const Listing>();
  }
  if (!listing.ok()) {
    Error e = listing.error();
    if (dir->role == Role::kCollectionRoot && ErrnoFor(e) == EACCES && !e.NeedsAuthorization()) {
      // Mapped collections often refuse "/": still offer "~" (the home directory).
      Report("ls", c, path, e);
      return snap;
    }
    return Report("ls", c, path, e);
  }
  const Listing& l = **listing;
  snap.listing = *listing;
  // Rows not shown: "~" listed at the collection root (it is the synthetic home above), and
  // sources of moves in flight. Usually none: then the listing is shown as it is.
  const bool root = dir->role == Role::kCollectionRoot;
  const bool filter = overlay_->AnyHidden(c->id);
  if (filter || (root && l.Find("~"))) {
    snap.all_listed = false;
    snap.listed.reserve(l.size());
    for (uint32_t i = 0; i < l.items.size(); ++i) {
      std::string_view name = l.Name(l.items[i]);
      if (root && name == "~") continue;
      if (filter && overlay_->Hidden(c->id, Join(path, name))) continue;
      snap.listed.push_back(i);
    }
  }
  // Pending entries (a few) override listed ones (a truncated destination shows its pending
  // size until the transfer replaced it) and add the names not listed yet.
  for (auto& [name, meta] : overlay_->PendingChildren(c->id, path)) {
    if (l.Find(name))
      snap.pending.emplace(name, meta);
    else
      snap.AddTail(name, Item{{}, KindOf(meta.type), Role::kRemote, c, meta, true});
  }
  SchedulePrefetch(*c, path, l);
  return snap;
}

Status Filesystem::ReadDir(Ino ino, uint64_t fh, uint64_t offset, bool plus, DirReplier& out) {
  auto dir = Inode(ino);
  if (!dir) return Error::Local(ESTALE, "unknown inode");
  std::shared_ptr<DirHandle> h;
  {
    std::lock_guard<std::mutex> l(handles_mu_);
    auto it = dirs_.find(fh);
    if (it == dirs_.end()) return Error::Local(EBADF, "unknown directory handle");
    h = it->second;
  }
  std::lock_guard<std::mutex> hl(h->mu);
  if (offset == 0 || !h->snap) {
    auto snap = Snapshot(dir);
    if (!snap.ok()) return snap.error();
    h->snap = std::move(*snap);
  }
  const DirSnapshot& snap = *h->snap;
  Meta dirmeta = SyntheticDir();
  for (uint64_t off = offset; off < snap.size() + kFirstItemOffset; ++off) {
    if (off < kFirstItemOffset) {
      Ino dino = off == 0 ? ino : (ino == kRootIno ? kRootIno : table_.ParentIno(*dir));
      Attr a = MakeAttr(dino, Kind::kDir, &dirmeta);
      Entry e{a, 0, 0};
      if (!out.Add(off == 0 ? "." : "..", a, off + 1, plus ? &e : nullptr)) break;
      continue;
    }
    const Item item = snap.At(off - kFirstItemOffset);
    const Meta* meta = &item.meta;
    if (!plus || !item.resolvable) {
      auto known = table_.Child(ino, item.name);
      const bool remote_link = item.kind == Kind::kSymlink && item.role == Role::kRemote;
      Attr a =
          MakeAttr(known ? known->ino : 0, item.kind, meta, remote_link ? table_.Path(*dir) : "");
      if (!a.ino) a.ino = (1ull << 62) + off;  // informational d_ino; never used as a nodeid
      Entry e{a, 0, 0};
      if (plus) e.attr.ino = 0;  // "no attributes for this one": the kernel will look it up
      if (!out.Add(item.name, a, off + 1, plus ? &e : nullptr)) break;
      continue;
    }
    InodePtr in;
    if (item.role == Role::kControlFile) {
      in = table_.Link(dir, item.name, Kind::kFile, Role::kControlFile, nullptr, 1);
    } else {
      in = LinkItem(dir, item, 1);
    }
    Entry e = MakeEntry(*in, meta);
    if (item.role == Role::kControlFile) e.attr.mode = S_IFREG | 0444;
    if (!out.Add(item.name, e.attr, off + 1, &e)) {
      table_.Forget(in->ino, 1);  // not sent: undo the count
      break;
    }
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// namespace changes

Status Filesystem::CheckWritableParent(const InodePtr& parent, const char* op) {
  if (!parent) return Error::Local(ESTALE, "unknown inode");
  if (parent->kind != Kind::kDir) return Error::Local(ENOTDIR, "not a directory");
  if (!IsRemoteDir(*parent))
    return LocalError(op, nullptr, "/", EPERM,
                      "the mount root and .by-id only hold collections; they cannot be changed");
  return Status::Ok();
}

Result<Entry> Filesystem::Mkdir(Ino parent_ino, const std::string& name, uint32_t mode) {
  (void)mode;  // the service creates directories with its own default mode
  auto parent = Inode(parent_ino);
  GF_TRY_STATUS(CheckWritableParent(parent, "mkdir"));
  const Collection& c = *parent->collection;
  if (parent->role == Role::kCollectionRoot && name == "~")
    return Error::Local(EEXIST, "~ is the home directory");
  std::string dir = table_.Path(*parent);
  std::string path = Join(dir, name);
  Status s = remote_.Mkdir(c.id, path);
  if (!s.ok()) return Report("mkdir", &c, path, s.error());
  cache_.Erase(Key(c, dir));
  negative_.Erase(Key(c, path));
  {
    // We just created it: it is empty. Caching that spares `cp -r` one stat per file it
    // creates inside (the usual TTL window applies to changes made elsewhere).
    auto empty = std::make_shared<Listing>();
    empty->fetched = clock_.Now();
    cache_.Put(Key(c, path), std::shared_ptr<const Listing>(empty));
  }
  auto m = StatPath(c, path);
  Meta meta = m.ok() ? *m : SyntheticDir();
  Item it{name, Kind::kDir, Role::kRemote, &c, meta, true};
  auto in = LinkItem(parent, it, 1);
  if (!m.ok()) in->Expire();
  return MakeEntry(*in, &meta);
}

namespace {
constexpr const char* kPendingBusy =
    "a copy or move to this name is still pending: try again once it ended (globus-fuse "
    "status; `cat` or `sync` of the file waits for it)";
}  // namespace

Status Filesystem::Rename(Ino parent_ino, const std::string& name, Ino new_parent_ino,
                          const std::string& new_name, unsigned flags, int32_t origin_pid) {
  if (flags & RENAME_EXCHANGE)
    return Error::Local(EINVAL, "RENAME_EXCHANGE is not supported by Globus");
  if (flags & ~static_cast<unsigned>(RENAME_NOREPLACE))
    return Error::Local(EINVAL, "unsupported rename flags");
  auto parent = Inode(parent_ino);
  auto new_parent = Inode(new_parent_ino);
  GF_TRY_STATUS(CheckWritableParent(parent, "rename"));
  GF_TRY_STATUS(CheckWritableParent(new_parent, "rename"));
  const Collection& c = *parent->collection;
  std::string dir = table_.Path(*parent), new_dir = table_.Path(*new_parent);
  std::string from = Join(dir, name), to = Join(new_dir, new_name);
  if ((parent->role == Role::kCollectionRoot && name == "~") ||
      (new_parent->role == Role::kCollectionRoot && new_name == "~"))
    return Error::Local(EBUSY, "~ is the home directory");
  if (new_parent->collection != parent->collection) {
    if (!engine_) return Error::Local(EXDEV, "rename across collections needs the transfer engine");
    return RenameAcross(parent, name, new_parent, new_name, flags, origin_pid);
  }
  if (from == to) return Status::Ok();
  // No wait for a pending name here: the kernel holds the directories locked during a rename,
  // so waiting for a transfer would freeze every `ls` of them meanwhile.
  if (pending_ && (pending_->PendingOp({c.id, from}) || pending_->PendingOp({c.id, to})))
    return LocalError("rename", &c, from + " -> " + to, EBUSY, kPendingBusy);
  // The kernel checked the kinds of both names already; the service would refuse a
  // non-empty target with an error that reads as EIO.
  GF_TRY_STATUS(CheckRenameTarget(new_parent, new_name, std::nullopt, flags));
  Status s = remote_.Rename(c.id, from, to);
  if (!s.ok()) return Report("rename", &c, from + " -> " + to, s.error());
  cache_.Erase(Key(c, dir));
  cache_.Erase(Key(c, new_dir));
  cache_.ErasePrefix(Key(c, from));
  negative_.Erase(Key(c, to));
  negative_.Insert(Key(c, from));
  if (auto moved = table_.Child(parent_ino, name)) {
    table_.Move(moved->ino, new_parent, new_name);
    moved->Expire();
  }
  return Status::Ok();
}

Status Filesystem::CheckRenameTarget(const InodePtr& new_parent, const std::string& new_name,
                                     std::optional<bool> src_is_dir, unsigned flags) {
  const Collection& c = *new_parent->collection;
  const std::string path = Join(table_.Path(*new_parent), new_name);
  auto existing = LookupRemote(new_parent, new_name);
  if (!existing.ok())
    return ErrnoFor(existing.error()) == ENOENT ? Status::Ok() : Status(existing.error());
  table_.Forget(existing->attr.ino, 1);  // that lookup was ours, not the kernel's
  if (flags & RENAME_NOREPLACE) return Error::Local(EEXIST, path + " exists");
  const bool dst_dir = S_ISDIR(existing->attr.mode);
  if (src_is_dir && dst_dir && !*src_is_dir) return Error::Local(EISDIR, path + " is a directory");
  if (src_is_dir && !dst_dir && *src_is_dir)
    return Error::Local(ENOTDIR, path + " is not a directory");
  if (!dst_dir) return Status::Ok();
  auto l = GetListing(c, path);
  if (!l.ok()) return Report("rename", &c, path, l.error());
  if ((*l)->size() > 0) return Error::Local(ENOTEMPTY, path + " is not empty");
  return Status::Ok();
}

Status Filesystem::RenameAcross(const InodePtr& parent, const std::string& name,
                                const InodePtr& new_parent, const std::string& new_name,
                                unsigned flags, int32_t origin_pid) {
  const Collection& sc = *parent->collection;
  const Collection& dc = *new_parent->collection;
  const std::string dir = table_.Path(*parent), new_dir = table_.Path(*new_parent);
  const Location src{sc.id, Join(dir, name)}, dst{dc.id, Join(new_dir, new_name)};
  const std::string what = Where(&sc, src.path) + " -> " + Where(&dc, dst.path);
  if (pending_->PendingOp(src) || pending_->PendingOp(dst))  // as in Rename: no wait
    return LocalError("mv", &sc, src.path, EBUSY, kPendingBusy);
  // The source (its lookup reference is ours, not the kernel's: give it back).
  auto found = LookupRemote(parent, name);
  if (!found.ok()) return found.error();
  auto src_in = Inode(found->attr.ino);  // held: the Forget below may drop it from the table
  table_.Forget(found->attr.ino, 1);
  if (!src_in) return Error::Local(ESTALE, "the source vanished");
  auto meta = RefreshMeta(src_in);
  if (!meta.ok()) return meta.error();
  const bool is_dir = src_in->kind == Kind::kDir;
  if (src_in->kind == Kind::kSymlink)
    return LocalError("mv", &sc, src.path, EOPNOTSUPP,
                      "moving a symlink between collections is not supported");
  GF_TRY_STATUS(CheckRenameTarget(new_parent, new_name, is_dir, flags));
  OpRequest req = OpRequest::Move(src, dst, is_dir ? 0 : meta->size, is_dir);
  req.origin_pid = origin_pid;
  auto op = engine_->Enqueue(req);
  if (!op.ok()) return Report("mv", &sc, src.path, op.error());
  Meta shown = *meta;
  if (is_dir) shown = SyntheticDir();
  pending_->AddMove(*op, src, dst, shown);
  log::Info("fs", "mv ", what, ": queued as transfer op ", *op);
  // Our view: the source is hidden, the destination pending. The kernel moved its dentry to
  // the destination name with the SOURCE inode: make it look the name up again.
  cache_.Erase(Key(sc, dir));
  cache_.Erase(Key(dc, new_dir));
  negative_.Erase(Key(dc, dst.path));
  table_.Unlink(parent->ino, name, src_in->ino);
  src_in->Expire();
  if (notifier_) {
    notifier_->InvalidateEntry(new_parent->ino, new_name);
    notifier_->InvalidateEntry(parent->ino, name);
  }
  return Status::Ok();
}

Status Filesystem::Unlink(Ino parent_ino, const std::string& name) {
  auto parent = Inode(parent_ino);
  const Collection* c = parent ? parent->collection : nullptr;
  if (pending_ && c && IsRemoteDir(*parent)) {
    // A placeholder nobody copied into (e.g. cp failed before copy_file_range): local only.
    Location where{c->id, Join(table_.Path(*parent), name)};
    if (pending_->DropPlaceholder(where, 0)) {
      InvalidatePath(where.collection, where.path);
      return Status::Ok();
    }
  }
  if (parent && c && IsRemoteDir(*parent)) {
    // A name that is not there (a placeholder its close already dropped: git unlinks its
    // index.lock right after closing it; a file deleted elsewhere) is ENOENT, not EROFS.
    auto existing = LookupRemote(parent, name);
    if (!existing.ok()) return existing.error();
    table_.Forget(existing->attr.ino, 1);
  }
  return LocalError("unlink", c, parent && c ? Join(table_.Path(*parent), name) : name, EROFS,
                    "deleting files is not supported yet");
}

Status Filesystem::CreateUnsupported(NodeKind kind, Ino parent_ino, const std::string& name) {
  auto parent = Inode(parent_ino);
  const Collection* c = parent ? parent->collection : nullptr;
  const std::string path = parent && c ? Join(table_.Path(*parent), name) : name;
  switch (kind) {
    case NodeKind::kSymlink:
      return LocalError("symlink", c, path, EPERM,
                        "Globus cannot create symbolic links (the Transfer API has no "
                        "operation for it); copy the file the link points to instead");
    case NodeKind::kHardLink:
      return LocalError("link", c, path, EPERM, "Globus collections have no hard links");
    case NodeKind::kSpecial:
      break;
  }
  return LocalError("mknod", c, path, EPERM,
                    "Globus collections hold only files, directories and symbolic links (no "
                    "devices, FIFOs or sockets)");
}

Status Filesystem::Rmdir(Ino parent_ino, const std::string& name) {
  auto parent = Inode(parent_ino);
  const Collection* c = parent ? parent->collection : nullptr;
  return LocalError("rmdir", c, parent && c ? Join(table_.Path(*parent), name) : name, EROFS,
                    "removing directories is not supported yet");
}

Result<Created> Filesystem::Create(Ino parent_ino, const std::string& name, uint32_t mode,
                                   int flags) {
  auto parent = Inode(parent_ino);
  const Collection* c = parent ? parent->collection : nullptr;
  if (!engine_)
    return LocalError("create", c, parent && c ? Join(table_.Path(*parent), name) : name, EROFS,
                      "creating files is not supported yet (cp between collections comes with "
                      "server-side transfers)");
  GF_TRY_STATUS(CheckWritableParent(parent, "create"));
  if (name.size() > 255) return Error::Local(ENAMETOOLONG, "name too long");
  if (parent->role == Role::kCollectionRoot && name == "~")
    return Error::Local(EISDIR, "~ is the home directory");
  const std::string path = Join(table_.Path(*parent), name);
  // cp onto an existing (pending) name opens it (Open waits); a create with the directory
  // locked by the kernel does not wait.
  if (pending_->PendingOp({c->id, path}).value_or(0) != 0)
    return LocalError("create", c, path, EBUSY, kPendingBusy);
  // The kernel sends CREATE for names it believes missing; its negative entry may be stale.
  InodePtr in;
  auto existing = LookupRemote(parent, name);
  if (existing.ok()) {
    in = Inode(existing->attr.ino);  // keeps the lookup reference: the reply carries it
    if ((flags & O_EXCL) || !in || in->kind != Kind::kFile) {
      table_.Forget(existing->attr.ino, 1);
      return Error::Local(in && in->kind == Kind::kDir ? EISDIR : EEXIST, path + " exists");
    }
  } else if (ErrnoFor(existing.error()) != ENOENT) {
    return existing.error();
  }
  if ((flags & O_ACCMODE) == O_RDWR && (flags & O_EXCL)) {
    // Lock and temporary files (git's index.lock, mkstemp) exist to be written, and no copy
    // creates its destination this way: refuse now, so that tools that can go on read-only
    // (git status) do, instead of failing at their first write.
    return LocalError("create", c, path, EROFS,
                      "lock and temporary files (O_RDWR|O_EXCL) cannot be created: writing "
                      "files is not supported yet");
  }
  Meta m;
  m.type = api::EntryType::kFile;
  m.mtime = std::chrono::system_clock::to_time_t(clock_.WallNow());
  m.permissions = mode & 07777;
  if (!in) in = LinkItem(parent, Item{name, Kind::kFile, Role::kRemote, c, m, true}, 1);
  auto h = std::make_shared<FileHandle>();
  h->inode = in;
  h->write = true;
  h->dst = Location{c->id, path};
  h->placeholder = true;
  Created out;
  {
    std::lock_guard<std::mutex> l(handles_mu_);
    out.opened.fh = next_fh_++;
    files_[out.opened.fh] = h;
  }
  pending_->AddPlaceholder(h->dst, m, out.opened.fh);
  negative_.Erase(Key(*c, path));
  out.entry = MakeEntry(*in, &m);
  return out;
}

std::shared_ptr<Filesystem::FileHandle> Filesystem::Handle(uint64_t fh) const {
  std::lock_guard<std::mutex> l(handles_mu_);
  auto it = files_.find(fh);
  return it == files_.end() ? nullptr : it->second;
}

Error Filesystem::SameFileError(const Collection& c, const std::string& path) {
  // A transfer onto itself would truncate it. copy_file_range(2) says EINVAL for one file;
  // cp's read/write fallback then fails at its first write, and its placeholder goes with
  // nothing changed.
  return LocalError("cp", &c, path, EINVAL,
                    "the destination is the same file under another name (.by-id or ~): "
                    "nothing was copied");
}

Result<uint64_t> Filesystem::CopyFileRange(Ino in_ino, uint64_t fh_in, uint64_t off_in, Ino out_ino,
                                           uint64_t fh_out, uint64_t off_out, uint64_t len,
                                           const std::atomic<bool>* cancel, int32_t origin_pid) {
  (void)fh_in, (void)out_ino;
  if (!engine_) return Error::NotSupported("copy_file_range is not supported yet");
  auto dst = Handle(fh_out);
  auto src_in = Inode(in_ino);
  if (!dst || !dst->write)
    return Error::NotSupported("copy_file_range: the destination is not open for writing");
  if (!src_in || src_in->role != Role::kRemote || src_in->kind != Kind::kFile)
    return Error::NotSupported("copy_file_range: the source is not a file in a collection");
  const Collection& sc = *src_in->collection;
  const Location src{sc.id, table_.Path(*src_in)};
  {
    std::lock_guard<std::mutex> l(dst->mu);
    if (dst->op != 0) {
      // cp continuing a copy the kernel split (each call is at most kKernelCopyChunk bytes).
      if (src_in->ino != dst->src_ino || off_in != dst->next || off_out != dst->next)
        return Error::NotSupported("copy_file_range: only whole-file copies are server-side");
      if (off_in >= dst->src_size) return uint64_t{0};
      uint64_t n = std::min(len, dst->src_size - off_in);
      dst->next += n;
      return n;
    }
    if (!dst->placeholder)
      return Error::NotSupported(
          "copy_file_range: the destination must be new or truncated (O_TRUNC)");
  }
  if (off_in != 0 || off_out != 0)
    return Error::NotSupported("copy_file_range: partial copies are not server-side");
  if (dst->dst.collection == sc.id && src.path == dst->dst.path) return SameFileError(sc, src.path);
  if (pending_->PendingOp(src).value_or(1) == 0)
    return Error::NotSupported("copy_file_range: the source was never written");
  auto meta = RefreshMeta(src_in);  // no lock held: may be a remote stat
  if (!meta.ok()) return meta.error();
  if (meta->type != api::EntryType::kFile)
    return Error::NotSupported("copy_file_range: the source is not a regular file");
  if (dst->dst.collection == sc.id && SameFile(sc, src.path, *meta, dst->dst.path))
    return SameFileError(sc, src.path);
  if (len < meta->size && len < kKernelCopyChunk)
    return Error::NotSupported("copy_file_range: partial copies are not server-side");
  const uint64_t n = std::min(len, meta->size);
  OpId op = 0;
  {
    // Enqueue under the handle's lock (a local fdatasync, no remote call): two racing calls
    // on one handle must not queue two copies. Lock order FileHandle::mu -> engine mu_.
    std::lock_guard<std::mutex> l(dst->mu);
    if (dst->op != 0) return Error::Local(EBUSY, "copy_file_range: a copy is already queued");
    OpRequest req = OpRequest::Copy(src, dst->dst, meta->size);
    req.origin_pid = origin_pid;
    auto r = engine_->Enqueue(req);
    if (!r.ok()) return Report("cp", &sc, src.path, r.error());
    op = *r;
    dst->op = op;
    dst->src_ino = src_in->ino;
    dst->src_size = meta->size;
    dst->next = n;
  }
  Meta shown = *meta;
  if (!options_.preserve_timestamp)
    shown.mtime = std::chrono::system_clock::to_time_t(clock_.WallNow());
  pending_->AddCopy(op, src, dst->dst, shown);
  log::Info("fs", "cp ", Where(&sc, src.path), " -> ", dst->dst.collection, ":", dst->dst.path,
            ": queued as transfer op ", op, " (", meta->size, " bytes)");
  if (options_.copy_wait) GF_TRY_STATUS(WaitOp(op, false, cancel, "cp", &sc, src.path));
  return n;
}

Status Filesystem::WaitOp(OpId op, bool bounded, const std::atomic<bool>* cancel, const char* what,
                          const Collection* c, const std::string& path) {
  std::optional<MonoTime> deadline;
  if (bounded) deadline = clock_.Now() + Secs(options_.pending_wait_seconds);
  Status s = engine_->Wait(op, deadline, cancel);
  if (s.ok()) return s;
  const Error& e = s.error();
  if (e.kind != ErrorKind::kLocal) return Report(what, c, path, e);  // the op failed
  return WaitError(e, bounded, op, what, c, path);
}

Status Filesystem::WaitError(const Error& e, bool bounded, OpId op, const char* what,
                             const Collection* c, const std::string& path) {
  switch (e.sys_errno) {
    case EINTR:
      if (!bounded) {
        // Wait mode: the caller gave up (Ctrl-C): so do we.
        Status cs = engine_->Cancel(op);
        log::Info("fs", what, " ", Where(c, path), ": interrupted; transfer op ", op,
                  cs.ok() ? " cancelled" : " could not be cancelled: " + cs.error().Describe());
        return Error::Local(EINTR, "interrupted: the transfer was cancelled");
      }
      return e;
    case ESHUTDOWN:
      // Unmounting: release the caller, cancel nothing (the journal keeps the op).
      return LocalError(what, c, path, EINTR,
                        "the mount is shutting down; the transfer goes on at Globus and the "
                        "next mount tracks it");
    case ETIMEDOUT:
      return LocalError(what, c, path, EAGAIN,
                        "the transfer is still running; try again later (globus-fuse status)");
    case ENOENT:
      // Finished long ago and forgotten by the engine: the overlay remembers failures.
      if (auto f = pending_->FailureOf(op)) return Report(what, c, path, ErrorFor(*f, what));
      return Status::Ok();
    default:
      return Report(what, c, path, e);
  }
}

Status Filesystem::WaitUntilSettled(const Collection& c, const std::string& path,
                                    const char* what) {
  const MonoTime deadline = clock_.Now() + Secs(options_.pending_wait_seconds);
  OpId waited = 0;
  for (;;) {
    const std::optional<OpId> op = pending_->PendingOp({c.id, path});
    if (!op) return Status::Ok();
    if (*op == 0 || *op == waited)
      return LocalError(what, &c, path, EBUSY,
                        *op == 0 ? "a cp into this file is in progress"
                                 : "a copy or move to this name is still pending (see "
                                   "globus-fuse status)");
    log::Info("fs", what, " ", Where(&c, path), ": waiting for the pending transfer op ", *op,
              " to this name first");
    Status s = engine_->Wait(*op, deadline, RequestCancel::Current());
    if (!s.ok() && s.error().kind == ErrorKind::kLocal && s.error().sys_errno != ENOENT)
      return WaitError(s.error(), true, *op, what, &c, path);
    waited = *op;  // ended (its outcome belongs to the command that queued it)
  }
}

Status Filesystem::Write(uint64_t fh) {
  auto h = Handle(fh);
  if (h && h->write) {
    std::lock_guard<std::mutex> l(h->mu);
    h->write_refused = true;  // its placeholder must not become an empty file at close
  }
  if (!write_logged_.exchange(true))
    log::Warn("fs",
              "write: writing file contents is not supported yet (nothing was written); cp "
              "between collections of this mount works: it runs as a Globus transfer");
  std::string where = h && h->write ? h->dst.collection + ":" + h->dst.path : "";
  return Error::NotSupported("writing file contents is not supported yet" +
                             (where.empty() ? "" : " (" + where + ")"));
}

namespace {
bool HasHttps(const Collection& c) { return c.https_server && !c.https_server->empty(); }
constexpr const char* kNoHttpsForEmpty =
    "this collection has no HTTPS server (Globus Connect Personal collections do not), so an "
    "empty file cannot be created through the mount";
}  // namespace

Status Filesystem::Flush(uint64_t fh) {
  auto h = Handle(fh);
  if (!h || !h->write || !pending_ || !h->inode || !h->inode->collection) return Status::Ok();
  {
    std::lock_guard<std::mutex> l(h->mu);
    if (!h->placeholder || h->op != 0 || h->write_refused) return Status::Ok();
  }
  // Closed so far with no copy and no data: at its last close this becomes an empty remote
  // file (Release). What can be known now is reported now, while close(2) can still say it.
  const Collection& c = *h->inode->collection;
  if (!HasHttps(c)) return Report("close", &c, h->dst.path, Error::NotSupported(kNoHttpsForEmpty));
  return Status::Ok();
}

Status Filesystem::Fsync(uint64_t fh, const std::atomic<bool>* cancel) {
  auto h = Handle(fh);
  if (!h) return Error::Local(EBADF, "unknown file handle");
  if (!engine_ || !h->inode || !h->inode->collection) return Status::Ok();
  OpId op = 0;
  {
    std::lock_guard<std::mutex> l(h->mu);
    op = h->op;
  }
  const Collection* c = h->inode->collection;
  const std::string path = table_.Path(*h->inode);
  if (op == 0) op = pending_->PendingOp({c->id, path}).value_or(0);
  if (op == 0) return Status::Ok();
  Status s = WaitOp(op, true, cancel, "fsync", c, path);
  if (!s.ok() && s.error().kind != ErrorKind::kLocal)
    return Error::Local(EIO, "the transfer to " + path + " failed: " + s.error().Describe());
  return s;
}

void Filesystem::InvalidatePath(const std::string& collection_id, const std::string& path) {
  const std::string parent = ParentOf(path);
  cache_.Erase(collection_id + parent);
  cache_.ErasePrefix(collection_id + path);
  negative_.Erase(collection_id + path);
  // Every place the collection is mounted (by name and under .by-id): walk to the entry.
  std::vector<InodePtr> roots;
  for (Ino top : {kRootIno, kByIdIno})
    for (auto& [n, ino] : table_.Children(top))
      if (auto in = Inode(ino); in && in->role == Role::kCollectionRoot && in->collection &&
                                in->collection->id == collection_id)
        roots.push_back(in);
  for (const InodePtr& root : roots) {
    InodePtr dir = root;
    std::string rest = path.substr(1);
    std::string name;
    while (dir) {
      auto slash = rest.find('/');
      name = rest.substr(0, slash);
      if (slash == std::string::npos) break;
      dir = table_.Child(dir->ino, name);
      rest = rest.substr(slash + 1);
    }
    if (!dir || name.empty()) continue;
    if (auto in = table_.Child(dir->ino, name)) {
      in->Expire();
      if (notifier_) notifier_->InvalidateInode(in->ino);
    }
    if (notifier_) notifier_->InvalidateEntry(dir->ino, name);
  }
}

std::string Filesystem::HomeAlias(const std::string& collection_id, const std::string& path) {
  std::lock_guard<std::mutex> l(homes_mu_);
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

void Filesystem::OnSettled(const SettledEvent& e) {
  // Each path under both its names (the mount caches "~" and its real path apart).
  for (const Location* at : {&e.dst, e.src ? &*e.src : nullptr})
    if (at)
      if (std::string alias = HomeAlias(at->collection, at->path); !alias.empty())
        InvalidatePath(at->collection, alias);
  InvalidatePath(e.dst.collection, e.dst.path);
  if (e.src) {
    InvalidatePath(e.src->collection, e.src->path);
    // Gone remotely, unless the move left files that were not copied (then it shows again).
    if (e.ok && e.warning.empty()) negative_.Insert(e.src->collection + e.src->path);
  }
  if (!e.warning.empty()) {
    std::string msg = e.warning + " (globus-fuse status shows the details)";
    log::Warn("fs", msg);
    std::lock_guard<std::mutex> l(stats_mu_);
    RecentErrorLocked(msg);
    return;
  }
  if (e.ok || e.step) return;
  std::string msg = std::string(e.kind == OpKind::kMove ? "mv " : "cp ") + e.source.collection +
                    ":" + e.source.path + " -> " + e.dst.collection + ":" + e.dst.path +
                    " failed: " + e.error +
                    (e.kind == OpKind::kMove ? " (the source is untouched)" : "") +
                    " (globus-fuse status shows the details)";
  log::Warn("fs", msg);
  std::lock_guard<std::mutex> l(stats_mu_);
  RecentErrorLocked(msg);
}

void Filesystem::RecentErrorLocked(const std::string& msg) {
  recent_errors_.push_back(msg);
  if (recent_errors_.size() > 20) recent_errors_.erase(recent_errors_.begin());
}

// ---------------------------------------------------------------------------------------------
// files

Result<Opened> Filesystem::Open(Ino ino, int flags, const std::atomic<bool>* cancel) {
  auto in = Inode(ino);
  if (!in) return Error::Local(ESTALE, "unknown inode");
  if (in->kind == Kind::kDir) return Error::Local(EISDIR, "is a directory");
  auto h = std::make_shared<FileHandle>();
  h->inode = in;
  Opened o;
  if (in->role == Role::kControlFile) {
    if ((flags & O_ACCMODE) != O_RDONLY) return Error::Local(EACCES, "status is read-only");
    h->content = StatusJson();
    o.direct_io = true;  // generated content: its size is unknown to the kernel
  } else {
    if (in->role != Role::kRemote || in->kind != Kind::kFile)
      return Error::Local(EINVAL, "not a regular file");
    const Collection& c = *in->collection;
    std::string path = table_.Path(*in);
    const bool writing = (flags & O_ACCMODE) != O_RDONLY;
    if (!engine_ && (writing || (flags & O_TRUNC)))
      return LocalError("open", &c, path, EROFS, "writing files is not supported yet");
    if (engine_ && (flags & O_TRUNC) && pending_->PendingOp({c.id, path}).value_or(0) != 0) {
      GF_TRY_STATUS(WaitUntilSettled(c, path, "open"));
      in->Expire();
    }
    // has_pending: the name is in the overlay; pending_op: its op (0: a placeholder).
    const std::optional<OpId> shown = engine_ ? pending_->PendingOp({c.id, path}) : std::nullopt;
    const bool has_pending = shown.has_value();
    const OpId pending_op = shown.value_or(0);
    if (writing) {
      // A write handle: the destination of a cp. O_TRUNC makes a placeholder (empty, local);
      // the remote file stays as it is until a transfer replaces it.
      h->write = true;
      h->dst = Location{c.id, path};
    }
    // O_RDWR without O_TRUNC reads the remote content (writes are refused at write): it gets a
    // reader below, like O_RDONLY.
    if (writing && ((flags & O_ACCMODE) == O_WRONLY || (flags & O_TRUNC))) {
      Meta m;
      if (flags & O_TRUNC) {
        if (pending_op != 0)  // queued again meanwhile
          return LocalError("open", &c, path, EBUSY,
                            "a copy to this file is still pending (see globus-fuse status)");
        std::optional<Meta> old;
        if (has_pending) {
          old = overlay_->Pending(c.id, path);
        } else if (auto r = RefreshMeta(in); r.ok()) {
          old = *r;
        }
        m.type = api::EntryType::kFile;
        m.permissions = old ? old->permissions : 0644;
        m.mtime = std::chrono::system_clock::to_time_t(clock_.WallNow());
        h->placeholder = true;
      }
      {
        std::lock_guard<std::mutex> l(handles_mu_);
        o.fh = next_fh_++;
        files_[o.fh] = h;
      }
      if (h->placeholder) {
        pending_->AddPlaceholder(h->dst, m, o.fh);
        if (notifier_) notifier_->InvalidateInode(ino);
      }
      return o;
    }
    if (has_pending && pending_op == 0) {
      o.direct_io = true;  // a placeholder reads as empty
      std::lock_guard<std::mutex> l(handles_mu_);
      o.fh = next_fh_++;
      files_[o.fh] = h;
      return o;
    }
    if (has_pending) {
      // A pending copy destination: its content exists once the transfer succeeded.
      GF_TRY_STATUS(WaitOp(pending_op, true, cancel, "open", &c, path));
      in->Expire();
    }
    auto m = RefreshMeta(in);
    if (!m.ok()) return m.error();
    if (m->type != api::EntryType::kFile)
      return LocalError("open", &c, path, EOPNOTSUPP,
                        "special files (devices, pipes) cannot be read over HTTPS");
    if (!c.https_server || c.https_server->empty())
      return Report(
          "open", &c, path,
          Error::NotSupported("this collection has no HTTPS server (Globus Connect Personal "
                              "collections do not), so file contents cannot be read through the "
                              "mount; copy the file to another collection with cp instead"));
    {
      std::lock_guard<std::mutex> l(in->mu);
      o.keep_cache = in->state.opened_before && in->state.open_size == m->size &&
                     in->state.open_mtime == m->mtime;
      in->state.opened_before = true;
      in->state.open_size = m->size;
      in->state.open_mtime = m->mtime;
    }
    ReadOptions ro;
    ro.max_window = std::max<uint64_t>(options_.readahead_max, 128u << 10);
    ro.initial_window = std::min(ro.initial_window, ro.max_window);
    ro.parallelism = std::max(options_.read_parallelism, 1);
    ro.part_size = std::max<uint64_t>(options_.read_part_size, 64u << 10);
    h->reader = std::make_unique<FileReader>(remote_, read_queue_, memory_, ro,
                                             api::CollectionRef{c.id, *c.https_server},
                                             HttpsPath(c, path), m->size);
  }
  std::lock_guard<std::mutex> l(handles_mu_);
  o.fh = next_fh_++;
  files_[o.fh] = h;
  return o;
}

Result<ReadData> Filesystem::Read(uint64_t fh, uint64_t offset, uint64_t size,
                                  const std::atomic<bool>* cancel) {
  std::shared_ptr<FileHandle> h;
  {
    std::lock_guard<std::mutex> l(handles_mu_);
    auto it = files_.find(fh);
    if (it == files_.end()) return Error::Local(EBADF, "unknown file handle");
    h = it->second;
  }
  if (!h->reader) {
    if (offset >= h->content.size()) return ReadData();
    return ReadData(h->content.substr(offset, size));
  }
  auto r = h->reader->Read(offset, size, cancel);
  if (!r.ok()) {
    const Collection* c = h->inode->collection;
    std::string path = table_.Path(*h->inode);
    if (ErrnoFor(r.error()) == ESTALE) {
      // The file changed remotely: forget what we (and the kernel) know about it.
      h->inode->Expire();
      {
        std::lock_guard<std::mutex> l(h->inode->mu);
        h->inode->state.opened_before = false;
      }
      cache_.Erase(Key(*c, ParentOf(path)));
      if (notifier_) notifier_->InvalidateInode(h->inode->ino);
    }
    if (r.error().transport == TransportFailure::kAborted) return r.error();
    return Report("read", c, path, r.error());
  }
  return r;
}

void Filesystem::Release(uint64_t fh) {
  std::shared_ptr<FileHandle> h;
  {
    std::lock_guard<std::mutex> l(handles_mu_);
    auto it = files_.find(fh);
    if (it == files_.end()) return;
    h = std::move(it->second);
    files_.erase(it);
  }
  if (h->write && pending_) {
    bool unused = false, refused = false;
    {
      std::lock_guard<std::mutex> l(h->mu);
      unused = h->placeholder && h->op == 0;
      refused = h->write_refused;
    }
    // A created (or truncated) file that never received a copy: if data was refused, it leaves
    // nothing behind (the remote file is untouched). Otherwise the caller made an EMPTY file --
    // `cp` of an empty file (the kernel answers its copy_file_range itself), `touch`, `: > f`
    // -- and one 0-byte PUT makes it real. Decided here, at the last close, not at a FLUSH: a
    // shell redirect closes a dup of the file before its command writes.
    if (unused && !refused && h->inode && h->inode->collection && HasHttps(*h->inode->collection)) {
      const Collection& c = *h->inode->collection;
      Status s =
          remote_.Put(api::CollectionRef{c.id, *c.https_server}, HttpsPath(c, h->dst.path), "");
      if (!s.ok()) Report("close", &c, h->dst.path, s.error());  // close(2) has returned
    }
    if (unused && pending_->DropPlaceholder(h->dst, fh))
      InvalidatePath(h->dst.collection, h->dst.path);
  }
  h.reset();  // outside the lock: cancels in-flight parts
}

// ---------------------------------------------------------------------------------------------
// xattrs and control

Result<std::vector<std::string>> Filesystem::ListXattr(Ino ino) {
  auto in = Inode(ino);
  if (!in) return Error::Local(ESTALE, "unknown inode");
  std::vector<std::string> names;
  // On a symlink the kernel refuses every user.* getxattr itself (ENODATA): list none.
  if (!in->collection || in->kind == Kind::kSymlink) return names;
  names = {"user.globus.collection_id", "user.globus.path"};
  if (in->kind == Kind::kFile && in->collection->https_server)
    names.push_back("user.globus.https_url");
  for (auto& [k, v] : overlay_->Xattrs(in->collection->id, table_.Path(*in))) names.push_back(k);
  return names;
}

Result<std::string> Filesystem::GetXattr(Ino ino, const std::string& name) {
  auto in = Inode(ino);
  if (!in) return Error::Local(ESTALE, "unknown inode");
  // Only the user namespace exists here. Answering ENOTSUP (not ENODATA) for security.*,
  // system.* (POSIX ACLs) and trusted.* lets tools cache "unsupported" for the whole
  // filesystem: coreutils' `ls -l` then asks once per mount instead of twice per file, which is
  // 20000 kernel round trips saved on a 10k-entry directory. (ENOSYS would be worse: the kernel
  // would stop forwarding every getxattr, user.globus.* included.)
  if (name.rfind("user.", 0) != 0) return Error::Local(EOPNOTSUPP, "only user.* xattrs exist");
  if (in->collection) {
    const Collection& c = *in->collection;
    std::string path = table_.Path(*in);
    if (in->role == Role::kHome) path = "/~/";
    if (name == "user.globus.collection_id") return c.id;
    if (name == "user.globus.path") return path;
    if (name == "user.globus.https_url" && in->kind == Kind::kFile && c.https_server)
      return api::DataApi::FileUrl(api::CollectionRef{c.id, *c.https_server}, HttpsPath(c, path));
    for (auto& [k, v] : overlay_->Xattrs(c.id, path))
      if (k == name) return v;
  }
  return Error::Local(ENODATA, "no such attribute");
}

Status Filesystem::SetXattr(Ino ino, const std::string& name, const std::string& value) {
  (void)value;
  if (name == kInvalidateXattr) return Invalidate(ino);
  return Error::Local(EOPNOTSUPP, "only " + std::string(kInvalidateXattr) + " can be set");
}

Status Filesystem::Invalidate(Ino ino) {
  auto in = Inode(ino);
  if (!in) return Error::Local(ESTALE, "unknown inode");
  if (in->role == Role::kRoot || in->role == Role::kById) {
    registry_.Refresh();
  } else if (in->collection) {
    std::string path = table_.Path(*in);
    const Collection& c = *in->collection;
    if (in->kind == Kind::kDir) {
      cache_.ErasePrefix(Key(c, path == "/" ? "" : path));
      negative_.ErasePrefix(Key(c, path == "/" ? "" : path));
      if (path == "/") {
        cache_.Erase(Key(c, "/"));
      }
    } else {
      cache_.Erase(Key(c, ParentOf(path)));
      negative_.Erase(Key(c, path));
    }
  }
  // The kernel caches "no such file" as negative entries that no name of ours reaches: dropping
  // this inode's own entry drops its cached children, negative ones included. (The mount root
  // has no entry; its children's are dropped below.)
  if (notifier_ && ino != kRootIno)
    notifier_->InvalidateEntry(table_.ParentIno(*in), table_.Name(*in));
  // Expire every inode at or below this one and tell the kernel.
  std::deque<Ino> todo{ino};
  std::size_t visited = 0;
  while (!todo.empty() && visited < 1000000) {
    Ino cur = todo.front();
    todo.pop_front();
    ++visited;
    if (auto ci = Inode(cur)) {
      ci->Expire();
      std::lock_guard<std::mutex> l(ci->mu);
      ci->state.opened_before = false;
    }
    if (notifier_) notifier_->InvalidateInode(cur);
    for (auto& [name, child] : table_.Children(cur)) {
      if (cur == kRootIno && (child == kControlDirIno || child == kByIdIno)) continue;
      if (notifier_) notifier_->InvalidateEntry(cur, name);
      todo.push_back(child);
    }
  }
  return Status::Ok();
}

StatFs Filesystem::Statfs() const {
  StatFs s;
  s.bsize = 4096;
  s.blocks = 1ull << 40;  // "plenty": the real capacity of a collection is unknown
  s.bfree = s.bavail = 1ull << 40;
  s.files = 1ull << 32;
  s.ffree = 1ull << 32;
  s.namemax = 255;
  return s;
}

std::string Filesystem::StatusJson() {
  namespace rj = rapidjson;
  rj::StringBuffer buf;
  rj::Writer<rj::StringBuffer> w(buf);
  w.StartObject();
  w.Key("version");
  w.String(GF_VERSION);
  w.Key("mount_point");
  w.String(options_.mount_point.c_str());
  w.Key("pid");
  w.Int(static_cast<int>(getpid()));
  w.Key("uptime_seconds");
  w.Double(std::chrono::duration<double>(clock_.Now() - started_).count());
  w.Key("collections");
  w.StartArray();
  for (const auto& e : registry_.List()) {
    w.StartObject();
    w.Key("name");
    w.String(e.name.c_str());
    switch (e.type) {
      case RootEntry::Type::kCollection:
        w.Key("id");
        w.String(e.collection->id.c_str());
        w.Key("display_name");
        w.String(e.collection->display_name.c_str());
        w.Key("entity_type");
        w.String(e.collection->entity_type.c_str());
        w.Key("https_server");
        if (e.collection->https_server)
          w.String(e.collection->https_server->c_str());
        else
          w.Null();
        break;
      case RootEntry::Type::kBookmark:
        w.Key("bookmark");
        w.String(e.link_target.c_str());
        break;
      case RootEntry::Type::kUnresolved:
        w.Key("id");
        w.String(e.id.c_str());
        w.Key("unresolved");
        w.Bool(true);
        break;
    }
    w.EndObject();
  }
  w.EndArray();
  w.Key("not_shown");  // configured collections and bookmarks missing from the root, and why
  w.StartArray();
  for (const auto& [what, why] : registry_.NotShown()) {
    w.StartObject();
    w.Key("what");
    w.String(what.c_str());
    w.Key("why");
    w.String(why.c_str());
    w.EndObject();
  }
  w.EndArray();
  w.Key("cache");
  w.StartObject();
  w.Key("inodes");
  w.Uint64(table_.size());
  w.Key("listings");
  w.Uint64(cache_.listings());
  w.Key("listing_entries");
  w.Uint64(cache_.entries());
  w.Key("listing_evictions");
  w.Uint64(cache_.evictions());
  w.Key("max_cached_entries");
  w.Uint64(options_.max_cached_entries);
  w.Key("negative_entries");
  w.Uint64(negative_.size());
  w.Key("lookups_from_cache");
  w.Uint64(lookups_from_cache_.load());
  w.Key("prefetch_scheduled");
  w.Uint64(prefetch_scheduled_.load());
  w.EndObject();
  w.Key("reads");
  w.StartObject();
  w.Key("bytes");
  w.Uint64(remote_.bytes_read());
  w.Key("buffer_bytes");
  w.Uint64(memory_.used());
  w.Key("buffer_peak_bytes");
  w.Uint64(memory_.peak());
  w.Key("buffer_limit_bytes");
  w.Uint64(memory_.limit());
  w.Key("readahead_refusals");
  w.Uint64(memory_.refusals());
  w.EndObject();
  w.Key("api_calls");
  w.StartObject();
  auto counts = remote_.Counts();  // the fs core's calls, then the transfer engine's
  for (const auto& [op, n] : engine_remote_.Counts()) {
    counts[op].calls += n.calls;
    counts[op].errors += n.errors;
  }
  for (const auto& [op, n] : counts) {
    w.Key(op.c_str());
    w.StartObject();
    w.Key("calls");
    w.Uint64(n.calls);
    w.Key("errors");
    w.Uint64(n.errors);
    w.EndObject();
  }
  w.EndObject();
  w.Key("api_client");
  w.StartObject();
  if (extra_)
    for (const auto& [k, v] : extra_()) {
      w.Key(k.c_str());
      w.Double(v);
    }
  w.EndObject();
  {
    std::lock_guard<std::mutex> l(stats_mu_);
    w.Key("errors");
    w.StartObject();
    w.Key("by_errno");
    w.StartObject();
    for (const auto& [err, n] : errors_by_errno_) {
      w.Key(std::to_string(err).c_str());
      w.Uint64(n);
    }
    w.EndObject();
    w.Key("recent");
    w.StartArray();
    for (const auto& m : recent_errors_) w.String(m.c_str());
    w.EndArray();
    w.EndObject();
  }
  w.Key("pending_authorizations");
  {
    std::string pa = pending_auth_ ? pending_auth_() : std::string("[]");
    w.RawValue(pa.c_str(), pa.size(), rapidjson::kArrayType);
  }
  w.Key("transfers");  // cp/mv as transfer tasks: PendingOverlay::StatusJson
  if (pending_) {
    std::string t = pending_->StatusJson();
    w.RawValue(t.c_str(), t.size(), rapidjson::kObjectType);
  } else {
    w.StartObject();
    w.Key("implemented");
    w.Bool(false);
    w.EndObject();
  }
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize()) + "\n";
}

}  // namespace gf::fs
