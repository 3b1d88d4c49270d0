// FastChat's built-in conversation templates, with the values FastChat registers for them
// (fastchat/conversation.py, register_conv_template: v0.2.36, and HEAD for the later ones).
#include "fastchat/conversation.hpp"

namespace shepherd::fastchat {
namespace {

// ---------------------------------------------------------------------------------------------
// The built-in templates

// A template under construction: FastChat's Conversation(...) keyword arguments, the ones not
// given keeping the dataclass defaults.
class Def {
 public:
  using Turns = std::vector<std::pair<std::string, std::optional<std::string>>>;

  Def(std::string name, SepStyle style, std::string user, std::string assistant, std::string sep) {
    c_.name = std::move(name);
    c_.sep_style = style;
    c_.roles = {std::move(user), std::move(assistant)};
    c_.sep = std::move(sep);
  }
  Def& system_template(std::string t) {
    c_.system_template = std::move(t);
    return *this;
  }
  Def& system(std::string m) {
    c_.system_message = std::move(m);
    return *this;
  }
  Def& sep2(std::string s) {
    c_.sep2 = std::move(s);
    return *this;
  }
  Def& few_shot(Turns turns) {
    c_.offset = static_cast<int>(turns.size());
    c_.messages = std::move(turns);
    return *this;
  }
  Def& stop(std::string s) {
    c_.stop_str = {std::move(s)};
    return *this;
  }
  Def& stop_ids(std::vector<std::int64_t> ids) {
    c_.stop_token_ids = std::move(ids);
    return *this;
  }
  Conversation done() { return std::move(c_); }

