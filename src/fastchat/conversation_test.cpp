// FastChat's conversation templates. Every expected prompt below was worked out by hand from
// FastChat's Conversation.get_prompt() (fastchat/conversation.py, v0.2.36 and HEAD) and the
// examples of docs FASTCHAT.md 3.3, never taken from this code's output.
#include "fastchat/conversation.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace shepherd::fastchat {
namespace {

using translate::Message;
using translate::Part;
using translate::Request;
using translate::Role;

Part text_part(std::string t) {
  Part p;
  p.text = std::move(t);
  return p;
}

Message msg(Role role, std::string text) {
  Message m;
  m.role = role;
  m.parts.push_back(text_part(std::move(text)));
  return m;
}

Request req(std::string system, std::vector<std::pair<Role, std::string>> turns) {
  Request r;
  r.system = std::move(system);
  for (auto& [role, text] : turns) r.messages.push_back(msg(role, std::move(text)));
  return r;
}

// The conversation most goldens use: Hi / Hello! / 2+2?
Request hi(std::string system = "") {
  return req(std::move(system),
             {{Role::kUser, "Hi"}, {Role::kAssistant, "Hello!"}, {Role::kUser, "2+2?"}});
}

const Conversation& tmpl(std::string_view name) {
  const Conversation* c = find_template(name);
  EXPECT_NE(c, nullptr) << name;
  static const Conversation empty;
  return c ? *c : empty;
}

std::string render(std::string_view name, const Request& r) {
  auto p = render_prompt(tmpl(name), r);
  EXPECT_TRUE(p.ok()) << name << ": " << (p.ok() ? "" : p.error().message);
  return p.ok() ? *p : std::string();
}

bool has(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// ---------------------------------------------------------------------------------------------
// Rendering: FASTCHAT.md's examples

TEST(Conversation, RendersVicunaLikeFastChat) {
  EXPECT_EQ(render("vicuna_v1.1", hi("<sys>")),
            "<sys> USER: Hi ASSISTANT: Hello!</s>USER: 2+2? ASSISTANT:");
}

TEST(Conversation, RendersVicunaWithItsOwnSystemMessage) {
  EXPECT_EQ(render("vicuna_v1.1", req("", {{Role::kUser, "Hi"}})),
            "A chat between a curious user and an artificial intelligence assistant. The "
            "assistant gives helpful, detailed, and polite answers to the user's questions. "
            "USER: Hi ASSISTANT:");
}

TEST(Conversation, RendersLlama2LikeFastChat) {
  EXPECT_EQ(render("llama-2", hi("Be brief.")),
            "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello! </s><s>[INST] 2+2? [/INST]");
}

TEST(Conversation, RendersLlama2WithoutSystemFromABareInst) {
  EXPECT_EQ(render("llama-2", hi()), "[INST] Hi [/INST] Hello! </s><s>[INST] 2+2? [/INST]");
}

TEST(Conversation, RendersZeroShotLikeFastChat) {
  EXPECT_EQ(render("zero_shot", req("<sys>", {{Role::kUser, "Hi"}})),
            "<sys>\n### Human: Hi\n### Assistant:");
  EXPECT_EQ(render("zero_shot", hi("<sys>")),
            "<sys>\n### Human: Hi\n### Assistant: Hello!\n### Human: 2+2?\n### Assistant:");
}

// ---------------------------------------------------------------------------------------------
// Rendering: one golden per built-in template (and so per style)

TEST(Conversation, RendersMistral) {
  EXPECT_EQ(render("mistral", hi()), "[INST] Hi [/INST] Hello!</s>[INST] 2+2? [/INST]");
  EXPECT_EQ(render("mistral", hi("Be brief.")),
            "[INST] Be brief.\nHi [/INST] Hello!</s>[INST] 2+2? [/INST]");
}

TEST(Conversation, RendersLlama3) {
  EXPECT_EQ(render("llama-3", hi("Be brief.")),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\n2+2?<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST(Conversation, Llama3StripsEachMessageAndOmitsAnEmptySystem) {
  EXPECT_EQ(render("llama-3", req("", {{Role::kUser, " \n Hi\t\xC2\xA0"}})),
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST(Conversation, RendersFastChatsChatMlShape) {
  EXPECT_EQ(render("chatml", hi()),
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n"
            "<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(render("qwen-7b-chat", req("Be brief.", {{Role::kUser, "Hi"}})),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\n");
}

TEST(Conversation, RendersOneShotWithItsFewShotTurnsFirst) {
  const Conversation& c = tmpl("one_shot");
  ASSERT_EQ(c.messages.size(), 2u);
  EXPECT_EQ(c.offset, 2);
  EXPECT_EQ(c.messages[0].second,
            "Got any creative ideas for a 10 year old\xE2\x80\x99s birthday?");
  EXPECT_TRUE(c.messages[1].second->starts_with(
      "Of course! Here are some creative ideas for a 10-year-old's birthday party:\n1. Treasure "
      "Hunt: "));
  EXPECT_TRUE(
      c.messages[1].second->ends_with("interests and preferences. Have a great celebration!"));
  EXPECT_EQ(render("one_shot", req("<sys>", {{Role::kUser, "Hi"}})),
            "<sys>\n### Human: " + *c.messages[0].second +
                "\n### Assistant: " + *c.messages[1].second + "\n### Human: Hi\n### Assistant:");
}

TEST(Conversation, RendersRawAsTheTextsAlone) { EXPECT_EQ(render("raw", hi()), "HiHello!2+2?"); }

TEST(Conversation, RendersAlpaca) {
  EXPECT_EQ(render("alpaca", req("", {{Role::kUser, "Hi"}})),
            "Below is an instruction that describes a task. Write a response that appropriately "
            "completes the request.\n\n### Instruction: Hi\n\n### Response:");
  EXPECT_EQ(render("alpaca", hi("<sys>")),
            "<sys>\n\n### Instruction: Hi\n\n### Response: Hello!</s>### Instruction: 2+2?\n\n"
            "### Response:");
}

TEST(Conversation, RendersChatGlmRoundsFromZeroAndChatGlm2FromOne) {
  EXPECT_EQ(render("chatglm", hi()), "[Round 0]\n问：Hi\n答：Hello!\n[Round 1]\n问：2+2?\n答：");
  EXPECT_EQ(render("chatglm", req("<sys>", {{Role::kUser, "Hi"}})),
            "<sys>\n[Round 0]\n问：Hi\n答：");
  EXPECT_EQ(render("chatglm2", hi()),
            "[Round 1]\n\n问：Hi\n\n答：Hello!\n\n[Round 2]\n\n问：2+2?\n\n答：");
}

TEST(Conversation, RendersChatGlm3) {
  EXPECT_EQ(render("chatglm3", hi()),
            "<|user|>\nHi<|assistant|>\nHello!<|user|>\n2+2?<|assistant|>");
  EXPECT_EQ(render("chatglm3", req("<sys>", {{Role::kUser, "Hi"}})),
            "<|system|>\n<sys><|user|>\nHi<|assistant|>");
}

TEST(Conversation, RendersDolly) {
  EXPECT_EQ(render("dolly_v2", hi("<sys>")),
            "<sys>### Instruction:\nHi\n\n### Response:\nHello!### End\n\n### Instruction:\n2+2?"
            "\n\n### Response:\n");
}

TEST(Conversation, RendersTuluWithNewLines) {
  EXPECT_EQ(render("tulu", hi()),
            "<|user|>\nHi\n<|assistant|>\nHello!\n<|user|>\n2+2?\n<|assistant|>\n");
  EXPECT_EQ(render("tulu", req("<sys>", {{Role::kUser, "Hi"}})),
            "<sys>\n<|user|>\nHi\n<|assistant|>\n");
}

TEST(Conversation, RendersRwkvFoldingBlankLines) {
  EXPECT_EQ(render("rwkv", req("", {{Role::kUser, "a\r\nb\n\n\nc"}})),
            "Bob: hi\n\nAlice: Hi. I am your assistant and I will provide expert full response in "
            "full details. Please feel free to ask any question and I will always answer it.\n\n"
            "Bob: a\nb\n\nc\n\nAlice:");
}

TEST(Conversation, RendersPhoenix) {
  EXPECT_EQ(render("phoenix", hi("<sys>")),
            "<sys>Human: <s>Hi</s>Assistant: <s>Hello!</s>Human: <s>2+2?</s>Assistant: <s>");
}

TEST(Conversation, RendersChatGptWithHeadsDefaultStyle) {
  EXPECT_EQ(render("chatgpt", hi()),
            "You are a helpful assistant.\nuser: Hi\nassistant: Hello!\nuser: 2+2?\nassistant:");
}

TEST(Conversation, RendersMetaMathWithItsStepByStepPrefix) {
  EXPECT_EQ(render("metamath", hi("<sys>")),
            "<sys>\n\n### Instruction:\nHi\n\n### Response: Let's think step by step.Hello!"
            "### Instruction:\n2+2?\n\n### Response: Let's think step by step.");
}

TEST(Conversation, RendersBillaEndingWithASpace) {
  EXPECT_EQ(render("billa", hi()), "\nHuman: Hi\nAssistant: Hello!\nHuman: 2+2?\nAssistant: ");
}

TEST(Conversation, RendersRobin) {
  EXPECT_EQ(render("Robin", hi("<sys>")),
            "<sys>\n###Human:\nHi\n###Assistant:\nHello!\n###Human:\n2+2?\n###Assistant:\n");
}

TEST(Conversation, RendersInternLm) {
  EXPECT_EQ(render("internlm-chat", hi("<sys>")),
            "<sys><s><|User|>:Hi<eoh>\n<|Bot|>:Hello!<eoa>\n<s><|User|>:2+2?<eoh>\n<|Bot|>:");
}

TEST(Conversation, RendersCuteGptWithoutColons) {
  EXPECT_EQ(render("cutegpt", hi()), "问：Hi\n答：\nHello!\n问：2+2?\n答：\n");
}

TEST(Conversation, RendersFalconChatWithSystemOnlyWhenSet) {
  EXPECT_EQ(render("falcon-chat", hi()), "User: Hi\nFalcon: Hello!\nUser: 2+2?\nFalcon:");
  EXPECT_EQ(render("falcon-chat", req("<sys>", {{Role::kUser, "Hi"}})),
            "System: <sys>\nUser: Hi\nFalcon:");
}

TEST(Conversation, RendersDeepseekChat) {
  EXPECT_EQ(render("deepseek-chat", hi()),
            "<｜begin▁of▁sentence｜>User: Hi\n\nAssistant: Hello!<｜end▁of▁sentence｜>User: "
            "2+2?\n\nAssistant:");
}

TEST(Conversation, RendersYuan2StrippingTrailingAngleAndNCharacters) {
  EXPECT_EQ(render("yuan2", hi()), "Hi<n>Hello!<n>2+2?<sep>");
  EXPECT_EQ(render("yuan2", req("<sys>", {{Role::kUser, "Hi"}})), "<sys>\nHi<sep>");
  // Python's rstrip("<n>") strips a set of characters: the 'n' of "yarn" goes too.
  EXPECT_EQ(render("yuan2", req("", {{Role::kUser, "Tell me about yarn"}})),
            "Tell me about yar<sep>");
}

TEST(Conversation, RendersCllmFromTheLastTwoMessagesOnly) {
  EXPECT_EQ(render("cllm", hi("<sys>")), "<sys> USER: 2+2? ASSISTANT:");
}

TEST(Conversation, RendersGemmaWithoutTheSystemMessage) {
  EXPECT_EQ(render("gemma", hi("ignored")),
            "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n"
            "<start_of_turn>user\n2+2?<end_of_turn>\n<start_of_turn>model\n");
}

TEST(Conversation, EveryBuiltInRendersAConversation) {
  for (const auto name : template_names()) {
    const auto p = render_prompt(tmpl(name), hi("<sys>"));
    EXPECT_TRUE(p.ok()) << name;
  }
}

// ---------------------------------------------------------------------------------------------
// Rendering: FastChat's quirks and the request's shape

TEST(Conversation, RendersAnEmptyMessageLikeTheAssistantSlot) {
  // Python's `if message:` is false for "": no ": " and no separator.
  EXPECT_EQ(
      render("vicuna_v1.1",
             req("<sys>", {{Role::kUser, "Hi"}, {Role::kAssistant, ""}, {Role::kUser, "2+2?"}})),
      "<sys> USER: Hi ASSISTANT:USER: 2+2? ASSISTANT:");
}

TEST(Conversation, PicksSeparatorsByPositionNotRole) {
  EXPECT_EQ(render("vicuna_v1.1",
                   req("<sys>", {{Role::kUser, "a"}, {Role::kUser, "b"}, {Role::kAssistant, "c"}})),
            "<sys> USER: a USER: b</s>ASSISTANT: c ASSISTANT:");
}

TEST(Conversation, JoinsTextPartsWithNewLinesAndSkipsThinking) {
  Request r = req("<sys>", {{Role::kUser, "one"}});
  r.messages[0].parts.push_back(text_part("two"));
  Message a;
  a.role = Role::kAssistant;
  Part thinking;
  thinking.kind = Part::Kind::kThinking;
  thinking.text = "let me think";
  a.parts.push_back(thinking);
  a.parts.push_back(text_part("Hello!"));
  r.messages.push_back(a);
  EXPECT_EQ(render("vicuna_v1.1", r), "<sys> USER: one\ntwo ASSISTANT: Hello!</s>ASSISTANT:");
}

TEST(Conversation, RefusesImagesToolCallsAndToolResults) {
  for (const auto kind : {Part::Kind::kImage, Part::Kind::kToolCall, Part::Kind::kToolResult}) {
    Request r = hi();
    Part p;
    p.kind = kind;
    r.messages[1].parts.push_back(p);
    const auto out = render_prompt(tmpl("vicuna_v1.1"), r);
    ASSERT_FALSE(out.ok());
    EXPECT_EQ(out.error().code, base::ErrorCode::kBadRequest);
    EXPECT_TRUE(has(out.error().message, "text only")) << out.error().message;
    EXPECT_EQ(out.error().param, "messages[1]");
  }
}

TEST(Conversation, RefusesARequestWithoutMessages) {
  const auto out = render_prompt(tmpl("vicuna_v1.1"), Request{});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().code, base::ErrorCode::kBadRequest);
}

TEST(Conversation, FormatsTheSystemTemplateLikePythonFormat) {
  Conversation c;
  c.system_template = "{{braces}} {system_message}!";
  c.system_message = "sys";
  c.messages = {{"USER", "Hi"}, {"ASSISTANT", std::nullopt}};
  const auto p = get_prompt(c);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p, "{braces} sys!\nUSER: Hi\nASSISTANT:");

  for (const char* bad : {"{other}", "{", "}", "{system_message", "{}"}) {
    c.system_template = bad;
    const auto e = get_prompt(c);
    ASSERT_FALSE(e.ok()) << bad;
    EXPECT_EQ(e.error().code, base::ErrorCode::kBadRequest);
  }
}

TEST(Conversation, FailsLikeFastChatWhenAStyleNeedsAMissingSep2) {
  Conversation c = tmpl("vicuna_v1.1");
  c.sep2.reset();
  // Only an assistant message with text reaches sep2 (FastChat: str + None raises).
  EXPECT_TRUE(render_prompt(c, req("", {{Role::kUser, "Hi"}})).ok());
  const auto e = render_prompt(c, hi());
  ASSERT_FALSE(e.ok());
  EXPECT_TRUE(has(e.error().message, "sep2")) << e.error().message;
}

// ---------------------------------------------------------------------------------------------
// Templates and style numbers

TEST(Conversation, FindsTemplatesByFastChatsNames) {
  for (const char* name : {"chatml", "llama-3", "vicuna_v1.1", "mistral", "llama-2", "zero_shot",
                           "one_shot", "chatgpt", "raw"}) {
    EXPECT_NE(find_template(name), nullptr) << name;
  }
  EXPECT_EQ(find_template("Vicuna_v1.1"), nullptr);
  EXPECT_EQ(find_template(""), nullptr);
  const auto names = template_names();
  EXPECT_EQ(names.front(), "raw");
  for (const auto n : names) EXPECT_EQ(find_template(n)->name, n);
}

TEST(Conversation, KeepsFastChatsValuesForTheMainTemplates) {
  const Conversation& l3 = tmpl("llama-3");
  EXPECT_EQ(l3.sep_style, SepStyle::kLlama3);
  EXPECT_EQ(l3.stop_str, std::vector<std::string>{"<|eot_id|>"});
  EXPECT_EQ(l3.stop_token_ids, (std::vector<std::int64_t>{128001, 128009}));
  const Conversation& v = tmpl("vicuna_v1.1");
  EXPECT_EQ(v.roles, (std::array<std::string, 2>{"USER", "ASSISTANT"}));
  EXPECT_EQ(v.sep, " ");
  EXPECT_EQ(v.sep2, "</s>");
  EXPECT_TRUE(v.stop_str.empty());
  const Conversation& l2 = tmpl("llama-2");
  EXPECT_EQ(l2.sep2, " </s><s>");
  EXPECT_EQ(tmpl("mistral").sep2, "</s>");
  EXPECT_EQ(tmpl("zero_shot").stop_str, std::vector<std::string>{"###"});
}

TEST(Conversation, NumbersStylesInBothFastChatVersions) {
  using N = SepNumbering;
  EXPECT_EQ(sep_style_number(SepStyle::kAddColonTwo, N::kTag0236), 2);
  EXPECT_EQ(sep_style_number(SepStyle::kAddColonTwo, N::kHead), 2);
  EXPECT_EQ(sep_style_number(SepStyle::kLlama2, N::kTag0236), 7);
  EXPECT_EQ(sep_style_number(SepStyle::kLlama3, N::kTag0236), std::nullopt);
  EXPECT_EQ(sep_style_number(SepStyle::kLlama3, N::kHead), 8);
  EXPECT_EQ(sep_style_number(SepStyle::kChatGlm, N::kTag0236), 8);
  EXPECT_EQ(sep_style_number(SepStyle::kChatMl, N::kTag0236), 9);
  EXPECT_EQ(sep_style_number(SepStyle::kChatMl, N::kHead), 10);
  EXPECT_EQ(sep_style_number(SepStyle::kYuan2, N::kTag0236), 19);
  EXPECT_EQ(sep_style_number(SepStyle::kYuan2, N::kHead), 20);
  EXPECT_EQ(sep_style_number(SepStyle::kGemma, N::kHead), 21);
  EXPECT_EQ(sep_style_number(SepStyle::kCllm, N::kHead), 22);
  EXPECT_EQ(sep_style_number(SepStyle::kDefault, N::kHead), 23);
  EXPECT_EQ(sep_style_number(SepStyle::kDefault, N::kTag0236), std::nullopt);

  EXPECT_EQ(sep_style_from_number(8, N::kTag0236), SepStyle::kChatGlm);
  EXPECT_EQ(sep_style_from_number(8, N::kHead), SepStyle::kLlama3);
  EXPECT_EQ(sep_style_from_number(20, N::kTag0236), std::nullopt);
  EXPECT_EQ(sep_style_from_number(0, N::kHead), std::nullopt);
  EXPECT_EQ(sep_style_from_number(24, N::kHead), std::nullopt);
  EXPECT_EQ(sep_style_from_number(-1, N::kTag0236), std::nullopt);
  // Each numbering is a bijection onto its styles.
  for (const auto n : {N::kTag0236, N::kHead}) {
    for (std::int64_t i = 1; i <= 23; ++i) {
      const auto s = sep_style_from_number(i, n);
      if (s) {
        EXPECT_EQ(sep_style_number(*s, n), i);
      }
    }
  }
  EXPECT_EQ(sep_style_name(SepStyle::kAddNewLineSingle), "ADD_NEW_LINE_SINGLE");
}

// ---------------------------------------------------------------------------------------------
// The worker's /worker_get_conv_template answer

constexpr std::string_view kVicunaAnswer =
    R"({"conv": {"name": "vicuna_v1.1", "system_template": "{system_message}", )"
    R"("system_message": "A chat between a curious user and an artificial intelligence )"
    R"(assistant. The assistant gives helpful, detailed, and polite answers to the user's )"
    R"(questions.", "roles": ["USER", "ASSISTANT"], "messages": [], "offset": 0, )"
    R"("sep_style": 2, "sep": " ", "sep2": "</s>", "stop_str": null, "stop_token_ids": null}})";

TEST(Conversation, ParsesAWorkersVicunaTemplate) {
  const auto c = parse_conv_template(kVicunaAnswer);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->name, "vicuna_v1.1");
  EXPECT_EQ(c->sep_style, SepStyle::kAddColonTwo);
  EXPECT_EQ(c->sep2, "</s>");
  EXPECT_TRUE(c->stop_str.empty());
  EXPECT_TRUE(c->stop_token_ids.empty());
  const auto a = render_prompt(*c, hi("<sys>"));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, "<sys> USER: Hi ASSISTANT: Hello!</s>USER: 2+2? ASSISTANT:");
  EXPECT_EQ(render_prompt(*c, hi()).value(), render("vicuna_v1.1", hi()));
}

