#include "pipeline/stages.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "base/clock.hpp"
#include "ingress/anthropic_messages.hpp"
#include "metering/cost.hpp"

namespace shepherd::pipeline {

using base::Error;
using base::ErrorCode;

namespace {

base::Error unauthorized(std::string message) {
  return base::make_error(ErrorCode::kUnauthorized, std::move(message));
}

}  // namespace

base::Result<Caller> identify(const LoopView& view, const auth::KeyTable* keys,
                              const net::Request& request) {
  const auto& digests = view.keys;
  if (digests.open()) return Caller{};  // open mode, announced at start-up
  // Anthropic clients send their key as x-api-key; either header may carry it.
  const std::string_view authorization = request.authorization;
  const std::string_view api_key = request.api_key;
  if (authorization.empty() && api_key.empty()) {
    return unauthorized(
        "missing API key: send the header Authorization: Bearer <key> (or x-api-key: <key>)");
  }
  for (const auto token :
       {auth::bearer_token(authorization).value_or(std::string_view()), api_key}) {
    if (token.empty()) continue;
    const auto digest = digests.digest(token);
    if (const auto i = digests.static_key(digest)) return Caller{static_cast<int>(*i), nullptr};
    const auto* key = keys ? keys->find(digest) : nullptr;
    if (!key) continue;
    if (key->revoked) return unauthorized("this API key was revoked; ask for a new one");
    if (key->expires_at && *key->expires_at <= base::unix_ms()) {
      return unauthorized("this API key has expired; ask for a new one");
    }
    return Caller{-1, key};
  }
  return unauthorized(authorization.empty()
                          ? "invalid API key: check the key in your x-api-key header"
                          : "invalid API key: check the key in your Authorization: Bearer header");
}

namespace {

base::Result<std::size_t> resolve(const config::Config& config, const std::string& name) {
  const auto* model = config.find_model(name);
  if (!model) {
    auto e = base::make_error(
        ErrorCode::kModelNotFound,
        "the model '" + name + "' does not exist; available models: " +
            (config.models.empty() ? std::string("none (configure models in the config file)")
                                   : config.model_names()));
    e.param = "model";
    return e;
  }
  return static_cast<std::size_t>(model - config.models.data());
}

}  // namespace

base::Status parse_and_resolve(RequestContext& rc) {
  const auto& config = rc.config();
  if (!rc.canonical) {  // else the shell decoded the request (RequestContext::canonical)
    auto parsed = rc.dialect.parse(rc.body, config.server.max_json_depth);
    if (!parsed) return std::move(parsed).error();
    rc.chat = std::move(parsed).value();  // the model named, even unknown, goes in the record
  }
  auto model = resolve(config, rc.chat.model);
  if (!model) return std::move(model).error();
  rc.model_index = *model;
  return base::Ok{};
}

namespace {

std::string dollars(double usd) {
  char text[32];
  std::snprintf(text, sizeof text, "$%.2f", usd);
  return text;
}

// The most this request can cost on any deployment it may reach (its model's and its
// fallbacks'): the prompt estimate at the dearest input price plus the completion it allows
// (or keys.reserve_completion_tokens) at the dearest output price.
std::int64_t worst_case_micros(const RequestContext& rc) {
  const auto& config = rc.config();
  double input = 0, output = 0;
  auto consider = [&](const config::ModelConfig& m) {
    for (const auto& d : m.deployments) {
      input = std::max(input, d.price.input_per_million);
      output = std::max(output, d.price.output_per_million);
    }
  };
  const auto& model = config.models[rc.model_index];
  consider(model);
  for (auto i : model.fallback_indices) consider(config.models[i]);
  const double prompt = static_cast<double>(rc.body.size()) / 4;
  const auto completion = static_cast<double>(rc.chat.max_tokens.value_or(
      static_cast<std::int64_t>(config.keys.reserve_completion_tokens)));
  return limits::to_micros((prompt * input + completion * output) / 1e6);
}

base::Error refusal_error(const auth::VirtualKey& key, const limits::Ticket& t) {
  using limits::Refusal;
  const auto& l = key.limits;
  base::Error e;
  switch (t.refusal) {
    case Refusal::kRpm:
      e = base::make_error(ErrorCode::kRateLimited, "this API key's limit of " +
                                                        std::to_string(l.rpm.value_or(0)) +
                                                        " requests per minute is reached");
      break;
    case Refusal::kTpm:
      e = base::make_error(ErrorCode::kRateLimited, "this API key's limit of " +
                                                        std::to_string(l.tpm.value_or(0)) +
                                                        " tokens per minute is reached");
      break;
    case Refusal::kParallel:
      e = base::make_error(ErrorCode::kRateLimited,
                           "this API key already has " +
                               std::to_string(l.max_parallel.value_or(0)) +
                               " requests in progress, its max_parallel limit");
      break;
    case Refusal::kBudget: {
      const auto& b = *l.budget;
      std::string what = "this API key's budget of " + dollars(b.usd);
      if (b.period != limits::BudgetPeriod::kTotal)
        what += std::string(" per ") + storage::period_name(b.period);
      what += " is spent, or would be by this request's worst case";
      if (b.period != limits::BudgetPeriod::kTotal)
        what += "; it renews at the start of the next " +
                std::string(storage::period_name(b.period)) + " (UTC)";
      e = base::make_error(ErrorCode::kQuotaExceeded, std::move(what));
      break;
    }
    case Refusal::kNone:
      break;
  }
  e.retry_after = t.retry_after;
  if (t.retry_after && t.refusal != Refusal::kBudget) {
    e.message += "; retry after " + std::to_string(*t.retry_after) + " s";
  }
  return e;
}

}  // namespace

Task<base::Status> admit(RequestContext& rc) {
  rc.shape.stream = rc.chat.stream;
  rc.shape.tokens =
      static_cast<double>(rc.body.size()) / 4 + static_cast<double>(rc.chat.max_tokens.value_or(0));
  const auto* key = rc.caller.key;
  if (!key) co_return base::Ok{};
  const auto& model = rc.config().models[rc.model_index].name;
  if (!key->allows(model)) {
    auto e =
        base::make_error(ErrorCode::kForbidden, "this API key may not use the model '" + model +
                                                    "'; it may use: " + key->models_text);
    e.param = "model";
    co_return e;
  }
  if (!key->limits.any() || !rc.loop.limiter) co_return base::Ok{};
  const std::int64_t reserve = key->limits.budget ? worst_case_micros(rc) : 0;
  limits::Ticket ticket;
  if (auto* counters = rc.loop.limiter->immediate()) {
    ticket = counters->admit(key->id, key->limits, reserve, base::unix_ms());
  } else {
    ticket = co_await rc.loop.limiter->admit(key->id, key->limits, reserve, base::unix_ms());
  }
  if (!ticket.admitted()) co_return refusal_error(*key, ticket);
  rc.ticket = ticket;
  rc.holds_ticket = true;
  co_return base::Ok{};
}

Task<void> record(RequestContext& rc) {
  auto& out = rc.outcome;
  out.latency = Clock::now() - rc.started;
  double cost = 0, list_cost = 0;
  if (out.usage && rc.served) {
    const auto& price = rc.served->price;
    cost = metering::cost_usd(*out.usage, price.input_per_million, price.output_per_million,
                              price.cached_input());
    const auto& list = rc.served->list_price.value_or(price);
    list_cost = metering::cost_usd(*out.usage, list.input_per_million, list.output_per_million,
                                   list.cached_input());
  }
  if (rc.holds_ticket) {
    rc.holds_ticket = false;
    const auto tokens = out.usage ? out.usage->total_tokens : 0;
    if (auto* counters = rc.loop.limiter->immediate()) {
      counters->settle(rc.caller.key->id, rc.ticket, tokens, limits::to_micros(cost),
                       base::unix_ms());
    } else {
      co_await rc.loop.limiter->settle(rc.caller.key->id, rc.ticket, tokens,
                                       limits::to_micros(cost), base::unix_ms());
    }
  }
  if (rc.first_byte_sent) out.first_byte = *rc.first_byte_sent - rc.started;
  if (const auto* key = rc.caller.key) {
    out.key_slot = key->metric_slot;
    if (rc.ticket.budgeted && key->limits.budget && key->limits.budget->usd > 0) {
      out.budget_used =
          (static_cast<double>(rc.ticket.spent_micros) / 1e6 + cost) / key->limits.budget->usd;
      out.budget_period = rc.ticket.period;
    }
  }
  if (rc.loop.metrics.record(rc.loop.index, rc.route, out) && rc.served) {
    spdlog::warn(
        "deployment '{}' has no price: its traffic counts as costing nothing "
        "(shepherd_unpriced_requests_total counts it); set price.input and price.output",
        rc.served->id);
  }
  end_trace(rc, cost);
  if (!rc.loop.audit && !rc.loop.access_log) co_return;
  auto audited = audit_record(rc, cost, list_cost);
  if (rc.loop.access_log) {
    append_access_line(rc.loop.access_log->buffer(rc.loop.index), audited, rc.loop.access_json);
  }
  if (rc.loop.audit) rc.loop.audit->submit(std::move(audited));
}

// Answers `error` as the outcome of the request: its status and class for the record stage.
Task<void> refuse(RequestContext& rc, const base::Error& error) {
  rc.outcome.status = base::http_status(error);
  rc.error_class = base::code_name(error.code);
  co_await respond_error(rc.conn, rc.dialect, error, rc.request_id, rc.write_timeout());
}

Task<void> serve_refused(RequestContext& rc, const base::Error& error) {
  if (rc.started == Clock::time_point{}) rc.started = Clock::now();
  co_await refuse(rc, error);
  co_await record(rc);
}

Task<void> serve_chat(RequestContext& rc, net::Request& request) {
  // A route that made the request wait first (the FastChat worker's queue) set the start.
  if (rc.started == Clock::time_point{}) rc.started = Clock::now();
  begin_trace(rc, request);
  rc.keys = rc.loop.keys;
  if (!rc.open_route) {
    auto caller = identify(*rc.view, rc.keys.get(), request);
    if (!caller) co_return co_await serve_refused(rc, caller.error());
    rc.caller = *caller;
  }
  if (request.method != net::http::verb::post) {
    co_await respond_wrong_method(rc.conn, rc.dialect, request.path(), "POST", rc.write_timeout());
    co_return;
  }
  rc.body.swap(request.body);  // the connection's buffer comes back empty, not freed
  rc.capture_bodies =
      rc.loop.audit && (rc.loop.audit_bodies || (rc.caller.key && rc.caller.key->log_bodies));
  auto status = parse_and_resolve(rc);
  // A stream may stay open for minutes: the request is read, and its buffer is not kept.
  if (status && rc.chat.stream) rc.conn.release_read_buffer();
  if (status) status = co_await admit(rc);
  if (status) {
    co_await relay(rc);
    if (rc.stream) co_return;  // continue_stream() records it
  } else {
    co_await refuse(rc, status.error());
  }
  co_await record(rc);
}

}  // namespace shepherd::pipeline

namespace shepherd::pipeline {

Task<void> serve_count_tokens(RequestContext& rc, net::Request& request) {
  auto caller = identify(*rc.view, rc.loop.keys.get(), request);
  if (!caller) {
    co_await respond_error(rc.conn, rc.dialect, caller.error(), rc.request_id, rc.write_timeout());
    co_return;
  }
  if (request.method != net::http::verb::post) {
    co_await respond_wrong_method(rc.conn, rc.dialect, request.path(), "POST", rc.write_timeout());
    co_return;
  }
  auto decoded = rc.dialect.codec().decode_request(request.body, rc.config().server.max_json_depth);
  base::Status status = base::Ok{};
  if (!decoded) {
    status = std::move(decoded).error();
  } else if (auto model = resolve(rc.config(), decoded->model); !model) {
    status = std::move(model).error();
  }
  if (!status) {
    co_await respond_error(rc.conn, rc.dialect, status.error(), rc.request_id, rc.write_timeout());
    co_return;
  }
  co_await rc.conn.respond(200, "application/json",
                           ingress::count_tokens_body(translate::estimate_tokens(*decoded)), {},
                           rc.write_timeout());
}

}  // namespace shepherd::pipeline
