#include "fs/status/status_document.h"

#include <unistd.h>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace gf::fs {

namespace {
using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

void WriteTransfers(JsonWriter& w, const TransfersStats& t, const CollectionCatalog& names) {
  auto name = [&](const std::string& id) {
    std::string n = names.NameOf(id);
    return n.empty() ? id : n;
  };
  auto location = [&](const char* key, const Location& loc) {
    w.Key(key);
    w.StartObject();
    w.Key("collection");
    w.String(loc.collection.c_str());
    w.Key("name");
    w.String(name(loc.collection).c_str());
    w.Key("path");
    w.String(loc.path.c_str());
    w.EndObject();
  };
  const EngineProgress& s = t.progress;
  w.StartObject();
  w.Key("implemented");
  w.Bool(true);
  std::map<BatchId, std::vector<const OpStatus*>> by_batch;
  std::vector<const OpStatus*> queued, finished, uploads;
  for (const OpStatus& op : s.ops) {
    // An upload a newer close of its file replaced: nothing the user needs to see.
    if (op.kind == OpKind::kUpload && op.failure && op.failure->code == "SUPERSEDED") continue;
    if (op.state == OpState::kSucceeded || op.state == OpState::kFailed)
      finished.push_back(&op);
    else if (op.kind == OpKind::kUpload)
      uploads.push_back(&op);
    else if (op.state == OpState::kQueued)
      queued.push_back(&op);
    else
      by_batch[op.batch].push_back(&op);
  }
  constexpr size_t kShownOps = 20;
  auto op_json = [&](const OpStatus& op) {
    w.StartObject();
    w.Key("id");
    w.Uint64(op.id);
    w.Key("kind");
    w.String(Name(op.kind));
    if (op.kind != OpKind::kUpload) location("source", op.src);
    if (op.kind != OpKind::kRemove) location("destination", op.dst);
    if (op.kind == OpKind::kUpload) {
      w.Key("staged_id");
      w.String(op.staged_id.c_str());
      w.Key("bytes_sent");
      w.Uint64(op.bytes_sent);
      w.Key("waiting_reason");
      w.String(op.waiting_reason.c_str());
    }
    if (op.waits_for != 0) {  // a remove held back behind a transfer that uses its path
      w.Key("waits_for");
      w.Uint64(op.waits_for);
    }
    w.Key("recursive");
    w.Bool(op.recursive);
    w.Key("size");
    w.Uint64(op.size);
    w.Key("state");
    w.String(OpStateName(op, nullptr).c_str());
    if (!op.warning.empty()) {
      w.Key("warning");
      w.String(op.warning.c_str());
    }
    if (op.failure) {
      w.Key("error");
      w.StartObject();
      w.Key("code");
      w.String(op.failure->code.c_str());
      w.Key("message");
      w.String(op.failure->message.c_str());
      w.EndObject();
    }
    w.EndObject();
  };
  w.Key("tasks");
  w.StartArray();
  for (const TaskStatus& t : s.tasks) {
    w.StartObject();
    w.Key("batch");
    w.Uint64(t.batch);
    w.Key("kind");
    w.String(Name(t.kind));
    w.Key("label");
    w.String(t.label.c_str());
    w.Key("task_id");
    w.String(t.task_id.c_str());
    w.Key("submission_id");
    w.String(t.submission_id.c_str());
    w.Key("source_collection");
    w.String(t.src_collection.c_str());
    w.Key("source_name");
    w.String(name(t.src_collection).c_str());
    w.Key("destination_collection");
    w.String(t.dst_collection.c_str());
    w.Key("destination_name");
    w.String(t.dst_collection.empty() ? "" : name(t.dst_collection).c_str());
    w.Key("items");
    w.Uint64(t.items);
    w.Key("status");
    w.String(t.status.c_str());
    w.Key("nice_status");
    w.String(t.nice_status.c_str());
    w.Key("files");
    w.Int64(t.files);
    w.Key("files_transferred");
    w.Int64(t.files_transferred);
    w.Key("bytes_transferred");
    w.Int64(t.bytes_transferred);
    w.Key("total_bytes");
    w.Int64(t.total_bytes);
    w.Key("bytes_per_second");
    w.Int64(t.bytes_per_second);
    w.Key("faults");
    w.Int64(t.faults);
    w.Key("waiting_reason");
    w.String(t.waiting_reason.c_str());
    w.Key("last_error");
    if (t.last_error) {
      w.StartObject();
      w.Key("code");
      w.String(t.last_error->code.c_str());
      w.Key("description");
      w.String(t.last_error->description.c_str());
      w.Key("details");
      w.String(t.last_error->details.c_str());
      w.Key("time");
      w.Int64(static_cast<int64_t>(t.last_error->time));
      w.EndObject();
    } else {
      w.Null();
    }
    w.Key("ops");
    w.StartArray();
    const auto& ops = by_batch[t.batch];
    for (size_t i = 0; i < ops.size() && i < kShownOps; ++i) op_json(*ops[i]);
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  // Background uploads (write_mode = background) not finished yet: `globus-fuse unmount` reads
  // uploads_pending and waits (or refuses) while it is not 0.
  w.Key("uploads_pending");
  w.Uint64(uploads.size());
  w.Key("uploads");
  w.StartArray();
  for (size_t i = 0; i < uploads.size() && i < kShownOps; ++i) op_json(*uploads[i]);
  w.EndArray();
  w.Key("queued_count");
  w.Uint64(queued.size());
  w.Key("queued");
  w.StartArray();
  for (size_t i = 0; i < queued.size() && i < kShownOps; ++i) op_json(*queued[i]);
  w.EndArray();
  w.Key("finished");
  w.StartArray();
  for (size_t i = finished.size() > kShownOps ? finished.size() - kShownOps : 0;
       i < finished.size(); ++i)
    op_json(*finished[i]);
  w.EndArray();
  auto entries = [&](const char* key, const std::deque<OpOutcome>& list) {
    w.Key(key);
    w.StartArray();
    for (const OpOutcome& f : list) {
      w.StartObject();
      w.Key("op");
      w.Uint64(f.op);
      w.Key("kind");
      w.String(Name(f.kind));
      location("source", f.src);
      location("destination", f.dst);
      w.Key("code");
      w.String(f.failure.code.c_str());
      w.Key("message");
      w.String(f.failure.message.c_str());
      w.Key("task_id");
      w.String(f.task_id.c_str());
      w.Key("time");
      w.Int64(static_cast<int64_t>(f.when));
      w.EndObject();
    }
    w.EndArray();
  };
  entries("failures", t.failures);
  entries("warnings", t.warnings);
  w.Key("pending_entries");
  w.Uint64(t.pending_entries);
  w.Key("hidden_entries");
  w.Uint64(t.hidden_entries);
  w.EndObject();
}
}  // namespace

std::string WriteStatusDocument(const StatusReport& r, const CollectionCatalog& names) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("version");
  w.String(GF_VERSION);
  w.Key("mount_point");
  w.String(r.mount_point.c_str());
  w.Key("pid");
  w.Int(static_cast<int>(getpid()));
  w.Key("uptime_seconds");
  w.Double(r.uptime_seconds);
  w.Key("collections");
  w.StartArray();
  for (const auto& e : r.collections) {
    w.StartObject();
    w.Key("name");
    w.String(e.name.c_str());
    switch (e.type) {
      case RootEntry::Type::kCollection:
        w.Key("id");
        w.String(e.collection->id.c_str());
        w.Key("display_name");
        w.String(e.collection->display_name.c_str());
        w.Key("entity_type");
        w.String(e.collection->entity_type.c_str());
        w.Key("https_server");
        if (e.collection->https_server)
          w.String(e.collection->https_server->c_str());
        else
          w.Null();
        break;
      case RootEntry::Type::kBookmark:
        w.Key("bookmark");
        w.String(e.link_target.c_str());
        break;
      case RootEntry::Type::kUnresolved:
        w.Key("id");
        w.String(e.id.c_str());
        w.Key("unresolved");
        w.Bool(true);
        break;
    }
    w.EndObject();
  }
  w.EndArray();
  w.Key("not_shown");  // configured collections and bookmarks missing from the root, and why
  w.StartArray();
  for (const auto& [what, why] : r.not_shown) {
    w.StartObject();
    w.Key("what");
    w.String(what.c_str());
    w.Key("why");
    w.String(why.c_str());
    w.EndObject();
  }
  w.EndArray();
  w.Key("cache");
  w.StartObject();
  w.Key("inodes");
  w.Uint64(r.cache.inodes);
  w.Key("listings");
  w.Uint64(r.cache.listings);
  w.Key("listing_entries");
  w.Uint64(r.cache.listing_entries);
  w.Key("listing_evictions");
  w.Uint64(r.cache.listing_evictions);
  w.Key("max_cached_entries");
  w.Uint64(r.cache.max_cached_entries);
  w.Key("negative_entries");
  w.Uint64(r.cache.negative_entries);
  w.Key("lookups_from_cache");
  w.Uint64(r.cache.lookups_from_cache);
  w.Key("prefetch_scheduled");  // listing prefetch (tree walks)
  w.Uint64(r.cache.listing_prefetch_scheduled);
  w.EndObject();
  w.Key("reads");
  w.StartObject();
  w.Key("bytes");
  w.Uint64(r.reads.bytes);
  w.Key("buffer_bytes");
  w.Uint64(r.reads.buffer_bytes);
  w.Key("buffer_peak_bytes");
  w.Uint64(r.reads.buffer_peak_bytes);
  w.Key("buffer_limit_bytes");
  w.Uint64(r.reads.buffer_limit_bytes);
  w.Key("readahead_refusals");
  w.Uint64(r.reads.readahead_refusals);
  w.EndObject();
  w.Key("api_calls");
  w.StartObject();
  for (const auto& [op, n] : r.api_calls) {
    w.Key(op.c_str());
    w.StartObject();
    w.Key("calls");
    w.Uint64(n.calls);
    w.Key("errors");
    w.Uint64(n.errors);
    w.EndObject();
  }
  w.EndObject();
  w.Key("api_client");
  w.StartObject();
  for (const auto& [k, v] : r.api_client) {
    w.Key(k.c_str());
    w.Double(v);
  }
  w.EndObject();
  w.Key("errors");
  w.StartObject();
  w.Key("by_errno");
  w.StartObject();
  for (const auto& [err, n] : r.errors.by_errno) {
    w.Key(std::to_string(err).c_str());
    w.Uint64(n);
  }
  w.EndObject();
  w.Key("recent");
  w.StartArray();
  for (const auto& m : r.errors.recent) w.String(m.c_str());
  w.EndArray();
  w.EndObject();
  w.Key("pending_authorizations");
  w.RawValue(r.pending_authorizations.c_str(), r.pending_authorizations.size(),
             rapidjson::kArrayType);
  w.Key("transfers");
  WriteTransfers(w, r.transfers, names);
  // Staged bytes that nothing will upload: where they are, and where they were to go.
  w.Key("kept_files");
  w.StartArray();
  for (const write::KeptFile& k : r.kept_files) {
    w.StartObject();
    w.Key("path");
    w.String(k.data_path.c_str());
    w.Key("size");
    w.Uint64(k.size);
    w.Key("collection");
    w.String(k.origin.collection.c_str());
    w.Key("collection_name");
    w.String(names.NameOf(k.origin.collection).c_str());
    w.Key("remote_path");
    w.String(k.origin.path.c_str());
    w.Key("why");
    w.String(k.why.c_str());
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize()) + "\n";
}

}  // namespace gf::fs
