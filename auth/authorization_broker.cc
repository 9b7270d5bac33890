#include "auth/authorization_broker.h"

#include "auth/process.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <functional>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "auth/remedy.h"
#include "auth/scopes.h"
#include "common/blocking.h"
#include "common/log.h"

namespace gf::auth {
namespace {

constexpr const char* kLog = "auth";

void SortUnique(std::vector<std::string>& v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

std::string Join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

int64_t Seconds(std::chrono::nanoseconds d) {
  return std::chrono::duration_cast<std::chrono::seconds>(d).count();
}

// What is required, in words ("<subject> requires an identity from D").
std::string Need(const AuthorizationParameters& p, const std::string& subject) {
  Error e = Error::Api(403, "AuthorizationRequired", "");
  e.authorization = p;
  std::string m = RemedyMessage(e, subject);
  auto cut = m.find(": run `");
  return cut == std::string::npos ? m : m.substr(0, cut);
}

}  // namespace

struct AuthorizationBroker::Entry {
  std::string key;
  std::string collection_id;
  std::string subject;
  AuthorizationParameters params;
  std::unique_ptr<FlowHandle> flow;  // set once started
  bool starting = true;
  bool done = false;
  Status result;
  std::string url;
  bool browser_opened = false;
  MonoTime started{};
  WallTime started_wall{};
  MonoTime deadline{};
  int waiters = 0;
  std::string baseline;             // token fingerprint the flow is measured against
  uint64_t release_generation = 0;  // bumped when the tokens changed for this requirement
  std::optional<MonoTime> released_at;
  std::atomic<bool> thread_finished{false};
};

AuthorizationParameters AuthorizationBroker::FlowParameters(const Error& error,
                                                            const std::string& collection_id) {
  AuthorizationParameters p = error.authorization.value_or(AuthorizationParameters{});
  SortUnique(p.session_required_single_domain);
  SortUnique(p.session_required_identities);
  SortUnique(p.session_required_policies);
  p.required_scopes = MergeScopeStrings({}, p.required_scopes);
  bool session = !p.session_required_single_domain.empty() ||
                 !p.session_required_identities.empty() || !p.session_required_policies.empty() ||
                 p.session_required_mfa.value_or(false);
  if (!session && p.required_scopes.empty() && error.code == "ConsentRequired" &&
      LooksLikeUuid(collection_id))
    p.required_scopes = {TransferScopeWith({collection_id})};
  if (p.session_message.empty() && error.kind == ErrorKind::kApi &&
      (error.code == "ConsentRequired" || error.code == "AuthPolicyFailed"))
    p.session_message = error.message;
  p.prompt_login = true;
  return p;
}

std::string AuthorizationBroker::Key(const std::string& collection_id,
                                     const AuthorizationParameters& p) {
  std::string mfa = p.session_required_mfa.value_or(false) ? "1" : "0";
  return collection_id + "|domain=" + Join(p.session_required_single_domain, ",") +
         "|identity=" + Join(p.session_required_identities, ",") +
         "|policy=" + Join(p.session_required_policies, ",") + "|mfa=" + mfa +
         "|scope=" + Join(p.required_scopes, " ");
}

AuthorizationBroker::AuthorizationBroker(FlowStarter start, TokenFingerprint fingerprint,
                                         Clock& clock, Options options, Notifier notify)
    : start_(std::move(start)),
      fingerprint_(std::move(fingerprint)),
      clock_(clock),
      options_(options),
      notify_(std::move(notify)) {
  if (options_.start_ticker) StartTicker();
}

void AuthorizationBroker::StartTicker() {
  std::lock_guard<std::mutex> l(ticker_mu_);
  if (ticker_.joinable() || ticker_stop_) return;
  ticker_ = std::thread([this] { TickerLoop(); });
}

AuthorizationBroker::~AuthorizationBroker() { Shutdown(); }

uint64_t AuthorizationBroker::flows_started() const {
  std::lock_guard<std::mutex> l(mu_);
  return flows_started_;
}

std::string AuthorizationBroker::Fingerprint(const AuthorizationParameters& p) const {
  return fingerprint_ ? fingerprint_(p) : std::string();
}

Error AuthorizationBroker::FailureError(const Entry& e, const Error& cause) const {
  std::string what;
  AuthFailure kind = AuthFailure::kFlowFailed;
  if (cause.kind == ErrorKind::kAuth && cause.auth == AuthFailure::kFlowTimedOut) {
    kind = AuthFailure::kFlowTimedOut;
    what = "nobody completed the login in the browser within " +
           std::to_string(Seconds(options_.auth_timeout)) + " s";
  } else if (cause.kind == ErrorKind::kAuth) {
    if (cause.auth == AuthFailure::kStateMismatch) kind = AuthFailure::kStateMismatch;
    what = "the login did not complete (" + cause.message + ")";
  } else {
    what = "the login could not be started or finished (" + cause.Describe() + ")";
  }
  Error out = Error::Auth(
      kind, Need(e.params, e.subject) + "; " + what + ": run `" + RemedyCommand(e.params) + "`");
  out.authorization = e.params;
  out.context = cause.context;
  return out;
}

PendingAuthorization AuthorizationBroker::Describe(const Entry& e) const {
  PendingAuthorization p;
  p.state = PendingAuthorization::State::kWaiting;
  p.collection_id = e.collection_id;
  p.subject = e.subject;
  p.session_message = e.params.session_message;
  p.reason = Need(e.params, e.subject);
  p.url = e.url;
  p.remedy = RemedyCommand(e.params);
  p.browser_opened = e.browser_opened;
  p.started_at = e.started_wall;
  p.timeout = std::chrono::duration_cast<std::chrono::seconds>(options_.auth_timeout);
  p.waiters = e.waiters;
  return p;
}

void AuthorizationBroker::FinishLocked(const EntryPtr& e, const Status& result,
                                       bool remember_failure) {
  if (e->done) return;
  e->done = true;
  e->result = result;
  auto it = running_.find(e->key);
  if (it != running_.end() && it->second == e) running_.erase(it);
  if (!result.ok() && remember_failure) {
    failed_[e->key] =
        Failure{e, result.error(), clock_.Now() + options_.failure_backoff, e->baseline};
  }
  cv_.notify_all();
}

void AuthorizationBroker::TimeOutLocked(const EntryPtr& e) {
  if (e->done) return;
  if (e->flow) e->flow->Cancel();
  Error err = FailureError(*e, Error::Auth(AuthFailure::kFlowTimedOut, "timed out"));
  log::Warn(kLog, err.message, " (not asking again for ", Seconds(options_.failure_backoff),
            " s, or until the tokens change)");
  FinishLocked(e, err, true);
}

Status AuthorizationBroker::Authorize(const Error& error, const std::string& collection_id,
                                      const std::string& subject_in,
                                      const std::atomic<bool>* cancel) {
  if (!error.NeedsAuthorization()) return error;
  const std::string subject = subject_in.empty() ? collection_id : subject_in;
  AuthorizationParameters params = FlowParameters(error, collection_id);
  const std::string key = Key(collection_id, params);
  const std::string fp = Fingerprint(params);

  std::unique_lock<std::mutex> l(mu_);
  if (shutdown_) return error;

  // Fail fast after a recent failure, unless the tokens changed since.
  if (auto f = failed_.find(key); f != failed_.end()) {
    if (clock_.Now() < f->second.until && f->second.fingerprint == fp) {
      log::Debug(kLog, "failing fast: ", f->second.error.message);
      return f->second.error;
    }
    failed_.erase(f);
  }

  if (auto sat = satisfied_.find(key); sat != satisfied_.end()) {
    if (clock_.Now() < sat->second + options_.recent_success) return Status::Ok();
    satisfied_.erase(sat);
  }

  EntryPtr e;
  bool counted = false;  // this caller is one of e->waiters, since release generation `gen`
  uint64_t gen = 0;
  if (auto it = running_.find(key); it != running_.end()) {
    e = it->second;
    if (e->released_at) {
      // The retry after someone else's login still needs this: keep the flow.
      e->released_at.reset();
      log::Info(kLog, Need(e->params, e->subject), ": still required after the token change; ",
                "still waiting for the login at ", e->url);
    }
  } else {
    e = std::make_shared<Entry>();
    e->key = key;
    e->collection_id = collection_id;
    e->subject = subject;
    e->params = params;
    e->started = clock_.Now();
    e->started_wall = clock_.WallNow();
    e->deadline = e->started + options_.auth_timeout;
    e->baseline = fp;
    running_[key] = e;
    ++flows_started_;
    // The starter waits too, from now: status shows the flow with its waiter as soon as the
    // flow's URL is out (the log line, the browser), not only once this call gets back here.
    ++e->waiters;
    counted = true;
    gen = e->release_generation;  // a token change while the flow starts releases it too

    FlowSpec spec;
    spec.collection_id = collection_id;
    spec.subject = subject;
    spec.authorization = params;
    // The flow's own limit is a backstop; the broker times the flow out on its clock.
    spec.timeout = std::chrono::duration_cast<std::chrono::seconds>(options_.auth_timeout) +
                   std::chrono::seconds(10);
    l.unlock();
    auto started = start_ ? start_(spec)
                          : Result<std::unique_ptr<FlowHandle>>(
                                Error::NotSupported("no authorization flow is configured"));
    l.lock();
    if (!started.ok()) {
      --e->waiters;
      Error err = FailureError(*e, started.error());
      log::Warn(kLog, err.message);
      FinishLocked(e, err, true);
      return err;
    }
    e->flow = std::move(started).value();
    e->url = e->flow->url();
    e->browser_opened = e->flow->browser_opened();
    e->starting = false;
    if (e->done || shutdown_) {
      --e->waiters;
      e->flow->Cancel();
      FinishLocked(e, error, false);
      return e->result;
    }
    threads_.emplace_back(e, std::thread([this, e] { RunFlow(e); }));
    PendingAuthorization info = Describe(*e);
    cv_.notify_all();
    l.unlock();
    std::string quoted = info.session_message.empty() ? "" : " (\"" + info.session_message + "\")";
    if (info.browser_opened)
      log::Warn(kLog, info.reason, quoted, ". A browser was opened to complete the login; ",
                "if it did not open, visit: ", info.url);
    else
      log::Warn(kLog, info.reason, quoted, ". To continue, open this URL in a browser on this ",
                "machine and log in: ", info.url);
    log::Warn(kLog, "waiting up to ", Seconds(options_.auth_timeout), " s for the login to ",
              info.subject, "; `", info.remedy, "` in another terminal does it too");
    if (notify_) notify_(info);
    l.lock();
  }

  if (!counted) {
    ++e->waiters;
    gen = e->release_generation;
  }
  Status result;
  for (;;) {
    if (e->done) {
      result = e->result;
      break;
    }
    if (e->release_generation != gen) {
      result = Status::Ok();
      break;
    }
    if (!e->starting && clock_.Now() >= e->deadline) {
      TimeOutLocked(e);
      continue;
    }
    if (cancel && cancel->load()) {
      result = Error::Local(EINTR, "interrupted while waiting for the login to " + e->subject +
                                       " (the login can still be completed)");
      break;
    }
    MayBlock();  // a login can take minutes
    // The interrupt comes from a thread that does not know cv_: look at the flag now and then.
    if (cancel)
      cv_.wait_for(l, std::chrono::milliseconds(100));
    else
      cv_.wait(l);
  }
  --e->waiters;
  return result;
}

void AuthorizationBroker::RunFlow(const EntryPtr& e) {
  Status s = e->flow->Wait();
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!e->done) {
      if (s.ok()) {
        log::Info(kLog, "login for ", e->subject, " complete; retrying the waiting operations");
        failed_.erase(e->key);
        satisfied_[e->key] = clock_.Now();
        rebase_ = true;
        FinishLocked(e, Status::Ok(), false);
      } else {
        Error err = FailureError(*e, s.error());
        log::Warn(kLog, err.message, " (not asking again for ", Seconds(options_.failure_backoff),
                  " s, or until the tokens change)");
        FinishLocked(e, err, true);
      }
    }
  }
  e->thread_finished = true;
}

