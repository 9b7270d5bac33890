// Reading the reference fixtures (tests/fixtures/globus, vendored with their sources in SOURCES.md)
// in unit tests.
#pragma once
#include <string>

namespace gf::testing {
// Contents of a fixture file, e.g. Fixture("transfer_ls_root_tutorial.json"). Fails the
// test (throws std::runtime_error) when the file is missing: a missing fixture is a defect.
std::string Fixture(const std::string& name);
std::string FixtureDir();
}  // namespace gf::testing
