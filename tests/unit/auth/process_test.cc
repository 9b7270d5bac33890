#include <catch2/catch.hpp>
#include <cstdlib>
#include <string>

#include "auth/process.h"

using gf::auth::ProgramOnPath;

TEST_CASE("ProgramOnPath finds programs by name or path", "[process]") {
  CHECK(ProgramOnPath("sh"));
  CHECK(ProgramOnPath("/bin/sh"));
  CHECK_FALSE(ProgramOnPath("/bin"));  // a directory is not a program
  CHECK_FALSE(ProgramOnPath("globus-fuse-no-such-program"));
  CHECK_FALSE(ProgramOnPath(""));
}

TEST_CASE("ProgramOnPath follows $PATH, including its last entry", "[process]") {
  const char* old = std::getenv("PATH");
  std::string saved = old ? old : "";
  ::setenv("PATH", "/nonexistent-dir:/bin", 1);
  CHECK(ProgramOnPath("sh"));
  ::setenv("PATH", "/nonexistent-dir", 1);
  CHECK_FALSE(ProgramOnPath("sh"));
  ::setenv("PATH", saved.c_str(), 1);
}
