#pragma once
// A control point's beamlet matrix (points x beamlets, Gy per MU at full fluence) in the form
// the optimiser reads: every point's non-zeros are the beamlets within the kernels' cut-off,
// a rectangle of leaf rows and columns of the layout, so each point keeps its rectangle's corner
// and size and the values inside it in 16-bit steps of the rectangle's largest value. About
// 2.7 bytes per value against a general sparse matrix's 8 (value and index): the DAO's products
// with these matrices are bound by memory bandwidth (ADR 0006, addendum on the patches).
#include <Eigen/Core>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace linac::planning {

class BeamletPatches {
 public:
  BeamletPatches() = default;
  /// An empty matrix of `points` rows and `rows` x `columns` beamlets (layout order: beamlet
  /// index = row * columns + column).
  BeamletPatches(Eigen::Index points, int rows, int columns);

  /// Adds point `point`'s rectangle: `nr` x `nc` values (row by row, Gy per MU, >= 0) for the
  /// beamlets of rows r0.. and columns c0... Points are added in ascending order, each once.
  /// Throws std::invalid_argument for a rectangle outside the layout or points out of order.
  void append(Eigen::Index point, int r0, int c0, int nr, int nc, const double* values);

  [[nodiscard]] Eigen::Index rows() const { return points_; }
  [[nodiscard]] Eigen::Index cols() const {
    return static_cast<Eigen::Index>(rows_) * static_cast<Eigen::Index>(columns_);
  }
  /// Values stored (every cell of every rectangle).
  [[nodiscard]] std::size_t nonZeros() const { return values_.size(); }
  [[nodiscard]] std::size_t bytes() const {
    return patches_.size() * sizeof(Patch) + values_.size() * sizeof(std::uint16_t);
  }

  /// out[p] += sum over b of A(p, b) f[b]; `f` has cols() values, `out` rows().
  void add_product(const float* f, double* out) const;
  /// h = A^T g: h[b] = sum over p of A(p, b) g[p]; `g` has rows() values.
  void transpose_product(const float* g, Eigen::VectorXf& h) const;
  /// A f and A^T g as vectors.
  [[nodiscard]] Eigen::VectorXf operator*(const Eigen::VectorXf& f) const;
  [[nodiscard]] Eigen::VectorXf transpose_times(const Eigen::VectorXf& g) const;

 private:
  struct Patch {
    std::uint32_t point;
    std::uint8_t r0, c0, nr, nc;
    float scale;  // Gy per MU of one 16-bit step
  };
  Eigen::Index points_ = 0;
  int rows_ = 0;
  int columns_ = 0;
  std::vector<Patch> patches_;
  std::vector<std::uint16_t> values_;
};

}  // namespace linac::planning
