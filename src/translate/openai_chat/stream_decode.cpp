// The stream decoder: an OpenAI-compatible provider's chat.completion.chunk events as deltas.
#include <limits>
#include <utility>

#include "translate/openai_chat/internal.hpp"

namespace shepherd::translate::openai_chat {
namespace {

class ChatStreamDecoder final : public StreamDecoder {
 public:
  base::Status feed(std::string_view, std::string_view data, std::vector<Delta>& out) override {
    if (done_) return base::Ok{};
    const auto first = data.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) return base::Ok{};  // an empty keep-alive event
    data.remove_prefix(first);
    if (data.substr(0, 6) == "[DONE]") {
      finish(out);
      return base::Ok{};
    }

    unsigned char buffer[kParseBuffer];
    json::monotonic_resource mr(buffer, sizeof buffer);
    boost::system::error_code ec;
    const auto root = parse(data, kUpstreamMaxDepth, &mr, ec);
    if (!root || !root->is_object()) {
      return unreadable("a stream event is not a JSON object", data);
    }
    const auto& chunk = root->get_object();

    if (auto error = stream_error(chunk, data)) {
      done_ = true;
      auto& d = out.emplace_back(make_delta(Delta::Kind::kError));
      d.error = std::move(*error);
      return base::Ok{};
    }
    if (!started_) {
      started_ = true;
      auto& start = out.emplace_back(make_delta(Delta::Kind::kStart));
      start.id = string_or_empty(chunk, "id");
      start.model = string_or_empty(chunk, "model");
      if (const auto* created = member(chunk, "created")) {
        start.created = integer(*created).value_or(0);
      }
    }
    // Every chunk may carry usage (vLLM's continuous usage stats); the last one is the total.
    if (const auto* usage = object_member(chunk, "usage")) usage_ = read_usage(*usage);
    const auto* choices = member(chunk, "choices");
    if (!choices) return base::Ok{};
    if (!choices->is_array()) return unreadable("a stream chunk's choices is not an array", data);
    // n is always 1 for translated requests: the first choice is the answer.
    if (choices->get_array().empty()) return base::Ok{};
    const auto* choice = choices->get_array()[0].if_object();
    if (!choice) return unreadable("a stream chunk's choice is not an object", data);
    if (const auto* delta = object_member(*choice, "delta")) {
      if (auto s = read_delta(*delta, data, out); !s) return s;
    }
    if (const auto* reason = string_member(*choice, "finish_reason"); reason && !finished_) {
      finished_ = true;
      out.emplace_back(make_delta(Delta::Kind::kFinish)).stop_reason =
          stop_reason(sv(*reason), !call_indexes_.empty());
    }
    return base::Ok{};
  }

  // A body that ends after the finish reason but without "[DONE]" (some OpenAI-compatible
  // servers) is complete; one that ends before it was cut off and gets nothing.
  void end(std::vector<Delta>& out) override {
    if (!done_ && finished_) finish(out);
  }

 private:
  void finish(std::vector<Delta>& out) {
    done_ = true;
    if (!started_) out.push_back(make_delta(Delta::Kind::kStart));
    if (!finished_) {
      out.emplace_back(make_delta(Delta::Kind::kFinish)).stop_reason =
          stop_reason("stop", !call_indexes_.empty());
    }
    if (usage_) out.emplace_back(make_delta(Delta::Kind::kUsage)).usage = *usage_;
    out.push_back(make_delta(Delta::Kind::kDone));
  }