void AuthorizationBroker::Tick() {
  // Gather what to fingerprint (outside the lock: it reads the token file).
  std::vector<EntryPtr> running;
  std::vector<std::pair<std::string, AuthorizationParameters>> failed;
  bool rebase = false;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& [k, e] : running_)
      if (!e->starting) running.push_back(e);
    for (const auto& [k, f] : failed_) failed.emplace_back(k, f.entry->params);
    rebase = rebase_;
    rebase_ = false;
  }
  std::vector<std::string> running_fp, failed_fp;
  for (const auto& e : running) running_fp.push_back(Fingerprint(e->params));
  for (const auto& f : failed) failed_fp.push_back(Fingerprint(f.second));

  std::vector<std::thread> finished;
  {
    std::lock_guard<std::mutex> l(mu_);
    MonoTime now = clock_.Now();
    for (std::size_t i = 0; i < running.size(); ++i) {
      const EntryPtr& e = running[i];
      if (e->done) continue;
      if (running_fp[i] != e->baseline) {
        e->baseline = running_fp[i];
        if (!rebase) {
          ++e->release_generation;
          e->released_at = now;
          log::Info(kLog, "the tokens changed (another login?); retrying the operations waiting ",
                    "for ", e->subject);
        }
      }
      if (now >= e->deadline) {
        TimeOutLocked(e);
      } else if (e->released_at && e->waiters == 0 &&
                 now >= *e->released_at + options_.confirm_grace) {
        e->flow->Cancel();
        log::Info(kLog, Need(e->params, e->subject), ": met by another login; closed the ",
                  "pending login");
        FinishLocked(e, Status::Ok(), false);
      }
    }
    for (std::size_t i = 0; i < failed.size(); ++i) {
      auto it = failed_.find(failed[i].first);
      if (it == failed_.end()) continue;
      if (now >= it->second.until || it->second.fingerprint != failed_fp[i]) failed_.erase(it);
    }
    cv_.notify_all();
    finished = TakeFinishedThreadsLocked(false);
  }
  for (auto& t : finished) t.join();
}

