// mount, unmount, status, drop-caches.
//
// `mount` wires the Context's TransferClient/HttpsClient into fs::Filesystem and runs the FUSE
// session (fs/fuse/mount.h). `status` reads MOUNT/.globus-fuse/status, a virtual JSON file served
// by the mount itself (no socket, no extra daemon plumbing; it exists exactly while the mount
// does). `drop-caches PATH` sets the `user.globus.invalidate` xattr on PATH, which the mount
// handles by dropping its caches for PATH (and below) and invalidating the kernel's; it then
// reads that xattr at the mount root, which returns once the kernel has been told.
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <rapidjson/document.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <thread>
#include <utility>

#include "auth/authorization_broker.h"
#include "cli/commands.h"
#include "cli/context.h"
#include "cli/mount_status.h"
#include "common/cancel.h"
#include "common/fd_limit.h"
#include "common/log.h"
#include "common/sd_notify.h"
#include "fs/filesystem.h"
#include "fs/fuse/flow_authorizer.h"
#include "fs/fuse/mount.h"
#include "fs/transfers/engine.h"
#include "fs/transfers/journal.h"
#include "fs/write/staging_store.h"

namespace gf::cli {

// The command specs are shared with the help, man page and completion renderers (cli/docs.h).
const CommandSpec& MountSpec() {
  static const CommandSpec s{
      "mount",
      "MOUNTPOINT [-f] [--collection X]... [--uid N] [--gid N] [--umask 022]\n"
      "      [--copy-mode background|wait] [--write-mode close|background] [-o OPT]...",
      "Mount your Globus collections on MOUNTPOINT.",
      "The mount root holds one directory per collection (configured `collections`, every\n"
      "--collection, and the collections of your bookmarks; bookmarks appear as symlinks).\n"
      "Any collection can be reached as MOUNTPOINT/<exact display name> or\n"
      "MOUNTPOINT/.by-id/<uuid>. Inside a collection, `~` is the home directory.\n"
      "Runs in the background unless -f; logs go to --log-file, else\n"
      "$XDG_STATE_HOME/globus-fuse/<mountpoint>.log (stderr with -f).\n"
      "-o takes config keys (entry_ttl=5) and FUSE options (allow_other, ro, ...), comma\n"
      "separated. Stop with `globus-fuse unmount MOUNTPOINT` (or fusermount3 -u, or SIGTERM).\n"
      "cp and mv between (or within) collections of the mount run as Globus transfer tasks:\n"
      "no file bytes pass through this machine. Pending operations are journaled under\n"
      "state_dir and resumed by the next mount on the same MOUNTPOINT; watch them with\n"
      "`globus-fuse status --watch`.",
      {
          {"foreground", 'f', false, false, "", "stay in the foreground, log to stderr"},
          {"collection", 0, true, true, "ID|NAME", "also show this collection"},
          {"uid", 0, true, false, "N", "owner shown for every file (default: you)"},
          {"gid", 0, true, false, "N", "group shown for every file (default: your group)"},
          {"umask", 0, true, false, "OCTAL", "mask applied to permission bits (default 022)"},
          {"allow-other", 0, false, false, "", "let other users see the mount (FUSE allow_other)"},
          {"copy-mode", 0, true, false, "MODE",
           "cp returns once the transfer is queued (background, default) or when it ended "
           "(wait)"},
          {"write-mode", 0, true, false, "MODE",
           "close uploads a written file at close and returns the result (close, default), or "
           "journals the upload and returns at once (background; fsync still uploads)"},
      },
      {"globus-fuse mount ~/globus", "globus-fuse mount -f ~/globus --collection 'My Lab'",
       "globus-fuse mount ~/globus -o entry_ttl=5,allow_other"}};
  return s;
}

const CommandSpec& UnmountSpec() {
  static const CommandSpec s{"unmount",
                             "[--lazy] [--upload-wait SECONDS] MOUNTPOINT",
                             "Unmount a globus-fuse mount.",
                             "First waits (up to --upload-wait, default 60 s) for the background\n"
                             "uploads of a write_mode = background mount, and refuses if some are\n"
                             "still pending. Then uses `fusermount3 -u` (as root: umount2) and\n"
                             "waits (up to 10 s) for the daemon to let go of the mount's journal,\n"
                             "so a `mount` right after it works. --lazy detaches and does not\n"
                             "wait (pending uploads stay journaled for the next mount).",
                             {{"lazy", 'z', false, false, "", "lazy unmount (busy mounts)"},
                              {"upload-wait", 0, true, false, "SECONDS",
                               "how long to wait for pending background uploads (default 60)"}},
                             {"globus-fuse unmount ~/globus"}};
  return s;
}

const CommandSpec& StatusSpec() {
  static const CommandSpec s{
      "status",
      "[MOUNTPOINT] [--json] [--watch]",
      "Show what a mount is doing.",
      "Collections, cache sizes, API calls, errors, pending authorizations and transfers (each\n"
      "cp/mv task: source -> destination, files and bytes done, progress, rate, ETA, state,\n"
      "errors with their event details), as reported by the mount\n"
      "(MOUNTPOINT/.globus-fuse/status). Without MOUNTPOINT: every globus-fuse mount.\n"
      "--watch refreshes every second until Ctrl-C (without a terminal: prints once a second).",
      {{"json", 0, false, false, "", "print the raw JSON"},
       {"watch", 'w', false, false, "", "refresh every second until interrupted"}},
      {"globus-fuse status ~/globus", "globus-fuse status --json",
       "globus-fuse status --watch ~/globus"}};
  return s;
}

const CommandSpec& DropCachesSpec() {
  static const CommandSpec s{
      "drop-caches",
      "PATH...",
      "Forget cached metadata and data for PATH (and everything below it).",
      "The next access asks Globus again. Implemented as `setfattr -n user.globus.invalidate\n"
      "-v 1 PATH` on the mount.",
      {},
      {"globus-fuse drop-caches ~/globus/'My Lab'/results"}};
  return s;
}

namespace {

// The absolute, symlink-free form of p. When p itself cannot be resolved (it does not exist,
// or is a dead FUSE mount: ENOTCONN), its parent is resolved and the last component appended,
// so a dead mount can still be found in the mount table and unmounted.
std::string Absolute(const std::string& p) {
  char buf[PATH_MAX];
  if (realpath(p.c_str(), buf)) return buf;
  std::string path = p;
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  auto slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  if (base.empty() || base == "." || base == ".." || !realpath(dir.c_str(), buf)) return p;
  std::string out = buf;
  return (out == "/" ? "" : out) + "/" + base;
}

bool IsConfigKey(const std::string& key) {
  auto keys = ConfigKeys();
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

// Splits -o/--set values into config settings (kept in argv for ConfigFromArgs) and FUSE
// options (returned).
std::vector<std::string> SplitFuseOptions(int argc, char** argv, std::vector<std::string>* kept) {
  std::vector<std::string> fuse;
  auto classify = [&](const std::string& value) {
    auto eq = value.find('=');
    if (eq != std::string::npos && IsConfigKey(value.substr(0, eq))) {
      kept->push_back("--set=" + value);
      return;
    }
    std::stringstream ss(value);
    std::string part;
    while (std::getline(ss, part, ',')) {
      if (part.empty()) continue;
      auto peq = part.find('=');
      if (IsConfigKey(part.substr(0, peq)))
        kept->push_back("--set=" + part);
      else
        fuse.push_back(part);
    }
  };
  kept->push_back(argv[0]);
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if ((a == "-o" || a == "--set") && i + 1 < argc) {
      classify(argv[++i]);
    } else if (a.rfind("-o", 0) == 0 && a.size() > 2 && a[1] == 'o') {
      classify(a.substr(2));
    } else if (a.rfind("--set=", 0) == 0) {
      classify(a.substr(6));
    } else {
      kept->push_back(a);
    }
  }
  return fuse;
}

// The mount's stable name, derived from its absolute mount point: names the log file and the
// transfer journal, so a remount on the same path resumes the previous mount's transfers.
std::string MountId(const std::string& mount_point) {
  std::string name = mount_point;
  std::replace(name.begin(), name.end(), '/', '_');
  while (!name.empty() && name[0] == '_') name.erase(0, 1);
  return name.empty() ? "root" : name;
}

// A globus-fuse daemon holds its mount's transfer journal under an exclusive flock from mount
// until it exits. Another process can see whether it still does (a shared flock attempt fails)
// without disturbing it. Unmount waits for the lock to go (the daemon has let go of the journal
// and is exiting), and mount waits for a previous daemon on the same path to let go, so an
// unmount followed at once by a mount works. Both waits are bounded.
constexpr Millis kDaemonExitWait{10000};
// At SIGTERM, how long uploads in flight may take to end (see CmdMount).
constexpr std::chrono::milliseconds kStopUploadGrace{20000};

bool JournalHeld(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;  // no journal: no daemon ever used this path with this state_dir
  bool held = ::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  ::close(fd);  // drops our shared lock at once
  return held;
}

// Waits until no daemon holds `journal`, at most kDaemonExitWait; says what it waits for when
// that takes more than a second. False when it is still held.
bool WaitJournalReleased(const std::string& journal, const std::string& waiting_for) {
  const auto start = std::chrono::steady_clock::now();
  bool said = false;
  while (JournalHeld(journal)) {
    auto waited = std::chrono::steady_clock::now() - start;
    if (waited >= kDaemonExitWait) return false;
    if (!said && waited >= std::chrono::seconds(1)) {
      std::cerr << "globus-fuse: waiting for " << waiting_for << "\n";
      said = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

// A descriptor that becomes readable when the daemon serving a mount exits (pidfd_open of the pid
// its status document names), or -1: no pid in it, or a kernel without pidfds.
// Taken before the unmount, while the daemon certainly runs, so the pid cannot have been
// reused. It is what lets `unmount` wait for a daemon whatever state_dir (and so journal) that
// daemon was started with: the unmounting command's own configuration need not match.
int DaemonExitFd(const std::string& status_document) {
  rapidjson::Document d;
  d.Parse(status_document.c_str());
  if (d.HasParseError() || !d.IsObject() || !d.HasMember("pid") || !d["pid"].IsInt64()) return -1;
  const int64_t pid = d["pid"].GetInt64();
  if (pid <= 0 || pid == getpid()) return -1;
  return static_cast<int>(::syscall(SYS_pidfd_open, static_cast<pid_t>(pid), 0));
}

// Waits until the process behind `pidfd` has exited, at most kDaemonExitWait, saying what it
// waits for when that takes more than a second. False when it still runs. Closes `pidfd`.
bool WaitProcessExit(int pidfd, const std::string& waiting_for) {
  pollfd p{pidfd, POLLIN, 0};
  int r = ::poll(&p, 1, 1000);
  if (r == 0) {
    std::cerr << "globus-fuse: waiting for " << waiting_for << "\n";
    const auto rest = kDaemonExitWait - std::chrono::milliseconds(1000);
    r = ::poll(&p, 1, static_cast<int>(rest.count()));
  }
  ::close(pidfd);
  return r != 0;  // readable (exited), or poll failed: nothing more to wait for
}

std::string DefaultLogFile(const Config& c, const std::string& mount_point) {
  std::string dir = c.state_dir.empty() ? DefaultStateDir() : c.state_dir;
  std::string name = MountId(mount_point);
  // mkdir -p
  std::string acc;
  std::stringstream ss(dir);
  std::string part;
  if (!dir.empty() && dir[0] == '/') acc = "";
  while (std::getline(ss, part, '/')) {
    if (part.empty()) continue;
    acc += "/" + part;
    mkdir(acc.c_str(), 0700);
  }
  return dir + "/" + name + ".log";
}

struct MountEntry {
  std::string path;  // decoded mount point
  std::string type;  // e.g. "fuse.globus-fuse", "tmpfs"
  long owner = -1;   // a FUSE mount's user_id= option: who mounted it (-1: not given)
};

// /proc/self/mounts, in mount order (a later entry for a path is mounted on top).
std::vector<MountEntry> MountTable() {
  std::vector<MountEntry> out;
  std::ifstream in("/proc/self/mounts");
  std::string dev, mp, type, rest;
  while (in >> dev >> mp >> type && std::getline(in, rest)) {
    // /proc/mounts escapes spaces etc. as \040.
    std::string decoded;
    for (std::size_t i = 0; i < mp.size(); ++i) {
      if (mp[i] == '\\' && i + 3 < mp.size()) {
        decoded += static_cast<char>(std::stoi(mp.substr(i + 1, 3), nullptr, 8));
        i += 3;
      } else {
        decoded += mp[i];
      }
    }
    long owner = -1;
    const auto at = rest.find("user_id=");
    if (at != std::string::npos) owner = std::strtol(rest.c_str() + at + 8, nullptr, 10);
    out.push_back({decoded, type, owner});
  }
  return out;
}

constexpr const char* kGlobusMountType = "fuse.globus-fuse";

}  // namespace

// The globus-fuse mounts made by this user: another user's mount cannot be read without
// allow_other, so `status` and completion leave it out rather than fail on it.
std::vector<std::string> GlobusMounts() {
  std::vector<std::string> out;
  const long me = static_cast<long>(getuid());
  for (const auto& m : MountTable())
    if (m.type == kGlobusMountType && (m.owner < 0 || m.owner == me)) out.push_back(m.path);
  return out;
}

namespace {

// What is mounted at exactly `path` (the topmost mount), if anything.
std::optional<MountEntry> MountAt(const std::string& path) {
  std::optional<MountEntry> top;
  for (auto& m : MountTable())
    if (m.path == path) top = std::move(m);
  return top;
}

// The mount `path` lives on (the longest mount point that is a prefix of it).
std::optional<MountEntry> MountContaining(const std::string& path) {
  std::optional<MountEntry> best;
  for (auto& m : MountTable()) {
    bool under =
        m.path == "/" || path == m.path ||
        (path.rfind(m.path, 0) == 0 && path.size() > m.path.size() && path[m.path.size()] == '/');
    if (under && (!best || m.path.size() >= best->path.size())) best = std::move(m);
  }
  return best;
}

// p made absolute and normalised ("." and ".." resolved) without touching the file system:
// a stopped or hung daemon blocks every stat, realpath included, of its mount point.
std::string Lexical(const std::string& p) {
  std::string full = p;
  if (full.empty() || full[0] != '/') {
    char buf[PATH_MAX];
    if (!getcwd(buf, sizeof buf)) return p;
    full = std::string(buf) + "/" + p;
  }
  std::vector<std::string> parts;
  std::stringstream ss(full);
  for (std::string part; std::getline(ss, part, '/');) {
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.push_back(part);
  }
  std::string out;
  for (const auto& part : parts) out += "/" + part;
  return out.empty() ? "/" : out;
}

// The mount point of the globus-fuse mount at `path`, or an error saying why it is not one.
// A path that names a mount point as written is used without touching it (so a hung daemon
// can still be unmounted); otherwise symlinks are resolved.
Result<std::string> GlobusMountAt(const std::string& arg) {
  std::string mp = Lexical(arg);
  auto m = MountAt(mp);
  if (!m) {
    mp = Absolute(arg);
    m = MountAt(mp);
  }
  struct stat st {};
  if (!m && stat(mp.c_str(), &st) != 0 && errno == ENOENT)
    return Error::Local(ENOENT, mp + " does not exist");
  if (!m) return Error::Local(EINVAL, mp + " is not mounted (see `globus-fuse status`)");
  if (m->type != kGlobusMountType)
    return Error::Local(EINVAL,
                        mp + " is mounted as " + m->type + ", not globus-fuse; leaving it alone");
  return mp;
}

// A mount whose daemon is gone (every access fails with ENOTCONN).
Error DeadMount(const std::string& mp) {
  return Error::Local(ENOTCONN, mp +
                                    " is a dead globus-fuse mount (its daemon exited): run "
                                    "`globus-fuse unmount " +
                                    mp + "`");
}

// Refuses a mount point that is missing, not a directory, or already a globus-fuse mount;
// warns when mounting would hide a non-empty directory.
Status CheckMountPoint(const std::string& mp) {
  struct stat st {};
  if (stat(mp.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT)
      return Error::Local(ENOENT,
                          "mount point " + mp + " does not exist (create it: mkdir " + mp + ")");
    if (err == ENOTCONN) return DeadMount(mp);
    return Error::Local(err, "mount point " + mp + ": " + std::strerror(err));
  }
  if (!S_ISDIR(st.st_mode))
    return Error::Local(ENOTDIR, "mount point " + mp + " is not a directory");
  if (auto m = MountAt(mp); m && m->type == kGlobusMountType) {
    // Only an open reaches the daemon (lookups may be answered from the kernel's cache).
    if (auto doc = ReadStatusDocument(mp); !doc.ok() && doc.error().sys_errno == ENOTCONN)
      return DeadMount(mp);
    return Error::Local(EBUSY, mp + " is already a globus-fuse mount (see `globus-fuse status " +
                                   mp + "`; `globus-fuse unmount " + mp + "` first)");
  }
  if (access(mp.c_str(), W_OK | X_OK) != 0)
    return Error::Local(EACCES, "no permission to mount on " + mp + " (you need write access)");
  if (DIR* d = opendir(mp.c_str())) {
    bool empty = true;
    while (dirent* e = readdir(d))
      if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
        empty = false;
        break;
      }
    closedir(d);
    if (!empty)
      std::cerr << "globus-fuse: warning: " << mp
                << " is not empty; its contents are hidden (not deleted) while mounted\n";
  }
  return Status::Ok();
}

std::string HumanBytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  int u = 0;
  while (b >= 1024 && u < 5) {
    b /= 1024;
    ++u;
  }
  std::ostringstream o;
  o.setf(std::ios::fixed);
  o.precision(u == 0 || b >= 100 ? 0 : 1);
  o << b << " " << units[u];
  return o.str();
}

std::string HumanDuration(double s) {
  long t = static_cast<long>(s + 0.5);
  std::ostringstream o;
  if (t >= 3600) o << t / 3600 << "h";
  if (t >= 60) o << (t % 3600) / 60 << "m";
  o << t % 60 << "s";
  return o.str();
}

// The `transfers` section of the status file (fs/status/status_document.cc).
void PrintTransfers(const rapidjson::Value& t) {
  auto str = [](const rapidjson::Value& v, const char* k) -> std::string {
    return v.IsObject() && v.HasMember(k) && v[k].IsString() ? v[k].GetString() : "";
  };
  auto num = [](const rapidjson::Value& v, const char* k) -> double {
    return v.IsObject() && v.HasMember(k) && v[k].IsNumber() ? v[k].GetDouble() : 0;
  };
  auto where = [&](const rapidjson::Value& op, const char* k) -> std::string {
    if (!op.HasMember(k)) return "";
    return str(op[k], "name") + ":" + str(op[k], "path");
  };
  auto arr = [](const rapidjson::Value& v, const char* k) -> const rapidjson::Value* {
    return v.HasMember(k) && v[k].IsArray() ? &v[k] : nullptr;
  };
  if (!(t.HasMember("implemented") && t["implemented"].IsBool() && t["implemented"].GetBool())) {
    std::cout << "transfers:    (not available in this mount)\n";
    return;
  }
  const auto* tasks = arr(t, "tasks");
  const auto* failures = arr(t, "failures");
  const auto* warnings = arr(t, "warnings");
  const double queued = num(t, "queued_count");
  const auto* uploads = arr(t, "uploads");
  const double uploads_pending = num(t, "uploads_pending");
  if ((!tasks || tasks->Empty()) && queued == 0 && uploads_pending == 0 &&
      (!failures || failures->Empty()) && (!warnings || warnings->Empty())) {
    std::cout << "transfers:    none pending\n";
    return;
  }
  std::cout << "transfers:\n";
  if (tasks)
    for (const auto& k : tasks->GetArray()) {
      std::string id = str(k, "task_id");
      std::cout << "  " << (str(k, "kind") == "delete" ? "delete" : "transfer") << " task "
                << (id.empty() ? "(submitting)" : id) << "  " << str(k, "status");
      if (!str(k, "nice_status").empty() && str(k, "nice_status") != str(k, "status"))
        std::cout << " (" << str(k, "nice_status") << ")";
      std::cout << "  " << str(k, "label") << "\n";
      const auto* ops = arr(k, "ops");
      if (ops && !ops->Empty()) {
        const auto& first = (*ops)[0];
        std::cout << "    " << str(first, "kind") << " " << where(first, "source");
        if (first.HasMember("destination")) std::cout << " -> " << where(first, "destination");
        if (num(k, "items") > 1) std::cout << "  (+" << num(k, "items") - 1 << " more)";
        std::cout << "\n";
      } else {
        std::cout << "    " << str(k, "source_name") << " -> " << str(k, "destination_name")
                  << "  (" << num(k, "items") << " items)\n";
      }
      if (str(k, "kind") != "delete") {
        const double done = num(k, "bytes_transferred"), total = num(k, "total_bytes"),
                     rate = num(k, "bytes_per_second");
        const double frac = total > 0 ? std::min(done / total, 1.0) : 0;
        const int width = 30, filled = static_cast<int>(frac * width + 0.5);
        std::cout << "    [" << std::string(filled, '#') << std::string(width - filled, '.') << "] "
                  << static_cast<int>(frac * 100 + 0.5) << "%  files "
                  << num(k, "files_transferred") << "/"
                  << std::max(num(k, "files"), num(k, "items")) << "  " << HumanBytes(done) << " / "
                  << HumanBytes(total);
        if (rate > 0) {
          std::cout << "  " << HumanBytes(rate) << "/s";
          if (total > done) std::cout << "  ETA " << HumanDuration((total - done) / rate);
        }
        std::cout << "\n";
      }
      if (!str(k, "waiting_reason").empty())
        std::cout << "    waiting: " << str(k, "waiting_reason") << "\n";
      if (k.HasMember("last_error") && k["last_error"].IsObject()) {
        const auto& e = k["last_error"];
        std::cout << "    error: " << str(e, "code") << " " << str(e, "description") << "\n";
        std::istringstream details(str(e, "details"));
        for (std::string line; std::getline(details, line);) std::cout << "      " << line << "\n";
      }
    }
  if (uploads_pending > 0) {
    std::cout << "  uploads (write_mode = background): " << uploads_pending << " pending\n";
    if (uploads)
      for (const auto& u : uploads->GetArray()) {
        const double done = num(u, "bytes_sent"), total = num(u, "size");
        const double frac = total > 0 ? std::min(done / total, 1.0) : 0;
        std::cout << "    " << where(u, "destination") << "  " << str(u, "state") << "  "
                  << static_cast<int>(frac * 100 + 0.5) << "%  " << HumanBytes(done) << " / "
                  << HumanBytes(total) << "\n";
        if (!str(u, "waiting_reason").empty())
          std::cout << "      waiting: " << str(u, "waiting_reason") << "\n";
      }
  }
  if (queued > 0) std::cout << "  queued: " << queued << " operation(s) waiting for a task\n";
  if (failures && !failures->Empty()) {
    std::cout << "  failed:\n";
    for (const auto& f : failures->GetArray()) {
      if (str(f, "kind") == "upload")
        std::cout << "    upload -> " << where(f, "destination");
      else
        std::cout << "    " << str(f, "kind") << " " << where(f, "source") << " -> "
                  << where(f, "destination");
      std::cout << "\n      " << str(f, "code") << ": " << str(f, "message");
      if (!str(f, "task_id").empty()) std::cout << "  (task " << str(f, "task_id") << ")";
      std::cout << "\n";
    }
  }
  if (warnings && !warnings->Empty()) {
    std::cout << "  completed with a warning:\n";
    for (const auto& x : warnings->GetArray()) {
      std::cout << "    move " << where(x, "source") << " -> " << where(x, "destination")
                << "\n      " << str(x, "message");
      if (!str(x, "task_id").empty()) std::cout << "  (task " << str(x, "task_id") << ")";
      std::cout << "\n";
    }
  }
}

void PrintHuman(const std::string& json) {
  rapidjson::Document d;
  d.Parse(json.c_str());
  if (d.HasParseError() || !d.IsObject()) {
    std::cout << json;
    return;
  }
  auto str = [&](const rapidjson::Value& v, const char* k) -> std::string {
    return v.HasMember(k) && v[k].IsString() ? v[k].GetString() : "";
  };
  auto num = [&](const rapidjson::Value& v, const char* k) -> double {
    return v.HasMember(k) && v[k].IsNumber() ? v[k].GetDouble() : 0;
  };
  std::cout << "mount point:  " << str(d, "mount_point") << "  (pid " << num(d, "pid") << ", up "
            << static_cast<long>(num(d, "uptime_seconds")) << " s)\n";
  if (d.HasMember("collections") && d["collections"].IsArray()) {
    std::cout << "collections:\n";
    for (const auto& c : d["collections"].GetArray()) {
      std::cout << "  " << str(c, "name");
      if (c.HasMember("bookmark")) std::cout << " -> " << str(c, "bookmark");
      if (c.HasMember("id")) std::cout << "  (" << str(c, "id") << ")";
      if (c.HasMember("unresolved")) std::cout << "  [not resolved yet]";
      if (c.HasMember("https_server") && c["https_server"].IsNull())
        std::cout << "  [no HTTPS: listing only]";
      std::cout << "\n";
    }
  }
  if (d.HasMember("not_shown") && d["not_shown"].IsArray() && !d["not_shown"].Empty()) {
    std::cout << "not shown:\n";
    for (const auto& n : d["not_shown"].GetArray())
      std::cout << "  " << str(n, "what") << ": " << str(n, "why") << "\n";
  }
  if (d.HasMember("cache")) {
    const auto& c = d["cache"];
    std::cout << "cache:        " << num(c, "inodes") << " inodes, " << num(c, "listings")
              << " listings (" << num(c, "listing_entries") << " entries), "
              << num(c, "negative_entries") << " negative\n";
  }
  if (d.HasMember("reads")) {
    const auto& r = d["reads"];
    auto mib = [&](const char* key) {  // human-readable: B, KiB, MiB
      auto b = static_cast<uint64_t>(num(r, key));
      if (b < (1u << 10)) return std::to_string(b) + " B";
      if (b < (1u << 20)) return std::to_string(b >> 10) + " KiB";
      return std::to_string(b >> 20) + " MiB";
    };
    std::cout << "reads:        " << mib("bytes") << " read, buffers " << mib("buffer_bytes")
              << " of " << mib("buffer_limit_bytes") << "\n";
  }
  if (d.HasMember("api_calls") && d["api_calls"].IsObject()) {
    std::cout << "api calls:   ";
    for (const auto& m : d["api_calls"].GetObject())
      std::cout << " " << m.name.GetString() << "=" << num(m.value, "calls") << "("
                << num(m.value, "errors") << " err)";
    std::cout << "\n";
  }
  if (d.HasMember("api_client") && d["api_client"].IsObject() &&
      d["api_client"].MemberCount() > 0) {
    std::cout << "api client:  ";
    for (const auto& m : d["api_client"].GetObject())
      std::cout << " " << m.name.GetString() << "=" << m.value.GetDouble();
    std::cout << "\n";
  }
  if (d.HasMember("errors") && d["errors"].HasMember("recent")) {
    const auto& recent = d["errors"]["recent"];
    if (recent.IsArray() && !recent.Empty()) {
      std::cout << "recent errors:\n";
      for (const auto& e : recent.GetArray())
        if (e.IsString()) std::cout << "  " << e.GetString() << "\n";
    }
  }
  if (d.HasMember("pending_authorizations") && d["pending_authorizations"].IsArray() &&
      !d["pending_authorizations"].Empty()) {
    std::cout << "authorizations:\n";
    for (const auto& p : d["pending_authorizations"].GetArray()) {
      std::cout << "  " << str(p, "reason");
      if (!str(p, "session_message").empty())
        std::cout << " (\"" << str(p, "session_message") << "\")";
      std::cout << "\n";
      if (str(p, "state") == "waiting") {
        std::cout << "    waiting for you to log in (" << num(p, "waiters")
                  << " operation(s) blocked, at most " << num(p, "timeout_seconds")
                  << " s); open:\n      " << str(p, "url") << "\n";
      } else {
        std::cout << "    failed: " << str(p, "error") << "\n    (not asking again for "
                  << num(p, "retry_in_seconds") << " s, or until you log in)\n";
      }
      std::cout << "    or run: " << str(p, "remedy") << "\n";
    }
  }
  if (d.HasMember("transfers") && d["transfers"].IsObject()) PrintTransfers(d["transfers"]);
  if (d.HasMember("kept_files") && d["kept_files"].IsArray() && !d["kept_files"].Empty()) {
    std::cout << "kept, not uploaded (copy each where you want it, then delete it):\n";
    for (const auto& k : d["kept_files"].GetArray()) {
      std::cout << "  " << str(k, "path") << "  " << HumanBytes(num(k, "size")) << "\n";
      const std::string name = str(k, "collection_name");
      std::cout << "    for " << (name.empty() ? str(k, "collection") : "'" + name + "'") << ":"
                << str(k, "remote_path") << ": " << str(k, "why") << "\n";
    }
  }
}

// Sends READY=1 to $NOTIFY_SOCKET once a read of the mount's status file, which goes through
// the kernel to this process's FUSE loop, succeeds.
void NotifyWhenAnswering(const std::string& mp) {
  if (!std::getenv("NOTIFY_SOCKET")) return;
  std::ifstream in(mp + "/" + fs::kControlDirName + "/" + fs::kStatusFileName);
  char c = 0;
  if (!in.get(c)) {
    log::Warn("mount", "the mount did not answer; not telling systemd it is ready");
    return;
  }
  if (Status s = SdNotify("READY=1\nSTATUS=mounted on " + mp); !s.ok())
    log::Warn("mount", "cannot notify systemd: ", s.error().message);
}

// Once per process. A stop can reach both callers: the exit watch (while the FUSE loop still
// winds down) and the end of RunMount. A second datagram sat in a reused $NOTIFY_SOCKET and was
// read as the next start's first message (test_packaging: STOPPING=1 where READY=1 was due).
void NotifyStopping() {
  static std::atomic<bool> sent{false};
  if (sent.exchange(true)) return;
  if (Status s = SdNotify("STOPPING=1"); !s.ok())
    log::Warn("mount", "cannot notify systemd: ", s.error().message);
}

// default_permissions is always on (fs/mount.cc): with allow_other the kernel checks every
// other user's access against the owner, group and mode the mount shows. Said only when the
// mount can succeed: fusermount3 refuses allow_other to users unless /etc/fuse.conf has
// user_allow_other, and that refusal is then the one line the user needs.
void WarnAllowOther(const Config& c) {
  bool permitted = geteuid() == 0;
  std::ifstream conf("/etc/fuse.conf");
  for (std::string line; !permitted && std::getline(conf, line);)
    permitted = line.find_first_not_of(" \t") != std::string::npos &&
                line.substr(line.find_first_not_of(" \t"), 16) == "user_allow_other";
  if (!permitted) return;
  char mask[8];
  std::snprintf(mask, sizeof mask, "%04o", static_cast<unsigned>(c.umask));
  std::cerr << "globus-fuse: warning: allow_other: other local users get the access the mount "
               "shows them (umask "
            << mask << ")"
            << ((c.umask & 0004) == 0
                    ? ": they can read every file your Globus identity can read, with your "
                      "login; --umask 0077 keeps the files to you"
                    : "")
            << "\n";
}

}  // namespace

// Below this many descriptors, a background `cp -r` that outruns the server may run out.
constexpr uint64_t kFewFds = 4096;

int CmdMount(int argc, char** argv) {
  std::vector<std::string> kept;
  std::vector<std::string> fuse_opts = SplitFuseOptions(argc, argv, &kept);
  std::vector<char*> kargv;
  for (auto& s : kept) kargv.push_back(s.data());
  int code = 0;
  auto args = ParseOrExit(static_cast<int>(kargv.size()), kargv.data(), MountSpec(), &code);
  if (!args) return code;
  if (args->positionals().size() != 1)
    return ReportUsage("expected exactly one MOUNTPOINT", "mount");
  auto config = ConfigFromArgs(*args);
  if (!config.ok()) return ReportError(config.error());
  Config c = *config;
  for (const auto& col : args->GetAll("collection")) {
    Config probe;  // the `collections` key's checks (a mistyped UUID), for one entry
    Status st = ApplySetting(probe, "collections", col, "--collection");
    if (!st.ok() || probe.collections.size() != 1)
      return ReportUsage(
          "--collection takes one collection UUID or display name, not '" + col + "'", "mount");
    if (std::find(c.collections.begin(), c.collections.end(), col) == c.collections.end())
      c.collections.push_back(col);
  }
  // --uid/--gid/--umask/--copy-mode/--write-mode are the config keys of the same names.
  for (const char* flag : {"uid", "gid", "umask", "copy-mode", "write-mode"}) {
    if (!args->Has(flag)) continue;
    std::string key = flag;
    std::replace(key.begin(), key.end(), '-', '_');
    Status st = ApplySetting(c, key, args->Get(flag), std::string("--") + flag);
    if (!st.ok()) return ReportUsage(st.error().message, "mount");
  }
  std::string mp = Absolute(args->positionals()[0]);
  if (Status ok = CheckMountPoint(mp); !ok.ok()) return ReportError(ok.error());

  bool foreground = args->Has("foreground");
  if (c.log_file.empty() && !foreground) {
    c.log_file = DefaultLogFile(c, mp);
    if (!log::SetFile(c.log_file)) return ReportError(LogFileError(c.log_file));
  }
  if (!c.log_file.empty() && c.log_file[0] != '/')
    std::cerr << "globus-fuse: warning: the log file should be an absolute path\n";
  log::SetLevel(c.debug ? log::Level::kDebug : log::Level::kInfo);
  if (foreground && !c.log_file.empty()) log::SetStderrToo(true);
  // Each queued background upload holds its staged file open (common/fd_limit.h).
  if (const FdLimit fds = RaiseFdLimit(); fds.soft < kFewFds && c.write_mode == "background")
    log::Warn("mount", "write_mode = background: the open-file limit is ", fds.soft,
              " (hard limit ", fds.hard,
              "), and each upload still queued holds one file open: a backlog of about ",
              fds.soft > 128 ? fds.soft - 128 : 0,
              " files makes writes fail with 'Too many open files'. Raise the hard limit ",
              "(LimitNOFILE= in the systemd unit, or `ulimit -Hn`)");
  else if (fds.soft != fds.before)
    log::Debug("mount", "open-file limit raised from ", fds.before, " to ", fds.soft);

  auto ctx = MakeContext(c);
  // Without a login every operation in the mount would fail: say so now, not in a log.
  if (auto stored = ctx->store->Load(); !stored)
    return ReportError(stored.error());
  else if (stored->tokens.count(auth::kTransferResourceServer) == 0)
    return ReportError(auth::TokenManager::NotLoggedIn(auth::kTransferResourceServer));
  // A --collection typed on this command line that Globus says does not exist (or names
  // several) is a mistake to report now; anything else (network, consent) the mount handles.
  for (const auto& col : args->GetAll("collection")) {
    auto found = ResolveCollection(*ctx->transfer, col);
    if (!found && (found.error().kind == ErrorKind::kConfig ||
                   (found.error().kind == ErrorKind::kApi && ErrnoFor(found.error()) == ENOENT))) {
      Error e = found.error();
      e.context = "--collection " + col;
      return ReportError(e);
    }
  }
  fs::FsOptions fo = fs::FsOptions::FromConfig(c);
  fo.mount_point = mp;
  if (!c.cache_dir.empty()) fo.staging_dir = fs::write::StagingDir(c.cache_dir, MountId(mp));
  // The parts of the mount, each built once, in order, before what stands on it.
  fs::CollectionCatalog catalog;
  // Policy errors (identity link, consent, re-authentication) run a login flow from inside the
  // mount and the blocked operation retries (auth/authorization_broker.h).
  auth::AuthorizationBroker::Options bo;
  bo.auth_timeout = std::chrono::milliseconds(static_cast<int64_t>(c.auth_timeout * 1000));
  bo.start_ticker = false;  // started after daemonizing: threads do not survive fork
  auth::AuthorizationBroker broker(
      auth::LoginFlowStarter(*ctx->oauth, ctx->store->path(), c.open_browser,
                             [&ctx] { return auth::GrantedScopes(ctx->store->path()); }),
      auth::TokenFileFingerprint(ctx->store->path()), SystemClock::Instance(), bo,
      auth::DesktopNotifier());
  fs::FlowAuthorizer authorizer(broker,
                                [&catalog](const std::string& id) { return catalog.NameOf(id); });
  fs::FuseNotifier notifier;
  // cp/mv as Globus transfer tasks: the journal is per mount point, so a remount resumes what
  // a crashed or unmounted daemon left (tracked, never resubmitted twice). The engine's calls
  // are counted in the status document and never start a login flow (it blocks and retries
  // authorization errors itself).
  if (c.state_dir.empty()) c.state_dir = DefaultStateDir();
  // `unmount` followed at once by `mount` (scripts, systemd restarts): the previous daemon may
  // still be exiting.
  WaitJournalReleased(fs::JournalPath(c.state_dir, MountId(mp)),
                      "the previous globus-fuse on " + mp + " to exit");
  fs::Remote engine_api(*ctx->transfer, *ctx->https, fs::FailingAuthorizer::Instance());
  auto engine =
      fs::TransferEngine::Open(engine_api, fs::TransferEngineOptions::FromConfig(c, MountId(mp)));
  if (!engine.ok()) {
    Error e = engine.error();
    // EBUSY: its flock is held, i.e. another globus-fuse serves this mount point (perhaps in
    // another mount namespace, or still shutting down).
    e.message = "cannot open the transfer journal" +
                std::string(e.sys_errno == EBUSY ? " (another globus-fuse has " + mp +
                                                       " mounted or is still unmounting it)"
                                                 : "") +
                ": " + e.message;
    return ReportError(e);
  }
  fs::StatusSources status;
  status.pending_authorizations = [&broker] { return broker.SnapshotJson(); };
  // The client-side rate limiter's waits, so a slow mount can be told from a slow service.
  if (api::RateLimiter* limiter = ctx->limiter.get()) {
    status.api_client = [limiter, retries = ctx->retries] {
      auto st = limiter->stats();
      return std::map<std::string, double>{
          {"retries", static_cast<double>(retries->load(std::memory_order_relaxed))},
          {"requests", static_cast<double>(st.acquired)},
          {"rate_limit_waits", static_cast<double>(st.waits)},
          {"rate_limit_wait_seconds", st.total_wait.count() / 1000.0},
          {"background_requests", static_cast<double>(st.background)}};
    };
  }
  fs::Filesystem filesystem(fs::FsParts{*ctx->transfer, *ctx->https, authorizer, notifier, catalog,
                                        **engine, engine_api, std::move(status)},
                            fo);
  fs::MountOptions mo;
  // Readiness for systemd (Type=notify): READY=1 once the mount answers a request through
  // the kernel, from a thread, since the FUSE loop that answers it starts after this callback.
  std::thread readiness;
  mo.after_daemonize = [&broker, &engine, &readiness, mp] {
    broker.StartTicker();
    (*engine)->Start();
    readiness = std::thread(NotifyWhenAnswering, mp);
  };
  // Unblock FUSE workers waiting for a login flow or a task (wait mode), or the loop would
  // join them only when those end (up to auth_timeout, or the task's duration).
  mo.on_exit_requested = [&broker, &engine, &filesystem] {
    NotifyStopping();
    // A close or fsync uploading now ends as it would have (a cut-off PUT would fail it), within
    // a grace that leaves the rest of the stop inside systemd's TimeoutStopSec (30 s).
    filesystem.DrainUploads(kStopUploadGrace);
    RequestShutdown();  // requests in flight and retry waits end now, not after their budget
    broker.Shutdown();
    (*engine)->Stop();
  };
  mo.before_teardown = [&engine] {
    RequestShutdown();  // background retries (prefetch) end now: Filesystem::Stop joins them
    (*engine)->Stop();
  };
  mo.mount_point = mp;
  mo.foreground = foreground;
  mo.allow_other = args->Has("allow-other");
  if (mo.allow_other ||
      std::find(fuse_opts.begin(), fuse_opts.end(), "allow_other") != fuse_opts.end())
    WarnAllowOther(c);
  mo.fuse_options = fuse_opts;
  if (!foreground)
    std::cerr << "globus-fuse: mounting on " << mp << "; logs in " << c.log_file << "\n";
  Status s = fs::RunMount(filesystem, notifier, mo);
  NotifyStopping();  // also when unmounted from outside (the loop just ended)
  if (readiness.joinable()) readiness.join();  // its request failed at the unmount, if not before
  if (!s.ok() && s.error().kind == ErrorKind::kConfig) {
    // A mistyped config key reaches FUSE as an unknown mount option.
    for (const auto& opt : fuse_opts) {
      // Only key=value options libfuse named: bare FUSE flags (suid, dev) are not typos.
      auto eq = opt.find('=');
      if (eq == std::string::npos || s.error().message.find("-o " + opt) == std::string::npos)
        continue;
      if (std::string near = NearestKey(opt.substr(0, eq)); !near.empty()) {
        Error e = s.error();
        e.message += " (for '" + opt + "': did you mean the config key '" + near + "'?)";
        s = e;
        break;
      }
    }
  }
  broker.Shutdown();
  (*engine)->Stop();
  if (!s.ok()) return ReportError(s.error());
  return kExitOk;
}

// The number of background uploads a status document says are pending, or -1 when it does not
// say (an older daemon: nothing to wait for).
static int PendingUploads(const std::string& status_document) {
  rapidjson::Document d;
  d.Parse(status_document.c_str());
  if (d.HasParseError() || !d.IsObject() || !d.HasMember("transfers") ||
      !d["transfers"].IsObject() || !d["transfers"].HasMember("uploads_pending") ||
      !d["transfers"]["uploads_pending"].IsUint64())
    return -1;
  return static_cast<int>(d["transfers"]["uploads_pending"].GetUint64());
}

// Waits (bounded) for the mount's background uploads to end; `doc` is its status document.
static int WaitForUploads(const std::string& mp, const std::string& doc,
                          std::chrono::milliseconds max) {
  int n = PendingUploads(doc);
  if (n <= 0) return kExitOk;
  std::cerr << "globus-fuse: waiting up to " << max.count() / 1000 << " s for " << n
            << " background upload(s) to " << mp << " to end (globus-fuse status " << mp
            << " shows them)\n";
  const auto deadline = std::chrono::steady_clock::now() + max;
  while (n > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    auto again = ReadStatusDocument(mp);
    n = again.ok() ? PendingUploads(*again) : -1;
  }
  if (n <= 0) return kExitOk;
  std::cerr << "globus-fuse: not unmounting " << mp << ": " << n
            << " background upload(s) written there are still pending (globus-fuse status " << mp
            << " shows them and why). Unmount again once they ended; `globus-fuse unmount "
               "--lazy` (or stopping the daemon) keeps them in the journal, and the next mount of "
            << mp << " uploads them\n";
  return kExitFailure;
}

int CmdUnmount(int argc, char** argv) {
  int code = 0;
  auto args = ParseOrExit(argc, argv, UnmountSpec(), &code);
  if (!args) return code;
  if (args->positionals().size() != 1)
    return ReportUsage("expected exactly one MOUNTPOINT", "unmount");
  auto target = GlobusMountAt(args->positionals()[0]);
  if (!target) return ReportError(target.error());
  const std::string& mp = *target;
  bool lazy = args->Has("lazy");
  // One read of the daemon's status document (bounded: a stopped or hung daemon does not
  // answer) gives its pending uploads and its pid.
  std::string doc;
  if (!lazy) {
    auto read = ReadStatusDocument(mp);
    if (read.ok()) {
      doc = std::move(*read);
    } else if (read.error().sys_errno == ETIMEDOUT) {
      std::cerr << "globus-fuse: " << read.error().message
                << "; unmounting without waiting for its background uploads (they stay in its "
                   "journal, and the next mount of "
                << mp << " sends them)\n";
    }
  }
  // Background uploads (write_mode = background) exist only on this machine until they are
  // sent: wait for them (bounded), then refuse rather than leave them for a later mount.
  if (!lazy && !doc.empty()) {
    double wait = 60;
    if (args->Has("upload-wait")) {
      char* end = nullptr;
      const std::string v = args->Get("upload-wait");
      wait = std::strtod(v.c_str(), &end);
      if (v.empty() || *end != '\0' || wait < 0)
        return ReportUsage("--upload-wait expects a number of seconds", "unmount");
    }
    if (int rc =
            WaitForUploads(mp, doc, std::chrono::milliseconds(static_cast<int64_t>(wait * 1000)));
        rc != kExitOk)
      return rc;
  }
  // Returns once the daemon has exited (so it let go of the mount's journal), so a `mount`
  // that follows finds the path free. A lazy unmount detaches now and does not wait. A daemon
  // that does not say its pid is waited for through the journal of this command's state_dir.
  std::string journal;
  int daemon_exit = -1;
  if (!lazy) {
    daemon_exit = DaemonExitFd(doc);
    if (auto config = ConfigFromArgs(*args); config.ok() && daemon_exit < 0) {
      journal = fs::JournalPath(config->state_dir.empty() ? DefaultStateDir() : config->state_dir,
                                MountId(mp));
    }
  }
  struct CloseFd {
    int& fd;
    ~CloseFd() {
      if (fd >= 0) ::close(fd);
    }
  } close_daemon_exit{daemon_exit};
  auto unmounted = [&]() -> int {
    const char* what = "the globus-fuse daemon to exit";
    bool gone = true;
    if (daemon_exit >= 0)
      gone = WaitProcessExit(std::exchange(daemon_exit, -1), what);
    else if (!journal.empty())
      gone = WaitJournalReleased(journal, what);
    if (!gone)
      std::cerr << "globus-fuse: " << mp
                << " is unmounted, but its daemon is still finishing (its log says why)\n";
    return kExitOk;
  };
  if (geteuid() == 0) {
    if (umount2(mp.c_str(), lazy ? MNT_DETACH : 0) != 0) {
      const int err = errno;
      std::string msg = "umount " + mp + ": " + std::strerror(err);
      if (err == EBUSY)
        msg +=
            " (a process has a file or directory open there, or is waiting in it, e.g. "
            "for a login; close it, or detach now with `globus-fuse unmount --lazy`)";
      return ReportError(Error::Local(err, msg));
    }
    return unmounted();
  }
  pid_t pid = fork();
  if (pid < 0) return ReportError(Error::Local(errno, "fork failed"));
  if (pid == 0) {
    if (lazy)
      execlp("fusermount3", "fusermount3", "-u", "-z", "--", mp.c_str(), nullptr);
    else
      execlp("fusermount3", "fusermount3", "-u", "--", mp.c_str(), nullptr);
    std::perror("globus-fuse: cannot run fusermount3");
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return unmounted();
  if (!lazy)
    std::cerr << "globus-fuse: if the mount is busy (a process has a file or directory open "
                 "there, or waits in it), close it, or detach now with `globus-fuse unmount "
                 "--lazy`\n";
  return kExitFailure;
}

// The status object of a dead mount, in the listing of every mount.
static std::string DeadMountJson(const std::string& mp, const std::string& hint) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("mount_point");
  w.String(mp.c_str(), static_cast<rapidjson::SizeType>(mp.size()));
  w.Key("dead");
  w.Bool(true);
  w.Key("hint");
  w.String(hint.c_str(), static_cast<rapidjson::SizeType>(hint.size()));
  w.EndObject();
  return buf.GetString();
}

int CmdStatus(int argc, char** argv) {
  int code = 0;
  auto args = ParseOrExit(argc, argv, StatusSpec(), &code);
  if (!args) return code;
  std::vector<std::string> mounts;
  int missing_rc = kExitOk;  // a MOUNTPOINT that is not a globus-fuse mount: reported, skipped
  const bool named = !args->positionals().empty();
  if (!args->positionals().empty()) {
    for (const auto& p : args->positionals()) {
      auto mp = GlobusMountAt(p);
      if (!mp && mp.error().sys_errno == EINVAL) {  // a path inside a mount: that mount
        auto m = MountContaining(Absolute(p));
        if (m && m->type == kGlobusMountType) mp = m->path;
      }
      if (mp) {
        mounts.push_back(*mp);
      } else {
        std::cerr << "globus-fuse: " << mp.error().message << "\n";
        missing_rc = kExitNotFound;
      }
    }
    if (mounts.empty()) return missing_rc;
  } else {
    mounts = GlobusMounts();
    if (mounts.empty()) {
      std::cerr << "globus-fuse: no globus-fuse mounts (see `globus-fuse mount --help`)\n";
      if (args->Has("json")) std::cout << "[]\n";  // still one JSON document
      return kExitNotFound;
    }
  }
  const bool watch = args->Has("watch"), tty = isatty(STDOUT_FILENO);
  // --json: one mount named on the command line prints its object; otherwise (every mount, or
  // several named) a JSON array of them, so the output is always one valid JSON document.
  const bool json = args->Has("json"), json_array = args->positionals().size() != 1;
  for (;;) {
    int rc = missing_rc;
    std::ostringstream screen;
    std::streambuf* old = watch && tty ? std::cout.rdbuf(screen.rdbuf()) : nullptr;
    std::vector<std::string> docs;
    for (const auto& mp : mounts) {
      auto read = ReadStatusDocument(mp);
      if (!read.ok()) {
        const int err = read.error().sys_errno;
        if (err == ENOTCONN && !named) {
          // Listing every mount: a dead one is part of the report, not a failure of it.
          const std::string hint = "run `globus-fuse unmount " + mp + "`";
          if (json)
            docs.push_back(DeadMountJson(mp, hint));
          else
            std::cout << mp << ": a dead globus-fuse mount (its daemon exited): " << hint << "\n\n";
          continue;
        }
        if (err == ENOTCONN)
          ReportError(DeadMount(mp));
        else
          std::cerr << "globus-fuse: " << read.error().message << "\n";
        rc = kExitFailure;
        continue;
      }
      if (json)
        docs.push_back(*read);
      else
        PrintHuman(*read);
    }
    // --watch --json into a pipe: JSON Lines, one document per line and per second.
    const bool json_lines = json && watch && !tty;
    if (json && (json_array || !docs.empty())) {
      std::string out = json_array ? "[" : "";
      for (std::size_t i = 0; i < docs.size(); ++i) {
        std::string d = docs[i];
        while (!d.empty() && (d.back() == '\n' || d.back() == '\r')) d.pop_back();
        if (json_lines) d.erase(std::remove(d.begin(), d.end(), '\n'), d.end());
        out += (i ? (json_array ? (json_lines ? "," : ",\n") : "\n") : "") + d;
      }
      std::cout << out << (json_array ? "]\n" : "\n");
    }
    if (old) {
      std::cout.rdbuf(old);
      std::cout << "\033[H\033[2J" << screen.str();  // redraw in place
    }
    if (!watch) return rc;
    if (!tty && !json) std::cout << "\n";
    std::cout.flush();
    sleep(1);
  }
}

int CmdDropCaches(int argc, char** argv) {
  int code = 0;
  auto args = ParseOrExit(argc, argv, DropCachesSpec(), &code);
  if (!args) return code;
  if (args->positionals().empty()) return ReportUsage("expected PATH", "drop-caches");
  int rc = kExitOk;
  for (const auto& p : args->positionals()) {
    const std::string abs = Absolute(p);
    struct stat st {};
    if (stat(abs.c_str(), &st) != 0) {
      const int err = errno;
      if (err == ENOTCONN) {
        rc = ReportError(DeadMount(abs));
        continue;
      }
      std::cerr << "globus-fuse: drop-caches " << p << ": " << std::strerror(err) << "\n";
      rc = err == ENOENT ? kExitNotFound : kExitFailure;
      continue;
    }
    auto m = MountContaining(abs);
    if (!m || m->type != kGlobusMountType) {
      std::cerr << "globus-fuse: drop-caches " << p
                << ": not on a globus-fuse mount (see `globus-fuse status`)\n";
      rc = kExitFailure;
      continue;
    }
    if (setxattr(p.c_str(), fs::kInvalidateXattr, "1", 1, 0) != 0) {
      int err = errno;
      if (err == ENOTCONN) {
        rc = ReportError(DeadMount(m->path));
        continue;
      }
      std::cerr << "globus-fuse: drop-caches " << p << ": " << std::strerror(err)
                << (err == ENOTSUP ? " (not on a globus-fuse mount?)" : "") << "\n";
      rc = kExitFailure;
      continue;
    }
    // The kernel forgets its own copies from the mount's notification thread: reading the
    // attribute at the mount root returns once it has, so the next stat after we exit is fresh.
    char settled[16];
    if (getxattr(m->path.c_str(), fs::kInvalidateXattr, settled, sizeof settled) < 0) {
      const int err = errno;
      std::cerr << "globus-fuse: drop-caches " << p << ": " << std::strerror(err)
                << " (the caches were dropped; the kernel may still answer from its own for "
                   "up to attr_ttl)\n";
      rc = kExitFailure;
    }
  }
  return rc;
}

}  // namespace gf::cli
