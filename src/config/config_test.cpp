#include "config/config.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <tuple>

namespace shepherd::config {
namespace {

using namespace std::chrono_literals;

// Secret values the injected environment knows. No error message may ever contain one.
const std::map<std::string, std::string> kEnv = {
    {"SHEPHERD_KEY_A", "sk-shepherd-aaaa-1111"},
    {"SHEPHERD_KEY_B", "sk-shepherd-bbbb-2222"},
    {"OPENAI_API_KEY", "sk-openai-cccc-3333"},
    {"EMPTY_VAR", ""},
};

EnvLookup fake_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    auto it = kEnv.find(name);
    if (it == kEnv.end()) return std::nullopt;
    return it->second;
  };
}

base::Result<Config> parse(std::string_view yaml) { return parse_config(yaml, fake_env()); }

constexpr std::string_view kFullConfig = R"(
server:
  listen: "0.0.0.0:9000"
  threads: 4
  api_keys: [env:SHEPHERD_KEY_A, env:SHEPHERD_KEY_B]
  cors:
    origins: ["https://app.example.com/", "http://localhost:3000"]
    credentials: yes
  limits:
    max_body: 8MiB
    max_headers: 32KiB
    max_json_depth: 32
  timeouts:
    request: 10s
    keepalive: 2m
    drain: 1500ms
providers:
  openai:
    kind: openai
    base_url: https://api.openai.com/v1
    api_key: env:OPENAI_API_KEY
    pool:
      max_idle: 8
      max_connections: 64
    timeouts:
      connect: 2s
      first_byte: 45s
      idle: 90s
      total: 10m
    tls:
      verify: false
  local:
    base_url: http://[::1]:8081/llm/
models:
  gpt-4o:
    deployments:
      - provider: openai
        model: gpt-4o-2024-08-06
        price: {input: 2.5, output: 10}
      - provider: local
  mini:
    deployments:
      - provider: local
        model: llama-3-8b
        price:
          input: 0.15
)";

TEST(ParseConfig, FullConfigParsesToExpectedValues) {
  const auto r = parse_config(kFullConfig, fake_env(), "test.yaml");
  ASSERT_TRUE(r.ok()) << r.error().message;
  const Config& c = r.value();
  EXPECT_EQ(c.source, "test.yaml");

  EXPECT_EQ(c.server.host, "0.0.0.0");
  EXPECT_EQ(c.server.port, 9000);
  EXPECT_EQ(c.server.threads, 4);
  EXPECT_EQ(c.server.api_keys,
            (std::vector<std::string>{"sk-shepherd-aaaa-1111", "sk-shepherd-bbbb-2222"}));
  EXPECT_EQ(c.server.cors_origins,
            (std::vector<std::string>{"https://app.example.com", "http://localhost:3000"}));
  EXPECT_TRUE(c.server.cors_credentials);
  EXPECT_EQ(c.server.max_body_bytes, 8u * 1024 * 1024);
  EXPECT_EQ(c.server.max_header_bytes, 32u * 1024);
  EXPECT_EQ(c.server.max_json_depth, 32);
  EXPECT_EQ(c.server.request_timeout, 10s);
  EXPECT_EQ(c.server.keepalive_timeout, 2min);
  EXPECT_EQ(c.server.drain_timeout, 1500ms);

  ASSERT_EQ(c.providers.size(), 2u);
  const auto& openai = c.providers[0];
  EXPECT_EQ(openai.name, "openai");
  EXPECT_EQ(openai.kind, "openai");
  EXPECT_EQ(openai.base_url, "https://api.openai.com/v1");
  EXPECT_TRUE(openai.endpoint.tls);
  EXPECT_EQ(openai.endpoint.host, "api.openai.com");
  EXPECT_EQ(openai.endpoint.port, 443);
  EXPECT_EQ(openai.endpoint.path_prefix, "/v1");
  EXPECT_EQ(openai.endpoint.host_header, "api.openai.com");
  EXPECT_EQ(openai.api_key, "sk-openai-cccc-3333");
  EXPECT_EQ(openai.pool.max_idle, 8u);
  EXPECT_EQ(openai.pool.max_connections, 64u);
  EXPECT_EQ(openai.timeouts.connect, 2s);
  EXPECT_EQ(openai.timeouts.first_byte, 45s);
  EXPECT_EQ(openai.timeouts.idle, 90s);
  EXPECT_EQ(openai.timeouts.total, 10min);
  EXPECT_FALSE(openai.tls_verify);

  const auto& local = c.providers[1];
  EXPECT_EQ(local.name, "local");
  EXPECT_FALSE(local.endpoint.tls);
  EXPECT_EQ(local.endpoint.host, "::1");
  EXPECT_EQ(local.endpoint.port, 8081);
  EXPECT_EQ(local.endpoint.path_prefix, "/llm");
  EXPECT_EQ(local.endpoint.host_header, "[::1]:8081");
  EXPECT_TRUE(local.api_key.empty());

  ASSERT_EQ(c.models.size(), 2u);
  const auto* gpt = c.find_model("gpt-4o");
  ASSERT_NE(gpt, nullptr);
  EXPECT_EQ(gpt, &c.models[0]);
  ASSERT_EQ(gpt->deployments.size(), 2u);
  EXPECT_EQ(gpt->deployments[0].provider, "openai");
  EXPECT_EQ(gpt->deployments[0].provider_index, 0u);
  EXPECT_EQ(gpt->deployments[0].model, "gpt-4o-2024-08-06");
  EXPECT_DOUBLE_EQ(gpt->deployments[0].price.input_per_million, 2.5);
  EXPECT_DOUBLE_EQ(gpt->deployments[0].price.output_per_million, 10.0);
  EXPECT_EQ(gpt->deployments[1].provider, "local");
  EXPECT_EQ(gpt->deployments[1].provider_index, 1u);
  EXPECT_EQ(gpt->deployments[1].model, "gpt-4o");  // defaults to the model's name

  const auto* mini = c.find_model("mini");
  ASSERT_NE(mini, nullptr);
  ASSERT_EQ(mini->deployments.size(), 1u);
  EXPECT_EQ(mini->deployments[0].provider_index, 1u);
  EXPECT_EQ(mini->deployments[0].model, "llama-3-8b");
  EXPECT_DOUBLE_EQ(mini->deployments[0].price.input_per_million, 0.15);
  EXPECT_DOUBLE_EQ(mini->deployments[0].price.output_per_million, 0.0);

  EXPECT_EQ(c.find_model("gpt-4"), nullptr);
  EXPECT_EQ(c.model_names(), "gpt-4o, mini");
}

constexpr std::string_view kMinimal = R"(
providers:
  relay:
    base_url: http://relay:8080/v1
models:
  m:
    deployments:
      - provider: relay
)";

