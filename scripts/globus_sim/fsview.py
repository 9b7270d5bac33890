"""Collection paths over plain backing folders, and Transfer file documents (reference 1.1).

A collection's path ``/`` is its folder ``DIR/collections/<id>/``; ``/~/`` is
``<root>/home/<username>/`` (created on demand). Paths are resolved lexically and can never
climb above the root.

Also: sparse-aware copying (SEEK_DATA/SEEK_HOLE + copy_file_range) and a layout-independent
content digest, used by transfer tasks.
"""

import errno
import fnmatch
import grp
import hashlib
import json
import operator
import os
import posixpath
import pwd
import stat as st
import time

_TYPES = {st.S_IFDIR: "dir", st.S_IFREG: "file", st.S_IFCHR: "chr", st.S_IFBLK: "blk",
          st.S_IFIFO: "pipe"}


class PathError(Exception):
    pass


def home_dir(root, username):
    return os.path.join(root, "home", username)


def resolve(root, path, username):
    """Map a collection path to a real path under ``root``. Raises PathError if malformed."""
    if path is None:
        path = "/~/"
    if path.startswith("~"):
        path = "/" + path
    if not path.startswith("/"):
        raise PathError("Path must be absolute: %r" % path)
    parts = [p for p in path.split("/") if p not in ("", ".")]
    base = root
    if parts and parts[0] == "~":
        base = home_dir(root, username)
        os.makedirs(base, exist_ok=True)
        parts = parts[1:]
    out = []
    for p in parts:
        if p == "..":
            if out:
                out.pop()
        else:
            out.append(p)
    return os.path.join(base, *out) if out else base


def display_dir(path):
    """The ``path`` echo of ls: the request path with a trailing '/' (reference 1.1)."""
    if not path:
        path = "/~/"
    return path if path.endswith("/") else path + "/"


class _Names:
    """uid/gid -> name (stable data, so caching is safe)."""

    def __init__(self):
        self.users, self.groups = {}, {}

    def user(self, uid):
        n = self.users.get(uid)
        if n is None:
            try:
                n = pwd.getpwuid(uid).pw_name
            except KeyError:
                n = str(uid)
            self.users[uid] = n
        return n

    def group(self, gid):
        n = self.groups.get(gid)
        if n is None:
            try:
                n = grp.getgrgid(gid).gr_name
            except KeyError:
                n = str(gid)
            self.groups[gid] = n
        return n


NAMES = _Names()
_TS_CACHE = {}


def file_time(t):
    """File-document timestamp: ``YYYY-MM-DD HH:MM:SS+00:00`` (space, UTC; reference 0)."""
    t = int(t)
    s = _TS_CACHE.get(t)
    if s is None:
        s = time.strftime("%Y-%m-%d %H:%M:%S+00:00", time.gmtime(t))
        if len(_TS_CACHE) > 100000:
            _TS_CACHE.clear()
        _TS_CACHE[t] = s
    return s


# A listing row is a tuple in FIELDS order (cheap to build, filter, sort and serialise);
# row_doc() turns one into the ``DATA_TYPE: file`` dict.
FIELDS = ("name", "type", "size", "last_modified", "permissions", "user", "group",
          "link_target", "link_size", "link_user", "link_group", "link_last_modified")
IDX = {f: i for i, f in enumerate(FIELDS)}
_NO_LINK = (None, None, None, None, None)


def file_row(name, lst, real_path=None):
    """A listing row from an lstat result (a symlink shows its target, link_* the link)."""
    if st.S_ISLNK(lst.st_mode):
        try:
            target = os.readlink(real_path)
        except OSError:
            target = None
        try:
            s = os.stat(real_path)
            ftype = _TYPES.get(st.S_IFMT(s.st_mode), "other")
        except OSError:
            s = lst
            ftype = "invalid_symlink"
        link = (target, lst.st_size, NAMES.user(lst.st_uid), NAMES.group(lst.st_gid),
                file_time(lst.st_mtime))
    else:
        s = lst
        ftype = _TYPES.get(st.S_IFMT(s.st_mode), "other")
        link = _NO_LINK
    return (name, ftype, s.st_size, file_time(s.st_mtime), "%04o" % (s.st_mode & 0o7777),
            NAMES.user(s.st_uid), NAMES.group(s.st_gid)) + link


