"""Globus scope strings, including dependent-scope brackets (reference 3 "Scopes").

``urn:globus:auth:scope:transfer.api.globus.org:all[*https://auth.globus.org/scopes/C/data_access]``
is the transfer scope with an optional (``*``) dependent scope. Brackets nest and contain
space-separated scopes.
"""

import re

from . import defaults

_COLLECTION_SCOPE = re.compile(
    r"^https://auth\.globus\.org/scopes/([0-9a-fA-F-]{36})/(https|data_access)$")
AUTH_SCOPES = {"openid", "profile", "email"}


class ScopeError(ValueError):
    pass


class Scope:
    __slots__ = ("name", "optional", "deps")

    def __init__(self, name, optional=False, deps=None):
        self.name = name
        self.optional = optional
        self.deps = deps or []

    def __str__(self):
        s = ("*" if self.optional else "") + self.name
        if self.deps:
            s += "[" + " ".join(str(d) for d in self.deps) + "]"
        return s

    def __repr__(self):
        return "Scope(%s)" % self

    def all_names(self):
        yield self.name
        for d in self.deps:
            yield from d.all_names()


def parse(text):
    """Parse a space-separated scope string into a list of :class:`Scope`."""
    pos = 0
    text = text or ""

    def parse_list(stop):
        nonlocal pos
        out = []
        while True:
            while pos < len(text) and text[pos].isspace():
                pos += 1
            if pos >= len(text):
                if stop:
                    raise ScopeError("unbalanced '[' in scope string")
                return out
            if text[pos] == "]":
                if not stop:
                    raise ScopeError("unbalanced ']' in scope string")
                pos += 1
                return out
            optional = text[pos] == "*"
            if optional:
                pos += 1
            start = pos
            while pos < len(text) and not text[pos].isspace() and text[pos] not in "[]":
                pos += 1
            name = text[start:pos]
            if not name:
                raise ScopeError("empty scope name")
            deps = []
            if pos < len(text) and text[pos] == "[":
                pos += 1
                deps = parse_list(True)
            out.append(Scope(name, optional, deps))

    return parse_list(False)


def merge(scopes):
    """Merge scopes with the same name (dependents unioned), keeping first-seen order."""
    by_name = {}
    for s in scopes:
        if s.name in by_name:
            have = {str(d) for d in by_name[s.name].deps}
            by_name[s.name].deps += [d for d in s.deps if str(d) not in have]
        else:
            by_name[s.name] = Scope(s.name, s.optional, list(s.deps))
    return list(by_name.values())


def resource_server(scope):
    """The resource server a top-level scope belongs to, or None if unknown."""
    n = scope.name
    if n in AUTH_SCOPES or n.startswith("urn:globus:auth:scope:auth.globus.org:"):
        return defaults.AUTH_RS
    if n == defaults.TRANSFER_SCOPE:
        return defaults.TRANSFER_RS
    m = _COLLECTION_SCOPE.match(n)
    if m:
        return m.group(1).lower()
    return None


def collection_scope(name):
    """(collection id, 'https'|'data_access') for a collection scope name, else None."""
    m = _COLLECTION_SCOPE.match(name)
    return (m.group(1).lower(), m.group(2)) if m else None


def data_access(collection_id):
    return "https://auth.globus.org/scopes/%s/data_access" % collection_id


def https(collection_id):
    return "https://auth.globus.org/scopes/%s/https" % collection_id


def transfer_with_data_access(collection_id):
    return "%s[*%s]" % (defaults.TRANSFER_SCOPE, data_access(collection_id))


def has_data_access(scope_string, collection_id):
    """True if a transfer token's scope string carries the collection's data_access dependent."""
    want = data_access(collection_id)
    try:
        parsed = parse(scope_string)
    except ScopeError:
        return False
    for s in parsed:
        if s.name == defaults.TRANSFER_SCOPE and any(d.name == want for d in s.deps):
            return True
    return False
