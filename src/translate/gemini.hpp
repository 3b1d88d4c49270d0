// Google's Gemini API as a provider: models/{model}:generateContent and
// :streamGenerateContent?alt=sse (https://ai.google.dev/api/generate-content), and
// :batchEmbedContents for OpenAI embeddings requests (https://ai.google.dev/api/embeddings).
//
// `contents` with user / model roles, `systemInstruction`, `generationConfig` (maxOutputTokens,
// temperature, topP, topK, stopSequences, responseMimeType and responseSchema, thinkingConfig),
// function declarations and calls, inline images, finish reasons and `usageMetadata` (thoughts
// and cached tokens included).
//
// Gemini may name no tool call; Shepherd then gives each call an id ("call_<k>_<tag>", the tag
// derived from the answer's responseId). A call's `thoughtSignature` must go back with it on the
// next turn, so it travels inside that id ("<id>_ts_<signature in base64url>", see
// gemini/call_ids.cpp), which every client returns unchanged with the call's result.
#pragma once

#include "translate/codec.hpp"

namespace shepherd::translate {

class GeminiCodec final : public Codec {
 public:
  Wire wire() const override { return Wire::kGemini; }
  base::Status encode_request(const Request& request, std::string_view upstream_model,
                              std::string& out) const override;
  base::Result<Response> decode_response(std::string_view body) const override;
  std::unique_ptr<StreamDecoder> stream_decoder() const override;
  std::string error_message(std::string_view body) const override;
};

const Codec& gemini_codec();

// An OpenAI /v1/embeddings body (`input`: a string, an array of strings; `dimensions`) as a
// batchEmbedContents body for `upstream_model`. kBadRequest naming the field when malformed or
// when `input` holds token arrays, which Gemini cannot take.
base::Status encode_embeddings(std::string_view openai_body, int max_depth,
                               std::string_view upstream_model, std::string& out);
// A batchEmbedContents answer as an OpenAI embeddings list naming `model`, with `prompt_tokens`
// (Gemini reports none; the caller estimates) as its usage. kUpstreamUnreachable when malformed.
base::Result<std::string> decode_embeddings(std::string_view body, std::string_view model,
                                            std::int64_t prompt_tokens);

}  // namespace shepherd::translate
