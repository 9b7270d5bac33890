#include "fs/fuse/flow_authorizer.h"

#include "auth/remedy.h"

namespace gf::fs {

Status FlowAuthorizer::Authorize(const Error& error, const std::string& collection_id) {
  if (!error.NeedsAuthorization()) return error;
  std::string name = name_of_ ? name_of_(collection_id) : std::string();
  Status s = broker_.Authorize(error, collection_id, name, RequestCancel::Current());
  if (s.ok()) return s;
  // Keep where it happened (the operation and path) for the core's log line.
  Error e = s.error();
  if (e.context.empty()) e.context = error.context;
  if (e.request_id.empty()) e.request_id = error.request_id;
  return e;
}

std::string FlowAuthorizer::Remedy(const Error& error, std::string_view subject) {
  return auth::RemedyMessage(error, subject);
}

}  // namespace gf::fs
