// Streams: the events of a Responses stream (response.created ... response.completed), each
// with its sequence_number, written from the deltas of the common form.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "api/openai.hpp"
#include "translate/openai_responses/internal.hpp"

namespace shepherd::translate::openai_responses {

namespace {

class ResponsesStreamEncoder final : public StreamEncoder {
 public:
  ResponsesStreamEncoder(const Request& request, std::string_view model)
      : model_(model), echo_(echo_of(request)) {}

  void encode(const Delta& delta, std::string& out) override {
    if (ended_) return;
    if (delta.kind != Delta::Kind::kStart && delta.kind != Delta::Kind::kError && !started_) {
      start({}, 0, out);
    }
    switch (delta.kind) {
      case Delta::Kind::kStart:
        if (!started_) start(delta.id, delta.created, out);
        break;
      case Delta::Kind::kText:
        text(delta.text, out);
        break;
      case Delta::Kind::kThinking:
        thinking(delta.text, out);
        break;
      case Delta::Kind::kSignature:
        if (open_ && items_.back().kind == Item::kReasoning) items_.back().extra += delta.text;
        break;
      case Delta::Kind::kRedactedThinking:
        redacted(delta.text, out);
        break;
      case Delta::Kind::kToolCall:
        tool_call(delta, out);
        break;
      case Delta::Kind::kToolArguments:
        tool_arguments(delta, out);
        break;
      case Delta::Kind::kFinish:
        stop_reason_ = delta.stop_reason;
        close(out);
        break;
      case Delta::Kind::kUsage:
        usage_ = delta.usage;
        break;
      case Delta::Kind::kError:
        error(delta.error, out);
        break;
      case Delta::Kind::kDone:
        done(out);
        break;
    }
  }

  void error(const base::Error& error, std::string& out) override {
    if (ended_) return;
    ended_ = true;
    // The code and param of OpenAI's error shape, from the one function that maps them.
    std::string_view code;
    boost::system::error_code ec;
    const auto body = json::parse(api::error_body(error), ec);
    if (const auto* o = ec ? nullptr : body.if_object()) {
      if (const auto* e = detail::object_member(*o, "error")) {
        code = detail::string_or_empty(*e, "code");
      }
    }
    std::string data = R"({"type":"error","sequence_number":)";
    append_int(data, sequence_++);
    data.append(R"(,"code":)");
    append_quoted(data, code);
    data.append(R"(,"message":)");
    append_quoted(data, error.message);
    data.append(R"(,"param":)");
    if (error.param.empty()) {
      data.append("null");
    } else {
      append_quoted(data, error.param);
    }
    data.append("}");
    append_sse_chunk(out, "error", data);
  }

 private:
  struct Item {
    enum Kind { kMessage, kReasoning, kFunctionCall };
    Kind kind = kMessage;
    std::string id;
    std::string text;   // message text, reasoning summary, or call arguments
    std::string extra;  // reasoning: encrypted_content; function call: the call id
    std::string name;   // function call
    int call_index = 0;
    bool redacted = false;
  };

  void start(std::string_view id, std::int64_t created, std::string& out) {
    started_ = true;
    id_ = response_id(id);
    created_ = created;
    response_event("response.created", "in_progress", nullptr, out);
    response_event("response.in_progress", "in_progress", nullptr, out);
  }

  // An event whose data is {type, sequence_number, ...fields}, built by `fill`.
  template <typename Fill>
  void event(std::string_view type, std::string& out, Fill&& fill) {
    unsigned char buffer[2048];
    json::monotonic_resource mr(buffer);
    json::storage_ptr sp(&mr);
    json::object data(sp);
    data["type"] = type;
    data["sequence_number"] = sequence_++;
    fill(data, sp);
    append_sse_chunk(out, type, json::serialize(data));
  }

