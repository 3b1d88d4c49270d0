// The Gemini dialect: POST /v1beta/models/{model}:generateContent, :streamGenerateContent?alt=sse
// (`data:`-only SSE, no [DONE]), :countTokens, :embedContent and :batchEmbedContents, the same
// methods under /v1/models/, and the model routes GET /v1beta/models and /v1beta/models/{id}.
// Function calls, thoughts and thought signatures as the Gemini API sends them; errors have
// Google's shape {"error":{"code","message","status"}}. Stateless; see dialect.hpp, and
// mock_upstream.hpp for the answers it renders.
#pragma once

#include "mock/dialect.hpp"

namespace shepherd::mock::detail {

extern const Dialect kGeminiDialect;

}  // namespace shepherd::mock::detail
