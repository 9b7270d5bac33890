"""Mutable service state and its persistence (``DIR/state.json``).

Thread-safety: every field of :class:`State` is guarded by ``State.lock`` (an RLock). Handlers
take it for short critical sections only (never around file I/O on collection data or network
writes). Task objects are guarded by the same lock (:mod:`globus_sim.tasks`).

Persisted (so a client survives a sim restart): tokens (keyed by SHA-256, the token values
themselves are not stored), linked identities, consents, tasks, submission ids, recently used
collections and the clock offset. Not persisted: login flows, browser sessions, auth codes.
"""

import hashlib
import json
import os
import secrets
import threading
import time


def token_key(token):
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def new_secret(nbytes=32):
    return secrets.token_urlsafe(nbytes)


class State:
    def __init__(self, path, world):
        self.path = path
        self.lock = threading.RLock()
        # Serialises save(): a snapshot is never overwritten by an older one. Lock order:
        # _save_lock, then lock; never taken while holding lock.
        self._save_lock = threading.Lock()
        self.world = world
        self.clock_offset = 0.0
        self.tokens = {}          # token_key -> record
        self.codes = {}           # token_key(code) -> record (single use)
        self.flows = {}           # login flow id -> record
        self.browser_sessions = {}  # cookie value -> {user, identities: {id: t}, mfa}
        self.linked = {}          # username -> [identity ids linked at runtime]
        self.consents = {}        # username -> [scope strings granted on the consent page]
        self.tasks = {}           # task id -> tasks.Task
        self.submissions = {}     # "user submission_id" -> task id
        self.recent = {}          # username -> [collection ids], newest first
        self.dirty = False
        self._build_indexes()

    # -- world ------------------------------------------------------------------------------
    def _build_indexes(self):
        self.users = {u["username"]: u for u in self.world["users"]}
        self.identities = {}
        for u in self.world["users"]:
            for ident in u["identities"]:
                ident = dict(ident)
                ident["owner"] = u["username"]
                self.identities[ident["id"]] = ident
        self.providers = {p["id"]: p for p in self.world["providers"]}
        self.collections = {c["id"]: c for c in self.world["collections"]}

    def now(self):
        """The sim's notion of now (wall clock + /control/clock offset)."""
        return time.time() + self.clock_offset

    def identity_domain(self, ident):
        if "domain" in ident:
            return ident["domain"]
        return ident["username"].rpartition("@")[2]

    def provider_name(self, ident):
        p = self.providers.get(ident["identity_provider"])
        return p["name"] if p else ident["identity_provider"]

    def is_linked(self, ident):
        return bool(ident.get("linked")) or ident["id"] in self.linked.get(ident["owner"], [])

    def identity_set(self, username):
        """The user's linked identities, primary first."""
        u = self.users[username]
        return [self.identities[i["id"]] for i in u["identities"]
                if self.is_linked(self.identities[i["id"]])]

    def primary_identity(self, username):
        return self.identities[self.users[username]["identities"][0]["id"]]

    def find_identity(self, key):
        """By id or username."""
        if key in self.identities:
            return self.identities[key]
        for ident in self.identities.values():
            if ident["username"] == key:
                return ident
        return None

    def link_identity(self, username, identity_id):
        with self.lock:
            ids = self.linked.setdefault(username, [])
            if identity_id not in ids:
                ids.append(identity_id)
            self.dirty = True

    def touch_collection(self, username, collection_id):
        with self.lock:
            lst = self.recent.setdefault(username, [])
            if lst[:1] != [collection_id]:
                if collection_id in lst:
                    lst.remove(collection_id)
                lst.insert(0, collection_id)
                del lst[50:]
                self.dirty = True

    # -- persistence --------------------------------------------------------------------------
    def load(self, task_factory):
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return
        except (OSError, ValueError):
            os.replace(self.path, self.path + ".corrupt")
            return
        with self.lock:
            self.clock_offset = float(data.get("clock_offset", 0))
            self.tokens = data.get("tokens", {})
            self.linked = data.get("linked", {})
            self.consents = data.get("consents", {})
            self.submissions = data.get("submissions", {})
            self.recent = data.get("recent", {})
            for t in data.get("tasks", []):
                task = task_factory(t)
                self.tasks[task.task_id] = task

    def save(self):
        with self._save_lock:
            self._save()

    def _save(self):
        with self.lock:
            data = {
                "version": 1,
                "clock_offset": self.clock_offset,
                "tokens": self.tokens,
                "linked": self.linked,
                "consents": self.consents,
                "submissions": self.submissions,
                "recent": self.recent,
                "tasks": [t.to_state() for t in self.tasks.values()],
            }
            text = json.dumps(data)
            self.dirty = False
        tmp = "%s.%d.tmp" % (self.path, threading.get_ident())
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)
