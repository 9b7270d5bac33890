#include "api/curl_transport.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <string_view>

#include "common/blocking.h"
#include "common/cancel.h"
#include "common/log.h"

namespace gf::api {
namespace {

static_assert(CURL_LOCK_DATA_LAST <= 16, "share_mu_ is too small");
constexpr std::size_t kMaxIdleHandles = 32;

using ShareLocks = std::array<std::mutex, 16>;

void LockShare(CURL*, curl_lock_data data, curl_lock_access, void* locks) {
  (*static_cast<ShareLocks*>(locks))[static_cast<std::size_t>(data)].lock();
}
void UnlockShare(CURL*, curl_lock_data data, void* locks) {
  (*static_cast<ShareLocks*>(locks))[static_cast<std::size_t>(data)].unlock();
}

void GlobalInitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// curl_easy_perform, on a thread that is also expected to read FUSE requests
// (BlockingHook::WatchFd): the same transfer through this thread's multi handle, whose poll
// watches that descriptor as well. A request arriving there makes it call MayBlock() (another
// worker takes the reading over) and stop watching; a transfer during which nothing arrives
// (`cp` waiting for its PUT at close) hands nothing off. Connections come from the share, as
// with curl_easy_perform.
class ThreadMulti {
 public:
  ThreadMulti() : m_(curl_multi_init()) {}
  ~ThreadMulti() {
    if (m_) curl_multi_cleanup(m_);
  }
  ThreadMulti(const ThreadMulti&) = delete;
  ThreadMulti& operator=(const ThreadMulti&) = delete;
  CURLM* get() const { return m_; }

 private:
  CURLM* m_;
};

CURLcode PerformWatching(CURL* h, int fd) {
  thread_local ThreadMulti multi;
  CURLM* m = multi.get();
  if (!m || curl_multi_add_handle(m, h) != CURLM_OK) {
    MayBlock();
    return curl_easy_perform(h);
  }
  CURLcode result = CURLE_GOT_NOTHING;  // if the transfer ended without a result
  for (;;) {
    int running = 0;
    if (curl_multi_perform(m, &running) != CURLM_OK) {
      result = CURLE_OUT_OF_MEMORY;
      break;
    }
    bool done = false;
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(m, &left)) {
      if (msg->msg == CURLMSG_DONE && msg->easy_handle == h) {
        result = msg->data.result;
        done = true;
      }
    }
    if (done || running == 0) break;
    // Still expected to read requests? (The loop's watch may have passed the reading on.)
    if (fd >= 0) fd = BlockingHook::WatchFd();
    curl_waitfd extra{};
    extra.fd = fd;
    extra.events = CURL_WAIT_POLLIN;
    if (curl_multi_poll(m, fd >= 0 ? &extra : nullptr, fd >= 0 ? 1 : 0, 1000, nullptr) !=
        CURLM_OK) {
      result = CURLE_OUT_OF_MEMORY;
      break;
    }
    if (fd >= 0 && (extra.revents & CURL_WAIT_POLLIN)) {
      MayBlock();
      fd = -1;
    }
  }
  curl_multi_remove_handle(m, h);
  BlockingHook::EndWatch();  // no longer watching: the loop times this request again
  return result;
}

// Per-request state shared with the libcurl callbacks.
struct Exchange {
  const http::Request* req = nullptr;
  http::Response resp;
  bool final_headers = false;   // the non-1xx header block is complete
  bool callback_abort = false;  // on_headers / on_body asked to stop
  bool cancelled = false;       // Request::cancel was set
  uint64_t sent = 0;            // streamed body bytes handed to libcurl (body_source)
  int read_errno = 0;           // body_source failed with this errno
};

bool Is2xx(int status) { return status >= 200 && status < 300; }

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto& x = *static_cast<Exchange*>(user);
  const size_t len = size * n;
  std::string_view line(data, len);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.substr(0, 5) == "HTTP/") {
    // A new response (after a 1xx, or the first one): start over.
    x.resp.headers.clear();
    x.final_headers = false;
    auto sp = line.find(' ');
    x.resp.status = 0;
    if (sp != std::string_view::npos) {
      for (std::size_t i = sp + 1;
           i < line.size() && std::isdigit(static_cast<unsigned char>(line[i])); ++i)
        x.resp.status = x.resp.status * 10 + (line[i] - '0');
    }
    return len;
  }
  if (line.empty()) {
    if (x.resp.status >= 200) {
      x.final_headers = true;
      if (x.req->on_headers && !x.req->on_headers(x.resp.status, x.resp.headers)) {
        x.callback_abort = true;
        return 0;  // CURLE_WRITE_ERROR
      }
    }
    return len;
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return len;
  std::string name(line.substr(0, colon));
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  x.resp.headers.emplace_back(std::move(name), std::string(value));
  return len;
}

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto& x = *static_cast<Exchange*>(user);
  const size_t len = size * n;
  if (x.req->on_body && Is2xx(x.resp.status)) {
    if (!x.req->on_body(std::string_view(data, len))) {
      x.callback_abort = true;
      return 0;  // CURLE_WRITE_ERROR
    }
    return len;
  }
  x.resp.body.append(data, len);
  return len;
}

