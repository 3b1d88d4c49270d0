#include "fastchat/worker_codec.hpp"

#include "api/sse.hpp"
#include "fastchat/protocol.hpp"

namespace shepherd::fastchat {

namespace {

using translate::Delta;
using translate::StopReason;

std::string finish_reason(StopReason reason) {
  return reason == StopReason::kMaxTokens ? "length" : "stop";
}

Usage usage_of(const translate::Usage& u) {
  return Usage{u.prompt_tokens, u.completion_tokens, u.prompt_tokens + u.completion_tokens};
}

GenerateChunk error_chunk(const base::Error& error) {
  GenerateChunk chunk;
  chunk.text = server_error_text(error.message);
  chunk.error_code = fastchat_error_code(error);
  return chunk;
}

class WorkerStreamEncoder final : public translate::StreamEncoder {
 public:
  explicit WorkerStreamEncoder(const translate::Request& request)
      : prompt_tokens_(translate::estimate_tokens(request)) {}

  void encode(const Delta& d, std::string& out) override {
    switch (d.kind) {
      case Delta::Kind::kText:
        // Held until the batch ends (flush): the text is cumulative, so one chunk per upstream
        // read says what one per delta would, in linear rather than quadratic bytes.
        if (d.text.empty()) return;
        text_ += d.text;
        ++pieces_;
        held_ = true;
        return;
      case Delta::Kind::kFinish:
        finish_ = finish_reason(d.stop_reason);
        return;
      case Delta::Kind::kUsage:
        usage_ = usage_of(d.usage);
        return;
      case Delta::Kind::kError:
        return error(d.error, out);
      case Delta::Kind::kDone:
        flush(out);
        return send(out, finish_.empty() ? std::string("stop") : finish_);
      default:  // thinking, signatures and tool calls have no place in a FastChat chunk
        return;
    }
  }

  void error(const base::Error& error, std::string& out) override {
    flush(out);
    api::append_http_chunk(out, error_frame(error));
  }

  void flush(std::string& out) override {
    if (!held_) return;
    held_ = false;
    send(out, std::nullopt);
  }

 private:
  // A chunk with the text so far; the last one (with its finish reason) carries the provider's
  // usage when it sent any.
  void send(std::string& out, std::optional<std::string> finish) {
    GenerateChunk chunk;
    chunk.text = text_;
    if (finish && usage_) {
      chunk.usage = *usage_;
    } else {
      chunk.usage = Usage{prompt_tokens_, pieces_, prompt_tokens_ + pieces_};
    }
    chunk.finish_reason = std::move(finish);
    std::string frame;
    append_frame(frame, write_generate_chunk(chunk));
    api::append_http_chunk(out, frame);
  }

  std::int64_t prompt_tokens_;
  std::int64_t pieces_ = 0;
  std::string text_;
  std::string finish_;
  std::optional<Usage> usage_;
  bool held_ = false;  // text arrived since the last chunk sent
};

}  // namespace

std::int64_t fastchat_error_code(const base::Error& error) {
  switch (error.code) {
    case base::ErrorCode::kBadRequest:
      return error.upstream_body == "context_length_exceeded" ? error_codes::kContextOverflow
                                                              : error_codes::kParamOutOfRange;
    case base::ErrorCode::kRateLimited:
      return error_codes::kRateLimit;
    case base::ErrorCode::kQuotaExceeded:
      return error_codes::kQuotaExceeded;
    case base::ErrorCode::kModelNotFound:
      return error_codes::kInvalidModel;
    case base::ErrorCode::kUnavailable:
      return error_codes::kEngineOverloaded;
    default:
      return error_codes::kInternalError;
  }
}

void WorkerCodec::encode_response(const translate::Request& request,
                                  const translate::Response& response, std::string_view,
                                  std::string& out) const {
  GenerateChunk chunk;
  for (const auto& part : response.content) {
    if (part.kind == translate::Part::Kind::kText) chunk.text += part.text;
  }
  if (response.usage) {
    chunk.usage = usage_of(*response.usage);
  } else {
    const auto prompt = translate::estimate_tokens(request);
    const auto completion = static_cast<std::int64_t>(chunk.text.size() + 3) / 4;
    chunk.usage = Usage{prompt, completion, prompt + completion};
  }
  chunk.finish_reason = finish_reason(response.stop_reason);
  out += write_generate_answer(chunk);
}

std::unique_ptr<translate::StreamEncoder> WorkerCodec::stream_encoder(
    const translate::Request& request, std::string_view) const {
  return std::make_unique<WorkerStreamEncoder>(request);
}

std::string error_frame(const base::Error& error) {
  std::string frame;
  append_frame(frame, write_generate_chunk(error_chunk(error)));
  return frame;
}

std::string WorkerCodec::error_body(const base::Error& error) const {
  return write_generate_answer(error_chunk(error));
}

const translate::Codec& worker_codec() {
  static const WorkerCodec codec;
  return codec;
}

}  // namespace shepherd::fastchat
