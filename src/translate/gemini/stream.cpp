// Reading streamGenerateContent?alt=sse: each event's data is a whole GenerateContentResponse;
// the stream has no end event, it ends with the body.
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "translate/gemini.hpp"
#include "translate/gemini/internal.hpp"

namespace shepherd::translate {
namespace detail::gemini {
namespace {

class GeminiStreamDecoder final : public StreamDecoder {
 public:
  base::Status feed(std::string_view, std::string_view data, std::vector<Delta>& out) override {
    if (failed_) return base::Ok{};
    if (data.find_first_not_of(" \t\r\n") == std::string_view::npos) return base::Ok{};
    json::value storage;
    std::string why;
    const json::object* root = parse_object(data, kMaxDepth, storage, why);
    if (!root) return unreadable(cat("a stream event: ", why), data);

    if (const json::value* e = root->if_contains("error")) {
      failed_ = true;
      out.push_back(error_delta(e->if_object()));
      return base::Ok{};
    }

    if (!started_) {
      started_ = true;
      Delta& start = out.emplace_back();
      start.kind = Delta::Kind::kStart;
      start.id = string_or_empty(*root, "responseId");
      start.model = string_or_empty(*root, "modelVersion");
    }

    const json::object* candidate = first_candidate(*root);
    Finish finish = Finish::kNone;
    if (candidate && !finished_) {
      if (const json::array* parts = candidate_parts(*candidate)) {
        const std::string_view response_id = string_or_empty(*root, "responseId");
        for (const json::value& p : *parts) {
          auto read = read_part(p);
          if (!read) return std::move(read).error();
          add_part(p, *read, response_id, out);
        }
      }
      finish = classify(string_or_empty(*candidate, "finishReason"));
    } else if (!candidate && !finished_ && prompt_blocked(*root)) {
      finish = Finish::kFiltered;
    }
    if (finish != Finish::kNone) {
      finished_ = true;
      Delta& d = out.emplace_back();
      d.kind = Delta::Kind::kFinish;
      d.stop_reason = stop_reason(finish, calls_ > 0);
    }
    // Each chunk may repeat the running totals; the last one holds the answer's.
    if (auto usage = read_usage(*root)) usage_ = *usage;
    return base::Ok{};
  }

  void end(std::vector<Delta>& out) override {
    if (failed_ || !finished_) return;  // a stream cut before its finish reason: not complete
    if (usage_) {
      Delta& d = out.emplace_back();
      d.kind = Delta::Kind::kUsage;
      d.usage = *usage_;
    }
    out.emplace_back().kind = Delta::Kind::kDone;
  }

 private:
  // The deltas of the content part `p`, read as `read`.
  void add_part(const json::value& p, ReadPart& read, std::string_view response_id,
                std::vector<Delta>& out) {
    switch (read.kind) {
      case ReadPart::Kind::kSkip:
        break;
      case ReadPart::Kind::kText:
      case ReadPart::Kind::kThinking: {
        Delta& d = out.emplace_back();
        d.kind = read.kind == ReadPart::Kind::kText ? Delta::Kind::kText : Delta::Kind::kThinking;
        d.text = read.text;
        break;
      }
      case ReadPart::Kind::kCall: {
        // A functionCall arrives whole in one chunk: announce it, then its arguments.
        const int index = calls_++;
        Delta& call = out.emplace_back();
        call.kind = Delta::Kind::kToolCall;
        call.index = index;
        call.id = call_id(index, p.get_object(), p.at("functionCall").get_object(), response_id);
        call.name = read.name;
        Delta& args = out.emplace_back();
        args.kind = Delta::Kind::kToolArguments;
        args.index = index;
        args.text = std::move(read.arguments);
        break;
      }
    }
  }

  static Delta error_delta(const json::object* error) {
    Delta d;
    d.kind = Delta::Kind::kError;
    d.error.code = base::ErrorCode::kUpstreamStatus;
    d.error.message = error ? error_object_message(*error) : std::string();
    if (d.error.message.empty()) d.error.message = "the upstream reported an error in the stream";
    if (error) {
      if (const json::value* code = member(*error, "code")) {
        if (const auto* i = code->if_int64(); i && *i >= 100 && *i <= 599) {
          d.error.status = static_cast<int>(*i);
        }
      }
      if (const json::string* status = string_member(*error, "status")) {
        d.error.detail = cat("Gemini stream error ", excerpt(sv(*status), kMaxMessage));
      }
    }
    if (d.error.status == 0) d.error.status = 500;
    d.error.retryable = d.error.status == 429 || d.error.status >= 500;
    return d;
  }

  bool started_ = false;
  bool finished_ = false;
  bool failed_ = false;
  int calls_ = 0;
  std::optional<Usage> usage_;
};

}  // namespace
}  // namespace detail::gemini

std::unique_ptr<StreamDecoder> GeminiCodec::stream_decoder() const {
  return std::make_unique<detail::gemini::GeminiStreamDecoder>();
}

}  // namespace shepherd::translate
