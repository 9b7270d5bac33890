#include "api/json_reader.h"

#include <rapidjson/error/en.h>

#include <cmath>

#include "api/documents.h"

namespace gf::api::json {

Status Parse(std::string_view text, rapidjson::Document& doc, std::string_view what) {
  // Iterative parsing: deeply nested hostile input cannot overflow the stack.
  doc.Parse<rapidjson::kParseIterativeFlag>(text.data(), text.size());
  if (doc.HasParseError()) {
    return Error::Transport(TransportFailure::kMalformedBody,
                            std::string(what) + ": invalid JSON at offset " +
                                std::to_string(doc.GetErrorOffset()) + ": " +
                                rapidjson::GetParseError_En(doc.GetParseError()));
  }
  if (!doc.IsObject()) {
    return Error::Transport(TransportFailure::kMalformedBody,
                            std::string(what) + ": expected a JSON object");
  }
  return Status::Ok();
}

ObjectReader::ObjectReader(const rapidjson::Value& v, std::string what)
    : v_(v), what_(std::move(what)) {
  if (!v_.IsObject()) {
    error_ = Error::Transport(TransportFailure::kMalformedBody, what_ + ": expected an object");
  }
}

const rapidjson::Value* ObjectReader::Get(const char* key) const {
  if (!v_.IsObject()) return nullptr;
  auto it = v_.FindMember(key);
  if (it == v_.MemberEnd() || it->value.IsNull()) return nullptr;
  return &it->value;
}

void ObjectReader::Fail(const char* key, const std::string& why) {
  if (error_) return;
  error_ =
      Error::Transport(TransportFailure::kMalformedBody, what_ + ": field '" + key + "': " + why);
}

void ObjectReader::WrongType(const char* key, const char* expected) {
  Fail(key, std::string("expected ") + expected);
}

Status ObjectReader::status() const {
  if (error_) return *error_;
  return Status::Ok();
}

std::string ObjectReader::ReqString(const char* key) {
  const auto* v = Get(key);
  if (!v) {
    Fail(key, "missing required field");
    return "";
  }
  if (!v->IsString()) {
    WrongType(key, "a string");
    return "";
  }
  return std::string(v->GetString(), v->GetStringLength());
}

std::optional<std::string> ObjectReader::OptString(const char* key) {
  const auto* v = Get(key);
  if (!v) return std::nullopt;
  if (!v->IsString()) {
    WrongType(key, "a string");
    return std::nullopt;
  }
  return std::string(v->GetString(), v->GetStringLength());
}

namespace {
// Integers, tolerating integral doubles ("size": 4096.0) that some JSON encoders emit.
std::optional<int64_t> AsInt(const rapidjson::Value& v) {
  if (v.IsInt64()) return v.GetInt64();
  if (v.IsDouble()) {
    double d = v.GetDouble();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e18) {
      return static_cast<int64_t>(d);
    }
  }
  return std::nullopt;
}
}  // namespace

int64_t ObjectReader::ReqInt(const char* key) {
  const auto* v = Get(key);
  if (!v) {
    Fail(key, "missing required field");
    return 0;
  }
  auto i = AsInt(*v);
  if (!i) {
    WrongType(key, "an integer");
    return 0;
  }
  return *i;
}

std::optional<int64_t> ObjectReader::OptInt(const char* key) {
  const auto* v = Get(key);
  if (!v) return std::nullopt;
  auto i = AsInt(*v);
  if (!i) WrongType(key, "an integer");
  return i;
}

std::optional<uint64_t> ObjectReader::OptUInt(const char* key) {
  const auto* v = Get(key);
  if (!v) return std::nullopt;
  if (v->IsUint64()) return v->GetUint64();
  auto i = AsInt(*v);
  if (!i || *i < 0) {
    WrongType(key, "a non-negative integer");
    return std::nullopt;
  }
  return static_cast<uint64_t>(*i);
}

std::optional<bool> ObjectReader::OptBool(const char* key) {
  const auto* v = Get(key);
  if (!v) return std::nullopt;
  if (!v->IsBool()) {
    WrongType(key, "a boolean");
    return std::nullopt;
  }
  return v->GetBool();
}

bool ObjectReader::OptBool(const char* key, bool dflt) { return OptBool(key).value_or(dflt); }

std::optional<std::time_t> ObjectReader::OptTime(const char* key) {
  auto s = OptString(key);
  if (!s) return std::nullopt;
  auto t = ParseGlobusTime(*s);
  if (!t) Fail(key, "not a timestamp: \"" + s->substr(0, 40) + "\"");
  return t;
}

const rapidjson::Value* ObjectReader::ReqArray(const char* key) {
  const auto* v = Get(key);
  if (!v) {
    Fail(key, "missing required field");
    return nullptr;
  }
  if (!v->IsArray()) {
    WrongType(key, "an array");
    return nullptr;
  }
  return v;
}

const rapidjson::Value* ObjectReader::OptObject(const char* key) {
  const auto* v = Get(key);
  if (!v) return nullptr;
  if (!v->IsObject()) {
    WrongType(key, "an object");
    return nullptr;
  }
  return v;
}

std::vector<std::string> ObjectReader::OptStringList(const char* key) {
  std::vector<std::string> out;
  const auto* v = Get(key);
  if (!v) return out;
  if (v->IsString()) return SplitCommaList(std::string_view(v->GetString(), v->GetStringLength()));
  if (!v->IsArray()) {
    WrongType(key, "a list of strings or a comma-joined string");
    return out;
  }
  for (const auto& item : v->GetArray()) {
    if (!item.IsString()) {
      WrongType(key, "a list of strings");
      return {};
    }
    out.emplace_back(item.GetString(), item.GetStringLength());
  }
  return out;
}

std::vector<std::string> SplitCommaList(std::string_view s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    std::size_t end = s.find(',', start);
    if (end == std::string_view::npos) end = s.size();
    std::string_view piece = s.substr(start, end - start);
    while (!piece.empty() && (piece.front() == ' ' || piece.front() == '\t'))
      piece.remove_prefix(1);
    while (!piece.empty() && (piece.back() == ' ' || piece.back() == '\t')) piece.remove_suffix(1);
    if (!piece.empty()) out.emplace_back(piece);
    start = end + 1;
  }
  return out;
}

}  // namespace gf::api::json
