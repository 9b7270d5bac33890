// Reading a mount's status document with a deadline: see mount_status.h.
#include "cli/mount_status.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "fs/superblock/virtual_tree.h"

namespace gf::cli {

namespace {

// The child: copies the status file to `out` and exits with 0 or the errno that stopped it.
// Only async-signal-safe calls between fork and _exit.
[[noreturn]] void CopyStatus(const char* path, int out) {
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) _exit(errno & 0xff);
  char buf[1 << 14];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) _exit(errno & 0xff);
    if (n == 0) _exit(0);
    for (ssize_t done = 0; done < n;) {
      const ssize_t w = ::write(out, buf + done, static_cast<size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) _exit(EPIPE);
      done += w;
    }
  }
}

}  // namespace

Result<std::string> ReadStatusDocument(const std::string& mount_point,
                                       std::chrono::milliseconds timeout) {
  const std::string path = mount_point + "/" + fs::kControlDirName + "/" + fs::kStatusFileName;
  // In a child process, not a thread: on timeout the child is killed (a FUSE request gives way
  // to SIGKILL), so nothing of this command is left inside the mount. A thread could not be
  // stopped, and it would keep the mount busy for the `umount` that follows.
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0)
    return Error::Local(errno, std::string("pipe: ") + std::strerror(errno));
  const pid_t child = ::fork();
  if (child < 0) {
    const int err = errno;
    ::close(pipefd[0]);
    ::close(pipefd[1]);
    return Error::Local(err, std::string("fork: ") + std::strerror(err));
  }
  if (child == 0) {
    ::close(pipefd[0]);
    CopyStatus(path.c_str(), pipefd[1]);
  }
  ::close(pipefd[1]);
  std::string doc;
  bool timed_out = false;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{pipefd[0], POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) {
      timed_out = true;
      break;
    }
    char buf[1 << 14];
    const ssize_t n = ::read(pipefd[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the child is done
    doc.append(buf, static_cast<size_t>(n));
  }
  ::close(pipefd[0]);
  if (timed_out) ::kill(child, SIGKILL);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out)
    return Error::Local(ETIMEDOUT, "the globus-fuse daemon serving " + mount_point +
                                       " does not answer (no status within " +
                                       std::to_string(timeout.count() / 1000) +
                                       " s): it is stopped or hung");
  const int err = WIFEXITED(status) ? WEXITSTATUS(status) : EIO;
  if (err != 0)
    return Error::Local(err,
                        "cannot read the status of " + mount_point + ": " + std::strerror(err));
  if (doc.empty())
    return Error::Local(EIO, "cannot read the status of " + mount_point + ": it is empty");
  return doc;
}

}  // namespace gf::cli
