// FastChat's controller and worker wire protocol (fschat 0.2.36), as pure values: parse and write
// every JSON body the controller and the model workers exchange, frame and unframe the NUL-
// delimited generate stream, and print JSON byte for byte as Python does. No I/O.
//
// References are to docs/fastchat-protocol.md:
//   §0  constants: SERVER_ERROR_MSG and the ErrorCode values (kServerErrorMsg, error_codes).
//   §1  controller endpoints: /register_worker (RegisterWorker), /receive_heart_beat (HeartBeat,
//       HeartBeatAnswer), /list_*models (ModelList), /get_worker_address (ModelRequest,
//       WorkerAddress), /worker_get_status (WorkerStatus), /worker_generate_stream (proxied).
//   §2  worker endpoints: /worker_get_status (WorkerStatus), /worker_generate_stream and
//       /worker_generate (GenerateParams, GenerateChunk), /count_token (CountTokenRequest,
//       CountTokenAnswer), /model_details (ModelRequest, ModelDetails), /worker_get_embeddings
//       (EmbeddingsRequest, EmbeddingsAnswer); stream framing (NulFrameReader, append_frame).
//   §3.3 step 6: the generate params FastChat's OpenAI API server sends (write_generate_params).
// /worker_get_conv_template's answer (a Conversation) belongs to fastchat/conversation.hpp.
//
// Parsing. Every parse_* function takes a whole body, accepts only a JSON object (nesting at most
// kMaxJsonDepth, valid UTF-8), checks the types of the fields it knows and ignores the others.
// Every failure is an Error with code kBadRequest whose message names the body and the field
// (`param` holds the field's path, e.g. "worker_status.speed"); the caller that read the body
// from an upstream maps it to an upstream error. Nothing throws; no input can crash. An optional
// field that is null is treated as absent (GenerateParams::echo excepted); a required one must
// not be null. Doubles are read to the nearest double (as Python's float() does), so a parsed
// body written again with python_json prints its floats as the sender did.
//
// Writing. Python prints FastChat's bodies in two ways, and each write_* function uses the one
// FastChat uses for that body (see PythonJsonStyle):
//   - requests a FastChat process sends (requests / aiohttp / httpx `json=`) and stream chunks
//     (`json.dumps(ret)`): json.dumps defaults, `{"a": 1, "b": "\u00e9"}`;
//   - answers of FastAPI endpoints (Starlette's JSONResponse, including /worker_generate):
//     `{"a":1,"b":"é"}`.
//
// All functions are thread-safe (no shared state); a NulFrameReader is used by one thread at a
// time.
#pragma once

#include <boost/json/value.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "fastchat/generate.hpp"
#include "fastchat/python_json.hpp"

