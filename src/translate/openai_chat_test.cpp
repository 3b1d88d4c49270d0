#include "translate/openai_chat.hpp"

#include <gtest/gtest.h>
