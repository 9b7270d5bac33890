// Identifiers.
#pragma once

#include <string_view>

namespace gf {

// True for the canonical 8-4-4-4-12 hex form Globus uses for collection, task and identity ids.
bool LooksLikeUuid(std::string_view s);

}  // namespace gf