TEST(ParseConfig, DefaultsWhenOmitted) {
  const auto r = parse(kMinimal);
  ASSERT_TRUE(r.ok()) << r.error().message;
  const Config& c = r.value();
  EXPECT_EQ(c.source, "<string>");
  EXPECT_EQ(c.server.host, "127.0.0.1");
  EXPECT_EQ(c.server.port, 8000);
  EXPECT_EQ(c.server.threads, 0);
  EXPECT_TRUE(c.server.api_keys.empty());
  EXPECT_TRUE(c.server.cors_origins.empty());
  EXPECT_FALSE(c.server.cors_credentials);
  EXPECT_EQ(c.server.max_body_bytes, 4u * 1024 * 1024);
  EXPECT_EQ(c.server.max_header_bytes, 16u * 1024);
  EXPECT_EQ(c.server.max_json_depth, 64);
  EXPECT_EQ(c.server.request_timeout, 30s);
  EXPECT_EQ(c.server.keepalive_timeout, 60s);
  EXPECT_EQ(c.server.drain_timeout, 30s);

  ASSERT_EQ(c.providers.size(), 1u);
  const auto& p = c.providers[0];
  EXPECT_EQ(p.kind, "openai");
  EXPECT_TRUE(p.api_key.empty());
  EXPECT_EQ(p.pool.max_idle, 20u);
  EXPECT_EQ(p.pool.max_connections, 100u);
  EXPECT_EQ(p.timeouts.connect, 5s);
  EXPECT_EQ(p.timeouts.first_byte, 30s);
  EXPECT_EQ(p.timeouts.idle, 60s);
  EXPECT_EQ(p.timeouts.total, 120s);
  EXPECT_TRUE(p.tls_verify);
  EXPECT_TRUE(p.ca_file.empty());
  EXPECT_EQ(p.endpoint.host, "relay");
  EXPECT_EQ(p.endpoint.port, 8080);
  EXPECT_EQ(p.endpoint.host_header, "relay:8080");

  ASSERT_EQ(c.models.size(), 1u);
  ASSERT_EQ(c.models[0].deployments.size(), 1u);
  EXPECT_EQ(c.models[0].deployments[0].model, "m");
  EXPECT_EQ(c.models[0].deployments[0].price.input_per_million, 0.0);
  EXPECT_EQ(c.models[0].deployments[0].price.output_per_million, 0.0);
}

TEST(ParseConfig, PartialSectionsKeepOtherDefaults) {
  const auto r = parse(std::string(kMinimal) + R"(
server:
  timeouts: {request: 5s}
  limits: {max_json_depth: 10}
)");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->server.request_timeout, 5s);
  EXPECT_EQ(r->server.keepalive_timeout, 60s);
  EXPECT_EQ(r->server.max_json_depth, 10);
  EXPECT_EQ(r->server.max_body_bytes, 4u * 1024 * 1024);
}

TEST(ParseConfig, ListenAcceptsBracketedIpv6) {
  const auto r = parse(std::string(kMinimal) + "server:\n  listen: \"[::1]:8443\"\n");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->server.host, "::1");
  EXPECT_EQ(r->server.port, 8443);
}

TEST(ParseConfig, ServerLimitsUiAndReadiness) {
  const auto d = parse(kMinimal);
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->server.readiness, ServerConfig::Readiness::kServing);
  EXPECT_EQ(d->server.max_connections, 0u);
  EXPECT_TRUE(d->server.ui_enabled);
  EXPECT_FALSE(d->server.ui_given);
  EXPECT_EQ(d->server.drain_idle, std::chrono::milliseconds(1000));
  const auto r = parse(std::string(kMinimal) +
                       "server:\n  readiness: all_models\n  ui_listen: \"off\"\n"
                       "  limits: {max_connections: 500, max_connections_per_client: 20}\n"
                       "  timeouts: {drain_idle: 0s}\n");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->server.readiness, ServerConfig::Readiness::kAllModels);
  EXPECT_FALSE(r->server.ui_enabled);
  EXPECT_TRUE(r->server.ui_given);
  EXPECT_EQ(r->server.max_connections, 500u);
  EXPECT_EQ(r->server.max_connections_per_client, 20u);
  EXPECT_EQ(r->server.drain_idle, std::chrono::milliseconds(0));
  const auto ui = parse(std::string(kMinimal) + "server:\n  ui_listen: 127.0.0.1:9501\n");
  ASSERT_TRUE(ui.ok()) << ui.error().message;
  EXPECT_EQ(ui->server.ui_port, 9501);
  const auto bad = parse(std::string(kMinimal) + "server:\n  readiness: sometimes\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("expected serving or all_models"), std::string::npos)
      << bad.error().message;
  const auto zero = parse(std::string(kMinimal) + "server:\n  limits: {max_connections: 0}\n");
  EXPECT_FALSE(zero.ok());
}

TEST(ParseConfig, EnvLookupIsAskedForTheReferencedName) {
  std::vector<std::string> asked;
  const EnvLookup env = [&](const std::string& name) -> std::optional<std::string> {
    asked.push_back(name);
    return "value-of-" + name;
  };
  const auto r = parse_config(std::string(kMinimal) + "server:\n  api_keys: [env:MY_KEY]\n", env);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(asked, std::vector<std::string>{"MY_KEY"});
  EXPECT_EQ(r->server.api_keys, std::vector<std::string>{"value-of-MY_KEY"});
}

TEST(ParseConfig, EmptyConfigIsAnError) {
  const auto r = parse("");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, base::ErrorCode::kBadRequest);
  EXPECT_NE(r.error().message.find("empty"), std::string::npos);
}

TEST(ParseConfig, CorsCredentialsWithExplicitOriginsAccepted) {
  const auto r = parse(std::string(kMinimal) + R"(
server:
  cors: {origins: ["https://a.example"], credentials: true}
)");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->server.cors_credentials);
}

TEST(ParseConfig, CorsWildcardWithoutCredentialsAccepted) {
  const auto r = parse(std::string(kMinimal) + "server:\n  cors: {origins: [\"*\"]}\n");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->server.cors_origins, std::vector<std::string>{"*"});
}

// --- errors -----------------------------------------------------------------------------------

struct ErrorCase {
  const char* name;
  std::string yaml;
  std::string path;  // the message starts with "<path>: "
  std::string contains;
};
void PrintTo(const ErrorCase& c, std::ostream* os) { *os << c.name; }

class ParseConfigErrors : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(ParseConfigErrors, NamesTheKeyPathAndLeaksNoSecret) {
  const auto& c = GetParam();
  const auto r = parse(c.yaml);
  ASSERT_FALSE(r.ok()) << c.yaml;
  const auto& msg = r.error().message;
  EXPECT_EQ(r.error().code, base::ErrorCode::kBadRequest);
  EXPECT_EQ(msg.rfind(c.path + ": ", 0), 0u) << msg;
  EXPECT_NE(msg.find(c.contains), std::string::npos) << msg;
  for (const auto& [name, value] : kEnv) {
    if (value.empty()) continue;
    EXPECT_EQ(msg.find(value), std::string::npos) << name << " leaked: " << msg;
    EXPECT_EQ(r.error().detail.find(value), std::string::npos) << name << " leaked";
  }
}

const std::string kProviders = R"(
providers:
  relay:
    base_url: http://relay:8080/v1
    api_key: env:OPENAI_API_KEY
)";
const std::string kModels = R"(
models:
  m:
    deployments:
      - provider: relay
)";

std::string with_relay(std::string_view relay_body) {
  return "providers:\n  relay:\n" + std::string(relay_body) + kModels;
}
std::string with_server(std::string_view server_body) {
  return "server:\n" + std::string(server_body) + kProviders + kModels;
}
std::string with_model(std::string_view model_body) {
  return kProviders + "models:\n  m:\n" + std::string(model_body);
}

