// FakeRemote: files, listings, metadata and data (the task half is fake_remote_tasks.cc).
#include "tests/support/fake_remote.h"

#include <fnmatch.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <functional>
#include <utility>

#include "common/cancel.h"

namespace gf::testing {

namespace {
std::string Parent(const std::string& norm) {
  if (norm == "/") return "/";
  auto slash = norm.rfind('/');
  return slash == 0 ? "/" : norm.substr(0, slash);
}
std::string BaseName(const std::string& norm) { return norm.substr(norm.rfind('/') + 1); }

bool IsChildOf(const std::string& path, const std::string& dir) {
  if (dir == "/") return path.size() > 1 && path.find('/', 1) == std::string::npos;
  return path.size() > dir.size() + 1 && path.compare(0, dir.size(), dir) == 0 &&
         path[dir.size()] == '/' && path.find('/', dir.size() + 1) == std::string::npos;
}
bool IsUnder(const std::string& path, const std::string& dir) {
  if (path == dir) return true;
  if (dir == "/") return true;
  return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
         path[dir.size()] == '/';
}

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

Error NoCollection(const std::string& id) {
  return Error::Api(404, "EndpointNotFound", "No such endpoint '" + id + "'");
}

// Deterministic bytes for nodes that report a size without holding content.
char PatternByte(uint64_t pos) { return static_cast<char>('a' + pos % 26); }
}  // namespace

FakeRemote::FakeRemote() = default;

std::string FakeRemote::Normalize(const std::string& path) {
  std::string out = "/";
  std::size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    std::size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    if (j > i) {
      if (out.size() > 1) out += '/';
      out += path.substr(i, j - i);
    }
    i = j;
  }
  return out;
}

// ---- building the world ----

void FakeRemote::AddCollection(api::Endpoint e) {
  std::lock_guard<std::mutex> l(mu_);
  std::string id = e.id;
  collections_[id] = std::move(e);
  Node root;
  root.type = api::EntryType::kDir;
  root.permissions = 0755;
  trees_[id].emplace("/", root);
}

void FakeRemote::AddFile(const std::string& collection, const std::string& path,
                         std::string content, std::time_t mtime, uint32_t permissions) {
  Node n;
  n.type = api::EntryType::kFile;
  n.content = std::move(content);
  n.mtime = mtime;
  n.permissions = permissions;
  SetNode(collection, path, std::move(n));
}

void FakeRemote::AddDir(const std::string& collection, const std::string& path,
                        uint32_t permissions) {
  Node n;
  n.type = api::EntryType::kDir;
  n.permissions = permissions;
  SetNode(collection, path, std::move(n));
}

void FakeRemote::AddSymlink(const std::string& collection, const std::string& path,
                            std::string target) {
  Node n;
  n.type = api::EntryType::kSymlink;
  n.link_target = std::move(target);
  n.permissions = 0777;
  SetNode(collection, path, std::move(n));
}

void FakeRemote::SetNode(const std::string& collection, const std::string& path, Node n) {
  std::lock_guard<std::mutex> l(mu_);
  auto& tree = trees_[collection];
  std::string p = Normalize(path);
  // Create missing parents as directories, like `mkdir -p`.
  std::string parent = Parent(p);
  std::vector<std::string> missing;
  while (parent != "/" && !tree.count(parent)) {
    missing.push_back(parent);
    parent = Parent(parent);
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    Node d;
    d.type = api::EntryType::kDir;
    d.permissions = 0755;
    tree.emplace(*it, d);
  }
  if (!tree.count("/")) {
    Node d;
    d.type = api::EntryType::kDir;
    d.permissions = 0755;
    tree.emplace("/", d);
  }
  tree[p] = std::move(n);
}

void FakeRemote::Remove(const std::string& collection, const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  auto& tree = trees_[collection];
  std::string p = Normalize(path);
  for (auto it = tree.begin(); it != tree.end();) {
    if (it->first != "/" && IsUnder(it->first, p))
      it = tree.erase(it);
    else
      ++it;
  }
}

