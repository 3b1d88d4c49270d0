// FastChat's generation bodies (docs/fastchat-protocol.md §2, §3.3): the generate parameters a
// worker receives, the chunks it streams back (NUL-framed) and its whole answer. Parsing and
// writing follow protocol.hpp's rules (errors name the field; json.dumps for chunks and
// requests, FastAPI's compact form for answers).
#pragma once

#include <boost/json/value.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"

namespace shepherd::fastchat {

// ---------------------------------------------------------------------------------------------
// Generation (docs/fastchat-protocol.md §2 "Generate params", §3.3 step 6)

// The body of /worker_generate_stream and /worker_generate (also the controller's proxy). The
// defaults are the model worker's for an absent field.
struct GenerateParams {
  std::string model;   // required (the controller dispatches on it)
  std::string prompt;  // required, already templated
  double temperature = 1.0;
  double top_p = 1.0;
  std::int64_t top_k = -1;  // -1: off
  // The worker uses 1.0 when absent; FastChat's /v1 API server does not send it, its /api/v1
  // server does (after `stop`).
  std::optional<double> repetition_penalty;
  // Forwarded; vLLM-style workers use them (default 0.0).
  double presence_penalty = 0.0;
  double frequency_penalty = 0.0;
  std::int64_t max_new_tokens = 256;
  // null or absent → empty; a string → one element; a list of strings.
  std::vector<std::string> stop;
  // null (absent) or a list; the worker adds its EOS token either way.
  std::optional<std::vector<std::int64_t>> stop_token_ids;
  // The worker's default is true (the prompt is echoed at the start of `text`); FastChat's API
  // server and Gradio send false. null reads as false, as the worker's `if echo:` does.
  bool echo = true;
  std::optional<std::int64_t> logprobs;  // null: none; an integer: that many top logprobs
  std::optional<std::int64_t> best_of;   // forwarded when set
  std::optional<bool> use_beam_search;   // forwarded when set
  std::vector<std::string> images;       // multimodal workers only
};
base::Result<GenerateParams> parse_generate_params(std::string_view body);
// What FastChat's OpenAI API server sends (json.dumps, keys in its order): model, prompt,
// temperature, logprobs, top_p, top_k, presence_penalty, frequency_penalty, max_new_tokens, echo,
// stop_token_ids, then images when non-empty, best_of and use_beam_search when set, stop (always
// a list), repetition_penalty when set.
std::string write_generate_params(const GenerateParams& params);

struct Usage {
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  std::int64_t total_tokens = 0;
};

// One chunk of /worker_generate_stream, or the /worker_generate answer (the last chunk).
struct GenerateChunk {
  std::string text;  // cumulative output so far, not a delta; the error message on errors
  std::int64_t error_code = 0;  // 0, or one of error_codes
  std::optional<Usage> usage;
  // "stop", "length" (vLLM: also "abort"); absent or null on intermediate chunks.
  std::optional<std::string> finish_reason;
  // The worker's logprobs object ({"text_offset", "tokens", "token_logprobs", "top_logprobs"}),
  // kept as sent; absent or null → nullopt.
  std::optional<boost::json::value> logprobs;
};
// text (a string) and error_code (an integer) required. usage: prompt_tokens and
// completion_tokens required, total_tokens their sum when absent. Tolerated: vLLM's
// `cumulative_logprob` (ignored) and its list-valued finish_reason when it generated several
// sequences (the first is kept).
base::Result<GenerateChunk> parse_generate_chunk(std::string_view body);
// One stream chunk as model_worker prints it (json.dumps), without the NUL: text, error_code,
// then usage, finish_reason, logprobs. With usage set, finish_reason and logprobs are always
// written (null when unset), as model_worker does; without usage each is written only when set,
// so an error chunk is {"text": ..., "error_code": ...}.
std::string write_generate_chunk(const GenerateChunk& chunk);
// The /worker_generate answer: the same members, FastAPI style.
std::string write_generate_answer(const GenerateChunk& chunk);

// ---------------------------------------------------------------------------------------------
// Stream framing (docs/fastchat-protocol.md §2 "Stream framing"): each chunk is its JSON text
// followed by one NUL byte; readers skip empty pieces between NULs.

// Appends one frame, `json` + '\0', to `out`. `json` must not contain a NUL byte (JSON text never
// does: python_json writes U+0000 as \u0000).
void append_frame(std::string& out, std::string_view json);

// Splits a /worker_generate_stream body into frames as it arrives, in pieces of any size.
class NulFrameReader {
 public:
  static constexpr std::size_t kDefaultMaxFrameBytes = 16 * 1024 * 1024;

  // A frame longer than `max_frame_bytes` (not counting its NUL) is refused: a worker cannot make
  // Shepherd buffer without bound.
  explicit NulFrameReader(std::size_t max_frame_bytes = kDefaultMaxFrameBytes)
      : max_frame_bytes_(max_frame_bytes) {}

  // Appends to `frames` each non-empty frame (without its NUL) completed by `bytes`, in order.
  // Bytes after the last NUL are kept for the next call. When a frame grows over the limit the
  // reader fails: the frames completed before it have been appended, the buffered bytes are
  // dropped, failed() becomes true and every later call does nothing.
  void feed(std::string_view bytes, std::vector<std::string>& frames);

  // Whether bytes of an unfinished frame are buffered. At the end of the body this means the
  // stream was cut (FastChat's API server drops such a tail; the controller's proxy relays it).
  bool pending() const { return !partial_.empty(); }

  // Whether a frame went over the limit. status() is then an Error with code
  // kUpstreamUnreachable (the worker's answer is malformed), else Ok.
  bool failed() const { return failed_; }
  base::Status status() const;

 private:
  std::size_t max_frame_bytes_;
  std::string partial_;  // bytes of a frame split across feeds
  bool failed_ = false;
};

}  // namespace shepherd::fastchat
