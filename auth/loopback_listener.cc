#include "auth/loopback_listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "common/http.h"
#include "common/log.h"

namespace gf::auth {
namespace {

constexpr const char* kLog = "login";

std::string Html(const std::string& title, const std::string& body) {
  return "<!doctype html><html><head><meta charset=\"utf-8\"><title>" + title +
         "</title></head><body style=\"font-family:sans-serif;margin:3em\"><h2>" + title +
         "</h2><p>" + body + "</p></body></html>\n";
}

std::string HtmlEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

void Respond(int fd, int status, const char* reason, const std::string& body) {
  std::string resp = "HTTP/1.1 " + std::to_string(status) + " " + reason +
                     "\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: " +
                     std::to_string(body.size()) +
                     "\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n" + body;
  std::size_t off = 0;
  while (off < resp.size()) {
    ssize_t n = ::send(fd, resp.data() + off, resp.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += static_cast<std::size_t>(n);
  }
}

}  // namespace

std::vector<std::pair<std::string, std::string>> ParseQuery(std::string_view target,
                                                            std::string* path) {
  std::vector<std::pair<std::string, std::string>> out;
  auto q = target.find('?');
  if (path) *path = std::string(target.substr(0, q));
  if (q == std::string_view::npos) return out;
  std::string_view rest = target.substr(q + 1);
  auto hash = rest.find('#');
  if (hash != std::string_view::npos) rest = rest.substr(0, hash);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    std::string_view kv = rest.substr(0, amp);
    auto eq = kv.find('=');
    std::string k = http::UrlDecode(kv.substr(0, eq));
    std::string v = eq == std::string_view::npos ? "" : http::UrlDecode(kv.substr(eq + 1));
    if (!k.empty()) out.emplace_back(std::move(k), std::move(v));
    if (amp == std::string_view::npos) break;
    rest = rest.substr(amp + 1);
  }
  return out;
}

Result<std::unique_ptr<LoopbackListener>> LoopbackListener::Start(std::string expected_state,
                                                                  std::string path) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error::Local(errno, std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);  // 127.0.0.1 only, never 0.0.0.0
  addr.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 8) != 0) {
    int e = errno;
    ::close(fd);
    return Error::Local(e, std::string("cannot listen on 127.0.0.1: ") + std::strerror(e));
  }
  socklen_t len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    int e = errno;
    ::close(fd);
    return Error::Local(e, std::string("getsockname: ") + std::strerror(e));
  }
  return std::unique_ptr<LoopbackListener>(
      new LoopbackListener(fd, ntohs(addr.sin_port), std::move(expected_state), std::move(path)));
}

LoopbackListener::LoopbackListener(int listen_fd, int port, std::string state, std::string path)
    : listen_fd_(listen_fd),
      port_(port),
      expected_state_(std::move(state)),
      path_(std::move(path)) {
  if (::pipe2(cancel_pipe_, O_CLOEXEC | O_NONBLOCK) != 0) cancel_pipe_[0] = cancel_pipe_[1] = -1;
}

LoopbackListener::~LoopbackListener() {
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (cancel_pipe_[0] >= 0) ::close(cancel_pipe_[0]);
  if (cancel_pipe_[1] >= 0) ::close(cancel_pipe_[1]);
}

std::string LoopbackListener::redirect_uri() const {
  return "http://127.0.0.1:" + std::to_string(port_) + path_;
}

void LoopbackListener::Cancel() {
  if (cancel_pipe_[1] >= 0) {
    char c = 'x';
    (void)!::write(cancel_pipe_[1], &c, 1);
  }
}

Result<std::string> LoopbackListener::Wait(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return Error::Auth(AuthFailure::kFlowTimedOut,
                         "nobody completed the login in the browser in time");
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {cancel_pipe_[0], POLLIN, 0}};
    int n = ::poll(fds, cancel_pipe_[0] >= 0 ? 2 : 1,
                   static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::Local(errno, std::string("poll: ") + std::strerror(errno));
    }
    if (n == 0) continue;
    if (cancel_pipe_[0] >= 0 && (fds[1].revents & POLLIN))
      return Error::Auth(AuthFailure::kFlowFailed, "the login was cancelled");
    if (!(fds[0].revents & POLLIN)) continue;
    int c = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    auto r = HandleConnection(c);
    ::close(c);
    if (!r) return r.error();
    if (!r->empty()) return r;
  }
}

Result<std::string> LoopbackListener::HandleConnection(int fd) {
  // Read the request head (up to 16 KiB, at most 10 s).
  std::string req;
  char buf[2048];
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (req.find("\r\n\r\n") == std::string::npos && req.size() < 16384) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::string();
    pollfd p{fd, POLLIN, 0};
    int pn = ::poll(&p, 1, static_cast<int>(left.count()));
    if (pn < 0 && errno == EINTR) continue;
    if (pn <= 0) return std::string();
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    req.append(buf, static_cast<std::size_t>(n));
  }
  auto eol = req.find("\r\n");
  std::string line = req.substr(0, eol);
  auto sp1 = line.find(' ');
  auto sp2 = line.find(' ', sp1 == std::string::npos ? 0 : sp1 + 1);
  if (sp1 == std::string::npos || sp2 == std::string::npos) {
    Respond(fd, 400, "Bad Request", Html("Bad request", ""));
    return std::string();
  }
  std::string method = line.substr(0, sp1);
  std::string target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string path;
  auto q = ParseQuery(target, &path);
  if (method != "GET" || path != path_) {
    Respond(fd, 404, "Not Found", Html("Not found", ""));
    return std::string();
  }
  auto get = [&](const char* k) {
    for (const auto& [key, v] : q)
      if (key == k) return v;
    return std::string();
  };
  std::string state = get("state");
  bool state_ok = state.size() == expected_state_.size() && !expected_state_.empty() &&
                  CRYPTO_memcmp(state.data(), expected_state_.data(), state.size()) == 0;
  if (!state_ok) {
    log::Warn(kLog, "login callback with a wrong `state`; discarding it (possible CSRF)");
    Respond(fd, 400, "Bad Request",
            Html("Login failed",
                 "The reply did not match the login that globus-fuse started (state mismatch). "
                 "Run <code>globus-fuse login</code> again."));
    return Error::Auth(AuthFailure::kStateMismatch,
                       "the login reply did not match this login (state mismatch); the code "
                       "was discarded: run `globus-fuse login` again");
  }
  std::string err = get("error");
  if (!err.empty()) {
    std::string desc = get("error_description");
    Respond(fd, 200, "OK",
            Html("Login failed", "Globus Auth said: " + HtmlEscape(err) +
                                     (desc.empty() ? "" : " (" + HtmlEscape(desc) + ")")));
    return Error::Auth(AuthFailure::kFlowFailed,
                       "Globus Auth refused the login: " + err + (desc.empty() ? "" : ": " + desc));
  }
  std::string code = get("code");
  if (code.empty()) {
    Respond(fd, 400, "Bad Request", Html("Login failed", "No authorization code in the reply."));
    return Error::Auth(AuthFailure::kFlowFailed, "the login reply carried no authorization code");
  }
  Respond(fd, 200, "OK",
          Html("Login complete", "globus-fuse received your login. You can close this window."));
  return code;
}

}  // namespace gf::auth