TEST(Conversation, WritesTheVicunaTemplateAsAWorkerDoes) {
  const auto written = boost::json::parse(conv_template_json(tmpl("vicuna_v1.1")));
  EXPECT_EQ(written, boost::json::parse(kVicunaAnswer));
}

TEST(Conversation, ReadsSepStyleInTheChosenNumbering) {
  std::string body(kVicunaAnswer);
  body.replace(body.find("\"sep_style\": 2"), 14, "\"sep_style\": 8");
  const auto tag = parse_conv_template(body);
  ASSERT_TRUE(tag.ok());
  EXPECT_EQ(tag->sep_style, SepStyle::kChatGlm);
  const auto head = parse_conv_template(body, SepNumbering::kHead);
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->sep_style, SepStyle::kLlama3);
}

TEST(Conversation, ReadsStopStringsIdsFewShotTurnsAndHeadFields) {
  const auto c = parse_conv_template(
      R"({"conv": {"name": "x", "system_template": "S:{system_message}", "system_message": "m",
         "system_message_vision": "", "roles": ["A", "B", "System"],
         "messages": [["A", "hi"], ["B", null]], "offset": 2, "sep_style": 21, "sep": null,
         "sep2": null, "stop_str": ["###", "</s>"], "stop_token_ids": [2, 128009],
         "max_image_size_mb": null}})",
      SepNumbering::kHead);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->system_template, "S:{system_message}");
  EXPECT_EQ(c->roles, (std::array<std::string, 2>{"A", "B"}));
  ASSERT_EQ(c->messages.size(), 2u);
  EXPECT_EQ(c->messages[0], (std::pair<std::string, std::optional<std::string>>{"A", "hi"}));
  EXPECT_EQ(c->messages[1].second, std::nullopt);
  EXPECT_EQ(c->offset, 2);
  EXPECT_EQ(c->sep_style, SepStyle::kGemma);
  EXPECT_EQ(c->sep, "");
  EXPECT_EQ(c->sep2, std::nullopt);
  EXPECT_EQ(c->stop_str, (std::vector<std::string>{"###", "</s>"}));
  EXPECT_EQ(c->stop_token_ids, (std::vector<std::int64_t>{2, 128009}));

  std::string single(kVicunaAnswer);
  single.replace(single.find("\"stop_str\": null"), 16, "\"stop_str\": \"###\"");
  const auto s = parse_conv_template(single);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->stop_str, std::vector<std::string>{"###"});
}