std::vector<std::thread> AuthorizationBroker::TakeFinishedThreadsLocked(bool all) {
  std::vector<std::thread> out;
  for (auto it = threads_.begin(); it != threads_.end();) {
    if (all || it->first->thread_finished) {
      out.push_back(std::move(it->second));
      it = threads_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

void AuthorizationBroker::TickerLoop() {
  std::unique_lock<std::mutex> l(ticker_mu_);
  while (!ticker_stop_) {
    ticker_cv_.wait_for(l, options_.poll_interval);
    if (ticker_stop_) break;
    l.unlock();
    Tick();
    l.lock();
  }
}

void AuthorizationBroker::Shutdown() {
  {
    std::lock_guard<std::mutex> l(ticker_mu_);
    ticker_stop_ = true;
  }
  ticker_cv_.notify_all();
  if (ticker_.joinable()) ticker_.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> l(mu_);
    shutdown_ = true;
    std::vector<EntryPtr> running;
    for (const auto& [k, e] : running_) running.push_back(e);
    for (const auto& e : running) {
      if (e->flow) e->flow->Cancel();
      FinishLocked(e,
                   Error::Auth(AuthFailure::kFlowFailed,
                               "the mount is shutting down; the login was cancelled"),
                   false);
    }
    cv_.notify_all();
    threads = TakeFinishedThreadsLocked(true);
  }
  for (auto& t : threads) t.join();
}

std::vector<PendingAuthorization> AuthorizationBroker::Snapshot() const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<PendingAuthorization> out;
  // A flow still being started has no URL yet: it shows once it has one (and its waiters,
  // the starter among them, are counted from then on).
  for (const auto& [k, e] : running_)
    if (!e->starting) out.push_back(Describe(*e));
  MonoTime now = clock_.Now();
  for (const auto& [k, f] : failed_) {
    if (now >= f.until) continue;
    PendingAuthorization p = Describe(*f.entry);
    p.state = PendingAuthorization::State::kFailed;
    p.url.clear();
    p.browser_opened = false;
    p.waiters = 0;
    p.error = f.error.message;
    p.retry_in = std::chrono::duration_cast<std::chrono::seconds>(f.until - now);
    out.push_back(std::move(p));
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.started_at < b.started_at; });
  return out;
}

