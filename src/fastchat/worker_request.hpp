// What `shepherd worker` makes of FastChat's requests (docs/fastchat-protocol.md §2): the models
// it serves with the conversation template of each, and the request in the common form a generate
// request becomes before it takes the pipeline every request takes (docs/decisions/fastchat.md).
//
// Pure: no I/O. A WorkerCatalog is built once per configuration and read by every thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "config/config.hpp"
#include "fastchat/conversation.hpp"
#include "fastchat/generate.hpp"
#include "fastchat/protocol.hpp"

namespace shepherd::fastchat {

// The models a worker serves (fastchat.worker.models, or every model of the config), each with
// the template that reads its prompts back into turns and the context length it reports.
class WorkerCatalog {
 public:
  struct Model {
    std::string name;
    const Conversation* conv = nullptr;  // a built-in template (find_template)
    std::int64_t context_length = 0;
  };

  // kBadRequest naming the setting when a template is unknown, when its prompts cannot be read
  // back (parse_prompt reads CHATML, LLAMA3, ADD_COLON_TWO and ADD_COLON_SINGLE prompts), or when
  // its separator style has no number in the configured FastChat version (LLAMA3 before HEAD).
  static base::Result<WorkerCatalog> make(const config::Config& config);

  // The model named `name`, or null when the worker does not serve it.
  const Model* find(std::string_view name) const;
  const std::vector<Model>& models() const { return models_; }  // sorted by name
  // How /worker_get_conv_template numbers separator styles.
  SepNumbering numbering() const { return numbering_; }
  // The /worker_get_status answer: the names, speed 1, `queue_length`.
  WorkerStatus status(std::int64_t queue_length) const;
  // FastChat's text for a model the worker does not serve ("Only a&&b allowed now, your model x").
  std::string unknown_model_message(std::string_view model) const;

 private:
  std::vector<Model> models_;
  SepNumbering numbering_ = SepNumbering::kTag0236;
};

// Generate request `params`, to a model whose prompts `conv` renders, in the common form: the
// request every provider's encoder writes. The prompt is read back into a system message and turns
// (parse_prompt); a prompt not of the template's shape (FastChat's /v1/completions sends the
// client's text as it is) becomes one user message. The template's own system message is left out
// (it is the template's, not the client's). Generation settings: max_new_tokens → max_tokens,
// temperature, top_p, stop (without the template's own stop strings), presence_penalty and
// frequency_penalty when not 0, top_k when above 0, repetition_penalty when set and not 1.
// Ignored: echo (the answer never repeats the prompt), logprobs, stop_token_ids, best_of,
// use_beam_search. kBadRequest for images (the worker relays text) and for a max_new_tokens
// below 1.
base::Result<translate::Request> chat_request(const GenerateParams& params,
                                              const Conversation& conv, bool stream);

}  // namespace shepherd::fastchat