bool FakeRemote::Exists(const std::string& collection, const std::string& path) const {
  return Get(collection, path).has_value();
}

std::optional<FakeRemote::Node> FakeRemote::Get(const std::string& collection,
                                                const std::string& path) const {
  std::lock_guard<std::mutex> l(mu_);
  auto t = trees_.find(collection);
  if (t == trees_.end()) return std::nullopt;
  auto n = t->second.find(Normalize(path));
  if (n == t->second.end()) return std::nullopt;
  return n->second;
}

void FakeRemote::AddBookmark(api::Bookmark b) {
  std::lock_guard<std::mutex> l(mu_);
  if (b.id.empty()) b.id = "bookmark-" + std::to_string(next_id_++);
  bookmarks_.push_back(std::move(b));
}

// ---- observing and steering ----

int FakeRemote::Calls(const std::string& op) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = calls_.find(op);
  return it == calls_.end() ? 0 : it->second;
}

void FakeRemote::ResetCalls() {
  std::lock_guard<std::mutex> l(mu_);
  calls_.clear();
}

void FakeRemote::FailNext(const std::string& op, Error e, int count) {
  std::lock_guard<std::mutex> l(mu_);
  for (int i = 0; i < count; ++i) failures_[op].push_back(e);
}

void FakeRemote::CloseGate(const std::string& op) {
  std::lock_guard<std::mutex> l(gate_mu_);
  gate_closed_[op] = true;
}

void FakeRemote::ReleaseGate(const std::string& op) {
  {
    std::lock_guard<std::mutex> l(gate_mu_);
    gate_closed_[op] = false;
  }
  gate_cv_.notify_all();
}

void FakeRemote::PassGate(const std::string& op) {
  {
    std::lock_guard<std::mutex> l(gate_mu_);
    ++gate_passes_[op];
  }
  gate_cv_.notify_all();
}

int FakeRemote::Blocked(const std::string& op) const {
  std::lock_guard<std::mutex> l(gate_mu_);
  auto it = gate_waiting_.find(op);
  return it == gate_waiting_.end() ? 0 : it->second;
}

void FakeRemote::SetHome(const std::string& collection, const std::string& absolute,
                         bool tilde_over_https) {
  std::lock_guard<std::mutex> l(mu_);
  homes_[collection] = Home{absolute, tilde_over_https};
}

void FakeRemote::SetIgnoreRange(bool on) {
  std::lock_guard<std::mutex> l(mu_);
  ignore_range_ = on;
}

void FakeRemote::SetRenameOntoExisting(RenameOntoExisting mode) {
  std::lock_guard<std::mutex> l(mu_);
  rename_mode_ = mode;
}

void FakeRemote::SetPutLimit(std::optional<uint64_t> bytes) {
  std::lock_guard<std::mutex> l(mu_);
  put_limit_ = bytes;
}

void FakeRemote::CutNextPut(uint64_t bytes) {
  std::lock_guard<std::mutex> l(mu_);
  cut_next_put_ = bytes;
}

uint64_t FakeRemote::BytesServed() const {
  std::lock_guard<std::mutex> l(mu_);
  return bytes_served_;
}

uint64_t FakeRemote::BytesReceived() const {
  std::lock_guard<std::mutex> l(mu_);
  return bytes_received_;
}

std::optional<Error> FakeRemote::Enter(const std::string& op) {
  {
    std::lock_guard<std::mutex> l(mu_);
    ++calls_[op];
  }
  {
    std::unique_lock<std::mutex> l(gate_mu_);
    if (gate_closed_[op]) {
      ++gate_waiting_[op];
      gate_cv_.wait(l, [&] { return !gate_closed_[op] || gate_passes_[op] > 0; });
      if (gate_closed_[op]) --gate_passes_[op];
      --gate_waiting_[op];
    }
  }
  std::lock_guard<std::mutex> l(mu_);
  auto it = failures_.find(op);
  if (it == failures_.end() || it->second.empty()) return std::nullopt;
  Error e = it->second.front();
  it->second.erase(it->second.begin());
  return e;
}

// ---- TransferApi ----

