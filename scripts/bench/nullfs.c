/* nullfs: the least a FUSE filesystem can do for `cp -r` of new files (scripts/bench/bench.py
 * write, the small files' floors).
 *
 * Without options, names are remembered so that lookups after a create find them; written bytes
 * are counted and dropped. Nothing is stored, uploaded or logged, so `cp -r` into it costs only
 * the kernel's FUSE round trips (LOOKUP, CREATE, WRITE, FLUSH, RELEASE, ...) and the context
 * switches between `cp` and this process. Write-only handles use direct_io, and the kernel
 * checks permissions (default_permissions), as in the mount.
 *
 * With --put BASE_URL (and the bearer token in the environment variable NULLFS_TOKEN, never on
 * the command line), it is the least a filesystem can do that keeps globus-fuse's contract for
 * a new file: its bytes are staged in a local file (--stage DIR; one file, reused), and the
 * FLUSH of a handle that wrote PUTs them to BASE_URL/<path> (libcurl, one kept-alive
 * connection, the same TLS verification) and returns the PUT's result. No journal, no listing
 * cache, no crash safety. One file is staged at a time, which is all a serial `cp -r` needs (a
 * second file written meanwhile gets EBUSY). Directories are only remembered, not made
 * remotely: the directories under BASE_URL must exist (bench.py makes them).
 *
 *   cc -O2 -o nullfs nullfs.c $(pkg-config --cflags --libs fuse3 libcurl)
 *   ./nullfs MOUNTPOINT [--threads] [--put BASE_URL --cacert CA_FILE --stage DIR [--contract]]
 *
 * --threads serves requests from libfuse's thread pool (as the mount does) instead of one
 * thread; one lock keeps the handlers one at a time.
 *
 * --contract (with --put) adds, per file, the local steps that globus-fuse's write contract
 * itself asks for, as the system calls the mount makes for them (docs/WRITES.md), and nothing
 * of its bookkeeping:
 *   - the staged bytes are kept where the user can find them after a crash: at the first write
 *     the staging file gets the file's origin (an xattr) and a name (a rename from its spare
 *     name); the release renames it back;
 *   - never half-written: a note in an append-only journal before the PUT, and one after;
 *   - readers see the new bytes: the inode's cached pages and attributes are invalidated after
 *     the FLUSH is answered.
 * So bench.py can tell the contract's cost on this machine from the daemon's own.
 *
 * Runs in the foreground until unmounted (fusermount3 -u MOUNTPOINT). Benchmark tool only. */
#define _GNU_SOURCE /* O_TMPFILE */
#define FUSE_USE_VERSION 312
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define MAX_NODES (1 << 20)

struct node {
  fuse_ino_t parent;
  char* name;
  int dir;
  off_t size;
  int written; /* since the last FLUSH (upload mode) */
};

/* Upload mode (--put). */
static CURL* curl;
static const char* put_base;
static const char* ca_file;
static struct curl_slist* put_headers;
static int stage_fd = -1;     /* the staging file: the bytes of the file being written */
static fuse_ino_t staged_ino; /* whose bytes it holds (cp -r writes one file at a time) */
static off_t staged_off;      /* read position of the upload */

/* --contract */
static int contract;
static int journal_fd = -1;
static int stage_named; /* the staging file is under its user-visible name */
static char spare_path[4096], named_path[4096];
static struct fuse_session* session;

static struct node* nodes; /* index = inode number; 1 = the root */
static fuse_ino_t next_ino = 2;

static fuse_ino_t find(fuse_ino_t parent, const char* name) {
  for (fuse_ino_t i = next_ino; i-- > 2;) /* newest first: cp looks up what it just made */
    if (nodes[i].parent == parent && strcmp(nodes[i].name, name) == 0) return i;
  return 0;
}

static void fill(fuse_ino_t ino, struct stat* st) {
  memset(st, 0, sizeof(*st));
  st->st_ino = ino;
  st->st_mode = nodes[ino].dir ? S_IFDIR | 0755 : S_IFREG | 0644;
  st->st_nlink = nodes[ino].dir ? 2 : 1;
  st->st_size = nodes[ino].size;
  st->st_uid = getuid();
  st->st_gid = getgid();
}

