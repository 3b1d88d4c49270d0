#include "translate/anthropic.hpp"

#include <gtest/gtest.h>
