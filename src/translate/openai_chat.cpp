#include "translate/openai_chat.hpp"
