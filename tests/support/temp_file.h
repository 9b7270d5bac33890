// TempFile: an anonymous, already-unlinked temporary file holding given bytes, for tests that
// hand a file descriptor to an upload (api::UploadBody). Closed on destruction.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <stdexcept>
#include <string>
#include <string_view>

namespace gf::testing {

class TempFile {
 public:
  explicit TempFile(std::string_view content = {}) : f_(std::tmpfile()) {
    if (!f_) throw std::runtime_error("tmpfile failed");
    if (!content.empty() &&
        ::pwrite(fd(), content.data(), content.size(), 0) != static_cast<ssize_t>(content.size()))
      throw std::runtime_error("pwrite failed");
  }
  ~TempFile() { std::fclose(f_); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  int fd() const { return ::fileno(f_); }

 private:
  std::FILE* f_;
};

}  // namespace gf::testing
