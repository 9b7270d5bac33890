"""Fixed identifiers and the default world (users, identities, collections, tunables).

The UUIDs below are part of the sim's contract (documented in README.md): tests and tools may
hard-code them. ``--config FILE`` can extend or replace the collections and users and change any
tunable (see :mod:`globus_sim.config`).
"""

# The native app registered with the sim (what globus-fuse uses as client_id).
CLIENT_ID = "5117c11e-0000-4000-8000-000000000001"

# Identity providers. Globus ID's id is the real one; Grex's is made up.
IDP_GLOBUS_ID = "41143743-f3c8-4d60-bbdb-eeecaba85bd9"
IDP_GREX = "6e0c0000-0000-4000-8000-000000000001"

# Identities.
ALICE_ID = "a11ce000-0000-4000-8000-000000000001"
ALICE_GREX_ID = "a11ce000-0000-4000-8000-000000000002"
BOB_ID = "b0b00000-0000-4000-8000-000000000001"

# Collections ("c011" = coll).
GREX = "c0110000-0000-4000-8000-000000000001"
CEDAR = "c0110000-0000-4000-8000-000000000002"
TUTORIAL1 = "c0110000-0000-4000-8000-000000000003"
TUTORIAL2 = "c0110000-0000-4000-8000-000000000004"
PERSONAL = "c0110000-0000-4000-8000-000000000005"
GCS_ENDPOINT = "c0110000-0000-4000-8000-000000000006"

GREX_DOMAIN = "rprox.hpc.umanitoba.ca"

TRANSFER_RS = "transfer.api.globus.org"
AUTH_RS = "auth.globus.org"
TRANSFER_SCOPE = "urn:globus:auth:scope:transfer.api.globus.org:all"


def identity_providers():
    return [
        {"id": IDP_GLOBUS_ID, "name": "Globus ID", "domain": "globusid.org"},
        {"id": IDP_GREX, "name": "Grex HPC Login", "domain": GREX_DOMAIN},
    ]


def users():
    """Users and their identities. ``linked`` identities are in the identity set from the start;
    the others can be linked through the login page's "Identity Required" step."""
    return [
        {
            "username": "alice",
            "password": "alice-password",
            "identities": [
                {"id": ALICE_ID, "username": "alice@globusid.org", "name": "Alice Liddell",
                 "email": "alice@example.org", "organization": "Globus Sim",
                 "identity_provider": IDP_GLOBUS_ID, "linked": True},
                {"id": ALICE_GREX_ID, "username": "alice@" + GREX_DOMAIN, "name": "Alice Liddell",
                 "email": "alice@umanitoba.ca", "organization": "University of Manitoba",
                 "identity_provider": IDP_GREX, "linked": False},
            ],
            "bookmarks": [
                {"id": "b00c0000-0000-4000-8000-000000000001", "name": "tutorial-home",
                 "endpoint_id": TUTORIAL1, "path": "/~/", "pinned": False},
            ],
        },
        {
            "username": "bob",
            "password": "bob-password",
            "identities": [
                {"id": BOB_ID, "username": "bob@globusid.org", "name": "Bob Builder",
                 "email": "bob@example.org", "organization": "Globus Sim",
                 "identity_provider": IDP_GLOBUS_ID, "linked": True},
            ],
            "bookmarks": [],
        },
    ]


