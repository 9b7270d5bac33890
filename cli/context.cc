#include "cli/context.h"

#include "common/uuid.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <iostream>

#include "auth/remedy.h"
#include "auth/scopes.h"
#include "common/log.h"

namespace gf::cli {

std::unique_ptr<Context> MakeContext(const Config& config) {
  auto ctx = std::make_unique<Context>();
  ctx->config = config;
  api::CurlTransport::Options o;
  o.ca_file = config.ca_file;
  o.connect_timeout = config.connect_timeout;
  o.low_speed_time = config.low_speed_time;
  o.request_timeout = config.request_timeout;
  ctx->transport = std::make_unique<api::CurlTransport>(o);
  ctx->store = std::make_unique<auth::TokenStore>(config.token_file);
  ctx->oauth =
      std::make_unique<auth::OAuthClient>(*ctx->transport, config.auth_url, config.client_id);
  ctx->tokens = std::make_unique<auth::TokenManager>(*ctx->store, *ctx->oauth);
  ctx->limiter = std::make_unique<api::RateLimiter>(
      config.rate_limit_per_second, config.rate_window_seconds, SystemClock::Instance());
  api::RetryPolicy retry;
  retry.budget = Millis(static_cast<int64_t>(config.retry_budget_seconds * 1000));
  retry.max_retries = config.max_retries;
  ctx->retries = std::make_shared<std::atomic<uint64_t>>(0);
  retry.retries = ctx->retries;
  ctx->transfer = std::make_unique<api::TransferClient>(
      *ctx->transport, *ctx->tokens, config.transfer_url, retry, ctx->limiter.get());
  ctx->https = std::make_unique<api::HttpsClient>(*ctx->transport, *ctx->tokens, retry);
  return ctx;
}

Result<Config> ConfigFromArgs(const Args& args) {
  auto c = LoadConfig(args.Get("config"));
  if (!c) return c.error();
  for (const auto& kv : args.GetAll("set")) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      return Error::Config("-o " + kv + ": expected KEY=VALUE");
    std::string key = kv.substr(0, eq);
    GF_TRY_STATUS(ApplySetting(*c, key, kv.substr(eq + 1), "-o " + key));
  }
  if (args.Has("debug")) GF_TRY_STATUS(ApplySetting(*c, "debug", "true", "--debug"));
  if (args.Has("log-file"))
    GF_TRY_STATUS(ApplySetting(*c, "log_file", args.Get("log-file"), "--log-file"));
  if (!c->ca_file.empty()) {
    // Found out only at the first request otherwise, as a "TLS verification failed" (exit 5),
    // or in a mount, on every operation.
    struct stat st {};
    int err = ::stat(c->ca_file.c_str(), &st) != 0      ? errno
              : S_ISDIR(st.st_mode)                     ? EISDIR
              : ::access(c->ca_file.c_str(), R_OK) != 0 ? errno
                                                        : 0;
    if (err != 0)
      return Error::Config(c->origin["ca_file"] + ": ca_file " + c->ca_file + ": " +
                           std::strerror(err));
  }
  log::SetLevel(c->debug ? log::Level::kDebug : log::Level::kWarn);
  if (!c->log_file.empty() && !log::SetFile(c->log_file)) return LogFileError(c->log_file);
  return c;
}

Error LogFileError(const std::string& path) {
  const int err = errno;
  return Error::Local(err, "cannot open log file " + path + ": " + std::strerror(err) +
                               (err == ENOENT ? " (create its directory first)" : ""));
}

int ExitCodeFor(const Error& e) {
  switch (e.kind) {
    case ErrorKind::kAuth:
      return kExitAuth;
    case ErrorKind::kConfig:
      return kExitUsage;
    case ErrorKind::kTransport:
      return kExitNetwork;
    case ErrorKind::kApi:
      if (e.NeedsAuthorization() || e.http_status == 401) return kExitAuth;
      if (ErrnoFor(e) == ENOENT) return kExitNotFound;
      if (e.http_status == 429 || e.http_status >= 500) {
        // ExternalError.* (502) describes the collection, not the network.
        if (e.CodeIs("ExternalError")) return kExitFailure;
        return kExitNetwork;
      }
      return kExitFailure;
    case ErrorKind::kLocal:
      return e.sys_errno == ENOENT ? kExitNotFound : kExitFailure;
    case ErrorKind::kNotSupported:
      return kExitFailure;
  }
  return kExitFailure;
}

int ReportError(const Error& e, std::string_view subject) {
  std::string line;
  if (e.NeedsAuthorization() || (e.kind == ErrorKind::kAuth && e.authorization))
    line = auth::RemedyMessage(e, subject);
  else
    line = e.Describe();
  // Keep it to one line: GridFTP dumps are multi-line.
  auto nl = line.find('\n');
  if (nl != std::string::npos) line = line.substr(0, nl);
  std::cerr << "globus-fuse: " << log::Redact(line) << "\n";
  return ExitCodeFor(e);
}

int ReportUsage(const std::string& message, const std::string& command) {
  std::cerr << "globus-fuse " << command << ": " << message << " (see `globus-fuse " << command
            << " --help`)\n";
  return kExitUsage;
}

Result<api::Endpoint> ResolveCollection(api::TransferApi& transfer, const std::string& name_or_id) {
  if (LooksLikeUuid(name_or_id)) return transfer.GetEndpoint(name_or_id);
  api::EndpointSearchQuery q;
  q.filter_fulltext = name_or_id;
  q.limit = 100;
  auto found = transfer.EndpointSearch(q);
  if (!found) return found.error();
  std::vector<api::Endpoint> exact, folded;
  auto lower = [](std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  for (const auto& e : *found) {
    if (e.display_name == name_or_id) exact.push_back(e);
    if (lower(e.display_name) == lower(name_or_id)) folded.push_back(e);
  }
  const auto& matches = exact.empty() ? folded : exact;
  if (matches.empty()) {
    Error e = Error::Api(
        404, "EndpointNotFound",
        "no collection named '" + name_or_id + "' (check the name, or give the collection's UUID)");
    return e;
  }
  if (matches.size() > 1) {
    std::string list;
    for (const auto& m : matches) {
      if (!list.empty()) list += ", ";
      list += m.id;
      if (m.owner_string) list += " (owner " + *m.owner_string + ")";
    }
    return Error::Config("'" + name_or_id + "' names " + std::to_string(matches.size()) +
                         " collections: " + list + "; give the UUID instead");
  }
  return matches.front();
}

std::optional<Args> ParseOrExit(int argc, char** argv, const CommandSpec& spec, int* exit_code) {
  auto a = Args::Parse(argc, argv, spec);
  if (!a) {
    std::cerr << "globus-fuse " << spec.name << ": " << a.error().message << "\n";
    *exit_code = kExitUsage;
    return std::nullopt;
  }
  if (a->Has("help")) {
    std::cout << HelpText(spec);
    *exit_code = kExitOk;
    return std::nullopt;
  }
  return std::move(*a);
}

}  // namespace gf::cli