TEST(Conversation, RefusesMalformedTemplateAnswers) {
  const std::vector<std::string> bodies = {
      "",   "not json",      "{\"conv\": ",      "[]",
      "{}", "{\"conv\": 1}", "{\"conv\": null}", "{\"conv\": [" + std::string(200, '[') + "]}",
  };
  for (const auto& b : bodies) {
    const auto c = parse_conv_template(b);
    ASSERT_FALSE(c.ok()) << b;
    EXPECT_EQ(c.error().code, base::ErrorCode::kBadRequest);
  }
}

TEST(Conversation, RefusesATemplateMissingAnyField) {
  for (const char* key : {"name", "system_template", "system_message", "roles", "messages",
                          "offset", "sep_style", "sep", "sep2", "stop_str", "stop_token_ids"}) {
    auto doc = boost::json::parse(kVicunaAnswer);
    doc.at("conv").as_object().erase(key);
    const auto c = parse_conv_template(boost::json::serialize(doc));
    ASSERT_FALSE(c.ok()) << key;
    EXPECT_EQ(c.error().code, base::ErrorCode::kBadRequest);
    EXPECT_EQ(c.error().param, std::string("conv.") + key);
  }
}

TEST(Conversation, RefusesMistypedTemplateFields) {
  const std::vector<std::pair<const char*, const char*>> cases = {
      {"name", "1"},
      {"system_template", "null"},
      {"system_message", "[]"},
      {"roles", "\"USER\""},
      {"roles", "[\"USER\"]"},
      {"roles", "[\"USER\", 2]"},
      {"messages", "{}"},
      {"messages", "[[\"USER\"]]"},
      {"messages", "[[1, \"hi\"]]"},
      {"messages", "[[\"USER\", 1]]"},
      {"messages", "[\"USER\"]"},
      {"offset", "\"0\""},
      {"offset", "-1"},
      {"offset", "1.5"},
      {"sep_style", "\"2\""},
      {"sep_style", "2.0"},
      {"sep_style", "true"},
      {"sep_style", "null"},
      {"sep", "1"},
      {"sep2", "false"},
      {"stop_str", "1"},
      {"stop_str", "[1]"},
      {"stop_token_ids", "\"2\""},
      {"stop_token_ids", "[1.5]"},
      {"stop_token_ids", "[\"2\"]"},
  };
  for (const auto& [key, value] : cases) {
    auto doc = boost::json::parse(kVicunaAnswer);
    doc.at("conv").as_object()[key] = boost::json::parse(value);
    const auto c = parse_conv_template(boost::json::serialize(doc));
    ASSERT_FALSE(c.ok()) << key << " = " << value;
    EXPECT_EQ(c.error().code, base::ErrorCode::kBadRequest);
    // The path names the field, or the element of it ("conv.messages[0]").
    EXPECT_TRUE(c.error().param.starts_with(std::string("conv.") + key))
        << key << " = " << value << ": " << c.error().param;
  }
}

