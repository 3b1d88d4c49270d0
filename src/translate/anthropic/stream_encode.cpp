// Deltas written as Anthropic's stream for a client (docs: messages-streaming, "Event types").
#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "translate/anthropic/internal.hpp"

namespace shepherd::translate {

namespace detail::anthropic {
namespace {

class AnthropicStreamEncoder final : public StreamEncoder {
 public:
  explicit AnthropicStreamEncoder(std::string_view model) : model_(model) {}

  void encode(const Delta& d, std::string& out) override {
    if (ended_) return;
    if (d.kind == Delta::Kind::kError) return error(d.error, out);
    if (d.kind != Delta::Kind::kStart && !started_) start({}, out);
    switch (d.kind) {
      case Delta::Kind::kStart:
        if (!started_) start(d.id, out);
        break;
      case Delta::Kind::kText:
        piece(Block::kText, "text_delta", "text", d, out);
        break;
      case Delta::Kind::kThinking:
        piece(Block::kThinking, "thinking_delta", "thinking", d, out);
        break;
      case Delta::Kind::kSignature:
        piece(Block::kThinking, "signature_delta", "signature", d, out);
        break;
      case Delta::Kind::kRedactedThinking:
        open(Block::kRedactedThinking, d, out);
        break;
      case Delta::Kind::kToolCall:
        open(Block::kToolUse, d, out);
        break;
      case Delta::Kind::kToolArguments:
        if (!d.text.empty()) arguments(d, out);
        break;
      case Delta::Kind::kFinish:
        stop_reason_ = d.stop_reason;
        stop_sequence_ = d.text;
        if (usage_) finish(out);
        break;
      case Delta::Kind::kUsage:
        usage_ = d.usage;
        if (stop_reason_) finish(out);
        break;
      case Delta::Kind::kDone:
        finish(out);
        append_sse_chunk(out, "message_stop", R"({"type":"message_stop"})");
        ended_ = true;
        break;
      case Delta::Kind::kError:
        break;  // handled above
    }
  }

  void error(const base::Error& e, std::string& out) override {
    if (ended_) return;
    buf_.clear();
    append_error(buf_, e);
    append_sse_chunk(out, "error", buf_);
    ended_ = true;
  }

 private:
  enum class Block { kNone, kText, kThinking, kToolUse, kRedactedThinking };

  void start(std::string_view id, std::string& out) {
    started_ = true;
    buf_.assign(R"({"type":"message_start","message":{"id":)");
    append_quoted(buf_, with_prefix(id, "msg_"));
    buf_.append(R"(,"type":"message","role":"assistant","model":)");
    append_quoted(buf_, model_);
    buf_.append(R"(,"content":[],"stop_reason":null,"stop_sequence":null,)"
                R"("usage":{"input_tokens":0,"output_tokens":0}}})");
    append_sse_chunk(out, "message_start", buf_);
    append_sse_chunk(out, "ping", R"({"type":"ping"})");
  }

  void close(std::string& out) {
    if (open_ == Block::kNone) return;
    buf_.assign(R"({"type":"content_block_stop","index":)");
    append_int(buf_, block_);
    buf_.push_back('}');
    append_sse_chunk(out, "content_block_stop", buf_);
    open_ = Block::kNone;
  }

  void open(Block kind, const Delta& d, std::string& out) {
    close(out);
    block_ = next_block_++;
    open_ = kind;
    buf_.assign(R"({"type":"content_block_start","index":)");
    append_int(buf_, block_);
    buf_.append(R"(,"content_block":)");
    switch (kind) {
      case Block::kText:
        buf_.append(R"({"type":"text","text":""})");
        break;
      case Block::kThinking:
        buf_.append(R"({"type":"thinking","thinking":"","signature":""})");
        break;
      case Block::kRedactedThinking:
        buf_.append(R"({"type":"redacted_thinking","data":)");
        append_quoted(buf_, d.text);
        buf_.push_back('}');
        break;
      case Block::kToolUse:
        open_call_ = d.index;
        call_blocks_.emplace_back(d.index, block_);
        buf_.append(R"({"type":"tool_use","id":)");
        append_quoted(buf_, d.id);
        buf_.append(R"(,"name":)");
        append_quoted(buf_, d.name);
        buf_.append(R"(,"input":{}})");
        break;
      case Block::kNone:
        break;
    }
    buf_.push_back('}');
    append_sse_chunk(out, "content_block_start", buf_);
  }

