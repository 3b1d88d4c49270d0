#include "translate/gemini.hpp"

#include <gtest/gtest.h>
