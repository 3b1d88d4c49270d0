// Conversation templates learned from FastChat workers (/worker_get_conv_template), by provider
// and model: the gateway's discovery fills it on its control thread, and the event loops read it
// when they render a prompt for a `kind: fastchat` provider. Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "fastchat/conversation.hpp"

namespace shepherd::fastchat {

class TemplateBook {
 public:
  void learn(std::string_view provider, std::string_view model, Conversation conv);
  // The template learned for `model` of `provider`, or null.
  std::shared_ptr<const Conversation> find(std::string_view provider, std::string_view model) const;
  // Whether a template was learned for it (so discovery asks each worker once).
  bool knows(std::string_view provider, std::string_view model) const {
    return find(provider, model) != nullptr;
  }

  // The book of this process.
  static TemplateBook& process();

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, std::shared_ptr<const Conversation>, std::less<>>
      templates_;
};

}  // namespace shepherd::fastchat
