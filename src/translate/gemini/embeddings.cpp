// OpenAI embeddings requests through batchEmbedContents (https://ai.google.dev/api/embeddings):
// the request body rewritten, and the answer streamed into an OpenAI embeddings list.
#include <boost/json/basic_parser_impl.hpp>
#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "translate/gemini.hpp"
#include "translate/gemini/internal.hpp"

namespace shepherd::translate {
namespace detail::gemini {
namespace {

// Reads a batchEmbedContents answer while Boost.JSON's parser walks it, writing the OpenAI list
// as it goes: an answer holds thousands of numbers and needs no tree. Numbers are read exactly
// (std::from_chars) and written in their shortest exact form, so each value survives as is.
// Depth counts open containers: top-level fields live at depth 1, the embeddings at 2, their
// fields at 3 and the values at 4.
class EmbeddingsHandler {
 public:
  using error_code = boost::system::error_code;
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);

  explicit EmbeddingsHandler(std::string& out) : out_(out) {}

  std::string why;  // set when the answer does not have the expected shape
  bool saw_embeddings = false;
  bool saw_error = false;
  int embeddings = 0;

  bool on_document_begin(error_code&) { return true; }
  bool on_document_end(error_code&) { return true; }
  bool on_object_begin(error_code& ec) {
    if (!value(Kind::kObject, ec)) return false;
    if (depth_ == 2 && in_list_) {
      in_item_ = true;
      item_values_ = false;
      values_key_ = false;
    }
    ++depth_;
    return true;
  }
  bool on_object_end(std::size_t, error_code& ec) {
    --depth_;
    if (depth_ == 2 && in_item_) {
      in_item_ = false;
      if (!item_values_) return fail("an embedding has no values", ec);
    }
    return true;
  }
  bool on_array_begin(error_code& ec) {
    if (!value(Kind::kArray, ec)) return false;
    if (depth_ == 1 && field_ == Field::kEmbeddings) {
      if (saw_embeddings) return fail("it has two embeddings lists", ec);
      saw_embeddings = true;
      in_list_ = true;
    } else if (depth_ == 3 && in_item_ && values_key_) {
      if (item_values_) return fail("an embedding has two values lists", ec);
      item_values_ = true;
      in_values_ = true;
      first_value_ = true;
      if (embeddings > 0) out_.push_back(',');
      out_.append(R"({"object":"embedding","index":)");
      append_int(out_, embeddings);
      out_.append(R"(,"embedding":[)");
      ++embeddings;
    }
    ++depth_;
    return true;
  }
  bool on_array_end(std::size_t, error_code&) {
    --depth_;
    if (depth_ == 1 && in_list_) in_list_ = false;
    if (depth_ == 3 && in_values_) {
      in_values_ = false;
      out_.append("]}");
    }
    return true;
  }
  bool on_key_part(json::string_view part, std::size_t, error_code&) {
    key_.append(part.data(), part.size());
    return true;
  }
  bool on_key(json::string_view part, std::size_t, error_code&) {
    std::string_view key(part.data(), part.size());
    if (!key_.empty()) {
      key_.append(key);
      key = key_;
    }
    if (depth_ == 1) {
      field_ = key == "embeddings" ? Field::kEmbeddings
                                   : (key == "error" ? Field::kError : Field::kOther);
    }
    if (depth_ == 3 && in_item_) values_key_ = key == "values";
    key_.clear();
    return true;
  }
  bool on_string_part(json::string_view, std::size_t, error_code& ec) {
    if (!string_started_ && !value(Kind::kOther, ec)) return false;
    string_started_ = true;
    return true;
  }
  bool on_string(json::string_view, std::size_t, error_code& ec) {
    if (!string_started_ && !value(Kind::kOther, ec)) return false;
    string_started_ = false;
    return true;
  }
  bool on_number_part(json::string_view part, error_code&) {
    if (in_values_ && depth_ == 4) number_.append(part.data(), part.size());
    return true;
  }
  bool on_int64(std::int64_t, json::string_view part, error_code& ec) { return integer(part, ec); }
  bool on_uint64(std::uint64_t, json::string_view part, error_code& ec) {
    return integer(part, ec);
  }
  bool on_double(double, json::string_view part, error_code& ec) {
    if (!value(Kind::kNumber, ec)) return false;
    if (!(in_values_ && depth_ == 4)) return true;
    number_.append(part.data(), part.size());
    double d = 0;
    const auto [end, err] = std::from_chars(number_.data(), number_.data() + number_.size(), d);
    if (err != std::errc() || end != number_.data() + number_.size()) {
      return fail("an embedding value is out of range", ec);
    }
    separate();
    append_double(out_, d);
    number_.clear();
    return true;
  }
  bool on_bool(bool, error_code& ec) { return value(Kind::kOther, ec); }
  bool on_null(error_code& ec) { return value(Kind::kOther, ec); }
  bool on_comment_part(json::string_view, error_code&) { return true; }
  bool on_comment(json::string_view, error_code&) { return true; }