std::string AuthorizationBroker::SnapshotJson() const {
  namespace rj = rapidjson;
  rj::StringBuffer buf;
  rj::Writer<rj::StringBuffer> w(buf);
  w.StartArray();
  for (const auto& p : Snapshot()) {
    w.StartObject();
    w.Key("state");
    w.String(p.state == PendingAuthorization::State::kWaiting ? "waiting" : "failed");
    w.Key("collection_id");
    w.String(p.collection_id.c_str());
    w.Key("collection");
    w.String(p.subject.c_str());
    w.Key("reason");
    w.String(p.reason.c_str());
    w.Key("session_message");
    w.String(p.session_message.c_str());
    w.Key("url");
    w.String(p.url.c_str());
    w.Key("remedy");
    w.String(p.remedy.c_str());
    w.Key("browser_opened");
    w.Bool(p.browser_opened);
    w.Key("started_at");
    w.Int64(
        std::chrono::duration_cast<std::chrono::seconds>(p.started_at.time_since_epoch()).count());
    w.Key("timeout_seconds");
    w.Int64(p.timeout.count());
    w.Key("waiters");
    w.Int(p.waiters);
    if (p.state == PendingAuthorization::State::kFailed) {
      w.Key("error");
      w.String(p.error.c_str());
      w.Key("retry_in_seconds");
      w.Int64(p.retry_in.count());
    }
    w.EndObject();
  }
  w.EndArray();
  return std::string(buf.GetString(), buf.GetSize());
}