def collections():
    """The default collections. Keys beyond the Transfer endpoint document:

    ``https`` (serve HTTPS data), ``required_domains`` (session policy, reference 2.4-A),
    ``requires_consent`` (data_access consent, 2.3), ``allowed_users`` (None = everyone),
    ``denied_paths`` ([{user, path}] -> 403 EndpointPermissionDenied), ``ignore_range``,
    ``absolute_paths`` (ls answers ``absolute_path``, e.g. ``/home/alice/`` for ``/~/``;
    default off: null, as on the tutorial endpoint), ``https_tilde`` (the HTTPS server accepts
    ``/~/...`` paths; default on; UNVERIFIED either way, see README).
    """
    mapped = {"authentication_timeout_mins": 15840, "default_directory": "/~/",
              "non_functional_endpoint_id": GCS_ENDPOINT, "gcs_version": "5.4.71"}
    return [
        dict(mapped, id=GREX, display_name="UManitoba Grex HPC",
             entity_type="GCSv5_mapped_collection", https=True, required_domains=[GREX_DOMAIN],
             allowed_users=["alice"], owner="alice"),
        dict(mapped, id=CEDAR, display_name="Alliance Cedar Project",
             entity_type="GCSv5_mapped_collection", https=True, requires_consent=True),
        dict(id=TUTORIAL1, display_name="Globus Tutorial Collection 1",
             entity_type="GCSv5_guest_collection", https=True, default_directory="/~/",
             non_functional_endpoint_id=GCS_ENDPOINT, gcs_version="5.4.71",
             denied_paths=[{"user": "bob", "path": "/private"}]),
        dict(id=TUTORIAL2, display_name="Globus Tutorial Collection 2",
             entity_type="GCSv5_guest_collection", https=True, default_directory="/~/",
             non_functional_endpoint_id=GCS_ENDPOINT, gcs_version="5.4.71",
             allowed_users=["alice"]),
        dict(id=PERSONAL, display_name="alice laptop (Globus Connect Personal)",
             entity_type="GCP_mapped_collection", https=False, default_directory="/~/",
             allowed_users=["alice"], owner="alice"),
        dict(id=GCS_ENDPOINT, display_name="Globus Sim GCSv5 Endpoint",
             entity_type="GCSv5_endpoint", https=False, non_functional=True, gcs_version="5.4.71"),
    ]


def tunables():
    """Runtime knobs (all changeable by --config "tunables" and POST /control/config)."""
    return {
        "token_lifetime_seconds": 172800,        # reference 5: expires_in 172800
        "refresh_token_lifetime_seconds": 0,     # 0 = never expires
        "invalid_grant_status": 400,             # UNVERIFIED: 400 (RFC 6749) vs 401 (SDK fixture)
        "auth_failed_code": "ClientError.AuthenticationFailed",  # 401 code; JS SDK: AuthenticationFailed
        "submit_accepted_status": 202,           # UNVERIFIED (reference 1.6)
        "submit_duplicate_status": 200,          # UNVERIFIED
        "task_start_delay_seconds": 0.0,
        "bandwidth_bytes_per_second": 0,         # 0 = unlimited
        "task_retry_seconds": 5.0,               # how often a faulting task retries
        "task_deadline_hours": 24,               # default deadline (reference 1.7)
        "max_active_tasks_per_type": 3,          # reference 5: 3 transfer + 3 delete per user
        "rate_limit_per_second": 20,             # reference 5: 20 req/s over 10 s windows
        "rate_window_seconds": 10,
        "ls_size_limit": 5000000,                # entries; above -> 502 DirListingFailed.SizeLimit
        "latency_ms": 0,
        "https_ignore_range": False,             # all collections; per collection: ignore_range
        "always_show_consent": True,
        "state_save_interval_seconds": 0.5,
        # Writes and deletes (writes-and-deletes.md; every value UNVERIFIED upstream, see README).
        "https_put_max_bytes": 1 << 30,          # 1.4: Apache >= 2.4.54 LimitRequestBody; 0 = none
        "https_put_status": 200,                 # 1.2: overwrite of an existing file
        "https_put_created_status": 200,         # 1.2: new file (201 possible)
        "https_put_missing_parent_status": 404,  # 1.2: 403/404/409 seen on WebDAV servers
        "https_put_partial": True,               # 0: a cut-off PUT leaves a truncated file
        "https_put_chunked": True,               # accept Transfer-Encoding: chunked (else 411)
        "https_delete_status": 204,              # 1.3: 200 or 204
        "https_delete_directory": "refuse",      # 1.3: refuse | empty | recursive
        "https_delete_directory_status": 409,    # status of a refused directory DELETE
        "rename_onto_existing": "replace",       # 2.2: replace | refuse
        "rename_exists_code": "ExternalError.RenameFailed.Exists",  # 502 code when refused
        "max_active_delete_tasks": None,         # None = max_active_tasks_per_type
        "delete_dir_without_recursive": "fail",  # 2.1: fail (FAILED) | retry (ACTIVE, faults)
    }


# Tunables that take one of a few words: checked by --config and POST /control/config.
ENUM_TUNABLES = {
    "https_delete_directory": ("refuse", "empty", "recursive"),
    "rename_onto_existing": ("replace", "refuse"),
    "delete_dir_without_recursive": ("fail", "retry"),
}


def check_tunable(name, value):
    """None if ``value`` is acceptable for ``name``, else why not."""
    allowed = ENUM_TUNABLES.get(name)
    if allowed is not None and value not in allowed:
        return "tunable %s must be one of %s, not %r" % (name, "|".join(allowed), value)
    return None
