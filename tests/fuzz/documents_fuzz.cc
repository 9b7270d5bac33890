// Fuzz every Transfer document parser, ParseApiError and the header/time parsers with arbitrary
// bytes. They must never crash, hang or leak; results are ignored except for cheap invariants.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "api/documents.h"
#include "api/https_client.h"
#include "api/retry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view s(reinterpret_cast<const char*>(data), size);
  using namespace gf::api;
  (void)ParseFileEntry(s);
  auto list = ParseFileList(s);
  if (list.ok() && list->entries.size() > size) std::abort();  // entries come from the input
  (void)ParseEndpoint(s);
  (void)ParseEndpointList(s);
  (void)ParseBookmarkList(s);
  (void)ParseTask(s);
  (void)ParseTaskList(s);
  (void)ParseEventList(s);
  (void)ParseSubmitResult(s);
  (void)ParseSubmissionId(s);
  (void)ParseOperationResult(s);
  gf::Error e = ParseApiError(size % 600, s);
  if (e.kind != gf::ErrorKind::kApi) std::abort();
  (void)e.NeedsAuthorization();
  (void)gf::ErrnoFor(e);
  (void)e.Describe();
  (void)ParseGlobusTime(s);
  (void)ParsePermissions(s);
  (void)ParseContentRange(s);
  (void)ParseUnsatisfiedRangeTotal(s);
  (void)ParseHttpDate(s);
  (void)ParseRetryAfter(s);
  return 0;
}