def row_doc(row):
    d = {"DATA_TYPE": "file"}
    d.update(zip(FIELDS, row))
    return d


_ROW_JSON = ('{"DATA_TYPE": "file", "group": %s, "last_modified": "%s", "link_group": %s, '
             '"link_last_modified": %s, "link_size": %s, "link_target": %s, "link_user": %s, '
             '"name": %s, "permissions": "%s", "size": %d, "type": "%s", "user": %s}')


def rows_json(rows):
    """Serialise rows as a JSON array (same bytes as json.dumps of row_doc(), key-sorted)."""
    esc = json.encoder.encode_basestring_ascii
    out = []
    for r in rows:
        if r[7] is None and r[8] is None:
            link = ("null",) * 5
        else:
            link = (json.dumps(r[10]), json.dumps(r[11]), json.dumps(r[8]), json.dumps(r[7]),
                    json.dumps(r[9]))
        out.append(_ROW_JSON % ((esc(r[6]), r[3]) + link + (esc(r[0]), r[4], r[2], r[1],
                                                            esc(r[5]))))
    return "[" + ", ".join(out) + "]"


def stat_doc(real_path, name):
    return row_doc(file_row(name, os.lstat(real_path), real_path))


def list_dir(real_path, show_hidden, size_limit):
    """All entries of a directory as rows. Raises OSError; ValueError over ``size_limit``."""
    rows = []
    append = rows.append
    with os.scandir(real_path) as it:
        for n, entry in enumerate(it):
            if n >= size_limit:
                raise ValueError("size limit")
            name = entry.name
            if not show_hidden and name[0] == ".":
                continue
            try:
                lst = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            append(file_row(name, lst, entry.path if st.S_ISLNK(lst.st_mode) else None))
    return rows


# -- filter / orderby (reference 0 and 1.1) ------------------------------------------------------

class QueryError(ValueError):
    pass


def _range_pred(field, value, conv):
    i = IDX[field]
    lo, sep, hi = value.partition(",")
    if not sep:
        want = conv(value)
        return lambda d: d[i] == want
    lo = conv(lo) if lo else None
    hi = conv(hi) if hi else None
    return lambda d: (lo is None or d[i] >= lo) and (hi is None or d[i] <= hi)


def _ts(v):
    v = v.replace("T", " ")
    return v if len(v) > 10 else v + " 00:00:00"


def compile_filters(filters):
    """``filter`` params -> predicate. Clauses ``key:value`` joined by '/', all must hold.

    name: ``~glob``, ``!~glob``, ``!exact``, ``exact``; type: ``dir`` / ``file,dir``;
    size: ``N`` or ``lo,hi``; last_modified: ``lo,hi`` (either end may be empty);
    permissions, user, group: exact.
    """
    preds = []
    for f in filters:
        for clause in f.split("/"):
            if not clause:
                continue
            key, sep, value = clause.partition(":")
            if not sep:
                raise QueryError("Invalid filter clause %r" % clause)
            if key == "name":
                if value.startswith("!~"):
                    preds.append(lambda d, g=value[2:]: not fnmatch.fnmatchcase(d[0], g))
                elif value.startswith("~"):
                    preds.append(lambda d, g=value[1:]: fnmatch.fnmatchcase(d[0], g))
                elif value.startswith("!"):
                    preds.append(lambda d, v=value[1:]: d[0] != v)
                else:
                    preds.append(lambda d, v=value: d[0] == v)
            elif key == "type":
                types = set(value.split(","))
                preds.append(lambda d, t=types: d[1] in t)
            elif key == "size":
                try:
                    preds.append(_range_pred("size", value, int))
                except ValueError:
                    raise QueryError("Invalid size filter %r" % value)
            elif key == "last_modified":
                preds.append(_range_pred("last_modified", value, _ts))
            elif key in ("permissions", "user", "group"):
                vals = set(value.split(","))
                preds.append(lambda d, k=IDX[key], v=vals: d[k] in v)
            else:
                raise QueryError("Invalid filter field %r" % key)
    if not preds:
        return None
    return lambda d: all(p(d) for p in preds)


