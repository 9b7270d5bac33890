"""``globus-sim browser``: a scripted person at the sim's login page (tests set
``BROWSER="scripts/globus-sim browser"``; the authorize URL is the last argument).

It trusts the sim CA (from sim.json, found via ``--state DIR``, ``$GLOBUS_SIM_STATE`` or
``$GLOBUS_FUSE_CONFIG``'s directory), logs in over HTTPS with cookies, completes the "Identity
Required" link step (``--link-domain D``, or automatically when the page asks for a domain the
user has an identity in), answers the consent page (Allow, or Deny with ``--deny``) and follows
the final redirect: a loopback ``redirect_uri`` is fetched (so the waiting client receives the
code); for the sim's auth-code display page the code is printed on stdout.
Exit status: 0 done, 1 the flow failed (message on stderr), 2 usage/setup error.
"""

import argparse
import html.parser
import http.client
import json
import os
import ssl
import sys
import urllib.parse

MAX_STEPS = 20


class _Forms(html.parser.HTMLParser):
    """Collects forms (id, action, method, fields, submit buttons) and id'd text."""

    def __init__(self):
        super().__init__()
        self.forms = []
        self.texts = {}
        self._form = None
        self._capture = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._form = {"id": a.get("id"), "action": a.get("action", ""),
                          "method": (a.get("method") or "get").upper(), "fields": {},
                          "buttons": [], "domain": a.get("data-domain")}
            self.forms.append(self._form)
        elif tag == "input" and self._form is not None and a.get("name"):
            self._form["fields"][a["name"]] = a.get("value", "")
        elif tag == "button" and self._form is not None and a.get("name"):
            self._form["buttons"].append((a["name"], a.get("value", "")))
        if a.get("id") in ("error", "auth-code"):
            self._capture = a["id"]
            self.texts[self._capture] = ""

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        if tag in ("p", "code"):
            self._capture = None

    def handle_data(self, data):
        if self._capture:
            self.texts[self._capture] += data


class Failure(Exception):
    pass


def _find_sim_json(state):
    cands = []
    if state:
        cands.append(os.path.join(state, "sim.json"))
    if os.environ.get("GLOBUS_SIM_STATE"):
        cands.append(os.path.join(os.environ["GLOBUS_SIM_STATE"], "sim.json"))
    if os.environ.get("GLOBUS_FUSE_CONFIG"):
        cands.append(os.path.join(os.path.dirname(os.path.abspath(
            os.environ["GLOBUS_FUSE_CONFIG"])), "sim.json"))
    for c in cands:
        if os.path.exists(c):
            with open(c, encoding="utf-8") as f:
                return json.load(f)
    raise Failure("cannot find sim.json: pass --state DIR or set GLOBUS_SIM_STATE or "
                  "GLOBUS_FUSE_CONFIG (tried %s)" % (cands or "nothing"))


