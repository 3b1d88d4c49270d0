// FastChat's conversation templates. Every expected prompt below was worked out by hand from
// FastChat's Conversation.get_prompt() (fastchat/conversation.py, v0.2.36 and HEAD) and the
// examples of docs/fastchat-protocol.md 3.3, never taken from this code's output.
#include "fastchat/conversation.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "fastchat/conversation_test_support.hpp"

namespace shepherd::fastchat {
namespace {

using translate::Message;
using translate::Part;
using translate::Request;
using translate::Role;
using namespace test_support;

// ---------------------------------------------------------------------------------------------
// Rendering: docs/fastchat-protocol.md's examples

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

}  // namespace
}  // namespace shepherd::fastchat
