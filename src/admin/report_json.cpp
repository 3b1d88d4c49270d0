// Answers of GET /admin/requests and GET /admin/spend.
#include <boost/json.hpp>
#include <cmath>

#include "admin/keys_json.hpp"
#include "admin/routes.hpp"
#include "api/json_text.hpp"
#include "storage/record_json.hpp"

namespace shepherd::admin {

namespace json = boost::json;

namespace {

const char* by_name(storage::SpendBy by) {
  switch (by) {
    case storage::SpendBy::kModel:
      return "model";
    case storage::SpendBy::kKey:
      return "key";
    case storage::SpendBy::kProvider:
      return "provider";
    case storage::SpendBy::kDay:
      return "day";
  }
  return "model";
}

// Money rounded to a millionth of a dollar, so reports do not show float noise.
double money(double usd) { return std::round(usd * 1e6) / 1e6; }
double ratio(double part, double whole) { return whole > 0 ? part / whole : 0; }

json::object group_json(const storage::SpendRow& r) {
  json::object o;
  o["group"] = utf8_safe(r.group);
  o["requests"] = r.requests;
  o["errors"] = r.errors;
  o["error_rate"] = ratio(static_cast<double>(r.errors), static_cast<double>(r.requests));
  o["prompt_tokens"] = r.prompt_tokens;
  o["completion_tokens"] = r.completion_tokens;
  o["cost_usd"] = money(r.cost_usd);
  o["list_cost_usd"] = money(r.list_cost_usd);
  o["savings_usd"] = money(r.list_cost_usd - r.cost_usd);
  o["savings_ratio"] = ratio(r.list_cost_usd - r.cost_usd, r.list_cost_usd);
  o["avg_latency_ms"] = std::round(r.avg_latency_ms * 1000) / 1000;
  o["p99_latency_ms"] = std::round(r.p99_latency_ms * 1000) / 1000;
  return o;
}

}  // namespace

std::string requests_body(const std::vector<storage::AuditRecord>& records) {
  json::array data;
  data.reserve(records.size());
  for (const auto& r : records) {
    auto o = storage::to_json(r);
    o["time_utc"] = format_time(r.time);
    data.push_back(std::move(o));
  }
  json::object root;
  root["object"] = "list";
  root["data"] = std::move(data);
  return api::json_text(root);
}

std::string spend_body(const SpendQuery& q, const std::vector<storage::SpendRow>& rows,
                       storage::Millis now) {
  json::array groups;
  storage::SpendRow total;
  double latency_sum = 0;
  for (const auto& r : rows) {
    groups.push_back(group_json(r));
    total.requests += r.requests;
    total.errors += r.errors;
    total.prompt_tokens += r.prompt_tokens;
    total.completion_tokens += r.completion_tokens;
    total.cost_usd += r.cost_usd;
    total.list_cost_usd += r.list_cost_usd;
    latency_sum += r.avg_latency_ms * static_cast<double>(r.requests);
    total.p99_latency_ms = std::max(total.p99_latency_ms, r.p99_latency_ms);
  }
  total.avg_latency_ms = ratio(latency_sum, static_cast<double>(total.requests));
  json::object root;
  root["by"] = by_name(q.by);
  const auto since = q.since.value_or(now - 30LL * 86'400'000);
  const auto until = q.until.value_or(now);
  root["since"] = format_time(since);
  root["until"] = format_time(until);
  root["groups"] = std::move(groups);
  auto t = group_json(total);
  t.erase("group");
  // Groups' p99s do not combine into the total's: the highest is shown as an upper bound.
  t.erase("p99_latency_ms");
  t["max_group_p99_latency_ms"] = std::round(total.p99_latency_ms * 1000) / 1000;
  root["total"] = std::move(t);
  // The spend of the window scaled to a 30-day month.
  const double days = std::max(1.0 / 24, static_cast<double>(until - since) / 86'400'000.0);
  json::object projection;
  projection["cost_usd"] = money(total.cost_usd * 30 / days);
  projection["list_cost_usd"] = money(total.list_cost_usd * 30 / days);
  projection["savings_usd"] = money((total.list_cost_usd - total.cost_usd) * 30 / days);
  root["monthly_projection"] = std::move(projection);
  return api::json_text(root);
}

}  // namespace shepherd::admin