// Streams Request::body_source. Never hands libcurl more than `size` bytes, and a source
// that ends early is an error (a short body would leave the server waiting for the rest).
size_t OnRead(char* buf, size_t size, size_t n, void* user) {
  auto& x = *static_cast<Exchange*>(user);
  const auto& src = x.req->body_source;
  if (x.req->cancel && x.req->cancel->load()) {
    x.cancelled = true;
    return CURL_READFUNC_ABORT;
  }
  const uint64_t left = src.size - x.sent;
  if (left == 0) return 0;
  const size_t want = static_cast<size_t>(std::min<uint64_t>(left, size * n));
  const int64_t got = src.read(x.sent, buf, want);
  if (got <= 0 || static_cast<uint64_t>(got) > want) {
    x.read_errno = got < 0 ? static_cast<int>(-got) : EIO;
    return CURL_READFUNC_ABORT;
  }
  x.sent += static_cast<uint64_t>(got);
  return static_cast<size_t>(got);
}

// libcurl rewinds a body it must send again on the same handle (e.g. a reused connection that
// turned out dead): only a rewind to the start is needed or supported.
int OnSeek(void* user, curl_off_t offset, int origin) {
  auto& x = *static_cast<Exchange*>(user);
  if (origin != SEEK_SET || offset < 0 || static_cast<uint64_t>(offset) > x.req->body_source.size)
    return CURL_SEEKFUNC_CANTSEEK;
  x.sent = static_cast<uint64_t>(offset);
  return CURL_SEEKFUNC_OK;
}

int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto& x = *static_cast<Exchange*>(user);
  if (Cancelled(x.req->cancel)) {
    x.cancelled = true;
    return 1;  // CURLE_ABORTED_BY_CALLBACK
  }
  return 0;
}

bool NetworkCutHandshake(long os_errno, std::string_view detail) {
  switch (os_errno) {
    case ECONNRESET:
    case ECONNABORTED:
    case EPIPE:
    case ETIMEDOUT:
      return true;
    default:
      break;
  }
  // libcurl does not always record the socket error (OpenSSL reports an EOF in the handshake
  // as SSL_ERROR_SYSCALL with errno 0): its message names it.
  for (std::string_view cue : {"reset by peer", "Broken pipe", "SSL_ERROR_SYSCALL",
                               "unexpected eof", "Connection timed out"})
    if (detail.find(cue) != std::string_view::npos) return true;
  return false;
}

TransportFailure MapCurlError(CURLcode c) {
  switch (c) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return TransportFailure::kDns;
    case CURLE_COULDNT_CONNECT:
      return TransportFailure::kConnect;
    case CURLE_OPERATION_TIMEDOUT:
      return TransportFailure::kTimeout;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_USE_SSL_FAILED:
      return TransportFailure::kTls;
    case CURLE_PARTIAL_FILE:
      return TransportFailure::kTruncated;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_HTTP3:
      return TransportFailure::kReset;
    case CURLE_ABORTED_BY_CALLBACK:
      return TransportFailure::kAborted;
    default:
      return TransportFailure::kOther;
  }
}

}  // namespace

TransportFailure ClassifyCurlFailure(int curl_code, long os_errno, std::string_view detail) {
  const auto c = static_cast<CURLcode>(curl_code);
  if (c == CURLE_SSL_CONNECT_ERROR && NetworkCutHandshake(os_errno, detail))
    return TransportFailure::kConnect;
  return MapCurlError(c);
}

CurlTransport::CurlTransport(Options o) : opts_(std::move(o)) {
  GlobalInitOnce();
  CURLSH* sh = curl_share_init();
  curl_share_setopt(sh, CURLSHOPT_LOCKFUNC, LockShare);
  curl_share_setopt(sh, CURLSHOPT_UNLOCKFUNC, UnlockShare);
  curl_share_setopt(sh, CURLSHOPT_USERDATA, static_cast<void*>(&share_mu_));
  curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
  share_ = sh;
}

CurlTransport::~CurlTransport() {
  {
    std::lock_guard<std::mutex> l(pool_mu_);
    for (void* h : free_) curl_easy_cleanup(static_cast<CURL*>(h));
    free_.clear();
  }
  // All handles are gone (callers must not destroy the transport during a Send).
  curl_share_cleanup(static_cast<CURLSH*>(share_));
}

void* CurlTransport::AcquireHandle() {
  {
    std::lock_guard<std::mutex> l(pool_mu_);
    if (!free_.empty()) {
      void* h = free_.back();
      free_.pop_back();
      return h;
    }
  }
  return curl_easy_init();
}