  void response_event(std::string_view type, std::string_view status, const char* incomplete,
                      std::string& out) {
    event(type, out, [&](json::object& data, const json::storage_ptr& sp) {
      json::array output(sp);
      if (status != "in_progress") {
        output.reserve(items_.size());
        for (std::size_t i = 0; i < items_.size(); ++i) output.push_back(item_object(i, sp));
      }
      const Head head{id_, created_, model_, &echo_};
      data["response"] = response_object(head, status, incomplete, std::move(output),
                                         status == "in_progress" ? std::nullopt : usage_, sp);
    });
  }

  std::string_view final_status(std::size_t index) const {
    return index + 1 == items_.size() && incomplete_reason(stop_reason_) ? "incomplete"
                                                                         : "completed";
  }

  json::object item_object(std::size_t index, const json::storage_ptr& sp) const {
    const Item& item = items_[index];
    switch (item.kind) {
      case Item::kMessage:
        return message_item(item.id, final_status(index), &item.text, sp);
      case Item::kReasoning:
        return reasoning_item(item.id, item.redacted ? nullptr : &item.text, item.extra,
                              item.redacted, sp);
      case Item::kFunctionCall:
        return function_call_item(item.id, final_status(index), item.extra, item.name, item.text,
                                  sp);
    }
    return json::object(sp);
  }

  // Ends the open item and opens one of `kind`; its response.output_item.added follows once the
  // caller has filled it in (added).
  Item& open(Item::Kind kind, std::string_view prefix, std::string& out) {
    close(out);
    items_.emplace_back();
    Item& item = items_.back();
    item.kind = kind;
    item.id = item_id(prefix, id_, items_.size() - 1);
    open_ = true;
    return item;
  }

  // response.output_item.added for the item just opened, as it begins: no content yet.
  void added(std::string& out) {
    const Item& item = items_.back();
    const std::size_t index = items_.size() - 1;
    event("response.output_item.added", out, [&](json::object& d, const json::storage_ptr& sp) {
      d["output_index"] = index;
      switch (item.kind) {
        case Item::kMessage:
          d["item"] = message_item(item.id, "in_progress", nullptr, sp);
          break;
        case Item::kReasoning:
          d["item"] = reasoning_item(item.id, nullptr, {}, false, sp);
          break;
        case Item::kFunctionCall:
          d["item"] = function_call_item(item.id, "in_progress", item.extra, item.name, "", sp);
          break;
      }
    });
  }

  // Opens a message or a reasoning item with its one part, still empty: response.output_item.added
  // and response.content_part.added (message) or response.reasoning_summary_part.added.
  void open_with_part(Item::Kind kind, std::string& out) {
    const bool message = kind == Item::kMessage;
    open(kind, message ? "msg_" : "rs_", out);
    added(out);
    const std::size_t index = items_.size() - 1;
    event(message ? "response.content_part.added" : "response.reasoning_summary_part.added", out,
          [&](json::object& d, const json::storage_ptr& sp) {
            d["item_id"] = items_.back().id;
            d["output_index"] = index;
            d[message ? "content_index" : "summary_index"] = 0;
            d["part"] = message ? output_text("", sp) : summary_text("", sp);
          });
  }

  // A delta event of the open item, written directly: {"type":..,"sequence_number":..,
  // "item_id":..,"output_index":..`fields`,"delta":`text``tail`}.
  void delta_event(std::string_view type, std::string_view fields, std::string_view text,
                   std::string_view tail, std::string& out) {
    std::string data = R"({"type":")";
    data.append(type).append(R"(","sequence_number":)");
    append_int(data, sequence_++);
    data.append(R"(,"item_id":)");
    append_quoted(data, items_.back().id);
    data.append(R"(,"output_index":)");
    append_int(data, static_cast<std::int64_t>(items_.size() - 1));
    data.append(fields).append(R"(,"delta":)");
    append_quoted(data, text);
    data.append(tail).append("}");
    append_sse_chunk(out, type, data);
  }

  void text(const std::string& text, std::string& out) {
    if (text.empty()) return;
    if (!open_ || items_.back().kind != Item::kMessage) open_with_part(Item::kMessage, out);
    items_.back().text += text;
    delta_event("response.output_text.delta", R"(,"content_index":0)", text, R"(,"logprobs":[])",
                out);
  }

