#include <catch2/catch.hpp>
#include <set>

#include "auth/pkce.h"

using namespace gf::auth;

TEST_CASE("PKCE S256 challenge matches the RFC 7636 appendix B vector", "[pkce]") {
  CHECK(PkceChallenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") ==
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
}

TEST_CASE("Base64Url encodes without padding", "[pkce]") {
  CHECK(Base64Url("") == "");
  CHECK(Base64Url("f") == "Zg");
  CHECK(Base64Url("fo") == "Zm8");
  CHECK(Base64Url("foo") == "Zm9v");
  CHECK(Base64Url("foob") == "Zm9vYg");
  CHECK(Base64Url(std::string("\xfb\xff\xfe", 3)) == "-__-");
  // RFC 7636 appendix B: the octets of the verifier.
  const unsigned char octets[] = {116, 24,  223, 180, 151, 153, 224, 37,  79,  250, 96,
                                  125, 216, 173, 187, 186, 22,  212, 37,  77,  105, 214,
                                  191, 240, 91,  88,  5,   88,  83,  132, 141, 121};
  CHECK(Base64Url(std::string(reinterpret_cast<const char*>(octets), sizeof octets)) ==
        "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
}

TEST_CASE("PKCE verifiers have the RFC charset and length and differ each time", "[pkce]") {
  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i) {
    auto p = MakePkce();
    REQUIRE(p.ok());
    CHECK(p->verifier.size() >= 64);
    CHECK(p->verifier.size() <= 128);
    for (char c : p->verifier) {
      bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' ||
                c == '~';
      CHECK(ok);
    }
    CHECK(p->challenge == PkceChallenge(p->verifier));
    CHECK(p->challenge.size() == 43);
    seen.insert(p->verifier);
  }
  CHECK(seen.size() == 50);
}

TEST_CASE("OAuth state carries at least 128 random bits", "[pkce]") {
  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i) {
    auto s = MakeState();
    REQUIRE(s.ok());
    CHECK(s->size() >= 22);  // 22 base64 chars = 132 bits
    seen.insert(*s);
  }
  CHECK(seen.size() == 50);
}
