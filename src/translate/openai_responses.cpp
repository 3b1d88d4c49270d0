#include "translate/openai_responses.hpp"
