// ls and stat: read-only Transfer operations from the command line (no mount needed).
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include <algorithm>
#include <ctime>
#include <iostream>

#include "api/transfer_api.h"
#include "auth/scopes.h"
#include "cli/commands.h"
#include "cli/context.h"
#include "common/uuid.h"

namespace gf::cli {

// The command specs are shared with the help, man page and completion renderers (cli/docs.h).
const CommandSpec& LsSpec() {
  static const CommandSpec s{
      "ls",
      "COLLECTION[:PATH] [-l] [-a] [--json]",
      "List a directory of a collection through the Transfer API.",
      "COLLECTION is a UUID or a display name (resolved with an exact-name search; an ambiguous\n"
      "name lists the candidates). PATH starts with / or ~ and defaults to /. Quote names with\n"
      "spaces.",
      {
          {"long", 'l', false, false, "", "long listing: type, mode, owner, size, time"},
          {"all", 'a', false, false, "", "include names starting with '.'"},
          {"json", 0, false, false, "", "print JSON"},
      },
      {"globus-fuse ls 'Globus Tutorial Collection 1'",
       "globus-fuse ls -l 'Globus Tutorial Collection 1:/home/share/godata/'",
       "globus-fuse ls 6c54cade-bde5-45c1-bdea-f4bd71dba2cc:/~/ --json"}};
  return s;
}

const CommandSpec& StatSpec() {
  static const CommandSpec s{
      "stat",
      "COLLECTION:PATH [--json]",
      "Show one path's metadata on a collection through the Transfer API.",
      "COLLECTION is a UUID or a display name, as for `ls`.",
      {{"json", 0, false, false, "", "print JSON"}},
      {"globus-fuse stat 'Globus Tutorial Collection 1:/home/share/godata/file1.txt'"}};
  return s;
}

namespace {

struct Target {
  std::string collection;
  std::string path;
  bool has_path = false;
};

// "NAME:/path", "NAME:~/path", "UUID:path", or just "NAME" (path "/").
Target SplitTarget(const std::string& s) {
  Target t{s, "/", false};
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == ':' && (i + 1 == s.size() || s[i + 1] == '/' || s[i + 1] == '~')) {
      t = {s.substr(0, i), i + 1 == s.size() ? "/" : s.substr(i + 1), i + 1 < s.size()};
      break;
    }
  }
  if (!t.has_path && s.size() > 37 && s[36] == ':' && LooksLikeUuid(s.substr(0, 36)))
    t = {s.substr(0, 36), s.substr(37), true};
  if (t.path[0] == '~') t.path = "/" + t.path;
  if (t.path[0] != '/') t.path = "/" + t.path;
  return t;
}

char TypeChar(api::EntryType t) {
  switch (t) {
    case api::EntryType::kDir:
      return 'd';
    case api::EntryType::kSymlink:
    case api::EntryType::kInvalidSymlink:
      return 'l';
    case api::EntryType::kChr:
      return 'c';
    case api::EntryType::kBlk:
      return 'b';
    case api::EntryType::kPipe:
      return 'p';
    default:
      return '-';
  }
}

const char* TypeName(api::EntryType t) {
  switch (t) {
    case api::EntryType::kFile:
      return "file";
    case api::EntryType::kDir:
      return "dir";
    case api::EntryType::kSymlink:
      return "symlink";
    case api::EntryType::kInvalidSymlink:
      return "invalid_symlink";
    case api::EntryType::kChr:
      return "chr";
    case api::EntryType::kBlk:
      return "blk";
    case api::EntryType::kPipe:
      return "pipe";
    default:
      return "other";
  }
}

std::string ModeString(const api::FileEntry& e) {
  std::string m(1, TypeChar(e.type));
  const char* rwx = "rwxrwxrwx";
  for (int i = 0; i < 9; ++i) m += (e.permissions & (0400u >> i)) ? rwx[i] : '-';
  return m;
}

std::string Octal(uint32_t p) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", p & 07777);
  return buf;
}

std::string TimeString(std::time_t t, bool utc_iso) {
  std::tm tm{};
  char buf[40];
  if (utc_iso) {
    gmtime_r(&t, &tm);
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  } else {
    localtime_r(&t, &tm);
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &tm);
  }
  return buf;
}

void WriteEntry(rapidjson::PrettyWriter<rapidjson::StringBuffer>& w, const api::FileEntry& e) {
  w.StartObject();
  w.Key("name");
  w.String(e.name);
  w.Key("type");
  w.String(TypeName(e.type));
  w.Key("size");
  w.Uint64(e.size);
  w.Key("permissions");
  w.String(Octal(e.permissions));
  w.Key("last_modified");
  w.String(TimeString(e.last_modified, true));
  if (e.user) {
    w.Key("user");
    w.String(*e.user);
  }
  if (e.group) {
    w.Key("group");
    w.String(*e.group);
  }
  if (e.link_target) {
    w.Key("link_target");
    w.String(*e.link_target);
  }
  w.EndObject();
}

struct Prepared {
  std::unique_ptr<Context> ctx;
  api::Endpoint endpoint;
  Target target;
};

