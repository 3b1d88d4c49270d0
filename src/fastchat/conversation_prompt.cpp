// Reading a rendered prompt back into a system prompt and turns (parse_prompt()), for a relay
// worker that gets prompts and calls chat APIs.
#include "fastchat/conversation.hpp"
#include "fastchat/conversation_detail.hpp"

namespace shepherd::fastchat {

using detail::bad;
using detail::python_strip;
using detail::template_pieces;

namespace {

using translate::Message;
using translate::Part;
using translate::Role;

// ---------------------------------------------------------------------------------------------
// Reading a prompt back

// One turn read from a prompt: the role's index and its text (nullopt: the pending slot).
struct Turn {
  int role;
  std::optional<std::string> text;
};

bool starts_with_at(std::string_view s, std::size_t pos, std::string_view prefix) {
  return s.size() >= pos && s.substr(pos).substr(0, prefix.size()) == prefix;
}

// The index of the marker (markers[0] or markers[1]) `s` has at `pos`, the longer one when both;
// -1 when neither.
int marker_at(std::string_view s, std::size_t pos, const std::array<std::string, 2>& markers) {
  int found = -1;
  for (int k = 0; k < 2; ++k) {
    const auto& m = markers[static_cast<std::size_t>(k)];
    if (starts_with_at(s, pos, m) &&
        (found < 0 || m.size() > markers[static_cast<std::size_t>(found)].size())) {
      found = k;
    }
  }
  return found;
}

// The first position at or after `from` where `s` has lead + markers[0] or lead + markers[1].
std::size_t find_boundary(std::string_view s, std::size_t from, std::string_view lead,
                          const std::array<std::string, 2>& markers) {
  std::size_t best = std::string_view::npos;
  for (const auto& m : markers) {
    const std::string needle = std::string(lead) + m;
    const auto at = s.find(needle, from);
    if (at < best) best = at;
  }
  return best;
}

base::Error not_shaped(const Conversation& conv, std::string why) {
  return bad("the prompt is not in the shape of the conversation template " + conv.name + ": " +
             why);
}

// The turns of `prompt` from `pos` on, in the shape marker + text + `end` (the marker alone for
// an empty message, and for the pending slot at the very end), for styles whose markers cannot
// occur inside a message (CHATML, LLAMA3).
base::Result<std::vector<Turn>> read_marked_turns(const Conversation& conv, std::string_view prompt,
                                                  std::size_t pos,
                                                  const std::array<std::string, 2>& markers,
                                                  std::string_view end) {
  std::vector<Turn> turns;
  while (pos < prompt.size()) {
    const int role = marker_at(prompt, pos, markers);
    if (role < 0) return not_shaped(conv, "expected a role marker at byte " + std::to_string(pos));
    pos += markers[static_cast<std::size_t>(role)].size();
    if (pos == prompt.size()) {
      turns.push_back({role, std::nullopt});
      break;
    }
    if (marker_at(prompt, pos, markers) >= 0) {  // an empty message: its marker alone
      turns.push_back({role, std::string()});
      continue;
    }
    const auto at = prompt.find(end, pos);
    if (at == std::string_view::npos) {
      return not_shaped(conv, "a message does not end with " + std::string(end));
    }
    turns.push_back({role, std::string(prompt.substr(pos, at - pos))});
    pos = at + end.size();
  }
  return turns;
}

// The system part at the head of `prompt`: when the template has a {system_message} field, the
// text between its literal pieces up to the first `end_lead` + `markers[k]` that follows;
// otherwise the template's literal text itself (the system message cannot be recovered: "").
// `pos` is left after the system part and `end_lead`.
base::Result<std::string> read_system(const Conversation& conv, std::string_view prompt,
                                      const std::vector<std::string>& pieces,
                                      std::string_view end_lead,
                                      const std::array<std::string, 2>& markers, std::size_t& pos) {
  if (pieces.size() > 2) {
    return not_shaped(conv, "its system_template holds {system_message} more than once");
  }
  const std::string& prefix = pieces[0];
  if (!starts_with_at(prompt, pos, prefix)) {
    return not_shaped(conv, "it does not begin with the system template's text");
  }
  if (pieces.size() == 1) {
    if (!starts_with_at(prompt, pos + prefix.size(), end_lead)) {
      return not_shaped(conv, "no separator after the system text");
    }
    pos += prefix.size() + end_lead.size();
    return std::string();
  }
  const std::string lead = pieces[1] + std::string(end_lead);
  const auto start = pos + prefix.size();
  const auto end = find_boundary(prompt, start, lead, markers);
  if (end == std::string_view::npos) return not_shaped(conv, "no turn follows the system part");
  pos = end + lead.size();
  return std::string(prompt.substr(start, end - start));
}

// From `pos` on: the system part (when `has_system`, ending in `system_end`), then the marked
// turns (read_marked_turns()).
base::Result<std::pair<std::string, std::vector<Turn>>> read_marked(
    const Conversation& conv, std::string_view prompt, const std::vector<std::string>& pieces,
    std::size_t pos, const std::array<std::string, 2>& markers, bool has_system,
    std::string_view system_end, std::string_view end) {
  std::string system;
  if (has_system) {
    auto s = read_system(conv, prompt, pieces, system_end, markers, pos);
    if (!s) return std::move(s).error();
    system = std::move(*s);
  }
  auto turns = read_marked_turns(conv, prompt, pos, markers, end);
  if (!turns) return std::move(turns).error();
  return std::pair{std::move(system), std::move(*turns)};
}

base::Result<std::pair<std::string, std::vector<Turn>>> read_chatml(
    const Conversation& conv, std::string_view prompt, const std::vector<std::string>& pieces) {
  // Rendered: [system_prompt + sep + "\n"] then role + "\n" + text + sep + "\n" per message
  // (role + "\n" alone for an empty one and for the slot).
  const std::array<std::string, 2> markers = {conv.roles[0] + "\n", conv.roles[1] + "\n"};
  const std::string end = conv.sep + "\n";
  const bool fixed_text =
      pieces.size() > 1 ? !(pieces[0].empty() && pieces[1].empty()) : !pieces[0].empty();
  // No system part when the formatted system prompt is empty, which a template without fixed
  // text gives for an empty system message: the prompt then opens with a turn.
  const bool has_system = fixed_text || marker_at(prompt, 0, markers) < 0;
  return read_marked(conv, prompt, pieces, 0, markers, has_system, end, end);
}

base::Result<std::pair<std::string, std::vector<Turn>>> read_llama3(
    const Conversation& conv, std::string_view prompt, const std::vector<std::string>& pieces) {
  // Rendered: "<|begin_of_text|>" [+ system_prompt when system_message is not empty] then
  // header(role) + strip(text) + "<|eot_id|>" per message (the header alone for an empty one).
  constexpr std::string_view kBegin = "<|begin_of_text|>";
  constexpr std::string_view kEot = "<|eot_id|>";
  const std::array<std::string, 2> markers = {
      "<|start_header_id|>" + conv.roles[0] + "<|end_header_id|>\n\n",
      "<|start_header_id|>" + conv.roles[1] + "<|end_header_id|>\n\n"};
  if (!prompt.starts_with(kBegin))
    return not_shaped(conv, "it does not begin with " + std::string(kBegin));
  const bool has_system = marker_at(prompt, kBegin.size(), markers) < 0;
  return read_marked(conv, prompt, pieces, kBegin.size(), markers, has_system, "", kEot);
}

base::Result<std::pair<std::string, std::vector<Turn>>> read_add_colon(
    const Conversation& conv, std::string_view prompt, const std::vector<std::string>& pieces) {
  // Rendered: system_prompt + sep, then role + ": " + text + seps[i % 2] per message i (role + ":"
  // alone for an empty one and for the slot); ADD_COLON_SINGLE has seps = {sep, sep}.
  const std::array<std::string, 2> seps = {
      conv.sep, conv.sep_style == SepStyle::kAddColonTwo ? conv.sep2.value_or("") : conv.sep};
  const std::array<std::string, 2> markers = {conv.roles[0] + ":", conv.roles[1] + ":"};
  std::size_t pos = 0;
  auto s = read_system(conv, prompt, pieces, conv.sep, markers, pos);
  if (!s) return std::move(s).error();
  std::vector<Turn> turns;
  for (std::size_t i = 0; pos < prompt.size(); ++i) {
    const int role = marker_at(prompt, pos, markers);
    if (role < 0) return not_shaped(conv, "expected a role marker at byte " + std::to_string(pos));
    pos += markers[static_cast<std::size_t>(role)].size();
    if (pos == prompt.size()) {
      turns.push_back({role, std::nullopt});
      break;
    }
    if (marker_at(prompt, pos, markers) >= 0) {
      turns.push_back({role, std::string()});
      continue;
    }
    if (prompt[pos] != ' ') {
      return not_shaped(conv, "expected \": \" after a role at byte " + std::to_string(pos));
    }
    ++pos;
    // The text is not empty (an empty one renders without ": "), so its end is past `pos`.
    const auto& sep = seps[i % 2];
    const auto at = find_boundary(prompt, pos + 1, sep, markers);
    if (at == std::string_view::npos) return not_shaped(conv, "no turn follows a message");
    turns.push_back({role, std::string(prompt.substr(pos, at - pos))});
    pos = at + sep.size();
  }
  return std::pair{std::move(*s), std::move(turns)};
}

}  // namespace

base::Result<ParsedPrompt> parse_prompt(const Conversation& conv, std::string_view prompt) {
  if (conv.roles[0] == conv.roles[1]) {
    return bad("the conversation template " + conv.name +
               " has two equal roles: its prompts cannot be read back");
  }
  auto pieces = template_pieces(conv.system_template);
  if (!pieces) return std::move(pieces).error();

  auto read = [&]() -> base::Result<std::pair<std::string, std::vector<Turn>>> {
    switch (conv.sep_style) {
      case SepStyle::kChatMl:
        return read_chatml(conv, prompt, *pieces);
      case SepStyle::kLlama3:
        return read_llama3(conv, prompt, *pieces);
      case SepStyle::kAddColonSingle:
      case SepStyle::kAddColonTwo:
        if (conv.sep_style == SepStyle::kAddColonTwo && !conv.sep2) {
          return bad("the conversation template " + conv.name + " has no sep2");
        }
        return read_add_colon(conv, prompt, *pieces);
      default:
        return bad(
            "prompts of the separator style " + std::string(sep_style_name(conv.sep_style)) +
            " cannot be read back (only CHATML, LLAMA3, ADD_COLON_TWO and ADD_COLON_SINGLE)");
    }
  }();
  if (!read) return std::move(read).error();
  auto& [system, turns] = *read;

  if (turns.empty() || turns.back().role != 1 || turns.back().text) {
    return not_shaped(conv, "it does not end with the assistant's slot (" + conv.roles[1] + ")");
  }
  turns.pop_back();
  // The template's few-shot turns come first, as the template has them (a null text renders like
  // an empty one; LLAMA3 renders each text stripped).
  if (turns.size() < conv.messages.size()) {
    return not_shaped(conv, "it lacks the template's few-shot turns");
  }
  for (std::size_t i = 0; i < conv.messages.size(); ++i) {
    const auto& [role, text] = conv.messages[i];
    std::string expected = text.value_or("");
    if (conv.sep_style == SepStyle::kLlama3) expected = python_strip(expected);
    if (conv.roles[static_cast<std::size_t>(turns[i].role)] != role ||
        turns[i].text.value_or("") != expected) {
      return not_shaped(conv, "it lacks the template's few-shot turn " + std::to_string(i));
    }
  }

  ParsedPrompt out;
  if (system != conv.system_message) out.system = std::move(system);
  for (std::size_t i = conv.messages.size(); i < turns.size(); ++i) {
    Message m;
    m.role = turns[i].role == 0 ? Role::kUser : Role::kAssistant;
    Part p;
    p.text = std::move(*turns[i].text);
    m.parts.push_back(std::move(p));
    out.messages.push_back(std::move(m));
  }
  return out;
}

}  // namespace shepherd::fastchat
