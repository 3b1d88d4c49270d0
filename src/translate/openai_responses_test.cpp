#include "translate/openai_responses.hpp"

#include <gtest/gtest.h>
