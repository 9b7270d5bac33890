// Internal to api/: typed, null-tolerant access to the fields of one RapidJSON object.
//
// Globus documents are full of nullable fields ("link_target": null) and fields that older
// services omit. ObjectReader gives every parser the same rules, so they are decided once:
//   - a missing field and a JSON null are the same thing ("absent");
//   - Opt*() returns std::nullopt (or the default) for an absent field;
//   - Req*() records "missing required field 'x'" for an absent field;
//   - a present field of the wrong type is always an error ("field 'x': expected a string"),
//     required or not: silently guessing would hide a changed wire format.
// The first error is kept; status() reports it as kTransport/kMalformedBody naming the
// document and the field. Getters keep returning harmless defaults after an error so parsers
// can read all fields straight-line and check status() once.
//
// Not thread-safe (one reader per parse call); holds a reference to the Value.
#pragma once

#include <rapidjson/document.h>

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace gf::api::json {

// Parses `text` into `doc`. On failure returns kTransport/kMalformedBody naming `what`.
Status Parse(std::string_view text, rapidjson::Document& doc, std::string_view what);

class ObjectReader {
 public:
  // `what` names the document in error messages ("file document", "task").
  ObjectReader(const rapidjson::Value& v, std::string what);

  std::string ReqString(const char* key);
  std::optional<std::string> OptString(const char* key);
  int64_t ReqInt(const char* key);
  std::optional<int64_t> OptInt(const char* key);
  std::optional<uint64_t> OptUInt(const char* key);
  bool OptBool(const char* key, bool dflt);
  std::optional<bool> OptBool(const char* key);
  std::optional<std::time_t> OptTime(const char* key);  // ParseGlobusTime formats
  // The array under `key`, or nullptr when absent (error recorded when required).
  const rapidjson::Value* ReqArray(const char* key);
  const rapidjson::Value* OptObject(const char* key);

  // A string list, accepting either a JSON list of strings or one comma-joined string.
  std::vector<std::string> OptStringList(const char* key);

  // Record a custom error for `key` (e.g. an unknown enum value).
  void Fail(const char* key, const std::string& why);

  bool ok() const { return !error_.has_value(); }
  Status status() const;

 private:
  const rapidjson::Value* Get(const char* key) const;  // nullptr when absent or null
  void WrongType(const char* key, const char* expected);

  const rapidjson::Value& v_;
  std::string what_;
  std::optional<Error> error_;
};

// Splits "a, b,c" into {"a","b","c"} (trimmed, empty pieces dropped).
std::vector<std::string> SplitCommaList(std::string_view s);

}  // namespace gf::api::json