 private:
  Conversation c_;
};

std::vector<Conversation> make_builtins() {
  const std::string human_system =
      "A chat between a curious human and an artificial intelligence assistant. The assistant "
      "gives helpful, detailed, and polite answers to the human's questions.";
  const std::string user_system =
      "A chat between a curious user and an artificial intelligence assistant. The assistant "
      "gives helpful, detailed, and polite answers to the user's questions.";
  const std::string instruction_system =
      "Below is an instruction that describes a task. Write a response that appropriately "
      "completes the request.";

  std::vector<Conversation> t;
  auto add = [&t](Def d) { t.push_back(d.done()); };

  add(Def("raw", SepStyle::kNoColonSingle, "", "", ""));
  add(Def("one_shot", SepStyle::kAddColonSingle, "Human", "Assistant", "\n### ")
          .system(human_system)
          .few_shot({
              {"Human", "Got any creative ideas for a 10 year old’s birthday?"},
              {"Assistant",
               "Of course! Here are some creative ideas for a 10-year-old's birthday party:\n"
               "1. Treasure Hunt: Organize a treasure hunt in your backyard or nearby park. "
               "Create clues and riddles for the kids to solve, leading them to hidden "
               "treasures and surprises.\n"
               "2. Science Party: Plan a science-themed party where kids can engage in fun and "
               "interactive experiments. You can set up different stations with activities "
               "like making slime, erupting volcanoes, or creating simple chemical reactions.\n"
               "3. Outdoor Movie Night: Set up a backyard movie night with a projector and a "
               "large screen or white sheet. Create a cozy seating area with blankets and "
               "pillows, and serve popcorn and snacks while the kids enjoy a favorite movie "
               "under the stars.\n"
               "4. DIY Crafts Party: Arrange a craft party where kids can unleash their "
               "creativity. Provide a variety of craft supplies like beads, paints, and "
               "fabrics, and let them create their own unique masterpieces to take home as "
               "party favors.\n"
               "5. Sports Olympics: Host a mini Olympics event with various sports and games. "
               "Set up different stations for activities like sack races, relay races, "
               "basketball shooting, and obstacle courses. Give out medals or certificates to "
               "the participants.\n"
               "6. Cooking Party: Have a cooking-themed party where the kids can prepare their "
               "own mini pizzas, cupcakes, or cookies. Provide toppings, frosting, and "
               "decorating supplies, and let them get hands-on in the kitchen.\n"
               "7. Superhero Training Camp: Create a superhero-themed party where the kids can "
               "engage in fun training activities. Set up an obstacle course, have them design "
               "their own superhero capes or masks, and organize superhero-themed games and "
               "challenges.\n"
               "8. Outdoor Adventure: Plan an outdoor adventure party at a local park or nature "
               "reserve. Arrange activities like hiking, nature scavenger hunts, or a picnic "
               "with games. Encourage exploration and appreciation for the outdoors.\n"
               "Remember to tailor the activities to the birthday child's interests and "
               "preferences. Have a great celebration!"},
          })
          .stop("###"));
  add(Def("zero_shot", SepStyle::kAddColonSingle, "Human", "Assistant", "\n### ")
          .system(human_system)
          .stop("###"));
  add(Def("vicuna_v1.1", SepStyle::kAddColonTwo, "USER", "ASSISTANT", " ")
          .system(user_system)
          .sep2("</s>"));
  add(Def("alpaca", SepStyle::kAddColonTwo, "### Instruction", "### Response", "\n\n")
          .system(instruction_system)
          .sep2("</s>"));
  add(Def("chatglm", SepStyle::kChatGlm, "问", "答", "\n"));
  add(Def("chatglm2", SepStyle::kChatGlm, "问", "答", "\n\n"));
  add(Def("chatglm3", SepStyle::kChatGlm3, "<|user|>", "<|assistant|>", "\n")
          .system_template("<|system|>\n{system_message}")
          .stop_ids({64795, 64797, 2}));
  add(Def("dolly_v2", SepStyle::kDolly, "### Instruction", "### Response", "\n\n")
          .system(instruction_system + "\n\n")
          .sep2("### End"));
  add(Def("tulu", SepStyle::kAddNewLineSingle, "<|user|>", "<|assistant|>", "\n"));
  add(Def("rwkv", SepStyle::kRwkv, "Bob", "Alice", "")
          .few_shot({
              {"Bob", "hi"},
              {"Alice",
               "Hi. I am your assistant and I will provide expert full response in full "
               "details. Please feel free to ask any question and I will always answer it."},
          })
          .stop("\n\n"));
  add(Def("phoenix", SepStyle::kPhoenix, "Human", "Assistant", "</s>")
          .system(human_system + "\n\n"));
  // [HEAD] (0.2.36 registers "chatgpt" with sep_style None: no prompt can be rendered from it;
  // its sep is None, here "").
  add(Def("chatgpt", SepStyle::kDefault, "user", "assistant", "")
          .system("You are a helpful assistant."));
  add(Def("metamath", SepStyle::kMetaMath, "### Instruction", "### Response", "\n\n")
          .system(instruction_system)
          .sep2("Let's think step by step."));
  add(Def("billa", SepStyle::kAddColonSpaceSingle, "Human", "Assistant", "\n").stop("Human:"));
  add(Def("Robin", SepStyle::kRobin, "###Human", "###Assistant", "\n")
          .system(human_system)
          .stop("###")
          .stop_ids({2, 396}));
  add(Def("internlm-chat", SepStyle::kChatIntern, "<|User|>", "<|Bot|>", "<eoh>")
          .system("A chat between a curious <|User|> and an <|Bot|>. The <|Bot|> gives helpful, "
                  "detailed, and polite answers to the <|User|>'s questions.\n\n")
          .sep2("<eoa>")
          .stop("<|User|>")
          .stop_ids({1, 103028}));
  add(Def("mistral", SepStyle::kLlama2, "[INST]", "[/INST]", " ")
          .system_template("[INST] {system_message}\n")
          .sep2("</s>"));
  add(Def("llama-2", SepStyle::kLlama2, "[INST]", "[/INST]", " ")
          .system_template("[INST] <<SYS>>\n{system_message}\n<</SYS>>\n\n")
          .sep2(" </s><s>"));
  // [HEAD]
  add(Def("llama-3", SepStyle::kLlama3, "user", "assistant", "")
          .system_template(
              "<|start_header_id|>system<|end_header_id|>\n\n{system_message}<|eot_id|>")
          .stop("<|eot_id|>")
          .stop_ids({128001, 128009}));
  add(Def("cutegpt", SepStyle::kNoColonTwo, "问：", "答：\n", "\n").sep2("\n").stop("<end>"));
  add(Def("qwen-7b-chat", SepStyle::kChatMl, "<|im_start|>user", "<|im_start|>assistant",
          "<|im_end|>")
          .system_template("<|im_start|>system\n{system_message}")
          .system("You are a helpful assistant.")
          .stop("<|endoftext|>")
          .stop_ids({151643, 151644, 151645}));
  add(Def("falcon-chat", SepStyle::kFalconChat, "User", "Falcon", "\n")
          .system_template("System: {system_message}")
          .sep2("<|endoftext|>")
          .stop("\nUser:"));
  // The system message is DeepSeek's BOS token, as FastChat has it.
  add(Def("deepseek-chat", SepStyle::kDeepseekChat, "User", "Assistant", "\n\n")
          .system("<｜begin▁of▁sentence｜>")
          .sep2("<｜end▁of▁sentence｜>")
          .stop("<｜end▁of▁sentence｜>"));
  add(Def("yuan2", SepStyle::kYuan2, "user", "assistant", "<sep>")
          .sep2("\n")
          .stop("<eod>")
          .stop_ids({77185}));
  // [HEAD]
  add(Def("cllm", SepStyle::kCllm, "USER", "ASSISTANT", " ").system(user_system).sep2("</s>"));
  // [HEAD]
  add(Def("gemma", SepStyle::kGemma, "user", "model", "<end_of_turn>\n").stop("<end_of_turn>"));
  // Shepherd's, not FastChat's (FastChat registers no template named "chatml"): the ChatML shape
  // FastChat's ChatML templates share (qwen-7b-chat's system template, roles, separator and
  // system message), with the <|im_end|> stop string of orca-2 and llava-chatml and no stop
  // token ids (those depend on the model's vocabulary).
  add(Def("chatml", SepStyle::kChatMl, "<|im_start|>user", "<|im_start|>assistant", "<|im_end|>")
          .system_template("<|im_start|>system\n{system_message}")
          .system("You are a helpful assistant.")
          .stop("<|im_end|>"));
  return t;
}

const std::vector<Conversation>& builtins() {
  static const std::vector<Conversation> templates = make_builtins();
  return templates;
}

}  // namespace

const Conversation* find_template(std::string_view name) {
  for (const auto& c : builtins()) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

std::vector<std::string_view> template_names() {
  std::vector<std::string_view> names;
  for (const auto& c : builtins()) names.emplace_back(c.name);
  return names;
}

}  // namespace shepherd::fastchat
