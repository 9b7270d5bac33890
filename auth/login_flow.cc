#include "auth/login_flow.h"

#include "auth/process.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <iostream>

#include "auth/authorize_url.h"
#include "auth/pkce.h"
#include "auth/remedy.h"
#include "auth/token_source.h"
#include "common/log.h"

namespace gf::auth {
namespace {

constexpr const char* kLog = "login";

std::string Trim(std::string s) {
  auto b = s.find_first_not_of(" \t\r\n");
  auto e = s.find_last_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  return s.substr(b, e - b + 1);
}

Result<std::string> ReadCodeFromStdin() {
  std::cerr << "Paste the authorization code shown after login, then press Enter: " << std::flush;
  std::string line;
  const bool got = static_cast<bool>(std::getline(std::cin, line));
  if (!isatty(STDIN_FILENO)) std::cerr << "\n";  // a piped code echoes no Enter: end the prompt
  if (!got) return Error::Auth(AuthFailure::kFlowFailed, "no authorization code was entered");
  line = Trim(line);
  if (line.empty())
    return Error::Auth(AuthFailure::kFlowFailed, "no authorization code was entered");
  return line;
}

}  // namespace

bool LaunchBrowser(const std::string& url) {
  const char* browser = std::getenv("BROWSER");
  if (browser && *browser) {
    std::string list = browser;
    std::size_t start = 0;
    for (;;) {
      auto colon = list.find(':', start);
      std::string cmd = Trim(list.substr(start, colon - start));
      std::string prog = cmd.substr(0, cmd.find_first_of(" \t"));
      if (!cmd.empty() && ProgramOnPath(prog)) {
        std::string quoted = ShellQuote(url);
        auto pct = cmd.find("%s");
        std::string line =
            pct == std::string::npos ? cmd + " " + quoted : cmd.replace(pct, 2, quoted);
        log::Debug(kLog, "opening the browser with $BROWSER (", prog, ")");
        if (SpawnDetached({"/bin/sh", "-c", line})) return true;
      }
      if (colon == std::string::npos) break;
      start = colon + 1;
    }
    log::Warn(kLog, "no command in $BROWSER could be started");
    return false;
  }
  if (ProgramOnPath("xdg-open")) return SpawnDetached({"xdg-open", url});
  return false;
}

Result<std::unique_ptr<LoginFlow>> LoginFlow::Start(OAuthClient& oauth, TokenStore& store,
                                                    LoginRequest request, LoginEnv env) {
  if (oauth.client_id().empty())
    return Error::Config(
        "no client_id configured: register a native app at https://app.globus.org/settings/"
        "developers, then set `client_id = <its id>` in the config file (see README)");
  std::unique_ptr<LoginFlow> f(new LoginFlow(oauth, store, std::move(request), std::move(env)));
  auto pkce = MakePkce();
  if (!pkce) return pkce.error();
  auto state = MakeState();
  if (!state) return state.error();
  f->verifier_ = pkce->verifier;

  if (f->request_.no_browser) {
    f->redirect_uri_ = oauth.auth_url() + "/v2/web/auth-code";
  } else {
    auto l = LoopbackListener::Start(*state);
    if (!l) return l.error();
    f->listener_ = std::move(*l);
    f->redirect_uri_ = f->listener_->redirect_uri();
  }
  AuthorizeUrlParams p;
  p.auth_url = oauth.auth_url();
  p.client_id = oauth.client_id();
  p.redirect_uri = f->redirect_uri_;
  p.scopes = f->request_.scopes;
  p.state = *state;
  p.code_challenge = pkce->challenge;
  p.authorization = f->request_.authorization;
  f->scopes_ = EffectiveScopes(p.scopes, p.authorization);
  f->url_ = BuildAuthorizeUrl(p);

  bool opened = false;
  if (!f->request_.no_browser && f->request_.open_browser) {
    auto launch = f->env_.launch_browser ? f->env_.launch_browser : LaunchBrowser;
    opened = launch(f->url_);
  }
  if (f->env_.on_url) f->env_.on_url(f->url_, opened);
  return f;
}

void LoginFlow::Cancel() {
  cancelled_ = true;
  std::lock_guard<std::mutex> l(listener_mu_);
  if (listener_) listener_->Cancel();
}

Result<LoginResult> LoginFlow::Wait() {
  std::string code;
  if (request_.no_browser) {
    auto read = env_.read_code ? env_.read_code() : ReadCodeFromStdin();
    if (!read) return read.error();
    code = Trim(*read);
  } else {
    auto got = listener_->Wait(request_.timeout);
    {
      std::lock_guard<std::mutex> l(listener_mu_);
      listener_.reset();  // stop listening as soon as we have an answer
    }
    if (!got) return got.error();
    code = *got;
  }
  if (cancelled_) return Error::Auth(AuthFailure::kFlowFailed, "the login was cancelled");

  auto tokens = oauth_.ExchangeCode(code, verifier_, redirect_uri_);
  if (!tokens) return tokens.error();

  // Best effort: remember who logged in and which identities are in the session.
  std::optional<UserInfo> who;
  for (const auto& t : *tokens) {
    if (t.resource_server != kAuthResourceServer) continue;
    auto u = oauth_.GetUserInfo(t.access_token);
    if (u)
      who = std::move(*u);
    else
      log::Debug(kLog, "userinfo after login failed: ", u.error().Describe());
  }

  auto stored = store_.Update([&](StoredTokens& s) -> Status {
    for (const auto& t : *tokens) {
      Token merged = t;
      auto it = s.tokens.find(t.resource_server);
      if (merged.refresh_token.empty() && it != s.tokens.end())
        merged.refresh_token = it->second.refresh_token;
      s.tokens[t.resource_server] = std::move(merged);
    }
    if (who) {
      s.identity_sub = who->sub;
      s.identity_username = who->preferred_username;
      s.session_identities.clear();
      for (const auto& i : who->identity_set)
        if (i.last_authentication.has_value()) s.session_identities.push_back(i.sub);
    }
    return Status::Ok();
  });
  if (!stored) return stored.error();
  log::Info(kLog, "login complete; tokens for ", tokens->size(), " resource server(s) saved");
  return LoginResult{std::move(*tokens), std::move(*stored)};
}

Result<LoginResult> RunLogin(OAuthClient& oauth, TokenStore& store, const LoginRequest& request,
                             LoginEnv env) {
  auto flow = LoginFlow::Start(oauth, store, request, std::move(env));
  if (!flow) return flow.error();
  return (*flow)->Wait();
}

}  // namespace gf::auth