_SORTABLE = {"name", "type", "size", "last_modified", "permissions", "user", "group"}


def sort_docs(docs, orderby):
    """Sort rows in place. ``orderby``: ``field [ASC|DESC]`` comma-joined; default ``name``."""
    keys = []
    for part in (orderby or "name").split(","):
        words = part.split()
        if not words:
            continue
        field = words[0]
        if field not in _SORTABLE or len(words) > 2 or \
                (len(words) == 2 and words[1].upper() not in ("ASC", "DESC")):
            raise QueryError("Invalid orderby %r" % part.strip())
        keys.append((field, len(words) == 2 and words[1].upper() == "DESC"))
    for field, desc in reversed(keys):
        docs.sort(key=operator.itemgetter(IDX[field]), reverse=desc)
    return docs


# -- copying and digests (tasks) -----------------------------------------------------------------

def data_extents(fd, size):
    """Yield (offset, length) of data regions (SEEK_DATA/SEEK_HOLE), or one extent."""
    pos = 0
    try:
        while pos < size:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError as e:
                if e.errno == errno.ENXIO:  # only a hole remains
                    return
                raise
            end = os.lseek(fd, start, os.SEEK_HOLE)
            yield start, min(end, size) - start
            pos = end
    except (OSError, AttributeError):
        if pos == 0:
            yield 0, size


def copy_file(src, dst, progress, bytes_per_second=0, chunk=8 << 20):
    """Copy ``src`` to ``dst`` preserving holes. ``progress(n)`` is called with logical bytes
    done (holes included) and may raise to abort. Bandwidth limits logical bytes/s."""
    t0 = time.monotonic()
    done = 0
    if bytes_per_second:  # ~10 progress steps per second when throttled
        chunk = max(64 << 10, min(chunk, int(bytes_per_second) // 10))

    def account(n):
        nonlocal done
        done += n
        progress(n)
        if bytes_per_second:
            ahead = done / float(bytes_per_second) - (time.monotonic() - t0)
            if ahead > 0:
                time.sleep(ahead)

    with open(src, "rb") as fs, open(dst, "wb") as fd:
        size = os.fstat(fs.fileno()).st_size
        pos = 0
        for off, length in data_extents(fs.fileno(), size):
            while pos < off:  # a hole: nothing to write, account it in steps
                n = min(chunk, off - pos)
                account(n)
                pos += n
            end = off + length
            while pos < end:
                n = min(chunk, end - pos)
                copied = _copy_range(fs.fileno(), fd.fileno(), pos, n)
                account(copied)
                pos += copied
        while pos < size:
            n = min(chunk, size - pos)
            account(n)
            pos += n
        fd.truncate(size)
    return size


def _copy_range(fin, fout, offset, count):
    try:
        n = os.copy_file_range(fin, fout, count, offset, offset)
        if n > 0:
            return n
    except OSError:
        pass
    data = os.pread(fin, count, offset)
    os.pwrite(fout, data, offset)
    return len(data) or count


_ZERO = bytes(1 << 20)


def content_digest(path):
    """MD5 over (block index, block) of every non-zero 1 MiB block, plus the size.

    Equal for equal content whatever the hole layout, and fast for sparse files (holes are
    skipped). Used by ``verify_checksum`` and sync_level 3. Not a plain MD5 of the file.
    """
    h = hashlib.md5()
    block = len(_ZERO)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        h.update(str(size).encode())
        seen = set()
        for off, length in data_extents(f.fileno(), size):
            b = off // block
            while b * block < off + length:
                if b not in seen:
                    seen.add(b)
                    data = os.pread(f.fileno(), block, b * block)
                    if data != _ZERO[:len(data)]:
                        h.update(b"%d:" % b)
                        h.update(data)
                b += 1
    return h.hexdigest()


def is_within(real_path, root):
    real_path = posixpath.normpath(real_path)
    root = posixpath.normpath(root)
    return real_path == root or real_path.startswith(root + "/")