  // An error inside a 200 stream: OpenAI's {"error":{message,type,code}}, or vLLM's
  // {"object":"error","message","code"}.
  static std::optional<base::Error> stream_error(const json::object& chunk, std::string_view data) {
    const json::object* body = nullptr;
    std::string_view message;
    if (const auto* e = member(chunk, "error")) {
      body = e->if_object();
      message = body ? string_or_empty(*body, "message")
                     : (e->is_string() ? sv(e->get_string()) : std::string_view());
    } else if (string_or_empty(chunk, "object") == "error") {
      body = &chunk;
      message = string_or_empty(chunk, "message");
    } else {
      return std::nullopt;
    }
    int status = 500;
    if (body) {
      if (const auto* code = member(*body, "code")) {
        const auto n = integer(*code);
        if (n && *n >= 400 && *n <= 599) status = static_cast<int>(*n);
        if (const auto* s = code->if_string(); s && *s == "rate_limit_exceeded") status = 429;
      }
    }
    auto e = base::make_error(base::ErrorCode::kUpstreamStatus,
                              message.empty() ? std::string("the upstream reported an error")
                                              : std::string(utf8_prefix(message, 500)),
                              cat("stream error event: ", excerpt(data)));
    e.status = status;
    e.retryable = status == 429 || status >= 500;
    if (body && body != &chunk) e.upstream_body = data;
    return e;
  }

  base::Status read_delta(const json::object& delta, std::string_view data,
                          std::vector<Delta>& out) {
    auto thinking = reasoning_text(delta);
    for_each_thinking_block(delta, [&](std::string_view type, const json::object& b) {
      if (type == "thinking") {
        // LiteLLM repeats the reasoning text in the block; it is read once.
        if (thinking.empty()) thinking = string_or_empty(b, "thinking");
        const auto signature = string_or_empty(b, "signature");
        if (!thinking.empty()) {
          out.push_back(make_delta(Delta::Kind::kThinking, thinking));
          thinking = {};
        }
        if (!signature.empty()) out.push_back(make_delta(Delta::Kind::kSignature, signature));
      } else if (type == "redacted_thinking") {
        out.push_back(make_delta(Delta::Kind::kRedactedThinking, string_or_empty(b, "data")));
      }
    });
    if (!thinking.empty()) {
      out.push_back(make_delta(Delta::Kind::kThinking, thinking));
    }
    for (const std::string_view key : {"content", "refusal"}) {
      if (const auto text = string_or_empty(delta, key); !text.empty()) {
        out.push_back(make_delta(Delta::Kind::kText, text));
      }
    }
    const auto* calls = member(delta, "tool_calls");
    if (!calls) return base::Ok{};
    if (!calls->is_array()) return unreadable("a stream chunk's tool_calls is not an array", data);
    for (const auto& v : calls->get_array()) {
      const auto* call = v.if_object();
      if (!call) return unreadable("a stream chunk's tool call is not an object", data);
      const auto* f = object_member(*call, "function");
      const auto id = string_or_empty(*call, "id");
      const auto name = f ? string_or_empty(*f, "name") : std::string_view();
      const auto index = call_index(*call, !id.empty() || !name.empty());
      if (!id.empty() || !name.empty()) {
        auto& d = out.emplace_back(make_delta(Delta::Kind::kToolCall, {}, index));
        d.id = id;
        d.name = name;
      }
      if (const auto args = f ? string_or_empty(*f, "arguments") : std::string_view();
          !args.empty()) {
        out.push_back(make_delta(Delta::Kind::kToolArguments, args, index));
      }
    }
    return base::Ok{};
  }

  // The 0-based position of a call among this answer's calls. Provider indexes are usually
  // exactly that, but are not trusted to be dense (or present): they are mapped in order of
  // first appearance, and a chunk without one continues the latest call unless it opens one.
  int call_index(const json::object& call, bool opens) {
    const auto* v = member(call, "index");
    const auto provider = v ? integer(*v) : std::nullopt;
    if (provider) {
      for (std::size_t k = 0; k < call_indexes_.size(); ++k) {
        if (call_indexes_[k] == *provider) return static_cast<int>(k);
      }
      call_indexes_.push_back(*provider);
      return static_cast<int>(call_indexes_.size() - 1);
    }
    if (opens || call_indexes_.empty()) {
      call_indexes_.push_back(std::numeric_limits<std::int64_t>::min());
    }
    return static_cast<int>(call_indexes_.size() - 1);
  }

  bool started_ = false;
  bool finished_ = false;
  bool done_ = false;
  std::optional<Usage> usage_;
  std::vector<std::int64_t> call_indexes_;
};

}  // namespace

std::unique_ptr<StreamDecoder> make_stream_decoder() {
  return std::make_unique<ChatStreamDecoder>();
}

}  // namespace shepherd::translate::openai_chat
