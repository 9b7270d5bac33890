/* nullfs: the least a FUSE filesystem can do for `cp -r` of new files (scripts/bench/bench.py
 * write, the small files' floor). Names are remembered so that lookups after a create find
 * them; written bytes are counted and dropped. Nothing is stored, uploaded or logged, so `cp -r`
 * into it costs only the kernel's FUSE round trips (LOOKUP, CREATE, WRITE, FLUSH, RELEASE, ...)
 * and the context switches between `cp` and this process. Write-only handles use direct_io,
 * and the kernel checks permissions (default_permissions), as in the mount.
 *
 *   cc -O2 -o nullfs nullfs.c $(pkg-config --cflags --libs fuse3) && ./nullfs MOUNTPOINT
 *
 * Runs in the foreground until unmounted (fusermount3 -u MOUNTPOINT). Benchmark tool only. */
#define FUSE_USE_VERSION 35
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_NODES (1 << 20)

struct node {
  fuse_ino_t parent;
  char *name;
  int dir;
  off_t size;
};

static struct node *nodes; /* index = inode number; 1 = the root */
static fuse_ino_t next_ino = 2;

static fuse_ino_t find(fuse_ino_t parent, const char *name) {
  for (fuse_ino_t i = next_ino; i-- > 2;) /* newest first: cp looks up what it just made */
    if (nodes[i].parent == parent && strcmp(nodes[i].name, name) == 0) return i;
  return 0;
}

static void fill(fuse_ino_t ino, struct stat *st) {
  memset(st, 0, sizeof(*st));
  st->st_ino = ino;
  st->st_mode = nodes[ino].dir ? S_IFDIR | 0755 : S_IFREG | 0644;
  st->st_nlink = nodes[ino].dir ? 2 : 1;
  st->st_size = nodes[ino].size;
  st->st_uid = getuid();
  st->st_gid = getgid();
}

static void entry(fuse_ino_t ino, struct fuse_entry_param *e) {
  memset(e, 0, sizeof(*e));
  e->ino = ino;
  e->attr_timeout = 1.0;
  e->entry_timeout = 1.0;
  fill(ino, &e->attr);
}

static void reply_entry(fuse_req_t req, fuse_ino_t ino) {
  struct fuse_entry_param e;
  entry(ino, &e);
  fuse_reply_entry(req, &e);
}

static fuse_ino_t make(fuse_ino_t parent, const char *name, int dir) {
  if (next_ino >= MAX_NODES) return 0;
  fuse_ino_t ino = next_ino++;
  nodes[ino].parent = parent;
  nodes[ino].name = strdup(name);
  nodes[ino].dir = dir;
  nodes[ino].size = 0;
  return ino;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) {
  fuse_ino_t ino = find(parent, name);
  if (!ino) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  reply_entry(req, ino);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  (void)fi;
  struct stat st;
  fill(ino, &st);
  fuse_reply_attr(req, &st, 1.0);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                       struct fuse_file_info *fi) {
  (void)fi;
  if (to_set & FUSE_SET_ATTR_SIZE) nodes[ino].size = attr->st_size;
  op_getattr(req, ino, NULL);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode) {
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

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                      struct fuse_file_info *fi) {
  (void)mode;
  fuse_ino_t ino = find(parent, name);
  if (!ino) ino = make(parent, name, 0);
  if (!ino) {
    fuse_reply_err(req, ENOSPC);
    return;
  }
  nodes[ino].size = 0;
  fi->direct_io = (fi->flags & O_ACCMODE) == O_WRONLY;
  struct fuse_entry_param e;
  entry(ino, &e);
  fuse_reply_create(req, &e, fi);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  if (fi->flags & O_TRUNC) nodes[ino].size = 0;
  fi->direct_io = (fi->flags & O_ACCMODE) == O_WRONLY;
  fuse_reply_open(req, fi);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi) {
  (void)buf;
  (void)fi;
  if (off + (off_t)size > nodes[ino].size) nodes[ino].size = off + (off_t)size;
  fuse_reply_write(req, size);
}

static void op_ok(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  (void)ino;
  (void)fi;
  fuse_reply_err(req, 0);
}

static void op_init(void *userdata, struct fuse_conn_info *conn) {
  (void)userdata;
  conn->max_write = 1u << 20; /* as the mount asks */
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s MOUNTPOINT\n", argv[0]);
    return 2;
  }
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
      .flush = op_ok,
      .release = op_ok,
      .fsync = NULL,
  };
  /* default_permissions, as the mount has it: the kernel then checks modes itself, and asks for
   * a directory's attributes again after each create in it (one GETATTR per file of cp -r). */
  char *fargv[] = {argv[0], "-o", "default_permissions", NULL};
  struct fuse_args args = FUSE_ARGS_INIT(3, fargv);
  struct fuse_session *se = fuse_session_new(&args, &ops, sizeof(ops), NULL);
  if (!se) return 1;
  if (fuse_session_mount(se, argv[1]) != 0) return 1;
  int rc = fuse_session_loop(se);
  fuse_session_unmount(se);
  fuse_session_destroy(se);
  return rc ? 1 : 0;
}