TEST(Conversation, NamesAnUnknownSepStyle) {
  for (const char* n : {"0", "20", "99", "-3", "18446744073709551615"}) {
    std::string body(kVicunaAnswer);
    body.replace(body.find("\"sep_style\": 2"), 14, std::string("\"sep_style\": ") + n);
    const auto c = parse_conv_template(body);
    ASSERT_FALSE(c.ok()) << n;
    EXPECT_EQ(c.error().code, base::ErrorCode::kBadRequest);
    if (std::string_view(n) != "18446744073709551615") {
      EXPECT_TRUE(has(c.error().message, std::string("sep_style ") + n)) << c.error().message;
    }
  }
  // 23 is DEFAULT in HEAD's numbering only.
  std::string body(kVicunaAnswer);
  body.replace(body.find("\"sep_style\": 2"), 14, "\"sep_style\": 23");
  EXPECT_FALSE(parse_conv_template(body).ok());
  EXPECT_TRUE(parse_conv_template(body, SepNumbering::kHead).ok());
}

void expect_same(const Conversation& a, const Conversation& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.system_template, b.system_template) << a.name;
  EXPECT_EQ(a.system_message, b.system_message) << a.name;
  EXPECT_EQ(a.roles, b.roles) << a.name;
  EXPECT_EQ(a.messages, b.messages) << a.name;
  EXPECT_EQ(a.offset, b.offset) << a.name;
  EXPECT_EQ(a.sep_style, b.sep_style) << a.name;
  EXPECT_EQ(a.sep, b.sep) << a.name;
  EXPECT_EQ(a.sep2, b.sep2) << a.name;
  EXPECT_EQ(a.stop_str, b.stop_str) << a.name;
  EXPECT_EQ(a.stop_token_ids, b.stop_token_ids) << a.name;
}

