// Fixtures of the FastChat protocol tests: bytes as FastChat's processes print them.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace shepherd::fastchat::test_fixtures {

using namespace std::string_literals;

// Fixtures: bytes as FastChat's processes print them, written from docs/fastchat-protocol.md §1-§2
// and Python's documented json rules (json.dumps: ", " and ": ", ASCII only; Starlette's
// JSONResponse: "," and
// ":", UTF-8), never from this module's output.

// §2 "Stream framing": the example stream; ␀ is the NUL byte.
inline const std::string kExampleStream =
    R"({"text": "Paris", "error_code": 0, "usage": {"prompt_tokens": 41, "completion_tokens": 0, "total_tokens": 41}, "finish_reason": null, "logprobs": null})"
    "\0"s
    R"({"text": "Paris is the capital", "error_code": 0, "usage": {"prompt_tokens": 41, "completion_tokens": 4, "total_tokens": 45}, "finish_reason": null, "logprobs": null})"
    "\0"s
    R"({"text": "Paris is the capital.", "error_code": 0, "usage": {"prompt_tokens": 41, "completion_tokens": 6, "total_tokens": 47}, "finish_reason": null, "logprobs": null})"
    "\0"s
    R"({"text": "Paris is the capital.", "error_code": 0, "usage": {"prompt_tokens": 41, "completion_tokens": 6, "total_tokens": 47}, "finish_reason": "stop", "logprobs": null})"
    "\0"s;

inline std::vector<std::string> example_frames() {
  std::vector<std::string> frames;
  std::string_view rest = kExampleStream;
  while (!rest.empty()) {
    const auto nul = rest.find('\0');
    frames.emplace_back(rest.substr(0, nul));
    rest.remove_prefix(nul + 1);
  }
  return frames;
}

// §2 error example, with a concrete exception text.
inline constexpr std::string_view kErrorChunk =
    R"j({"text": "**NETWORK ERROR DUE TO HIGH TRAFFIC. PLEASE REGENERATE OR REFRESH THIS PAGE.**\n\n(CUDA out of memory. Tried to allocate 20.00 MiB)", "error_code": 50002})j";

// §2 "Registration and heartbeat": what base_model_worker posts (requests, json.dumps).
inline constexpr std::string_view kRegisterBody =
    R"({"worker_name": "http://localhost:21002", "check_heart_beat": true, "worker_status": {"model_names": ["vicuna-7b-v1.5"], "speed": 1, "queue_length": 0}, "multimodal": false})";
inline constexpr std::string_view kHeartBeatBody =
    R"({"worker_name": "http://localhost:21002", "queue_length": 3})";
// /worker_get_status answer (FastAPI).
inline constexpr std::string_view kStatusAnswer =
    R"({"model_names":["vicuna-7b-v1.5"],"speed":1,"queue_length":0})";

// §3.3 step 6: the API server's gen_params for a vicuna chat request (stop_str None, no stop).
inline constexpr std::string_view kChatGenParams =
    R"({"model": "vicuna-7b-v1.5", "prompt": "A chat between a curious user and an artificial intelligence assistant. USER: Hi ASSISTANT:", "temperature": 0.7, "logprobs": null, "top_p": 1.0, "top_k": -1, "presence_penalty": 0.0, "frequency_penalty": 0.0, "max_new_tokens": 4055, "echo": false, "stop_token_ids": null, "stop": []})";

}  // namespace shepherd::fastchat::test_fixtures
