// login, logout, whoami.
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include <iostream>
#include <set>

#include "auth/login_flow.h"
#include "auth/scopes.h"
#include "cli/commands.h"
#include "cli/context.h"
#include "common/log.h"

namespace gf::cli {

// The command specs are shared with the help, man page and completion renderers (cli/docs.h).
const CommandSpec& LoginSpec() {
  static const CommandSpec s{
      "login",
      "[--domain D]... [--identity I]... [--policy P]... [--scope S]... [--mfa] [--no-browser] "
      "[--force]",
      "Log in to Globus, or satisfy a collection's session or consent requirement.",
      "Opens a browser at Globus Auth (native-app login with PKCE; the reply comes back to a\n"
      "listener on 127.0.0.1). The browser is $BROWSER if set (a ':'-separated list of commands;\n"
      "the URL is appended, or replaces %s), else xdg-open; the URL is printed too. With\n"
      "--no-browser, open the printed URL anywhere and paste the code Globus shows.\n"
      "By default it requests: openid profile email view_identity_set, Transfer (with\n"
      "data_access consent for known mapped collections) and the HTTPS scope of configured\n"
      "collections, plus every scope already granted. Tokens go to `token_file` (mode 0600).\n"
      "When globus-fuse reports that a collection needs an identity, a policy or consent, it\n"
      "prints the exact `globus-fuse login ...` command to run.",
      {
          {"domain", 0, true, true, "DOMAIN", "require an identity from DOMAIN in the session"},
          {"identity", 0, true, true, "ID", "require this identity (id or username)"},
          {"policy", 0, true, true, "POLICY", "satisfy this authentication policy id"},
          {"scope", 0, true, true, "SCOPE", "also request SCOPE (e.g. a collection's consent)"},
          {"mfa", 0, false, false, "", "require multi-factor authentication"},
          {"no-browser", 0, false, false, "", "print the URL and read the code from stdin"},
          {"force", 0, false, false, "", "log in again even if already logged in"},
      },
      {
          "globus-fuse login",
          "globus-fuse login --domain rprox.hpc.umanitoba.ca",
          "globus-fuse login --scope 'urn:globus:auth:scope:transfer.api.globus.org:all"
          "[*https://auth.globus.org/scopes/<COLLECTION>/data_access]'",
          "globus-fuse login --no-browser",
      }};
  return s;
}

const CommandSpec& LogoutSpec() {
  static const CommandSpec s{
      "logout",
      "",
      "Revoke the stored Globus tokens and delete the token file.",
      "Each token is revoked at Globus Auth; the token file is deleted even if some revocations\n"
      "fail (they are reported). Running mounts lose access at their next token use.",
      {},
      {"globus-fuse logout"}};
  return s;
}

const CommandSpec& WhoamiSpec() {
  static const CommandSpec s{
      "whoami",
      "[--json]",
      "Show the logged-in identity and its linked identities.",
      "Identities marked [session] have authenticated in the current Globus session (that is\n"
      "what collections with identity-domain policies check).",
      {{"json", 0, false, false, "", "print JSON"}},
      {"globus-fuse whoami", "globus-fuse whoami --json"}};
  return s;
}

namespace {

// Collections from the config that are known (via Transfer) to be mapped GCSv5 (data_access
// consent) or to have an HTTPS server. Best effort: needs a Transfer token already.
void KnownCollections(Context& ctx, std::vector<std::string>* mapped,
                      std::vector<std::string>* https) {
  for (const auto& c : ctx.config.collections) {
    auto e = ResolveCollection(*ctx.transfer, c);
    if (!e && e.error().kind == ErrorKind::kTransport) {
      // Unreachable: every other collection would wait out the same retries.
      std::cerr << "globus-fuse: warning: cannot reach Globus Transfer ("
                << log::Redact(e.error().Describe())
                << "); not asking consent for the configured collections now\n";
      return;
    }
    if (!e) {
      log::Debug("login", "not adding scopes for '", c, "': ", e.error().Describe());
      continue;
    }
    if (e->IsMappedGcsv5() && !e->high_assurance) mapped->push_back(e->id);
    if (e->https_server) https->push_back(e->id);
  }
}

// The logged-in user, as Globus Auth sees it now: the stored Auth token, refreshed when it
// expired or the service answers 401. A refused refresh is kAuth/kLoginAgain.
Result<auth::UserInfo> CurrentUser(Context& ctx) {
  auto tok = ctx.tokens->AccessToken(auth::kAuthResourceServer);
  if (!tok) return tok.error();
  auto info = ctx.oauth->GetUserInfo(*tok);
  if (!info && info.error().http_status == 401) {
    GF_TRY_STATUS(ctx.tokens->ForceRefresh(auth::kAuthResourceServer, *tok));
    tok = ctx.tokens->AccessToken(auth::kAuthResourceServer);
    if (!tok) return tok.error();
    info = ctx.oauth->GetUserInfo(*tok);
  }
  return info;
}

// The stored tokens, with a damaged token file moved aside (and said so) so that a fresh login
// can replace it.
Result<auth::StoredTokens> LoadForLogin(Context& ctx) {
  auto stored = ctx.store->Load();
  if (stored || !auth::IsDamagedTokenFile(stored.error())) return stored;
  auto aside = ctx.store->MoveAside();
  if (!aside) return aside.error();
  std::cerr << "globus-fuse: " << ctx.store->path()
            << " was damaged (not a token file); moved it to " << *aside << "\n";
  return auth::StoredTokens{};
}

}  // namespace

int CmdLogin(int argc, char** argv) {
  int rc = 0;
  auto args = ParseOrExit(argc, argv, LoginSpec(), &rc);
  if (!args) return rc;
  if (!args->positionals().empty())
    return ReportUsage("unexpected argument '" + args->positionals()[0] + "'", "login");
  for (const char* flag : {"domain", "identity", "policy", "scope"})
    for (const auto& v : args->GetAll(flag))
      if (v.find_first_not_of(" \t") == std::string::npos)
        return ReportUsage(std::string("--") + flag + " needs a non-empty value", "login");
  auto cfg = ConfigFromArgs(*args);
  if (!cfg) return ReportError(cfg.error());
  auto ctx = MakeContext(*cfg);

  auth::LoginRequest req;
  AuthorizationParameters& a = req.authorization;
  a.session_required_single_domain = args->GetAll("domain");
  a.session_required_identities = args->GetAll("identity");
  a.session_required_policies = args->GetAll("policy");
  if (args->Has("mfa")) a.session_required_mfa = true;
  bool session = !a.session_required_single_domain.empty() ||
                 !a.session_required_identities.empty() || !a.session_required_policies.empty() ||
                 args->Has("mfa");
  a.prompt_login = session || args->Has("force");
  req.no_browser = args->Has("no-browser");
  req.open_browser = cfg->open_browser;
  req.timeout = std::chrono::seconds(static_cast<int64_t>(cfg->auth_timeout));

  // Reach Globus Auth before sending anyone to a browser: unreachable, the flow would only end
  // at auth_timeout, with nothing said about why. Any HTTP answer will do.
  http::Request probe;
  probe.url = cfg->auth_url + "/.well-known/openid-configuration";
  if (auto answer = ctx->transport->Send(probe); !answer) {
    Error e = answer.error();
    e.context = "cannot reach Globus Auth at " + cfg->auth_url;
    return ReportError(e);
  }
  auto stored = LoadForLogin(*ctx);
  if (!stored) return ReportError(stored.error());
  bool logged_in = stored->tokens.count(auth::kTransferResourceServer) != 0;
  if (logged_in && !session && !args->Has("force") && args->GetAll("scope").empty()) {
    // Stored tokens that Globus no longer accepts (refresh token revoked or expired) are not a
    // login: every other command says "run `globus-fuse login`", so this must log in again.
    auto user = CurrentUser(*ctx);
    if (!user && user.error().kind == ErrorKind::kAuth) {
      std::cerr << "globus-fuse: the stored login no longer works ("
                << log::Redact(user.error().Describe()) << "); logging in again\n";
      logged_in = false;
    } else if (!user && user.error().kind == ErrorKind::kTransport) {
      return ReportError(user.error());
    }
  }
  if (logged_in && !session && !args->Has("force") && args->GetAll("scope").empty()) {
    std::string who = stored->identity_username.empty() ? "" : " as " + stored->identity_username;
    std::cout << "Already logged in" << who
              << ". Use --force to log in again, or --domain/--scope to add a requirement.\n";
    return kExitOk;
  }

  std::vector<std::string> mapped, https;
  if (logged_in) KnownCollections(*ctx, &mapped, &https);
  std::vector<std::string> scopes = auth::DefaultLoginScopes(mapped, https);
  std::vector<std::string> granted;
  for (const auto& [rs, t] : stored->tokens)
    if (!t.scope.empty()) granted.push_back(t.scope);
  scopes = auth::MergeScopeStrings(scopes, granted);
  scopes = auth::MergeScopeStrings(scopes, args->GetAll("scope"));
  req.scopes = scopes;

  auth::LoginEnv env;
  env.on_url = [&](const std::string& url, bool opened) {
    if (req.no_browser) {
      std::cerr << "Open this URL in a browser, log in, and copy the code Globus shows:\n\n  "
                << url << "\n\n";
    } else if (opened) {
      std::cerr << "Opening a browser to log in to Globus. If it does not open, visit:\n\n  " << url
                << "\n\nWaiting for the login to finish (up to "
                << static_cast<int64_t>(cfg->auth_timeout) << " s)...\n";
    } else {
      std::cerr << "Open this URL in a browser on this machine to log in to Globus:\n\n  " << url
                << "\n\nWaiting for the login to finish (up to "
                << static_cast<int64_t>(cfg->auth_timeout) << " s)...\n";
    }
  };
  // A login that timed out: the browser may never have opened (a broken $BROWSER exits at
  // once, unseen: it runs detached), so name the way that needs none.
  auto login_failed = [&](Error e) {
    if (e.kind == ErrorKind::kAuth && e.auth == AuthFailure::kFlowTimedOut && !req.no_browser)
      e.message += " (" + std::to_string(static_cast<int64_t>(cfg->auth_timeout)) +
                   " s); if no browser opened, run `globus-fuse login --no-browser`";
    return ReportError(e);
  };
  auto r = auth::RunLogin(*ctx->oauth, *ctx->store, req, env);
  if (!r) return login_failed(r.error());

  // A first login cannot know which configured collections are mapped (data_access) or have
  // an HTTPS server: that takes a Transfer token. Now that we have one, ask once more for the
  // scopes they need, so the mount does not have to stop for consent on first use.
  if (!logged_in && !ctx->config.collections.empty()) {
    std::vector<std::string> more_mapped, more_https;
    KnownCollections(*ctx, &more_mapped, &more_https);
    std::vector<std::string> wanted = auth::DefaultLoginScopes(more_mapped, more_https);
    std::vector<std::string> have;
    for (const auto& [rs, t] : r->stored.tokens)
      if (!t.scope.empty()) have.push_back(t.scope);
    std::vector<std::string> merged = auth::MergeScopeStrings(have, wanted);
    if (merged != auth::MergeScopeStrings(have, {})) {
      std::cerr << "Asking consent for the configured collections (" << more_https.size()
                << " with HTTPS access, " << more_mapped.size() << " mapped)...\n";
      auth::LoginRequest consent = req;
      consent.scopes = merged;
      consent.authorization = {};
      auto r2 = auth::RunLogin(*ctx->oauth, *ctx->store, consent, env);
      if (!r2) return login_failed(r2.error());
      r = std::move(r2);
    }
  }
  std::string who =
      r->stored.identity_username.empty() ? std::string("") : " as " + r->stored.identity_username;
  std::cout << "Logged in" << who << " (tokens for " << r->tokens.size()
            << " resource server(s) saved to " << ctx->store->path() << ").\n";
  return kExitOk;
}

int CmdLogout(int argc, char** argv) {
  int rc = 0;
  auto args = ParseOrExit(argc, argv, LogoutSpec(), &rc);
  if (!args) return rc;
  if (!args->positionals().empty())
    return ReportUsage("unexpected argument '" + args->positionals()[0] + "'", "logout");
  auto cfg = ConfigFromArgs(*args);
  if (!cfg) return ReportError(cfg.error());
  auto ctx = MakeContext(*cfg);
  auto stored = ctx->store->Load();
  if (!stored && auth::IsDamagedTokenFile(stored.error())) {
    // Nothing can be read to revoke; logging out still means no tokens left on disk.
    auto rm = ctx->store->Remove();
    if (!rm.ok()) return ReportError(rm.error());
    std::cerr << "globus-fuse: deleted the damaged token file " << ctx->store->path()
              << "; its tokens could not be read, so they were not revoked (revoke them at "
                 "https://app.globus.org/account/consents)\n";
    return kExitFailure;
  }
  if (!stored) return ReportError(stored.error());
  if (stored->tokens.empty()) {
    auto rm = ctx->store->Remove();
    if (!rm.ok()) return ReportError(rm.error());
    std::cout << "Not logged in; nothing to revoke.\n";
    return kExitOk;
  }
  std::vector<std::string> failed;
  std::optional<Error> first_error;
  int revoked = 0;
  if (cfg->client_id.empty()) {
    failed.push_back("all (no client_id configured)");
  } else {
    std::set<std::string> done;
    for (const auto& [rs, t] : stored->tokens) {
      bool ok = true;
      for (const std::string* tok : {&t.refresh_token, &t.access_token}) {
        if (tok->empty() || done.count(*tok)) continue;
        done.insert(*tok);
        auto s = ctx->oauth->Revoke(*tok);
        if (!s.ok()) {
          ok = false;
          if (!first_error) first_error = s.error();
        }
      }
      if (ok)
        ++revoked;
      else
        failed.push_back(rs);
    }
  }
  auto rm = ctx->store->Remove();
  if (!rm.ok()) return ReportError(rm.error());
  if (!failed.empty()) {
    std::string list;
    for (const auto& f : failed) list += (list.empty() ? "" : ", ") + f;
    std::cerr << "globus-fuse: deleted " << ctx->store->path()
              << ", but could not revoke the tokens for: " << list;
    if (first_error) std::cerr << " (" << log::Redact(first_error->Describe()) << ")";
    std::cerr << "; they stay valid until they expire (revoke them at "
                 "https://app.globus.org/account/consents)\n";
    return first_error ? ExitCodeFor(*first_error) : kExitFailure;
  }
  std::cout << "Logged out: revoked the tokens for " << revoked
            << " resource server(s) and deleted " << ctx->store->path() << ".\n";
  return kExitOk;
}

int CmdWhoami(int argc, char** argv) {
  int rc = 0;
  auto args = ParseOrExit(argc, argv, WhoamiSpec(), &rc);
  if (!args) return rc;
  if (!args->positionals().empty())
    return ReportUsage("unexpected argument '" + args->positionals()[0] + "'", "whoami");
  auto cfg = ConfigFromArgs(*args);
  if (!cfg) return ReportError(cfg.error());
  auto ctx = MakeContext(*cfg);
  auto info = CurrentUser(*ctx);
  if (!info) return ReportError(info.error());
  auto snap = ctx->tokens->Snapshot();
  std::set<std::string> session_ids;
  if (snap) session_ids.insert(snap->session_identities.begin(), snap->session_identities.end());
  auto in_session = [&](const auth::LinkedIdentity& i) {
    return i.last_authentication.has_value() || session_ids.count(i.sub) != 0;
  };

  if (args->Has("json")) {
    rapidjson::StringBuffer buf;
    rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("sub");
    w.String(info->sub);
    w.Key("username");
    w.String(info->preferred_username);
    w.Key("name");
    w.String(info->name);
    w.Key("email");
    w.String(info->email);
    w.Key("identities");
    w.StartArray();
    for (const auto& i : info->identity_set) {
      w.StartObject();
      w.Key("sub");
      w.String(i.sub);
      w.Key("username");
      w.String(i.username);
      w.Key("name");
      w.String(i.name);
      w.Key("identity_provider_display_name");
      w.String(i.identity_provider_display_name);
      w.Key("organization");
      w.String(i.organization);
      w.Key("primary");
      w.Bool(i.sub == info->sub);
      w.Key("in_session");
      w.Bool(in_session(i));
      w.Key("last_authentication");
      if (i.last_authentication)
        w.Int64(*i.last_authentication);
      else
        w.Null();
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    std::cout << buf.GetString() << "\n";
    return kExitOk;
  }

  std::cout << info->preferred_username;
  if (!info->name.empty()) std::cout << " (" << info->name << ")";
  if (!info->email.empty()) std::cout << " <" << info->email << ">";
  std::cout << "\n";
  if (!info->identity_set.empty()) {
    std::size_t width = 0;
    for (const auto& i : info->identity_set) width = std::max(width, i.username.size());
    std::cout << "Linked identities:\n";
    for (const auto& i : info->identity_set) {
      std::cout << "  " << i.username << std::string(width - i.username.size() + 2, ' ');
      std::string org = i.identity_provider_display_name;
      if (!i.organization.empty() && i.organization != org)
        org += org.empty() ? i.organization : " / " + i.organization;
      std::cout << org;
      std::vector<std::string> tags;
      if (i.sub == info->sub) tags.push_back("primary");
      if (in_session(i)) tags.push_back("session");
      if (!tags.empty()) {
        std::cout << "  [";
        for (std::size_t k = 0; k < tags.size(); ++k) std::cout << (k ? ", " : "") << tags[k];
        std::cout << "]";
      }
      std::cout << "\n";
    }
  }
  return kExitOk;
}

}  // namespace gf::cli