INSTANTIATE_TEST_SUITE_P(
    Config, ParseConfigErrors,
    ::testing::Values(
        ErrorCase{"UnknownTopLevelKey", "logging: {level: debug}\n" + kProviders + kModels,
                  "logging", "unknown key"},
        ErrorCase{"UnknownServerKey", with_server("  port: 80\n"), "server.port", "unknown key"},
        ErrorCase{"UnknownNestedKey",
                  with_relay("    base_url: http://relay/v1\n    timeouts:\n      conect: 5s\n"),
                  "providers.relay.timeouts.conect", "connect, first_byte, idle, total"},
        ErrorCase{"UnknownPoolKey",
                  with_relay("    base_url: http://relay/v1\n    pool: {max_size: 5}\n"),
                  "providers.relay.pool.max_size", "unknown key"},
        ErrorCase{"UnknownTlsKey",
                  with_relay("    base_url: http://relay/v1\n    tls: {verfy: false}\n"),
                  "providers.relay.tls.verfy", "unknown key"},
        ErrorCase{"UnknownModelKey",
                  with_model("    fallback: x\n    deployments: [{provider: relay}]\n"),
                  "models.m.fallback", "unknown key"},
        ErrorCase{
            "UnknownDeploymentKey", with_model("    deployments: [{provider: relay, wieght: 2}]\n"),
            "models.m.deployments[0].wieght",
            "unknown key (allowed here: id, provider, model, price, list_price, weight, region, "
            "max_context, rpm, tpm)"},
        ErrorCase{"UnknownPriceKey",
                  with_model("    deployments: [{provider: relay, price: {inputs: 1}}]\n"),
                  "models.m.deployments[0].price.inputs", "unknown key"},
        ErrorCase{"BadDuration", with_server("  timeouts:\n    request: 5 parsecs\n"),
                  "server.timeouts.request", "5 parsecs"},
        ErrorCase{"ZeroDuration",
                  with_relay("    base_url: http://relay/v1\n    timeouts: {total: 0s}\n"),
                  "providers.relay.timeouts.total", "positive duration"},
        ErrorCase{"NegativeDuration", with_server("  timeouts:\n    drain: -5s\n"),
                  "server.timeouts.drain", "-5s"},
        ErrorCase{"BadSize", with_server("  limits:\n    max_body: 4 MiB\n"),
                  "server.limits.max_body", "4 MiB"},
        ErrorCase{"ZeroSize", with_server("  limits:\n    max_headers: 0\n"),
                  "server.limits.max_headers", "size"},
        ErrorCase{"JsonDepthTooSmall", with_server("  limits:\n    max_json_depth: 1\n"),
                  "server.limits.max_json_depth", "between 2 and 1000"},
        ErrorCase{"ThreadsOutOfRange", with_server("  threads: 1000\n"), "server.threads",
                  "between 0 and 256"},
        ErrorCase{"ThreadsNotInteger", with_server("  threads: four\n"), "server.threads", "four"},
        ErrorCase{"ListenWithoutPort", with_server("  listen: localhost\n"), "server.listen",
                  "host:port"},
        ErrorCase{"ListenBadPort", with_server("  listen: \"0.0.0.0:70000\"\n"), "server.listen",
                  "0 to 65535"},
        ErrorCase{"ListenEmptyHost", with_server("  listen: \":8000\"\n"), "server.listen",
                  "host:port"},
        ErrorCase{"MissingEnvVar",
                  with_relay("    base_url: http://relay/v1\n    api_key: env:NOT_SET_ANYWHERE\n"),
                  "providers.relay.api_key", "NOT_SET_ANYWHERE"},
        ErrorCase{"EmptyEnvVar", with_server("  api_keys: [env:SHEPHERD_KEY_A, env:EMPTY_VAR]\n"),
                  "server.api_keys[1]", "EMPTY_VAR"},
        ErrorCase{"EnvWithoutName",
                  with_relay("    base_url: http://relay/v1\n    api_key: \"env:\"\n"),
                  "providers.relay.api_key", "variable name"},
        ErrorCase{"PlainTextProviderSecret",
                  with_relay("    base_url: http://relay/v1\n    api_key: sk-openai-cccc-3333\n"),
                  "providers.relay.api_key", "env:VARIABLE or file:/path"},
        ErrorCase{"PlainTextServerKey",
                  with_server("  api_keys: [env:SHEPHERD_KEY_A, sk-shepherd-bbbb-2222]\n"),
                  "server.api_keys[1]", "references"},
        ErrorCase{"UnreadableSecretFile",
                  with_server("  api_keys: [\"file:/nonexistent-shepherd-dir/key\"]\n"),
                  "server.api_keys[0]", "/nonexistent-shepherd-dir/key"},
        ErrorCase{"ApiKeysNotAList", with_server("  api_keys: env:SHEPHERD_KEY_A\n"),
                  "server.api_keys", "list"},
        ErrorCase{"CorsCredentialsWithWildcard",
                  with_server("  cors:\n    origins: [\"https://a.example\", \"*\"]\n"
                              "    credentials: true\n"),
                  "server.cors.credentials", "explicit origins"},
        ErrorCase{"CorsCredentialsBeforeWildcard",
                  with_server("  cors:\n    credentials: on\n    origins: [\"*\"]\n"),
                  "server.cors.credentials", "explicit origins"},
        ErrorCase{"CorsBadOrigin", with_server("  cors:\n    origins: [app.example.com]\n"),
                  "server.cors.origins[0]", "app.example.com"},
        ErrorCase{"CorsBadBoolean",
                  with_server("  cors:\n    origins: [\"*\"]\n    credentials: maybe\n"),
                  "server.cors.credentials", "true or false"},
        ErrorCase{"UnknownProvider", with_model("    deployments:\n      - provider: nope\n"),
                  "models.m.deployments[0].provider",
                  "unknown provider 'nope' (configured: relay)"},
        ErrorCase{"DeploymentWithoutProvider", with_model("    deployments:\n      - model: x\n"),
                  "models.m.deployments[0].provider", "required"},
        ErrorCase{"EmptyDeployments", with_model("    deployments: []\n"), "models.m.deployments",
                  "non-empty list"},
        ErrorCase{"MissingDeployments", with_model("    {}\n"), "models.m.deployments",
                  "non-empty list"},
        ErrorCase{"DeploymentsNotAList", with_model("    deployments: {provider: relay}\n"),
                  "models.m.deployments", "non-empty list"},
        ErrorCase{"EmptyDeploymentModel",
                  with_model("    deployments: [{provider: relay, model: \"\"}]\n"),
                  "models.m.deployments[0].model", "must not be empty"},
        ErrorCase{"NegativePrice",
                  with_model("    deployments: [{provider: relay, price: {input: -1}}]\n"),
                  "models.m.deployments[0].price.input", "non-negative"},
        ErrorCase{"NonNumericPrice",
                  with_model("    deployments: [{provider: relay, price: {output: cheap}}]\n"),
                  "models.m.deployments[0].price.output", "cheap"},
        ErrorCase{"InfinitePrice",
                  with_model("    deployments: [{provider: relay, price: {input: inf}}]\n"),
                  "models.m.deployments[0].price.input", "inf"},
        ErrorCase{"MissingBaseUrl", with_relay("    api_key: env:OPENAI_API_KEY\n"),
                  "providers.relay.base_url", "required"},
        ErrorCase{"CredentialsInBaseUrl",
                  with_relay("    base_url: \"https://user:sk-openai-cccc-3333@relay/v1\"\n"),
                  "providers.relay.base_url", "credentials"},
        ErrorCase{"FtpBaseUrl", with_relay("    base_url: ftp://relay/v1\n"),
                  "providers.relay.base_url", "http"},
        ErrorCase{"BadPortInBaseUrl", with_relay("    base_url: http://relay:99999/v1\n"),
                  "providers.relay.base_url", "port"},
        ErrorCase{"UnsupportedKind",
                  with_relay("    kind: bedrock\n    base_url: http://relay/v1\n"),
                  "providers.relay.kind", "bedrock"},
        ErrorCase{"FastChatSettingsOnAnotherKind",
                  with_relay("    base_url: http://relay/v1\n    fastchat: {discover: false}\n"),
                  "providers.relay.fastchat", "kind: fastchat"},
        ErrorCase{"FastChatUnknownVersion",
                  with_relay("    kind: fastchat\n    base_url: http://relay\n"
                             "    fastchat: {version: 0.3}\n"),
                  "providers.relay.fastchat.version", "0.2.36 or head"},
        ErrorCase{"FastChatUnknownKey",
                  with_relay("    kind: fastchat\n    base_url: http://relay\n"
                             "    fastchat: {template: x}\n"),
                  "providers.relay.fastchat.template", "unknown key"},
        ErrorCase{"ZeroMaxConnections",
                  with_relay("    base_url: http://relay/v1\n    pool: {max_connections: 0}\n"),
                  "providers.relay.pool.max_connections", "between 1 and"},
        ErrorCase{"TlsVerifyNotBoolean",
                  with_relay("    base_url: http://relay/v1\n    tls: {verify: sometimes}\n"),
                  "providers.relay.tls.verify", "sometimes"},
        ErrorCase{"ProvidersNotAMapping", "providers: [relay]\n" + kModels, "providers",
                  "expected a mapping"},
        ErrorCase{"ServerNotAMapping", "server: 8000\n" + kProviders + kModels, "server",
                  "expected a mapping"},
        ErrorCase{"ProviderBodyNotAMapping", "providers:\n  relay: http://relay\n" + kModels,
                  "providers.relay", "expected a mapping"},
        ErrorCase{"ListenNotScalar", with_server("  listen: [a, b]\n"), "server.listen",
                  "single value"}),
    [](const auto& test_param) { return std::string(test_param.param.name); });

