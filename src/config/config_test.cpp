#include "config/config.hpp"

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

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
        ErrorCase{"UnknownDeploymentKey",
                  with_model("    deployments: [{provider: relay, weight: 2}]\n"),
                  "models.m.deployments[0].weight", "unknown key"},
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
                  with_relay("    kind: anthropic\n    base_url: http://relay/v1\n"),
                  "providers.relay.kind", "anthropic"},
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
                      DurationCase{"1d", std::nullopt}, DurationCase{"1000000000h", std::nullopt}));

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
