// FastChat workers as a provider: the generate parameters Shepherd sends (as FastChat's OpenAI API
// server builds them), the NUL-framed chunks of cumulative text read back, and the adapter's
// heads and template choice. Expected prompts, bodies and chunks are written by hand from
// docs/fastchat-protocol.md §2 and §3.3, never taken from this code.
#include "providers/fastchat/fastchat_adapter.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "fastchat/template_book.hpp"
#include "providers/fastchat/generate_codec.hpp"

namespace shepherd::providers::fastchat {
namespace {

namespace json = boost::json;
namespace fc = shepherd::fastchat;
using base::ErrorCode;
using translate::Delta;
using translate::StopReason;

translate::Message message(translate::Role role, std::string text) {
  translate::Message m;
  m.role = role;
  translate::Part p;
  p.text = std::move(text);
  m.parts.push_back(std::move(p));
  return m;
}

translate::Request two_turns() {
  translate::Request r;
  r.system = "Be brief.";
  r.messages.push_back(message(translate::Role::kUser, "Hi"));
  r.messages.push_back(message(translate::Role::kAssistant, "Hello!"));
  r.messages.push_back(message(translate::Role::kUser, "2+2?"));
  return r;
}

translate::Request hi() {
  translate::Request r;
  r.messages.push_back(message(translate::Role::kUser, "Hi"));
  return r;
}

json::object encode(std::string_view conv, const translate::Request& r) {
  std::string out;
  const auto s = encode_generate(*fc::find_template(conv), r, "vicuna-7b-v1.5", out);
  EXPECT_TRUE(s.ok()) << s.error().message;
  return json::parse(out).as_object();
}

bool has_string(const json::value& list, std::string_view s) {
  for (const auto& v : list.as_array()) {
    if (v.is_string() && v.get_string() == s) return true;
  }
  return false;
}

TEST(GenerateCodec, RendersTheVicunaPromptAndTheRequestsSettings) {
  auto r = two_turns();
  r.temperature = 0.2;
  r.max_tokens = 64;
  r.stop = {"END"};
  r.repetition_penalty = 1.2;
  const auto body = encode("vicuna_v1.1", r);
  // ADD_COLON_TWO, sep " ", sep2 "</s>"; the request's system replaces the template's.
  EXPECT_EQ(body.at("prompt"), "Be brief. USER: Hi ASSISTANT: Hello!</s>USER: 2+2? ASSISTANT:");
  EXPECT_EQ(body.at("model"), "vicuna-7b-v1.5");
  EXPECT_EQ(body.at("temperature"), 0.2);
  EXPECT_EQ(body.at("max_new_tokens"), 64);
  EXPECT_EQ(body.at("echo"), false);
  EXPECT_TRUE(body.at("logprobs").is_null());
  EXPECT_TRUE(body.at("stop_token_ids").is_null());  // vicuna_v1.1 has none
  EXPECT_EQ(body.at("stop"), json::parse(R"(["END"])"));
  EXPECT_EQ(body.at("repetition_penalty"), 1.2);
}

TEST(GenerateCodec, AddsTheTemplatesStopAndFastChatsDefaults) {
  const auto body = encode("chatml", hi());
  EXPECT_EQ(body.at("prompt"),
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_TRUE(has_string(body.at("stop"), "<|im_end|>"));
  EXPECT_EQ(body.at("temperature"), 0.7);
  EXPECT_EQ(body.at("top_p"), 1.0);
  EXPECT_EQ(body.at("top_k"), -1);
  EXPECT_EQ(body.at("max_new_tokens"), 1024);
  EXPECT_EQ(body.at("presence_penalty"), 0.0);
  EXPECT_EQ(body.at("frequency_penalty"), 0.0);
  EXPECT_FALSE(body.contains("repetition_penalty"));  // the worker's default, 1.0
  // The request's stop strings and the template's, each once.
  auto r = hi();
  r.stop = {"END", "<|im_end|>"};
  const json::value both = encode("chatml", r).at("stop");
  EXPECT_EQ(both.as_array().size(), 2u);
  EXPECT_TRUE(has_string(both, "END"));
  EXPECT_TRUE(has_string(both, "<|im_end|>"));
}

TEST(GenerateCodec, RefusesWhatAPromptCannotCarry) {
  std::string out;
  auto image = hi();
  translate::Part picture;
  picture.kind = translate::Part::Kind::kImage;
  picture.url = "https://example.com/cat.png";
  image.messages[0].parts.push_back(picture);
  const auto with_image = encode_generate(*fc::find_template("chatml"), image, "m", out);
  ASSERT_FALSE(with_image.ok());
  EXPECT_EQ(with_image.error().code, ErrorCode::kBadRequest);
  auto call = hi();
  translate::Part tool_call;
  tool_call.kind = translate::Part::Kind::kToolCall;
  tool_call.id = "call_1";
  tool_call.name = "add";
  tool_call.arguments = R"({"a":2,"b":2})";
  translate::Message assistant;
  assistant.role = translate::Role::kAssistant;
  assistant.parts.push_back(tool_call);
  call.messages.push_back(assistant);
  const auto with_call = GenerateCodec().encode_request(call, "m", out);
  ASSERT_FALSE(with_call.ok());
  EXPECT_EQ(with_call.error().code, ErrorCode::kBadRequest);
}

// A chunk as model_worker prints it (json.dumps).
std::string chunk(std::string_view text, int completion, std::string_view finish = "null") {
  return std::string(R"({"text": ")") + std::string(text) +
         R"(", "error_code": 0, "usage": {"prompt_tokens": 41, "completion_tokens": )" +
         std::to_string(completion) + R"(, "total_tokens": )" + std::to_string(41 + completion) +
         R"(}, "finish_reason": )" + std::string(finish) + R"(, "logprobs": null})";
}

std::vector<Delta> feed_all(const std::vector<std::string>& chunks) {
  auto decoder = GenerateCodec().stream_decoder();
  std::vector<Delta> out;
  for (const auto& c : chunks) {
    const auto s = decoder->feed("", c, out);
    EXPECT_TRUE(s.ok()) << s.error().message << " for " << c;
  }
  decoder->end(out);
  return out;
}

std::vector<Delta::Kind> kinds(const std::vector<Delta>& deltas) {
  std::vector<Delta::Kind> out;
  for (const auto& d : deltas) out.push_back(d.kind);
  return out;
}

std::string texts(const std::vector<Delta>& deltas) {
  std::string out;
  for (const auto& d : deltas) {
    if (d.kind == Delta::Kind::kText) out += "[" + d.text + "]";
  }
  return out;
}

TEST(GenerateCodec, ReadsCumulativeTextIntoDeltas) {
  const auto out =
      feed_all({chunk("Paris", 0), chunk("Paris is", 2), chunk("Paris is", 2),
                chunk("Paris is the capital.", 6), chunk("Paris is the capital.", 6, R"("stop")")});
  using K = Delta::Kind;
  EXPECT_EQ(kinds(out), (std::vector<K>{K::kStart, K::kText, K::kText, K::kText, K::kFinish,
                                        K::kUsage, K::kDone}));
  // The repeated chunk and the final one (same text) say nothing new.
  EXPECT_EQ(texts(out), "[Paris][ is][ the capital.]");
  ASSERT_EQ(out.size(), 7u);
  EXPECT_EQ(out[4].stop_reason, StopReason::kEndTurn);
  EXPECT_EQ(out[5].usage.prompt_tokens, 41);
  EXPECT_EQ(out[5].usage.completion_tokens, 6);
}

TEST(GenerateCodec, ReadsALengthFinishAsMaxTokens) {
  const auto out = feed_all({chunk("One two", 2), chunk("One two three", 3, R"("length")")});
  using K = Delta::Kind;
  EXPECT_EQ(kinds(out),
            (std::vector<K>{K::kStart, K::kText, K::kText, K::kFinish, K::kUsage, K::kDone}));
  EXPECT_EQ(texts(out), "[One two][ three]");
  ASSERT_EQ(out.size(), 6u);
  EXPECT_EQ(out[3].stop_reason, StopReason::kMaxTokens);
  EXPECT_EQ(out[4].usage.completion_tokens, 3);
}

TEST(GenerateCodec, AddsNothingAtTheEndOfACutStream) {
  const auto out = feed_all({chunk("Paris", 0), chunk("Paris is", 2)});
  using K = Delta::Kind;
  EXPECT_EQ(kinds(out), (std::vector<K>{K::kStart, K::kText, K::kText}));
}

// §3.5 step 2: FastChat's API server strips U+FFFD (a character whose bytes the tokenizer has not
// all produced yet) from each chunk's text before taking what is new, so a character completed by
// a later chunk reaches the client whole.
TEST(GenerateCodec, DropsThePlaceholderOfAnUnfinishedCharacter) {
  const auto out = feed_all({chunk(R"(Caf\ufffd)", 3), chunk(R"(Caf\u00e9!)", 4, R"("stop")")});
  EXPECT_EQ(texts(out), "[Caf][\xC3\xA9!]");
}

base::Error stream_error(std::string_view data) {
  auto decoder = GenerateCodec().stream_decoder();
  std::vector<Delta> out;
  auto s = decoder->feed("", data, out);
  EXPECT_FALSE(s.ok()) << data;
  return s.ok() ? base::Error{} : std::move(s).error();
}

TEST(GenerateCodec, MapsTheWorkersErrorCodes) {
  const auto oom = stream_error(
      R"({"text": "**NETWORK ERROR DUE TO HIGH TRAFFIC. PLEASE REGENERATE OR REFRESH THIS PAGE.**)"
      R"x(\n\n(CUDA out of memory)", "error_code": 50001})x");
  EXPECT_NE((oom.message + oom.detail).find("CUDA out of memory"), std::string::npos);
  EXPECT_TRUE(oom.retryable);
  const auto overflow = stream_error(
      R"({"text": "This model's maximum context length is 4096 tokens.", "error_code": 40303})");
  EXPECT_EQ(overflow.code, ErrorCode::kBadRequest);
  EXPECT_EQ(overflow.upstream_body, "context_length_exceeded");
  EXPECT_FALSE(overflow.retryable);
  const auto limited = stream_error(R"({"text": "slow down", "error_code": 42901})");
  EXPECT_EQ(limited.code, ErrorCode::kRateLimited);
  EXPECT_TRUE(limited.retryable);
  // The provider is named when the caller knows it.
  const auto named = generate_error(50002, "x\n\n(boom)", "gpu-box");
  EXPECT_NE(named.message.find("gpu-box"), std::string::npos);
  EXPECT_EQ(named.code, ErrorCode::kUpstreamUnreachable);
}

TEST(GenerateCodec, RefusesAMalformedChunk) {
  for (const char* bad : {R"({"text": "Par)", R"({"error_code": 0})", "[1, 2]"}) {
    const auto e = stream_error(bad);
    EXPECT_EQ(e.code, ErrorCode::kUpstreamUnreachable) << bad;
    EXPECT_TRUE(e.retryable) << bad;
  }
}

TEST(GenerateCodec, ReadsTheLastFrameOfAWholeStreamBody) {
  std::string body;
  for (const auto& c : {chunk("Paris", 0), chunk("Paris is the capital.", 6),
                        chunk("Paris is the capital.", 6, R"("stop")")}) {
    body += c;
    body.push_back('\0');
  }
  const auto r = GenerateCodec().decode_response(body);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->content.size(), 1u);
  EXPECT_EQ(r->content[0].kind, translate::Part::Kind::kText);
  EXPECT_EQ(r->content[0].text, "Paris is the capital.");
  EXPECT_EQ(r->stop_reason, StopReason::kEndTurn);
  ASSERT_TRUE(r->usage);
  EXPECT_EQ(r->usage->prompt_tokens, 41);
  EXPECT_EQ(r->usage->completion_tokens, 6);
}

TEST(GenerateCodec, ReadsAWorkerGenerateAnswer) {
  const auto r = GenerateCodec().decode_response(
      R"({"text":"Hi","error_code":0,"usage":{"prompt_tokens":5,"completion_tokens":1,)"
      R"("total_tokens":6},"finish_reason":"length","logprobs":null})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->content.size(), 1u);
  EXPECT_EQ(r->content[0].text, "Hi");
  EXPECT_EQ(r->stop_reason, StopReason::kMaxTokens);
  ASSERT_TRUE(r->usage);
  EXPECT_EQ(r->usage->prompt_tokens, 5);
  EXPECT_EQ(r->usage->completion_tokens, 1);
  std::string errored(R"({"text": "too long", "error_code": 40303})");
  errored.push_back('\0');
  const auto e = GenerateCodec().decode_response(errored);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().code, ErrorCode::kBadRequest);
  EXPECT_EQ(e.error().upstream_body, "context_length_exceeded");
  EXPECT_FALSE(GenerateCodec().decode_response("<html>502</html>").ok());
}

TEST(GenerateCodec, TakesFastApisDetailAsTheErrorMessage) {
  EXPECT_EQ(GenerateCodec().error_message(R"({"detail":"Not Found"})"), "Not Found");
  EXPECT_EQ(GenerateCodec().error_message("Internal Server Error"), "Internal Server Error");
}

config::Config config_of(const std::string& providers) {
  const std::string yaml = "providers:\n" + providers +
                           "models:\n"
                           "  m: {deployments: [{provider: fc}]}\n";
  const auto env = [](const std::string& name) -> std::optional<std::string> {
    if (name == "FC_KEY") return "fc-secret";
    return std::nullopt;
  };
  auto c = config::parse_config(yaml, env);
  EXPECT_TRUE(c.ok()) << c.error().message;
  return std::move(c).value();
}

config::ProviderConfig provider_of(const std::string& body) {
  auto c = config_of("  fc:\n    kind: fastchat\n    base_url: http://127.0.0.1:21001\n" + body);
  return c.providers.at(0);
}

TEST(FastChatAdapter, AsksForAStreamFromTheWorkerRoutes) {
  const FastChatAdapter a;
  EXPECT_EQ(a.kind(), "fastchat");
  EXPECT_EQ(a.framing(), Adapter::Framing::kNul);
  EXPECT_EQ(a.wire(), translate::Wire::kFastChatGenerate);
  const auto p = provider_of("");
  for (const bool stream : {false, true}) {
    const auto head = a.request_head(p, Operation::kChat, "vicuna-7b-v1.5", stream);
    EXPECT_EQ(head.rfind("POST /worker_generate_stream HTTP/1.1\r\n", 0), 0u) << head;
    EXPECT_NE(head.find("Host: 127.0.0.1:21001\r\n"), std::string::npos) << head;
    EXPECT_EQ(head.find("Authorization"), std::string::npos) << head;
  }
  const auto keyed = provider_of("    api_key: env:FC_KEY\n");
  EXPECT_NE(a.request_head(keyed, Operation::kChat, "m", true)
                .find("Authorization: Bearer fc-secret\r\n"),
            std::string::npos);
}

TEST(FastChatAdapter, ProbesWorkerGetStatusWithAnEmptyObject) {
  const FastChatAdapter a;
  const auto probe = a.probe_request(provider_of(""));
  EXPECT_EQ(probe.rfind("POST /worker_get_status HTTP/1.1\r\n", 0), 0u) << probe;
  const auto blank = probe.find("\r\n\r\n");
  ASSERT_NE(blank, std::string::npos);
  EXPECT_EQ(probe.substr(blank + 4), "{}");
  EXPECT_NE(probe.find("Content-Length: 2\r\n"), std::string::npos) << probe;
  EXPECT_EQ(probe.find("Authorization"), std::string::npos);
}

TEST(FastChatAdapter, ReadsTheUsageOfAWholeAnswer) {
  const FastChatAdapter a;
  std::string body = chunk("Paris", 0);
  body.push_back('\0');
  body += chunk("Paris.", 2, R"("stop")");
  body.push_back('\0');
  const auto answer = a.read_answer(body);
  ASSERT_TRUE(answer.ok()) << answer.error().message;
  ASSERT_TRUE(answer->usage);
  EXPECT_EQ(answer->usage->prompt_tokens, 41);
  EXPECT_EQ(answer->usage->completion_tokens, 2);
  EXPECT_EQ(answer->usage->total_tokens, 43);
}

fc::Conversation learned_template() {
  fc::Conversation c = *fc::find_template("vicuna_v1.1");
  c.name = "learned";
  return c;
}

TEST(FastChatAdapter, PicksPinnedThenLearnedThenChatMlTemplates) {
  auto p = provider_of(
      "    fastchat:\n"
      "      conv_template: llama-2\n"
      "      conv_templates: {alpha: vicuna_v1.1}\n");
  p.name = "fc-pick-pinned";
  fc::TemplateBook::process().learn(p.name, "alpha", learned_template());
  fc::TemplateBook::process().learn(p.name, "beta", learned_template());
  EXPECT_EQ(template_for(p, "alpha").value()->name, "vicuna_v1.1");
  EXPECT_EQ(template_for(p, "beta").value()->name, "llama-2");
  auto unpinned = provider_of("");
  unpinned.name = "fc-pick-learned";
  fc::TemplateBook::process().learn(unpinned.name, "alpha", learned_template());
  EXPECT_EQ(template_for(unpinned, "alpha").value()->name, "learned");
  EXPECT_EQ(template_for(unpinned, "beta").value()->name, "chatml");
}

TEST(FastChatAdapter, NamesTheSettingOfAnUnknownTemplate) {
  auto p = provider_of("    fastchat: {conv_template: nope}\n");
  const auto wide = template_for(p, "m");
  ASSERT_FALSE(wide.ok());
  EXPECT_EQ(wide.error().code, ErrorCode::kBadRequest);
  EXPECT_NE(wide.error().message.find("providers.fc.fastchat.conv_template"), std::string::npos)
      << wide.error().message;
  EXPECT_NE(wide.error().message.find("nope"), std::string::npos);
  auto per_model = provider_of("    fastchat: {conv_templates: {m: gone}}\n");
  const auto model = template_for(per_model, "m");
  ASSERT_FALSE(model.ok());
  EXPECT_NE(model.error().message.find("providers.fc.fastchat.conv_templates.m"), std::string::npos)
      << model.error().message;
}

TEST(FastChatAdapter, ChecksEveryPinnedTemplateOfTheConfig) {
  const std::string head = "  fc:\n    kind: fastchat\n    base_url: http://127.0.0.1:21001\n";
  EXPECT_TRUE(check_templates(config_of(head)).ok());
  EXPECT_TRUE(check_templates(config_of(head + "    fastchat: {conv_template: chatml, "
                                               "conv_templates: {m: vicuna_v1.1}}\n"))
                  .ok());
  const auto wide = check_templates(config_of(head + "    fastchat: {conv_template: nope}\n"));
  ASSERT_FALSE(wide.ok());
  EXPECT_EQ(wide.error().code, ErrorCode::kBadRequest);
  const auto model =
      check_templates(config_of(head + "    fastchat: {conv_templates: {m: gone}}\n"));
  ASSERT_FALSE(model.ok());
  EXPECT_NE(model.error().message.find("gone"), std::string::npos);
}

TEST(FastChatAdapter, EncodesWithTheModelsTemplate) {
  const FastChatAdapter a;
  auto p = provider_of("    fastchat: {conv_templates: {vicuna-7b-v1.5: vicuna_v1.1}}\n");
  p.name = "fc-encode";
  std::string out;
  const auto s = a.encode_request(p, two_turns(), "vicuna-7b-v1.5", out);
  ASSERT_TRUE(s.ok()) << s.error().message;
  const auto body = json::parse(out).as_object();
  EXPECT_EQ(body.at("prompt"), "Be brief. USER: Hi ASSISTANT: Hello!</s>USER: 2+2? ASSISTANT:");
  EXPECT_EQ(body.at("model"), "vicuna-7b-v1.5");
  // Another model of the provider falls back to chatml.
  ASSERT_TRUE(a.encode_request(p, two_turns(), "other", out).ok());
  const std::string other(json::parse(out).at("prompt").as_string());
  EXPECT_EQ(other.rfind("<|im_start|>system\nBe brief.<|im_end|>\n", 0), 0u) << other;
  // An unknown pinned template fails the request.
  const auto bad = provider_of("    fastchat: {conv_template: nope}\n");
  const auto refused = a.encode_request(bad, two_turns(), "m", out);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kBadRequest);
}

}  // namespace
}  // namespace shepherd::providers::fastchat
