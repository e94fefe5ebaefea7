#pragma once
// Volume<T>: voxel data on a Grid, x fastest (i + nx * (j + ny * k)).
#include <algorithm>
#include <cstdint>
#include <vector>

#include "linac/core/grid.hpp"

namespace linac {

template <typename T>
class Volume {
 public:
  using value_type = T;

  Volume() = default;
  explicit Volume(const Grid& grid, T fill = T{}) : grid_(grid), data_(grid.voxel_count(), fill) {}

  [[nodiscard]] const Grid& grid() const { return grid_; }
  [[nodiscard]] std::size_t size() const { return data_.size(); }
  [[nodiscard]] bool empty() const { return data_.empty(); }

  T& operator[](std::size_t n) { return data_[n]; }
  const T& operator[](std::size_t n) const { return data_[n]; }
  T& at(std::int64_t i, std::int64_t j, std::int64_t k) {
    return data_[grid_.linear_index(i, j, k)];
  }
  const T& at(std::int64_t i, std::int64_t j, std::int64_t k) const {
    return data_[grid_.linear_index(i, j, k)];
  }

  [[nodiscard]] std::vector<T>& data() { return data_; }
  [[nodiscard]] const std::vector<T>& data() const { return data_; }
  void fill(T value) { std::fill(data_.begin(), data_.end(), value); }

  /// A volume of another element type on the same grid, converting each voxel with `f`.
  template <typename U, typename F>
  [[nodiscard]] Volume<U> map(F f) const {
    Volume<U> out(grid_);
    for (std::size_t n = 0; n < data_.size(); ++n) out[n] = f(data_[n]);
    return out;
  }

 private:
  Grid grid_;
  std::vector<T> data_;
};

/// Binary masks: 0 outside, 1 inside.
using Mask = Volume<std::uint8_t>;
using ImageHU = Volume<std::int16_t>;

}  // namespace linac