std::string with_routing(std::string_view routing_body) {
  return "routing:\n" + std::string(routing_body) + kProviders + kModels;
}
std::string with_models(std::string_view models_body) {
  return kProviders + "models:\n" + std::string(models_body);
}

INSTANTIATE_TEST_SUITE_P(
    Routing, ParseConfigErrors,
    ::testing::Values(
        ErrorCase{"BadModelStrategy",
                  with_model("    strategy: fastest\n    deployments: [{provider: relay}]\n"),
                  "models.m.strategy",
                  "expected round-robin, weighted, least-busy, lowest-latency, cheapest, lottery "
                  "or shortest_queue, got 'fastest'"},
        ErrorCase{"BadRoutingStrategy", with_routing("  strategy: random\n"), "routing.strategy",
                  "'random'"},
        ErrorCase{"FallbackToUnknownModel",
                  with_model("    fallbacks: [nope]\n    deployments: [{provider: relay}]\n"),
                  "models.m.fallbacks[0]", "unknown model 'nope'"},
        ErrorCase{
            "FallbackToItself",
            with_models("  n:\n    deployments: [{provider: relay}]\n"
                        "  m:\n    fallbacks: [n, m]\n    deployments: [{provider: relay}]\n"),
            "models.m.fallbacks[1]", "cannot fall back to itself"},
        ErrorCase{"FallbacksNotAList",
                  with_model("    fallbacks: n\n    deployments: [{provider: relay}]\n"),
                  "models.m.fallbacks", "list of model names"},
        ErrorCase{"BadLatencyBound",
                  with_model("    latency_bound: fast\n    deployments: [{provider: relay}]\n"),
                  "models.m.latency_bound", "'fast'"},
        ErrorCase{"HedgeNotAMapping",
                  with_model("    hedge: true\n    deployments: [{provider: relay}]\n"),
                  "models.m.hedge", "expected a mapping"},
        ErrorCase{"UnknownHedgeKey",
                  with_model("    hedge: {delay: 1s}\n    deployments: [{provider: relay}]\n"),
                  "models.m.hedge.delay", "unknown key (allowed here: after)"},
        ErrorCase{"BadHedgeAfter",
                  with_model("    hedge: {after: soon}\n    deployments: [{provider: relay}]\n"),
                  "models.m.hedge.after", "'soon'"},
        ErrorCase{"DuplicateDeploymentId",
                  with_model("    deployments:\n      - {provider: relay, id: east}\n"
                             "      - {provider: relay, id: east}\n"),
                  "models.m.deployments[1].id", "'east' is used twice"},
        ErrorCase{"DuplicateDeploymentIdAcrossModels",
                  with_models("  a:\n    deployments: [{provider: relay, id: shared}]\n"
                              "  b:\n    deployments: [{provider: relay, id: shared}]\n"),
                  "models.b.deployments[0].id", "'shared' is used twice"},
        ErrorCase{"ExplicitIdTakesAnotherModelsDefault",
                  with_models("  a:\n    deployments: [{provider: relay, id: b@relay}]\n"
                              "  b:\n    deployments: [{provider: relay}]\n"),
                  "models.b.deployments[0].id", "'b@relay' is used twice"},
        ErrorCase{"IdWithSpace", with_model("    deployments: [{provider: relay, id: \"a b\"}]\n"),
                  "models.m.deployments[0].id", "letters, digits and - _ . @ : only"},
        ErrorCase{"IdWithSlash", with_model("    deployments: [{provider: relay, id: a/b}]\n"),
                  "models.m.deployments[0].id", "letters, digits"},
        ErrorCase{"EmptyId", with_model("    deployments: [{provider: relay, id: \"\"}]\n"),
                  "models.m.deployments[0].id", "letters, digits"},
        ErrorCase{"ZeroWeight", with_model("    deployments: [{provider: relay, weight: 0}]\n"),
                  "models.m.deployments[0].weight", "greater than 0"},
        ErrorCase{"NegativeWeight",
                  with_model("    deployments: [{provider: relay, weight: -1}]\n"),
                  "models.m.deployments[0].weight", "non-negative"},
        ErrorCase{"ZeroMaxContext",
                  with_model("    deployments: [{provider: relay, max_context: 0}]\n"),
                  "models.m.deployments[0].max_context", "between 1 and"},
        ErrorCase{"RpmNotAnInteger", with_model("    deployments: [{provider: relay, rpm: 1.5}]\n"),
                  "models.m.deployments[0].rpm", "expected an integer, got '1.5'"},
        ErrorCase{"ZeroTpm", with_model("    deployments: [{provider: relay, tpm: 0}]\n"),
                  "models.m.deployments[0].tpm", "between 1 and"},
        ErrorCase{"BadHealthCheckKind",
                  with_relay("    base_url: http://relay/v1\n    health_check: {kind: ping}\n"),
                  "providers.relay.health_check.kind", "expected models, connect or off"},
        ErrorCase{"UnknownHealthCheckKey",
                  with_relay("    base_url: http://relay/v1\n    health_check: {every: 5s}\n"),
                  "providers.relay.health_check.every", "unknown key"},
        ErrorCase{"BadHealthCheckInterval",
                  with_relay("    base_url: http://relay/v1\n    health_check: {interval: 0s}\n"),
                  "providers.relay.health_check.interval", "positive duration"},
        ErrorCase{"MaxAttemptsZero", with_routing("  max_attempts: 0\n"), "routing.max_attempts",
                  "between 1 and 10"},
        ErrorCase{"MaxAttemptsEleven", with_routing("  max_attempts: 11\n"), "routing.max_attempts",
                  "between 1 and 10"},
        ErrorCase{"ExplorationAboveOne", with_routing("  exploration: 1.5\n"),
                  "routing.exploration", "between 0 and 1"},
        ErrorCase{"NegativeExploration", with_routing("  exploration: -0.1\n"),
                  "routing.exploration", "non-negative"},
        ErrorCase{"UnknownRoutingKey", with_routing("  retries: 3\n"), "routing.retries",
                  "unknown key"},
        ErrorCase{"RoutingNotAMapping", "routing: fast\n" + kProviders + kModels, "routing",
                  "expected a mapping"},
        ErrorCase{"UnknownBackoffKey", with_routing("  backoff: {min: 1s}\n"),
                  "routing.backoff.min", "unknown key (allowed here: base, max)"},
        ErrorCase{"BadBackoffBase", with_routing("  backoff: {base: 0ms}\n"),
                  "routing.backoff.base", "positive duration"},
        ErrorCase{"BadRetryAfterCap", with_routing("  retry_after_cap: forever\n"),
                  "routing.retry_after_cap", "'forever'"},
        ErrorCase{"RetryBudgetRatioTooHigh", with_routing("  retry_budget: {ratio: 11}\n"),
                  "routing.retry_budget.ratio", "at most 10"},
        ErrorCase{"NegativeRetryBudgetBurst", with_routing("  retry_budget: {burst: -1}\n"),
                  "routing.retry_budget.burst", "between 0 and"},
        ErrorCase{"UnknownRetryBudgetKey", with_routing("  retry_budget: {percent: 20}\n"),
                  "routing.retry_budget.percent", "unknown key"},
        ErrorCase{"ZeroDeadline", with_routing("  deadline: 0s\n"), "routing.deadline",
                  "positive duration"},
        ErrorCase{"CooldownFailuresZero", with_routing("  cooldown: {failures: 0}\n"),
                  "routing.cooldown.failures", "between 1 and 64"},
        ErrorCase{"UnknownCooldownKey", with_routing("  cooldown: {period: 5s}\n"),
                  "routing.cooldown.period", "failures, window, duration, auth"},
        ErrorCase{"BadAuthCooldown", with_routing("  cooldown: {auth: later}\n"),
                  "routing.cooldown.auth", "'later'"},
        ErrorCase{"UnknownQueueKey", with_routing("  queue: {depth: 5}\n"), "routing.queue.depth",
                  "unknown key (allowed here: size, wait)"},
        ErrorCase{"NegativeQueueSize", with_routing("  queue: {size: -1}\n"), "routing.queue.size",
                  "between 0 and"},
        ErrorCase{"PlainTextMasterKey", with_server("  master_key: sk-shepherd-aaaa-1111\n"),
                  "server.master_key", "env:VARIABLE or file:/path"},
        ErrorCase{"MasterKeyFromMissingEnv", with_server("  master_key: env:NO_SUCH_KEY\n"),
                  "server.master_key", "NO_SUCH_KEY"}),
    [](const auto& test_param) { return std::string(test_param.param.name); });

