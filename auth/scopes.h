// Globus scope strings: well-known scopes, the dependent-scope bracket syntax, and merging.
//
// Syntax (Globus Auth): a scope list is space-separated; a scope may carry dependent scopes in
// brackets, each optionally marked '*' (optional dependent):
//   urn:globus:auth:scope:transfer.api.globus.org:all[*https://auth.globus.org/scopes/C1/data_access
//   *https://auth.globus.org/scopes/C2/data_access]
// Dependents nest: "a[b[c] d]".
#pragma once

#include "common/uuid.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace gf::auth {

inline constexpr const char* kTransferScope = "urn:globus:auth:scope:transfer.api.globus.org:all";
inline constexpr const char* kViewIdentitySetScope =
    "urn:globus:auth:scope:auth.globus.org:view_identity_set";
inline constexpr const char* kScopeUrlPrefix = "https://auth.globus.org/scopes/";

struct Scope {
  std::string base;       // the scope string without '*' and without dependents
  bool optional = false;  // '*' prefix (meaningful for dependents)
  std::vector<Scope> dependents;
  bool operator==(const Scope&) const = default;
};

// Parse a scope list ("a b[c *d]"). Errors: unbalanced brackets, empty scope names.
Result<std::vector<Scope>> ParseScopes(std::string_view text);
// Serialise one scope ("a[*b c]") or a list (space-joined).
std::string FormatScope(const Scope& s);
std::string FormatScopes(const std::vector<Scope>& list);

// Merge `add` into `set`: a scope whose base is already present gets its dependents merged
// recursively (deduplicated); a dependent is optional only if every request of it is optional.
void MergeScope(std::vector<Scope>& set, const Scope& add);
// Merge scope strings (each may itself be a list with brackets) into one normalised list of
// top-level scope strings. Unparseable inputs are kept verbatim (deduplicated) rather than lost.
std::vector<std::string> MergeScopeStrings(const std::vector<std::string>& base,
                                           const std::vector<std::string>& add);

// https://auth.globus.org/scopes/<C>/data_access (non-HA GCSv5 mapped collections only).
std::string DataAccessScope(std::string_view collection_id);
// https://auth.globus.org/scopes/<C>/https (resource server = the collection id).
std::string HttpsScope(std::string_view collection_id);
// The Transfer scope with an optional data_access dependent per mapped collection.
std::string TransferScopeWith(const std::vector<std::string>& data_access_collections);
// "openid", "profile", "email", view_identity_set.
std::vector<std::string> IdentityScopes();
// What `globus-fuse login` requests by default: identity scopes, Transfer (with data_access
// dependents for `mapped_collections`), and the https scope of each of `https_collections`.
std::vector<std::string> DefaultLoginScopes(const std::vector<std::string>& mapped_collections,
                                            const std::vector<std::string>& https_collections);

// The collection id of an ".../scopes/<C>/https" scope, if it is one.
std::optional<std::string> CollectionOfHttpsScope(std::string_view scope);

}  // namespace gf::auth
