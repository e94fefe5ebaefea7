#pragma once
// Dense matrix-vector products shared out over the threads (planning/src only): the aperture
// generator's and the segment-MU fits' matrices (points x control points, hundreds of MB) are
// read whole at every evaluation, and Eigen runs matrix-vector products on one thread.
#include <omp.h>

#include <Eigen/Dense>

namespace linac::planning {

/// A `cols`-column block of `a` (from the left) times `w`, the points shared out over the threads.
inline Eigen::VectorXf times(const Eigen::MatrixXf& a, Eigen::Index cols,
                             const Eigen::VectorXf& w) {
  Eigen::VectorXf out(a.rows());
#pragma omp parallel
  {
    const auto t = static_cast<Eigen::Index>(omp_get_thread_num());
    const auto nt = static_cast<Eigen::Index>(omp_get_num_threads());
    const Eigen::Index r0 = a.rows() * t / nt;
    const Eigen::Index r1 = a.rows() * (t + 1) / nt;
    out.segment(r0, r1 - r0).noalias() = a.block(r0, 0, r1 - r0, cols) * w;
  }
  return out;
}

/// The transpose of the same block times `g` (points), the columns shared out over the threads.
inline Eigen::VectorXf transpose_times(const Eigen::MatrixXf& a, Eigen::Index cols,
                                       const Eigen::VectorXf& g) {
  Eigen::VectorXf out(cols);
#pragma omp parallel
  {
    const auto t = static_cast<Eigen::Index>(omp_get_thread_num());
    const auto nt = static_cast<Eigen::Index>(omp_get_num_threads());
    const Eigen::Index c0 = cols * t / nt;
    const Eigen::Index c1 = cols * (t + 1) / nt;
    out.segment(c0, c1 - c0).noalias() = a.middleCols(c0, c1 - c0).transpose() * g;
  }
  return out;
}

}  // namespace linac::planning