Result<api::Endpoint> FakeRemote::GetEndpoint(const std::string& id) {
  if (auto e = Enter("get_endpoint")) return *e;
  std::lock_guard<std::mutex> l(mu_);
  auto it = collections_.find(id);
  if (it == collections_.end()) return NoCollection(id);
  return it->second;
}

Result<std::vector<api::Endpoint>> FakeRemote::EndpointSearch(const api::EndpointSearchQuery& q) {
  if (auto e = Enter("endpoint_search")) return *e;
  std::lock_guard<std::mutex> l(mu_);
  if (!q.filter_scope.empty() && q.filter_scope != "all")
    return Error::NotSupported("FakeRemote: endpoint_search filter_scope " + q.filter_scope);
  std::string needle = Lower(q.filter_fulltext);
  std::vector<api::Endpoint> out;
  for (const auto& [id, e] : collections_) {
    if (q.filter_non_functional && *q.filter_non_functional != e.non_functional) continue;
    if (!needle.empty() && Lower(e.display_name).find(needle) == std::string::npos &&
        Lower(id) != needle)
      continue;
    out.push_back(e);
  }
  std::size_t off =
      std::min<std::size_t>(static_cast<std::size_t>(std::max(q.offset, 0)), out.size());
  std::size_t end = std::min(out.size(), off + static_cast<std::size_t>(std::max(q.limit, 0)));
  return std::vector<api::Endpoint>(out.begin() + static_cast<std::ptrdiff_t>(off),
                                    out.begin() + static_cast<std::ptrdiff_t>(end));
}

Result<std::vector<api::Bookmark>> FakeRemote::BookmarkList() {
  if (auto e = Enter("bookmark_list")) return *e;
  std::lock_guard<std::mutex> l(mu_);
  return bookmarks_;
}

namespace {
api::FileEntry ToEntry(const std::string& name, const FakeRemote::Node& n) {
  api::FileEntry f;
  f.name = name;
  f.type = n.type;
  f.size = n.type == api::EntryType::kDir ? 4096 : n.size_override.value_or(n.content.size());
  f.last_modified = n.mtime;
  f.permissions = n.permissions;
  f.user = "owner";
  f.group = "group";
  if (n.type == api::EntryType::kSymlink || n.type == api::EntryType::kInvalidSymlink ||
      !n.link_target.empty())
    f.link_target = n.link_target;
  return f;
}

// The subset of `ls` filters the fake understands; anything else is refused loudly.
Result<std::function<bool(const api::FileEntry&)>> ParseFilter(const std::string& f) {
  if (f.rfind("type:", 0) == 0) {
    std::string want = f.substr(5);
    return std::function<bool(const api::FileEntry&)>([want](const api::FileEntry& e) {
      bool dir = e.type == api::EntryType::kDir;
      return want == "dir" ? dir : want == "file" ? !dir : false;
    });
  }
  if (f.rfind("name:~", 0) == 0) {
    std::string glob = f.substr(6);
    return std::function<bool(const api::FileEntry&)>(
        [glob](const api::FileEntry& e) { return fnmatch(glob.c_str(), e.name.c_str(), 0) == 0; });
  }
  return Error::NotSupported("FakeRemote: ls filter " + f);
}
}  // namespace

