#include "auth/scopes.h"

#include <algorithm>
#include <cctype>

namespace gf::auth {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

class Parser {
 public:
  explicit Parser(std::string_view t) : t_(t) {}

  Result<std::vector<Scope>> List(bool nested) {
    std::vector<Scope> out;
    for (;;) {
      while (i_ < t_.size() && IsSpace(t_[i_])) ++i_;
      if (i_ >= t_.size()) {
        if (nested) return Err("missing ']'");
        return out;
      }
      if (t_[i_] == ']') {
        if (!nested) return Err("unexpected ']'");
        ++i_;
        return out;
      }
      auto one = One();
      if (!one) return one.error();
      out.push_back(std::move(*one));
    }
  }

 private:
  Result<Scope> One() {
    Scope s;
    if (t_[i_] == '*') {
      s.optional = true;
      ++i_;
    }
    std::size_t start = i_;
    while (i_ < t_.size() && !IsSpace(t_[i_]) && t_[i_] != '[' && t_[i_] != ']' && t_[i_] != '*')
      ++i_;
    s.base = std::string(t_.substr(start, i_ - start));
    if (s.base.empty()) return Err("empty scope name");
    if (i_ < t_.size() && t_[i_] == '*') return Err("unexpected '*'");
    if (i_ < t_.size() && t_[i_] == '[') {
      ++i_;
      auto deps = List(true);
      if (!deps) return deps.error();
      s.dependents = std::move(*deps);
    }
    return s;
  }

  Error Err(const std::string& what) const {
    return Error::Config("bad scope string '" + std::string(t_) + "': " + what);
  }

  std::string_view t_;
  std::size_t i_ = 0;
};

}  // namespace

Result<std::vector<Scope>> ParseScopes(std::string_view text) { return Parser(text).List(false); }

std::string FormatScope(const Scope& s) {
  std::string out;
  if (s.optional) out += '*';
  out += s.base;
  if (!s.dependents.empty()) out += "[" + FormatScopes(s.dependents) + "]";
  return out;
}

std::string FormatScopes(const std::vector<Scope>& list) {
  std::string out;
  for (const auto& s : list) {
    if (!out.empty()) out += ' ';
    out += FormatScope(s);
  }
  return out;
}

void MergeScope(std::vector<Scope>& set, const Scope& add) {
  auto it =
      std::find_if(set.begin(), set.end(), [&](const Scope& s) { return s.base == add.base; });
  if (it == set.end()) {
    // Normalise the added scope's own dependents too (they may repeat).
    Scope copy{add.base, add.optional, {}};
    for (const auto& d : add.dependents) MergeScope(copy.dependents, d);
    set.push_back(std::move(copy));
    return;
  }
  it->optional = it->optional && add.optional;
  for (const auto& d : add.dependents) MergeScope(it->dependents, d);
}

std::vector<std::string> MergeScopeStrings(const std::vector<std::string>& base,
                                           const std::vector<std::string>& add) {
  std::vector<Scope> set;
  std::vector<std::string> verbatim;
  auto take = [&](const std::string& s) {
    auto parsed = ParseScopes(s);
    if (!parsed) {
      if (std::find(verbatim.begin(), verbatim.end(), s) == verbatim.end()) verbatim.push_back(s);
      return;
    }
    for (const auto& one : *parsed) MergeScope(set, one);
  };
  for (const auto& s : base) take(s);
  for (const auto& s : add) take(s);
  std::vector<std::string> out;
  for (const auto& s : set) out.push_back(FormatScope(s));
  out.insert(out.end(), verbatim.begin(), verbatim.end());
  return out;
}

std::string DataAccessScope(std::string_view collection_id) {
  return std::string(kScopeUrlPrefix) + std::string(collection_id) + "/data_access";
}

std::string HttpsScope(std::string_view collection_id) {
  return std::string(kScopeUrlPrefix) + std::string(collection_id) + "/https";
}

std::string TransferScopeWith(const std::vector<std::string>& data_access_collections) {
  Scope t{kTransferScope, false, {}};
  for (const auto& c : data_access_collections)
    MergeScope(t.dependents, {DataAccessScope(c), true, {}});
  return FormatScope(t);
}

std::vector<std::string> IdentityScopes() {
  return {"openid", "profile", "email", kViewIdentitySetScope};
}

std::vector<std::string> DefaultLoginScopes(const std::vector<std::string>& mapped_collections,
                                            const std::vector<std::string>& https_collections) {
  std::vector<std::string> want = IdentityScopes();
  want.push_back(TransferScopeWith(mapped_collections));
  for (const auto& c : https_collections) want.push_back(HttpsScope(c));
  return MergeScopeStrings({}, want);
}

std::optional<std::string> CollectionOfHttpsScope(std::string_view scope) {
  std::string_view prefix = kScopeUrlPrefix, suffix = "/https";
  if (scope.size() <= prefix.size() + suffix.size()) return std::nullopt;
  if (scope.substr(0, prefix.size()) != prefix) return std::nullopt;
  if (scope.substr(scope.size() - suffix.size()) != suffix) return std::nullopt;
  std::string_view id = scope.substr(prefix.size(), scope.size() - prefix.size() - suffix.size());
  if (!LooksLikeUuid(id)) return std::nullopt;
  return std::string(id);
}

}  // namespace gf::auth
