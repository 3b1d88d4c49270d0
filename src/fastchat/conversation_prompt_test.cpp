// FastChat's conversation templates. Every expected prompt below was worked out by hand from
// FastChat's Conversation.get_prompt() (fastchat/conversation.py, v0.2.36 and HEAD) and the
// examples of docs/fastchat-protocol.md 3.3, never taken from this code's output.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "fastchat/conversation.hpp"
#include "fastchat/conversation_test_support.hpp"

namespace shepherd::fastchat {
namespace {

using translate::Message;
using translate::Part;
using translate::Request;
using translate::Role;
using namespace test_support;

// ---------------------------------------------------------------------------------------------
// Reading a prompt back

std::string joined(const Message& m) {
  std::string s;
  for (std::size_t i = 0; i < m.parts.size(); ++i) s += (i ? "\n" : "") + m.parts[i].text;
  return s;
}

// parse_prompt(conv, render_prompt(conv, r)) gives back r's system and messages.
void expect_round_trip(std::string_view name, const Request& r) {
  const Conversation& c = tmpl(name);
  const auto prompt = render_prompt(c, r);
  ASSERT_TRUE(prompt.ok()) << name;
  const auto parsed = parse_prompt(c, *prompt);
  ASSERT_TRUE(parsed.ok()) << name << ": " << parsed.error().message << "\n" << *prompt;
  EXPECT_EQ(parsed->system, r.system == c.system_message ? "" : r.system) << name;
  ASSERT_EQ(parsed->messages.size(), r.messages.size()) << name << "\n" << *prompt;
  for (std::size_t i = 0; i < r.messages.size(); ++i) {
    EXPECT_EQ(parsed->messages[i].role, r.messages[i].role) << name << " #" << i;
    ASSERT_EQ(parsed->messages[i].parts.size(), 1u);
    EXPECT_EQ(parsed->messages[i].parts[0].kind, Part::Kind::kText);
    EXPECT_EQ(parsed->messages[i].parts[0].text, joined(r.messages[i])) << name << " #" << i;
  }
  // And the prompt the parsed request renders is the same prompt.
  Request back;
  back.system = parsed->system;
  back.messages = parsed->messages;
  EXPECT_EQ(render_prompt(c, back).value(), *prompt) << name;
}

TEST(Conversation, ReadsBackPromptsOfTheParsableStyles) {
  const std::vector<Request> requests = {
      hi(),
      hi("Be brief."),
      req("", {{Role::kUser, "one line\nsecond line"}}),
      req("Multi\nline system", {{Role::kAssistant, "I start."}, {Role::kUser, "Fine."}}),
      req("", {{Role::kUser, "a"},
               {Role::kUser, "b"},
               {Role::kAssistant, "c"},
               {Role::kAssistant, "d"}}),
      req("sys", {{Role::kUser, "Hi"}, {Role::kAssistant, ""}, {Role::kUser, "again"}}),
      req("",
          {{Role::kUser, "Grüße, 你好 — ünïcode"}, {Role::kAssistant, "ok"}, {Role::kUser, ""}}),
  };
  for (const char* name :
       {"chatml", "qwen-7b-chat", "llama-3", "vicuna_v1.1", "zero_shot", "one_shot", "alpaca"}) {
    for (const auto& r : requests) expect_round_trip(name, r);
  }
}

TEST(Conversation, TreatsTheTemplatesOwnSystemMessageAsNoSystem) {
  const Conversation& c = tmpl("vicuna_v1.1");
  const auto parsed = parse_prompt(c, render_prompt(c, hi(c.system_message)).value());
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->system, "");
}

TEST(Conversation, ReadsFastChatsVicunaExamplePrompt) {
  const auto p = parse_prompt(tmpl("vicuna_v1.1"),
                              "<sys> USER: Hi ASSISTANT: Hello!</s>USER: 2+2? ASSISTANT:");
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->system, "<sys>");
  ASSERT_EQ(p->messages.size(), 3u);
  EXPECT_EQ(p->messages[0].role, Role::kUser);
  EXPECT_EQ(p->messages[0].parts[0].text, "Hi");
  EXPECT_EQ(p->messages[1].role, Role::kAssistant);
  EXPECT_EQ(p->messages[1].parts[0].text, "Hello!");
  EXPECT_EQ(p->messages[2].parts[0].text, "2+2?");
}

TEST(Conversation, ReadsALlama3PromptWithoutSystem) {
  const auto p = parse_prompt(tmpl("llama-3"),
                              "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi"
                              "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->system, "");
  ASSERT_EQ(p->messages.size(), 1u);
  EXPECT_EQ(p->messages[0].parts[0].text, "Hi");
}

TEST(Conversation, RefusesToReadBackOtherStyles) {
  for (const char* name : {"llama-2", "mistral", "raw", "chatglm", "gemma", "tulu", "dolly_v2"}) {
    const Conversation& c = tmpl(name);
    const auto p = parse_prompt(c, render_prompt(c, hi()).value());
    ASSERT_FALSE(p.ok()) << name;
    EXPECT_EQ(p.error().code, base::ErrorCode::kBadRequest);
  }
}

TEST(Conversation, RefusesPromptsNotShapedByTheTemplate) {
  const Conversation& v = tmpl("vicuna_v1.1");
  for (const char* prompt : {"", "hello", "<sys> USER: Hi ASSISTANT: Hello!</s>", "<sys> USER: Hi",
                             "<sys> USER: Hi USER:", "<sys> USER:x ASSISTANT:"}) {
    const auto p = parse_prompt(v, prompt);
    ASSERT_FALSE(p.ok()) << prompt;
    EXPECT_EQ(p.error().code, base::ErrorCode::kBadRequest);
  }
  const Conversation& one = tmpl("one_shot");
  EXPECT_FALSE(parse_prompt(one, "<sys>\n### Human: Hi\n### Assistant:").ok());
  EXPECT_FALSE(parse_prompt(tmpl("chatml"), "<|im_start|>user\nHi<|im_end|>\n").ok());
  EXPECT_FALSE(parse_prompt(tmpl("llama-3"), "<|start_header_id|>user<|end_header_id|>\n\n").ok());
}

TEST(Conversation, NeverCrashesOnTruncatedOrAlteredPrompts) {
  for (const char* name : {"chatml", "llama-3", "vicuna_v1.1", "one_shot"}) {
    const Conversation& c = tmpl(name);
    const std::string prompt = render_prompt(c, hi("sys")).value();
    for (std::size_t n = 0; n < prompt.size(); ++n) {
      (void)parse_prompt(c, std::string_view(prompt).substr(0, n));
      (void)parse_prompt(c, std::string_view(prompt).substr(n));
      std::string altered = prompt;
      altered[n] = '\n';
      (void)parse_prompt(c, altered);
    }
  }
}

TEST(Conversation, RefusesTemplatesWithEqualRoles) {
  Conversation c = tmpl("vicuna_v1.1");
  c.roles = {"X", "X"};
  EXPECT_FALSE(parse_prompt(c, "sys X: Hi X:").ok());
}

}  // namespace
}  // namespace shepherd::fastchat
