"""Process contract: sim.json, globus-fuse.conf, certificates, SIGTERM, restart persistence."""

import os
import shutil
import subprocess
import tempfile
import unittest

try:
    from .simharness import SimProcess, SimTestCase, Client, defaults
except ImportError:
    from simharness import SimProcess, SimTestCase, Client, defaults


class StartupTest(SimTestCase):
    def test_sim_json_contract(self):
        info = self.info
        for key in ("transfer_url", "auth_url", "ca_file", "client_id", "control_url", "users",
                    "collections", "config_file"):
            self.assertIn(key, info)
        self.assertEqual(info["client_id"], defaults.CLIENT_ID)
        self.assertRegex(info["transfer_url"], r"^https://127\.0\.0\.1:\d+$")
        self.assertEqual(info["control_url"], info["transfer_url"] + "/control")
        self.assertEqual({u["username"] for u in info["users"]}, {"alice", "bob"})
        for c in info["collections"]:
            self.assertEqual(set(c), {"id", "display_name", "entity_type", "https_server",
                                      "root"})
        names = {c["display_name"]: c for c in info["collections"]}
        self.assertEqual(names["UManitoba Grex HPC"]["entity_type"], "GCSv5_mapped_collection")
        self.assertIsNone(names["alice laptop (Globus Connect Personal)"]["https_server"])
        state = self.sim.state_dir
        self.assertEqual([f for f in os.listdir(state) if ".tmp" in f], [])
        with open(info["config_file"]) as f:
            conf = dict(line.split(" = ", 1) for line in f.read().splitlines()
                        if " = " in line and not line.startswith("#"))
        self.assertEqual(conf["client_id"], defaults.CLIENT_ID)
        self.assertEqual(conf["transfer_url"], info["transfer_url"])
        self.assertEqual(conf["ca_file"], info["ca_file"])
        self.assertEqual(conf["token_file"], os.path.join(state, "client", "tokens.json"))
        self.assertEqual(conf["state_dir"], os.path.join(state, "client", "state"))

    def test_certificate_san(self):
        out = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in",
                              os.path.join(self.sim.state_dir, "tls", "server.pem")],
                             capture_output=True, text=True).stdout
        self.assertIn("IP Address:127.0.0.1", out)
        self.assertIn("DNS:localhost", out)

    def test_browser_helper_errors_clearly(self):
        env = dict(os.environ)
        env.pop("GLOBUS_SIM_STATE", None)
        env.pop("GLOBUS_FUSE_CONFIG", None)
        r = subprocess.run([os.path.join(os.path.dirname(__file__), "..", "..", "scripts",
                                         "globus-sim"), "browser", "https://127.0.0.1:1/x"],
                           capture_output=True, text=True, env=env, timeout=20)
        self.assertEqual(r.returncode, 1)
        self.assertIn("sim.json", r.stderr)


class RestartTest(unittest.TestCase):
    def test_restart_keeps_tokens_tasks_and_certs(self):
        tmp = tempfile.mkdtemp(prefix="globus-sim-restart-")
        try:
            state = os.path.join(tmp, "state")
            sim = SimProcess(state).start()
            with open(os.path.join(state, "tls", "ca.pem")) as f:
                ca = f.read()
            helper = _Helper(sim)
            tok = helper.case.transfer_token()
            r = helper.case.tpost("/transfer", tok, {
                "DATA_TYPE": "transfer", "source_endpoint": defaults.TUTORIAL1,
                "destination_endpoint": defaults.TUTORIAL2,
                "DATA": [{"DATA_TYPE": "transfer_item", "source_path": "/~/missing",
                          "destination_path": "/~/missing"}]})
            tid = r.json()["task_id"]
            helper.close()
            self.assertEqual(sim.stop(), 0)
            self.assertFalse(os.path.exists(os.path.join(state, "sim.json.tmp")))
            sim = SimProcess(state).start()
            with open(os.path.join(state, "tls", "ca.pem")) as f:
                self.assertEqual(f.read(), ca)
            helper = _Helper(sim)
            doc = helper.case.tget("/task/" + tid, tok)
            self.assertEqual(doc.status, 200)
            self.assertEqual(doc.json()["status"], "ACTIVE")
            helper.close()
            self.assertEqual(sim.stop(), 0)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class _Helper:
    """Borrow SimTestCase's helpers for an already-running SimProcess."""

    def __init__(self, sim):
        class Case(SimTestCase):
            def runTest(self):
                pass
        case = Case()
        case.sim, case.info = sim, sim.info
        case.base = sim.info["transfer_url"]
        case.http = Client(sim.info["ca_file"])
        case.colls = {c["display_name"]: c for c in sim.info["collections"]}
        self.case = case

    def close(self):
        self.case.http.close()


if __name__ == "__main__":
    unittest.main()
