// Serializers for the task submission documents (globus-api.md §1.6). Only fields the request
// structs carry are written; optional ones (label, sync_level, deadline) are omitted when unset
// so the service applies its defaults, as the official SDK does.
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "api/documents.h"

namespace gf::api {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void Key(Writer& w, const char* k) { w.Key(k); }
void Str(Writer& w, const char* k, const std::string& v) {
  w.Key(k);
  w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
}
void Bool(Writer& w, const char* k, bool v) {
  w.Key(k);
  w.Bool(v);
}

}  // namespace

std::string SerializeTransfer(const TransferRequest& r) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  Str(w, "DATA_TYPE", "transfer");
  Str(w, "submission_id", r.submission_id);
  Str(w, "source_endpoint", r.source_endpoint);
  Str(w, "destination_endpoint", r.destination_endpoint);
  Key(w, "DATA");
  w.StartArray();
  for (const auto& item : r.items) {
    w.StartObject();
    Str(w, "DATA_TYPE", "transfer_item");
    Str(w, "source_path", item.source_path);
    Str(w, "destination_path", item.destination_path);
    Bool(w, "recursive", item.recursive);
    w.EndObject();
  }
  w.EndArray();
  if (!r.label.empty()) Str(w, "label", r.label);
  if (r.deadline) Str(w, "deadline", *r.deadline);
  if (r.sync_level) {
    Key(w, "sync_level");
    w.Int(*r.sync_level);
  }
  Bool(w, "verify_checksum", r.verify_checksum);
  Bool(w, "preserve_timestamp", r.preserve_timestamp);
  Bool(w, "encrypt_data", r.encrypt_data);
  Bool(w, "skip_source_errors", r.skip_source_errors);
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

std::string SerializeDelete(const DeleteRequest& r) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  Str(w, "DATA_TYPE", "delete");
  Str(w, "submission_id", r.submission_id);
  Str(w, "endpoint", r.endpoint);
  Key(w, "DATA");
  w.StartArray();
  for (const auto& path : r.paths) {
    w.StartObject();
    Str(w, "DATA_TYPE", "delete_item");
    Str(w, "path", path);
    w.EndObject();
  }
  w.EndArray();
  Bool(w, "recursive", r.recursive);
  Bool(w, "ignore_missing", r.ignore_missing);
  Bool(w, "interpret_globs", r.interpret_globs);
  Bool(w, "notify_on_succeeded", r.notify_on_succeeded);
  Bool(w, "notify_on_failed", r.notify_on_failed);
  Bool(w, "notify_on_inactive", r.notify_on_inactive);
  if (!r.label.empty()) Str(w, "label", r.label);
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

std::string SerializeMkdir(const std::string& path) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  Str(w, "DATA_TYPE", "mkdir");
  Str(w, "path", path);
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

std::string SerializeRename(const std::string& old_path, const std::string& new_path) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  Str(w, "DATA_TYPE", "rename");
  Str(w, "old_path", old_path);
  Str(w, "new_path", new_path);
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace gf::api
