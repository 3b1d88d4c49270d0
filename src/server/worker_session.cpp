// The FastChat worker's listener (fastchat.worker, `shepherd worker`): FastChat's worker routes
// (docs/fastchat-protocol.md §2) in front of the gateway's pipeline. A generate request is decoded
// into the common form (fastchat/worker_request.hpp), waits for a slot of the concurrency limit,
// then takes serve_chat() like every request, answered in the worker's dialect.
#include "fastchat/worker_codec.hpp"
#include "ingress/fastchat_worker.hpp"
#include "pipeline/stages.hpp"
#include "server/loop.hpp"
#include "server/worker.hpp"

namespace shepherd::server {

using base::ErrorCode;
using net::Task;
namespace http = net::http;

namespace {

enum WorkerRoute : int { kOther, kGenerate, kGenerateStream };

Routed route_worker(const net::Request& request) {
  const std::string_view target = request.path();
  if (target == "/worker_generate_stream") {
    return {&ingress::fastchat_worker_stream_dialect(), kGenerateStream};
  }
  if (target == "/worker_generate") return {&ingress::fastchat_worker_answer_dialect(), kGenerate};
  return {};
}

// Gives the slot back however the request ends.
struct SlotGuard {
  fastchat::WorkerGate& gate;
  ~SlotGuard() { gate.release(); }
};

Task<void> serve_generate(Server::Worker& worker, pipeline::RequestContext& rc,
                          net::Request& request, bool stream) {
  if (request.method != http::verb::post) {
    co_return co_await pipeline::respond_wrong_method(rc.conn, rc.dialect, request.path(), "POST",
                                                      rc.write_timeout());
  }
  // The request's latency (metrics, audit) counts its wait for a slot.
  rc.started = net::Clock::now();
  rc.open_route = true;
  auto params = fastchat::parse_generate_params(request.body);
  if (!params) co_return co_await pipeline::serve_refused(rc, params.error());
  const auto* model = worker.catalog.find(params->model);
  if (!model) {
    const auto e = base::make_error(ErrorCode::kModelNotFound,
                                    worker.catalog.unknown_model_message(params->model));
    co_return co_await pipeline::serve_refused(rc, e);
  }
  auto decoded = fastchat::chat_request(*params, *model->conv, stream);
  if (!decoded) co_return co_await pipeline::serve_refused(rc, decoded.error());
  const auto deadline = rc.started + worker.queue_timeout;
  const bool admitted = co_await worker.gate.acquire(deadline);
  if (!admitted) {
    // Sent away before its deadline: the gate closed, the worker is stopping.
    const bool stopping = net::Clock::now() < deadline;
    auto e = base::make_error(
        ErrorCode::kUnavailable,
        stopping ? std::string("the worker is stopping; send the request to another worker")
                 : "the worker is busy: every one of its " + std::to_string(worker.gate.limit()) +
                       " slots stayed taken while the request waited; try again");
    e.retry_after = 1;
    co_return co_await pipeline::serve_refused(rc, e);
  }
  SlotGuard slot{worker.gate};
  // The pipeline takes the request as decoded here; the body it keeps (and audits) is the one
  // the client sent.
  rc.chat.model = decoded->model;
  rc.chat.stream = stream;
  rc.chat.max_tokens = decoded->max_tokens;
  rc.canonical = std::make_unique<translate::Request>(std::move(decoded).value());
  co_await pipeline::serve_chat(rc, request);
}

struct Reply {
  int status = 200;
  std::string body;
};

Reply detail(int status, std::string_view reason) {
  return {status, fastchat::write_detail(reason)};
}

// /worker_get_status, /count_token, /model_details and /worker_get_conv_template, answered as
// FastAPI does: 200 with the body, or a 4xx with {"detail": reason}.
Reply worker_reply(const Server::Worker& worker, const net::Request& request) {
  const std::string_view target = request.path();
  const bool known = target == "/worker_get_status" || target == "/count_token" ||
                     target == "/model_details" || target == "/worker_get_conv_template";
  if (!known) return detail(404, "Not Found");
  if (request.method != http::verb::post) return detail(405, "Method Not Allowed");
  if (target == "/worker_get_status") {
    return {200, fastchat::write_worker_status(worker.catalog.status(worker.gate.queue_length()))};
  }
  if (target == "/count_token") {
    auto r = fastchat::parse_count_token_request(request.body);
    if (!r) return detail(400, r.error().message);
    fastchat::CountTokenAnswer answer;
    if (worker.catalog.find(r->model)) {
      // Shepherd's estimate, as at admission: about four bytes of text a token. FastChat's API
      // server uses it to cap max_new_tokens at the context length.
      answer.count = static_cast<std::int64_t>((r->prompt.size() + 3) / 4);
    } else {
      answer.error_code = fastchat::error_codes::kInvalidModel;
    }
    return {200, fastchat::write_count_token_answer(answer)};
  }
  auto r = fastchat::parse_model_request(request.body);
  if (!r) return detail(400, r.error().message);
  const auto* model = worker.catalog.find(r->model);
  if (!model) return detail(400, worker.catalog.unknown_model_message(r->model));
  if (target == "/model_details") {
    return {200, fastchat::write_model_details(fastchat::ModelDetails{model->context_length})};
  }
  return {200, fastchat::conv_template_json(*model->conv, worker.catalog.numbering())};
}

Task<void> answer_worker(Server::Loop& loop, pipeline::RequestContext& rc, net::Request& request,
                         int kind) {
  auto& worker = *loop.server.worker();
  if (kind != kOther)
    co_return co_await serve_generate(worker, rc, request, kind == kGenerateStream);
  const std::string_view target = request.path();
  if (is_probe(target)) {
    const auto gauges = worker.prometheus_text();
    co_return co_await serve_probe(loop, rc, request, target, gauges);
  }
  const auto reply = worker_reply(worker, request);
  co_await rc.conn.respond(reply.status, "application/json", reply.body, {}, rc.write_timeout());
}

}  // namespace

Task<void> serve_worker_connection(Server::Loop& loop,
                                   std::shared_ptr<net::ClientConnection> conn) {
  return serve_requests(loop, std::move(conn), route_worker, answer_worker);
}

}  // namespace shepherd::server