// --- routing, deployments, health checks ------------------------------------------------------

TEST(ParseConfig, RoutingSectionParsesEveryKey) {
  const auto r = parse(std::string(kMinimal) + R"(
routing:
  strategy: least-busy
  max_attempts: 5
  backoff: {base: 100ms, max: 5s}
  retry_after_cap: 20s
  retry_budget: {ratio: 0.5, burst: 4}
  deadline: 90s
  cooldown: {failures: 3, window: 10s, duration: 1m, auth: 10m}
  exploration: 0.1
  queue: {size: 50, wait: 2s}
)");
  ASSERT_TRUE(r.ok()) << r.error().message;
  const auto& routing = r->routing;
  EXPECT_EQ(routing.strategy, Strategy::kLeastBusy);
  EXPECT_EQ(routing.max_attempts, 5);
  EXPECT_EQ(routing.backoff_base, 100ms);
  EXPECT_EQ(routing.backoff_max, 5s);
  EXPECT_EQ(routing.retry_after_cap, 20s);
  EXPECT_DOUBLE_EQ(routing.retry_budget_ratio, 0.5);
  EXPECT_EQ(routing.retry_budget_burst, 4);
  EXPECT_EQ(routing.deadline, 90s);
  EXPECT_EQ(routing.breaker_failures, 3);
  EXPECT_EQ(routing.breaker_window, 10s);
  EXPECT_EQ(routing.cooldown, 1min);
  EXPECT_EQ(routing.auth_cooldown, 10min);
  EXPECT_DOUBLE_EQ(routing.exploration, 0.1);
  EXPECT_EQ(routing.queue_size, 50u);
  EXPECT_EQ(routing.queue_wait, 2s);
}

TEST(ParseConfig, FastChatControllerTakesItsKeysAndDefaults) {
  const auto none = parse(kMinimal);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->fastchat.controller.enabled);
  const auto defaults = parse(std::string(kMinimal) + "fastchat:\n  controller:\n");
  ASSERT_TRUE(defaults.ok()) << defaults.error().message;
  const auto& d = defaults->fastchat.controller;
  EXPECT_TRUE(d.enabled);
  EXPECT_EQ(d.host, "127.0.0.1");
  EXPECT_EQ(d.port, 21001);
  EXPECT_EQ(d.dispatch, "shortest_queue");
  EXPECT_EQ(d.heart_beat_expiration, 90s);
  const auto set = parse(std::string(kMinimal) +
                         "fastchat:\n  controller: {listen: '0.0.0.0:0', dispatch: lottery, "
                         "heart_beat_expiration: 5s}\n");
  ASSERT_TRUE(set.ok()) << set.error().message;
  const auto& c = set->fastchat.controller;
  EXPECT_EQ(c.host, "0.0.0.0");
  EXPECT_EQ(c.port, 0);
  EXPECT_EQ(c.dispatch, "lottery");
  EXPECT_EQ(c.heart_beat_expiration, 5s);
}

