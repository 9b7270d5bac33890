#include <catch2/catch.hpp>

#include "common/log.h"

TEST_CASE("Redact masks tokens in headers, JSON and forms", "[log]") {
  using gf::log::Redact;
  CHECK(Redact("Authorization: Bearer abc.DEF-123") == "Authorization: Bearer [REDACTED]");
  CHECK(Redact(R"({"access_token": "s3cr3t", "x": 1})") ==
        R"({"access_token": "[REDACTED]", "x": 1})");
  CHECK(Redact("grant_type=refresh_token&refresh_token=zzz&client_id=c") ==
        "grant_type=refresh_token&refresh_token=[REDACTED]&client_id=c");
  CHECK(Redact("code=abc&code_verifier=xyz") == "code=[REDACTED]&code_verifier=[REDACTED]");
  CHECK(Redact("ls /path/with code in it") == "ls /path/with code in it");
  // Upper and mixed case keep their redaction (the fast path that skips the patterns for lines
  // without these words must not skip them).
  CHECK(Redact("authorization: BEARER abc") == "authorization: BEARER [REDACTED]");
  CHECK(Redact("BASIC dXNlcjpwYXNz") == "BASIC [REDACTED]");
  CHECK(Redact("cp /a -> /b: queued as transfer op 7") == "cp /a -> /b: queued as transfer op 7");
}
