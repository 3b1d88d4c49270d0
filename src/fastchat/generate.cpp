#include "fastchat/generate.hpp"

#include <limits>

#include "fastchat/body_util.hpp"
#include "fastchat/protocol.hpp"
#include "fastchat/python_json.hpp"

namespace shepherd::fastchat {

using namespace detail;
using base::ErrorCode;

namespace {

void read_usage(ObjectReader& r, Usage& u) {
  r.integer("prompt_tokens", u.prompt_tokens, Need::kRequired, /*non_negative=*/true);
  r.integer("completion_tokens", u.completion_tokens, Need::kRequired, /*non_negative=*/true);
  // Both are non-negative; a sum past int64 (only a bogus body has one) saturates.
  u.total_tokens = u.prompt_tokens > std::numeric_limits<std::int64_t>::max() - u.completion_tokens
                       ? std::numeric_limits<std::int64_t>::max()
                       : u.prompt_tokens + u.completion_tokens;
  r.integer("total_tokens", u.total_tokens, Need::kOptional, /*non_negative=*/true);
}

// A dict printed as Python does (python_json.hpp), written directly: keys in the order written,
// no DOM. The worker's answers and stream chunks, and the parameters of every request to a
// worker, go through it.
class DictWriter {
 public:
  DictWriter(std::string& out, PythonJsonStyle style) : out_(out), style_(style) { out_ += '{'; }
  ~DictWriter() { out_ += '}'; }
  DictWriter(const DictWriter&) = delete;
  DictWriter& operator=(const DictWriter&) = delete;

  std::string& key(std::string_view name) {
    const bool dumps = style_ == PythonJsonStyle::kDumpsDefaults;
    if (!first_) out_ += dumps ? ", " : ",";
    first_ = false;
    out_ += '"';
    out_ += name;
    out_ += dumps ? "\": " : "\":";
    return out_;
  }
  void string(std::string_view name, std::string_view v) {
    append_python_string(key(name), v, style_);
  }
  void integer(std::string_view name, std::int64_t v) { append_python_int(key(name), v); }
  void number(std::string_view name, double v) { append_python_float(key(name), v); }
  void boolean(std::string_view name, bool v) { key(name) += v ? "true" : "false"; }
  void null(std::string_view name) { key(name) += "null"; }
  void strings(std::string_view name, const std::vector<std::string>& items) {
    auto& out = key(name);
    out += '[';
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (i) out += style_ == PythonJsonStyle::kDumpsDefaults ? ", " : ",";
      append_python_string(out, items[i], style_);
    }
    out += ']';
  }

