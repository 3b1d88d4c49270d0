// What the conversation template tests share: requests built in a line, templates by name.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fastchat/conversation.hpp"

namespace shepherd::fastchat::test_support {

using translate::Message;
using translate::Part;
using translate::Request;
using translate::Role;

inline Part text_part(std::string t) {
  Part p;
  p.text = std::move(t);
  return p;
}

inline Message msg(Role role, std::string text) {
  Message m;
  m.role = role;
  m.parts.push_back(text_part(std::move(text)));
  return m;
}

inline Request req(std::string system, std::vector<std::pair<Role, std::string>> turns) {
  Request r;
  r.system = std::move(system);
  for (auto& [role, text] : turns) r.messages.push_back(msg(role, std::move(text)));
  return r;
}

// The conversation most goldens use: Hi / Hello! / 2+2?
inline Request hi(std::string system = "") {
  return req(std::move(system),
             {{Role::kUser, "Hi"}, {Role::kAssistant, "Hello!"}, {Role::kUser, "2+2?"}});
}

inline const Conversation& tmpl(std::string_view name) {
  const Conversation* c = find_template(name);
  EXPECT_NE(c, nullptr) << name;
  static const Conversation empty;
  return c ? *c : empty;
}

inline std::string render(std::string_view name, const Request& r) {
  auto p = render_prompt(tmpl(name), r);
  EXPECT_TRUE(p.ok()) << name << ": " << (p.ok() ? "" : p.error().message);
  return p.ok() ? *p : std::string();
}

inline bool has(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

}  // namespace shepherd::fastchat::test_support
