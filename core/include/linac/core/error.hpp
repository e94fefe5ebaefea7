#pragma once
// Errors raised at the product's boundaries (files, messages, command line).
#include <stdexcept>
#include <string>

namespace linac {

/// Bad input from outside: a missing, truncated or inconsistent file, a bad option or field.
/// The message names where (file, field, index) and what is wrong; the CLI maps it to exit 2.
class InputError : public std::runtime_error {
 public:
  InputError(const std::string& where, const std::string& what)
      : std::runtime_error(where.empty() ? what : where + ": " + what) {}
};

}  // namespace linac