  void delta(std::string_view type, std::string_view field, std::string_view text, int block,
             std::string& out) {
    buf_.assign(R"({"type":"content_block_delta","index":)");
    append_int(buf_, block);
    buf_.append(R"(,"delta":{"type":")").append(type).append(R"(",")").append(field).append("\":");
    append_quoted(buf_, text);
    buf_.append("}}");
    append_sse_chunk(out, "content_block_delta", buf_);
  }

  // A piece of text of a `kind` block, in the open one or in a new one.
  void piece(Block kind, std::string_view type, std::string_view field, const Delta& d,
             std::string& out) {
    if (d.text.empty()) return;
    if (open_ != kind) open(kind, d, out);
    delta(type, field, d.text, block_, out);
  }

  void arguments(const Delta& d, std::string& out) {
    if (open_ == Block::kToolUse && open_call_ == d.index) {
      delta("input_json_delta", "partial_json", d.text, block_, out);
      return;
    }
    // Pieces of a call whose block was already closed (providers that interleave parallel
    // calls) go to that block: each event names its block index, and clients accumulate by
    // index.
    const auto it = std::find_if(call_blocks_.begin(), call_blocks_.end(),
                                 [&](const auto& b) { return b.first == d.index; });
    if (it != call_blocks_.end())
      delta("input_json_delta", "partial_json", d.text, it->second, out);
  }

  // The end of the answer: the open block's stop, then message_delta with the stop reason and
  // the usage (docs: messages-streaming, "Event flow").
  void finish(std::string& out) {
    if (finished_) return;
    finished_ = true;
    close(out);
    const Usage u = usage_.value_or(Usage{});
    const StopReason reason = stop_reason_.value_or(StopReason::kEndTurn);
    buf_.assign(R"({"type":"message_delta","delta":{"stop_reason":")");
    buf_.append(stop_reason_name(reason)).append(R"(","stop_sequence":)");
    if (reason == StopReason::kStopSequence && !stop_sequence_.empty()) {
      append_quoted(buf_, stop_sequence_);
    } else {
      buf_.append("null");
    }
    buf_.append(R"(},"usage":{"output_tokens":)");
    append_int(buf_, u.completion_tokens);
    buf_.append(R"(,"input_tokens":)");
    append_int(buf_, uncached_input_tokens(u));
    buf_.append(R"(,"cache_creation_input_tokens":)");
    append_int(buf_, u.cache_creation_tokens);
    buf_.append(R"(,"cache_read_input_tokens":)");
    append_int(buf_, u.cache_read_tokens);
    if (u.cost_usd) {
      buf_.append(R"(,"cost":)");
      append_double(buf_, *u.cost_usd);
    }
    buf_.append("}}");
    append_sse_chunk(out, "message_delta", buf_);
  }

  std::string model_;
  std::string buf_;  // the data of the event being written, reused
  bool started_ = false, finished_ = false, ended_ = false;
  Block open_ = Block::kNone;
  int block_ = 0;  // the index of the open block
  int next_block_ = 0;
  int open_call_ = -1;                            // the tool call of the open tool_use block
  std::vector<std::pair<int, int>> call_blocks_;  // tool call index → its block index
  std::optional<StopReason> stop_reason_;
  std::string stop_sequence_;
  std::optional<Usage> usage_;
};

}  // namespace

std::unique_ptr<StreamEncoder> stream_encoder(std::string_view model) {
  return std::make_unique<AnthropicStreamEncoder>(model);
}

}  // namespace detail::anthropic
}  // namespace shepherd::translate