 private:
  enum class Kind { kObject, kArray, kNumber, kOther };
  enum class Field { kOther, kEmbeddings, kError };

  bool fail(std::string message, error_code& ec) {
    if (why.empty()) why = std::move(message);
    ec = json::error::syntax;  // aborts the parse; `why` says why
    return false;
  }

  void separate() {
    if (!first_value_) out_.push_back(',');
    first_value_ = false;
  }

  // Integers are exact as written, and Boost.JSON writes them the same way.
  bool integer(json::string_view part, error_code& ec) {
    if (!value(Kind::kNumber, ec)) return false;
    if (!(in_values_ && depth_ == 4)) return true;
    number_.append(part.data(), part.size());
    separate();
    out_.append(number_);
    number_.clear();
    return true;
  }

  // Every value passes here first, with depth_ still that of its container.
  bool value(Kind kind, error_code& ec) {
    switch (depth_) {
      case 0:
        return kind == Kind::kObject || fail("it is not a JSON object", ec);
      case 1:
        if (field_ == Field::kError) saw_error = true;
        return field_ != Field::kEmbeddings || kind == Kind::kArray ||
               fail("embeddings is not a list", ec);
      case 2:
        return !in_list_ || kind == Kind::kObject || fail("an embedding is not an object", ec);
      case 3:
        return !(in_item_ && values_key_) || kind == Kind::kArray ||
               fail("an embedding's values are not a list", ec);
      case 4:
        return !in_values_ || kind == Kind::kNumber ||
               fail("an embedding value is not a number", ec);
      default:
        return true;
    }
  }

  std::string& out_;
  std::string key_;
  std::string number_;
  int depth_ = 0;
  Field field_ = Field::kOther;
  bool in_list_ = false;      // inside the embeddings list
  bool in_item_ = false;      // inside one of its objects
  bool values_key_ = false;   // the current key of that object is "values"
  bool item_values_ = false;  // that object had its values
  bool in_values_ = false;    // inside the values list
  bool first_value_ = true;
  bool string_started_ = false;
};

}  // namespace
}  // namespace detail::gemini

using namespace detail;
using namespace detail::gemini;

