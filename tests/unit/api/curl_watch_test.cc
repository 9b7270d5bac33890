// CurlTransport on a thread that also reads FUSE requests (BlockingHook::WatchFd): its wait for
// the network watches that descriptor too, and passes the reading on (MayBlock) only when the
// descriptor has something for a reader: a request, or an error such as an unmounted
// /dev/fuse. A loopback HTTP server that answers after a delay stands for the network, a pipe
// for /dev/fuse. The counts, not the times, are what is checked.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <thread>

#include "api/curl_transport.h"
#include "common/blocking.h"

using namespace gf;
using namespace std::chrono_literals;

namespace {

// Answers one request with 200 "ok" after `delay`.
class SlowServer {
 public:
  explicit SlowServer(std::chrono::milliseconds delay) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd_, 1) == 0);
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this, delay] {
      const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) return;
      std::string got;
      char buf[4096];
      while (got.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = ::read(c, buf, sizeof buf);
        if (n <= 0) break;
        got.append(buf, static_cast<size_t>(n));
      }
      std::this_thread::sleep_for(delay);
      const std::string answer =
          "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
      (void)!::write(c, answer.data(), answer.size());
      ::close(c);
    });
  }
  ~SlowServer() {
    thread_.join();
    ::close(fd_);
  }
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/file"; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

// What the FUSE loop gives a worker: the descriptor to watch while it still reads requests,
// -1 once it passed the reading on.
struct Reader {
  int fd = -1;
  std::atomic<int> watch_calls{0};
  std::atomic<int> hand_offs{0};
  std::atomic<int> end_watches{0};

  static void OnMayBlock(void* p) { ++static_cast<Reader*>(p)->hand_offs; }
  static void OnEndWatch(void* p) { ++static_cast<Reader*>(p)->end_watches; }
  static int OnWatchFd(void* p) {
    auto* r = static_cast<Reader*>(p);
    ++r->watch_calls;
    return r->hand_offs > 0 ? -1 : r->fd;
  }
};

// Stands for /dev/fuse.
struct Pipe {
  int read_end = -1, write_end = -1;
  Pipe() {
    int p[2];
    REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
    read_end = p[0];
    write_end = p[1];
  }
  ~Pipe() {
    for (int fd : {read_end, write_end})
      if (fd >= 0) ::close(fd);
  }
  void CloseReadEnd() {
    ::close(read_end);
    read_end = -1;
  }
};

// A GET through CurlTransport on this thread, as a loop worker that reads from `r.fd`.
Result<http::Response> GetAsReader(Reader& r, const SlowServer& server) {
  api::CurlTransport transport(api::CurlTransport::Options{});
  BlockingHook::Set(&Reader::OnMayBlock, &Reader::OnWatchFd, &Reader::OnEndWatch, &r);
  http::Request req;
  req.url = server.Url();
  auto got = transport.Send(req);
  BlockingHook::Set(nullptr, nullptr, nullptr, nullptr);
  return got;
}

}  // namespace

TEST_CASE("a wait with nothing on the reader's descriptor hands nothing off", "[curl][watch]") {
  Pipe fuse;
  SlowServer server(300ms);
  Reader r;
  r.fd = fuse.read_end;
  auto got = GetAsReader(r, server);
  REQUIRE(got.ok());
  CHECK(got->status == 200);
  CHECK(got->body == "ok");
  CHECK(r.hand_offs == 0);
  CHECK(r.watch_calls >= 1);
  CHECK(r.end_watches == 1);  // the loop may time the request again once the wait is over
}

TEST_CASE("a request arriving during a wait hands the reading off once", "[curl][watch]") {
  Pipe fuse;
  SlowServer server(300ms);
  Reader r;
  r.fd = fuse.read_end;
  std::thread request([&] {
    std::this_thread::sleep_for(50ms);  // while the server holds its answer back
    (void)!::write(fuse.write_end, "x", 1);
  });
  auto got = GetAsReader(r, server);
  request.join();
  REQUIRE(got.ok());
  CHECK(got->body == "ok");
  CHECK(r.hand_offs == 1);
}

TEST_CASE("an error on the reader's descriptor during a wait hands off, and does not spin",
          "[curl][watch]") {
  // An unmounted /dev/fuse polls as POLLERR. Were that reported as no event, poll would return
  // at once, again and again, until the answer came or the loop's watch took the reading (a
  // spin suspected in an earlier closing note). libcurl's poll reports it as readable, so the
  // reading is passed on at once. A pipe's write end whose reader is gone polls as POLLERR the
  // same way.
  Pipe fuse;
  fuse.CloseReadEnd();
  SlowServer server(300ms);
  Reader r;
  r.fd = fuse.write_end;
  auto got = GetAsReader(r, server);
  REQUIRE(got.ok());
  CHECK(got->body == "ok");
  CHECK(r.hand_offs == 1);  // the reader finds the error and ends the loop
  // One look per wake-up: a spin through the 300 ms makes thousands.
  CHECK(r.watch_calls < 20);
}
