// The one error type of globus-fuse.
//
// Every failure in every layer is a gf::Error. Its `kind` says where it came from:
//   kApi        the service answered with an error document (HTTP status + Globus `code`);
//   kTransport  no usable answer: DNS, connect, TLS, timeout, reset, truncated or malformed body;
//   kAuth       the local auth layer: not logged in, refresh refused (`invalid_grant`), flow
//   failed; kConfig     bad configuration or command-line input; kLocal      a local system call
//   failed (`sys_errno` holds errno); kNotSupported  an operation globus-fuse deliberately does not
//   implement (yet).
//
// Branch on kind, http_status, code and transport; never on message text.
// ErrnoFor() (error.cc) is the single table mapping errors to errno.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace gf {

enum class ErrorKind { kApi, kTransport, kAuth, kConfig, kLocal, kNotSupported };

enum class TransportFailure {
  kNone,
  kDns,
  kConnect,
  kTls,            // certificate or handshake failure (never silently ignored)
  kTimeout,        // connect timeout, low-speed abort, or overall deadline
  kReset,          // connection reset / closed mid-transfer
  kTruncated,      // fewer body bytes than Content-Length / Content-Range promised
  kMalformedBody,  // body is not the JSON document we expected
  kAborted,        // the caller cancelled the request (e.g. interrupted FUSE request)
  kOther,
};

enum class AuthFailure {
  kNone,
  kNotLoggedIn,    // no token for the resource server
  kLoginAgain,     // refresh token refused (invalid_grant): run `globus-fuse login`
  kFlowFailed,     // an interactive flow failed or was refused
  kFlowTimedOut,   // nobody completed the flow within --auth-timeout
  kStateMismatch,  // OAuth `state` did not match: possible CSRF, the code is discarded
};

// The GARE `authorization_parameters` (plus legacy top-level `required_scopes`).
// Lists are always lists here, even when the service sent a comma-joined string.
struct AuthorizationParameters {
  std::vector<std::string> required_scopes;
  std::vector<std::string> session_required_single_domain;
  std::vector<std::string> session_required_identities;
  std::vector<std::string> session_required_policies;
  std::optional<bool> session_required_mfa;
  std::string session_message;
  bool prompt_login = false;

  bool empty() const {
    return required_scopes.empty() && session_required_single_domain.empty() &&
           session_required_identities.empty() && session_required_policies.empty() &&
           !session_required_mfa.value_or(false) && session_message.empty() && !prompt_login;
  }
  bool operator==(const AuthorizationParameters&) const = default;
};

struct Error {
  ErrorKind kind = ErrorKind::kLocal;

  // kApi: from the service's error document.
  int http_status = 0;
  std::string code;     // e.g. "ClientError.NotFound", "ExternalError.DirListingFailed.LoginFailed"
  std::string message;  // human text (for kApi: the service's message, often GridFTP text)
  std::string request_id;
  std::string resource;
  std::optional<AuthorizationParameters> authorization;  // present when the error carried any

  TransportFailure transport = TransportFailure::kNone;  // kTransport
  AuthFailure auth = AuthFailure::kNone;                 // kAuth
  int sys_errno = 0;                                     // kLocal (and an explicit override)

  // Where it happened, for logs: e.g. "ls <collection>:/path".
  std::string context;

  // Constructors for the common cases.
  static Error Api(int status, std::string code, std::string message);
  static Error Transport(TransportFailure f, std::string message);
  static Error Auth(AuthFailure f, std::string message);
  static Error Config(std::string message);
  static Error Local(int err, std::string message);
  static Error NotSupported(std::string message);

  // True when the remedy is an authorization flow (GARE, legacy ConsentRequired,
  // LoginFailed with authorization_parameters, or kAuth/kNotLoggedIn naming the scopes to
  // request, e.g. a collection's https scope).
  bool NeedsAuthorization() const;
  // True when `code` has this dotted prefix: CodeIs("ExternalError.DirListingFailed")
  // matches "ExternalError.DirListingFailed.LoginFailed".
  bool CodeIs(std::string_view prefix) const;

  // One line for logs and CLI output; never contains tokens.
  std::string Describe() const;
};

// The single table from errors to errno (see error.cc for the table and its reasoning).
int ErrnoFor(const Error& e);

}  // namespace gf
