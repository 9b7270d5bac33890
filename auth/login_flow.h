// The native-app authorization-code + PKCE login (globus-api.md §3).
//
// Two ways to finish:
//  (a) loopback (default): a LoopbackListener on 127.0.0.1:<random port>; redirect_uri
//      http://127.0.0.1:<port>/callback. RFC 8252 §7.3 lets native apps use any loopback port;
//      the app registered at app.globus.org must allow that redirect (see README).
//      The browser is opened with LaunchBrowser() unless open_browser is false.
//  (b) no_browser: redirect_uri <auth_url>/v2/web/auth-code (Globus shows the code), and the
//      code is read from LoginEnv::read_code (stdin by default). `state` cannot be checked in
//      this mode (the user pastes only the code); PKCE still binds the code to this process.
//
// The flow is split so a running mount can reuse it in the background (one flow per
// requirement, shown by `globus-fuse status`): Start() prepares everything, reports the URL
// through LoginEnv::on_url (never printing itself), and returns a LoginFlow; Wait() blocks
// until the code arrives, exchanges it and merges the tokens into the store; Cancel() (any
// thread) makes Wait() return kAuth/kFlowFailed (loopback mode).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "auth/loopback_listener.h"
#include "auth/oauth_client.h"
#include "auth/token_store.h"
#include "common/error.h"

namespace gf::auth {

struct LoginRequest {
  std::vector<std::string> scopes;        // merged with authorization.required_scopes
  AuthorizationParameters authorization;  // session requirements, prompt=login, ...
  bool no_browser = false;                // paste-the-code mode
  std::chrono::seconds timeout{120};      // loopback mode: how long to wait
  bool open_browser = true;               // loopback mode: launch $BROWSER / xdg-open
};

struct LoginEnv {
  // Where the URL goes (the CLI prints it; the mount records it for `status`). Called once
  // from Start(); `browser_opened` says whether a browser was launched.
  std::function<void(const std::string& url, bool browser_opened)> on_url;
  // Launches a browser at the URL; default LaunchBrowser. Returns false if none was started.
  std::function<bool(const std::string& url)> launch_browser;
  // no_browser mode: reads the pasted code; default reads one line from stdin.
  std::function<Result<std::string>()> read_code;
};

struct LoginResult {
  std::vector<Token> tokens;  // what Globus Auth granted (one per resource server)
  StoredTokens stored;        // the store after merging
};

class LoginFlow {
 public:
  static Result<std::unique_ptr<LoginFlow>> Start(OAuthClient& oauth, TokenStore& store,
                                                  LoginRequest request, LoginEnv env = {});
  const std::string& url() const { return url_; }
  const std::string& redirect_uri() const { return redirect_uri_; }
  const std::vector<std::string>& scopes() const { return scopes_; }

  // Blocks until done. Call once.
  Result<LoginResult> Wait();
  void Cancel();

 private:
  LoginFlow(OAuthClient& oauth, TokenStore& store, LoginRequest request, LoginEnv env)
      : oauth_(oauth), store_(store), request_(std::move(request)), env_(std::move(env)) {}

  OAuthClient& oauth_;
  TokenStore& store_;
  LoginRequest request_;
  LoginEnv env_;
  std::string verifier_;
  std::string url_;
  std::string redirect_uri_;
  std::vector<std::string> scopes_;
  std::mutex listener_mu_;  // guards resetting listener_ against Cancel() from another thread
  std::unique_ptr<LoopbackListener> listener_;
  std::atomic<bool> cancelled_{false};
};

// Start + Wait.
Result<LoginResult> RunLogin(OAuthClient& oauth, TokenStore& store, const LoginRequest& request,
                             LoginEnv env = {});

// Opens `url` in a browser without waiting for it (double fork; stdin from /dev/null):
//  - $BROWSER, like Python's webbrowser: a ':'-separated list of commands; the first whose
//    program exists is used; each command is run with /bin/sh -c, with "%s" replaced by the
//    single-quoted URL or, without "%s", the quoted URL appended as the last argument (so
//    BROWSER="scripts/globus-sim browser --user bob" works);
//  - else xdg-open, when it is on $PATH.
// Returns false when no browser could be started (the caller has shown the URL anyway).
bool LaunchBrowser(const std::string& url);

}  // namespace gf::auth
