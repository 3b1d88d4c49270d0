// What `shepherd worker` makes of FastChat's requests: the catalog of models and templates, and
// the request in the common form a generate request becomes. Prompts are written by hand from
// FastChat's Conversation.get_prompt() (docs/fastchat-protocol.md §3.3), never taken from this
// code.
#include "fastchat/worker_request.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace shepherd::fastchat {
namespace {

namespace json = boost::json;

config::Config config_of(std::string worker_yaml) {
  const std::string yaml =
      "providers:\n"
      "  up: {kind: openai, base_url: http://127.0.0.1:9/v1}\n"
      "models:\n"
      "  zeta: {deployments: [{provider: up}]}\n"
      "  alpha: {deployments: [{provider: up, max_context: 32000}, {provider: up, max_context: "
      "128000}]}\n"
      "fastchat:\n"
      "  worker:\n" +
      worker_yaml;
  auto c = config::parse_config(yaml, [](const std::string&) { return std::nullopt; });
  EXPECT_TRUE(c.ok()) << c.error().message;
  return std::move(c).value();
}

TEST(WorkerCatalog, ServesEveryModelSortedWithTheDefaultTemplate) {
  auto catalog = WorkerCatalog::make(config_of("    listen: 127.0.0.1:0\n"));
  ASSERT_TRUE(catalog.ok()) << catalog.error().message;
  ASSERT_EQ(catalog->models().size(), 2u);
  EXPECT_EQ(catalog->models()[0].name, "alpha");
  EXPECT_EQ(catalog->models()[1].name, "zeta");
  EXPECT_EQ(catalog->find("zeta")->conv->name, "chatml");
  EXPECT_EQ(catalog->find("missing"), nullptr);
  // The largest window among the deployments, else the worker's default.
  EXPECT_EQ(catalog->find("alpha")->context_length, 128000);
  EXPECT_EQ(catalog->find("zeta")->context_length, 8192);
  const auto status = catalog->status(3);
  EXPECT_EQ(status.model_names, (std::vector<std::string>{"alpha", "zeta"}));
  EXPECT_EQ(status.speed, 1);
  EXPECT_EQ(status.queue_length, 3);
  EXPECT_EQ(catalog->unknown_model_message("gpt"), "Only alpha&&zeta allowed now, your model gpt");
}

TEST(WorkerCatalog, TakesTheListedModelsAndATemplatePerModel) {
  auto catalog =
      WorkerCatalog::make(config_of("    models: [zeta]\n"
                                    "    conv_template: vicuna_v1.1\n"
                                    "    conv_templates: {zeta: llama-3}\n"
                                    "    fastchat_version: head\n"
                                    "    context_length: 4096\n"));
  ASSERT_TRUE(catalog.ok()) << catalog.error().message;
  ASSERT_EQ(catalog->models().size(), 1u);
  EXPECT_EQ(catalog->find("zeta")->conv->name, "llama-3");
  EXPECT_EQ(catalog->find("zeta")->context_length, 4096);
  EXPECT_EQ(catalog->numbering(), SepNumbering::kHead);
}

TEST(WorkerCatalog, RefusesTemplatesItCannotServe) {
  auto unknown = WorkerCatalog::make(config_of("    conv_template: nope\n"));
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("fastchat.worker.conv_template"), std::string::npos);
  EXPECT_NE(unknown.error().message.find("nope"), std::string::npos);
  // LLAMA2's prompts do not read back into turns.
  auto unreadable = WorkerCatalog::make(config_of("    conv_templates: {alpha: llama-2}\n"));
  ASSERT_FALSE(unreadable.ok());
  EXPECT_NE(unreadable.error().message.find("fastchat.worker.conv_templates.alpha"),
            std::string::npos);
  // fschat 0.2.36 has no number for LLAMA3: its API server could not read the template.
  auto unnumbered = WorkerCatalog::make(config_of("    conv_template: llama-3\n"));
  ASSERT_FALSE(unnumbered.ok());
  EXPECT_NE(unnumbered.error().message.find("fastchat_version: head"), std::string::npos);
}

TEST(WorkerConfig, RejectsUnknownModelsAndSettings) {
  const std::string head =
      "providers:\n  up: {kind: openai, base_url: http://127.0.0.1:9/v1}\n"
      "models:\n  zeta: {deployments: [{provider: up}]}\n";
  auto none = [](const std::string&) { return std::nullopt; };
  auto bad_model = config::parse_config(head + "fastchat: {worker: {models: [gpt]}}\n", none);
  ASSERT_FALSE(bad_model.ok());
  EXPECT_NE(bad_model.error().message.find("fastchat.worker.models[0]"), std::string::npos);
  auto bad_key = config::parse_config(head + "fastchat: {worker: {port: 1}}\n", none);
  ASSERT_FALSE(bad_key.ok());
  EXPECT_NE(bad_key.error().message.find("port"), std::string::npos);
  auto bad_version =
      config::parse_config(head + "fastchat: {worker: {fastchat_version: 0.3}}\n", none);
  ASSERT_FALSE(bad_version.ok());
  auto no_register = config::parse_config(head + "fastchat: {worker: {controller: none}}\n", none);
  ASSERT_TRUE(no_register.ok()) << no_register.error().message;
  EXPECT_TRUE(no_register->fastchat.worker.controller.empty());
  auto defaults = config::parse_config(head + "fastchat: {worker: }\n", none);
  ASSERT_TRUE(defaults.ok());
  EXPECT_TRUE(defaults->fastchat.worker.enabled);
  EXPECT_EQ(defaults->fastchat.worker.port, 21002);
  EXPECT_EQ(defaults->fastchat.worker.controller, "http://127.0.0.1:21001");
  EXPECT_EQ(defaults->fastchat.worker.limit_concurrency, 5);
}