static void entry(fuse_ino_t ino, struct fuse_entry_param* e) {
  memset(e, 0, sizeof(*e));
  e->ino = ino;
  e->attr_timeout = 1.0;
  e->entry_timeout = 1.0;
  fill(ino, &e->attr);
}

static size_t path_of(fuse_ino_t ino, char* buf, size_t cap) {
  if (ino == 1) {
    buf[0] = 0;
    return 0;
  }
  size_t n = path_of(nodes[ino].parent, buf, cap);
  n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "/%s", nodes[ino].name);
  return n;
}

static size_t read_stage(char* buf, size_t size, size_t nitems, void* user) {
  (void)user;
  ssize_t n = pread(stage_fd, buf, size * nitems, staged_off);
  if (n < 0) return CURL_READFUNC_ABORT;
  staged_off += n;
  return (size_t)n;
}

static size_t drop(char* p, size_t size, size_t nitems, void* user) {
  (void)p;
  (void)user;
  return size * nitems;
}

/* --contract: one journal line, in one write (as the mount appends its notes): 0 or -1. */
static int note(const char* fmt, ...) {
  char line[8400]; /* a path (at most 8192) and two numbers */
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof(line)) return -1;
  return write(journal_fd, line, (size_t)n) == n ? 0 : -1;
}

/* PUT the staged bytes of ino to put_base + its path: 0 or an errno. */
static int upload(fuse_ino_t ino) {
  char path[8192], url[16384];
  path_of(ino, path, sizeof(path));
  /* "put": the name may hold a partial file until "done" */
  if (contract && note("put %lu %s %lld\n", (unsigned long)ino, path, (long long)nodes[ino].size))
    return EIO;
  char* escaped = curl_easy_escape(curl, path, 0); /* then '/' back: the path keeps its slashes */
  if (!escaped) return EIO;
  size_t u = (size_t)snprintf(url, sizeof(url), "%s", put_base);
  for (const char* c = escaped; *c && u + 4 < sizeof(url); c++) {
    if (strncmp(c, "%2F", 3) == 0) {
      url[u++] = '/';
      c += 2;
    } else {
      url[u++] = *c;
    }
  }
  url[u] = 0;
  curl_free(escaped);
  staged_off = 0;
  curl_easy_setopt(curl, CURLOPT_URL, url);
  curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)nodes[ino].size);
  long status = 0;
  CURLcode rc = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  if (rc != CURLE_OK || status >= 300) {
    fprintf(stderr, "nullfs: PUT %s: %s, HTTP %ld\n", path, curl_easy_strerror(rc), status);
    return EIO;
  }
  if (contract && note("done %lu\n", (unsigned long)ino)) return EIO;
  return 0;
}

static void reply_entry(fuse_req_t req, fuse_ino_t ino) {
  struct fuse_entry_param e;
  entry(ino, &e);
  fuse_reply_entry(req, &e);
}

static fuse_ino_t make(fuse_ino_t parent, const char* name, int dir) {
  if (next_ino >= MAX_NODES) return 0;
  fuse_ino_t ino = next_ino++;
  nodes[ino].parent = parent;
  nodes[ino].name = strdup(name);
  nodes[ino].dir = dir;
  nodes[ino].size = 0;
  return ino;
}

static void op_lookup_unlocked(fuse_req_t req, fuse_ino_t parent, const char* name) {
  fuse_ino_t ino = find(parent, name);
  if (!ino) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  reply_entry(req, ino);
}

static void op_getattr_unlocked(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  (void)fi;
  struct stat st;
  fill(ino, &st);
  fuse_reply_attr(req, &st, 1.0);
}

static void op_setattr_unlocked(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set,
                                struct fuse_file_info* fi) {
  (void)fi;
  if (to_set & FUSE_SET_ATTR_SIZE) nodes[ino].size = attr->st_size;
  op_getattr_unlocked(req, ino, NULL);
}

static void op_mkdir_unlocked(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  (void)mode;
  if (find(parent, name)) {
    fuse_reply_err(req, EEXIST);
    return;
  }
  fuse_ino_t ino = make(parent, name, 1);
  if (!ino) {
    fuse_reply_err(req, ENOSPC);
    return;
  }
  reply_entry(req, ino);
}

