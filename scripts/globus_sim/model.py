"""Transfer documents that are not file documents: endpoints, bookmarks, results (reference 1.8,
1.5, 1.6). Field sets follow fx:transfer_endpoint_gcsv5_endpoint.json."""

import time


def iso(t):
    """Task/event timestamp: ``2021-01-15T18:13:10+00:00`` (reference 0)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(t)) if t is not None else None


def parse_iso(s):
    """Parse an ISO-8601 deadline (``...+00:00``, ``Z`` or naive UTC) to epoch seconds."""
    import datetime
    s = s.strip().replace("Z", "+00:00")
    d = datetime.datetime.fromisoformat(s.replace(" ", "T"))
    if d.tzinfo is None:
        d = d.replace(tzinfo=datetime.timezone.utc)
    return d.timestamp()


def endpoint_doc(sim, coll, user):
    """The full ``endpoint`` document of a collection as ``user`` sees it."""
    st = sim.state
    owner = coll.get("owner")
    owner_ident = st.primary_identity(owner) if owner in st.users else None
    etype = coll["entity_type"]
    is_gcs = etype.startswith("GCSv5_")
    host = sim.collection_servers.get(coll["id"])
    host_ep = coll.get("non_functional_endpoint_id")
    host_ep_name = st.collections[host_ep]["display_name"] if host_ep in st.collections else None
    admin = user is not None and owner == user
    return {
        "DATA": [{"DATA_TYPE": "server", "hostname": "127.0.0.1", "id": 1,
                  "incoming_data_port_end": None, "incoming_data_port_start": None,
                  "is_connected": True, "is_paused": False, "outgoing_data_port_end": None,
                  "outgoing_data_port_start": None, "port": 2811, "scheme": "gsiftp",
                  "subject": None, "uri": "gsiftp://127.0.0.1:2811"}] if is_gcs else [],
        "DATA_TYPE": "endpoint",
        "acl_available": etype == "GCSv5_guest_collection",
        "acl_editable": admin and etype == "GCSv5_guest_collection",
        "activated": False,
        "authentication_assurance_timeout": None,
        "authentication_policy_id": coll.get("authentication_policy_id"),
        "authentication_timeout_mins": coll.get("authentication_timeout_mins"),
        "canonical_name": "u_globussim#%s" % coll["id"],
        "contact_email": "support@globus-sim.invalid",
        "contact_info": None,
        "default_directory": coll.get("default_directory"),
        "department": None,
        "description": coll.get("description"),
        "disable_anonymous_writes": False,
        "disable_verify": False,
        "display_name": coll["display_name"],
        "entity_type": etype,
        "expire_time": None,
        "expires_in": -1 if not is_gcs else 0,
        "force_encryption": False,
        "force_verify": False,
        "french_english_bilingual": False,
        "gcp_connected": True if etype.startswith("GCP_") else None,
        "gcp_paused": False if etype.startswith("GCP_") else None,
        "gcs_manager_url": "https://127.0.0.1" if is_gcs else None,
        "gcs_version": coll.get("gcs_version") if is_gcs else None,
        "globus_connect_setup_key": None,
        "high_assurance": bool(coll.get("high_assurance", False)),
        "host_endpoint": None,
        "host_endpoint_display_name": None,
        "host_endpoint_id": None,
        "host_path": None,
        "https_server": host,
        "id": coll["id"],
        "in_use": False,
        "info_link": None,
        "is_globus_connect": etype.startswith("GCP_"),
        "keywords": coll.get("keywords"),
        "last_accessed_time": None,
        "local_user_info_available": etype == "GCSv5_mapped_collection" or None,
        "location": "Automatic",
        "mapped_collection_display_name": None,
        "mapped_collection_id": coll.get("mapped_collection_id"),
        "max_concurrency": 4,
        "max_parallelism": 8,
        "mfa_required": bool(coll.get("mfa_required", False)),
        "my_effective_roles": ["administrator", "activity_manager", "activity_monitor"]
        if admin else [],
        "myproxy_dn": None,
        "myproxy_server": None,
        "name": coll["id"],
        "network_use": "normal",
        "non_functional": bool(coll.get("non_functional", False)),
        "non_functional_endpoint_display_name": host_ep_name,
        "non_functional_endpoint_id": host_ep,
        "oauth_server": None,
        "organization": coll.get("organization", "Globus Sim"),
        "owner_id": owner_ident["id"] if owner_ident else "00000000-0000-4000-8000-0000000051e0",
        "owner_string": owner_ident["username"] if owner_ident else "admin@globus-sim.invalid",
        "preferred_concurrency": 2,
        "preferred_parallelism": 4,
        "public": not etype.startswith("GCP_"),
        "requester_pays": False,
        "s3_owner_activated": False,
        "s3_url": None,
        "shareable": etype != "GCSv5_guest_collection",
        "sharing_target_endpoint": None,
        "sharing_target_root_path": None,
        "storage_type": None,
        "subscription_id": "5b5c0000-0000-4000-8000-000000000001" if is_gcs else None,
        "tlsftp_server": None,
        "user_message": coll.get("user_message"),
        "user_message_link": None,
        "username": "u_globussim",
    }


def submit_result(kind, code, message, submission_id, task_id):
    """``transfer_result`` / ``delete_result`` (fx:transfer_submit_result.json)."""
    from .errors import request_id
    return {"DATA_TYPE": kind + "_result", "code": code, "message": message,
            "request_id": request_id(), "resource": "/" + kind,
            "submission_id": submission_id, "task_id": task_id,
            "task_link": {"DATA_TYPE": "link", "href": "task/%s?format=json" % task_id,
                          "rel": "related", "resource": "task", "title": "related task"}}