// Shared by ls/stat: config, context, collection resolution. Returns an exit code on failure.
std::optional<Prepared> Prepare(const Args& args, const std::string& target_arg, int* rc) {
  auto cfg = ConfigFromArgs(args);
  if (!cfg) {
    *rc = ReportError(cfg.error());
    return std::nullopt;
  }
  Prepared p;
  p.ctx = MakeContext(*cfg);
  p.target = SplitTarget(target_arg);
  if (p.target.collection.empty()) {
    *rc = ReportUsage("missing collection before ':'", "ls");
    return std::nullopt;
  }
  auto ep = ResolveCollection(*p.ctx->transfer, p.target.collection);
  if (!ep) {
    Error e = ep.error();
    // "Lab:data" is read as a collection named "Lab:data": paths start with / or ~.
    if (e.kind == ErrorKind::kApi && ErrnoFor(e) == ENOENT &&
        p.target.collection.find(':') != std::string::npos)
      e.message += "; a PATH after ':' starts with / or ~ (COLLECTION:/path)";
    *rc = ReportError(e, p.target.collection);
    return std::nullopt;
  }
  p.endpoint = std::move(*ep);
  if (p.endpoint.non_functional) {
    std::cerr << "globus-fuse: '" << p.endpoint.display_name
              << "' is a Globus Connect Server endpoint, which holds no files; use one of its "
                 "collections\n";
    *rc = kExitFailure;
    return std::nullopt;
  }
  return p;
}

}  // namespace

int CmdLs(int argc, char** argv) {
  int rc = 0;
  auto args = ParseOrExit(argc, argv, LsSpec(), &rc);
  if (!args) return rc;
  if (args->positionals().size() != 1)
    return ReportUsage("expected exactly one COLLECTION[:PATH]", "ls");
  auto p = Prepare(*args, args->positionals()[0], &rc);
  if (!p) return rc;
  auto list = api::LsAll(*p->ctx->transfer, p->endpoint.id, p->target.path);
  if (!list) return ReportError(list.error(), p->endpoint.display_name);
  std::vector<api::FileEntry> entries;
  for (const auto& e : list->entries)
    if (args->Has("all") || e.name.empty() || e.name[0] != '.') entries.push_back(e);
  std::sort(entries.begin(), entries.end(),
            [](const api::FileEntry& a, const api::FileEntry& b) { return a.name < b.name; });

  if (args->Has("json")) {
    rapidjson::StringBuffer buf;
    rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("collection");
    w.String(p->endpoint.id);
    w.Key("display_name");
    w.String(p->endpoint.display_name);
    w.Key("path");
    w.String(list->path);
    w.Key("entries");
    w.StartArray();
    for (const auto& e : entries) WriteEntry(w, e);
    w.EndArray();
    w.EndObject();
    std::cout << buf.GetString() << "\n";
    return kExitOk;
  }
  if (!args->Has("long")) {
    for (const auto& e : entries)
      std::cout << e.name << (e.type == api::EntryType::kDir ? "/" : "") << "\n";
    return kExitOk;
  }
  std::size_t uw = 1, gw = 1, sw = 1;
  for (const auto& e : entries) {
    uw = std::max(uw, e.user.value_or("-").size());
    gw = std::max(gw, e.group.value_or("-").size());
    sw = std::max(sw, std::to_string(e.size).size());
  }
  for (const auto& e : entries) {
    std::string u = e.user.value_or("-"), g = e.group.value_or("-");
    std::string size = std::to_string(e.size);
    std::cout << ModeString(e) << " " << u << std::string(uw - u.size() + 1, ' ') << g
              << std::string(gw - g.size() + 1, ' ') << std::string(sw - size.size(), ' ') << size
              << " " << TimeString(e.last_modified, false) << " " << e.name;
    if (e.link_target) std::cout << " -> " << *e.link_target;
    std::cout << "\n";
  }
  return kExitOk;
}

int CmdStat(int argc, char** argv) {
  int rc = 0;
  auto args = ParseOrExit(argc, argv, StatSpec(), &rc);
  if (!args) return rc;
  if (args->positionals().size() != 1)
    return ReportUsage("expected exactly one COLLECTION:PATH", "stat");
  if (!SplitTarget(args->positionals()[0]).has_path)
    return ReportUsage("expected COLLECTION:PATH (with a path)", "stat");
  auto p = Prepare(*args, args->positionals()[0], &rc);
  if (!p) return rc;
  auto e = p->ctx->transfer->Stat(p->endpoint.id, p->target.path);
  if (!e) return ReportError(e.error(), p->endpoint.display_name);
  if (args->Has("json")) {
    rapidjson::StringBuffer buf;
    rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buf);
    WriteEntry(w, *e);
    std::cout << buf.GetString() << "\n";
    return kExitOk;
  }
  std::cout << "Collection:  " << p->endpoint.display_name << " (" << p->endpoint.id << ")\n"
            << "Path:        " << p->target.path << "\n"
            << "Name:        " << e->name << "\n"
            << "Type:        " << TypeName(e->type) << "\n"
            << "Size:        " << e->size << "\n"
            << "Permissions: " << Octal(e->permissions) << " (" << ModeString(*e) << ")\n"
            << "Modified:    " << TimeString(e->last_modified, true) << "\n";
  if (e->user || e->group)
    std::cout << "Owner:       " << e->user.value_or("-") << ":" << e->group.value_or("-") << "\n";
  if (e->link_target) std::cout << "Link target: " << *e->link_target << "\n";
  return kExitOk;
}

}  // namespace gf::cli
