#include "providers/fastchat/generate_codec.hpp"

#include <algorithm>

#include "fastchat/protocol.hpp"

namespace shepherd::providers::fastchat {

namespace fc = shepherd::fastchat;
using base::ErrorCode;
using translate::Delta;
using translate::StopReason;

namespace {

constexpr std::int64_t kDefaultMaxNewTokens = 1024;

StopReason stop_reason(std::string_view finish) {
  return finish == "length" ? StopReason::kMaxTokens : StopReason::kEndTurn;
}

translate::Usage usage_of(const fc::Usage& u) {
  translate::Usage out;
  out.prompt_tokens = u.prompt_tokens;
  out.completion_tokens = u.completion_tokens;
  return out;
}

base::Error malformed(std::string_view what, const base::Error& e) {
  auto out =
      base::make_error(ErrorCode::kUpstreamUnreachable,
                       "the FastChat worker sent a malformed " + std::string(what), e.message);
  out.retryable = true;
  return out;
}

std::string without_replacement_chars(std::string text) {
  constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD in UTF-8
  for (auto at = text.find(kReplacement); at != std::string::npos;
       at = text.find(kReplacement, at)) {
    text.erase(at, kReplacement.size());
  }
  return text;
}

Delta delta(Delta::Kind kind) {
  Delta d;
  d.kind = kind;
  return d;
}

// The last non-empty frame of a body of NUL-terminated frames (or the body itself).
std::string_view last_frame(std::string_view body) {
  while (!body.empty() && body.back() == '\0') body.remove_suffix(1);
  const auto nul = body.rfind('\0');
  return nul == std::string_view::npos ? body : body.substr(nul + 1);
}

class GenerateStreamDecoder final : public translate::StreamDecoder {
 public:
  base::Status feed(std::string_view, std::string_view data, std::vector<Delta>& out) override {
    auto chunk = fc::parse_generate_chunk(data);
    if (!chunk) return malformed("stream chunk", chunk.error());
    if (chunk->error_code != 0) return generate_error(chunk->error_code, chunk->text, "");
    if (!started_) {
      started_ = true;
      out.push_back(delta(Delta::Kind::kStart));
    }
    // The text is cumulative: what is new is what follows the text already passed on. As
    // FastChat's API server does, U+FFFD (a worker's placeholder for a character it has only
    // part of) is removed first, and a text that got shorter (a stop string withheld, then cut)
    // has nothing new to say.
    auto text = without_replacement_chars(chunk->text);
    if (text.size() > sent_) {
      Delta d;
      d.kind = Delta::Kind::kText;
      d.text = text.substr(sent_);
      sent_ = text.size();
      out.push_back(std::move(d));
    }
    if (!chunk->finish_reason) return base::Ok{};
    Delta finish;
    finish.kind = Delta::Kind::kFinish;
    finish.stop_reason = stop_reason(*chunk->finish_reason);
    out.push_back(std::move(finish));
    if (chunk->usage) {
      Delta usage;
      usage.kind = Delta::Kind::kUsage;
      usage.usage = usage_of(*chunk->usage);
      out.push_back(std::move(usage));
    }
    out.push_back(delta(Delta::Kind::kDone));
    return base::Ok{};
  }

  // A FastChat stream ends with its chunk that has a finish reason; a body that ends before it
  // was cut, and the pipeline reports it so.
  void end(std::vector<Delta>&) override {}

 private:
  bool started_ = false;
  std::size_t sent_ = 0;
};

}  // namespace

base::Error generate_error(std::int64_t code, std::string_view text, std::string_view provider) {
  // The worker's text is SERVER_ERROR_MSG + "\n\n(" + exception + ")": the exception says more.
  std::string reason(text);
  if (const auto open = reason.find("\n\n("); open != std::string::npos && reason.ends_with(')')) {
    reason = reason.substr(open + 3, reason.size() - open - 4);
  }
  const std::string who = provider.empty()
                              ? "the FastChat worker"
                              : "the FastChat worker of '" + std::string(provider) + "'";
  base::Error e;
  if (code >= 40300 && code < 40400) {
    e = base::make_error(ErrorCode::kBadRequest, who + " refused the request: " + reason);
    if (code == fc::error_codes::kContextOverflow) e.upstream_body = "context_length_exceeded";
  } else if (code == fc::error_codes::kRateLimit || code == fc::error_codes::kQuotaExceeded) {
    e = base::make_error(ErrorCode::kRateLimited, who + " is rate limited: " + reason);
    e.status = 429;
    e.retryable = true;
  } else {
    e = base::make_error(ErrorCode::kUpstreamUnreachable,
                         who + " failed (FastChat error " + std::to_string(code) + ")", reason);
    e.retryable = true;
  }
  return e;
}

base::Status encode_generate(const fc::Conversation& conv, const translate::Request& request,
                             std::string_view upstream_model, std::string& out) {
  auto prompt = fc::render_prompt(conv, request);
  if (!prompt) return std::move(prompt).error();
  fc::GenerateParams p;
  p.model = std::string(upstream_model);
  p.prompt = std::move(prompt).value();
  p.temperature = request.temperature.value_or(0.7);
  p.top_p = request.top_p.value_or(1.0);
  p.top_k = request.top_k.value_or(-1);
  p.presence_penalty = request.presence_penalty.value_or(0.0);
  p.frequency_penalty = request.frequency_penalty.value_or(0.0);
  p.repetition_penalty = request.repetition_penalty;
  p.max_new_tokens = request.max_tokens.value_or(kDefaultMaxNewTokens);
  p.echo = false;
  // The request's stop strings and the template's, each once (FastChat: list(set(...))).
  for (const auto* list : {&request.stop, &conv.stop_str}) {
    for (const auto& s : *list) {
      if (std::find(p.stop.begin(), p.stop.end(), s) == p.stop.end()) p.stop.push_back(s);
    }
  }
  if (!conv.stop_token_ids.empty()) p.stop_token_ids = conv.stop_token_ids;
  out = fc::write_generate_params(p);
  return base::Ok{};
}

base::Status GenerateCodec::encode_request(const translate::Request& request,
                                           std::string_view upstream_model,
                                           std::string& out) const {
  return encode_generate(*fc::find_template("chatml"), request, upstream_model, out);
}

base::Result<translate::Response> GenerateCodec::decode_response(std::string_view body) const {
  auto chunk = fc::parse_generate_chunk(last_frame(body));
  if (!chunk) return malformed("answer", chunk.error());
  if (chunk->error_code != 0) return generate_error(chunk->error_code, chunk->text, "");
  translate::Response r;
  translate::Part text;
  text.text = std::move(chunk->text);
  r.content.push_back(std::move(text));
  r.stop_reason = stop_reason(chunk->finish_reason.value_or("stop"));
  if (chunk->usage) r.usage = usage_of(*chunk->usage);
  return r;
}

std::unique_ptr<translate::StreamDecoder> GenerateCodec::stream_decoder() const {
  return std::make_unique<GenerateStreamDecoder>();
}

std::string GenerateCodec::error_message(std::string_view body) const {
  // FastAPI's {"detail": ...} (a 4xx of the worker or controller), else the body's start.
  if (auto detail = fc::parse_detail(body)) return *detail;
  return std::string(body.substr(0, 500));
}

const translate::Codec& generate_codec() {
  static const GenerateCodec codec;
  return codec;
}

}  // namespace shepherd::providers::fastchat