// ---- production wiring ----

namespace {

class LoginFlowHandle final : public FlowHandle {
 public:
  LoginFlowHandle(std::unique_ptr<TokenStore> store, std::unique_ptr<LoginFlow> flow, bool opened)
      : store_(std::move(store)), flow_(std::move(flow)), opened_(opened) {}
  std::string url() const override { return flow_->url(); }
  bool browser_opened() const override { return opened_; }
  Status Wait() override {
    auto r = flow_->Wait();
    if (!r.ok()) return r.error();
    return Status::Ok();
  }
  void Cancel() override { flow_->Cancel(); }

 private:
  std::unique_ptr<TokenStore> store_;  // outlives flow_, which refers to it
  std::unique_ptr<LoginFlow> flow_;
  bool opened_;
};

}  // namespace

std::vector<std::string> GrantedScopes(const std::string& token_file) {
  std::vector<std::string> scopes = DefaultLoginScopes({}, {});
  TokenStore store(token_file);
  auto s = store.Load();
  if (!s.ok()) {
    log::Debug(kLog, "cannot read the token store for scopes: ", s.error().Describe());
    return scopes;
  }
  std::vector<std::string> granted;
  for (const auto& [rs, t] : s->tokens)
    if (!t.scope.empty()) granted.push_back(t.scope);
  return MergeScopeStrings(scopes, granted);
}