TEST(ParseConfig, FastChatControllerErrorsNameTheKey) {
  for (const auto& [yaml, path] : std::vector<std::pair<std::string, std::string>>{
           {"fastchat:\n  controller: {dispatch: random}\n", "fastchat.controller.dispatch"},
           {"fastchat:\n  controller: {listen: nowhere}\n", "fastchat.controller.listen"},
           {"fastchat:\n  controller: {port: 1}\n", "fastchat.controller.port"},
           {"fastchat:\n  worker: {listen: nowhere}\n", "fastchat.worker.listen"},
           {"fastchat:\n  worker: {controller: ftp://x}\n", "fastchat.worker.controller"},
           {"fastchat:\n  worker: {limit_concurrency: 0}\n", "fastchat.worker.limit_concurrency"},
           {"fastchat:\n  worker: {conv_templates: {nope: chatml}}\n",
            "fastchat.worker.conv_templates.nope"},
           {"fastchat:\n  nothing: {}\n", "fastchat.nothing"},
           {"fastchat: [1]\n", "fastchat"},
       }) {
    const auto r = parse(std::string(kMinimal) + yaml);
    ASSERT_FALSE(r.ok()) << yaml;
    EXPECT_NE(r.error().message.find(path), std::string::npos) << r.error().message;
  }
}

TEST(ParseConfig, ListenerTlsOnEveryListener) {
  // Any readable files pass parsing; whether they hold a certificate is checked when loaded.
  const auto dir = std::filesystem::temp_directory_path() / "shepherd-config-tls";
  std::filesystem::create_directories(dir);
  const auto cert = (dir / "cert.pem").string();
  const auto key = (dir / "key.pem").string();
  std::ofstream(cert) << "cert";
  std::ofstream(key) << "key";
  const auto files = "{cert: " + cert + ", key: " + key;
  const auto r = parse(std::string(kMinimal) + "server:\n  tls: " + files +
                       ", min_version: '1.3'}\nfastchat:\n  controller: {tls: " + files +
                       "}}\n  worker: {tls: " + files + "}}\n");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->server.tls.enabled());
  EXPECT_EQ(r->server.tls.cert, cert);
  EXPECT_EQ(r->server.tls.key, key);
  EXPECT_EQ(r->server.tls.min_version, "1.3");
  EXPECT_EQ(r->fastchat.controller.tls.min_version, "1.2");
  EXPECT_EQ(r->fastchat.worker.tls.key, key);
  EXPECT_FALSE(parse(kMinimal)->server.tls.enabled());
  for (const auto& [yaml, path, reason] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"server:\n  tls: " + files + ", min_version: '1.1'}\n", "server.tls.min_version",
            "1.2 or 1.3"},
           {"server:\n  tls: {cert: " + cert + "}\n", "server.tls", "both cert and key"},
           {"server:\n  tls: {cert: " + cert + ", key: /nonexistent-shepherd/key.pem}\n",
            "server.tls.key", "cannot read"},
           {"server:\n  tls: " + files + ", ciphers: all}\n", "server.tls.ciphers", "unknown key"},
           {"fastchat:\n  worker: {tls: {key: " + key + "}}\n", "fastchat.worker.tls",
            "both cert and key"},
       }) {
    const auto bad = parse(std::string(kMinimal) + yaml);
    ASSERT_FALSE(bad.ok()) << yaml;
    EXPECT_NE(bad.error().message.find(path + ": "), std::string::npos) << bad.error().message;
    EXPECT_NE(bad.error().message.find(reason), std::string::npos) << bad.error().message;
  }
  std::filesystem::remove_all(dir);
}

TEST(ParseConfig, EveryStrategyNameReadsBack) {
  for (auto s :
       {Strategy::kRoundRobin, Strategy::kWeighted, Strategy::kLeastBusy, Strategy::kLowestLatency,
        Strategy::kCheapest, Strategy::kLottery, Strategy::kShortestQueue}) {
    const auto r =
        parse(std::string(kMinimal) + "routing:\n  strategy: " + strategy_name(s) + "\n");
    ASSERT_TRUE(r.ok()) << strategy_name(s) << ": " << r.error().message;
    EXPECT_EQ(r->routing.strategy, s);
  }
  EXPECT_STREQ(strategy_name(Strategy::kShortestQueue), "shortest_queue");
}

TEST(ParseConfig, RoutingExtremesAccepted) {
  const auto r = parse(std::string(kMinimal) + R"(
routing:
  max_attempts: 10
  exploration: 1
  retry_budget: {ratio: 0, burst: 0}
  queue: {size: 0}
)");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->routing.max_attempts, 10);
  EXPECT_DOUBLE_EQ(r->routing.exploration, 1.0);
  EXPECT_DOUBLE_EQ(r->routing.retry_budget_ratio, 0.0);
  EXPECT_EQ(r->routing.retry_budget_burst, 0);
  EXPECT_EQ(r->routing.queue_size, 0u);
}

TEST(ParseConfig, RoutingAndNewKeysDefaultWhenOmitted) {
  const auto r = parse(kMinimal);
  ASSERT_TRUE(r.ok()) << r.error().message;
  const RoutingConfig defaults;
  const auto& routing = r->routing;
  EXPECT_EQ(routing.strategy, Strategy::kRoundRobin);
  EXPECT_EQ(routing.max_attempts, 3);
  EXPECT_EQ(routing.backoff_base, defaults.backoff_base);
  EXPECT_EQ(routing.backoff_max, defaults.backoff_max);
  EXPECT_EQ(routing.retry_after_cap, defaults.retry_after_cap);
  EXPECT_DOUBLE_EQ(routing.retry_budget_ratio, 0.2);
  EXPECT_EQ(routing.retry_budget_burst, defaults.retry_budget_burst);
  EXPECT_EQ(routing.deadline, defaults.deadline);
  EXPECT_EQ(routing.breaker_failures, defaults.breaker_failures);
  EXPECT_EQ(routing.cooldown, defaults.cooldown);
  EXPECT_EQ(routing.auth_cooldown, defaults.auth_cooldown);
  EXPECT_DOUBLE_EQ(routing.exploration, defaults.exploration);
  EXPECT_EQ(routing.queue_wait, defaults.queue_wait);

  EXPECT_TRUE(r->server.master_key.empty());
  EXPECT_EQ(r->providers[0].health_check.kind, HealthCheckConfig::Kind::kOff);

  const auto& m = r->models[0];
  EXPECT_EQ(m.strategy, Strategy::kRoundRobin);
  EXPECT_EQ(m.latency_bound, std::nullopt);
  EXPECT_TRUE(m.fallbacks.empty());
  EXPECT_TRUE(m.fallback_indices.empty());
  EXPECT_FALSE(m.hedge.enabled);
  EXPECT_EQ(m.hedge.after, std::nullopt);

  const auto& d = m.deployments[0];
  EXPECT_EQ(d.id, "m@relay");
  EXPECT_DOUBLE_EQ(d.weight, 1.0);
  EXPECT_TRUE(d.region.empty());
  EXPECT_EQ(d.max_context, 0u);
  EXPECT_EQ(d.rpm, 0u);
  EXPECT_EQ(d.tpm, 0u);
}