  void thinking(const std::string& text, std::string& out) {
    if (text.empty()) return;
    // A signature ends a thinking block: thinking after it is a block (an item) of its own.
    if (!open_ || items_.back().kind != Item::kReasoning || !items_.back().extra.empty()) {
      open_with_part(Item::kReasoning, out);
    }
    items_.back().text += text;
    delta_event("response.reasoning_summary_text.delta", R"(,"summary_index":0)", text, "", out);
  }

  void redacted(const std::string& data, std::string& out) {
    Item& item = open(Item::kReasoning, "rs_", out);
    item.redacted = true;
    item.extra = data;
    added(out);
    close(out);
  }

  void tool_call(const Delta& delta, std::string& out) {
    Item& item = open(Item::kFunctionCall, "fc_", out);
    item.extra = delta.id;
    item.name = delta.name;
    item.call_index = delta.index;
    added(out);
  }

  void tool_arguments(const Delta& delta, std::string& out) {
    // Arguments follow their call before any other block begins (canonical.hpp): a piece for a
    // call that is no longer open has no event to go in.
    if (!open_ || items_.back().kind != Item::kFunctionCall ||
        items_.back().call_index != delta.index || delta.text.empty()) {
      return;
    }
    items_.back().text += delta.text;
    delta_event("response.function_call_arguments.delta", "", delta.text, "", out);
  }

  // Ends the open item with the events that repeat its whole content.
  void close(std::string& out) {
    if (!open_) return;
    open_ = false;
    const std::size_t index = items_.size() - 1;
    const Item& item = items_.back();
    auto common = [&](json::object& d) {
      d["item_id"] = item.id;
      d["output_index"] = index;
    };
    switch (item.kind) {
      case Item::kMessage:
        event("response.output_text.done", out, [&](json::object& d, const json::storage_ptr& sp) {
          common(d);
          d["content_index"] = 0;
          d["text"] = item.text;
          d["logprobs"] = json::array(sp);
        });
        event("response.content_part.done", out, [&](json::object& d, const json::storage_ptr& sp) {
          common(d);
          d["content_index"] = 0;
          d["part"] = output_text(item.text, sp);
        });
        break;
      case Item::kReasoning:
        if (item.redacted) break;
        event("response.reasoning_summary_text.done", out,
              [&](json::object& d, const json::storage_ptr&) {
                common(d);
                d["summary_index"] = 0;
                d["text"] = item.text;
              });
        event("response.reasoning_summary_part.done", out,
              [&](json::object& d, const json::storage_ptr& sp) {
                common(d);
                d["summary_index"] = 0;
                d["part"] = summary_text(item.text, sp);
              });
        break;
      case Item::kFunctionCall:
        event("response.function_call_arguments.done", out,
              [&](json::object& d, const json::storage_ptr&) {
                common(d);
                d["arguments"] = item.text;
              });
        break;
    }
    event("response.output_item.done", out, [&](json::object& d, const json::storage_ptr& sp) {
      d["output_index"] = index;
      d["item"] = item_object(index, sp);
    });
  }

  void done(std::string& out) {
    close(out);
    ended_ = true;
    const char* incomplete = incomplete_reason(stop_reason_);
    response_event(incomplete ? "response.incomplete" : "response.completed",
                   incomplete ? "incomplete" : "completed", incomplete, out);
  }

  std::string model_;
  Echo echo_;
  std::string id_;
  std::int64_t created_ = 0;
  std::int64_t sequence_ = 0;
  std::vector<Item> items_;
  bool open_ = false;  // items_.back() is still receiving deltas
  bool started_ = false;
  bool ended_ = false;
  StopReason stop_reason_ = StopReason::kEndTurn;
  std::optional<Usage> usage_;
};

}  // namespace

std::unique_ptr<StreamEncoder> make_stream_encoder(const Request& request, std::string_view model) {
  return std::make_unique<ResponsesStreamEncoder>(request, model);
}

}  // namespace shepherd::translate::openai_responses
