// The Anthropic Messages dialect: POST /v1/messages (answers, named-event SSE streams, tool use,
// extended thinking), POST /v1/messages/count_tokens, and the model routes (GET /v1/models and
// /v1/models/{id}) of requests that carry anthropic-version. Errors have Anthropic's shape
// {"type":"error","error":{"type","message"}}. Stateless; see dialect.hpp, and mock_upstream.hpp
// for the answers it renders.
#pragma once

#include "mock/dialect.hpp"

namespace shepherd::mock::detail {

extern const Dialect kAnthropicDialect;

}  // namespace shepherd::mock::detail
