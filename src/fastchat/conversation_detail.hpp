// What the parts of the conversation templates share (conversation*.cpp); not for other modules.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"

namespace shepherd::fastchat::detail {

// A kBadRequest error with `param` naming the field.
base::Error bad(std::string message, std::string param = {});
// A system_template split around its {system_message} fields, as Python's str.format reads it
// (doubled braces are literal); an error for a template str.format would refuse.
base::Result<std::vector<std::string>> template_pieces(std::string_view tmpl);
// Python's str.strip(): Unicode whitespace off both ends.
std::string python_strip(std::string_view s);

}  // namespace shepherd::fastchat::detail
