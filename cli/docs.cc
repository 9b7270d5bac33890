#include "cli/docs.h"

#include <sstream>
#include <vector>

#include "cli/args.h"
#include "cli/commands.h"
#include "common/config.h"

namespace gf::cli {
namespace {

constexpr const char* kIntro =
    "globus-fuse mounts Globus collections as a filesystem and talks to Globus from the\n"
    "command line.";

constexpr const char* kManDescription =
    "globus-fuse mounts your Globus collections as one directory tree, so that ordinary tools\n"
    "(ls, stat, find, du, cat, tar, cp, mv) work on them. Each collection is a directory under\n"
    "the mount. Listings and metadata come from the Globus Transfer API, file contents from the\n"
    "collection's HTTPS server. cp and mv between two mounted collections become Globus\n"
    "transfer tasks: the bytes never pass through this machine. When a collection asks for\n"
    "more (an identity from its domain, a consent, a fresh login), the mount runs that login\n"
    "flow itself, opening a browser, and the waiting operation then succeeds.";

const ConfigKeyDoc kKeyDocs[] = {
    {"client_id", "", true,
     "The Client ID of your registered Globus native app (a thick client); required to log "
     "in."},
    {"transfer_url", "https://transfer.api.globus.org", true,
     "The Globus Transfer API (without /v0.10)."},
    {"auth_url", "https://auth.globus.org", true, "Globus Auth."},
    {"ca_file", "", true,
     "An extra CA bundle to trust (e.g. the emulator's); empty: the system store. TLS is always "
     "verified."},
    {"token_file", "$XDG_CONFIG_HOME/globus-fuse/tokens.json", false,
     "Where login stores the tokens (mode 0600)."},
    {"state_dir", "$XDG_STATE_HOME/globus-fuse", false,
     "Logs of background mounts and the journal of pending transfers."},
    {"collections", "", true,
     "Collections shown at the mount root, besides those of your bookmarks and --collection."},
    {"bookmarks", "true", true,
     "Show the collections of your Globus bookmarks, and the bookmarks as symlinks."},
    {"entry_ttl", "60", true, "How long a looked-up name is cached."},
    {"attr_ttl", "60", true, "How long file attributes are cached."},
    {"negative_ttl", "10", true, "How long a name that does not exist is remembered."},
    {"dir_ttl", "60", true, "How long a directory listing is cached."},
    {"max_cached_entries", "2000000", true, "Most names kept in the metadata cache."},
    {"max_negative_entries", "100000", true, "Most missing names remembered."},
    {"readahead_max", "128M", true, "The largest read-ahead window of one open file."},
    {"read_memory_limit", "512M", true, "Memory for read-ahead of all open files together."},
    {"read_parallelism", "4", true, "Parallel range requests of one sequential read."},
    {"read_part_size", "16M", true, "The largest single range request."},
    {"prefetch_workers", "4", true,
     "Threads that list subdirectories ahead of a tree walk (find, du, ls -R); 0 turns it off."},
    {"uid", "-1", true, "The owner shown for every file."},
    {"gid", "-1", true, "The group shown for every file."},
    {"umask", "0022", true,
     "Permission bits removed from what the mount shows. With allow_other this decides what "
     "other local users may read."},
    {"connect_timeout", "10", true, "Longest wait for a connection to a Globus service."},
    {"low_speed_time", "30", true, "A request that stalls this long is abandoned and retried."},
    {"request_timeout", "120", true, "Longest time one API request may take."},
    {"retry_budget_seconds", "60", true,
     "How long a request that failed in a way that may pass (network down, 5xx, 429, reset, "
     "an answer that does not parse) is retried, from its start; then the operation fails with "
     "ETIMEDOUT. Backoff grows exponentially with jitter, at most 10 s, and Retry-After is "
     "honoured. Ctrl-C ends the wait."},
    {"max_retries", "none", true,
     "Also stop retrying a request after this many retries; none: only retry_budget_seconds "
     "decides."},
    {"rate_limit_per_second", "20", true,
     "Requests per second to Globus Transfer, averaged over rate_window_seconds."},
    {"rate_window_seconds", "10", true, "The window of rate_limit_per_second."},
    {"auth_timeout", "120", true,
     "How long an operation waits for a login flow (a browser login, a consent) before "
     "failing with EACCES."},
    {"open_browser", "true", true,
     "Open a browser for login flows ($BROWSER, else xdg-open); false: only print the URL."},
    {"copy_mode", "background", true,
     "background: cp returns once the transfer task is queued; wait: when the task has ended."},
    {"verify_checksum", "true", true, "Transfer tasks verify checksums."},
    {"preserve_timestamp", "true", true, "Transfer tasks keep modification times."},
    {"encrypt_data", "false", true, "Transfer tasks encrypt the data channel."},
    {"sync_level", "none", true,
     "Transfer tasks skip files already at the destination: exists (0), size (1), mtime (2) or "
     "checksum (3); none copies everything."},
    {"batch_idle_seconds", "0.5", true,
     "cp -r: files are gathered into one task until no new one came for this long."},
    {"batch_max_items", "10000", true, "The most files in one transfer task."},
    {"pending_wait_seconds", "3600", true,
     "How long reading or fsync of a file being transferred waits for its task (then "
     "EAGAIN)."},
    {"log_file", "stderr, or state_dir/MOUNT.log for a background mount", false, "Where logs go."},
    {"debug", "false", true, "Debug logging (tokens are never logged)."},
    {"cache_dir", "$XDG_CACHE_HOME/globus-fuse", false,
     "Where files being written are staged before upload (per mount: a 0700 directory)."},
    {"write_cache_limit", "10G", true,
     "The most bytes staged for upload at once; a write past it fails with ENOSPC."},
    {"max_upload_size", "1G", true,
     "The largest file the mount will upload (0 = no limit); the write past it fails with "
     "EFBIG."},
    {"write_mode", "close", true,
     "close: close and fsync return the upload's result. background: close returns once the "
     "upload is journaled (it survives a crash), the upload runs later (globus-fuse status shows "
     "it; unmount waits for it); fsync still uploads and returns the result."},
    {"upload_parallelism", "2", true,
     "With write_mode = background: how many queued uploads run at once. More helps many small "
     "files when the collection is far away (each upload waits a round trip or more)."},
    {"upload_replace", "rename", true,
     "How a file is replaced: rename a finished upload over it, or delete it first."},
    {"delete_mode", "https", true,
     "How rm deletes one file. https: one HTTPS DELETE, and rm returns its result (the file "
     "is gone when rm returns). task: a Transfer delete task (rm returns once it is queued). "
     "Directories, symlinks, collections without an HTTPS server, and a process's files after "
     "its first delete_burst removed without a pause (rm -r), use tasks."},
    {"delete_burst", "8", true,
     "With delete_mode = https: how many different files one process may remove by HTTPS "
     "DELETE, each less than a second after the last, before its further removes are batched "
     "into delete tasks (rm -r of a big tree: 2 tasks instead of one round trip per file). "
     "0: no bound (every file by DELETE)."},
};

// Sections only the man pages have: (title, roff body).
constexpr const char* kFstabSection =
    "mount(8) runs globus-fuse through mount.fuse3(8) for the type fuse.globus-fuse, as\n"
    ".IP\n"
    ".B globus\\-fuse globus\\-fuse\n"
    ".I MOUNTPOINT\n"
    ".B \\-o\n"
    ".I OPTIONS\n"
    ".PP\n"
    "The source is the word globus\\-fuse. Config keys are accepted as options\n"
    "(\\fBentry_ttl=5\\fR), next to FUSE options (\\fBro\\fR, \\fBallow_other\\fR); the options\n"
    "only mount(8) uses (\\fBnoauto\\fR, \\fBuser\\fR, \\fB_netdev\\fR, \\fBnofail\\fR) are\n"
    "ignored. An /etc/fstab line that lets user alice mount her collections with\n"
    "\\fBmount ~/globus\\fR:\n"
    ".IP\n"
    ".EX\n"
    "globus\\-fuse  /home/alice/globus  fuse.globus\\-fuse  noauto,user,_netdev,entry_ttl=30  0  "
    "0\n"
    ".EE\n"
    ".PP\n"
    "The mount runs as the user who mounts it, with that user's configuration and tokens\n"
    "(log in first); unmount it with \\fBumount ~/globus\\fR or \\fBglobus\\-fuse unmount\\fR.\n"
    "Once installed, \\fBmount \\-t fuse.globus\\-fuse globus\\-fuse ~/globus\\fR works too.\n";

constexpr const char* kSystemdSection =
    "The user unit globus\\-fuse@.service mounts at login and unmounts at logout; its instance\n"
    "is the escaped mount point:\n"
    ".IP\n"
    ".EX\n"
    "systemctl \\-\\-user enable \\-\\-now \"$(systemd\\-escape \\-\\-template "
    "globus\\-fuse@.service"
    " \\-\\-path ~/globus)\"\n"
    ".EE\n"
    ".PP\n"
    "It runs \\fBglobus\\-fuse mount \\-f\\fR with Type=notify: the service is started (and\n"
    "units ordered after it run) only once the mount answers. Stopping it unmounts like\n"
    "SIGTERM does: a close that is uploading is let finish (at most 20 s), waits for logins\n"
    "end at once, pending transfer and delete tasks go on at Globus and the next mount on the\n"
    "same mount point tracks them and submits what was still queued (their journal is in\n"
    "state_dir).\n"
    "Logs are in the journal: \\fBjournalctl \\-\\-user \\-u\\fR the unit.\n";

constexpr const char* kUsersSection =
    "Any user can mount: globus\\-fuse runs fusermount3(1), which needs /dev/fuse to be\n"
    "readable and writable by the user (it is, on a normal installation) and a mount point the\n"
    "user owns. Only that user can then see the mount.\n"
    ".PP\n"
    "\\fB\\-\\-allow\\-other\\fR (\\-o allow_other) lets other local users in: for a user other\n"
    "than root this needs user_allow_other in /etc/fuse.conf. The mount always checks\n"
    "permissions itself (default_permissions) against the owner, group and mode it shows\n"
    "(uid, gid, umask): with the default umask 0022, every other local user can read every\n"
    "file your Globus identity can read, through your tokens. Use \\fB\\-\\-umask 0077\\fR to\n"
    "keep the files to yourself, or a group (\\fB\\-\\-gid\\fR) and \\fB\\-\\-umask 0027\\fR.\n";

constexpr const char* kFilesSection =
    ".TP\n"
    ".I $XDG_CONFIG_HOME/globus\\-fuse/config\n"
    "The configuration (~/.config/globus\\-fuse/config); see globus\\-fuse.conf(5).\n"
    ".TP\n"
    ".I $XDG_CONFIG_HOME/globus\\-fuse/tokens.json\n"
    "The tokens (mode 0600).\n"
    ".TP\n"
    ".I $XDG_STATE_HOME/globus\\-fuse/\n"
    "Logs of background mounts, and the journal of pending transfers.\n"
    ".TP\n"
    ".I MOUNTPOINT/.globus\\-fuse/status\n"
    "What the mount is doing, as JSON (read by \\fBglobus\\-fuse status\\fR).\n";

constexpr const char* kEnvironment =
    "GLOBUS_FUSE_CONFIG (the config file), GLOBUS_FUSE_CLIENT_ID, GLOBUS_FUSE_TRANSFER_URL,\n"
    "GLOBUS_FUSE_AUTH_URL, GLOBUS_FUSE_CA_FILE.";

// Text for roff: backslashes and minus signs escaped, no line may start with a control
// character. Newlines are kept (roff fills the paragraph).
std::string Roff(const std::string& text) {
  std::string out;
  bool line_start = true;
  for (char ch : text) {
    if (line_start && (ch == '.' || ch == '\'')) out += "\\&";
    line_start = ch == '\n';
    if (ch == '\\')
      out += "\\e";
    else if (ch == '-')
      out += "\\-";
    else
      out += ch;
  }
  return out;
}

// text as lines of at most `width` columns (longer words stay whole), each indented.
std::string Wrap(const std::string& text, std::size_t indent, std::size_t width) {
  std::istringstream words(text);
  std::string out, line, w;
  while (words >> w) {
    if (!line.empty() && indent + line.size() + 1 + w.size() > width) {
      out += std::string(indent, ' ') + line + "\n";
      line.clear();
    }
    line += (line.empty() ? "" : " ") + w;
  }
  if (!line.empty()) out += std::string(indent, ' ') + line + "\n";
  return out;
}

std::string OptionRoff(const OptionSpec& o) {
  std::string out = ".TP\n";
  std::string label = o.short_name ? std::string("\\fB\\-") + o.short_name + "\\fR, " : "";
  label += "\\fB" + Roff("--" + o.name) + "\\fR";
  if (o.takes_value) label += " \\fI" + Roff(o.value_name) + "\\fR";
  out += label + "\n" + Roff(o.help) + (o.repeatable ? " (repeatable)" : "") + "\n";
  return out;
}

std::string ManPage1() {
  std::ostringstream m;
  m << ".\\\" Generated by `globus-fuse __man 1` from the command tables in cli/; do not edit.\n"
    << ".TH GLOBUS\\-FUSE 1 \"\" \"globus\\-fuse " << GF_VERSION << "\" \"User Commands\"\n"
    << ".SH NAME\nglobus\\-fuse \\- mount Globus collections as a file system\n"
    << ".SH SYNOPSIS\n";
  for (const auto& c : Commands()) {
    const CommandSpec& s = c.spec();
    m << ".B globus\\-fuse " << Roff(s.name) << "\n";
    if (!s.synopsis.empty()) {
      std::istringstream words(s.synopsis);  // one line: the --help layout's breaks dropped
      std::string syn, w;
      while (words >> w) syn += (syn.empty() ? "" : " ") + w;
      m << Roff(syn) << "\n";
    }
    m << ".br\n";
  }
  m << ".SH DESCRIPTION\n" << Roff(kManDescription) << "\n";
  m << ".SH COMMANDS\n";
  for (const auto& c : Commands()) {
    const CommandSpec& s = c.spec();
    m << ".SS \"" << Roff("globus-fuse " + s.name) << "\"\n" << Roff(s.summary) << "\n";
    if (!s.description.empty()) m << ".PP\n" << Roff(s.description) << "\n";
    for (const auto& o : s.options) m << OptionRoff(o);
    if (!s.examples.empty()) {
      m << ".PP\nExamples:\n.RS\n.nf\n";
      for (const auto& e : s.examples) m << Roff(e) << "\n";
      m << ".fi\n.RE\n";
    }
  }
  m << ".SH GLOBAL OPTIONS\nEvery command accepts:\n";
  for (const auto& o : GlobalOptions()) m << OptionRoff(o);
  m << ".SH CONFIGURATION\nThe configuration file and every key are described in "
    << ".BR globus\\-fuse.conf (5);\nrun \\fBglobus\\-fuse help config\\fR for the list.\n";
  m << ".SH MOUNT(8) AND FSTAB\n" << kFstabSection;
  m << ".SH SYSTEMD\n" << kSystemdSection;
  m << ".SH USERS AND ALLOW_OTHER\n" << kUsersSection;
  m << ".SH EXIT STATUS\n";
  for (const auto& e : ExitCodes()) m << ".TP\n.B " << e.code << "\n" << Roff(e.meaning) << "\n";
  m << ".SH ENVIRONMENT\n" << Roff(kEnvironment) << "\n";
  m << ".SH FILES\n" << kFilesSection;
  m << ".SH SEE ALSO\n.BR globus\\-fuse.conf (5),\n.BR fusermount3 (1),\n.BR mount.fuse3 (8),\n"
    << ".BR systemd.service (5)\n";
  return m.str();
}

std::string ManPage5() {
  std::ostringstream m;
  m << ".\\\" Generated by `globus-fuse __man 5` from the config key tables; do not edit.\n"
    << ".TH GLOBUS\\-FUSE.CONF 5 \"\" \"globus\\-fuse " << GF_VERSION << "\" \"File Formats\"\n"
    << ".SH NAME\nglobus\\-fuse.conf \\- configuration of globus\\-fuse\n"
    << ".SH SYNOPSIS\n$XDG_CONFIG_HOME/globus\\-fuse/config (~/.config/globus\\-fuse/config), or "
       "$GLOBUS_FUSE_CONFIG, or \\fB\\-\\-config\\fR \\fIFILE\\fR\n"
    << ".SH DESCRIPTION\n"
    << Roff(
           "One `key = value` setting per line; `#` starts a comment. Unknown keys and bad "
           "values are errors naming the file and line. Flags beat environment variables, "
           "which beat the file, which beats the defaults. Any key can also be given on the "
           "command line as -o key=value (several separated by commas), and in the options "
           "of an fstab line.")
    << "\n.PP\nDurations are seconds, or take a unit (500ms, 60s, 5m, 2h); sizes take K, M, G "
       "or T (binary multiples); booleans are true/false, yes/no, on/off or 1/0.\n"
    << ".SH KEYS\n";
  for (const auto& d : ConfigKeyDocs()) {
    std::string expected;
    for (const auto& [key, what] : ConfigKeyHelp())
      if (key == d.key) expected = what;
    m << ".TP\n.BI \"" << Roff(d.key) << " = \" \"" << Roff(expected) << "\"\n"
      << Roff(d.description)
      << "\n.br\nDefault: " << (*d.default_value ? Roff(d.default_value) : "empty") << ".\n";
  }
  m << ".SH ENVIRONMENT\n" << Roff(kEnvironment) << "\n";
  m << ".SH EXAMPLE\n.EX\n"
    << Roff(
           "client_id = 0b8e0a6c-0000-4000-8000-000000000000\n"
           "collections = UManitoba Grex HPC, \"Lab, Physics\"\n"
           "entry_ttl = 30\n"
           "copy_mode = wait\n")
    << ".EE\n";
  m << ".SH SEE ALSO\n.BR globus\\-fuse (1)\n";
  return m.str();
}

}  // namespace

std::span<const ConfigKeyDoc> ConfigKeyDocs() { return kKeyDocs; }

std::string MainHelp() {
  std::string out =
      "Usage: globus-fuse <command> [options]\n\n" + std::string(kIntro) + "\n\nCommands:\n";
  for (const auto& c : Commands()) {
    std::string n = c.name;
    out += "  " + n + std::string(14 - n.size(), ' ') + c.summary + "\n";
  }
  out +=
      "\nRun `globus-fuse <command> --help` for a command's options and examples,\n"
      "`globus-fuse help config` for every configuration key, and `man globus-fuse` for\n"
      "mounting from fstab or systemd.\n\n";
  out += ExitCodeHelp();
  return out;
}

std::string ConfigHelp() {
  std::string out = "Configuration keys (`key = value` in " + DefaultConfigPath() +
                    ",\nor -o key=value on any command; flags beat environment beat file):\n\n";
  for (const auto& d : ConfigKeyDocs()) {
    std::string expected;
    for (const auto& [key, what] : ConfigKeyHelp())
      if (key == d.key) expected = what;
    std::string name = d.key;
    out += "  " + name + std::string(name.size() < 24 ? 24 - name.size() : 1, ' ') + expected +
           "\n" +
           Wrap(std::string(d.description) +
                    " Default: " + (*d.default_value ? d.default_value : "empty") + ".",
                6, 96);
  }
  out += "\nEnvironment: " + std::string(kEnvironment) + "\n";
  return out;
}

std::string ManPage(int section) {
  if (section == 1) return ManPage1();
  if (section == 5) return ManPage5();
  return "";
}

}  // namespace gf::cli
