// FastChat's conversation templates. The facts (styles, their numbering, the rendering of each
// style, the templates' values) are FastChat's fastchat/conversation.py at tag v0.2.36 and, for
// what came later (LLAMA3, GEMMA, CLLM, DEFAULT and the templates using them), at HEAD; the
// prompt building is openai_api_server.py get_gen_params. See docs in conversation.hpp.
#include "fastchat/conversation.hpp"

#include <boost/json.hpp>
#include <cstddef>
#include <limits>

#include "base/text.hpp"
#include "fastchat/conversation_detail.hpp"

namespace shepherd::fastchat {
namespace detail {

namespace json = boost::json;

using translate::Message;
using translate::Part;
using translate::Role;

base::Error bad(std::string message, std::string param) {
  auto e = base::make_error(base::ErrorCode::kBadRequest, std::move(message));
  e.param = std::move(param);
  return e;
}

// ---------------------------------------------------------------------------------------------
// Styles and their wire numbers

struct StyleInfo {
  SepStyle style;
  std::string_view name;
  int tag;   // 0: no number in 0.2.36
  int head;  // HEAD's number
};

constexpr StyleInfo kStyles[] = {
    {SepStyle::kAddColonSingle, "ADD_COLON_SINGLE", 1, 1},
    {SepStyle::kAddColonTwo, "ADD_COLON_TWO", 2, 2},
    {SepStyle::kAddColonSpaceSingle, "ADD_COLON_SPACE_SINGLE", 3, 3},
    {SepStyle::kNoColonSingle, "NO_COLON_SINGLE", 4, 4},
    {SepStyle::kNoColonTwo, "NO_COLON_TWO", 5, 5},
    {SepStyle::kAddNewLineSingle, "ADD_NEW_LINE_SINGLE", 6, 6},
    {SepStyle::kLlama2, "LLAMA2", 7, 7},
    {SepStyle::kLlama3, "LLAMA3", 0, 8},
    {SepStyle::kChatGlm, "CHATGLM", 8, 9},
    {SepStyle::kChatMl, "CHATML", 9, 10},
    {SepStyle::kChatIntern, "CHATINTERN", 10, 11},
    {SepStyle::kDolly, "DOLLY", 11, 12},
    {SepStyle::kRwkv, "RWKV", 12, 13},
    {SepStyle::kPhoenix, "PHOENIX", 13, 14},
    {SepStyle::kRobin, "ROBIN", 14, 15},
    {SepStyle::kFalconChat, "FALCON_CHAT", 15, 16},
    {SepStyle::kChatGlm3, "CHATGLM3", 16, 17},
    {SepStyle::kDeepseekChat, "DEEPSEEK_CHAT", 17, 18},
    {SepStyle::kMetaMath, "METAMATH", 18, 19},
    {SepStyle::kYuan2, "YUAN2", 19, 20},
    {SepStyle::kGemma, "GEMMA", 0, 21},
    {SepStyle::kCllm, "CLLM", 0, 22},
    {SepStyle::kDefault, "DEFAULT", 0, 23},
};

const StyleInfo& info(SepStyle style) {
  for (const auto& s : kStyles) {
    if (s.style == style) return s;
  }
  return kStyles[0];  // unreachable: every enumerator has a row
}

// ---------------------------------------------------------------------------------------------
// Python semantics the rendering depends on

// The literal pieces of a system_template around its "{system_message}" fields, as Python's
// str.format reads it ("{{" and "}}" are braces); one more piece than there are fields.
base::Result<std::vector<std::string>> template_pieces(std::string_view tmpl) {
  constexpr std::string_view kField = "{system_message}";
  std::vector<std::string> pieces(1);
  for (std::size_t i = 0; i < tmpl.size();) {
    const char c = tmpl[i];
    if (c == '{' && tmpl.substr(i, 2) == "{{") {
      pieces.back() += '{';
      i += 2;
    } else if (c == '}' && tmpl.substr(i, 2) == "}}") {
      pieces.back() += '}';
      i += 2;
    } else if (c == '{' && tmpl.substr(i, kField.size()) == kField) {
      pieces.emplace_back();
      i += kField.size();
    } else if (c == '{' || c == '}') {
      // Python raises here: KeyError for another field, ValueError for a lone brace.
      return bad(
          "the template's system_template is not a format string with only "
          "{system_message}: " +
          std::string(tmpl));
    } else {
      pieces.back() += c;
      ++i;
    }
  }
  return pieces;
}

std::string join_pieces(const std::vector<std::string>& pieces, std::string_view value) {
  std::string out = pieces[0];
  for (std::size_t i = 1; i < pieces.size(); ++i) {
    out += value;
    out += pieces[i];
  }
  return out;
}

// Python's `if message:` on a message: None and "" are false.
bool truthy(const std::optional<std::string>& m) { return m && !m->empty(); }

// Python's str.isspace() for one code point.
bool python_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

// Python's str.strip() with no argument (Unicode whitespace at both ends).
std::string python_strip(std::string_view s) {
  std::size_t begin = 0;
  while (begin < s.size()) {
    const auto [cp, len] = base::decode_utf8(s, begin);
    if (!python_space(cp)) break;
    begin += len;
  }
  std::size_t end = s.size();
  while (end > begin) {
    std::size_t start = end - 1;  // back to the first byte of the last sequence
    while (start > begin && end - start < 4 &&
           (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) {
      --start;
    }
    const auto [cp, len] = base::decode_utf8(s, start);
    if (start + len != end || !python_space(cp)) break;
    end = start;
  }
  return std::string(s.substr(begin, end - begin));
}

// Python's str.replace(from, to): every non-overlapping occurrence, left to right, one pass.
std::string replace_all(std::string_view s, std::string_view from, std::string_view to) {
  std::string out;
  std::size_t i = 0;
  while (true) {
    const auto at = s.find(from, i);
    if (at == std::string_view::npos) break;
    out.append(s.substr(i, at - i));
    out.append(to);
    i = at + from.size();
  }
  out.append(s.substr(i));
  return out;
}

// Python's str.rstrip(chars): drops trailing characters that are any of `chars` (a set, not a
// suffix: YUAN2's rstrip("<n>") also eats a message's trailing 'n's).
std::string rstrip_chars(std::string s, std::string_view chars) {
  while (!s.empty() && chars.find(s.back()) != std::string_view::npos) s.pop_back();
  return s;
}

}  // namespace detail

using namespace detail;

// ---------------------------------------------------------------------------------------------

std::string_view sep_style_name(SepStyle style) { return info(style).name; }

std::optional<int> sep_style_number(SepStyle style, SepNumbering numbering) {
  const auto& s = info(style);
  const int n = numbering == SepNumbering::kTag0236 ? s.tag : s.head;
  if (n == 0) return std::nullopt;
  return n;
}

std::optional<SepStyle> sep_style_from_number(std::int64_t number, SepNumbering numbering) {
  for (const auto& s : kStyles) {
    const int n = numbering == SepNumbering::kTag0236 ? s.tag : s.head;
    if (n != 0 && n == number) return s.style;
  }
  return std::nullopt;
}

base::Result<std::string> get_prompt(const Conversation& c) {
  auto pieces = template_pieces(c.system_template);
  if (!pieces) return std::move(pieces).error();
  const std::string system_prompt = join_pieces(*pieces, c.system_message);
  const auto& msgs = c.messages;

  // seps[i % 2]; FastChat concatenates a null sep2 and raises TypeError, here an error.
  bool sep2_missing = false;
  const std::string empty;
  auto seps = [&](std::size_t i) -> const std::string& {
    if (i % 2 == 0) return c.sep;
    if (!c.sep2) {
      sep2_missing = true;
      return empty;
    }
    return *c.sep2;
  };

  std::string ret;
  switch (c.sep_style) {
    case SepStyle::kAddColonSingle:
      ret = system_prompt + c.sep;
      for (const auto& [role, m] : msgs) ret += truthy(m) ? role + ": " + *m + c.sep : role + ":";
      break;
    case SepStyle::kAddColonTwo:
      ret = system_prompt + c.sep;
      for (std::size_t i = 0; i < msgs.size(); ++i) {
        const auto& [role, m] = msgs[i];
        ret += truthy(m) ? role + ": " + *m + seps(i) : role + ":";
      }
      break;
    case SepStyle::kAddColonSpaceSingle:
      ret = system_prompt + c.sep;
      for (const auto& [role, m] : msgs) ret += truthy(m) ? role + ": " + *m + c.sep : role + ": ";
      break;
    case SepStyle::kAddNewLineSingle:
      ret = system_prompt.empty() ? "" : system_prompt + c.sep;
      for (const auto& [role, m] : msgs) ret += truthy(m) ? role + "\n" + *m + c.sep : role + "\n";
      break;
    case SepStyle::kNoColonSingle:
      ret = system_prompt;
      for (const auto& [role, m] : msgs) ret += truthy(m) ? role + *m + c.sep : role;
      break;
    case SepStyle::kNoColonTwo:
      ret = system_prompt;
      for (std::size_t i = 0; i < msgs.size(); ++i) {
        const auto& [role, m] = msgs[i];
        ret += truthy(m) ? role + *m + seps(i) : role;
      }
      break;
    case SepStyle::kRwkv:
      ret = system_prompt;
      for (const auto& [role, m] : msgs) {
        ret += truthy(m)
                   ? role + ": " + replace_all(replace_all(*m, "\r\n", "\n"), "\n\n", "\n") + "\n\n"
                   : role + ":";
      }
      break;
    case SepStyle::kLlama2:
      // The role tags come from the template's roles by position, not from the messages; the
      // first message goes in without a tag (the system part or "[INST] " opens the prompt).
      ret = c.system_message.empty() ? "[INST] " : system_prompt;
      for (std::size_t i = 0; i < msgs.size(); ++i) {
        const auto& m = msgs[i].second;
        const auto& tag = c.roles[i % 2];
        if (!truthy(m)) {
          ret += tag;
        } else if (i == 0) {
          ret += *m + " ";
        } else {
          ret += tag + " " + *m + seps(i);
        }
      }
      break;
    case SepStyle::kLlama3:
      ret = "<|begin_of_text|>";
      if (!c.system_message.empty()) ret += system_prompt;
      for (const auto& [role, m] : msgs) {
        ret += "<|start_header_id|>" + role + "<|end_header_id|>\n\n";
        if (truthy(m)) ret += python_strip(*m) + "<|eot_id|>";
      }
      break;
    case SepStyle::kChatGlm: {
      // chatglm2 numbers its rounds from 1, chatglm from 0 (FastChat keys this on the name).
      const std::size_t round_add = c.name == "chatglm2" ? 1 : 0;
      ret = system_prompt.empty() ? "" : system_prompt + c.sep;
      for (std::size_t i = 0; i < msgs.size(); ++i) {
        const auto& [role, m] = msgs[i];
        if (i % 2 == 0) ret += "[Round " + std::to_string(i / 2 + round_add) + "]" + c.sep;
        ret += truthy(m) ? role + "：" + *m + c.sep : role + "：";
      }
      break;
    }
    case SepStyle::kChatMl:
      ret = system_prompt.empty() ? "" : system_prompt + c.sep + "\n";
      for (const auto& [role, m] : msgs) {
        ret += truthy(m) ? role + "\n" + *m + c.sep + "\n" : role + "\n";
      }
      break;
    case SepStyle::kChatGlm3:
      if (!c.system_message.empty()) ret = system_prompt;
      for (const auto& [role, m] : msgs) ret += truthy(m) ? role + "\n" + *m : role;
      break;
    case SepStyle::kChatIntern:
      ret = system_prompt;
      for (std::size_t i = 0; i < msgs.size(); ++i) {
        const auto& [role, m] = msgs[i];
        if (i % 2 == 0) ret += "<s>";
        ret += truthy(m) ? role + ":" + *m + seps(i) + "\n" : role + ":";
      }
      break;
    case SepStyle::kDolly:
      ret = system_prompt;
      for (std::size_t i = 0; i < msgs.size(); ++i) {
        const auto& [role, m] = msgs[i];
        if (truthy(m)) {
          ret += role + ":\n" + *m + seps(i);
          if (i % 2 == 1) ret += "\n\n";
        } else {
          ret += role + ":\n";
        }
      }
      break;
    case SepStyle::kPhoenix:
      ret = system_prompt;
      for (const auto& [role, m] : msgs) {
        ret += truthy(m) ? role + ": <s>" + *m + "</s>" : role + ": <s>";
      }
      break;
    case SepStyle::kRobin:
      ret = system_prompt + c.sep;
      for (const auto& [role, m] : msgs)
        ret += truthy(m) ? role + ":\n" + *m + c.sep : role + ":\n";
      break;
    case SepStyle::kFalconChat:
      if (!c.system_message.empty()) ret = system_prompt + c.sep;
      for (const auto& [role, m] : msgs) ret += truthy(m) ? role + ": " + *m + c.sep : role + ":";
      break;
    case SepStyle::kMetaMath:
      // sep2 prefixes the assistant's text ("Let's think step by step.").
      ret = system_prompt.empty() ? "" : system_prompt + c.sep;
      for (std::size_t i = 0; i < msgs.size(); ++i) {
        const auto& [role, m] = msgs[i];
        const std::string starting = i % 2 == 0 ? ":\n" : ": " + seps(i);
        const std::string& ending = i % 2 == 0 ? c.sep : empty;
        ret += truthy(m) ? role + starting + *m + ending : role + starting;
      }
      break;
    case SepStyle::kDeepseekChat:
      ret = system_prompt;
      for (std::size_t i = 0; i < msgs.size(); ++i) {
        const auto& [role, m] = msgs[i];
        ret += truthy(m) ? role + ": " + *m + seps(i) : role + ":";
      }
      break;
    case SepStyle::kYuan2:
      if (!c.system_message.empty()) ret = system_prompt + seps(1);
      for (const auto& [role, m] : msgs) {
        if (truthy(m)) ret += *m + "<n>";
      }
      ret = rstrip_chars(std::move(ret), "<n>") + c.sep;
      break;
    case SepStyle::kGemma:
      // The system message is not rendered at all.
      ret = "<bos>";
      for (const auto& [role, m] : msgs) {
        ret += "<start_of_turn>" + role + "\n";
        if (truthy(m)) ret += *m + c.sep;
      }
      break;
    case SepStyle::kCllm: {
      // Only the last two messages are rendered, numbered from 0.
      ret = system_prompt + c.sep;
      const std::size_t first = msgs.size() > 2 ? msgs.size() - 2 : 0;
      for (std::size_t i = first; i < msgs.size(); ++i) {
        const auto& [role, m] = msgs[i];
        ret += truthy(m) ? role + ": " + *m + seps(i - first) : role + ":";
      }
      break;
    }
    case SepStyle::kDefault:
      ret = system_prompt + "\n";
      for (const auto& [role, m] : msgs) ret += truthy(m) ? role + ": " + *m + "\n" : role + ":";
      break;
  }
  if (sep2_missing) {
    return bad("the conversation template " + c.name + " has no sep2, which its style " +
               std::string(sep_style_name(c.sep_style)) + " needs");
  }
  return ret;
}

base::Result<std::string> render_prompt(const Conversation& conv,
                                        const translate::Request& request) {
  if (request.messages.empty())
    return bad("a FastChat prompt needs at least one message", "messages");
  Conversation c = conv;
  if (!request.system.empty()) c.system_message = request.system;
  for (std::size_t k = 0; k < request.messages.size(); ++k) {
    const Message& msg = request.messages[k];
    std::string text;
    bool first = true;
    for (const Part& part : msg.parts) {
      switch (part.kind) {
        case Part::Kind::kText:
          if (!first) text += "\n";
          text += part.text;
          first = false;
          break;
        case Part::Kind::kThinking:
        case Part::Kind::kRedactedThinking:
          break;  // earlier reasoning: a FastChat template has no place for it
        case Part::Kind::kImage:
        case Part::Kind::kToolCall:
        case Part::Kind::kToolResult: {
          const char* what = part.kind == Part::Kind::kImage      ? "images"
                             : part.kind == Part::Kind::kToolCall ? "tool calls"
                                                                  : "tool results";
          return bad(std::string("FastChat conversation templates carry text only; message ") +
                         std::to_string(k) + " holds " + what,
                     "messages[" + std::to_string(k) + "]");
        }
      }
    }
    c.messages.emplace_back(c.roles[msg.role == Role::kUser ? 0 : 1], std::move(text));
  }
  c.messages.emplace_back(c.roles[1], std::nullopt);
  return get_prompt(c);
}

}  // namespace shepherd::fastchat
