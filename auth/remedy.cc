#include "auth/remedy.h"

#include <cctype>

#include "auth/scopes.h"

namespace gf::auth {
namespace {
std::string JoinOr(const std::vector<std::string>& v) {
  std::string out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i > 0) out += (i + 1 == v.size()) ? " or " : ", ";
    out += v[i];
  }
  return out;
}
}  // namespace

std::string ShellQuote(std::string_view s) {
  bool safe = !s.empty();
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '@' || c == '%' || c == '+' ||
          c == '=' || c == ':' || c == ',' || c == '.' || c == '/' || c == '_' || c == '-')) {
      safe = false;
      break;
    }
  }
  if (safe) return std::string(s);
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

std::string RemedyCommand(const AuthorizationParameters& a) {
  std::string cmd = "globus-fuse login";
  for (const auto& d : a.session_required_single_domain) cmd += " --domain " + ShellQuote(d);
  for (const auto& i : a.session_required_identities) cmd += " --identity " + ShellQuote(i);
  for (const auto& p : a.session_required_policies) cmd += " --policy " + ShellQuote(p);
  for (const auto& s : MergeScopeStrings({}, a.required_scopes)) cmd += " --scope " + ShellQuote(s);
  if (a.session_required_mfa.value_or(false)) cmd += " --mfa";
  bool session = !a.session_required_single_domain.empty() ||
                 !a.session_required_identities.empty() || !a.session_required_policies.empty();
  if (a.prompt_login && !session) cmd += " --force";
  return cmd;
}

std::string RemedyMessage(const Error& e, std::string_view subject) {
  std::string who = subject.empty() ? "the collection" : std::string(subject);
  if (!e.authorization || e.authorization->empty()) {
    if (e.kind == ErrorKind::kApi && e.code == "ConsentRequired")
      return who + " needs your consent: run `globus-fuse login --force`";
    return e.Describe();
  }
  const AuthorizationParameters& a = *e.authorization;
  std::string need;
  if (!a.session_required_single_domain.empty()) {
    need = who + " requires an identity from " + JoinOr(a.session_required_single_domain);
  } else if (!a.session_required_identities.empty()) {
    need = who + " requires you to log in as " + JoinOr(a.session_required_identities);
  } else if (!a.session_required_policies.empty()) {
    need = who + " requires a login that satisfies its authentication policy";
  } else if (a.session_required_mfa.value_or(false)) {
    need = who + " requires a login with multi-factor authentication";
  } else if (!a.required_scopes.empty()) {
    need = who + " needs your consent";
  } else if (e.kind == ErrorKind::kAuth) {
    need = e.message;
    auto colon = need.find(": run `");
    if (colon != std::string::npos) need = need.substr(0, colon);
  } else {
    need = who + " requires you to log in again";
  }
  return need + ": run `" + RemedyCommand(a) + "`";
}

}  // namespace gf::auth
