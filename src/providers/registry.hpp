// The table of provider adapters by `kind` (providers.<name>.kind in the config).
#pragma once

#include <span>
#include <string_view>

#include "providers/provider.hpp"

namespace shepherd::providers {

// The adapter of `kind`, or null for a kind no adapter speaks.
const Adapter* find_adapter(std::string_view kind);
// Every registered kind, in registration order.
std::span<const Adapter* const> adapters();

}  // namespace shepherd::providers
