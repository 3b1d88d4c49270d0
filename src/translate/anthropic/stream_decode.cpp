// Anthropic's stream read into deltas (docs: messages-streaming, "Event types").
#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "translate/anthropic/internal.hpp"

namespace shepherd::translate {

namespace detail::anthropic {
namespace {

class AnthropicStreamDecoder final : public StreamDecoder {
 public:
  base::Status feed(std::string_view event, std::string_view data,
                    std::vector<Delta>& out) override {
    if (done_) return base::Ok{};
    Scratch<2048> scratch;
    json::value root(scratch.storage());
    const auto parsed = upstream_object(data, "a stream event", root);
    if (!parsed) return parsed.error();
    const json::object* o = *parsed;
    const auto* type_field = string_member(*o, "type");
    const std::string_view type = type_field ? sv(*type_field) : event;
    if (type == "message_start") return message_start(*o, out);
    if (type == "content_block_start") return block_start(*o, out);
    if (type == "content_block_delta") return block_delta(*o, out);
    if (type == "message_delta") return message_delta(*o, out);
    if (type == "message_stop") {
      message_stop(out);
      return base::Ok{};
    }
    if (type == "error") return error_event(*o, out);
    if (type.empty()) return unreadable("a stream event has no type", data);
    // content_block_stop and ping carry nothing; event types added later are to be ignored
    // (docs: messages-streaming, "Other events").
    return base::Ok{};
  }

  void end(std::vector<Delta>&) override {}

 private:
  void read_usage(const json::object& u) {
    const auto set = [&u](std::string_view key, std::int64_t& field) {
      const auto* v = member(u, key);
      const auto n = v ? integer(*v) : std::nullopt;
      if (n) field = std::max<std::int64_t>(*n, 0);
      return n.has_value();
    };
    bool any = set("input_tokens", input_);
    any |= set("cache_creation_input_tokens", cache_creation_);
    any |= set("cache_read_input_tokens", cache_read_);
    any |= set("output_tokens", output_);  // cumulative: the last count is the total
    usage_seen_ |= any;
  }

  base::Status message_start(const json::object& o, std::vector<Delta>& out) {
    const auto* message = object_member(o, "message");
    if (!message) return unreadable("message_start has no message");
    Delta d;
    d.kind = Delta::Kind::kStart;
    if (const auto* id = string_member(*message, "id")) d.id = sv(*id);
    if (const auto* model = string_member(*message, "model")) d.model = sv(*model);
    out.push_back(std::move(d));
    if (const auto* usage = object_member(*message, "usage")) read_usage(*usage);
    return base::Ok{};
  }

  base::Status block_start(const json::object& o, std::vector<Delta>& out) {
    const auto* index = member(o, "index");
    const auto block_index = index ? integer(*index) : std::nullopt;
    const auto* block = object_member(o, "content_block");
    const auto* type = block ? string_member(*block, "type") : nullptr;
    if (!block_index || !type) {
      return unreadable("content_block_start without an index or a typed block");
    }
    Delta d;
    if (*type == "text") {
      const auto* text = string_member(*block, "text");
      if (!text || text->empty()) return base::Ok{};
      d.kind = Delta::Kind::kText;
      d.text = sv(*text);
    } else if (*type == "thinking") {
      const auto* thinking = string_member(*block, "thinking");
      if (!thinking || thinking->empty()) return base::Ok{};
      d.kind = Delta::Kind::kThinking;
      d.text = sv(*thinking);
    } else if (*type == "redacted_thinking") {
      const auto* data = string_member(*block, "data");
      if (!data) return unreadable("a redacted_thinking block has no data");
      d.kind = Delta::Kind::kRedactedThinking;
      d.text = sv(*data);
    } else if (*type == "tool_use") {
      return tool_use_start(*block, *block_index, out);
    } else {
      return base::Ok{};  // server tool blocks: never asked for by requests encoded here
    }
    out.push_back(std::move(d));
    return base::Ok{};
  }

  base::Status tool_use_start(const json::object& block, std::int64_t block_index,
                              std::vector<Delta>& out) {
    const auto* id = string_member(block, "id");
    const auto* name = string_member(block, "name");
    if (!id || !name) return unreadable("a tool_use block has no id or name");
    const int call = tool_calls_++;
    tool_blocks_.emplace_back(block_index, call);
    Delta d;
    d.kind = Delta::Kind::kToolCall;
    d.index = call;
    d.id = sv(*id);
    d.name = sv(*name);
    out.push_back(std::move(d));
    // The input arrives as input_json_delta pieces; a start that already holds some passes it
    // on as the first piece.
    const auto* initial = object_member(block, "input");
    if (initial && !initial->empty()) {
      Delta args;
      args.kind = Delta::Kind::kToolArguments;
      args.index = call;
      args.text = json::serialize(*initial);
      out.push_back(std::move(args));
    }
    return base::Ok{};
  }

