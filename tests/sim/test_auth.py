"""Globus Auth emulation: PKCE login, tokens, identity linking, consent, session timeouts
(globus-api.md 2.3, 2.4, 2.5, 3)."""

import urllib.parse
import unittest

try:
    from .simharness import (SimTestCase, LoopbackReceiver, TRANSFER_SCOPE, defaults, fixture,
                             pkce_pair, shape)
except ImportError:
    from simharness import (SimTestCase, LoopbackReceiver, TRANSFER_SCOPE, defaults, fixture,
                            pkce_pair, shape)

GREX_LS = "/operation/endpoint/%s/ls" % defaults.GREX
CEDAR_LS = "/operation/endpoint/%s/ls" % defaults.CEDAR
DATA_ACCESS = "https://auth.globus.org/scopes/%s/data_access" % defaults.CEDAR


class AuthTest(SimTestCase):
    def token_request(self, **form):
        form.setdefault("client_id", self.info["client_id"])
        return self.http.request("POST", self.info["auth_url"] + "/v2/oauth2/token", form=form)

    def test_loopback_flow_pkce_state_single_use(self):
        rx = LoopbackReceiver()
        try:
            verifier, challenge = pkce_pair()
            url = self.authorize_url(challenge, "openid profile email " + TRANSFER_SCOPE +
                                     " https://auth.globus.org/scopes/%s/https" % defaults.TUTORIAL1,
                                     rx.uri, state="weird state/+=&")
            out = self.run_browser(url)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertEqual(len(rx.received), 1)
            got = rx.received[0]
            self.assertEqual(got["state"], "weird state/+=&")
            code = got["code"]
            bad = self.token_request(grant_type="authorization_code", code=code,
                                     code_verifier="x" * 43, redirect_uri=rx.uri)
            self.assertEqual(bad.status, 400)
            self.assertEqual(bad.json()["error"], "invalid_grant")
            r = self.token_request(grant_type="authorization_code", code=code,
                                   code_verifier=verifier, redirect_uri=rx.uri)
            self.assertEqual(r.status, 200, r)
            body = r.json()
            fx = fixture("auth_token_response.json")
            self.assertEqual(set(body), set(fx))
            self.assertEqual(shape(body["other_tokens"][0]), shape(fx["other_tokens"][0]))
            self.assertEqual(body["resource_server"], "auth.globus.org")
            self.assertEqual(body["scope"], "openid profile email")
            by_rs = {t["resource_server"]: t for t in body["other_tokens"]}
            self.assertEqual(set(by_rs), {"transfer.api.globus.org", defaults.TUTORIAL1})
            self.assertEqual(by_rs[defaults.TUTORIAL1]["scope"],
                             "https://auth.globus.org/scopes/%s/https" % defaults.TUTORIAL1)
            self.assertEqual(body["token_type"], "Bearer")
            self.assertEqual(body["expires_in"], 172800)
            again = self.token_request(grant_type="authorization_code", code=code,
                                       code_verifier=verifier, redirect_uri=rx.uri)
            self.assertEqual(again.status, 400)
            # refresh keeps scopes
            t = by_rs["transfer.api.globus.org"]
            r = self.token_request(grant_type="refresh_token", refresh_token=t["refresh_token"])
            self.assertEqual(r.status, 200)
            self.assertEqual(r.json()["scope"], TRANSFER_SCOPE)
            self.assertEqual(r.json()["resource_server"], "transfer.api.globus.org")
            self.assertEqual(self.tget("/endpoint/%s" % defaults.TUTORIAL1,
                                       r.json()["access_token"]).status, 200)
            # userinfo / identities / revoke
            ui = self.http.request("GET", self.info["auth_url"] + "/v2/oauth2/userinfo",
                                   token=body["access_token"])
            self.assertEqual(ui.status, 200)
            self.assertEqual(set(ui.json()), set(fixture("auth_userinfo.json")))
            self.assertEqual(ui.json()["preferred_username"], "alice@globusid.org")
            self.assertIsInstance(ui.json()["identity_set"][0]["last_authentication"], int)
            ids = self.http.request("GET", self.info["auth_url"] +
                                    "/v2/api/identities?usernames=bob@globusid.org",
                                    token=body["access_token"]).json()
            self.assertEqual(ids["identities"][0]["id"], defaults.BOB_ID)
            r = self.token_request(token=t["refresh_token"])
            r = self.http.request("POST", self.info["auth_url"] + "/v2/oauth2/token/revoke",
                                  form={"token": t["refresh_token"],
                                        "client_id": self.info["client_id"]})
            self.assertEqual(r.status, 200)
            r = self.token_request(grant_type="refresh_token", refresh_token=t["refresh_token"])
            self.assertEqual(r.status, 400)
            ui = self.http.request("GET", self.info["auth_url"] + "/v2/oauth2/userinfo")
            self.assertEqual(ui.status, 401)
            self.assertEqual(set(ui.json()), {"errors", "error_description", "error"})
        finally:
            rx.close()

    def test_deny_and_bad_requests(self):
        rx = LoopbackReceiver()
        try:
            _, challenge = pkce_pair()
            out = self.run_browser(self.authorize_url(challenge, TRANSFER_SCOPE, rx.uri), "--deny")
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertEqual(rx.received[0]["error"], "access_denied")
            self.assertEqual(rx.received[0]["state"], "st-1")
        finally:
            rx.close()
        for url in (self.authorize_url(challenge, TRANSFER_SCOPE, "http://example.com/cb"),
                    self.authorize_url(challenge, TRANSFER_SCOPE, rx.uri, client_id="nope"),
                    self.authorize_url("", TRANSFER_SCOPE, rx.uri),
                    self.authorize_url(challenge, "urn:bogus:scope", rx.uri),
                    self.authorize_url(challenge, "https://auth.globus.org/scopes/%s/data_access"
                                       % defaults.TUTORIAL1, rx.uri)):
            r = self.http.request("GET", url)
            self.assertEqual(r.status, 400, url)
            self.assertIn(b'id="error"', r.body)
        out = self.run_browser(self.authorize_url(challenge, TRANSFER_SCOPE, rx.uri),
                               "--password", "wrong")
        self.assertEqual(out.returncode, 1)
        self.assertIn("Invalid username or password", out.stderr)

    def test_grex_identity_link_flow(self):
        tok = self.transfer_token()
        r = self.tget(GREX_LS, tok, path="/~/")
        self.assertEqual(r.status, 502)
        fx = fixture("error_session_domain_required_ls_502.json")
        self.assertEqual(set(r.json()), set(fx))
        self.assertEqual(r.json()["code"], "ExternalError.DirListingFailed.LoginFailed")
        self.assertEqual(r.json()["authorization_parameters"], {
            "session_message": "Session reauthentication required (Globus Transfer)",
            "session_required_identities": [], "session_required_mfa": False,
            "session_required_single_domain": ["rprox.hpc.umanitoba.ca"]})
        self.assertIn("None of your authenticated identities are from domains allowed by "
                      "resource policies", r.json()["message"])
        r = self.tpost("/operation/endpoint/%s/mkdir" % defaults.GREX, tok,
                       {"DATA_TYPE": "mkdir", "path": "/~/x"})
        self.assertEqual((r.status, r.json()["code"]),
                         (502, "ExternalError.MkdirFailed.LoginFailed"))
        # The page a person sees.
        _, challenge = pkce_pair()
        url = self.authorize_url(challenge, TRANSFER_SCOPE,
                                 self.info["auth_url"] + "/v2/web/auth-code",
                                 session_required_single_domain="rprox.hpc.umanitoba.ca",
                                 session_message="Session reauthentication required",
                                 prompt="login")
        page = self.http.request("GET", url).body.decode()
        self.assertIn("Session reauthentication required", page)
        flow = urllib.parse.unquote(page.split('name="flow" value="')[1].split('"')[0])
        page = self.http.request("POST", self.info["auth_url"] + "/v2/web/login",
                                 form={"flow": flow, "username": "alice",
                                       "password": "alice-password"}).body.decode()
        self.assertIn("Identity Required", page)
        self.assertIn("An identity from one of the following identity providers is required to "
                      "continue.", page)
        self.assertIn("Link an identity from Grex HPC Login (rprox.hpc.umanitoba.ca)", page)
        self.assertIn('value="alice@rprox.hpc.umanitoba.ca"', page)
        # bob cannot link it
        out = self.run_browser(url.replace("st-1", "st-2"), "--user", "bob")
        self.assertEqual(out.returncode, 1)
        # alice links it through the helper; the new tokens carry it in their session
        toks = self.login(session_required_single_domain="rprox.hpc.umanitoba.ca",
                          prompt="login")
        tok2 = toks["transfer.api.globus.org"]["access_token"]
        self.assertEqual(self.tget(GREX_LS, tok2, path="/~/").status, 200)
        ui = self.http.request("GET", self.info["auth_url"] + "/v2/oauth2/userinfo",
                               token=toks["auth.globus.org"]["access_token"]).json()
        grex = [i for i in ui["identity_set"] if i["sub"] == defaults.ALICE_GREX_ID]
        self.assertEqual(len(grex), 1)
        self.assertIsNotNone(grex[0]["last_authentication"])
        # the old token's session still lacks it
        self.assertEqual(self.tget(GREX_LS, tok, path="/~/").status, 502)
        # refresh keeps the session
        r = self.token_request(grant_type="refresh_token",
                               refresh_token=toks["transfer.api.globus.org"]["refresh_token"])
        self.assertEqual(self.tget(GREX_LS, r.json()["access_token"], path="/~/").status, 200)
        # authentication_timeout_mins passes -> the same 502 again
        self.control("POST", "/clock", {"advance_seconds": 15841 * 60})
        try:
            r = self.tget(GREX_LS, tok2, path="/~/")
            self.assertEqual(r.status, 401)  # 48 h token lifetime also passed
            r = self.token_request(grant_type="refresh_token",
                                   refresh_token=toks["transfer.api.globus.org"]["refresh_token"])
            r = self.tget(GREX_LS, r.json()["access_token"], path="/~/")
            self.assertEqual((r.status, r.json()["code"]),
                             (502, "ExternalError.DirListingFailed.LoginFailed"))
        finally:
            self.control("POST", "/clock", {"offset_seconds": 0})
        # shorter timeout knob via control
        self.control("POST", "/config", {"collections": {defaults.GREX: {
            "authentication_timeout_mins": 1}}})
        try:
            self.control("POST", "/clock", {"advance_seconds": 120})
            r = self.tget(GREX_LS, tok2, path="/~/")
            self.assertEqual(r.status, 502)
        finally:
            self.control("POST", "/clock", {"offset_seconds": 0})
            self.control("POST", "/config", {"collections": {defaults.GREX: {
                "authentication_timeout_mins": 15840}}})
        self.assertEqual(self.tget(GREX_LS, tok2, path="/~/").status, 200)

    def test_consent_required(self):
        tok = self.transfer_token()
        r = self.tget(CEDAR_LS, tok, path="/~/")
        self.assertEqual(r.status, 403)
        fx = fixture("error_consent_required_ls_403.json")
        self.assertEqual(set(r.json()), set(fx))
        scope = "%s[*%s]" % (TRANSFER_SCOPE, DATA_ACCESS)
        self.assertEqual(r.json()["required_scopes"], [scope])
        self.assertEqual(r.json()["authorization_parameters"],
                         {"required_scopes": [scope],
                          "session_message": "Missing required data_access consent"})
        r = self.tpost("/transfer", tok, {
            "DATA_TYPE": "transfer", "source_endpoint": defaults.CEDAR,
            "destination_endpoint": defaults.TUTORIAL1,
            "DATA": [{"DATA_TYPE": "transfer_item", "source_path": "/a", "destination_path": "/a"}]})
        self.assertEqual((r.status, r.json()["code"], r.json()["resource"]),
                         (403, "ConsentRequired", "/transfer"))
        toks = self.login(scope="openid " + scope)
        t2 = toks["transfer.api.globus.org"]
        self.assertEqual(t2["scope"], scope)
        self.assertEqual(self.tget(CEDAR_LS, t2["access_token"], path="/~/").status, 200)

    def test_token_expiry_and_invalid_grant_status(self):
        toks = self.login()
        tok = toks["transfer.api.globus.org"]["access_token"]
        self.assertEqual(self.tget("/endpoint/%s" % defaults.TUTORIAL1, tok).status, 200)
        self.control("POST", "/tokens/expire", {"user": "alice"})
        r = self.tget("/endpoint/%s" % defaults.TUTORIAL1, tok)
        self.assertEqual(r.status, 401)
        r = self.token_request(grant_type="refresh_token",
                               refresh_token=toks["transfer.api.globus.org"]["refresh_token"])
        self.assertEqual(self.tget("/endpoint/%s" % defaults.TUTORIAL1,
                                   r.json()["access_token"]).status, 200)
        self.control("POST", "/config", {"tunables": {"invalid_grant_status": 401,
                                                      "token_lifetime_seconds": 5}})
        try:
            r = self.token_request(grant_type="refresh_token", refresh_token="bogus")
            self.assertEqual((r.status, r.json()["error"]), (401, "invalid_grant"))
            r = self.token_request(grant_type="refresh_token",
                                   refresh_token=toks["transfer.api.globus.org"]["refresh_token"])
            self.assertEqual(r.json()["expires_in"], 5)
            self.control("POST", "/clock", {"advance_seconds": 6})
            self.assertEqual(self.tget("/endpoint/%s" % defaults.TUTORIAL1,
                                       r.json()["access_token"]).status, 401)
        finally:
            self.control("POST", "/clock", {"offset_seconds": 0})
            self.control("POST", "/config", {"tunables": {"invalid_grant_status": 400,
                                                          "token_lifetime_seconds": 172800}})

    def test_wrong_audience(self):
        toks = self.login()
        r = self.tget("/endpoint/%s" % defaults.TUTORIAL1, toks["auth.globus.org"]["access_token"])
        self.assertEqual(r.status, 401)


if __name__ == "__main__":
    unittest.main()
