"""Collection access policies shared by Transfer, tasks and HTTPS.

Checked in this order (the service checks consent before contacting the endpoint, then the
endpoint's login -- session/domain policy -- then path permissions):

1. data_access consent (``requires_consent``): 403 ``ConsentRequired`` (reference 2.3, current
   GARE-compatible shape, fx:error_consent_required_ls_403.json).
2. session domain + ``authentication_timeout_mins`` (``required_domains``): 502
   ``ExternalError.<Op>.LoginFailed`` with top-level ``authorization_parameters`` (reference
   2.4-A, result#1.1.0 wording). The op family for mkdir/rename is UNVERIFIED.
3. ACL (``allowed_users``, ``denied_paths``): 403 ``EndpointPermissionDenied`` (reference 1.2).
"""

import json
import os

from . import errors, scopes

_FAMILY = {"ls": "DirListingFailed", "stat": "DirListingFailed", "mkdir": "MkdirFailed",
           "rename": "RenameFailed"}
_COMMAND = {"ls": "MLSD", "stat": "MLST", "mkdir": "MKD", "rename": "RNFR"}
DOMAIN_MESSAGE = "None of your authenticated identities are from domains allowed by resource policies"
SESSION_MESSAGE = "Session reauthentication required (Globus Transfer)"


def consent_ok(coll, transfer_scope):
    return not coll.get("requires_consent") or scopes.has_data_access(transfer_scope, coll["id"])


def session_ok(state, coll, session, now):
    """True if the session holds an identity from a required domain, authenticated recently."""
    domains = coll.get("required_domains") or []
    if not domains:
        return True
    timeout = coll.get("authentication_timeout_mins")
    for iid, when in (session or {}).items():
        ident = state.identities.get(iid)
        if ident is None or state.identity_domain(ident) not in domains:
            continue
        if timeout is None or now - float(when) <= float(timeout) * 60:
            return True
    return False


def collection_relpath(root, real):
    rel = os.path.relpath(real, root)
    return "/" if rel == "." else "/" + rel


def acl_ok(coll, user, root=None, real=None):
    allowed = coll.get("allowed_users")
    if allowed is not None and user not in allowed:
        return False
    if real is not None and coll.get("denied_paths"):
        rel = collection_relpath(root, real)
        for rule in coll["denied_paths"]:
            if rule.get("user", "*") not in ("*", user):
                continue
            p = "/" + rule["path"].strip("/")
            if rel == p or rel.startswith(p + "/") or p == "/":
                return False
    return True


def acl_ok_subtree(coll, user, root, real):
    """acl_ok for ``real`` and everything under it (a recursive delete must not remove a
    denied path inside the tree)."""
    if not acl_ok(coll, user, root, real):
        return False
    rel = collection_relpath(root, real)
    for rule in coll.get("denied_paths") or []:
        if rule.get("user", "*") in ("*", user):
            p = "/" + rule["path"].strip("/")
            if rel == "/" or p.startswith(rel + "/"):
                return False
    return True


def gare_domain(coll):
    return {"session_message": SESSION_MESSAGE, "session_required_identities": [],
            "session_required_mfa": False,
            "session_required_single_domain": list(coll.get("required_domains") or [])}


def login_failed_error(coll, op, resource):
    domains = list(coll.get("required_domains") or [])
    result = {"DATA_TYPE": "result#1.1.0",
              "authorization_parameters": {"session_required_single_domain": domains},
              "code": "permission_denied",
              "detail": {"DATA_TYPE": "not_from_allowed_domain#1.0.0", "allowed_domains": domains},
              "has_next_page": False, "http_response_code": 403, "message": DOMAIN_MESSAGE}
    message = ("Command Failed: Error (login)\nEndpoint: %s (%s)\nServer: 127.0.0.1:443\n"
               "Message: Login Failed\n---\nDetails: 530-Login incorrect. : GlobusError: v=1 "
               "c=LOGIN_DENIED\\r\\n530-GridFTP-Message: %s\\r\\n530-GridFTP-JSON-Result: %s"
               "\\r\\n530 End.\\r\\n\n" % (coll["display_name"], coll["id"], DOMAIN_MESSAGE,
                                            json.dumps(result)))
    return errors.transfer(502, "ExternalError.%s.LoginFailed" % _FAMILY.get(op, "DirListingFailed"),
                           message, resource, authorization_parameters=gare_domain(coll))


def consent_error(coll, resource):
    scope = scopes.transfer_with_data_access(coll["id"])
    msg = "Missing required data_access consent"
    return errors.transfer(403, "ConsentRequired", msg, resource,
                           authorization_parameters={"required_scopes": [scope],
                                                     "session_message": msg},
                           required_scopes=[scope])


def permission_error(coll, op, path, resource):
    message = ("Denied by endpoint, Error (%s)\nEndpoint: %s (%s)\nServer: 127.0.0.1:443\n"
               "Command: %s %s\nMessage: Fatal FTP Response\n---\nDetails: 500 Command failed : "
               "Path not allowed.\\r\\n\n" % ("list" if op in ("ls", "stat") else op,
                                              coll["display_name"], coll["id"],
                                              _COMMAND.get(op, "MLST"), path))
    return errors.transfer(403, "EndpointPermissionDenied", message, resource)


def check_transfer(sim, coll, principal, op, resource, path=None, real=None):
    """Raise the Transfer error for ``op`` on ``coll`` if access is refused."""
    if not consent_ok(coll, principal["scope"]):
        raise consent_error(coll, resource)
    if not session_ok(sim.state, coll, principal["session"], sim.state.now()):
        raise login_failed_error(coll, op, resource)
    if not acl_ok(coll, principal["user"], coll.get("_root"), real):
        raise permission_error(coll, op, path, resource)
