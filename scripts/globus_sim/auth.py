"""Globus Auth emulation: native-app PKCE login pages, token endpoint, userinfo, identities.

Reference: globus-api.md section 3 (flow, token response shape, userinfo, identities) and 2.5
(error shapes). Tokens are opaque random strings; the sim keeps, keyed by their SHA-256,
``{user, rs, scope, session: {identity_id: auth_time}, mfa, expires_at, kind}``.

Login flow (all server-side state in ``State.flows``):
``/v2/oauth2/authorize`` -> login form -> [Identity Required link form]* -> consent -> 302 to the
client's ``redirect_uri?code=..&state=..`` (or the ``/v2/web/auth-code`` display page).
"""

import base64
import hashlib
import hmac
import json
import re
import time
import urllib.parse

from . import defaults, errors, pages, scopes
from .server import Response
from .state import new_secret, token_key

COOKIE = "globus_sim_session"
CODE_LIFETIME = 600
FLOW_LIFETIME = 3600
_LOOPBACK = re.compile(r"^http://(127\.0\.0\.1|localhost)(:\d+)?(/[^#]*)?$")
_REAL_AUTH_CODE_PAGE = "https://auth.globus.org/v2/web/auth-code"


def _csv(value):
    if not value:
        return []
    if isinstance(value, list):
        return [v for v in value if v]
    return [v.strip() for v in value.split(",") if v.strip()]


def _truthy(value):
    return str(value).lower() in ("1", "true", "yes", "on")