 private:
  std::string& out_;
  PythonJsonStyle style_;
  bool first_ = true;
};

// A chunk as Python prints the dict FastChat's worker builds (key order: text, error_code, usage,
// finish_reason, logprobs).
std::string chunk_text(const GenerateChunk& c, PythonJsonStyle style) {
  std::string out;
  out.reserve(c.text.size() + 160);
  {
    DictWriter d(out, style);
    d.string("text", c.text);
    d.integer("error_code", c.error_code);
    if (c.usage) {
      DictWriter u(d.key("usage"), style);
      u.integer("prompt_tokens", c.usage->prompt_tokens);
      u.integer("completion_tokens", c.usage->completion_tokens);
      u.integer("total_tokens", c.usage->total_tokens);
    }
    if (c.usage || c.finish_reason) {
      if (c.finish_reason) {
        d.string("finish_reason", *c.finish_reason);
      } else {
        d.null("finish_reason");
      }
    }
    if (c.usage || c.logprobs) {
      if (c.logprobs) {
        append_python_json(d.key("logprobs"), *c.logprobs, style);
      } else {
        d.null("logprobs");
      }
    }
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Generation

base::Result<GenerateParams> parse_generate_params(std::string_view body) {
  return parse_body<GenerateParams>(
      body, "generate params", [](ObjectReader& r, GenerateParams& p) {
        r.string("model", p.model, Need::kRequired);
        r.string("prompt", p.prompt, Need::kRequired);
        r.number("temperature", p.temperature, Need::kOptional);
        r.number("top_p", p.top_p, Need::kOptional);
        r.integer("top_k", p.top_k, Need::kOptional);
        r.number("repetition_penalty", p.repetition_penalty);
        r.number("presence_penalty", p.presence_penalty, Need::kOptional);
        r.number("frequency_penalty", p.frequency_penalty, Need::kOptional);
        r.integer("max_new_tokens", p.max_new_tokens, Need::kOptional);
        r.int_list("stop_token_ids", p.stop_token_ids);
        r.integer("logprobs", p.logprobs);
        r.integer("best_of", p.best_of);
        r.boolean("use_beam_search", p.use_beam_search);
        r.string_list("images", p.images, Need::kOptional);
        if (r.error()) return;
        // echo: present but null is Python's None, which `if echo:` reads as false.
        if (const auto* echo = r.object().if_contains("echo"); echo && echo->is_null()) {
          p.echo = false;
        } else {
          r.boolean("echo", p.echo, Need::kOptional);
        }
        // stop: null, one string, or a list of strings.
        if (const auto* stop = r.find("stop", Need::kOptional, ""); stop && stop->is_string()) {
          p.stop.assign(1, std::string(stop->get_string().data(), stop->get_string().size()));
        } else if (stop && !stop->is_array()) {
          r.wrong("stop", "null, a string or a list of strings");
        } else {
          r.string_list("stop", p.stop, Need::kOptional);
        }
      });
}

std::string write_generate_params(const GenerateParams& params) {
  std::string out;
  out.reserve(params.prompt.size() + 320);
  {
    DictWriter d(out, PythonJsonStyle::kDumpsDefaults);
    d.string("model", params.model);
    d.string("prompt", params.prompt);
    d.number("temperature", params.temperature);
    if (params.logprobs) {
      d.integer("logprobs", *params.logprobs);
    } else {
      d.null("logprobs");
    }
    d.number("top_p", params.top_p);
    d.integer("top_k", params.top_k);
    d.number("presence_penalty", params.presence_penalty);
    d.number("frequency_penalty", params.frequency_penalty);
    d.integer("max_new_tokens", params.max_new_tokens);
    d.boolean("echo", params.echo);
    if (params.stop_token_ids) {
      auto& ids = d.key("stop_token_ids");
      ids += '[';
      for (std::size_t i = 0; i < params.stop_token_ids->size(); ++i) {
        if (i) ids += ", ";
        append_python_int(ids, (*params.stop_token_ids)[i]);
      }
      ids += ']';
    } else {
      d.null("stop_token_ids");
    }
    if (!params.images.empty()) d.strings("images", params.images);
    if (params.best_of) d.integer("best_of", *params.best_of);
    if (params.use_beam_search) d.boolean("use_beam_search", *params.use_beam_search);
    d.strings("stop", params.stop);
    if (params.repetition_penalty) d.number("repetition_penalty", *params.repetition_penalty);
  }
  return out;
}

base::Result<GenerateChunk> parse_generate_chunk(std::string_view body) {
  return parse_body<GenerateChunk>(body, "generate chunk", [](ObjectReader& r, GenerateChunk& c) {
    r.string("text", c.text, Need::kRequired);
    r.integer("error_code", c.error_code, Need::kRequired);
    if (const auto* usage = r.find("usage", Need::kOptional, "")) {
      if (!usage->is_object()) return r.wrong("usage", "null or an object");
      ObjectReader sub(usage->get_object(), r.body_name(), "usage");
      Usage u;
      read_usage(sub, u);
      if (sub.error()) return r.fail(*sub.error());
      c.usage = u;
    }
    const char* reason_type = "null or a string";
    if (const auto* reason = r.find("finish_reason", Need::kOptional, reason_type)) {
      // vLLM's worker sends one reason per sequence when it generated several: keep the
      // first.
      const json::value* first = reason;
      if (reason->is_array()) {
        first = reason->get_array().empty() ? nullptr : &reason->get_array().front();
      }
      if (first && first->is_string()) {
        c.finish_reason.emplace(first->get_string().data(), first->get_string().size());
      } else if (first && !first->is_null()) {
        return r.wrong("finish_reason", reason_type);
      }
    }
    // On the default resource: the parsed body is scratch (parse_body).
    if (const auto* logprobs = r.find("logprobs", Need::kOptional, "")) {
      c.logprobs.emplace(*logprobs, json::storage_ptr());
    }
  });
}

std::string write_generate_chunk(const GenerateChunk& chunk) {
  return chunk_text(chunk, PythonJsonStyle::kDumpsDefaults);
}

std::string write_generate_answer(const GenerateChunk& chunk) {
  return chunk_text(chunk, PythonJsonStyle::kFastApiResponse);
}

// ---------------------------------------------------------------------------------------------
// Stream framing

void append_frame(std::string& out, std::string_view json) {
  out.append(json);
  out.push_back('\0');
}

void NulFrameReader::feed(std::string_view bytes, std::vector<std::string>& frames) {
  if (failed_) return;
  while (!bytes.empty()) {
    const auto nul = bytes.find('\0');
    const auto piece = bytes.substr(0, nul);
    if (partial_.size() + piece.size() > max_frame_bytes_) {
      failed_ = true;
      partial_.clear();
      partial_.shrink_to_fit();
      return;
    }
    if (nul == std::string_view::npos) {
      partial_.append(piece);
      return;
    }
    if (partial_.empty()) {
      if (!piece.empty()) frames.emplace_back(piece);
    } else {
      partial_.append(piece);
      frames.push_back(std::move(partial_));
      partial_.clear();
    }
    bytes.remove_prefix(nul + 1);
  }
}

base::Status NulFrameReader::status() const {
  if (!failed_) return base::Ok{};
  return base::make_error(
      ErrorCode::kUpstreamUnreachable,
      "the FastChat worker sent a stream chunk larger than the limit",
      "NUL-delimited frame over " + std::to_string(max_frame_bytes_) + " bytes");
}

}  // namespace shepherd::fastchat
