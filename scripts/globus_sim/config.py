"""The sim's world definition: defaults (:mod:`globus_sim.defaults`) merged with ``--config FILE``.

Config file (JSON, every key optional)::

    {
      "tunables": {"token_lifetime_seconds": 60, ...},      # merged into the defaults
      "collections": [{"id": "...", ...}],                  # merged by id; new ids are added
      "replace_collections": false,                         # true: only the listed collections
      "users": [{"username": "carol", ...}],                # merged by username; new are added
      "replace_users": false,
      "policies": {"<policy id>": {"required_domains": ["example.org"]}}
    }

A collection entry with ``"remove": true`` deletes a default collection.
"""

import copy
import json

from . import defaults


class ConfigError(Exception):
    pass


def _merge_by_key(base, extra, key, replace):
    out = [] if replace else [copy.deepcopy(x) for x in base]
    index = {item[key]: item for item in out}
    for item in extra:
        if key not in item:
            raise ConfigError("config entry without %r: %r" % (key, item))
        if item.get("remove"):
            out = [x for x in out if x[key] != item[key]]
            index.pop(item[key], None)
        elif item[key] in index:
            index[item[key]].update(copy.deepcopy(item))
        else:
            new = copy.deepcopy(item)
            out.append(new)
            index[item[key]] = new
    return out


def load(path=None):
    """Return the world dict: {tunables, collections, users, policies, providers}."""
    world = {
        "tunables": defaults.tunables(),
        "collections": defaults.collections(),
        "users": defaults.users(),
        "policies": {},
        "providers": defaults.identity_providers(),
    }
    if not path:
        return world
    try:
        with open(path, encoding="utf-8") as f:
            user = json.load(f)
    except (OSError, ValueError) as e:
        raise ConfigError("cannot read config %s: %s" % (path, e))
    if not isinstance(user, dict):
        raise ConfigError("config %s: top level must be an object" % path)
    unknown = set(user) - {"tunables", "collections", "replace_collections", "users",
                           "replace_users", "policies", "providers"}
    if unknown:
        raise ConfigError("config %s: unknown keys %s" % (path, sorted(unknown)))
    for k, v in user.get("tunables", {}).items():
        if k not in world["tunables"]:
            raise ConfigError("config %s: unknown tunable %r" % (path, k))
        why = defaults.check_tunable(k, v)
        if why:
            raise ConfigError("config %s: %s" % (path, why))
        world["tunables"][k] = v
    world["collections"] = _merge_by_key(world["collections"], user.get("collections", []), "id",
                                         user.get("replace_collections", False))
    world["users"] = _merge_by_key(world["users"], user.get("users", []), "username",
                                   user.get("replace_users", False))
    world["policies"].update(user.get("policies", {}))
    world["providers"] = _merge_by_key(world["providers"], user.get("providers", []), "id", False)
    for c in world["collections"]:
        c.setdefault("entity_type", "GCSv5_guest_collection")
        c.setdefault("display_name", c["id"])
        c.setdefault("https", c["entity_type"].startswith("GCSv5_") and
                     c["entity_type"] != "GCSv5_endpoint")
        c.setdefault("non_functional", c["entity_type"] == "GCSv5_endpoint")
    return world
