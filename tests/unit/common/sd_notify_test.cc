#include "common/sd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <string>

#include "tests/support/scoped_env.h"

using namespace gf;

namespace {

// A datagram socket bound to `name` (a path, or "@abstract"), as systemd's manager binds one.
class Listener {
 public:
  explicit Listener(const std::string& name) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, name.data(), name.size());
    if (name[0] == '@') addr.sun_path[0] = '\0';
    socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() +
                                           (name[0] == '@' ? 0 : 1));
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) == 0);
  }
  ~Listener() { ::close(fd_); }
  // The next datagram, or "" when none is queued.
  std::string Receive() {
    char buf[512];
    ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "";
  }

 private:
  int fd_ = -1;
};

}  // namespace

TEST_CASE("SdNotify sends the state to the socket named by NOTIFY_SOCKET") {
  std::string dir = (std::filesystem::temp_directory_path() / "gf-notify-XXXXXX").string();
  REQUIRE(::mkdtemp(dir.data()) != nullptr);
  const std::string path = dir + "/notify";
  {
    Listener manager(path);
    ScopedEnv env("NOTIFY_SOCKET", path.c_str());
    REQUIRE(SdNotify("READY=1\nSTATUS=mounted").ok());
    CHECK(manager.Receive() == "READY=1\nSTATUS=mounted");
    REQUIRE(SdNotify("STOPPING=1").ok());
    CHECK(manager.Receive() == "STOPPING=1");
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("SdNotify reaches an abstract socket (NOTIFY_SOCKET=@name)") {
  const std::string name = "@gf-notify-test-" + std::to_string(::getpid());
  Listener manager(name);
  ScopedEnv env("NOTIFY_SOCKET", name.c_str());
  REQUIRE(SdNotify("READY=1").ok());
  CHECK(manager.Receive() == "READY=1");
}

TEST_CASE("SdNotify without NOTIFY_SOCKET does nothing; a bad one is an error") {
  {
    ScopedEnv env("NOTIFY_SOCKET", nullptr);
    CHECK(SdNotify("READY=1").ok());
  }
  {
    ScopedEnv env("NOTIFY_SOCKET", "relative/path");
    CHECK_FALSE(SdNotify("READY=1").ok());
  }
  {
    ScopedEnv env("NOTIFY_SOCKET", "/nonexistent/gf-notify");
    Status s = SdNotify("READY=1");
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().message.find("/nonexistent/gf-notify") != std::string::npos);
  }
}
