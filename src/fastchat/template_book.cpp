#include "fastchat/template_book.hpp"

namespace shepherd::fastchat {

void TemplateBook::learn(std::string_view provider, std::string_view model, Conversation conv) {
  auto shared = std::make_shared<const Conversation>(std::move(conv));
  std::lock_guard lock(mu_);
  templates_[{std::string(provider), std::string(model)}] = std::move(shared);
}

std::shared_ptr<const Conversation> TemplateBook::find(std::string_view provider,
                                                       std::string_view model) const {
  std::lock_guard lock(mu_);
  auto it = templates_.find(std::pair{std::string(provider), std::string(model)});
  return it == templates_.end() ? nullptr : it->second;
}

TemplateBook& TemplateBook::process() {
  static TemplateBook book;
  return book;
}

}  // namespace shepherd::fastchat