namespace shepherd::fastchat {

// ---------------------------------------------------------------------------------------------
// Constants (docs/fastchat-protocol.md §0)

// fastchat/constants.py SERVER_ERROR_MSG: the text of error chunks.
inline constexpr std::string_view kServerErrorMsg =
    "**NETWORK ERROR DUE TO HIGH TRAFFIC. PLEASE REGENERATE OR REFRESH THIS PAGE.**";

// fastchat/constants.py ErrorCode. Chunks and answers carry them as plain integers and a worker
// may send a code not listed here, so they are constants of the type the fields use, not an enum.
namespace error_codes {
inline constexpr std::int64_t kValidationTypeError = 40001;
inline constexpr std::int64_t kInvalidAuthKey = 40101;
inline constexpr std::int64_t kIncorrectAuthKey = 40102;
inline constexpr std::int64_t kNoPermission = 40103;
inline constexpr std::int64_t kInvalidModel = 40301;
inline constexpr std::int64_t kParamOutOfRange = 40302;
inline constexpr std::int64_t kContextOverflow = 40303;
inline constexpr std::int64_t kRateLimit = 42901;
inline constexpr std::int64_t kQuotaExceeded = 42902;
inline constexpr std::int64_t kEngineOverloaded = 42903;
inline constexpr std::int64_t kInternalError = 50001;
inline constexpr std::int64_t kCudaOutOfMemory = 50002;
inline constexpr std::int64_t kGradioRequestError = 50003;
inline constexpr std::int64_t kGradioStreamUnknownError = 50004;
inline constexpr std::int64_t kControllerNoWorker = 50005;
inline constexpr std::int64_t kControllerWorkerTimeout = 50006;
}  // namespace error_codes

// The text of a worker's error chunk: SERVER_ERROR_MSG + "\n\n(" + exception + ")" (§2). The
// controller's own error chunks (50005, 50006) carry kServerErrorMsg alone.
std::string server_error_text(std::string_view exception);

// The deepest nesting of arrays and objects a parsed body may have (Boost.JSON's default).
inline constexpr std::size_t kMaxJsonDepth = 32;

// ---------------------------------------------------------------------------------------------
// Controller and worker bodies (docs/fastchat-protocol.md §1, §2)

// The /worker_get_status answer of a worker (or of a controller, aggregated).
struct WorkerStatus {
  std::vector<std::string> model_names;
  // FastChat's workers always send the integer 1; a controller sends the sum of its workers'.
  double speed = 1;
  std::int64_t queue_length = 0;
};
// All three fields required; speed a non-negative number, queue_length a non-negative integer.
base::Result<WorkerStatus> parse_worker_status(std::string_view body);
// The answer, FastAPI style. An integral speed is written as an integer, as FastChat does.
std::string write_worker_status(const WorkerStatus& status);

// POST /register_worker.
struct RegisterWorker {
  std::string worker_name;  // the worker's base URL, e.g. "http://10.0.0.5:21002"
  bool check_heart_beat = false;
  // Absent, null and {} all mean "not given": the controller then asks the worker.
  std::optional<WorkerStatus> worker_status;
  bool multimodal = false;
};
// worker_name (a non-empty string) and check_heart_beat (a bool) required.
base::Result<RegisterWorker> parse_register_worker(std::string_view body);
// As base_model_worker sends it (json.dumps): worker_name, check_heart_beat, worker_status (left
// out when not given), multimodal.
std::string write_register_worker(const RegisterWorker& request);

// POST /receive_heart_beat and its answer.
struct HeartBeat {
  std::string worker_name;
  std::int64_t queue_length = 0;
};
base::Result<HeartBeat> parse_heart_beat(std::string_view body);  // both fields required
std::string write_heart_beat(const HeartBeat& request);           // json.dumps

struct HeartBeatAnswer {
  bool exist = false;  // false: the controller does not know the worker; it must re-register
};
base::Result<HeartBeatAnswer> parse_heart_beat_answer(std::string_view body);
std::string write_heart_beat_answer(const HeartBeatAnswer& answer);  // FastAPI style

// The /list_models, /list_multimodal_models and /list_language_models answer.
struct ModelList {
  std::vector<std::string> models;
};
base::Result<ModelList> parse_model_list(std::string_view body);
std::string write_model_list(const ModelList& list);  // FastAPI style

// The {"model": str} request of /get_worker_address, /model_details and
// /worker_get_conv_template.
struct ModelRequest {
  std::string model;
};
base::Result<ModelRequest> parse_model_request(std::string_view body);
std::string write_model_request(const ModelRequest& request);  // json.dumps

// The /get_worker_address answer; an empty address means no worker serves the model.
struct WorkerAddress {
  std::string address;
};
base::Result<WorkerAddress> parse_worker_address(std::string_view body);
std::string write_worker_address(const WorkerAddress& answer);  // FastAPI style

// POST /count_token and its answer.
struct CountTokenRequest {
  std::string model;
  std::string prompt;
};
base::Result<CountTokenRequest> parse_count_token_request(std::string_view body);
std::string write_count_token_request(const CountTokenRequest& request);  // json.dumps

struct CountTokenAnswer {
  std::int64_t count = 0;
  std::int64_t error_code = 0;
};
// count required (a non-negative integer); error_code 0 when absent.
base::Result<CountTokenAnswer> parse_count_token_answer(std::string_view body);
std::string write_count_token_answer(const CountTokenAnswer& answer);  // FastAPI style

// The /model_details answer.
struct ModelDetails {
  std::int64_t context_length = 0;
};
base::Result<ModelDetails> parse_model_details(std::string_view body);
std::string write_model_details(const ModelDetails& answer);  // FastAPI style

// FastAPI's error body, {"detail": reason}: what the controller and the worker answer with a 4xx.
std::string write_detail(std::string_view reason);
// The reason of such a body, when it is one with a string detail.
std::optional<std::string> parse_detail(std::string_view body);

// POST /worker_get_embeddings and its answer.
struct EmbeddingsRequest {
  std::string model;
  std::vector<std::string> input;
  std::optional<std::string> encoding_format;  // null or "base64"
};
// model and input (a list of strings) required.
base::Result<EmbeddingsRequest> parse_embeddings_request(std::string_view body);
// As the API server sends it (json.dumps): model, input, encoding_format (null when not set).
std::string write_embeddings_request(const EmbeddingsRequest& request);

struct EmbeddingsAnswer {
  // Success: one of the two lists, by encoding_format (float vectors, or base64 strings of the
  // little-endian float32 bytes).
  std::vector<std::vector<double>> embedding;
  std::vector<std::string> embedding_base64;
  std::int64_t token_num = 0;
  // Failure: a non-zero error_code with the message in text (then the fields above are empty).
  std::int64_t error_code = 0;
  std::string text;
};
// Either {"embedding", "token_num"} or {"text", "error_code"} with error_code non-zero.
base::Result<EmbeddingsAnswer> parse_embeddings_answer(std::string_view body);
// FastAPI style; embedding_base64 is written when embedding is empty and it is not.
std::string write_embeddings_answer(const EmbeddingsAnswer& answer);

}  // namespace shepherd::fastchat