class AuthService:
    def __init__(self, sim):
        self.sim = sim
        self.state = sim.state

    def register(self, r):
        r.add("GET", r"/v2/oauth2/authorize", "authorize", self.authorize)
        r.add("POST", r"/v2/web/login", "login", self.login_submit)
        r.add("POST", r"/v2/web/link", "link", self.link_submit)
        r.add("POST", r"/v2/web/consent", "consent", self.consent_submit)
        r.add("GET", r"/v2/web/auth-code", "auth_code_page", self.auth_code_page)
        r.add("POST", r"/v2/oauth2/token", "token", self.token)
        r.add("POST", r"/v2/oauth2/token/revoke", "revoke", self.revoke)
        r.add("GET", r"/v2/oauth2/userinfo", "userinfo", self.userinfo)
        r.add("POST", r"/v2/oauth2/userinfo", "userinfo", self.userinfo)
        r.add("GET", r"/v2/api/identities", "identities", self.identities)

    # == token bookkeeping =====================================================================
    def lookup(self, token):
        """The live access-token record for ``token``, or None (unknown/expired/revoked)."""
        if not token:
            return None
        with self.state.lock:
            rec = self.state.tokens.get(token_key(token))
            if rec is None or rec["kind"] != "access" or rec["expires_at"] <= self.state.now():
                return None
            return dict(rec)

    def _issue(self, user, rs, scope, session, mfa, client_id, offline, refresh_key=None):
        """Create an access token (and a refresh token if ``offline`` and none given)."""
        st = self.state
        lifetime = int(self.sim.tunable("token_lifetime_seconds"))
        now = st.now()
        access = new_secret()
        out = {"access_token": access, "expires_in": lifetime, "resource_server": rs,
               "scope": scope, "token_type": "Bearer"}
        with st.lock:
            if offline and refresh_key is None:
                refresh = new_secret(48)
                refresh_key = token_key(refresh)
                rlife = int(self.sim.tunable("refresh_token_lifetime_seconds"))
                st.tokens[refresh_key] = {
                    "kind": "refresh", "user": user, "rs": rs, "scope": scope,
                    "session": dict(session), "mfa": mfa, "client_id": client_id,
                    "issued_at": now, "expires_at": now + rlife if rlife else None}
                out["refresh_token"] = refresh
            st.tokens[token_key(access)] = {
                "kind": "access", "user": user, "rs": rs, "scope": scope,
                "session": dict(session), "mfa": mfa, "client_id": client_id,
                "issued_at": now, "expires_at": now + lifetime, "refresh": refresh_key}
            self._prune(now)
            st.dirty = True
        return out

    def _prune(self, now):
        dead = [k for k, r in self.state.tokens.items()
                if r["kind"] == "access" and r["expires_at"] < now - 30 * 86400]
        for k in dead:
            del self.state.tokens[k]

    def expire_tokens(self, username=None):
        """POST /control/tokens/expire: every live access token (of ``username``) expires now."""
        n = 0
        with self.state.lock:
            now = self.state.now()
            for rec in self.state.tokens.values():
                if rec["kind"] == "access" and (username is None or rec["user"] == username) \
                        and rec["expires_at"] > now:
                    rec["expires_at"] = now - 1
                    n += 1
            self.state.dirty = True
        return n

    def _id_token(self, user, client_id, session):
        """An HS256-signed OIDC id_token (clients need not verify it)."""
        def b64(d):
            return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()
        st = self.state
        primary = st.primary_identity(user)
        now = int(st.now())
        claims = {"iss": self.sim.auth_url, "sub": primary["id"], "aud": client_id,
                  "iat": now, "exp": now + int(self.sim.tunable("token_lifetime_seconds")),
                  "preferred_username": primary["username"], "name": primary.get("name"),
                  "email": primary.get("email"),
                  "identity_set": [i["id"] for i in st.identity_set(user)],
                  "session_info": {"authentications": {k: {"auth_time": int(v)}
                                                       for k, v in session.items()}}}
        signing = b64({"alg": "HS256", "typ": "JWT"}) + "." + b64(claims)
        sig = hmac.new(self.sim.secret, signing.encode(), hashlib.sha256).digest()
        return signing + "." + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()

    # == authorize =============================================================================
    def _validate_scopes(self, scope_text):
        try:
            parsed = scopes.merge(scopes.parse(scope_text))
        except scopes.ScopeError as e:
            raise errors.html(400, "Invalid Scope", str(e))
        if not parsed:
            raise errors.html(400, "Invalid Scope", "No scope requested")
        for s in parsed:
            if scopes.resource_server(s) is None:
                raise errors.html(400, "Unknown Scope", "Unknown scope: %s" % s.name)
            for name in s.all_names():
                cs = scopes.collection_scope(name)
                if cs is None:
                    continue
                coll = self.state.collections.get(cs[0])
                if coll is None or coll.get("non_functional"):
                    raise errors.html(400, "Unknown Scope", "Unknown scope: %s" % name)
                if cs[1] == "https" and not coll.get("https"):
                    raise errors.html(400, "Unknown Scope",
                                      "Unknown scope: %s (collection has no HTTPS)" % name)
                if cs[1] == "data_access" and (coll["entity_type"] != "GCSv5_mapped_collection"
                                               or coll.get("high_assurance")):
                    raise errors.html(400, "Unknown Scope", "Unknown scope: %s (data_access "
                                      "exists only for non-HA GCSv5 mapped collections)" % name)
        return parsed

    def _valid_redirect(self, uri):
        if not uri:
            return False
        own = self.sim.auth_url + "/v2/web/auth-code"
        return bool(_LOOPBACK.match(uri)) or uri in (own, _REAL_AUTH_CODE_PAGE)

    def authorize(self, req):
        q = {k: req.arg(k) for k in req.query}
        client_id = q.get("client_id")
        if client_id != defaults.CLIENT_ID:
            if client_id in self.state.collections:
                raise errors.html(400, "Unsupported Client", "This is the login of collection %s's "
                                  "HTTPS server, which globus-sim does not emulate; log in with "
                                  "the native app (client_id %s)." % (client_id, defaults.CLIENT_ID))
            raise errors.html(400, "Unknown Client", "Unknown client_id: %r" % client_id)
        redirect_uri = q.get("redirect_uri")
        if not self._valid_redirect(redirect_uri):
            raise errors.html(400, "Invalid redirect_uri",
                              "redirect_uri must be http://127.0.0.1:PORT/..., "
                              "http://localhost:PORT/... or %s/v2/web/auth-code; got %r"
                              % (self.sim.auth_url, redirect_uri))
        if q.get("response_type") != "code":
            raise errors.html(400, "Invalid request", "response_type must be 'code'")
        if not q.get("code_challenge") or q.get("code_challenge_method") != "S256":
            raise errors.html(400, "Invalid request",
                              "PKCE is required: code_challenge and code_challenge_method=S256")
        # OIDC's `offline_access` (what the JS SDK sends) asks for refresh tokens like
        # access_type=offline; it names no resource server.
        scope_words = (q.get("scope") or "" or "").split()
        wants_offline = "offline_access" in scope_words
        parsed = self._validate_scopes(" ".join(w for w in scope_words if w != "offline_access"))
        domains = _csv(q.get("session_required_single_domain"))
        for pid in _csv(q.get("session_required_policies")):
            policy = self.sim.world["policies"].get(pid)
            if policy is None:
                raise errors.html(400, "Unknown Policy", "Unknown authentication policy %s" % pid)
            domains += [d for d in policy.get("required_domains", []) if d not in domains]
        identities = []
        for key in _csv(q.get("session_required_identities")):
            ident = self.state.find_identity(key)
            if ident is None:
                raise errors.html(400, "Unknown Identity", "Unknown identity %s" % key)
            identities.append(ident["id"])
        mfa = _truthy(q.get("session_required_mfa"))
        forced = q.get("prompt") == "login" or bool(domains or identities or mfa)
        flow = {
            "id": new_secret(18), "created": time.time(), "client_id": client_id,
            "redirect_uri": redirect_uri, "state": q.get("state"),
            "code_challenge": q["code_challenge"],
            "scope": " ".join(str(s) for s in parsed),
            "offline": q.get("access_type") == "offline" or wants_offline,
            "required_domains": domains, "required_identities": identities, "mfa_required": mfa,
            "session_message": q.get("session_message") or "",
            "user": None, "session": {}, "mfa": False,
        }
        browser = None if forced else self._browser_session(req)
        if browser is not None:
            flow["user"] = browser["user"]
            flow["session"] = dict(browser["identities"])
            flow["mfa"] = browser.get("mfa", False)
        with self.state.lock:
            now = time.time()
            for k in [k for k, f in self.state.flows.items() if now - f["created"] > FLOW_LIFETIME]:
                del self.state.flows[k]
            self.state.flows[flow["id"]] = flow
        return self._next_step(flow)

    def _browser_session(self, req):
        cookie = req.cookie(COOKIE)
        if not cookie:
            return None
        with self.state.lock:
            s = self.state.browser_sessions.get(cookie)
            return dict(s) if s else None

    def _flow(self, form):
        with self.state.lock:
            flow = self.state.flows.get(form.get("flow", ""))
        if flow is None:
            raise errors.html(400, "Login expired", "This login attempt is unknown or expired; "
                              "start again from the application.")
        return flow

    def _missing_domains(self, flow):
        if not flow["required_domains"]:
            return []
        have = {self.state.identity_domain(self.state.identities[i]) for i in flow["session"]
                if i in self.state.identities}
        if have & set(flow["required_domains"]):
            return []
        return flow["required_domains"]

    def _missing_identities(self, flow):
        return [i for i in flow["required_identities"] if i not in flow["session"]]

    def _next_step(self, flow, error=None):
        st = self.state
        if flow["user"] is None or (flow["mfa_required"] and not flow["mfa"]):
            return Response.html(pages.login_page(flow["id"], "globus-fuse",
                                                  flow["session_message"], flow["mfa_required"],
                                                  error))
        user = flow["user"]
        choices = []
        for d in self._missing_domains(flow):
            prov = next((p["name"] for p in st.world["providers"] if p.get("domain") == d), d)
            mine = next((i["username"] for i in st.identities.values()
                         if i["owner"] == user and st.identity_domain(i) == d), "")
            choices.append((d, prov, mine))
        for iid in self._missing_identities(flow):
            ident = st.identities[iid]
            choices.append((st.identity_domain(ident), st.provider_name(ident),
                            ident["username"]))
        if choices:
            return Response.html(pages.identity_required_page(flow["id"], flow["session_message"],
                                                              choices, error))
        if self.sim.tunable("always_show_consent"):
            return Response.html(pages.consent_page(
                flow["id"], "globus-fuse", st.primary_identity(user)["username"],
                flow["scope"].split(" ")))
        return self._finish(flow, True)

    def login_submit(self, req):
        form = req.form()
        flow = self._flow(form)
        user = self._check_password(form.get("username", ""), form.get("password", ""))
        if user is None:
            return self._next_step(flow, "Invalid username or password.")
        if flow["mfa_required"] and not re.fullmatch(r"\d{6}", form.get("mfa_code", "")):
            return self._next_step(flow, "A 6-digit multi-factor code is required.")
        ident = self._identity_for_login(user, form.get("username", ""))
        with self.state.lock:
            if flow["user"] != user:
                flow["session"] = {}
            flow["user"] = user
            flow["session"][ident["id"]] = self.state.now()
            flow["mfa"] = flow["mfa"] or flow["mfa_required"]
        return self._next_step(flow)

    def _check_password(self, username, password):
        """Accept the user name or any linked identity username; return the user name."""
        st = self.state
        user = username if username in st.users else None
        if user is None:
            ident = st.find_identity(username)
            if ident is not None and st.is_linked(ident):
                user = ident["owner"]
        if user is None or not hmac.compare_digest(st.users[user]["password"].encode(),
                                                   password.encode()):
            return None
        return user

    def _identity_for_login(self, user, login_name):
        ident = self.state.find_identity(login_name)
        if ident is not None and ident["owner"] == user:
            return ident
        return self.state.primary_identity(user)

    def link_submit(self, req):
        form = req.form()
        flow = self._flow(form)
        st = self.state
        if flow["user"] is None:
            return self._next_step(flow)
        ident = st.find_identity(form.get("username", ""))
        domain = form.get("domain", "")
        if ident is None or st.identity_domain(ident) != domain:
            return self._next_step(flow, "No identity %r at %s." % (form.get("username"), domain))
        if ident["owner"] != flow["user"]:
            return self._next_step(flow, "Identity %s is linked to another Globus account."
                                   % ident["username"])
        if not hmac.compare_digest(st.users[ident["owner"]]["password"].encode(),
                                   form.get("password", "").encode()):
            return self._next_step(flow, "Invalid username or password.")
        st.link_identity(flow["user"], ident["id"])
        with st.lock:
            flow["session"][ident["id"]] = st.now()
        return self._next_step(flow)

    def consent_submit(self, req):
        form = req.form()
        flow = self._flow(form)
        if flow["user"] is None or self._missing_domains(flow) or self._missing_identities(flow):
            return self._next_step(flow)
        return self._finish(flow, form.get("decision") == "allow")

    def _finish(self, flow, allowed):
        st = self.state
        with st.lock:
            st.flows.pop(flow["id"], None)
        headers = {}
        if not allowed:
            params = {"error": "access_denied", "error_description": "The user denied access"}
        else:
            code = new_secret(24)
            with st.lock:
                st.codes[token_key(code)] = {
                    "user": flow["user"], "client_id": flow["client_id"],
                    "redirect_uri": flow["redirect_uri"], "challenge": flow["code_challenge"],
                    "scope": flow["scope"], "session": dict(flow["session"]),
                    "mfa": flow["mfa"], "offline": flow["offline"], "state": flow["state"],
                    "expires": time.time() + CODE_LIFETIME}
                grants = st.consents.setdefault(flow["user"], [])
                for s in flow["scope"].split(" "):
                    if s not in grants:
                        grants.append(s)
                cookie = new_secret(18)
                st.browser_sessions[cookie] = {"user": flow["user"],
                                               "identities": dict(flow["session"]),
                                               "mfa": flow["mfa"]}
                st.dirty = True
            headers["Set-Cookie"] = "%s=%s; Path=/v2; HttpOnly; Secure; SameSite=Lax" % (
                COOKIE, cookie)
            params = {"code": code}
        if flow["state"] is not None:
            params["state"] = flow["state"]
        uri = flow["redirect_uri"]
        if uri == _REAL_AUTH_CODE_PAGE:
            uri = self.sim.auth_url + "/v2/web/auth-code"
        sep = "&" if "?" in uri else "?"
        return Response.redirect(uri + sep + urllib.parse.urlencode(params), headers=headers)

    def auth_code_page(self, req):
        if req.arg("error"):
            return Response.html(pages.auth_code_page(None, None, req.arg("error_description")
                                                      or req.arg("error")))
        return Response.html(pages.auth_code_page(req.arg("code", ""), req.arg("state")))

    # == token endpoint ========================================================================
    def _invalid_grant(self, description):
        return errors.oauth(int(self.sim.tunable("invalid_grant_status")), "invalid_grant",
                            description)

    def token(self, req):
        form = req.form()
        client_id = form.get("client_id")
        basic = req.headers.get("Authorization", "")
        if not client_id and basic.lower().startswith("basic "):
            try:
                client_id = base64.b64decode(basic[6:]).decode().partition(":")[0]
            except ValueError:
                client_id = None
        if client_id != defaults.CLIENT_ID:
            raise errors.oauth(401, "invalid_client", "Unknown client_id")
        grant = form.get("grant_type")
        if grant == "authorization_code":
            return self._exchange_code(form, client_id)
        if grant == "refresh_token":
            return self._refresh(form, client_id)
        raise errors.oauth(400, "unsupported_grant_type", "grant_type %r not supported" % grant)

    def _exchange_code(self, form, client_id):
        st = self.state
        key = token_key(form.get("code", ""))
        with st.lock:
            rec = st.codes.get(key)
            if rec is None or rec["expires"] < time.time():
                st.codes.pop(key, None)
                raise self._invalid_grant("Invalid authorization code")
            verifier = form.get("code_verifier", "")
            challenge = base64.urlsafe_b64encode(
                hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if not re.fullmatch(r"[A-Za-z0-9._~-]{43,128}", verifier) or \
                    not hmac.compare_digest(challenge, rec["challenge"]):
                raise self._invalid_grant("Invalid code_verifier")
            if form.get("redirect_uri") != rec["redirect_uri"] or client_id != rec["client_id"]:
                raise self._invalid_grant("redirect_uri or client_id does not match the code")
            del st.codes[key]  # single use
        by_rs = {}
        for s in scopes.parse(rec["scope"]):
            by_rs.setdefault(scopes.resource_server(s), []).append(str(s))
        tokens = [self._issue(rec["user"], rs, " ".join(sc), rec["session"], rec["mfa"],
                              client_id, rec["offline"]) for rs, sc in by_rs.items()]
        primary = next((t for t in tokens if t["resource_server"] == defaults.AUTH_RS), tokens[0])
        body = dict(primary)
        if "openid" in primary["scope"].split(" "):
            body["id_token"] = self._id_token(rec["user"], client_id, rec["session"])
        body["state"] = rec.get("state") or "_default"  # echoes the authorize request
        body["other_tokens"] = [t for t in tokens if t is not primary]
        return Response.json(body, headers={"Cache-Control": "no-store"})

    def _refresh(self, form, client_id):
        st = self.state
        key = token_key(form.get("refresh_token", ""))
        with st.lock:
            rec = st.tokens.get(key)
            if rec is None or rec["kind"] != "refresh" or \
                    (rec["expires_at"] is not None and rec["expires_at"] <= st.now()):
                raise self._invalid_grant("Invalid refresh token")
            rec = dict(rec)
        out = self._issue(rec["user"], rec["rs"], rec["scope"], rec["session"], rec["mfa"],
                          client_id, True, refresh_key=key)
        out["refresh_token"] = form.get("refresh_token")
        out["state"] = "_default"
        out["other_tokens"] = []
        return Response.json(out, headers={"Cache-Control": "no-store"})

    def revoke(self, req):
        form = req.form()
        key = token_key(form.get("token", ""))
        with self.state.lock:
            rec = self.state.tokens.pop(key, None)
            if rec is not None and rec["kind"] == "refresh":
                for k in [k for k, r in self.state.tokens.items() if r.get("refresh") == key]:
                    del self.state.tokens[k]
            self.state.dirty = True
        return Response.json({"active": False})

    # == API ===================================================================================
    def _auth_principal(self, req, need_openid=False):
        rec = self.lookup(req.bearer())
        if rec is None or rec["rs"] != defaults.AUTH_RS:
            raise errors.auth_api(401)
        if need_openid and "openid" not in rec["scope"].split(" "):
            raise errors.auth_api(403, "FORBIDDEN", "Token lacks the openid scope", "Forbidden",
                                  "forbidden")
        req.user = rec["user"]
        return rec

    def userinfo(self, req):
        rec = self._auth_principal(req, need_openid=True)
        st = self.state
        with st.lock:
            primary = st.primary_identity(rec["user"])
            idset = []
            for ident in st.identity_set(rec["user"]):
                t = rec["session"].get(ident["id"])
                idset.append({"sub": ident["id"], "username": ident["username"],
                              "name": ident.get("name"), "email": ident.get("email"),
                              "identity_provider": ident["identity_provider"],
                              "identity_provider_display_name": st.provider_name(ident),
                              "organization": ident.get("organization"), "status": "used",
                              "last_authentication": int(t) if t is not None else None})
        return Response.json({"sub": primary["id"], "preferred_username": primary["username"],
                              "name": primary.get("name"), "email": primary.get("email"),
                              "identity_set": idset})

    def identities(self, req):
        self._auth_principal(req)
        st = self.state
        found = []
        for key in _csv(req.arg("ids")) + _csv(req.arg("usernames")):
            ident = st.find_identity(key)
            if ident is not None and ident not in found:
                found.append(ident)
        return Response.json({"identities": [
            {"id": i["id"], "username": i["username"], "name": i.get("name"),
             "email": i.get("email"), "organization": i.get("organization"),
             "identity_provider": i["identity_provider"], "identity_type": "login",
             "status": "used"} for i in found]})
