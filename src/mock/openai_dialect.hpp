// The OpenAI dialect: chat completions (POST /v1/chat/completions, /chat/completions), their
// non-streaming and `data:`-only SSE answers, usage, the model list and the error shape
// {"error":{"message","type","param","code"}}. It is the default dialect: the shell also answers
// in it everything that is not another dialect's chat request. Stateless; see dialect.hpp.
#pragma once

#include "mock/dialect.hpp"

namespace shepherd::mock::detail {

extern const Dialect kOpenAiDialect;

}  // namespace shepherd::mock::detail