static void op_create_unlocked(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
                               struct fuse_file_info* fi) {
  (void)mode;
  fuse_ino_t ino = find(parent, name);
  if (!ino) ino = make(parent, name, 0);
  if (!ino) {
    fuse_reply_err(req, ENOSPC);
    return;
  }
  nodes[ino].size = 0;
  nodes[ino].written = 1; /* a new file is uploaded at close, even empty */
  fi->direct_io = (fi->flags & O_ACCMODE) == O_WRONLY;
  struct fuse_entry_param e;
  entry(ino, &e);
  fuse_reply_create(req, &e, fi);
}

static void op_open_unlocked(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  if (fi->flags & O_TRUNC) nodes[ino].size = 0;
  fi->direct_io = (fi->flags & O_ACCMODE) == O_WRONLY;
  fuse_reply_open(req, fi);
}

static void op_write_unlocked(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size,
                              off_t off, struct fuse_file_info* fi) {
  (void)fi;
  if (put_base) {
    if (staged_ino != ino && staged_ino != 0) { /* one file at a time: all cp -r needs */
      fuse_reply_err(req, EBUSY);
      return;
    }
    staged_ino = ino;
    if (pwrite(stage_fd, buf, size, off) != (ssize_t)size) {
      fuse_reply_err(req, EIO);
      return;
    }
    if (contract && !stage_named) { /* the bytes first, then the origin, then the name */
      char origin[8192];
      size_t n = path_of(ino, origin, sizeof(origin));
      if (fsetxattr(stage_fd, "user.nullfs.origin", origin, n, 0) != 0 ||
          rename(spare_path, named_path) != 0) {
        fuse_reply_err(req, EIO);
        return;
      }
      stage_named = 1;
    }
    nodes[ino].written = 1;
  }
  if (off + (off_t)size > nodes[ino].size) nodes[ino].size = off + (off_t)size;
  fuse_reply_write(req, size);
}

static void op_flush_unlocked(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  (void)fi;
  int err = 0;
  int uploaded = 0;
  if (put_base && nodes[ino].written) {
    err = upload(ino);
    if (!err) nodes[ino].written = 0;
    uploaded = !err;
    if (staged_ino == ino) staged_ino = 0; /* uploaded: the bytes are not needed again */
  }
  fuse_reply_err(req, err);
  if (contract && uploaded) fuse_lowlevel_notify_inval_inode(session, ino, 0, 0);
}

static void op_release_unlocked(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  (void)fi;
  /* The staging file is free for the next file. Its old bytes stay: the next file writes from
   * offset 0, and an upload reads only the file's size. */
  if (put_base && staged_ino == ino) staged_ino = 0;
  if (contract && stage_named && staged_ino == 0) { /* the spare again */
    if (rename(named_path, spare_path) == 0) stage_named = 0;
  }
  fuse_reply_err(req, 0);
}

/* With --threads, libfuse runs handlers on several threads: one lock keeps them one at a time
 * (the tables above are not thread-safe). What --threads measures is the threads' hand-offs. */
static pthread_mutex_t big_lock = PTHREAD_MUTEX_INITIALIZER;
#define LOCKED(op, params, ...)      \
  static void op params {            \
    pthread_mutex_lock(&big_lock);   \
    op##_unlocked(__VA_ARGS__);      \
    pthread_mutex_unlock(&big_lock); \
  }
LOCKED(op_lookup, (fuse_req_t req, fuse_ino_t parent, const char* name), req, parent, name)
LOCKED(op_getattr, (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi), req, ino, fi)
LOCKED(op_setattr,
       (fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, struct fuse_file_info* fi),
       req, ino, attr, to_set, fi)
LOCKED(op_mkdir, (fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode), req, parent,
       name, mode)
LOCKED(op_create,
       (fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
        struct fuse_file_info* fi),
       req, parent, name, mode, fi)
LOCKED(op_open, (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi), req, ino, fi)
LOCKED(op_write,
       (fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off,
        struct fuse_file_info* fi),
       req, ino, buf, size, off, fi)
LOCKED(op_flush, (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi), req, ino, fi)
LOCKED(op_release, (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi), req, ino, fi)

static void op_init(void* userdata, struct fuse_conn_info* conn) {
  (void)userdata;
  conn->max_write = 1u << 20; /* as the mount asks */
}

