"""HTML pages of the sim's Globus Auth login (plain forms, no JavaScript).

Form contract (what ``globus-sim browser`` and a person fill in):

* login   ``<form id="login-form" method="post" action="/v2/web/login">``:
  ``flow`` (hidden), ``username``, ``password``, and ``mfa_code`` when MFA is required.
* link    ``<form id="link-form" method="post" action="/v2/web/link">``:
  ``flow`` (hidden), ``domain`` (hidden), ``username`` (pre-filled when known), ``password``.
* consent ``<form id="consent-form" method="post" action="/v2/web/consent">``:
  ``flow`` (hidden) and a submit button ``decision`` = ``allow`` | ``deny``.
* the auth-code display page shows the code in ``<code id="auth-code">``.
* errors: ``<p class="error" id="error">message</p>``.
"""

from html import escape

_STYLE = """body{font-family:sans-serif;max-width:40em;margin:3em auto;color:#222}
h1{font-size:1.4em}label{display:block;margin:.6em 0}input[type=text],input[type=password]
{width:100%;padding:.3em}button{padding:.4em 1.2em;margin-right:1em}.msg{background:#eef;
padding:.6em}.error{color:#a00}code{font-size:1.2em;background:#eee;padding:.2em}"""


def page(title, body):
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>%s - Globus (sim)</title>"
            "<style>%s</style></head><body><h1>%s</h1>\n%s\n</body></html>\n"
            % (escape(title), _STYLE, escape(title), body))


def _hidden(name, value):
    return '<input type="hidden" name="%s" value="%s">' % (escape(name), escape(value))


def _message(session_message):
    if not session_message:
        return ""
    return '<p class="msg" id="session-message">%s</p>' % escape(session_message)


def login_page(flow_id, app_name, session_message, mfa_required, error=None, username=""):
    parts = [_message(session_message),
             "<p>Log in to use <b>%s</b>. Use your Globus ID.</p>" % escape(app_name)]
    if error:
        parts.append('<p class="error" id="error">%s</p>' % escape(error))
    parts.append('<form id="login-form" method="post" action="/v2/web/login">')
    parts.append(_hidden("flow", flow_id))
    parts.append('<label>Username <input type="text" name="username" value="%s" '
                 'autocomplete="username"></label>' % escape(username))
    parts.append('<label>Password <input type="password" name="password"></label>')
    if mfa_required:
        parts.append('<label>Multi-factor code (any 6 digits) '
                     '<input type="text" name="mfa_code"></label>')
    parts.append('<button type="submit">Log In</button></form>')
    return page("Log In", "\n".join(parts))


def identity_required_page(flow_id, session_message, choices, error=None):
    """``choices``: list of (domain, provider name, suggested username)."""
    parts = [_message(session_message),
             "<p>An identity from one of the following identity providers is required to "
             "continue.</p>"]
    if error:
        parts.append('<p class="error" id="error">%s</p>' % escape(error))
    for domain, provider, suggested in choices:
        parts.append("<h2>Link an identity from %s (%s)</h2>" % (escape(provider), escape(domain)))
        parts.append('<form id="link-form" method="post" action="/v2/web/link" data-domain="%s">'
                     % escape(domain))
        parts.append(_hidden("flow", flow_id))
        parts.append(_hidden("domain", domain))
        parts.append('<label>Username <input type="text" name="username" value="%s"></label>'
                     % escape(suggested))
        parts.append('<label>Password <input type="password" name="password"></label>')
        parts.append('<button type="submit">Log In with %s</button></form>' % escape(provider))
    return page("Identity Required", "\n".join(parts))


def consent_page(flow_id, app_name, username, scope_lines):
    items = "".join("<li><code>%s</code></li>" % escape(s) for s in scope_lines)
    body = ("<p><b>%s</b> would like to access your Globus account as <b>%s</b>:</p><ul>%s</ul>"
            '<form id="consent-form" method="post" action="/v2/web/consent">%s'
            '<button type="submit" name="decision" value="allow">Allow</button>'
            '<button type="submit" name="decision" value="deny">Deny</button></form>'
            % (escape(app_name), escape(username), items, _hidden("flow", flow_id)))
    return page("Allow access", body)


def auth_code_page(code, state, error=None):
    if error:
        return page("Login failed", '<p class="error" id="error">%s</p>' % escape(error))
    return page("Native App Authorization Code",
                "<p>Copy this code and paste it into the application:</p>"
                '<p><code id="auth-code">%s</code></p><p>state: <span id="state">%s</span></p>'
                % (escape(code), escape(state or "")))


def error_page(title, message):
    return page(title, '<p class="error" id="error">%s</p>' % escape(message))
