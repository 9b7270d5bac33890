"""What a user gets around the mount itself: man pages and shell completion rendered from the
command tables, mount(8) and fstab, systemd readiness, allow_other, and the README's path as an
unprivileged user."""

import gzip
import json
import os
import pwd
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import unittest

from tests.integration.harness import (BINARY, ROOT, SIM, Mount, MountTestCase, SimTestCase,
                                       fuse_device_for_users, run_cli, wait_for)

TUTORIAL = "Globus Tutorial Collection 1"
GREX = "UManitoba Grex HPC"
BUILD = os.path.dirname(os.path.dirname(BINARY))  # build/cli/globus-fuse -> build
BASH_COMPLETION = os.path.join(ROOT, "packaging", "completion", "globus-fuse.bash")
ZSH_COMPLETION_DIR = os.path.join(ROOT, "packaging", "completion")
UNIT = os.path.join(ROOT, "packaging", "systemd", "globus-fuse@.service")


def as_root(test):
    if os.geteuid() != 0:
        test.skipTest("needs root (mount(8), runuser)")


class ManPageTests(unittest.TestCase):
    def test_the_built_man_pages_are_what_the_binary_renders(self):
        for section, name in ((1, "globus-fuse.1"), (5, "globus-fuse.conf.5")):
            path = os.path.join(BUILD, "packaging", name)
            with open(path) as f:
                built = f.read()
            rendered = subprocess.run([BINARY, "__man", str(section)], capture_output=True,
                                      text=True, check=True).stdout
            self.assertEqual(built, rendered, f"{path} is stale: rebuild")

    def test_man_renders_them_without_warnings(self):
        if not shutil.which("groff"):
            self.skipTest("groff is not installed")
        for name, expect in (("globus-fuse.1", ["globus-fuse mount", "noauto,user,_netdev",
                                                "Type=notify", "default_permissions"]),
                             ("globus-fuse.conf.5", ["entry_ttl = seconds", "Default: 60."])):
            path = os.path.join(BUILD, "packaging", name)
            p = subprocess.run(["groff", "-man", "-rHY=0", "-ww", "-Tutf8", "-P-cbou", path],
                               capture_output=True, text=True)
            self.assertEqual(p.stderr, "", name)
            text = " ".join(p.stdout.replace("\u2010", "-").replace("\u2212", "-").split())
            for e in expect:
                self.assertIn(e, text, name)

    def test_help_points_at_the_man_page(self):
        self.assertIn("man globus-fuse", run_cli(os.environ, "help").stdout)


class InstallLayoutTests(unittest.TestCase):
    """`cmake --install` lays out what each prefix's tools search: man pages gzip'd (Debian
    policy), and the zsh completion where zsh looks under that prefix."""

    def install(self, prefix, destdir=None):
        if not shutil.which("cmake"):
            self.skipTest("cmake is not installed")
        env = dict(os.environ)
        if destdir:
            env["DESTDIR"] = destdir
        subprocess.run(["cmake", "--install", BUILD, "--prefix", prefix], env=env, check=True,
                       capture_output=True, timeout=120)

    def files(self, top):
        out = []
        for d, _, names in os.walk(top):
            out += [os.path.relpath(os.path.join(d, n), top) for n in names]
        return sorted(out)

    def test_local_prefix(self):
        with tempfile.TemporaryDirectory() as prefix:
            self.install(prefix)
            self.assertEqual(self.files(prefix), [
                "bin/globus-fuse", "lib/systemd/user/globus-fuse@.service",
                "share/bash-completion/completions/globus-fuse",
                "share/man/man1/globus-fuse.1.gz", "share/man/man5/globus-fuse.conf.5.gz",
                "share/zsh/site-functions/_globus-fuse"])
            for section, name in ((1, "globus-fuse.1"), (5, "globus-fuse.conf.5")):
                with gzip.open(os.path.join(prefix, "share", "man", f"man{section}",
                                            name + ".gz"), "rt") as f:
                    rendered = subprocess.run([BINARY, "__man", str(section)],
                                              capture_output=True, text=True,
                                              check=True).stdout
                    self.assertEqual(f.read(), rendered)
            if shutil.which("man"):
                p = subprocess.run(["man", "-M", os.path.join(prefix, "share", "man"), "-w",
                                    "globus-fuse"], capture_output=True, text=True)
                self.assertEqual(p.stdout.strip(),
                                 os.path.join(prefix, "share/man/man1/globus-fuse.1.gz"))
        # The directory chosen for /usr/local is on zsh's own search path (vendor-completions
        # is searched only under /usr).
        if shutil.which("zsh"):
            fpath = subprocess.run(["zsh", "-fc", "print -l $fpath"], capture_output=True,
                                   text=True, check=True).stdout.split()
            self.assertIn("/usr/local/share/zsh/site-functions", fpath)

    def test_usr_prefix_is_debians_layout(self):
        with tempfile.TemporaryDirectory() as dest:
            self.install("/usr", destdir=dest)
            files = self.files(dest)
            self.assertIn("usr/share/zsh/vendor-completions/_globus-fuse", files)
            self.assertIn("usr/share/man/man1/globus-fuse.1.gz", files)
            self.assertNotIn("usr/share/zsh/site-functions/_globus-fuse", files)


