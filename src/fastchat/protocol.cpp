#include "fastchat/protocol.hpp"

#include <array>
#include <boost/json.hpp>
#include <cmath>
#include <exception>
#include <limits>
#include <system_error>
#include <utility>

namespace shepherd::fastchat {
namespace {

namespace json = boost::json;
using base::ErrorCode;

// ---------------------------------------------------------------------------------------------
// Reading bodies

base::Error bad_request(std::string_view body_name, std::string_view what, std::string param = {}) {
  auto e = base::make_error(ErrorCode::kBadRequest,
                            "the FastChat " + std::string(body_name) + " " + std::string(what));
  e.param = std::move(param);
  return e;
}

// Parses `body` as a JSON object.
base::Result<json::object> parse_object(std::string_view body, std::string_view body_name) {
  json::error_code ec;
  json::value doc;
  try {
    doc = read_json_exact(body, kMaxJsonDepth, ec);
  } catch (const std::exception& e) {
    // Syntax errors come back in `ec`; only resource limits (a string or array over its maximum
    // size, allocation failure) throw.
    return bad_request(body_name, "could not be read (" + std::string(e.what()) + ")");
  }
  if (ec == json::error::too_deep) {
    return bad_request(body_name, "nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  }
  if (ec) return bad_request(body_name, "is not valid JSON in UTF-8 (" + ec.message() + ")");
  if (!doc.is_object()) return bad_request(body_name, "must be a JSON object");
  return std::move(doc.get_object());
}

enum class Need { kRequired, kOptional };

// The integer value of `v`: an integer, or a double with an integral value, in the int64 range.
std::optional<std::int64_t> as_int(const json::value& v) {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64()) {
    if (v.get_uint64() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return std::nullopt;
    }
    return static_cast<std::int64_t>(v.get_uint64());
  }
  if (v.is_double()) {
    // Python's int() accepts 3.0; FastChat's own bodies always carry integers.
    const double d = v.get_double();
    if (std::isfinite(d) && std::trunc(d) == d && d >= -9223372036854775808.0 &&
        d < 9223372036854775808.0) {
      return static_cast<std::int64_t>(d);
    }
  }
  return std::nullopt;
}

std::optional<double> as_number(const json::value& v) {
  if (v.is_int64()) return static_cast<double>(v.get_int64());
  if (v.is_uint64()) return static_cast<double>(v.get_uint64());
  if (v.is_double() && std::isfinite(v.get_double())) return v.get_double();
  return std::nullopt;  // a bool is not a number here; an overflowed literal (1e400) is infinite
}

// Reads the fields of one JSON object. The first error is kept and every later read does
// nothing, so a parser reads all its fields and checks error() once.
class ObjectReader {
 public:
  ObjectReader(const json::object& object, std::string_view body_name, std::string prefix = {})
      : object_(object), body_name_(body_name), prefix_(std::move(prefix)) {}

  const std::optional<base::Error>& error() const { return error_; }
  void fail(base::Error e) {
    if (!error_) error_ = std::move(e);
  }

  std::string path(std::string_view key) const {
    return prefix_.empty() ? std::string(key) : prefix_ + "." + std::string(key);
  }

  // The member `key` when present and not null, else nullptr; records an error when it is
  // required (null: the wrong type; absent: missing).
  const json::value* find(std::string_view key, Need need, std::string_view type) {
    if (error_) return nullptr;
    const auto* v = object_.if_contains(json::string_view(key.data(), key.size()));
    if (v && !v->is_null()) return v;
    if (need == Need::kRequired && v) {
      wrong(key, type);
    } else if (need == Need::kRequired) {
      fail(bad_request(body_name_,
                       "lacks the required field " + path(key) + " (" + std::string(type) + ")",
                       path(key)));
    }
    return nullptr;
  }

  void wrong(std::string_view key, std::string_view type) {
    fail(
        bad_request(body_name_, "field " + path(key) + " must be " + std::string(type), path(key)));
  }

  void string(std::string_view key, std::string& out, Need need, bool non_empty = false) {
    const char* type = non_empty ? "a non-empty string" : "a string";
    const auto* v = find(key, need, type);
    if (!v) return;
    if (!v->is_string() || (non_empty && v->get_string().empty())) return wrong(key, type);
    out.assign(v->get_string().data(), v->get_string().size());
  }
  void string(std::string_view key, std::optional<std::string>& out) {
    const auto* v = find(key, Need::kOptional, "a string");
    if (!v) return;
    if (!v->is_string()) return wrong(key, "null or a string");
    out.emplace(v->get_string().data(), v->get_string().size());
  }

  void boolean(std::string_view key, bool& out, Need need) {
    const auto* v = find(key, need, "true or false");
    if (!v) return;
    if (!v->is_bool()) return wrong(key, "true or false");
    out = v->get_bool();
  }
  void boolean(std::string_view key, std::optional<bool>& out) {
    bool b = false;
    if (!find(key, Need::kOptional, "")) return;
    boolean(key, b, Need::kOptional);
    if (!error_) out = b;
  }

  void integer(std::string_view key, std::int64_t& out, Need need, bool non_negative = false) {
    const char* type = non_negative ? "a non-negative integer" : "an integer";
    const auto* v = find(key, need, type);
    if (!v) return;
    const auto n = as_int(*v);
    if (!n || (non_negative && *n < 0)) return wrong(key, type);
    out = *n;
  }
  void integer(std::string_view key, std::optional<std::int64_t>& out) {
    std::int64_t n = 0;
    if (!find(key, Need::kOptional, "")) return;
    integer(key, n, Need::kOptional);
    if (!error_) out = n;
  }

  void number(std::string_view key, double& out, Need need, bool non_negative = false) {
    const char* type = non_negative ? "a non-negative number" : "a number";
    const auto* v = find(key, need, type);
    if (!v) return;
    const auto d = as_number(*v);
    if (!d || (non_negative && *d < 0)) return wrong(key, type);
    out = *d;
  }
  void number(std::string_view key, std::optional<double>& out) {
    double d = 0;
    if (!find(key, Need::kOptional, "")) return;
    number(key, d, Need::kOptional);
    if (!error_) out = d;
  }

  void string_list(std::string_view key, std::vector<std::string>& out, Need need) {
    const auto* v = find(key, need, "a list of strings");
    if (!v) return;
    if (!v->is_array()) return wrong(key, "a list of strings");
    std::vector<std::string> items;
    items.reserve(v->get_array().size());
    for (const auto& item : v->get_array()) {
      if (!item.is_string()) {
        return wrong(std::string(key) + "[" + std::to_string(items.size()) + "]", "a string");
      }
      items.emplace_back(item.get_string().data(), item.get_string().size());
    }
    out = std::move(items);
  }

  void int_list(std::string_view key, std::optional<std::vector<std::int64_t>>& out) {
    const auto* v = find(key, Need::kOptional, "a list of integers");
    if (!v) return;
    if (!v->is_array()) return wrong(key, "null or a list of integers");
    std::vector<std::int64_t> items;
    items.reserve(v->get_array().size());
    for (const auto& item : v->get_array()) {
      const auto n = as_int(item);
      if (!n) {
        return wrong(std::string(key) + "[" + std::to_string(items.size()) + "]", "an integer");
      }
      items.push_back(*n);
    }
    out = std::move(items);
  }

  const json::object& object() const { return object_; }
  std::string_view body_name() const { return body_name_; }

 private:
  const json::object& object_;
  std::string_view body_name_;
  std::string prefix_;
  std::optional<base::Error> error_;
};

void read_worker_status(ObjectReader& r, WorkerStatus& s) {
  r.string_list("model_names", s.model_names, Need::kRequired);
  r.number("speed", s.speed, Need::kRequired, /*non_negative=*/true);
  r.integer("queue_length", s.queue_length, Need::kRequired, /*non_negative=*/true);
}

void read_usage(ObjectReader& r, Usage& u) {
  r.integer("prompt_tokens", u.prompt_tokens, Need::kRequired, /*non_negative=*/true);
  r.integer("completion_tokens", u.completion_tokens, Need::kRequired, /*non_negative=*/true);
  // Both are non-negative; a sum past int64 (only a bogus body has one) saturates.
  u.total_tokens = u.prompt_tokens > std::numeric_limits<std::int64_t>::max() - u.completion_tokens
                       ? std::numeric_limits<std::int64_t>::max()
                       : u.prompt_tokens + u.completion_tokens;
  r.integer("total_tokens", u.total_tokens, Need::kOptional, /*non_negative=*/true);
}

// Runs `read(ObjectReader&, T&)` over the object in `body`.
template <typename T, typename Read>
base::Result<T> parse_body(std::string_view body, std::string_view body_name, Read&& read) {
  auto object = parse_object(body, body_name);
  if (!object) return std::move(object).error();
  ObjectReader r(*object, body_name);
  T out;
  read(r, out);
  if (r.error()) return *r.error();
  return out;
}

// ---------------------------------------------------------------------------------------------
// Writing bodies

json::value speed_value(double speed) {
  // FastChat's speeds are Python ints; a speed that came in as an integer goes out as one.
  if (std::isfinite(speed) && std::trunc(speed) == speed && std::fabs(speed) < 9.0e15) {
    return static_cast<std::int64_t>(speed);
  }
  return speed;
}

json::value worker_status_value(const WorkerStatus& s) {
  json::array names;
  for (const auto& n : s.model_names) names.emplace_back(n);
  return json::object{{"model_names", std::move(names)},
                      {"speed", speed_value(s.speed)},
                      {"queue_length", s.queue_length}};
}

json::array strings_value(const std::vector<std::string>& items) {
  json::array a;
  a.reserve(items.size());
  for (const auto& s : items) a.emplace_back(s);
  return a;
}

std::string dumps(const json::value& v) { return python_json(v, PythonJsonStyle::kDumpsDefaults); }
std::string response(const json::value& v) {
  return python_json(v, PythonJsonStyle::kFastApiResponse);
}

json::value chunk_value(const GenerateChunk& c) {
  json::object o;
  o["text"] = c.text;
  o["error_code"] = c.error_code;
  if (c.usage) {
    o["usage"] = json::object{{"prompt_tokens", c.usage->prompt_tokens},
                              {"completion_tokens", c.usage->completion_tokens},
                              {"total_tokens", c.usage->total_tokens}};
  }
  if (c.usage || c.finish_reason) {
    o["finish_reason"] = c.finish_reason ? json::value(*c.finish_reason) : json::value(nullptr);
  }
  if (c.usage || c.logprobs) o["logprobs"] = c.logprobs ? *c.logprobs : json::value(nullptr);
  return o;
}

}  // namespace

std::string server_error_text(std::string_view exception) {
  std::string text(kServerErrorMsg);
  text += "\n\n(";
  text += exception;
  text += ')';
  return text;
}

// ---------------------------------------------------------------------------------------------
// Controller and worker bodies

base::Result<WorkerStatus> parse_worker_status(std::string_view body) {
  return parse_body<WorkerStatus>(body, "/worker_get_status answer", read_worker_status);
}

std::string write_worker_status(const WorkerStatus& status) {
  return response(worker_status_value(status));
}

base::Result<RegisterWorker> parse_register_worker(std::string_view body) {
  return parse_body<RegisterWorker>(
      body, "/register_worker request", [](ObjectReader& r, RegisterWorker& w) {
        r.string("worker_name", w.worker_name, Need::kRequired, /*non_empty=*/true);
        r.boolean("check_heart_beat", w.check_heart_beat, Need::kRequired);
        r.boolean("multimodal", w.multimodal, Need::kOptional);
        const auto* status = r.find("worker_status", Need::kOptional, "");
        if (!status) return;
        if (!status->is_object()) return r.wrong("worker_status", "null or an object");
        // The controller tests `if not worker_status` (None or {}) before polling the worker.
        if (status->get_object().empty()) return;
        ObjectReader sub(status->get_object(), r.body_name(), "worker_status");
        WorkerStatus s;
        read_worker_status(sub, s);
        if (sub.error()) return r.fail(*sub.error());
        w.worker_status = std::move(s);
      });
}

std::string write_register_worker(const RegisterWorker& request) {
  json::object o;
  o["worker_name"] = request.worker_name;
  o["check_heart_beat"] = request.check_heart_beat;
  if (request.worker_status) o["worker_status"] = worker_status_value(*request.worker_status);
  o["multimodal"] = request.multimodal;
  return dumps(o);
}

base::Result<HeartBeat> parse_heart_beat(std::string_view body) {
  return parse_body<HeartBeat>(body, "/receive_heart_beat request",
                               [](ObjectReader& r, HeartBeat& h) {
                                 r.string("worker_name", h.worker_name, Need::kRequired,
                                          /*non_empty=*/true);
                                 r.integer("queue_length", h.queue_length, Need::kRequired,
                                           /*non_negative=*/true);
                               });
}

std::string write_heart_beat(const HeartBeat& request) {
  return dumps(
      json::object{{"worker_name", request.worker_name}, {"queue_length", request.queue_length}});
}

base::Result<HeartBeatAnswer> parse_heart_beat_answer(std::string_view body) {
  return parse_body<HeartBeatAnswer>(
      body, "/receive_heart_beat answer",
      [](ObjectReader& r, HeartBeatAnswer& a) { r.boolean("exist", a.exist, Need::kRequired); });
}

std::string write_heart_beat_answer(const HeartBeatAnswer& answer) {
  return response(json::object{{"exist", answer.exist}});
}

base::Result<ModelList> parse_model_list(std::string_view body) {
  return parse_body<ModelList>(body, "model list", [](ObjectReader& r, ModelList& l) {
    r.string_list("models", l.models, Need::kRequired);
  });
}

std::string write_model_list(const ModelList& list) {
  return response(json::object{{"models", strings_value(list.models)}});
}

base::Result<ModelRequest> parse_model_request(std::string_view body) {
  return parse_body<ModelRequest>(body, "model request", [](ObjectReader& r, ModelRequest& m) {
    r.string("model", m.model, Need::kRequired);
  });
}

std::string write_model_request(const ModelRequest& request) {
  return dumps(json::object{{"model", request.model}});
}

base::Result<WorkerAddress> parse_worker_address(std::string_view body) {
  return parse_body<WorkerAddress>(
      body, "/get_worker_address answer",
      [](ObjectReader& r, WorkerAddress& a) { r.string("address", a.address, Need::kRequired); });
}

std::string write_worker_address(const WorkerAddress& answer) {
  return response(json::object{{"address", answer.address}});
}

base::Result<CountTokenRequest> parse_count_token_request(std::string_view body) {
  return parse_body<CountTokenRequest>(body, "/count_token request",
                                       [](ObjectReader& r, CountTokenRequest& c) {
                                         r.string("model", c.model, Need::kRequired);
                                         r.string("prompt", c.prompt, Need::kRequired);
                                       });
}

std::string write_count_token_request(const CountTokenRequest& request) {
  return dumps(json::object{{"model", request.model}, {"prompt", request.prompt}});
}

base::Result<CountTokenAnswer> parse_count_token_answer(std::string_view body) {
  return parse_body<CountTokenAnswer>(
      body, "/count_token answer", [](ObjectReader& r, CountTokenAnswer& c) {
        r.integer("count", c.count, Need::kRequired, /*non_negative=*/true);
        r.integer("error_code", c.error_code, Need::kOptional);
      });
}

std::string write_count_token_answer(const CountTokenAnswer& answer) {
  return response(json::object{{"count", answer.count}, {"error_code", answer.error_code}});
}

base::Result<ModelDetails> parse_model_details(std::string_view body) {
  return parse_body<ModelDetails>(body, "/model_details answer",
                                  [](ObjectReader& r, ModelDetails& d) {
                                    r.integer("context_length", d.context_length, Need::kRequired,
                                              /*non_negative=*/true);
                                  });
}

std::string write_model_details(const ModelDetails& answer) {
  return response(json::object{{"context_length", answer.context_length}});
}

base::Result<EmbeddingsRequest> parse_embeddings_request(std::string_view body) {
  return parse_body<EmbeddingsRequest>(body, "/worker_get_embeddings request",
                                       [](ObjectReader& r, EmbeddingsRequest& e) {
                                         r.string("model", e.model, Need::kRequired);
                                         r.string_list("input", e.input, Need::kRequired);
                                         r.string("encoding_format", e.encoding_format);
                                       });
}

std::string write_embeddings_request(const EmbeddingsRequest& request) {
  return dumps(json::object{
      {"model", request.model},
      {"input", strings_value(request.input)},
      {"encoding_format",
       request.encoding_format ? json::value(*request.encoding_format) : json::value(nullptr)}});
}

base::Result<EmbeddingsAnswer> parse_embeddings_answer(std::string_view body) {
  return parse_body<EmbeddingsAnswer>(
      body, "/worker_get_embeddings answer", [](ObjectReader& r, EmbeddingsAnswer& e) {
        r.integer("error_code", e.error_code, Need::kOptional);
        if (e.error_code != 0) return r.string("text", e.text, Need::kRequired);
        r.integer("token_num", e.token_num, Need::kRequired, /*non_negative=*/true);
        const char* type = "a list of float vectors or of base64 strings";
        const auto* v = r.find("embedding", Need::kRequired, type);
        if (!v) return;
        if (!v->is_array()) return r.wrong("embedding", type);
        const auto& items = v->get_array();
        if (!items.empty() && items.front().is_string())
          return r.string_list("embedding", e.embedding_base64, Need::kRequired);
        for (std::size_t i = 0; i < items.size(); ++i) {
          const auto name = "embedding[" + std::to_string(i) + "]";
          if (!items[i].is_array()) return r.wrong(name, "a list of numbers");
          std::vector<double> vec;
          vec.reserve(items[i].get_array().size());
          for (const auto& x : items[i].get_array()) {
            const auto d = as_number(x);
            if (!d) return r.wrong(name, "a list of numbers");
            vec.push_back(*d);
          }
          e.embedding.push_back(std::move(vec));
        }
      });
}

std::string write_embeddings_answer(const EmbeddingsAnswer& answer) {
  if (answer.error_code != 0) {
    return response(json::object{{"text", answer.text}, {"error_code", answer.error_code}});
  }
  json::array embedding;
  if (answer.embedding.empty() && !answer.embedding_base64.empty()) {
    embedding = strings_value(answer.embedding_base64);
  } else {
    for (const auto& vec : answer.embedding) {
      json::array a;
      a.reserve(vec.size());
      for (const double d : vec) a.emplace_back(d);
      embedding.emplace_back(std::move(a));
    }
  }
  return response(
      json::object{{"embedding", std::move(embedding)}, {"token_num", answer.token_num}});
}

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
  json::object o;
  o["model"] = params.model;
  o["prompt"] = params.prompt;
  o["temperature"] = params.temperature;
  o["logprobs"] = params.logprobs ? json::value(*params.logprobs) : json::value(nullptr);
  o["top_p"] = params.top_p;
  o["top_k"] = params.top_k;
  o["presence_penalty"] = params.presence_penalty;
  o["frequency_penalty"] = params.frequency_penalty;
  o["max_new_tokens"] = params.max_new_tokens;
  o["echo"] = params.echo;
  if (params.stop_token_ids) {
    json::array ids;
    for (const auto id : *params.stop_token_ids) ids.emplace_back(id);
    o["stop_token_ids"] = std::move(ids);
  } else {
    o["stop_token_ids"] = nullptr;
  }
  if (!params.images.empty()) o["images"] = strings_value(params.images);
  if (params.best_of) o["best_of"] = *params.best_of;
  if (params.use_beam_search) o["use_beam_search"] = *params.use_beam_search;
  o["stop"] = strings_value(params.stop);
  if (params.repetition_penalty) o["repetition_penalty"] = *params.repetition_penalty;
  return dumps(o);
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
    if (const auto* logprobs = r.find("logprobs", Need::kOptional, "")) c.logprobs = *logprobs;
  });
}

std::string write_generate_chunk(const GenerateChunk& chunk) { return dumps(chunk_value(chunk)); }

std::string write_generate_answer(const GenerateChunk& chunk) {
  return response(chunk_value(chunk));
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
