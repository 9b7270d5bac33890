#include <catch2/catch.hpp>

#include "auth/remedy.h"
#include "auth/scopes.h"

using namespace gf;
using namespace gf::auth;

TEST_CASE("Remedy command for each authorization parameter", "[remedy]") {
  AuthorizationParameters a;
  a.session_required_single_domain = {"rprox.hpc.umanitoba.ca"};
  CHECK(RemedyCommand(a) == "globus-fuse login --domain rprox.hpc.umanitoba.ca");

  AuthorizationParameters b;
  b.session_required_identities = {"alice@globusid.org"};
  b.session_required_policies = {"p1", "p2"};
  b.session_required_mfa = true;
  b.prompt_login = true;
  CHECK(RemedyCommand(b) ==
        "globus-fuse login --identity alice@globusid.org --policy p1 --policy p2 --mfa");

  const std::string c = "1405823f-0597-4a16-b296-46d4f0ae4b15";
  AuthorizationParameters s;
  s.required_scopes = {TransferScopeWith({c})};
  CHECK(RemedyCommand(s) == "globus-fuse login --scope '" + TransferScopeWith({c}) + "'");

  AuthorizationParameters p;
  p.prompt_login = true;
  CHECK(RemedyCommand(p) == "globus-fuse login --force");
  CHECK(ShellQuote("it's") == "'it'\\''s'");
}

TEST_CASE("Remedy message names the requirement and the command", "[remedy]") {
  Error e = Error::Api(502, "ExternalError.DirListingFailed.LoginFailed", "Command Failed");
  AuthorizationParameters a;
  a.session_required_single_domain = {"rprox.hpc.umanitoba.ca"};
  a.session_message = "Session reauthentication required (Globus Transfer)";
  e.authorization = a;
  CHECK(RemedyMessage(e, "UManitoba Grex HPC") ==
        "UManitoba Grex HPC requires an identity from rprox.hpc.umanitoba.ca: run `globus-fuse "
        "login --domain rprox.hpc.umanitoba.ca`");

  const std::string c = "1405823f-0597-4a16-b296-46d4f0ae4b15";
  Error consent = Error::Api(403, "ConsentRequired", "Missing required data_access consent");
  AuthorizationParameters ca;
  ca.required_scopes = {TransferScopeWith({c})};
  consent.authorization = ca;
  CHECK(RemedyMessage(consent, "") ==
        "the collection needs your consent: run `globus-fuse login "
        "--scope '" +
            TransferScopeWith({c}) + "'`");

  Error plain = Error::Api(404, "ClientError.NotFound", "no such dir");
  CHECK(RemedyMessage(plain, "x") == plain.Describe());
}
