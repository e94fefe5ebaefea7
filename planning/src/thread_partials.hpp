#pragma once
// Sums over a parallel loop that do not depend on the threads' timing.
#include <omp.h>

#include <cstddef>
#include <vector>

namespace linac::planning {

/// Per-thread partial sums of `size` values, added into a total in thread order. With the loop
/// scheduled statically (`schedule(static, 1)`: each thread the same iterations every run), a
/// parallel loop then gives the same sums every run for a given number of threads. Partials
/// added in a critical section come in whatever order the threads finish, and a dynamic schedule
/// hands each thread different iterations every run: plans moved by a few tenths of a gray from
/// one run to the next.
template <typename T>
class ThreadPartials {
 public:
  explicit ThreadPartials(std::size_t size)
      : size_(size), parts_(static_cast<std::size_t>(omp_get_max_threads())) {}

  /// The calling thread's buffer, zeroed; call once inside the parallel region.
  std::vector<T>& mine() {
    auto& p = parts_[static_cast<std::size_t>(omp_get_thread_num())];
    p.assign(size_, T{0});
    return p;
  }

  /// Adds every thread's partials into `total` (of `size` values), thread 0 first.
  void add_to(std::vector<T>& total) const {
    for (const auto& p : parts_) {
      for (std::size_t i = 0; i < p.size(); ++i) total[i] += p[i];
    }
  }

  /// Adds values [offset, offset + total.size()) of every thread's partials into `total`.
  void add_range_to(std::size_t offset, std::vector<T>& total) const {
    for (const auto& p : parts_) {
      if (p.empty()) continue;
      for (std::size_t i = 0; i < total.size(); ++i) total[i] += p[offset + i];
    }
  }

 private:
  std::size_t size_;
  std::vector<std::vector<T>> parts_;
};

}  // namespace linac::planning
