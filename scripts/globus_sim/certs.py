"""CA and server certificate, made once with the ``openssl`` CLI and reused (README "TLS").

Files (under ``DIR/tls/``): ``ca.pem`` (what clients trust, sim.json ``ca_file``), ``ca.key``,
``server.pem`` (SAN IP:127.0.0.1, DNS:localhost), ``server.key``.
"""

import os
import shutil
import subprocess
import tempfile


def _run(args, cwd):
    r = subprocess.run(["openssl"] + args, cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (args[0], r.stderr.strip()))


def ensure(state_dir):
    """Return (ca_file, cert_file, key_file), creating them on first use."""
    tls = os.path.join(state_dir, "tls")
    names = ("ca.pem", "server.pem", "server.key")
    paths = tuple(os.path.join(tls, n) for n in names)
    if all(os.path.exists(p) for p in paths):
        return paths
    os.makedirs(state_dir, exist_ok=True)
    work = tempfile.mkdtemp(prefix=".tls-", dir=state_dir)
    try:
        with open(os.path.join(work, "server.ext"), "w") as f:
            f.write("basicConstraints=critical,CA:FALSE\n"
                    "keyUsage=critical,digitalSignature,keyEncipherment\n"
                    "extendedKeyUsage=serverAuth\n"
                    "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        _run(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
              "-keyout", "ca.key", "-out", "ca.pem", "-days", "3650",
              "-subj", "/CN=globus-sim local CA",
              "-addext", "basicConstraints=critical,CA:TRUE",
              "-addext", "keyUsage=critical,keyCertSign,cRLSign"], work)
        _run(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
              "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"], work)
        _run(["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
              "-set_serial", "0x%x" % int.from_bytes(os.urandom(8), "big"), "-days", "825",
              "-out", "server.pem", "-extfile", "server.ext"], work)
        for n in ("ca.key", "server.key"):
            os.chmod(os.path.join(work, n), 0o600)
        if os.path.isdir(tls):
            shutil.rmtree(tls)
        os.rename(work, tls)  # atomic: a half-made tls/ never exists
    finally:
        if os.path.isdir(work):
            shutil.rmtree(work, ignore_errors=True)
    return paths