class CompletionTests(MountTestCase):
    """The completion scripts as bash and zsh run them, with collection names from this mount."""

    def env_with_binary(self):
        env = dict(self.env)
        env["PATH"] = os.path.dirname(BINARY) + os.pathsep + env.get("PATH", "")
        return env

    def bash(self, *words):
        """COMPREPLY for the command line `words` (the last one being completed)."""
        script = (f"source {shlex.quote(BASH_COMPLETION)}\n"
                  f"COMP_WORDS=({' '.join(shlex.quote(w) for w in words)})\n"
                  f"COMP_CWORD={len(words) - 1}\n"
                  "_globus_fuse\n"
                  'printf "%s\\n" "${COMPREPLY[@]}"\n')
        p = subprocess.run(["bash", "--norc", "-c", script], env=self.env_with_binary(),
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        return [line for line in p.stdout.split("\n") if line]

    def test_bash_registers_the_function(self):
        p = subprocess.run(["bash", "--norc", "-c",
                            f"source {shlex.quote(BASH_COMPLETION)}; complete -p globus-fuse"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.stdout.strip(), "complete -F _globus_fuse globus-fuse")

    def test_bash_subcommands_options_and_config_keys(self):
        self.assertEqual(self.bash("globus-fuse", "mo"), ["mount"])
        self.assertEqual(self.bash("globus-fuse", "login", "--dom"), ["--domain"])
        self.assertEqual(self.bash("globus-fuse", "mount", "/x", "-o", "entry_t"), ["entry_ttl="])

    def test_bash_collection_names_from_the_running_mount(self):
        self.assertEqual(self.bash("globus-fuse", "ls", "UMan"), ["UManitoba\\ Grex\\ HPC"])
        self.assertIn("'Globus Tutorial Collection 1'", self.bash("globus-fuse", "ls", "'Glob"))
        self.assertEqual(self.bash("globus-fuse", "unmount", self.mnt[:-2]), [self.mnt])

    def test_bash_paths_are_the_shells(self):
        d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, d, True)
        os.mkdir(os.path.join(d, "mnt"))
        with open(os.path.join(d, "file"), "w"):
            pass
        self.assertEqual(self.bash("globus-fuse", "mount", d + "/"), [d + "/mnt"])

    def test_zsh(self):
        if not shutil.which("zsh"):
            self.skipTest("zsh is not installed (scripts/setup installs it)")
        # compadd, _files and _directories exist only inside a completion widget: stand-ins
        # print what the completion function asked for.
        script = ("compadd() { print -r -- \"compadd ${(j:|:)@}\" }\n"
                  "_files() { print -r -- _files }\n"
                  "_directories() { print -r -- _directories }\n"
                  f"fpath=({shlex.quote(ZSH_COMPLETION_DIR)} $fpath)\n"
                  "autoload -Uz _globus-fuse\n"
                  "complete() { words=(\"$@\"); CURRENT=$#; _globus-fuse }\n"
                  "complete globus-fuse ls UMan\n"
                  "complete globus-fuse mount /x -o entry_t\n"
                  "complete globus-fuse mount ''\n"
                  "complete globus-fuse sta\n")
        p = subprocess.run(["zsh", "-f", "-c", script], env=self.env_with_binary(),
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.stderr, "")
        self.assertEqual(p.stdout.splitlines(), [
            f"compadd --|{GREX}",
            "compadd -S||--|entry_ttl=",
            "_directories",
            "compadd --|status|stat",
        ])


class MountCommandTests(SimTestCase):
    """mount(8) runs mount.fuse3, which runs `globus-fuse SOURCE MOUNTPOINT -o OPTIONS`."""

    def setUp(self):
        as_root(self)
        if not shutil.which("mount.fuse3"):
            self.skipTest("mount.fuse3 (package fuse3) is not installed")
        with open(os.path.join(self.sim.root(TUTORIAL), "hello.txt"), "w") as f:
            f.write("hi")
        self.mnt = tempfile.mkdtemp(dir=self.sim.state)
        self.addCleanup(lambda: os.path.ismount(self.mnt) and subprocess.run(
            ["umount", "-l", self.mnt], capture_output=True, timeout=30))

    def check_mounted_and_umount(self):
        self.assertTrue(os.path.ismount(self.mnt))
        with open("/proc/self/mounts") as f:
            line = next(ln for ln in f if ln.split()[1] == self.mnt)
        self.assertEqual(line.split()[2], "fuse.globus-fuse")
        self.assertIn(TUTORIAL, os.listdir(self.mnt))
        # umask=0077, given as an -o option, is the config key.
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(self.mnt, TUTORIAL)).st_mode), 0o700)
        with open(os.path.join(self.mnt, TUTORIAL, "hello.txt")) as f:
            self.assertEqual(f.read(), "hi")
        p = subprocess.run(["umount", self.mnt], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertFalse(os.path.ismount(self.mnt))

    def test_mount_t_fuse(self):
        # `-t fuse PROGRAM#SOURCE` names the program by path (the documented
        # `-t fuse.globus-fuse globus-fuse` finds it in /usr/bin: the package tier tests that).
        p = subprocess.run(["mount", "-t", "fuse", f"{BINARY}#globus-fuse", self.mnt, "-o",
                            "umask=0077,entry_ttl=5,_netdev,nofail"],
                           env=self.env, capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.check_mounted_and_umount()

    def test_fstab_line(self):
        fstab = os.path.join(self.sim.state, "fstab")
        with open(fstab, "w") as f:
            f.write(f"{BINARY}#globus-fuse {self.mnt} fuse "
                    "noauto,user,_netdev,umask=0077,entry_ttl=30 0 0\n")
        p = subprocess.run(["mount", "--fstab", fstab, self.mnt], env=self.env,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.check_mounted_and_umount()

    def test_a_source_other_than_globus_fuse_is_not_a_command(self):
        p = run_cli(self.env, "globus", self.mnt, "-o", "rw", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("unknown command 'globus'", p.stderr)


class SystemdTests(SimTestCase):
    """The user unit's contract: Type=notify readiness over $NOTIFY_SOCKET, SIGTERM at stop."""

    def test_unit_verifies(self):
        analyze = shutil.which("systemd-analyze")
        if not analyze:
            self.skipTest("systemd-analyze is not installed")
        if not any(os.access(os.path.join(d, "globus-fuse"), os.X_OK)
                   for d in ("/usr/local/bin", "/usr/bin")):
            self.skipTest("globus-fuse is not installed: the package tier verifies the unit")
        d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, d, True)
        instance = os.path.join(d, "globus-fuse@home-alice-globus.service")
        shutil.copy(UNIT, os.path.join(d, "globus-fuse@.service"))
        os.symlink("globus-fuse@.service", instance)
        p = subprocess.run([analyze, "verify", "--man=no", instance], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual((p.returncode, p.stderr), (0, ""))

    def test_ready_once_the_mount_answers_stopping_at_sigterm(self):
        sock, d = self.notify_socket()
        mnt = os.path.join(d, "mnt")
        proc = self.start_unit(mnt, sock)
        self.assertEqual(self.ready, f"READY=1\nSTATUS=mounted on {mnt}")
        # Ready means answering: the status file is served at once.
        with open(os.path.join(mnt, ".globus-fuse", "status")) as f:
            self.assertEqual(json.load(f)["mount_point"], mnt)
        self.stop_unit(proc, sock, mnt)

    def test_without_notify_socket_nothing_is_sent(self):
        with Mount(self.env) as m:
            self.assertNotIn("notify", m.output())

    def unit_exec(self, key, mnt):
        """The unit's Exec line `key`, as the argv systemd would run for mount point `mnt`."""
        with open(UNIT) as f:
            lines = [ln.split("=", 1)[1] for ln in f if ln.startswith(key + "=")]
        self.assertEqual(len(lines), 1, key)
        argv = shlex.split(lines[0].lstrip("-").replace("%f", mnt))
        argv[0] = BINARY if argv[0] == "globus-fuse" else shutil.which(argv[0])
        return argv

    def notify_socket(self):
        """A $NOTIFY_SOCKET to receive sd_notify messages on, in a fresh directory."""
        d = tempfile.mkdtemp(dir=self.sim.state)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        sock.bind(os.path.join(d, "notify"))
        sock.settimeout(60)
        return sock, d

    def start_unit(self, mnt, sock, *extra):
        """ExecStartPre and ExecStart, as `systemctl --user start` runs them; returns once the
        service is ready (READY=1; the message is kept in self.ready)."""
        subprocess.run(self.unit_exec("ExecStartPre", mnt), check=True, timeout=30)
        env = dict(self.env, NOTIFY_SOCKET=sock.getsockname())
        proc = subprocess.Popen(self.unit_exec("ExecStart", mnt) + list(extra), env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        self.addCleanup(proc.stderr.close)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        self.addCleanup(lambda: os.path.ismount(mnt) and subprocess.run(
            ["fusermount3", "-u", "-z", mnt], capture_output=True, timeout=30))
        self.ready = sock.recv(4096).decode()
        self.assertTrue(self.ready.startswith("READY=1"), self.ready)
        return proc

    def stop_unit(self, proc, sock, mnt):
        """`systemctl --user stop`: SIGTERM, at most TimeoutStopSec (30 s), then ExecStopPost."""
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(sock.recv(4096).decode(), "STOPPING=1")
        self.assertEqual(proc.wait(timeout=30), 0, proc.stderr.read())
        subprocess.run(self.unit_exec("ExecStopPost", mnt), capture_output=True, timeout=30)
        self.assertFalse(os.path.ismount(mnt))

    def test_stop_with_pending_work_leaves_it_to_the_next_start(self):
        """Stopping the unit while a transfer task runs and a delete is still queued: the stop
        is prompt and clean, and the next start tracks the task and submits the delete, each
        exactly once (README: stopping the daemon cancels nothing; the next mount on the same
        mount point tracks the journal)."""
        src = os.path.join(self.sim.root(TUTORIAL), "unitstop")
        dst = os.path.join(self.sim.root(GREX), "unitstop")
        os.makedirs(src)
        os.makedirs(dst)
        payload = os.urandom(200 << 10)
        with open(os.path.join(src, "copied.bin"), "wb") as f:
            f.write(payload)
        with open(os.path.join(src, "removed.txt"), "w") as f:
            f.write("remove me")
        sock, d = self.notify_socket()
        mnt = os.path.join(d, "mnt")  # ExecStartPre makes it
        stats = self.sim.stats()["tasks_submitted"]
        copies0, deletes0 = int(stats.get("TRANSFER", 0)), int(stats.get("DELETE", 0))
        self.sim.control("POST", "config", {"tunables": {"task_start_delay_seconds": 4}})
        self.addCleanup(self.sim.control, "POST", "config",
                        {"tunables": {"task_start_delay_seconds": 0}})
        proc = self.start_unit(mnt, sock, "-o", "delete_mode=task")
        # A copy whose task is submitted and still running at the stop.
        subprocess.run(["cp", os.path.join(mnt, TUTORIAL, "unitstop", "copied.bin"),
                        os.path.join(mnt, GREX, "unitstop", "")], check=True, timeout=60)
        wait_for(lambda: int(self.sim.stats()["tasks_submitted"].get("TRANSFER", 0)) > copies0,
                 30, "the copy's task to be submitted")
        # A delete that is journaled but cannot be submitted before the stop.
        self.sim.fault("submission_id", "status", status=503, count=-1)
        self.addCleanup(self.sim.clear_faults)
        os.unlink(os.path.join(mnt, TUTORIAL, "unitstop", "removed.txt"))
        self.stop_unit(proc, sock, mnt)
        self.assertFalse(os.path.exists(os.path.join(dst, "copied.bin")))  # still running
        self.assertTrue(os.path.exists(os.path.join(src, "removed.txt")))  # not submitted
        self.sim.clear_faults()

        proc = self.start_unit(mnt, sock, "-o", "delete_mode=task")
        wait_for(lambda: not os.path.exists(os.path.join(src, "removed.txt")), 60,
                 "the queued delete to run after the restart")
        wait_for(lambda: os.path.exists(os.path.join(dst, "copied.bin")), 60,
                 "the running copy to land")
        with open(os.path.join(mnt, GREX, "unitstop", "copied.bin"), "rb") as f:
            self.assertEqual(f.read(), payload)
        self.assertNotIn("removed.txt", os.listdir(os.path.join(mnt, TUTORIAL, "unitstop")))
        stats = self.sim.stats()["tasks_submitted"]
        self.assertEqual(int(stats.get("TRANSFER", 0)) - copies0, 1)  # tracked, not resubmitted
        self.assertEqual(int(stats.get("DELETE", 0)) - deletes0, 1)
        self.stop_unit(proc, sock, mnt)

    def test_stop_lets_an_upload_in_flight_end(self):
        """A close that is uploading when the unit stops ends as it would have: the stop waits
        for it (at most 20 s, inside TimeoutStopSec), instead of cutting the PUT off."""
        sock, d = self.notify_socket()
        mnt = os.path.join(d, "mnt")
        proc = self.start_unit(mnt, sock)
        os.listdir(os.path.join(mnt, TUTORIAL))
        payload = os.urandom(4 << 20)
        local = os.path.join(d, "payload.bin")
        with open(local, "wb") as f:
            f.write(payload)
        received = self.sim.bytes_received()
        # The server takes the first MiB of the PUT, then waits 3 s before reading on.
        self.sim.fault("https_put", "stall_upload", after_bytes=1 << 20, seconds=3)
        self.addCleanup(self.sim.clear_faults)
        writer = subprocess.Popen(["cp", local, os.path.join(mnt, TUTORIAL, "")],
                                  stderr=subprocess.PIPE, text=True)
        self.addCleanup(writer.stderr.close)
        self.addCleanup(lambda: writer.poll() is None and writer.kill())
        wait_for(lambda: self.sim.bytes_received() >= received + (1 << 20), 30,
                 "the upload to be under way")
        self.stop_unit(proc, sock, mnt)
        self.assertEqual(writer.wait(timeout=30), 0, writer.stderr.read())
        with open(os.path.join(self.sim.root(TUTORIAL), "payload.bin"), "rb") as f:
            self.assertEqual(f.read(), payload)


def in_mount_table(path):
    """Whether path is a mount point, asked without touching it: root may not even stat the
    mount of another user that lacks allow_other (os.path.ismount would say False)."""
    with open("/proc/self/mounts") as f:
        return any(line.split()[1] == path for line in f)


def nobody_setup(test, mounts=True):
    """Root, and runuser to act as user nobody. When nobody mounts: a /dev/fuse that nobody may
    open (see harness.fuse_device_for_users)."""
    as_root(test)
    if not shutil.which("runuser"):
        test.skipTest("needs runuser")
    if subprocess.run(["runuser", "-u", "nobody", "--", "test", "-x", BINARY],
                      capture_output=True).returncode != 0:
        test.skipTest(f"user nobody cannot run {BINARY}")
    if mounts:
        fuse_device_for_users(test)


class NormalUserTests(SimTestCase):
    def nobody_home(self, home=None, name="nobody"):
        """A home directory for user `name` with the README's config (pointing at globus-sim)
        and a ~/globus mount point; returns (home, conf_dir, user) where user(*args) runs the
        binary as that user with only HOME and PATH set."""
        nobody_setup(self)
        if home is None:
            home = tempfile.mkdtemp()
            self.addCleanup(shutil.rmtree, home, True)
        with open(os.path.join(self.sim.root(TUTORIAL), "readme.txt"), "w") as f:
            f.write("for nobody")
        # What the user needs from the emulator: its CA, and sim.json for the login helper
        # (the sim's own state directory is root's).
        sim_dir = os.path.join(home, "sim")
        os.mkdir(sim_dir)
        ca = os.path.join(sim_dir, "ca.pem")
        shutil.copy(self.sim.info["ca_file"], ca)
        info = dict(self.sim.info, ca_file=ca)
        with open(os.path.join(sim_dir, "sim.json"), "w") as f:
            json.dump(info, f)
        conf_dir = os.path.join(home, ".config", "globus-fuse")
        os.makedirs(conf_dir)
        with open(os.path.join(conf_dir, "config"), "w") as f:
            f.write(f"client_id = {info['client_id']}\n"
                    f"collections = {TUTORIAL}\n"
                    f"transfer_url = {info['transfer_url']}\nauth_url = {info['auth_url']}\n"
                    f"ca_file = {ca}\n")
        os.mkdir(os.path.join(home, "globus"))
        uid = pwd.getpwnam(name).pw_uid
        for dirpath, dirnames, filenames in os.walk(home):
            for n in [dirpath] + [os.path.join(dirpath, x) for x in dirnames + filenames]:
                os.chown(n, uid, -1)

        def user(*args, timeout=60):
            return subprocess.run(
                ["runuser", "-u", name, "--", "env", "-i", f"HOME={home}",
                 "PATH=/usr/local/bin:/usr/bin:/bin",
                 f"BROWSER={SIM} browser --state {sim_dir}", BINARY, *args],
                capture_output=True, text=True, timeout=timeout)

        return home, conf_dir, user

    def test_readme_path_as_a_normal_user(self):
        """README "Using it with the real Globus", as user nobody: a config in
        ~/.config/globus-fuse/config, login, mount ~/globus (fusermount3), ls, status,
        unmount."""
        home, conf_dir, user = self.nobody_home()
        uid = pwd.getpwnam("nobody").pw_uid
        p = user("login")
        self.assertEqual(p.returncode, 0, p.stderr)
        tokens = os.path.join(conf_dir, "tokens.json")
        st = os.stat(tokens)
        self.assertEqual((st.st_uid, stat.S_IMODE(st.st_mode)), (uid, 0o600))
        mnt = os.path.join(home, "globus")
        p = user("mount", mnt)
        self.addCleanup(lambda: in_mount_table(mnt) and subprocess.run(
            ["fusermount3", "-u", "-z", mnt], capture_output=True, timeout=30))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(in_mount_table(mnt))
        ls = subprocess.run(["runuser", "-u", "nobody", "--", "cat",
                             os.path.join(mnt, TUTORIAL, "readme.txt")],
                            capture_output=True, text=True, timeout=30)
        self.assertEqual(ls.stdout, "for nobody", ls.stderr)
        p = user("status", mnt)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(TUTORIAL, p.stdout)
        p = user("unmount", mnt)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertFalse(in_mount_table(mnt))


    def test_fstab_line_as_a_normal_user(self):
        """README's fstab line (noauto,user,_netdev), mounted and unmounted by a normal user
        with plain mount(8)/umount(8). mount(8) runs the program as that user but with
        HOME=/root: the config is found through the password database."""
        if not (shutil.which("mount.fuse3") and shutil.which("useradd")):
            self.skipTest("needs mount.fuse3 (package fuse3) and useradd")
        as_root(self)
        home = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, home, True)
        os.chmod(home, 0o755)
        name = f"gf-fstab-{os.getpid() % 100000}"
        subprocess.run(["userdel", "-f", name], capture_output=True)  # a leftover of a killed run
        subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", home,
                        "--shell", "/usr/sbin/nologin", name], check=True, capture_output=True)
        self.addCleanup(subprocess.run, ["userdel", "-f", name], capture_output=True)
        home, _, user = self.nobody_home(home=home, name=name)
        p = user("login")
        self.assertEqual(p.returncode, 0, p.stderr)
        mnt = os.path.join(home, "globus")
        marker = f"# globus-fuse test {name}"
        with open("/etc/fstab") as f:
            before = f.read()

        def restore():
            with open("/etc/fstab") as f:
                lines = f.read().splitlines(keepends=True)
            with open("/etc/fstab", "w") as f:
                f.writelines(ln for ln in lines if not ln.rstrip().endswith(marker))
        self.addCleanup(restore)
        with open("/etc/fstab", "a") as f:
            if before and not before.endswith("\n"):
                f.write("\n")
            f.write(f"{BINARY}#globus-fuse {mnt} fuse noauto,user,_netdev,umask=0077 0 0 "
                    f"{marker}\n")
        self.addCleanup(lambda: in_mount_table(mnt) and subprocess.run(
            ["umount", "-l", mnt], capture_output=True, timeout=30))

        def as_user(*cmd):
            return subprocess.run(["runuser", "-u", name, "--", "env", "-i", f"HOME={home}",
                                   "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", *cmd],
                                  capture_output=True, text=True, timeout=60)

        p = as_user("mount", mnt)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(in_mount_table(mnt))
        p = as_user("cat", os.path.join(mnt, TUTORIAL, "readme.txt"))
        self.assertEqual(p.stdout, "for nobody", p.stderr)
        p = as_user("umount", mnt)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertFalse(in_mount_table(mnt))


class AllowOtherTests(SimTestCase):
    """allow_other always comes with default_permissions: other users get what the mode bits
    the mount shows allow them, and the mount warns about it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        with open(os.path.join(cls.sim.root(TUTORIAL), "shared.txt"), "w") as f:
            f.write("seen by others")

    def as_nobody(self, *cmd):
        return subprocess.run(["runuser", "-u", "nobody", "--", *cmd], capture_output=True,
                              text=True, timeout=30)

    def mount_options(self, mnt):
        with open("/proc/self/mounts") as f:
            line = next(ln for ln in f if ln.split()[1] == mnt)
        return line.split()[3].split(",")

    def test_umask_0077_keeps_other_users_out(self):
        nobody_setup(self, mounts=False)
        with Mount(self.env, "--allow-other", "--umask", "0077") as m:
            opts = self.mount_options(m.path)
            self.assertIn("default_permissions", opts)
            self.assertIn("allow_other", opts)
            self.assertIn("warning: allow_other: other local users get the access the mount "
                          "shows them (umask 0077)\n", m.output())
            p = self.as_nobody("ls", os.path.join(m.path, TUTORIAL))
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("Permission denied", p.stderr)

    def test_default_umask_lets_others_read_and_says_so(self):
        nobody_setup(self, mounts=False)
        with Mount(self.env, "-o", "allow_other") as m:
            self.assertIn("they can read every file your Globus identity can read",
                          m.output())
            p = self.as_nobody("cat", os.path.join(m.path, TUTORIAL, "shared.txt"))
            self.assertEqual(p.stdout, "seen by others", p.stderr)
            # ... but not write: the mode shown is 0644, checked by the kernel.
            p = self.as_nobody("touch", os.path.join(m.path, TUTORIAL, "shared.txt"))
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("Permission denied", p.stderr)


class DemoTests(unittest.TestCase):
    def test_demo_shows_the_mission_and_leaves_the_mount_up(self):
        demo, mnt = os.path.join(ROOT, ".demo"), os.path.join(ROOT, "globus")
        if os.path.exists(demo) or os.path.ismount(mnt):
            self.skipTest("a demo is running in this checkout (scripts/demo stop ends it)")
        self.addCleanup(subprocess.run, [os.path.join(ROOT, "scripts", "demo"), "stop"],
                        capture_output=True, timeout=120)
        p = subprocess.run([os.path.join(ROOT, "scripts", "demo")], capture_output=True,
                           text=True, timeout=900)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        for expected in (
                "$ ls globus/\nAlliance Cedar Project\nGlobus Tutorial Collection 1\n",
                "job.sh\nresults.csv\n",
                "requirement: UManitoba Grex HPC requires an identity from "
                "rprox.hpc.umanitoba.ca\n",
                "link:        alice@rprox.hpc.umanitoba.ca (Grex HPC Login",
                "result:      login for UManitoba Grex HPC complete",
                "copy Globus Tutorial Collection 1:/share/godata/run42.bin -> "
                "Globus Tutorial Collection 2:/~/run42.bin\n",
                "transfers:    none pending\n",
                "(identical)\n",
                "README.md arrived at Globus Tutorial Collection 2:/~/README.md\n"):
            self.assertIn(expected, p.stdout)
        self.assertRegex(p.stdout, r"\] [0-9]+%  files 0/1  [0-9.]+ [KM]?i?B / 64.0 MiB")
        self.assertTrue(os.path.ismount(mnt))
        self.assertIn(GREX, os.listdir(mnt))


if __name__ == "__main__":
    unittest.main()
