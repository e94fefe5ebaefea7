#pragma once
// Loops over independent items on OpenMP's threads whose failures are reported as a serial loop
// would report them.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <vector>

namespace linac {

/// Calls `fn(i)` for every i in [0, count) on OpenMP's threads (dynamic schedule, `chunk` items
/// at a time); every item runs, and what each one threw (or null) is returned by item, so that
/// the caller rethrows, in the items' order and between its own checks of each, the error a
/// serial loop would have stopped at.
template <typename F>
[[nodiscard]] std::vector<std::exception_ptr> parallel_for_collecting_errors(std::size_t count,
                                                                             F fn, int chunk = 4) {
  std::vector<std::exception_ptr> failed(count);
  const auto n = static_cast<std::int64_t>(count);
#pragma omp parallel for schedule(dynamic, chunk)
  for (std::int64_t k = 0; k < n; ++k) {
    const auto i = static_cast<std::size_t>(k);
    try {
      fn(i);
    } catch (...) {
      failed[i] = std::current_exception();
    }
  }
  return failed;
}

}  // namespace linac
