#include "fs/read/read_ops.h"

#include <algorithm>
#include <cerrno>

#include "fs/paths.h"

namespace gf::fs {

ReadOps::ReadOps(Superblock& sb, const FsOptions& options)
    : sb_(sb),
      options_(options),
      memory_(options.read_memory_limit),
      queue_("read", std::max(options.read_parallelism * 2, 4), 4096) {}

Result<ReadHandle> ReadOps::Open(const InodePtr& in, Opened& opened) {
  const Collection& c = *in->collection;
  const std::string path = sb_.Path(*in);
  auto m = sb_.RefreshMeta(in);
  if (!m.ok()) return m.error();
  if (m->type != api::EntryType::kFile)
    return sb_.errors().Local("open", &c, path, EOPNOTSUPP,
                              "special files (devices, pipes) cannot be read over HTTPS");
  if (!c.https_server || c.https_server->empty())
    return sb_.errors().Report(
        "open", &c, path,
        Error::NotSupported("this collection has no HTTPS server (Globus Connect Personal "
                            "collections do not), so file contents cannot be read through the "
                            "mount; copy the file to another collection with cp instead"));
  opened.keep_cache = in->NoteOpened(m->size, m->mtime);
  ReadOptions ro;
  ro.max_window = std::max<uint64_t>(options_.readahead_max, 128u << 10);
  ro.initial_window = std::min(ro.initial_window, ro.max_window);
  ro.parallelism = std::max(options_.read_parallelism, 1);
  ro.part_size = std::max<uint64_t>(options_.read_part_size, 64u << 10);
  ReadHandle h;
  h.reader = std::make_unique<FileReader>(sb_.remote(), queue_, memory_, ro,
                                          api::CollectionRef{c.id, *c.https_server},
                                          sb_.homes().HttpsPath(c, path), m->size);
  return h;
}

Result<ReadData> ReadOps::Read(const InodePtr& in, ReadHandle& h, uint64_t offset, uint64_t size,
                               const std::atomic<bool>* cancel) {
  auto r = h.reader->Read(offset, size, cancel);
  if (r.ok()) return r;
  if (ErrnoFor(r.error()) == ESTALE) sb_.AfterStaleRead(in);
  if (r.error().transport == TransportFailure::kAborted) return r.error();
  return sb_.errors().Report("read", in->collection, sb_.Path(*in), r.error());
}

ReadStats ReadOps::Stats() const {
  ReadStats s;
  s.bytes = sb_.remote().bytes_read();
  s.buffer_bytes = memory_.used();
  s.buffer_peak_bytes = memory_.peak();
  s.buffer_limit_bytes = memory_.limit();
  s.readahead_refusals = memory_.refusals();
  return s;
}

}  // namespace gf::fs
