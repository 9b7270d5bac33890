#include "common/error.h"

#include <cerrno>
#include <string_view>

namespace gf {

Error Error::Api(int status, std::string code, std::string message) {
  Error e;
  e.kind = ErrorKind::kApi;
  e.http_status = status;
  e.code = std::move(code);
  e.message = std::move(message);
  return e;
}

Error Error::Transport(TransportFailure f, std::string message) {
  Error e;
  e.kind = ErrorKind::kTransport;
  e.transport = f;
  e.message = std::move(message);
  return e;
}

Error Error::Auth(AuthFailure f, std::string message) {
  Error e;
  e.kind = ErrorKind::kAuth;
  e.auth = f;
  e.message = std::move(message);
  return e;
}

Error Error::Config(std::string message) {
  Error e;
  e.kind = ErrorKind::kConfig;
  e.message = std::move(message);
  return e;
}

Error Error::Local(int err, std::string message) {
  Error e;
  e.kind = ErrorKind::kLocal;
  e.sys_errno = err;
  e.message = std::move(message);
  return e;
}

Error Error::NotSupported(std::string message) {
  Error e;
  e.kind = ErrorKind::kNotSupported;
  e.message = std::move(message);
  return e;
}

bool Error::CodeIs(std::string_view prefix) const {
  std::string_view c = code;
  if (c.size() < prefix.size() || c.substr(0, prefix.size()) != prefix) return false;
  return c.size() == prefix.size() || c[prefix.size()] == '.';
}

bool Error::NeedsAuthorization() const {
  // No token yet for a scope that a login would grant (a collection's `https` scope): the
  // remedy is the same consent flow (TokenManager::NotLoggedIn fills required_scopes).
  if (kind == ErrorKind::kAuth)
    return auth == AuthFailure::kNotLoggedIn && authorization &&
           !authorization->required_scopes.empty();
  if (kind != ErrorKind::kApi) return false;
  if (authorization && !authorization->empty()) return true;
  // Legacy ConsentRequired carries only top-level required_scopes, parsed into `authorization`.
  return code == "ConsentRequired" || code == "AuthPolicyFailed";
}

namespace {
const char* TransportName(TransportFailure f) {
  switch (f) {
    case TransportFailure::kNone:
      return "none";
    case TransportFailure::kDns:
      return "DNS lookup failed";
    case TransportFailure::kConnect:
      return "connection failed";
    case TransportFailure::kTls:
      return "TLS verification failed";
    case TransportFailure::kTimeout:
      return "timed out";
    case TransportFailure::kReset:
      return "connection reset";
    case TransportFailure::kTruncated:
      return "truncated response";
    case TransportFailure::kMalformedBody:
      return "malformed response";
    case TransportFailure::kAborted:
      return "aborted";
    case TransportFailure::kOther:
      return "transport error";
  }
  return "transport error";
}
}  // namespace

std::string Error::Describe() const {
  std::string out;
  if (!context.empty()) out += context + ": ";
  switch (kind) {
    case ErrorKind::kApi:
      out += std::to_string(http_status) + " " + code;
      if (!message.empty()) {
        // GridFTP messages are multi-line; the first line is the useful summary.
        auto nl = message.find('\n');
        out += ": " + message.substr(0, nl);
      }
      if (!request_id.empty()) out += " (request_id " + request_id + ")";
      break;
    case ErrorKind::kTransport:
      out += TransportName(transport);
      if (!message.empty()) out += ": " + message;
      break;
    default:
      out += message;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The errno table. Every error a filesystem operation can meet is mapped here and nowhere else.
// Order matters: the most specific code prefixes come first. Unknown errors are EIO.
// ---------------------------------------------------------------------------------------------
namespace {
struct CodeErrno {
  std::string_view code_prefix;
  int err;
};

// Globus Transfer codes (see docs/reference/globus-api.md §2.2).
constexpr CodeErrno kCodeTable[] = {
    {"ClientError.NotFound", ENOENT},
    {"NotFound", ENOENT},  // stat of a missing path
    {"EndpointNotFound", ENOENT},
    {"EndpointDeleted", ENOENT},
    {"BookmarkNotFound", ENOENT},
    {"EndpointPermissionDenied", EACCES},
    {"PermissionDenied", EACCES},
    {"ClientError.PermissionDenied", EACCES},
    {"ExternalError.DirListingFailed.NotDirectory", ENOTDIR},
    // "Too many files in dir": it is a directory, we just cannot list it. EFBIG would confuse;
    // E2BIG is what tools print as "Argument list too long". Use EOVERFLOW ("Value too large").
    {"ExternalError.DirListingFailed.SizeLimit", EOVERFLOW},
    {"ExternalError.DirListingFailed.PermissionDenied", EACCES},
    // LoginFailed without a session remedy (e.g. storage credential setup) is still "denied".
    {"ExternalError.DirListingFailed.LoginFailed", EACCES},
    // The endpoint is offline or unreachable: the host is down from the user's point of view.
    {"ExternalError.DirListingFailed.ConnectFailed", EHOSTDOWN},
    {"ExternalError.DirListingFailed.GCDisconnected", EHOSTDOWN},
    {"ExternalError.MkdirFailed.Exists", EEXIST},
    {"ExternalError.MkdirFailed.PermissionDenied", EACCES},
    {"ExternalError.RenameFailed.Exists", EEXIST},
    {"ExternalError.RenameFailed.PermissionDenied", EACCES},
    {"ExternalError.RenameFailed.NotFound", ENOENT},
    {"ConsentRequired", EACCES},
    {"AuthPolicyFailed", EACCES},
    {"AuthenticationFailed", EACCES},
    {"ClientError.AuthenticationFailed", EACCES},
    {"Conflict", EBUSY},  // identical paths in a still-active task
    {"ClientError.Conflict", EBUSY},
    {"NotSupported", EOPNOTSUPP},
    {"ServiceUnavailable", EAGAIN},
    {"ClientError.BadRequest", EINVAL},
    {"BadRequest", EINVAL},
    // Task fatal_error / event codes (what a failed cp or mv reports through fsync/wait).
    {"FILE_NOT_FOUND", ENOENT},
    {"PERMISSION_DENIED", EACCES},
    {"CANCELED", ECANCELED},
    {"QUOTA_EXCEEDED", EDQUOT},
    {"NO_SPACE_LEFT", ENOSPC},
    // GridFTP codes in a collection HTTPS body (api::IsTransientBackendFault): the HTTPS server
    // sends them with a 404 for a backend fault, so the status must not make them ENOENT.
    {"ENDPOINT_ERROR", EIO},
    {"INTERNAL_ERROR", EIO},
};
}  // namespace

int ErrnoFor(const Error& e) {
  if (e.sys_errno != 0) return e.sys_errno;  // an explicit decision by the caller wins
  switch (e.kind) {
    case ErrorKind::kApi: {
      // Exact match first, then the longest dotted-prefix match.
      for (const auto& row : kCodeTable)
        if (e.code == row.code_prefix) return row.err;
      std::size_t best = 0;
      int err = 0;
      for (const auto& row : kCodeTable) {
        if (row.code_prefix.size() > best && e.CodeIs(row.code_prefix)) {
          best = row.code_prefix.size();
          err = row.err;
        }
      }
      if (err != 0) return err;
      if (e.NeedsAuthorization()) return EACCES;
      switch (e.http_status) {
        case 401:
        case 403:
          return EACCES;
        case 404:
          return ENOENT;
        case 409:
          return EBUSY;
        case 413:  // an upload over the server's body limit (Apache LimitRequestBody)
          return EFBIG;
        case 416:
          return EINVAL;
        case 507:  // Insufficient Storage: the collection's quota or disk is full
          return EDQUOT;
        case 429:
        case 503:
          return EAGAIN;
        default:
          return EIO;
      }
    }
    case ErrorKind::kTransport:
      switch (e.transport) {
        case TransportFailure::kTimeout:
          return ETIMEDOUT;
        case TransportFailure::kAborted:
          return EINTR;
        case TransportFailure::kDns:
        case TransportFailure::kConnect:
          return EHOSTUNREACH;
        default:
          return EIO;
      }
    case ErrorKind::kAuth:
      return EACCES;
    case ErrorKind::kConfig:
      return EINVAL;
    case ErrorKind::kLocal:
      return EIO;
    case ErrorKind::kNotSupported:
      return EOPNOTSUPP;
  }
  return EIO;
}

}  // namespace gf
