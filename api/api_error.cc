// ParseApiError: turns any non-2xx answer into a gf::Error (kApi).
//
// Shapes understood (globus-api.md §2):
//   Transfer   {"code", "message", "request_id", "resource", "authorization_parameters"?,
//               "required_scopes"? (legacy, top level)}
//   GARE       authorization_parameters with lists *or* comma-joined strings for
//              session_required_single_domain / _policies, session_required_mfa, prompt
//   Auth       {"error": "invalid_grant", "error_description"?} and
//              {"errors": [{"code", "detail", "title", "unapproved_scopes"?,
//                           "authorization_parameters"?}], "error"?}
//   GCS        {"DATA_TYPE": "result#1.0.0", "code", "http_response_code", "message", "detail"}
//   other      not JSON / not an object: status only, a short printable excerpt, and code "" --
//              except a GridFTP "GlobusError: v=1 c=<CODE>" in the body (the HTTPS server's
//              transient 404 says c=ENDPOINT_ERROR), whose <CODE> becomes `code`; the same is
//              read from a JSON document's message when it has no code
// Parsing never fails: a field of an unexpected type is ignored (an error document that we can
// half-read is still an error, and the status alone is enough for ErrnoFor()).
#include <rapidjson/document.h>

#include <cctype>

#include "api/documents.h"
#include "api/json_reader.h"

namespace gf::api {
namespace {

// The member `key` of an object, or nullptr. Works on const values only: comparing the
// non-const MemberIterator with MemberEnd() is ambiguous in C++20 (clang warns).
const rapidjson::Value* Member(const rapidjson::Value& obj, const char* key) {
  if (!obj.IsObject()) return nullptr;
  auto it = obj.FindMember(key);
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

std::string StringField(const rapidjson::Value& obj, const char* key) {
  if (!obj.IsObject()) return "";
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || !it->value.IsString()) return "";
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

// A list of strings, or one comma-joined string; anything else is empty.
std::vector<std::string> StringListField(const rapidjson::Value& obj, const char* key) {
  std::vector<std::string> out;
  if (!obj.IsObject()) return out;
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd()) return out;
  const auto& v = it->value;
  if (v.IsString()) return json::SplitCommaList({v.GetString(), v.GetStringLength()});
  if (!v.IsArray()) return out;
  for (const auto& item : v.GetArray()) {
    if (item.IsString()) out.emplace_back(item.GetString(), item.GetStringLength());
  }
  return out;
}

void AppendUnique(std::vector<std::string>& to, const std::vector<std::string>& from) {
  for (const auto& s : from) {
    bool seen = false;
    for (const auto& t : to) seen = seen || t == s;
    if (!seen) to.push_back(s);
  }
}

// Reads a GARE `authorization_parameters` object into `p`.
void ReadAuthorizationParameters(const rapidjson::Value& ap, AuthorizationParameters& p) {
  if (!ap.IsObject()) return;
  AppendUnique(p.required_scopes, StringListField(ap, "required_scopes"));
  AppendUnique(p.session_required_single_domain,
               StringListField(ap, "session_required_single_domain"));
  AppendUnique(p.session_required_identities, StringListField(ap, "session_required_identities"));
  AppendUnique(p.session_required_policies, StringListField(ap, "session_required_policies"));
  if (const auto* mfa = Member(ap, "session_required_mfa")) {
    if (mfa->IsBool()) {
      p.session_required_mfa = mfa->GetBool();
    } else if (mfa->IsString()) {
      std::string s = mfa->GetString();
      if (s == "true" || s == "True") p.session_required_mfa = true;
      if (s == "false" || s == "False") p.session_required_mfa = false;
    }
  }
  if (p.session_message.empty()) p.session_message = StringField(ap, "session_message");
  if (StringField(ap, "prompt") == "login") p.prompt_login = true;
}

// A short single-line printable excerpt of a non-JSON body (HTML from a proxy, etc.).
std::string Excerpt(std::string_view body) {
  std::string out;
  for (char c : body) {
    if (out.size() >= 200) {
      out += "...";
      break;
    }
    unsigned char u = static_cast<unsigned char>(c);
    out += (std::isprint(u) != 0) ? c : ' ';
  }
  // Trim.
  while (!out.empty() && out.back() == ' ') out.pop_back();
  std::size_t start = out.find_first_not_of(' ');
  return start == std::string::npos ? "" : out.substr(start);
}

// The GridFTP error code in "... GlobusError: v=1 c=ENDPOINT_ERROR GCS Manager Internal Error"
// (the body of the HTTPS server's transient 404, writes-and-deletes.md §1.6), or "".
std::string GridFtpCode(std::string_view body) {
  constexpr std::string_view kMarker = "GlobusError: v=1 c=";
  auto at = body.find(kMarker);
  if (at == std::string_view::npos) return "";
  std::string code;
  for (char c : body.substr(at + kMarker.size())) {
    if (!(std::isupper(static_cast<unsigned char>(c)) || c == '_')) break;
    code += c;
  }
  return code;
}

}  // namespace

bool IsTransientBackendFault(const Error& e) {
  return e.kind == ErrorKind::kApi && (e.code == "ENDPOINT_ERROR" || e.code == "INTERNAL_ERROR");
}

Error ParseApiError(int http_status, std::string_view body) {
  Error e = Error::Api(http_status, "", "");
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseIterativeFlag>(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    e.code = GridFtpCode(body);
    e.message = Excerpt(body);
    if (e.message.empty()) e.message = "HTTP " + std::to_string(http_status);
    return e;
  }

  AuthorizationParameters auth;

  // Transfer / GCS shape.
  e.code = StringField(doc, "code");
  e.message = StringField(doc, "message");
  e.request_id = StringField(doc, "request_id");
  e.resource = StringField(doc, "resource");
  const rapidjson::Value& root = doc;
  if (const auto* ap = Member(root, "authorization_parameters")) {
    ReadAuthorizationParameters(*ap, auth);
  }
  // Legacy ConsentRequired: required_scopes at the top level (also duplicated in newer bodies).
  AppendUnique(auth.required_scopes, StringListField(doc, "required_scopes"));
  if (e.message.empty()) e.message = StringField(doc, "detail");

  // Auth shapes: "error" is the OAuth error code, "errors" the JSON:API list.
  std::string oauth_error = StringField(doc, "error");
  const rapidjson::Value* errors = Member(root, "errors");
  const rapidjson::Value* first = nullptr;
  if (errors && errors->IsArray() && !errors->Empty() && (*errors)[0].IsObject()) {
    first = &(*errors)[0];
  }
  if (e.code.empty())
    e.code = !oauth_error.empty() ? oauth_error : first ? StringField(*first, "code") : "";
  if (e.message.empty()) e.message = StringField(doc, "error_description");
  if (first) {
    if (e.message.empty()) e.message = StringField(*first, "detail");
    if (e.message.empty()) e.message = StringField(*first, "title");
    if (e.request_id.empty()) e.request_id = StringField(*first, "id");
    // Dependent consent: the scopes to consent to are the authorization remedy.
    AppendUnique(auth.required_scopes, StringListField(*first, "unapproved_scopes"));
    if (const auto* fap = Member(*first, "authorization_parameters")) {
      ReadAuthorizationParameters(*fap, auth);
    }
  }
  if (e.code.empty()) e.code = GridFtpCode(e.message);
  if (e.message.empty()) e.message = "HTTP " + std::to_string(http_status);

  if (!auth.empty()) e.authorization = std::move(auth);
  return e;
}

}  // namespace gf::api