static int usage(const char* me) {
  fprintf(stderr,
          "usage: %s MOUNTPOINT [--threads] [--put BASE_URL --cacert CA_FILE --stage DIR "
          "[--contract]]\n",
          me);
  return 2;
}

static int setup_upload(const char* stage_dir) {
  const char* token = getenv("NULLFS_TOKEN");
  if (!token || !stage_dir) {
    fprintf(stderr, "nullfs: --put needs --stage DIR and NULLFS_TOKEN in the environment\n");
    return -1;
  }
  if (contract) { /* a named staging file (its spare name) and a journal beside it */
    snprintf(spare_path, sizeof(spare_path), "%s/stage.spare", stage_dir);
    snprintf(named_path, sizeof(named_path), "%s/stage.data", stage_dir);
    char journal[4200];
    snprintf(journal, sizeof(journal), "%s/journal", stage_dir);
    stage_fd = open(spare_path, O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0600);
    journal_fd = open(journal, O_CREAT | O_TRUNC | O_WRONLY | O_APPEND | O_CLOEXEC, 0600);
    if (journal_fd < 0) {
      perror("nullfs: journal");
      return -1;
    }
  } else {
    stage_fd = open(stage_dir, O_TMPFILE | O_RDWR, 0600);
  }
  if (stage_fd < 0) {
    perror("nullfs: staging file");
    return -1;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  curl = curl_easy_init();
  if (!curl) return -1;
  char auth[8192];
  snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
  put_headers = curl_slist_append(put_headers, auth);
  put_headers = curl_slist_append(put_headers, "Expect:"); /* as the mount: no 100-continue */
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, put_headers);
  curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(curl, CURLOPT_READFUNCTION, read_stage);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, drop);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  if (ca_file) curl_easy_setopt(curl, CURLOPT_CAINFO, ca_file);
  return 0;
}

int main(int argc, char** argv) {
  if (argc < 2) return usage(argv[0]);
  const char* stage_dir = NULL;
  int threads = 0;
  for (int i = 2; i < argc; i++) {
    if (strcmp(argv[i], "--threads") == 0) {
      threads = 1;
      continue;
    }
    if (strcmp(argv[i], "--contract") == 0) {
      contract = 1;
      continue;
    }
    if (i + 1 >= argc) return usage(argv[0]);
    if (strcmp(argv[i], "--put") == 0)
      put_base = argv[++i];
    else if (strcmp(argv[i], "--cacert") == 0)
      ca_file = argv[++i];
    else if (strcmp(argv[i], "--stage") == 0)
      stage_dir = argv[++i];
    else
      return usage(argv[0]);
  }
  if (contract && !put_base) return usage(argv[0]);
  if (put_base && setup_upload(stage_dir) != 0) return 1;
  nodes = calloc(MAX_NODES, sizeof(*nodes));
  if (!nodes) return 1;
  nodes[1].dir = 1;
  static const struct fuse_lowlevel_ops ops = {
      .init = op_init,
      .lookup = op_lookup,
      .getattr = op_getattr,
      .setattr = op_setattr,
      .mkdir = op_mkdir,
      .create = op_create,
      .open = op_open,
      .write = op_write,
      .flush = op_flush,
      .release = op_release,
      .fsync = NULL,
  };
  /* default_permissions, as the mount has it: the kernel then checks modes itself, and asks for
   * a directory's attributes again after each create in it (one GETATTR per file of cp -r). */
  char* fargv[] = {argv[0], "-o", "default_permissions", NULL};
  struct fuse_args args = FUSE_ARGS_INIT(3, fargv);
  struct fuse_session* se = fuse_session_new(&args, &ops, sizeof(ops), NULL);
  if (!se) return 1;
  session = se;
  if (fuse_session_mount(se, argv[1]) != 0) return 1;
  int rc;
  if (threads) { /* as the mount: libfuse's thread pool, 4 idle threads kept */
    struct fuse_loop_config* cfg = fuse_loop_cfg_create();
    fuse_loop_cfg_set_idle_threads(cfg, 4);
    rc = fuse_session_loop_mt(se, cfg);
    fuse_loop_cfg_destroy(cfg);
  } else {
    rc = fuse_session_loop(se);
  }
  fuse_session_unmount(se);
  fuse_session_destroy(se);
  return rc ? 1 : 0;
}