Result<api::FileList> FakeRemote::Ls(const std::string& collection, const api::LsQuery& q) {
  if (auto e = Enter("ls")) return *e;
  std::vector<std::function<bool(const api::FileEntry&)>> filters;
  for (const auto& f : q.filters) {
    auto pf = ParseFilter(f);
    if (!pf.ok()) return pf.error();
    filters.push_back(*pf);
  }
  std::lock_guard<std::mutex> l(mu_);
  auto t = trees_.find(collection);
  if (t == trees_.end()) return NoCollection(collection);
  std::string p = Normalize(q.path);
  auto n = t->second.find(p);
  if (n == t->second.end())
    return Error::Api(404, "ClientError.NotFound", "Directory '" + q.path + "' not found");
  if (n->second.type != api::EntryType::kDir)
    return Error::Api(502, "ExternalError.DirListingFailed.NotDirectory",
                      "Path '" + q.path + "' is not a directory");
  std::vector<api::FileEntry> all;
  for (auto it = t->second.upper_bound(p); it != t->second.end(); ++it) {
    if (!IsUnder(it->first, p)) break;
    if (!IsChildOf(it->first, p)) continue;
    std::string name = BaseName(it->first);
    if (!q.show_hidden && !name.empty() && name[0] == '.') continue;
    api::FileEntry fe = ToEntry(name, it->second);
    bool keep = true;
    for (const auto& f : filters) keep = keep && f(fe);
    if (keep) all.push_back(std::move(fe));
  }
  if (!q.orderby.empty() && q.orderby != "name")
    return Error::NotSupported("FakeRemote: ls orderby " + q.orderby);
  std::sort(all.begin(), all.end(),
            [](const api::FileEntry& a, const api::FileEntry& b) { return a.name < b.name; });
  uint64_t limit = std::min<uint64_t>(q.limit.value_or(100000), 100000);
  uint64_t off = std::min<uint64_t>(q.offset.value_or(0), all.size());
  uint64_t end = std::min<uint64_t>(all.size(), off + limit);
  api::FileList out;
  out.path = p == "/" ? "/" : p + "/";
  if (auto h = homes_.find(collection); h != homes_.end() && (p == "/~" || p.rfind("/~/", 0) == 0))
    out.absolute_path = h->second.absolute + p.substr(2) + "/";
  out.endpoint = collection;
  out.total = all.size();
  out.rename_supported = true;
  out.symlink_supported = true;
  out.entries.assign(std::make_move_iterator(all.begin() + static_cast<std::ptrdiff_t>(off)),
                     std::make_move_iterator(all.begin() + static_cast<std::ptrdiff_t>(end)));
  out.length = out.entries.size();
  return out;
}

Result<api::FileEntry> FakeRemote::Stat(const std::string& collection, const std::string& path) {
  if (auto e = Enter("stat")) return *e;
  std::lock_guard<std::mutex> l(mu_);
  auto t = trees_.find(collection);
  if (t == trees_.end()) return NoCollection(collection);
  std::string p = Normalize(path);
  auto n = t->second.find(p);
  if (n == t->second.end())
    return Error::Api(404, "NotFound", "Path not found, Error (list)\nMessage: No such file");
  return ToEntry(p == "/" ? "/" : BaseName(p), n->second);
}

Status FakeRemote::Mkdir(const std::string& collection, const std::string& path) {
  if (auto e = Enter("mkdir")) return *e;
  std::lock_guard<std::mutex> l(mu_);
  auto t = trees_.find(collection);
  if (t == trees_.end()) return NoCollection(collection);
  std::string p = Normalize(path);
  if (t->second.count(p))
    return Error::Api(502, "ExternalError.MkdirFailed.Exists", "Path already exists: " + path);
  auto parent = t->second.find(Parent(p));
  if (parent == t->second.end() || parent->second.type != api::EntryType::kDir)
    return Error::Api(502, "ExternalError.MkdirFailed",
                      "Fatal FTP response: No such file or directory");
  Node d;
  d.type = api::EntryType::kDir;
  d.permissions = 0755;
  t->second.emplace(p, d);
  return Status::Ok();
}

