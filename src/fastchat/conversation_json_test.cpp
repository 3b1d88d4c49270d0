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

}  // namespace
}  // namespace shepherd::fastchat
