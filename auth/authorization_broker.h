// AuthorizationBroker: runs the identity-link / consent / re-authentication flows that a running
// mount needs, one flow per requirement, and lets blocked operations wait for them (issue 5).
//
// An operation that fails with an authorization error (Error::NeedsAuthorization(): a Transfer
// or HTTPS error carrying GARE `authorization_parameters`, or a legacy ConsentRequired) calls
// Authorize(error, collection). The broker
//  1. turns the error into flow parameters (FlowParameters(): session_required_single_domain /
//     identities / policies / mfa, session_message, required_scopes, prompt=login) and a
//     requirement key (collection id + the normalised parameters, without session_message), so
//     two errors asking the same thing share one flow;
//  2. starts the flow for a new key through the injected FlowStarter (production:
//     LoginFlowStarter, i.e. auth::LoginFlow::Start: PKCE, a loopback listener, $BROWSER /
//     xdg-open), then tells the user through every channel: the log (stderr in `-f` mode), the
//     Notifier (desktop notification via notify-send), and Snapshot() (`globus-fuse status`);
//  3. blocks the caller until one of:
//       - the flow completes (tokens merged into the store by the flow)        -> OK, retry;
//       - the token file changed in a login-like way (another terminal ran
//         `globus-fuse login --domain ...`; see TokenFileFingerprint)           -> OK, retry;
//       - the flow's deadline (started + auth_timeout, on the injected Clock)  -> kFlowTimedOut;
//       - the flow failed (the user clicked Deny: error=access_denied, ...)    -> kFlowFailed.
//     Failures are kAuth errors (EACCES) whose message ends with the exact
//     `globus-fuse login ...` command that fixes it (auth/remedy.h), and whose `authorization`
//     holds the requirement.
//  4. remembers failures per key ("fail fast"): further Authorize calls for that key return the
//     failure at once, without a new prompt, until `failure_backoff` passes or the token file
//     changes. A user who never answers never gets a hung shell and is not re-prompted on every
//     `ls`.
// An error arriving within `recent_success` after its requirement was met by a flow retries at
// once (it came from a request sent with the old tokens), so concurrent operations never open a
// second browser tab for the same requirement.
// When waiters were released by an external token change, the flow is left running for
// `confirm_grace`: if the retried operation still fails, its Authorize call joins the same flow
// again; if nothing comes back for that key, the requirement is taken as met and the flow is
// cancelled (its loopback listener closed).
//
// Time: deadlines, back-offs and the grace period use the injected Clock. Tick() does the
// housekeeping (token-file check, deadlines, grace, reaping finished flow threads) and wakes the
// waiters; a ticker thread calls it every `poll_interval` unless `start_ticker` is false (unit
// tests call Tick() themselves after moving a FakeClock).
//
// Threads: every method is thread-safe. One thread per running flow blocks in FlowHandle::Wait.
// The FlowStarter, the Notifier and the fingerprint function are never called with the broker's
// lock held. The destructor cancels every running flow and joins all threads.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "auth/login_flow.h"
#include "auth/oauth_client.h"
#include "auth/token_store.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/result.h"

namespace gf::auth {

// What a flow is asked to do.
struct FlowSpec {
  std::string collection_id;
  std::string subject;                    // display name (for messages), or the id
  AuthorizationParameters authorization;  // normalised, prompt_login set
  std::vector<std::string> scopes;        // to request besides authorization.required_scopes
  std::chrono::seconds timeout{120};      // the flow's own backstop (the broker enforces its own)
};

// A started flow. Wait() blocks until it finishes and is called once, from the flow's thread;
// Cancel() may be called from any thread, before or during Wait(), and makes Wait() return.
class FlowHandle {
 public:
  virtual ~FlowHandle() = default;
  virtual std::string url() const = 0;
  virtual bool browser_opened() const = 0;
  virtual Status Wait() = 0;
  virtual void Cancel() = 0;
};

using FlowStarter = std::function<Result<std::unique_ptr<FlowHandle>>(const FlowSpec&)>;

// One pending requirement, for `globus-fuse status` and notifications.
struct PendingAuthorization {
  enum class State { kWaiting, kFailed };
  State state = State::kWaiting;
  std::string collection_id;
  std::string subject;
  std::string session_message;  // from the service, e.g. "Session reauthentication required ..."
  std::string reason;           // what is required, e.g. "UManitoba Grex HPC requires an identity
                                // from rprox.hpc.umanitoba.ca"
  std::string url;              // where to complete it (empty for kFailed)
  std::string remedy;           // the `globus-fuse login ...` command that also satisfies it
  bool browser_opened = false;
  WallTime started_at{};
  std::chrono::seconds timeout{0};   // kWaiting: the flow's limit
  int waiters = 0;                   // operations blocked on it right now
  std::string error;                 // kFailed: why
  std::chrono::seconds retry_in{0};  // kFailed: until a new flow may start (tokens change: now)
};

// Called once when a flow has started (after the browser was launched, if it was).
using Notifier = std::function<void(const PendingAuthorization&)>;
// Identifies what the token store holds *for one requirement*; when the value changes while a
// flow is pending, someone else (e.g. `globus-fuse login --domain D` in another terminal) may
// have met it, and the waiters are released to retry. Production: TokenFileFingerprint.
using TokenFingerprint = std::function<std::string(const AuthorizationParameters&)>;

struct AuthorizationBrokerOptions {
  std::chrono::milliseconds auth_timeout{120000};    // --auth-timeout
  std::chrono::milliseconds failure_backoff{60000};  // fail fast this long after a failure
  std::chrono::milliseconds confirm_grace{5000};     // see the header comment
  std::chrono::milliseconds recent_success{2000};    // see the header comment
  std::chrono::milliseconds poll_interval{250};      // ticker period (real time)
  bool start_ticker = true;
};

class AuthorizationBroker {
 public:
  using Options = AuthorizationBrokerOptions;

