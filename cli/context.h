// What every subcommand needs: the effective Config (defaults < file < env < flags), the
// service clients wired together, exit codes and error reporting.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "api/curl_transport.h"
#include "api/https_client.h"
#include "api/rate_limiter.h"
#include "api/transfer_client.h"
#include "auth/oauth_client.h"
#include "auth/token_manager.h"
#include "auth/token_store.h"
#include "cli/args.h"
#include "common/config.h"

namespace gf::cli {

// Exit codes (documented by ExitCodeHelp() in every --help).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitNotFound = 3;
inline constexpr int kExitAuth = 4;  // as the globus CLI uses 4 for authorization problems
inline constexpr int kExitNetwork = 5;

struct Context {
  Config config;
  std::unique_ptr<api::CurlTransport> transport;
  std::unique_ptr<auth::TokenStore> store;
  std::unique_ptr<auth::OAuthClient> oauth;
  std::unique_ptr<auth::TokenManager> tokens;
  std::unique_ptr<api::RateLimiter> limiter;
  std::shared_ptr<std::atomic<uint64_t>> retries;  // every API retry (status: api_client)
  std::unique_ptr<api::TransferClient> transfer;
  std::unique_ptr<api::HttpsClient> https;
};

// Builds the clients from a config (no network traffic happens here).
std::unique_ptr<Context> MakeContext(const Config& config);

// LoadConfig(--config), then -o/--set KEY=VALUE, --debug, --log-file; then sets up logging.
Result<Config> ConfigFromArgs(const Args& args);

// "cannot open log file PATH: <strerror(errno)>", for a failed log::SetFile (reads errno).
Error LogFileError(const std::string& path);

// The exit code for an error (see above).
int ExitCodeFor(const Error& e);
// Prints "globus-fuse: <one line saying what to do next>" to stderr and returns the exit code.
// `subject` names the collection when the error is about one (for authorization remedies).
int ReportError(const Error& e, std::string_view subject = "");
// Usage error: prints the message and returns kExitUsage.
int ReportUsage(const std::string& message, const std::string& command);

// Resolves a collection given as a UUID (GET endpoint) or a display name (endpoint_search with
// filter_fulltext, then an exact display_name match; case-insensitive only if nothing matches
// exactly). No match: kApi 404 EndpointNotFound. Several: kConfig listing the candidates.
Result<api::Endpoint> ResolveCollection(api::TransferApi& transfer, const std::string& name_or_id);

// Parses argv for `spec`; on --help prints HelpText and sets *exit_code = 0; on a parse error
// prints it and sets *exit_code = 2. Returns nullopt in both cases.
std::optional<Args> ParseOrExit(int argc, char** argv, const CommandSpec& spec, int* exit_code);

}  // namespace gf::cli
