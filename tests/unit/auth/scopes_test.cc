#include <catch2/catch.hpp>

#include "auth/scopes.h"

using namespace gf::auth;

const std::string kC1 = "1405823f-0597-4a16-b296-46d4f0ae4b15";
const std::string kC2 = "eed63c24-36cb-4f29-a47f-91d94a65fef8";

TEST_CASE("ParseScopes reads lists, dependents and optional markers", "[scopes]") {
  auto r = ParseScopes("openid  a[*b c[d]] e");
  REQUIRE(r.ok());
  REQUIRE(r->size() == 3);
  CHECK((*r)[0].base == "openid");
  CHECK((*r)[1].base == "a");
  REQUIRE((*r)[1].dependents.size() == 2);
  CHECK((*r)[1].dependents[0].base == "b");
  CHECK((*r)[1].dependents[0].optional);
  CHECK_FALSE((*r)[1].dependents[1].optional);
  CHECK((*r)[1].dependents[1].dependents[0].base == "d");
  CHECK(FormatScopes(*r) == "openid a[*b c[d]] e");

  CHECK_FALSE(ParseScopes("a[b").ok());
  CHECK_FALSE(ParseScopes("a]").ok());
  CHECK_FALSE(ParseScopes("a[*]").ok());
  CHECK_FALSE(ParseScopes("a**b").ok());
}

TEST_CASE("Well-known scope strings", "[scopes]") {
  CHECK(HttpsScope(kC1) == "https://auth.globus.org/scopes/" + kC1 + "/https");
  CHECK(DataAccessScope(kC1) == "https://auth.globus.org/scopes/" + kC1 + "/data_access");
  CHECK(TransferScopeWith({}) == "urn:globus:auth:scope:transfer.api.globus.org:all");
  CHECK(TransferScopeWith({kC1, kC2, kC1}) ==
        "urn:globus:auth:scope:transfer.api.globus.org:all[*https://auth.globus.org/scopes/" + kC1 +
            "/data_access *https://auth.globus.org/scopes/" + kC2 + "/data_access]");
  auto d = DefaultLoginScopes({kC1}, {kC2});
  REQUIRE(d.size() == 6);
  CHECK(d[0] == "openid");
  CHECK(d[3] == "urn:globus:auth:scope:auth.globus.org:view_identity_set");
  CHECK(d[4] == TransferScopeWith({kC1}));
  CHECK(d[5] == HttpsScope(kC2));
  CHECK(CollectionOfHttpsScope(HttpsScope(kC1)) == kC1);
  CHECK_FALSE(CollectionOfHttpsScope(DataAccessScope(kC1)).has_value());
  CHECK_FALSE(CollectionOfHttpsScope("https://auth.globus.org/scopes/not-a-uuid/https"));
}

TEST_CASE("Merging scopes dedupes and merges dependents of the same base", "[scopes]") {
  auto merged = MergeScopeStrings(
      {"openid", TransferScopeWith({kC1})},
      {"openid", TransferScopeWith({kC2}), TransferScopeWith({kC1}), HttpsScope(kC1)});
  REQUIRE(merged.size() == 3);
  CHECK(merged[0] == "openid");
  CHECK(merged[1] == TransferScopeWith({kC1, kC2}));
  CHECK(merged[2] == HttpsScope(kC1));

  // Optional only if every request is optional.
  CHECK(MergeScopeStrings({"a[*b]"}, {"a[b]"}) == std::vector<std::string>{"a[b]"});
  CHECK(MergeScopeStrings({"a[*b]"}, {"a[*b]"}) == std::vector<std::string>{"a[*b]"});
  // A list in one string is split into its scopes.
  CHECK(MergeScopeStrings({"x y"}, {"y z"}) == std::vector<std::string>{"x", "y", "z"});
  // Unparseable input is kept verbatim, once.
  CHECK(MergeScopeStrings({"bad[", "bad["}, {}) == std::vector<std::string>{"bad["});
}