GenerateParams params(std::string prompt) {
  GenerateParams p;
  p.model = "zeta";
  p.prompt = std::move(prompt);
  p.temperature = 0.7;
  p.max_new_tokens = 64;
  p.echo = false;
  return p;
}

translate::Request request_of(const GenerateParams& p, std::string_view conv, bool stream = true) {
  auto r = chat_request(p, *find_template(conv), stream);
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r.ok() ? std::move(r).value() : translate::Request{};
}

// The turns as role: text lines.
std::string turns(const translate::Request& r) {
  std::string out;
  for (const auto& m : r.messages) {
    out += m.role == translate::Role::kUser ? "user: " : "assistant: ";
    for (const auto& part : m.parts) out += part.text;
    out += "\n";
  }
  return out;
}

TEST(ChatRequest, ReadsAChatMlPromptIntoTurns) {
  auto p = params(
      "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
      "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n"
      "<|im_start|>assistant\n");
  p.stop = {"<|im_end|>", "END"};
  const auto r = request_of(p, "chatml");
  EXPECT_EQ(r.model, "zeta");
  EXPECT_TRUE(r.stream);
  EXPECT_EQ(r.max_tokens, 64);
  EXPECT_EQ(r.temperature, 0.7);
  EXPECT_EQ(r.top_p, 1.0);
  EXPECT_EQ(r.system, "Be brief.");
  EXPECT_EQ(turns(r), "user: Hi\nassistant: Hello!\nuser: 2+2?\n");
  // The template's own stop string is its business, not the upstream's.
  EXPECT_EQ(r.stop, std::vector<std::string>{"END"});
  EXPECT_FALSE(r.top_k);
  EXPECT_FALSE(r.presence_penalty);
  EXPECT_FALSE(r.repetition_penalty);
}

TEST(ChatRequest, LeavesTheTemplatesOwnSystemMessageOut) {
  const auto p = params(
      "A chat between a curious user and an artificial intelligence assistant. The assistant "
      "gives helpful, detailed, and polite answers to the user's questions. USER: Hi "
      "ASSISTANT: Hello!</s>USER: 2+2? ASSISTANT:");
  const auto r = request_of(p, "vicuna_v1.1", false);
  EXPECT_FALSE(r.stream);
  EXPECT_EQ(r.system, "");
  EXPECT_EQ(turns(r), "user: Hi\nassistant: Hello!\nuser: 2+2?\n");
  EXPECT_TRUE(r.stop.empty());
}

TEST(ChatRequest, TakesAPromptOfAnotherShapeAsOneUserMessage) {
  const auto r = request_of(params("Once upon a time"), "chatml");
  EXPECT_EQ(r.system, "");
  EXPECT_EQ(turns(r), "user: Once upon a time\n");
}

TEST(ChatRequest, KeepsSamplingSettingsThatAreSet) {
  auto p = params("Hi");
  p.top_k = 40;
  p.presence_penalty = 0.5;
  p.frequency_penalty = -0.25;
  p.repetition_penalty = 1.1;
  const auto r = request_of(p, "chatml");
  EXPECT_EQ(r.top_k, 40);
  EXPECT_EQ(r.presence_penalty, 0.5);
  EXPECT_EQ(r.frequency_penalty, -0.25);
  EXPECT_EQ(r.repetition_penalty, 1.1);
  // 1.0 is no penalty, and -1 and 0 are no top-k limit: not sent.
  p.repetition_penalty = 1.0;
  p.top_k = -1;
  EXPECT_FALSE(request_of(p, "chatml").repetition_penalty);
  EXPECT_FALSE(request_of(p, "chatml").top_k);
  p.top_k = 0;
  EXPECT_FALSE(request_of(p, "chatml").top_k);
}

TEST(ChatRequest, RefusesImagesAndANonPositiveTokenCap) {
  auto p = params("Hi");
  p.images = {"data:image/png;base64,AAAA"};
  auto images = chat_request(p, *find_template("chatml"), true);
  ASSERT_FALSE(images.ok());
  EXPECT_EQ(images.error().code, base::ErrorCode::kBadRequest);
  EXPECT_EQ(images.error().param, "images");
  p.images.clear();
  p.max_new_tokens = 0;
  auto zero = chat_request(p, *find_template("chatml"), true);
  ASSERT_FALSE(zero.ok());
  EXPECT_EQ(zero.error().param, "max_new_tokens");
}

}  // namespace
}  // namespace shepherd::fastchat
