#include "translate/anthropic.hpp"
