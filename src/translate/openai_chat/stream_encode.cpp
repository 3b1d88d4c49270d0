// The stream encoder: deltas as chat.completion.chunk events for a client.
#include "api/openai.hpp"
#include "translate/openai_chat/internal.hpp"

namespace shepherd::translate::openai_chat {
namespace {

class ChatStreamEncoder final : public StreamEncoder {
 public:
  ChatStreamEncoder(const Request& request, std::string_view model)
      : model_(model), include_usage_(request.include_usage) {}

  void encode(const Delta& d, std::string& out) override {
    if (d.kind == Delta::Kind::kStart) {
      start(d.id, d.created);
      chunk_begin() += "{\"role\":\"assistant\",\"content\":\"\"}";
      return chunk_end(out, {});
    }
    if (prefix_.empty()) start({}, 0);
    switch (d.kind) {
      case Delta::Kind::kStart:
        break;
      case Delta::Kind::kText:
      case Delta::Kind::kThinking:
        if (d.text.empty()) return;
        return text_chunk(
            out, d.kind == Delta::Kind::kText ? "{\"content\":" : "{\"reasoning_content\":", d.text,
            "}");
      case Delta::Kind::kSignature:
        return text_chunk(out,
                          R"({"thinking_blocks":[{"type":"thinking","thinking":"","signature":)",
                          d.text, "}]}");
      case Delta::Kind::kRedactedThinking:
        return text_chunk(out, R"({"thinking_blocks":[{"type":"redacted_thinking","data":)", d.text,
                          "}]}");
      case Delta::Kind::kToolCall:
        append_call_members(call_chunk_begin(d.index), d.id, d.name, {});
        return call_chunk_end(out);
      case Delta::Kind::kToolArguments: {
        auto& data = call_chunk_begin(d.index);
        data += "\"function\":{\"arguments\":";
        append_quoted(data, d.text);
        data.push_back('}');
        return call_chunk_end(out);
      }
      case Delta::Kind::kFinish:
        chunk_begin() += "{}";
        return chunk_end(out, finish_reason(d.stop_reason));
      case Delta::Kind::kUsage: {
        // OpenAI's include_usage: one more chunk, with no choices, after the finish reason.
        if (!include_usage_) return;
        data_ = prefix_;
        data_ += "\"choices\":[],\"usage\":";
        append_usage(data_, d.usage);
        data_.push_back('}');
        return append_sse_chunk(out, "", data_);
      }
      case Delta::Kind::kError:
        return error(d.error, out);
      case Delta::Kind::kDone:
        return append_sse_chunk(out, "", "[DONE]");
    }
  }

  void error(const base::Error& error, std::string& out) override {
    append_sse_chunk(out, "", api::error_body(error));
  }

 private:
  void start(std::string_view id, std::int64_t created) {
    prefix_ = "{\"id\":";
    append_quoted(prefix_, with_prefix(id, kIdPrefix));
    prefix_ += ",\"object\":\"chat.completion.chunk\",\"created\":";
    append_int(prefix_, created);
    prefix_ += ",\"model\":";
    append_quoted(prefix_, model_);
    prefix_.push_back(',');
  }

  // The chunk up to its delta's value, in the scratch buffer; chunk_end closes and sends it.
  std::string& chunk_begin() {
    data_ = prefix_;
    data_ += "\"choices\":[{\"index\":0,\"delta\":";
    return data_;
  }

  // A chunk whose delta is `open`, `text` as a JSON string, then `close`.
  void text_chunk(std::string& out, std::string_view open, std::string_view text,
                  std::string_view close) {
    auto& data = chunk_begin();
    data += open;
    append_quoted(data, text);
    data += close;
    chunk_end(out, {});
  }

  // A chunk of one tool call, up to the call's members; call_chunk_end closes and sends it.
  std::string& call_chunk_begin(int index) {
    auto& data = chunk_begin();
    data += "{\"tool_calls\":[{\"index\":";
    append_int(data, index);
    data.push_back(',');
    return data;
  }

  void call_chunk_end(std::string& out) {
    data_ += "}]}";
    chunk_end(out, {});
  }

  void chunk_end(std::string& out, std::string_view reason) {
    data_ += ",\"logprobs\":null,\"finish_reason\":";
    if (reason.empty()) {
      data_ += "null";
    } else {
      append_quoted(data_, reason);
    }
    data_ += "}]}";
    append_sse_chunk(out, "", data_);
  }

  std::string model_;
  bool include_usage_;
  std::string prefix_;  // {"id":...,"object":...,"created":...,"model":...,
  std::string data_;    // the chunk being written (its buffer is reused)
};

}  // namespace

std::unique_ptr<StreamEncoder> make_stream_encoder(const Request& request, std::string_view model) {
  return std::make_unique<ChatStreamEncoder>(request, model);
}

}  // namespace shepherd::translate::openai_chat
