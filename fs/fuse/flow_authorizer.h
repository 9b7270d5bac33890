// FlowAuthorizer: the Authorizer (fs/hooks.h) of a real mount. When a remote call
// fails with an authorization error, it hands the error to the auth::AuthorizationBroker, which
// runs (or joins) the identity-link / consent / re-authentication flow for that requirement and
// blocks until it is met (OK: the core retries the call once) or cannot be (a kAuth error,
// EACCES, naming the `globus-fuse login ...` command that fixes it), or the calling request is
// interrupted (RequestCancel: EINTR, the flow goes on).
//
// `name_of` maps a collection id to the name shown to the user (display name); it may be empty
// or return "" (the id is used then). It must not call back into the Authorizer.
#pragma once

#include <functional>
#include <string>

#include "auth/authorization_broker.h"
#include "fs/hooks.h"

namespace gf::fs {

class FlowAuthorizer final : public Authorizer {
 public:
  using NameOf = std::function<std::string(const std::string& collection_id)>;

  explicit FlowAuthorizer(auth::AuthorizationBroker& broker, NameOf name_of = {})
      : broker_(broker), name_of_(std::move(name_of)) {}

  Status Authorize(const Error& error, const std::string& collection_id) override;
  // The `globus-fuse login ...` command that meets the error's requirement (auth/remedy.h).
  std::string Remedy(const Error& error, std::string_view subject) override;

  auth::AuthorizationBroker& broker() { return broker_; }

 private:
  auth::AuthorizationBroker& broker_;
  NameOf name_of_;
};

}  // namespace gf::fs