  AuthorizationBroker(FlowStarter start, TokenFingerprint fingerprint, Clock& clock,
                      Options options = Options(), Notifier notify = {});
  ~AuthorizationBroker();
  AuthorizationBroker(const AuthorizationBroker&) = delete;
  AuthorizationBroker& operator=(const AuthorizationBroker&) = delete;

  // Blocks until the requirement behind `error` is met (OK: retry the operation) or cannot be
  // (kAuth error, EACCES, naming the fix). An error that needs no authorization is returned
  // as it is. `subject` names the collection in messages ("" = the id). When `cancel` is
  // raised (the caller got a signal: Ctrl-C), this caller stops waiting with EINTR; the flow
  // goes on for the others and for the next caller.
  Status Authorize(const Error& error, const std::string& collection_id,
                   const std::string& subject = "", const std::atomic<bool>* cancel = nullptr);

  // Pending and recently failed requirements, oldest first. A pending one shows once its flow
  // started (it has a URL), with every caller waiting for it, the one that started it too.
  std::vector<PendingAuthorization> Snapshot() const;
  // The same as a JSON array (for the status document).
  std::string SnapshotJson() const;

  // Starts the ticker thread (when Options::start_ticker was false, e.g. to start it only
  // after the mount has daemonized: threads do not survive fork). Idempotent.
  void StartTicker();
  // Housekeeping; see the header comment.
  void Tick();
  // Cancels every running flow; later Authorize calls fail at once. Idempotent.
  void Shutdown();

  // Flow parameters for an authorization error on `collection_id`: the error's
  // authorization_parameters, normalised (lists sorted and deduplicated, scopes merged), with
  // prompt=login; a bare ConsentRequired asks for the collection's data_access consent.
  static AuthorizationParameters FlowParameters(const Error& error,
                                                const std::string& collection_id);
  // The requirement key: collection id + normalised parameters (session_message excluded).
  static std::string Key(const std::string& collection_id, const AuthorizationParameters& p);

  // Counters (for tests and status).
  uint64_t flows_started() const;

 private:
  struct Entry;
  using EntryPtr = std::shared_ptr<Entry>;

  void RunFlow(const EntryPtr& e);
  // Marks `e` finished with `result`; records a failure for fail-fast. Needs mu_.
  void FinishLocked(const EntryPtr& e, const Status& result, bool remember_failure);
  void TimeOutLocked(const EntryPtr& e);
  Error FailureError(const Entry& e, const Error& cause) const;
  PendingAuthorization Describe(const Entry& e) const;
  std::string Fingerprint(const AuthorizationParameters& p) const;
  void TickerLoop();
  std::vector<std::thread> TakeFinishedThreadsLocked(bool all);

  FlowStarter start_;
  TokenFingerprint fingerprint_;
  Clock& clock_;
  Options options_;
  Notifier notify_;

  mutable std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  bool shutdown_ = false;
  bool rebase_ = false;  // one of our flows changed the tokens: re-baseline the others
  uint64_t flows_started_ = 0;
  std::map<std::string, EntryPtr> running_;  // by key
  struct Failure {
    EntryPtr entry;
    Error error;
    MonoTime until;
    std::string fingerprint;  // of the tokens when it failed
  };
  std::map<std::string, Failure> failed_;  // by key
  // When each requirement was last met by a flow: an error from a request sent before that (a
  // concurrent operation still on the old token) retries at once instead of starting a flow.
  std::map<std::string, MonoTime> satisfied_;
  std::vector<std::pair<EntryPtr, std::thread>> threads_;

  std::mutex ticker_mu_;
  std::condition_variable ticker_cv_;
  bool ticker_stop_ = false;
  std::thread ticker_;
};

// ---- production wiring ----

// Starts auth::LoginFlow (loopback + PKCE; the browser through `launch_browser`, default
// LaunchBrowser, when open_browser). The requested scopes are FlowSpec::scopes plus
// `base_scopes()` (what the token store already holds, so refreshed tokens keep their scopes).
// Each flow merges its tokens through its OWN TokenStore instance on `token_file`: TokenStore's
// change detection is per instance, so writing through the TokenManager's instance would hide
// the new tokens from it.
FlowStarter LoginFlowStarter(OAuthClient& oauth, std::string token_file, bool open_browser,
                             std::function<std::vector<std::string>()> base_scopes,
                             std::function<bool(const std::string&)> launch_browser = {});
// Every scope granted in the token file, plus the identity scopes. Reads through a private
// TokenStore instance (for the same reason as above).
std::vector<std::string> GrantedScopes(const std::string& token_file);
// A fingerprint of the token file's login state: the identity, the session identities and, per
// resource server, the scope and refresh token (access-token refreshes do not change it; a new
// login does). The file is re-read only when its inode/size/mtime change.
TokenFingerprint TokenFileFingerprint(std::string token_file);
// `notify-send "globus-fuse: <subject> needs you to log in" "<reason> — <url>"` when notify-send
// is on $PATH (run detached; never waited for). No-op otherwise.
Notifier DesktopNotifier();

}  // namespace gf::auth