TEST(ParseConfig, DeploymentKeysParse) {
  const auto r = parse(kProviders + R"(
models:
  m:
    deployments:
      - provider: relay
        id: relay-east_1.a@b:c
        weight: 2.5
        region: us-east-1
        max_context: 128000
        rpm: 500
        tpm: 2000000
)");
  ASSERT_TRUE(r.ok()) << r.error().message;
  const auto& d = r->models[0].deployments[0];
  EXPECT_EQ(d.id, "relay-east_1.a@b:c");
  EXPECT_DOUBLE_EQ(d.weight, 2.5);
  EXPECT_EQ(d.region, "us-east-1");
  EXPECT_EQ(d.max_context, 128000u);
  EXPECT_EQ(d.rpm, 500u);
  EXPECT_EQ(d.tpm, 2000000u);
  EXPECT_EQ(r->find_deployment("relay-east_1.a@b:c"), (std::pair<std::size_t, std::size_t>{0, 0}));
  EXPECT_EQ(r->find_deployment("m@relay"), std::nullopt);
}

TEST(ParseConfig, DefaultDeploymentIdsAreModelAtProviderNumberedWhenRepeated) {
  const auto r = parse(R"(
providers:
  relay: {base_url: "http://relay/v1"}
  other: {base_url: "http://other/v1"}
models:
  m:
    deployments:
      - {provider: relay, model: small}
      - {provider: relay, model: large}
      - {provider: other}
  n:
    deployments:
      - {provider: relay}
      - {provider: other, id: custom}
)");
  ASSERT_TRUE(r.ok()) << r.error().message;
  const auto& m = r->models[0].deployments;
  EXPECT_EQ(m[0].id, "m@relay-1");
  EXPECT_EQ(m[1].id, "m@relay-2");
  EXPECT_EQ(m[2].id, "m@other");
  const auto& n = r->models[1].deployments;
  EXPECT_EQ(n[0].id, "n@relay");
  EXPECT_EQ(n[1].id, "custom");
  EXPECT_EQ(r->find_deployment("m@relay-2"), (std::pair<std::size_t, std::size_t>{0, 1}));
  EXPECT_EQ(r->find_deployment("n@relay"), (std::pair<std::size_t, std::size_t>{1, 0}));
}

TEST(ParseConfig, ModelKeysParse) {
  const auto r = parse(kProviders + R"(
models:
  primary:
    strategy: cheapest
    latency_bound: 1500ms
    fallbacks: [backup, spare]
    hedge: {after: 300ms}
    deployments: [{provider: relay}]
  spare:
    deployments: [{provider: relay}]
  backup:
    hedge: {after: p95}
    deployments: [{provider: relay}]
  plain:
    hedge: {}
    deployments: [{provider: relay}]
)");
  ASSERT_TRUE(r.ok()) << r.error().message;
  const auto& primary = r->models[0];
  EXPECT_EQ(primary.strategy, Strategy::kCheapest);
  EXPECT_EQ(primary.latency_bound, 1500ms);
  EXPECT_EQ(primary.fallbacks, (std::vector<std::string>{"backup", "spare"}));
  // Fallbacks may name models defined later in the file.
  EXPECT_EQ(primary.fallback_indices, (std::vector<std::size_t>{2, 1}));
  EXPECT_TRUE(primary.hedge.enabled);
  EXPECT_EQ(primary.hedge.after, 300ms);

  const auto& backup = r->models[2];
  EXPECT_TRUE(backup.hedge.enabled);
  EXPECT_EQ(backup.hedge.after, std::nullopt);  // p95: measured
  EXPECT_TRUE(r->models[3].hedge.enabled);
  EXPECT_EQ(r->models[3].hedge.after, std::nullopt);
  EXPECT_FALSE(r->models[1].hedge.enabled);
}

TEST(ParseConfig, EveryStrategyNameParsesAndRoundTrips) {
  for (auto s : {Strategy::kRoundRobin, Strategy::kWeighted, Strategy::kLeastBusy,
                 Strategy::kLowestLatency, Strategy::kCheapest}) {
    const auto r = parse(kProviders + "models:\n  m:\n    strategy: " + strategy_name(s) +
                         "\n    deployments: [{provider: relay}]\n");
    ASSERT_TRUE(r.ok()) << strategy_name(s) << ": " << r.error().message;
    EXPECT_EQ(r->models[0].strategy, s) << strategy_name(s);
  }
}

TEST(ParseConfig, RoutingStrategyIsTheDefaultForModelsThatNameNone) {
  // The routing section may come after the models in the file.
  const auto r = parse(kProviders + R"(
models:
  plain:
    deployments: [{provider: relay}]
  own:
    strategy: weighted
    deployments: [{provider: relay}]
routing:
  strategy: lowest-latency
)");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->models[0].strategy, Strategy::kLowestLatency);
  EXPECT_EQ(r->models[1].strategy, Strategy::kWeighted);
}

TEST(ParseConfig, HealthCheckParses) {
  const auto r = parse(R"(
providers:
  a:
    base_url: http://a/v1
    health_check: {}
  b:
    base_url: http://b/v1
    health_check: {kind: connect, interval: 10s, timeout: 2s}
  c:
    base_url: http://c/v1
    health_check: {kind: off}
  d:
    base_url: http://d/v1
    health_check: {kind: models}
models:
  m:
    deployments: [{provider: a}]
)");
  ASSERT_TRUE(r.ok()) << r.error().message;
  const HealthCheckConfig defaults;
  // A health_check section without a kind turns on the models check.
  EXPECT_EQ(r->providers[0].health_check.kind, HealthCheckConfig::Kind::kModels);
  EXPECT_EQ(r->providers[0].health_check.interval, defaults.interval);
  EXPECT_EQ(r->providers[0].health_check.timeout, defaults.timeout);
  EXPECT_EQ(r->providers[1].health_check.kind, HealthCheckConfig::Kind::kConnect);
  EXPECT_EQ(r->providers[1].health_check.interval, 10s);
  EXPECT_EQ(r->providers[1].health_check.timeout, 2s);
  EXPECT_EQ(r->providers[2].health_check.kind, HealthCheckConfig::Kind::kOff);
  EXPECT_EQ(r->providers[3].health_check.kind, HealthCheckConfig::Kind::kModels);
}

TEST(ParseConfig, MasterKeyResolvesFromEnv) {
  const auto r = parse(std::string(kMinimal) + "server:\n  master_key: env:SHEPHERD_KEY_B\n");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->server.master_key, "sk-shepherd-bbbb-2222");
}

TEST(ParseConfig, MasterKeyResolvesFromFile) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("shepherd_config_test_master_key_" + std::to_string(::getpid()));
  {
    std::ofstream out(path, std::ios::binary);
    out << "mk-from-file\n";
  }
  const auto r =
      parse(std::string(kMinimal) + "server:\n  master_key: \"file:" + path.string() + "\"\n");
  std::filesystem::remove(path);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->server.master_key, "mk-from-file");
}

TEST(ParseConfig, ErrorLaterInFileDoesNotLeakResolvedSecrets) {
  const auto r = parse(R"(
server:
  api_keys: [env:SHEPHERD_KEY_A]
providers:
  relay:
    base_url: http://relay/v1
    api_key: env:OPENAI_API_KEY
    pool: {max_idle: lots}
)");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message.find("sk-"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("providers.relay.pool.max_idle"), std::string::npos);
}