void CurlTransport::ReleaseHandle(void* h) {
  curl_easy_reset(static_cast<CURL*>(h));  // keeps cached connections, drops options
  std::lock_guard<std::mutex> l(pool_mu_);
  if (free_.size() < kMaxIdleHandles) {
    free_.push_back(h);
  } else {
    curl_easy_cleanup(static_cast<CURL*>(h));
  }
}

Result<http::Response> CurlTransport::Send(const http::Request& req) {
  CURL* h = static_cast<CURL*>(AcquireHandle());
  if (!h) return Error::Transport(TransportFailure::kOther, "curl_easy_init failed");

  Exchange x;
  x.req = &req;
  char errbuf[CURL_ERROR_SIZE] = {0};

  curl_easy_setopt(h, CURLOPT_SHARE, static_cast<CURLSH*>(share_));
  curl_easy_setopt(h, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);  // always; explicit for reviewers
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!opts_.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, opts_.ca_file.c_str());
  curl_easy_setopt(h, CURLOPT_USERAGENT, opts_.user_agent.c_str());
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(opts_.connect_timeout * 1000));
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, opts_.low_speed_limit);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, static_cast<long>(opts_.low_speed_time));
  long timeout_ms = req.timeout.count() > 0   ? static_cast<long>(req.timeout.count())
                    : req.timeout.count() < 0 ? 0L  // none: only the low-speed abort
                                              : static_cast<long>(opts_.request_timeout * 1000);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  if (req.fresh_connection) curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
  // 512 KiB receive buffer (libcurl's maximum; default 16 KiB): fewer, larger body callbacks
  // and recv() calls on bulk reads. Handles are pooled, so this is a few MiB in total.
  curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 512L * 1024);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_VERBOSE, opts_.verbose ? 1L : 0L);

  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, OnProgress);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, &x);

  const std::string& m = req.method;
  if (m == "GET") {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  } else if (m == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (req.body_source.read) {
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    if (m != "PUT") curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m.c_str());
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(req.body_source.size));
    curl_easy_setopt(h, CURLOPT_READFUNCTION, OnRead);
    curl_easy_setopt(h, CURLOPT_READDATA, &x);
    curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, OnSeek);
    curl_easy_setopt(h, CURLOPT_SEEKDATA, &x);
    // 512 KiB send buffer (libcurl >= 7.62 honours up to 2 MiB; default 64 KiB): fewer read
    // callbacks and send() calls on bulk uploads. A smaller body gets a buffer of its size
    // (libcurl's minimum is 16 KiB): a 512 KiB block allocated and freed per PUT made glibc
    // shrink and regrow its heap at every small file (madvise, a TLB shootdown on every CPU;
    // docs/PERFORMANCE.md).
    constexpr curl_off_t kBulk = 512 * 1024, kMin = 16 * 1024;
    const curl_off_t size = static_cast<curl_off_t>(req.body_source.size);
    curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE,
                     static_cast<long>(std::clamp(size, kMin, kBulk)));
  } else {
    if (m != "POST") curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m.c_str());
    if (m == "POST" || m == "PUT" || !req.body.empty()) {
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, req.body.data());
    }
  }

  curl_slist* headers = nullptr;
  for (const auto& [k, v] : req.headers) {
    std::string line = v.empty() ? k + ";" : k + ": " + v;
    headers = curl_slist_append(headers, line.c_str());
  }
  headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);

  auto start = std::chrono::steady_clock::now();
  CURLcode rc;
  if (const int fd = BlockingHook::WatchFd(); fd >= 0) {
    rc = PerformWatching(h, fd);
  } else {
    MayBlock();
    rc = curl_easy_perform(h);
  }
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  start)
                .count();
  long os_errno = 0;
  if (rc != CURLE_OK) curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
  curl_slist_free_all(headers);
  ReleaseHandle(h);

  if (x.read_errno != 0) {
    Error e = Error::Transport(TransportFailure::kOther, "reading the upload body at byte " +
                                                             std::to_string(x.sent) + ": " +
                                                             std::strerror(x.read_errno));
    e.sys_errno = x.read_errno;
    log::Debug("http", m, " ", req.url, " failed after ", ms, " ms: ", e.message);
    return e;
  }
  if (rc != CURLE_OK) {
    std::string detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    TransportFailure f = ClassifyCurlFailure(rc, os_errno, detail);
    if (x.cancelled || x.callback_abort) f = TransportFailure::kAborted;
    log::Debug("http", m, " ", req.url, " failed after ", ms, " ms: ", detail);
    return Error::Transport(f, detail);
  }
  if (log::GetLevel() <= log::Level::kDebug) {
    std::string range;  // ranged GETs: which bytes (reads are debugged by their ranges)
    for (const auto& [k, v] : req.headers)
      if (k == "Range" || k == "range") range = " " + v;
    log::Debug("http", m, " ", req.url, range, " -> ", x.resp.status, " (", ms, " ms)");
  }
  return std::move(x.resp);
}

}  // namespace gf::api