TEST(Conversation, ReadsBackEveryTemplateItWrites) {
  for (const auto name : template_names()) {
    const Conversation& c = tmpl(name);
    const auto head =
        parse_conv_template(conv_template_json(c, SepNumbering::kHead), SepNumbering::kHead);
    ASSERT_TRUE(head.ok()) << name << ": " << head.error().message;
    expect_same(*head, c);
    if (sep_style_number(c.sep_style, SepNumbering::kTag0236)) {
      const auto tag = parse_conv_template(conv_template_json(c));
      ASSERT_TRUE(tag.ok()) << name << ": " << tag.error().message;
      expect_same(*tag, c);
    }
  }
}

TEST(Conversation, WritesAStyleTheTagCannotNumberAsNull) {
  const std::string body = conv_template_json(tmpl("llama-3"));
  const auto doc = boost::json::parse(body);
  EXPECT_TRUE(doc.at("conv").at("sep_style").is_null());
  EXPECT_FALSE(parse_conv_template(body).ok());
  const auto head = boost::json::parse(conv_template_json(tmpl("llama-3"), SepNumbering::kHead));
  EXPECT_EQ(head.at("conv").at("sep_style").as_int64(), 8);
  EXPECT_EQ(head.at("conv").at("stop_token_ids"), boost::json::parse("[128001, 128009]"));
  EXPECT_EQ(head.at("conv").at("stop_str").as_string(), "<|eot_id|>");
  EXPECT_TRUE(head.at("conv").at("max_image_size_mb").is_null());
}

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
