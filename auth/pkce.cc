#include "auth/pkce.h"

#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cerrno>

namespace gf::auth {

std::string Base64Url(std::string_view bytes) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  std::size_t i = 0;
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(bytes[k]); };
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  std::size_t rest = bytes.size() - i;
  if (rest == 1) {
    uint32_t v = byte(i) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
  } else if (rest == 2) {
    uint32_t v = (byte(i) << 16) | (byte(i + 1) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

Result<std::string> RandomBytes(std::size_t n) {
  std::string buf(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(buf.data()), static_cast<int>(n)) != 1)
    return Error::Local(EIO, "the OpenSSL random generator failed (not seeded?)");
  return buf;
}

std::string PkceChallenge(std::string_view verifier) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(verifier.data()), verifier.size(), digest);
  return Base64Url(std::string_view(reinterpret_cast<const char*>(digest), sizeof digest));
}

Result<Pkce> MakePkce(std::size_t random_bytes) {
  auto raw = RandomBytes(random_bytes);
  if (!raw) return raw.error();
  Pkce p;
  p.verifier = Base64Url(*raw);
  if (p.verifier.size() < 43 || p.verifier.size() > 128)
    return Error::Local(EINVAL, "PKCE verifier length out of range (43..128)");
  p.challenge = PkceChallenge(p.verifier);
  return p;
}

Result<std::string> MakeState() {
  auto raw = RandomBytes(32);
  if (!raw) return raw.error();
  return Base64Url(*raw);
}

}  // namespace gf::auth
