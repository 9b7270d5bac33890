#include "tests/support/fixtures.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace gf::testing {
std::string FixtureDir() {
  if (const char* d = std::getenv("GF_FIXTURE_DIR")) return d;
  return GF_FIXTURE_DIR;
}
std::string Fixture(const std::string& name) {
  std::ifstream in(FixtureDir() + "/" + name, std::ios::binary);
  if (!in) throw std::runtime_error("missing fixture " + FixtureDir() + "/" + name);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}
}  // namespace gf::testing