FlowStarter LoginFlowStarter(OAuthClient& oauth, std::string token_file, bool open_browser,
                             std::function<std::vector<std::string>()> base_scopes,
                             std::function<bool(const std::string&)> launch_browser) {
  return [&oauth, token_file = std::move(token_file), open_browser,
          base_scopes = std::move(base_scopes), launch_browser = std::move(launch_browser)](
             const FlowSpec& spec) -> Result<std::unique_ptr<FlowHandle>> {
    LoginRequest req;
    req.scopes =
        MergeScopeStrings(base_scopes ? base_scopes() : std::vector<std::string>{}, spec.scopes);
    req.authorization = spec.authorization;
    req.timeout = spec.timeout;
    req.open_browser = open_browser;
    auto opened = std::make_shared<bool>(false);
    LoginEnv env;
    env.on_url = [opened](const std::string&, bool o) { *opened = o; };
    if (launch_browser) env.launch_browser = launch_browser;
    auto store = std::make_unique<TokenStore>(token_file);
    auto f = LoginFlow::Start(oauth, *store, std::move(req), std::move(env));
    if (!f.ok()) return f.error();
    return std::unique_ptr<FlowHandle>(
        new LoginFlowHandle(std::move(store), std::move(f).value(), *opened));
  };
}

TokenFingerprint TokenFileFingerprint(std::string token_file) {
  struct Cache {
    std::mutex mu;
    bool valid = false;
    struct stat st {};
    StoredTokens tokens;
  };
  auto cache = std::make_shared<Cache>();
  return [token_file = std::move(token_file), cache](const AuthorizationParameters& p) {
    std::lock_guard<std::mutex> l(cache->mu);
    struct stat st {};
    bool exists = ::stat(token_file.c_str(), &st) == 0;
    bool same = cache->valid && exists && st.st_ino == cache->st.st_ino &&
                st.st_dev == cache->st.st_dev && st.st_size == cache->st.st_size &&
                st.st_mtim.tv_sec == cache->st.st_mtim.tv_sec &&
                st.st_mtim.tv_nsec == cache->st.st_mtim.tv_nsec;
    if (!same) {
      cache->tokens = StoredTokens{};
      cache->valid = false;
      if (exists) {
        TokenStore store(token_file);
        auto s = store.Load();
        if (s.ok()) {
          cache->tokens = std::move(s).value();
          cache->st = st;
          cache->valid = true;
        }
      }
    }
    const StoredTokens& t = cache->tokens;
    bool session = !p.session_required_single_domain.empty() ||
                   !p.session_required_identities.empty() || !p.session_required_policies.empty() ||
                   p.session_required_mfa.value_or(false);
    if (!session && !p.required_scopes.empty()) {
      // Consent: changed exactly when the granted scopes start (or stop) covering it.
      std::vector<std::string> granted;
      for (const auto& [rs, tok] : t.tokens)
        if (!tok.scope.empty()) granted.push_back(tok.scope);
      auto base = MergeScopeStrings({}, granted);
      std::string out = "scopes:";
      for (const auto& s : p.required_scopes)
        out += MergeScopeStrings(base, {s}) == base ? "1" : "0";
      return out;
    }
    // Session requirements: a new login (new refresh tokens, new session identities) counts;
    // refreshing an access token does not.
    std::string out = "session:" + t.identity_sub + "|";
    std::vector<std::string> ids = t.session_identities;
    std::sort(ids.begin(), ids.end());
    out += Join(ids, ",") + "|";
    // Token strings are hashed, never carried around verbatim.
    for (const auto& [rs, tok] : t.tokens)
      out += rs + "=" + tok.scope + "#" +
             std::to_string(std::hash<std::string>{}(
                 tok.refresh_token.empty() ? tok.access_token : tok.refresh_token)) +
             ";";
    return out;
  };
}

Notifier DesktopNotifier() {
  return [](const PendingAuthorization& p) {
    if (!ProgramOnPath("notify-send")) return;
    std::string title = "globus-fuse: " + p.subject + " needs you to log in";
    std::string body = p.reason + " \u2014 " + p.url;
    SpawnDetached({"notify-send", title, body}, /*quiet=*/true);
  };
}

}  // namespace gf::auth