TEST(ParseConfig, InvalidYamlIsAnError) {
  for (std::string_view yaml : {"server: [unclosed\n", "providers:\n  a: b\n c: d\n", "{{{"}) {
    const auto r = parse(yaml);
    ASSERT_FALSE(r.ok()) << yaml;
    EXPECT_EQ(r.error().code, base::ErrorCode::kBadRequest);
    EXPECT_EQ(r.error().message.rfind("invalid YAML", 0), 0u) << r.error().message;
  }
}

TEST(ParseConfig, NonMappingRootIsAnError) {
  const auto r = parse("- just\n- a list\n");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("must be a mapping"), std::string::npos) << r.error().message;
}

// --- parse_duration ---------------------------------------------------------------------------

struct DurationCase {
  const char* text;
  std::optional<Millis> expected;
};
void PrintTo(const DurationCase& c, std::ostream* os) { *os << '"' << c.text << '"'; }

class ParseDurationTable : public ::testing::TestWithParam<DurationCase> {};

TEST_P(ParseDurationTable, Parses) {
  EXPECT_EQ(parse_duration(GetParam().text), GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(
    Config, ParseDurationTable,
    ::testing::Values(DurationCase{"250ms", 250ms}, DurationCase{"5s", 5s}, DurationCase{"5", 5s},
                      DurationCase{"2m", 2min}, DurationCase{"1h", 1h},
                      DurationCase{"1.5s", 1500ms}, DurationCase{".5s", 500ms},
                      DurationCase{"0.25m", 15s}, DurationCase{"0", 0ms}, DurationCase{"90s", 90s},
                      DurationCase{"", std::nullopt}, DurationCase{"s", std::nullopt},
                      DurationCase{"ms", std::nullopt}, DurationCase{".", std::nullopt},
                      DurationCase{"5x", std::nullopt}, DurationCase{"5 s", std::nullopt},
                      DurationCase{" 5s", std::nullopt}, DurationCase{"5S", std::nullopt},
                      DurationCase{"-1s", std::nullopt}, DurationCase{"1e3", std::nullopt},
                      DurationCase{"1.2.3s", std::nullopt}, DurationCase{"5sec", std::nullopt},
                      DurationCase{"1d", Millis(86'400'000)}, DurationCase{"1w", std::nullopt},
                      DurationCase{"1000000000h", std::nullopt}));

// --- parse_size -------------------------------------------------------------------------------

struct SizeCase {
  const char* text;
  std::optional<std::size_t> expected;
};
void PrintTo(const SizeCase& c, std::ostream* os) { *os << '"' << c.text << '"'; }

class ParseSizeTable : public ::testing::TestWithParam<SizeCase> {};

TEST_P(ParseSizeTable, Parses) { EXPECT_EQ(parse_size(GetParam().text), GetParam().expected); }

constexpr std::size_t kKi = 1024;
INSTANTIATE_TEST_SUITE_P(
    Config, ParseSizeTable,
    ::testing::Values(
        SizeCase{"1024", 1024}, SizeCase{"0", 0}, SizeCase{"10B", 10},
        SizeCase{"512KiB", 512 * kKi}, SizeCase{"4MiB", 4 * kKi* kKi},
        SizeCase{"2GiB", 2 * kKi* kKi* kKi}, SizeCase{"1K", kKi}, SizeCase{"3KB", 3 * kKi},
        SizeCase{"3MB", 3 * kKi* kKi}, SizeCase{"1M", kKi* kKi}, SizeCase{"1G", kKi* kKi* kKi},
        SizeCase{"", std::nullopt}, SizeCase{"MiB", std::nullopt}, SizeCase{"4 MiB", std::nullopt},
        SizeCase{"4mib", std::nullopt}, SizeCase{"-1", std::nullopt},
        SizeCase{"1.5MiB", std::nullopt}, SizeCase{"4TiB", std::nullopt},
        SizeCase{"99999999999999999999", std::nullopt},
        // 17179869185 GiB = 2^64 + 1 GiB: does not fit, must not wrap to 1 GiB.
        SizeCase{"17179869185GiB", std::nullopt}, SizeCase{"1099511627776G", std::nullopt}));

// --- parse_endpoint ---------------------------------------------------------------------------

struct EndpointCase {
  const char* url;
  bool tls;
  const char* host;
  std::uint16_t port;
  const char* path_prefix;
  const char* host_header;
};
void PrintTo(const EndpointCase& c, std::ostream* os) { *os << c.url; }

class ParseEndpointTable : public ::testing::TestWithParam<EndpointCase> {};

TEST_P(ParseEndpointTable, SplitsUrl) {
  const auto& c = GetParam();
  const auto r = parse_endpoint(c.url);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->tls, c.tls);
  EXPECT_EQ(r->host, c.host);
  EXPECT_EQ(r->port, c.port);
  EXPECT_EQ(r->path_prefix, c.path_prefix);
  EXPECT_EQ(r->host_header, c.host_header);
}

INSTANTIATE_TEST_SUITE_P(
    Config, ParseEndpointTable,
    ::testing::Values(
        EndpointCase{"https://api.openai.com/v1", true, "api.openai.com", 443, "/v1",
                     "api.openai.com"},
        EndpointCase{"http://relay", false, "relay", 80, "", "relay"},
        EndpointCase{"http://relay/", false, "relay", 80, "", "relay"},
        EndpointCase{"http://localhost:8080/", false, "localhost", 8080, "", "localhost:8080"},
        EndpointCase{"https://gw.example.com:8443/openai/v1///", true, "gw.example.com", 8443,
                     "/openai/v1", "gw.example.com:8443"},
        EndpointCase{"http://10.0.0.7:1/v1/", false, "10.0.0.7", 1, "/v1", "10.0.0.7:1"},
        EndpointCase{"http://[::1]:9000/v1", false, "::1", 9000, "/v1", "[::1]:9000"},
        EndpointCase{"https://[2001:db8::1]/", true, "2001:db8::1", 443, "", "[2001:db8::1]"},
        EndpointCase{"https://h:65535", true, "h", 65535, "", "h:65535"}));

class ParseEndpointErrors : public ::testing::TestWithParam<const char*> {};

TEST_P(ParseEndpointErrors, Refuses) {
  const auto r = parse_endpoint(GetParam());
  ASSERT_FALSE(r.ok()) << GetParam() << " parsed with host '" << r->host << "'";
  EXPECT_EQ(r.error().code, base::ErrorCode::kBadRequest);
  EXPECT_FALSE(r.error().message.empty());
}

INSTANTIATE_TEST_SUITE_P(
    Config, ParseEndpointErrors,
    ::testing::Values("", "relay:8080", "ftp://relay/v1", "HTTP://relay", "ws://relay", "http://",
                      "http:///v1", "http://:8080/v1", "http://user:pw@relay/v1",
                      "http://token@relay", "http://relay:0", "http://relay:65536",
                      "http://relay:", "http://relay:/v1", "http://relay:80x", "http://relay:-1",
                      "http://relay:1:2", "http://[::1", "http://[]:80", "http://[::1]x",
                      "http://relay/v1?x=1", "http://relay/v1#frag",
                      // A query or fragment right after the authority is still one.
                      "http://relay?x=1", "http://relay#frag",
                      // An empty port after an IPv6 literal, like after a name.
                      "http://[::1]:", "http://[::1]:/v1"));

}  // namespace
}  // namespace shepherd::config
