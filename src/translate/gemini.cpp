#include "translate/gemini.hpp"