Status FakeRemote::Rename(const std::string& collection, const std::string& old_path,
                          const std::string& new_path) {
  if (auto e = Enter("rename")) return *e;
  std::lock_guard<std::mutex> l(mu_);
  auto t = trees_.find(collection);
  if (t == trees_.end()) return NoCollection(collection);
  auto& tree = t->second;
  std::string from = Normalize(old_path), to = Normalize(new_path);
  if (!tree.count(from) || from == "/")
    return Error::Api(502, "ExternalError.RenameFailed.NotFound", "No such file: " + old_path);
  if (auto target = tree.find(to); target != tree.end()) {
    const bool replace = rename_mode_ == RenameOntoExisting::kReplace && to != from &&
                         target->second.type != api::EntryType::kDir &&
                         tree.at(from).type != api::EntryType::kDir;
    if (!replace)
      return Error::Api(502, "ExternalError.RenameFailed.Exists",
                        "Destination exists: " + new_path);
    tree.erase(target);
  }
  auto parent = tree.find(Parent(to));
  if (parent == tree.end() || parent->second.type != api::EntryType::kDir)
    return Error::Api(502, "ExternalError.RenameFailed.NotFound",
                      "Destination parent does not exist: " + new_path);
  if (IsUnder(to, from))
    return Error::Api(400, "ClientError.BadRequest", "Cannot move a directory into itself");
  std::map<std::string, Node> moved;
  for (auto it = tree.begin(); it != tree.end();) {
    if (IsUnder(it->first, from)) {
      moved.emplace(to + it->first.substr(from.size()), std::move(it->second));
      it = tree.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& [k, v] : moved) tree[k] = std::move(v);
  return Status::Ok();
}

// ---- DataApi ----

Result<api::RangeResult> FakeRemote::GetRange(const api::CollectionRef& c, const std::string& path,
                                              uint64_t offset, uint64_t length,
                                              const std::function<bool(std::string_view)>& sink,
                                              const std::atomic<bool>* cancel) {
  if (auto e = Enter("get")) return *e;
  if (cancel && cancel->load()) return Error::Transport(TransportFailure::kAborted, "cancelled");
  std::string body;
  std::time_t mtime = 0;
  bool ignore = false;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto col = collections_.find(c.id);
    if (col == collections_.end()) return NoCollection(c.id);
    if (!col->second.https_server || *col->second.https_server != c.https_server)
      return Error::Transport(TransportFailure::kConnect,
                              "FakeRemote: no HTTPS server '" + c.https_server + "' for " + c.id);
    auto& tree = trees_[c.id];
    auto tree_path = HttpsTreePathLocked(c.id, path);
    if (!tree_path) return Error::Api(404, "", "Not Found");
    auto n = tree.find(*tree_path);
    if (n == tree.end()) return Error::Api(404, "", "Not Found");
    if (n->second.type == api::EntryType::kDir) return Error::Api(403, "", "Is a directory");
    if (n->second.size_override && n->second.content.empty()) {
      uint64_t size = *n->second.size_override;
      uint64_t end = std::min(size, offset + length);
      for (uint64_t i = std::min(offset, end); i < end; ++i) body += PatternByte(i);
      // Emulate only the served window; record the real total below.
      api::RangeResult r;
      r.total_size = size;
      r.last_modified = n->second.mtime;
      r.etag = "\"" + std::to_string(size) + "-" + std::to_string(n->second.mtime) + "\"";
      r.range_ignored = ignore_range_;
      bytes_served_ += ignore_range_ ? end : body.size();
      r.bytes = body.size();
      if (!body.empty() && !sink(body))
        return Error::Transport(TransportFailure::kAborted, "sink refused");
      return r;
    }
    body = n->second.content;
    mtime = n->second.mtime;
    ignore = ignore_range_;
  }
  api::RangeResult r;
  r.total_size = body.size();
  r.last_modified = mtime;
  r.etag =
      "\"" + std::to_string(std::hash<std::string>{}(body)) + "-" + std::to_string(mtime) + "\"";
  r.range_ignored = ignore;
  uint64_t start = std::min<uint64_t>(offset, body.size());
  uint64_t end = std::min<uint64_t>(body.size(), offset + length);
  {
    // A Range-ignoring server sends from byte 0; the client reads until it has what it needs.
    std::lock_guard<std::mutex> l(mu_);
    bytes_served_ += ignore ? end : end - start;
  }
  r.bytes = end - start;
  if (end > start && !sink(std::string_view(body).substr(start, end - start)))
    return Error::Transport(TransportFailure::kAborted, "sink refused");
  return r;
}

