#include "fastchat/protocol.hpp"

#include <array>
#include <boost/json.hpp>
#include <cmath>
#include <exception>
#include <limits>
#include <system_error>
#include <utility>

#include "fastchat/body_util.hpp"

namespace shepherd::fastchat {

using namespace detail;

namespace {

namespace json = boost::json;
using base::ErrorCode;

void read_worker_status(ObjectReader& r, WorkerStatus& s) {
  r.string_list("model_names", s.model_names, Need::kRequired);
  r.number("speed", s.speed, Need::kRequired, /*non_negative=*/true);
  r.integer("queue_length", s.queue_length, Need::kRequired, /*non_negative=*/true);
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

std::optional<std::string> parse_detail(std::string_view body) {
  boost::system::error_code ec;
  const auto v = json::parse(body, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const auto* detail = v.as_object().if_contains("detail");
  if (!detail || !detail->is_string()) return std::nullopt;
  return std::string(detail->as_string());
}

std::string write_detail(std::string_view reason) {
  return response(json::object{{"detail", reason}});
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

}  // namespace shepherd::fastchat
