// OAuth2 PKCE (RFC 7636) and `state` for the native-app authorization-code flow.
//
// The verifier is 64 random bytes from OpenSSL's RAND_bytes, base64url-encoded without padding
// (86 characters of [A-Za-z0-9-_], inside RFC 7636's 43..128 of [A-Za-z0-9-._~]). The challenge
// is base64url(SHA256(verifier)) without padding (method S256). `state` is 32 random bytes
// (256 bits), base64url-encoded.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace gf::auth {

struct Pkce {
  std::string verifier;
  std::string challenge;  // S256
};

// base64url (RFC 4648 §5) without '=' padding.
std::string Base64Url(std::string_view bytes);
// `n` bytes from the OpenSSL CSPRNG; kLocal error if it is not seeded.
Result<std::string> RandomBytes(std::size_t n);
// S256 challenge for a verifier.
std::string PkceChallenge(std::string_view verifier);
// A fresh verifier (from `random_bytes` bytes; 64 gives 86 characters) and its challenge.
Result<Pkce> MakePkce(std::size_t random_bytes = 64);
// A fresh OAuth `state` (256 bits).
Result<std::string> MakeState();

}  // namespace gf::auth
