#include "linac/planning/beamlet_patches.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace linac::planning {

BeamletPatches::BeamletPatches(Eigen::Index points, int rows, int columns)
    : points_(points), rows_(rows), columns_(columns) {
  if (points < 0 || rows < 0 || columns < 0 || rows > 255 || columns > 255 ||
      points > static_cast<Eigen::Index>(UINT32_MAX)) {
    throw std::invalid_argument("beamlet patches: " + std::to_string(points) + " points of " +
                                std::to_string(rows) + " x " + std::to_string(columns) +
                                " beamlets cannot be stored (at most 255 x 255 beamlets)");
  }
}

void BeamletPatches::append(Eigen::Index point, int r0, int c0, int nr, int nc,
                            const double* values) {
  if (point < 0 || point >= points_ ||
      (!patches_.empty() && static_cast<Eigen::Index>(patches_.back().point) >= point) || r0 < 0 ||
      c0 < 0 || nr < 1 || nc < 1 || r0 + nr > rows_ || c0 + nc > columns_) {
    throw std::invalid_argument("beamlet patches: point " + std::to_string(point) +
                                ": rectangle rows " + std::to_string(r0) + "+" +
                                std::to_string(nr) + ", columns " + std::to_string(c0) + "+" +
                                std::to_string(nc) + " outside the layout or out of order");
  }
  const auto n = static_cast<std::size_t>(nr) * static_cast<std::size_t>(nc);
  double peak = 0.0;
  for (std::size_t k = 0; k < n; ++k) peak = std::max(peak, values[k]);
  if (!(peak > 0.0)) return;  // nothing reaches the point
  const double step = peak / 65535.0;
  patches_.push_back({static_cast<std::uint32_t>(point), static_cast<std::uint8_t>(r0),
                      static_cast<std::uint8_t>(c0), static_cast<std::uint8_t>(nr),
                      static_cast<std::uint8_t>(nc), static_cast<float>(step)});
  for (std::size_t k = 0; k < n; ++k) {
    values_.push_back(
        static_cast<std::uint16_t>(std::lround(std::clamp(values[k] / step, 0.0, 65535.0))));
  }
}

namespace {

#if defined(__SSE2__)
/// Four 16-bit values as floats.
inline __m128 four(const std::uint16_t* q) {
  const __m128i w = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(q));
  return _mm_cvtepi32_ps(_mm_unpacklo_epi16(w, _mm_setzero_si128()));
}
#endif

}  // namespace

// Both products walk the rectangles in storage order. A rectangle's rows are 3-6 values wide:
// four at a time in SSE2 (x86-64's baseline) and the rest one by one, so that the sums are not
// one chain of dependent additions.
void BeamletPatches::add_product(const float* f, double* out) const {
  const std::uint16_t* q = values_.data();
  for (const Patch& p : patches_) {
    const float* row = f + static_cast<std::ptrdiff_t>(p.r0) * columns_ + p.c0;
    float s = 0.0F;
#if defined(__SSE2__)
    __m128 acc = _mm_setzero_ps();
    for (int r = 0; r < p.nr; ++r, row += columns_) {
      int c = 0;
      for (; c + 4 <= p.nc; c += 4)
        acc = _mm_add_ps(acc, _mm_mul_ps(four(q + c), _mm_loadu_ps(row + c)));
      for (; c < p.nc; ++c) s += static_cast<float>(q[c]) * row[c];
      q += p.nc;
    }
    alignas(16) float lanes[4];
    _mm_store_ps(lanes, acc);
    s += (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
#else
    for (int r = 0; r < p.nr; ++r, row += columns_) {
      for (int c = 0; c < p.nc; ++c) s += static_cast<float>(q[c]) * row[c];
      q += p.nc;
    }
#endif
    out[p.point] += static_cast<double>(s * p.scale);
  }
}

void BeamletPatches::transpose_product(const float* g, Eigen::VectorXf& h) const {
  h.setZero(cols());
  const std::uint16_t* q = values_.data();
  for (const Patch& p : patches_) {
    const float gp = g[p.point] * p.scale;
    const std::size_t n = static_cast<std::size_t>(p.nr) * p.nc;
    if (gp != 0.0F) {
      float* row = h.data() + static_cast<std::ptrdiff_t>(p.r0) * columns_ + p.c0;
      const std::uint16_t* v = q;
#if defined(__SSE2__)
      const __m128 g4 = _mm_set1_ps(gp);
#endif
      for (int r = 0; r < p.nr; ++r, row += columns_) {
        int c = 0;
#if defined(__SSE2__)
        for (; c + 4 <= p.nc; c += 4) {
          _mm_storeu_ps(row + c, _mm_add_ps(_mm_loadu_ps(row + c), _mm_mul_ps(g4, four(v + c))));
        }
#endif
        for (; c < p.nc; ++c) row[c] += gp * static_cast<float>(v[c]);
        v += p.nc;
      }
    }
    q += n;
  }
}

Eigen::VectorXf BeamletPatches::operator*(const Eigen::VectorXf& f) const {
  if (f.size() != cols()) throw std::invalid_argument("beamlet patches: fluence size differs");
  std::vector<double> out(static_cast<std::size_t>(points_), 0.0);
  add_product(f.data(), out.data());
  Eigen::VectorXf d(points_);
  for (Eigen::Index p = 0; p < points_; ++p)
    d[p] = static_cast<float>(out[static_cast<std::size_t>(p)]);
  return d;
}

Eigen::VectorXf BeamletPatches::transpose_times(const Eigen::VectorXf& g) const {
  if (g.size() != points_) throw std::invalid_argument("beamlet patches: gradient size differs");
  Eigen::VectorXf h;
  transpose_product(g.data(), h);
  return h;
}

}  // namespace linac::planning