Status FakeRemote::Put(const api::CollectionRef& c, const std::string& path,
                       const api::UploadBody& body, const std::atomic<bool>* cancel) {
  if (auto e = Enter("put")) return *e;
  if (cancel && cancel->load()) return Error::Transport(TransportFailure::kAborted, "cancelled");
  {
    std::lock_guard<std::mutex> l(mu_);
    auto col = collections_.find(c.id);
    if (col == collections_.end()) return NoCollection(c.id);
    if (!col->second.https_server)
      return Error::Transport(TransportFailure::kConnect, "FakeRemote: no HTTPS server");
    if (put_limit_ && body.size > *put_limit_)
      return Error::Api(413, "", "Request Entity Too Large");
  }
  // Read the body as a transport would: from the descriptor, from offset 0, outside the lock.
  std::string content;
  content.reserve(static_cast<std::size_t>(body.size));
  char buf[4096];
  while (content.size() < body.size) {
    const std::size_t want =
        static_cast<std::size_t>(std::min<uint64_t>(sizeof buf, body.size - content.size()));
    const ssize_t n = ::pread(body.fd, buf, want, static_cast<off_t>(content.size()));
    if (n <= 0) {
      Error e = Error::Transport(TransportFailure::kOther, "FakeRemote: reading the PUT body");
      e.sys_errno = n < 0 ? errno : EIO;
      return e;
    }
    content.append(buf, static_cast<std::size_t>(n));
    if (body.progress) body.progress->store(content.size());
  }
  std::lock_guard<std::mutex> l(mu_);
  auto& tree = trees_[c.id];
  std::string p = Normalize(path);
  auto parent = tree.find(Parent(p));
  if (parent == tree.end() || parent->second.type != api::EntryType::kDir)
    return Error::Api(404, "not_found", "Parent directory does not exist");
  auto n = tree.find(p);
  if (n != tree.end() && n->second.type == api::EntryType::kDir)
    return Error::Api(409, "conflict", "Is a directory");
  std::optional<uint64_t> cut = std::exchange(cut_next_put_, std::nullopt);
  if (cut && *cut < content.size()) content.resize(static_cast<std::size_t>(*cut));
  Node f;
  f.type = api::EntryType::kFile;
  f.content = std::move(content);
  bytes_received_ += f.content.size();
  tree[p] = std::move(f);
  if (cut) return Error::Transport(TransportFailure::kReset, "FakeRemote: PUT cut off mid-body");
  return Status::Ok();
}

std::optional<std::string> FakeRemote::HttpsTreePathLocked(const std::string& collection,
                                                           const std::string& path) const {
  std::string p = Normalize(path);
  if (auto h = homes_.find(collection); h != homes_.end()) {
    const std::string& abs = h->second.absolute;
    if ((p == "/~" || p.rfind("/~/", 0) == 0) && !h->second.tilde_over_https) return std::nullopt;
    if (p.rfind(abs + "/", 0) == 0) p = "/~" + p.substr(abs.size());
  }
  return p;
}

Status FakeRemote::Delete(const api::CollectionRef& c, const std::string& path) {
  if (auto e = Enter("delete")) return *e;
  // Like RequestExecutor: the calling thread's published cancel flag (a FUSE request's Ctrl-C)
  // aborts the request.
  if (Cancelled(CancelScope::Current()))
    return Error::Transport(TransportFailure::kAborted, "FakeRemote: DELETE interrupted");
  std::lock_guard<std::mutex> l(mu_);
  auto col = collections_.find(c.id);
  if (col == collections_.end()) return NoCollection(c.id);
  if (!col->second.https_server)
    return Error::Transport(TransportFailure::kConnect, "FakeRemote: no HTTPS server");
  auto& tree = trees_[c.id];
  auto p = HttpsTreePathLocked(c.id, path);
  if (!p) return Error::Api(404, "", "Not Found");
  auto n = tree.find(*p);
  if (n == tree.end()) return Error::Api(404, "", "Not Found");
  // DELETE of a directory is UNVERIFIED on the real server; the client never sends one.
  if (n->second.type == api::EntryType::kDir) return Error::Api(409, "", "Is a directory");
  tree.erase(n);
  return Status::Ok();
}

}  // namespace gf::testing