base::Status encode_embeddings(std::string_view openai_body, int max_depth,
                               std::string_view upstream_model, std::string& out) {
  json::value storage;
  std::string why;
  const json::object* root =
      parse_object(openai_body, static_cast<std::size_t>(max_depth), storage, why);
  if (!root) {
    return bad_request(cat("the request body must be a JSON object with model and input; ", why),
                       "");
  }

  // OpenAI's `dimensions` is Gemini's outputDimensionality
  // (https://ai.google.dev/api/embeddings#EmbedContentRequest).
  std::optional<std::int64_t> dimensions;
  if (const json::value* d = member(*root, "dimensions")) {
    const std::int64_t* i = d->if_int64();
    if (!i || *i < 1) return bad_request("dimensions must be a positive integer", "dimensions");
    dimensions = *i;
  }
  if (const json::value* f = member(*root, "encoding_format")) {
    const json::string* s = f->if_string();
    if (!s || (*s != "float" && *s != "base64")) {
      return bad_request("encoding_format must be \"float\" or \"base64\"", "encoding_format");
    }
    if (*s == "base64") {
      return bad_request(
          "encoding_format \"base64\" is not available for this model (the Gemini API returns "
          "floats); send \"float\" or leave it out",
          "encoding_format");
    }
  }

  const json::value* input = member(*root, "input");
  if (!input) {
    return bad_request("missing required field: input (a string or an array of strings)", "input");
  }
  std::vector<std::string_view> texts;
  if (const json::string* s = input->if_string()) {
    texts.push_back(sv(*s));
  } else if (const json::array* a = input->if_array()) {
    texts.reserve(a->size());
    for (std::size_t i = 0; i < a->size(); ++i) {
      const json::value& item = (*a)[i];
      const std::string param = cat("input[", i, "]");
      if (const json::string* text = item.if_string()) {
        if (text->empty()) return bad_request(cat(param, " must not be an empty string"), param);
        texts.push_back(sv(*text));
      } else if (item.is_number() || item.is_array()) {
        return bad_request(
            "input holds token ids, which the Gemini API cannot embed; send the input as text",
            item.is_number() ? "input" : param);
      } else {
        return bad_request(cat(param, " must be a string"), param);
      }
    }
  } else {
    return bad_request("input must be a string or an array of strings", "input");
  }
  if (texts.empty() || (texts.size() == 1 && texts.front().empty())) {
    return bad_request("input must not be empty", "input");
  }

  // https://ai.google.dev/api/embeddings#method:-models.batchembedcontents: each request names
  // the model as models/{model}, the one in the URL.
  const std::string model = with_prefix(upstream_model, "models/");
  unsigned char arena[kArena];
  json::monotonic_resource resource(arena, sizeof arena);
  json::value body(json::object_kind, &resource);
  json::array& requests = body.get_object()["requests"].emplace_array();
  requests.reserve(texts.size());
  for (const std::string_view text : texts) {
    json::object& r = requests.emplace_back(json::object_kind).as_object();
    r["model"] = std::string_view(model);
    r["content"]
        .emplace_object()["parts"]
        .emplace_array()
        .emplace_back(json::object_kind)
        .as_object()["text"] = text;
    if (dimensions) r["outputDimensionality"] = *dimensions;
  }
  append_value(out, body);
  return base::Ok{};
}

base::Result<std::string> decode_embeddings(std::string_view body, std::string_view model,
                                            std::int64_t prompt_tokens) {
  std::string out;
  out.reserve(body.size() + 128);
  out.append(R"({"object":"list","data":[)");
  json::parse_options opts;
  opts.max_depth = kMaxDepth;
  json::basic_parser<EmbeddingsHandler> parser(opts, out);
  boost::system::error_code ec;
  const auto used = parser.write_some(false, body.data(), body.size(), ec);
  if (!ec && used < body.size()) ec = json::error::extra_data;
  const EmbeddingsHandler& h = parser.handler();
  if (!h.why.empty()) return unreadable(h.why, body);
  if (ec) return unreadable(cat("it is not valid JSON (", ec.message(), ")"), body);
  if (h.saw_error) return unreadable("it is an error", body);
  if (!h.saw_embeddings) return unreadable("it has no embeddings", body);
  out.append(R"(],"model":)");
  append_quoted(out, model);
  out.append(R"(,"usage":{"prompt_tokens":)");
  append_int(out, prompt_tokens);
  out.append(R"(,"total_tokens":)");
  append_int(out, prompt_tokens);
  out.append("}}");
  return out;
}

}  // namespace shepherd::translate
