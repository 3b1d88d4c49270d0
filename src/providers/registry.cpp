#include "providers/registry.hpp"

#include <array>

#include "providers/openai/openai_adapter.hpp"

namespace shepherd::providers {
namespace {

const openai::OpenAiAdapter kOpenAi;

constexpr std::array<const Adapter*, 1> kAdapters = {&kOpenAi};

}  // namespace

const Adapter* find_adapter(std::string_view kind) {
  for (const auto* a : kAdapters) {
    if (a->kind() == kind) return a;
  }
  return nullptr;
}

std::span<const Adapter* const> adapters() { return kAdapters; }

routing::AttemptResult status_verdict(int status) {
  using routing::AttemptResult;
  if (status == 401 || status == 403) return AttemptResult::kAuthFailure;
  if (status == 429) return AttemptResult::kRateLimited;
  if (status == 408 || status >= 500 || status < 400) return AttemptResult::kFailure;
  return AttemptResult::kNeutral;
}

}  // namespace shepherd::providers