class Browser:
    def __init__(self, sim, user, password, link_domain, deny, out=sys.stdout):
        self.sim = sim
        self.user = user
        self.password = password
        self.link_domain = link_domain
        self.deny = deny
        self.out = out
        self.cookies = {}
        self.ctx = ssl.create_default_context(cafile=sim["ca_file"])
        self.linked_tried = set()

    def fetch(self, method, url, form=None):
        u = urllib.parse.urlsplit(url)
        if u.hostname not in ("127.0.0.1", "localhost"):
            raise Failure("refusing to leave loopback: %s" % url)
        if u.scheme == "https":
            conn = http.client.HTTPSConnection(u.hostname, u.port or 443, context=self.ctx,
                                               timeout=30)
        else:
            conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=30)
        headers = {"User-Agent": "globus-sim-browser"}
        if self.cookies and u.scheme == "https":
            headers["Cookie"] = "; ".join("%s=%s" % kv for kv in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        target = u.path or "/"
        if u.query:
            target += "?" + u.query
        try:
            conn.request(method, target, body, headers)
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException) as e:
            raise Failure("%s %s: %s" % (method, url, e))
        finally:
            conn.close()
        for k, v in resp.getheaders():
            if k.lower() == "set-cookie":
                name, _, rest = v.partition("=")
                self.cookies[name.strip()] = rest.split(";")[0]
        return resp.status, resp.getheader("Location"), data.decode("utf-8", "replace")

    def run(self, url):
        auth = self.sim["auth_url"]
        method, form = "GET", None
        for _ in range(MAX_STEPS):
            status, location, text = self.fetch(method, url, form)
            method, form = "GET", None
            if status in (301, 302, 303, 307):
                target = urllib.parse.urljoin(url, location)
                if target.startswith(auth + "/"):
                    url = target
                    continue
                return self._deliver(target)
            page = _Forms()
            page.feed(text)
            if "auth-code" in page.texts:
                self.out.write(page.texts["auth-code"].strip() + "\n")
                self.out.flush()
                return 0
            if "error" in page.texts:
                raise Failure("login page error (HTTP %d): %s" % (status,
                                                                  page.texts["error"].strip()))
            if status != 200:
                raise Failure("unexpected HTTP %d from %s" % (status, url))
            forms = {f["id"]: f for f in page.forms}
            link_forms = [f for f in page.forms if f["id"] == "link-form"]
            if "login-form" in forms:
                f = forms["login-form"]
                form = dict(f["fields"], username=self.user, password=self.password)
                if "mfa_code" in f["fields"]:
                    form["mfa_code"] = "123456"
            elif link_forms:
                f = self._choose_link(link_forms)
                form = dict(f["fields"], password=self.password)
            elif "consent-form" in forms:
                f = forms["consent-form"]
                form = dict(f["fields"], decision="deny" if self.deny else "allow")
            else:
                raise Failure("no form to fill on %s" % url)
            method, url = f["method"], urllib.parse.urljoin(url, f["action"])
        raise Failure("too many steps")

    def _choose_link(self, forms):
        for f in forms:
            if self.link_domain and f["domain"] != self.link_domain:
                continue
            if not f["fields"].get("username"):
                if not self.link_domain:
                    continue
                f["fields"]["username"] = "%s@%s" % (self.user, f["domain"])
            key = (f["domain"], f["fields"]["username"])
            if key in self.linked_tried:
                raise Failure("linking %s did not satisfy the page" % f["fields"]["username"])
            self.linked_tried.add(key)
            return f
        domains = ", ".join(f["domain"] or "?" for f in forms)
        raise Failure("the login page requires an identity from %s, which user %r cannot link "
                      "(use --link-domain)" % (domains, self.user))

    def _deliver(self, target):
        """The final redirect to the client's redirect_uri: fetch it like a browser would."""
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(target).query)
        status, location, text = self.fetch("GET", target)
        if "error" in q and not self.deny:
            raise Failure("authorization failed: %s" % q["error"][0])
        page = _Forms()
        page.feed(text)
        if "auth-code" in page.texts:  # the sim's own display page (redirect_uri given as such)
            self.out.write(page.texts["auth-code"].strip() + "\n")
            self.out.flush()
        return 0


def main(argv):
    p = argparse.ArgumentParser(prog="globus-sim browser",
                                description="Complete a globus-sim login as a person would.")
    p.add_argument("--user", default="alice")
    p.add_argument("--password", help="default: the user's password from sim.json")
    p.add_argument("--link-domain", help="link/log in an identity from this domain when asked")
    p.add_argument("--deny", action="store_true", help="click Deny on the consent page")
    p.add_argument("--state", help="sim state DIR (else $GLOBUS_SIM_STATE or $GLOBUS_FUSE_CONFIG)")
    p.add_argument("url")
    args = p.parse_args(argv)
    try:
        sim = _find_sim_json(args.state)
        password = args.password
        if password is None:
            for u in sim["users"]:
                if u["username"] == args.user:
                    password = u["password"]
            if password is None:
                raise Failure("unknown user %r and no --password" % args.user)
        return Browser(sim, args.user, password, args.link_domain, args.deny).run(args.url)
    except Failure as e:
        sys.stderr.write("globus-sim browser: %s\n" % e)
        return 1