  base::Status block_delta(const json::object& o, std::vector<Delta>& out) {
    const auto* delta = object_member(o, "delta");
    const auto* type = delta ? string_member(*delta, "type") : nullptr;
    if (!type) return unreadable("content_block_delta without a typed delta");
    const auto piece = [&](std::string_view key, Delta::Kind kind) -> base::Status {
      const auto* s = string_member(*delta, key);
      if (!s) return unreadable(cat("a ", sv(*type), " has no ", key));
      if (s->empty()) return base::Ok{};
      Delta d;
      d.kind = kind;
      d.text = sv(*s);
      out.push_back(std::move(d));
      return base::Ok{};
    };
    if (*type == "text_delta") return piece("text", Delta::Kind::kText);
    if (*type == "thinking_delta") return piece("thinking", Delta::Kind::kThinking);
    if (*type == "signature_delta") return piece("signature", Delta::Kind::kSignature);
    if (*type == "input_json_delta") {
      const auto* index = member(o, "index");
      const auto block_index = index ? integer(*index) : std::nullopt;
      if (!block_index) return unreadable("input_json_delta without an index");
      const auto it = std::find_if(tool_blocks_.rbegin(), tool_blocks_.rend(),
                                   [&](const auto& b) { return b.first == *block_index; });
      if (it == tool_blocks_.rend()) return base::Ok{};  // a server tool's input
      const std::size_t before = out.size();
      if (auto s = piece("partial_json", Delta::Kind::kToolArguments); !s) return s;
      if (out.size() > before) out.back().index = it->second;
      return base::Ok{};
    }
    return base::Ok{};  // citations_delta and delta types added later
  }

  base::Status message_delta(const json::object& o, std::vector<Delta>& out) {
    if (const auto* delta = object_member(o, "delta")) {
      if (const auto* reason = string_member(*delta, "stop_reason")) {
        Delta d;
        d.kind = Delta::Kind::kFinish;
        d.stop_reason = stop_reason_of(sv(*reason));
        if (const auto* seq = string_member(*delta, "stop_sequence")) d.text = sv(*seq);
        out.push_back(std::move(d));
      }
    }
    if (const auto* usage = object_member(o, "usage")) read_usage(*usage);
    return base::Ok{};
  }

  void message_stop(std::vector<Delta>& out) {
    if (usage_seen_) {
      Delta d;
      d.kind = Delta::Kind::kUsage;
      d.usage = usage_from(input_, cache_creation_, cache_read_, output_);
      out.push_back(std::move(d));
    }
    Delta done;
    done.kind = Delta::Kind::kDone;
    out.push_back(std::move(done));
    done_ = true;
  }

  base::Status error_event(const json::object& o, std::vector<Delta>& out) {
    const auto* error = object_member(o, "error");
    const auto* type = error ? string_member(*error, "type") : nullptr;
    const auto* message = error ? string_member(*error, "message") : nullptr;
    const std::string_view type_name = type ? sv(*type) : "api_error";
    Delta d;
    d.kind = Delta::Kind::kError;
    d.error.code = ErrorCode::kUpstreamStatus;
    d.error.status = status_of_error_type(type_name);
    d.error.retryable = d.error.status == 429 || d.error.status >= 500;
    d.error.message = message && !message->empty()
                          ? std::string(utf8_prefix(sv(*message), kMaxMessageBytes))
                          : cat("the upstream reported an error (", type_name, ")");
    d.error.detail = cat("stream error event of type ", type_name);
    out.push_back(std::move(d));
    done_ = true;
    return base::Ok{};
  }

  // The block index of every tool_use block and the tool call it is.
  std::vector<std::pair<std::int64_t, int>> tool_blocks_;
  int tool_calls_ = 0;
  std::int64_t input_ = 0, cache_creation_ = 0, cache_read_ = 0, output_ = 0;
  bool usage_seen_ = false;
  bool done_ = false;
};

}  // namespace

std::unique_ptr<StreamDecoder> stream_decoder() {
  return std::make_unique<AnthropicStreamDecoder>();
}

}  // namespace detail::anthropic
}  // namespace shepherd::translate
