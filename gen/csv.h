// CSV output shared by the commands that print --csv (score, classify).
#pragma once
#include <string>

namespace sdvk::cli {

// `s` as one RFC 4180 field: unchanged unless it holds a comma, quote or line break, else
// quoted with inner quotes doubled.
std::string csv_field(const std::string& s);

}  // namespace sdvk::cli
