#include "linac/core/registration.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <nlopt.hpp>
#include <numeric>
#include <optional>

#include "linac/core/error.hpp"
#include "linac/core/mask.hpp"
#include "linac/core/random.hpp"
#include "linac/core/resample.hpp"
#include "linac/core/text.hpp"

namespace linac {

std::string to_string(RegistrationMetric m) {
  switch (m) {
    case RegistrationMetric::kMeanSquares:
      return "mean_squares";
    case RegistrationMetric::kNormalizedCrossCorrelation:
      return "ncc";
    case RegistrationMetric::kMattesMutualInformation:
      return "mattes_mi";
  }
  return "?";
}

RegistrationMetric parse_registration_metric(const std::string& name) {
  for (auto m : {RegistrationMetric::kMeanSquares, RegistrationMetric::kNormalizedCrossCorrelation,
                 RegistrationMetric::kMattesMutualInformation}) {
    if (to_string(m) == name) return m;
  }
  throw InputError("metric", "'" + name + "' is not mean_squares, ncc or mattes_mi");
}

namespace {

/// Both images' smooth backgrounds (a Gaussian of RegistrationOptions::high_pass_mm), taken off
/// the levels finer than it.
struct Backgrounds {
  Volume<float> fixed;
  Volume<float> moving;
};

// The fixed image on a level's grid, and its sample points.
struct Level {
  Volume<float> moving;
  std::vector<Eigen::Vector3d> points_mm;
  std::vector<float> values;
  double voxel_mm = 0.0;
};

Grid coarser(const Grid& g, double voxel_mm) {
  Grid c = g;
  for (int a = 0; a < 3; ++a) {
    const double s = std::max(voxel_mm, g.spacing_mm[a]);
    const double extent = (g.dims[a] - 1) * g.spacing_mm[a];
    c.dims[a] = std::max<std::int64_t>(1, static_cast<std::int64_t>(std::floor(extent / s)) + 1);
    c.spacing_mm[a] = s;
  }
  return c;
}

struct Bins {
  double lo = 0.0;
  double width = 1.0;
  int n = 32;
  [[nodiscard]] double position(double v) const {
    return std::clamp((v - lo) / width, 0.0, n - 1.000001);
  }
};

Bins bins_for(const std::vector<float>& values, int n) {
  std::vector<float> v = values;
  const auto lo_it = v.begin() + static_cast<std::ptrdiff_t>(0.005 * (v.size() - 1));
  const auto hi_it = v.begin() + static_cast<std::ptrdiff_t>(0.995 * (v.size() - 1));
  std::nth_element(v.begin(), lo_it, v.end());
  const auto lo = static_cast<double>(*lo_it);
  std::nth_element(v.begin(), hi_it, v.end());
  const auto hi = static_cast<double>(*hi_it);
  Bins b;
  b.lo = lo;
  b.n = n;
  b.width = std::max(1e-6, (hi - lo) / (n - 1));
  return b;
}

/// One pyramid level: the moving image smoothed (and coarsened) for it, and the fixed image's
/// samples, smoothed alike. Draws the sample positions from `rng` (its state carries on from
/// level to level, so a seed gives the same samples).
Level make_level(const Volume<float>& fixed, const Volume<float>& moving, double voxel,
                 const std::vector<std::size_t>& candidates, int samples,
                 const Backgrounds* backgrounds, Rng& rng) {
  const double finest = fixed.grid().spacing_mm.maxCoeff();
  const double vmm = voxel > finest ? voxel : 0.0;
  Level lv;
  lv.voxel_mm = vmm > 0.0 ? vmm : finest;
  // Smoothed images at this level (sigma = half the level's voxel), the moving one resampled
  // onto a coarser grid to keep the evaluation cheap. Each image is also brought down to the
  // other's resolution per axis (e.g. a CT of 5 mm slices against one of 2.5 mm), so that
  // differently sampled images do not pull the match along their coarse axis.
  Eigen::Vector3d fixed_sigma, moving_sigma;
  for (int a = 0; a < 3; ++a) {
    const double fs = fixed.grid().spacing_mm[a], ms = moving.grid().spacing_mm[a];
    fixed_sigma[a] = 0.5 * std::max(vmm, ms > fs ? std::sqrt(ms * ms - fs * fs) : 0.0);
    moving_sigma[a] = 0.5 * std::max(vmm, fs > ms ? std::sqrt(fs * fs - ms * ms) : 0.0);
  }
  // The fixed image's samples first (only their values are kept), then the moving image's
  // level: the two smoothed volumes never exist at once (on a virtual machine every fresh page
  // costs a fault and its zeroing, a quarter of a registration).
  const std::size_t count =
      std::min<std::size_t>(static_cast<std::size_t>(samples), candidates.size());
  {
    std::optional<Volume<float>> smoothed;
    if (fixed_sigma.maxCoeff() > 0.0) smoothed = gaussian_smooth(fixed, fixed_sigma);
    const Volume<float>& fixed_s = smoothed ? *smoothed : fixed;
    // The samples in the fixed image's voxel order: consecutive samples then read neighbouring
    // parts of the moving image (a random order missed the cache on most reads).
    std::vector<std::size_t> picks(count);
    for (std::size_t s = 0; s < count; ++s) {
      picks[s] = count == candidates.size()
                     ? s
                     : static_cast<std::size_t>(rng.next_u64() % candidates.size());
    }
    std::sort(picks.begin(), picks.end());
    std::vector<Eigen::Vector3d> at(count);
    lv.points_mm.resize(count);
    lv.values.resize(count);
    for (std::size_t s = 0; s < count; ++s) {
      const auto ijk = fixed.grid().index_of(candidates[picks[s]]);
      // Jitter within the voxel so that samples do not sit on the grid lattice.
      at[s] = Eigen::Vector3d(static_cast<double>(ijk[0]) + rng.uniform() - 0.5,
                              static_cast<double>(ijk[1]) + rng.uniform() - 0.5,
                              static_cast<double>(ijk[2]) + rng.uniform() - 0.5);
    }
    // The fixed values by cubic convolution: with linear interpolation the reference's blur
    // varied with a sample's place between voxels, in step with the moving image's (both on
    // 3 mm grids), and a translation by a fraction of a voxel came back up to 0.28 mm off.
#pragma omp parallel for schedule(static)
    for (std::int64_t s = 0; s < static_cast<std::int64_t>(count); ++s) {
      const Eigen::Vector3d& c = at[static_cast<std::size_t>(s)];
      lv.points_mm[static_cast<std::size_t>(s)] = fixed.grid().index_to_world_mm(c);
      double v = sample_cubic(fixed_s, c);
      if (backgrounds != nullptr) v -= sample_cubic(backgrounds->fixed, c);
      lv.values[static_cast<std::size_t>(s)] = static_cast<float>(v);
    }
  }
  Volume<float> moving_s = gaussian_smooth(moving, moving_sigma);
  if (backgrounds != nullptr) {
    for (std::size_t n = 0; n < moving_s.size(); ++n) moving_s[n] -= backgrounds->moving[n];
  }
  const Grid level_grid = coarser(moving.grid(), 0.5 * vmm);
  lv.moving = level_grid.same_as(moving.grid())
                  ? std::move(moving_s)
                  : resample(moving_s, level_grid, Interpolation::kLinear, 0.0F);
  return lv;
}

/// Mutual information of a joint histogram of `nb` x `nb` cells (row: fixed bin).
double mutual_information(const std::vector<double>& joint, int nb) {
  auto cell = [nb](int i, int j) {
    return static_cast<std::size_t>(i) * static_cast<std::size_t>(nb) + static_cast<std::size_t>(j);
  };
  double total = 0.0;
  for (double v : joint) total += v;
  std::vector<double> pfm(static_cast<std::size_t>(nb), 0.0),
      pmm(static_cast<std::size_t>(nb), 0.0);
  for (int i = 0; i < nb; ++i) {
    for (int j = 0; j < nb; ++j) {
      const double v = joint[cell(i, j)] / total;
      pfm[static_cast<std::size_t>(i)] += v;
      pmm[static_cast<std::size_t>(j)] += v;
    }
  }
  double info = 0.0;
  for (int i = 0; i < nb; ++i) {
    for (int j = 0; j < nb; ++j) {
      const double v = joint[cell(i, j)] / total;
      if (v > 0.0) {
        info +=
            v * std::log(v / (pfm[static_cast<std::size_t>(i)] * pmm[static_cast<std::size_t>(j)]));
      }
    }
  }
  return info;
}

/// sample(v, c, kLinear, NaN), inlined for the metric's loop: the same bounds, clamps and sums
/// in the same order (so the same values), with the volume's strides taken once per evaluation.
class Trilinear {
 public:
  explicit Trilinear(const Volume<float>& v)
      : data_(v.data().data()),
        nx_(v.grid().dims[0]),
        nxy_(v.grid().dims[0] * v.grid().dims[1]),
        hi_{static_cast<double>(v.grid().dims[0] - 1), static_cast<double>(v.grid().dims[1] - 1),
            static_cast<double>(v.grid().dims[2] - 1)} {}

  /// The value at continuous index c, NaN beyond half a voxel outside the centres.
  double operator()(const Eigen::Vector3d& c) const {
    std::int64_t i0[3];
    std::int64_t i1[3];
    double f[3];
    for (int a = 0; a < 3; ++a) {
      if (!(c[a] >= -0.5 && c[a] <= hi_[a] + 0.5)) return std::nan("");
      const double x = std::clamp(c[a], 0.0, hi_[a]);
      const auto last = static_cast<std::int64_t>(hi_[a]);
      i0[a] = std::min<std::int64_t>(static_cast<std::int64_t>(x), last);
      i1[a] = std::min<std::int64_t>(i0[a] + 1, last);
      f[a] = x - static_cast<double>(i0[a]);
    }
    const float* z0 = data_ + i0[2] * nxy_;
    const float* z1 = data_ + i1[2] * nxy_;
    const std::int64_t y0 = i0[1] * nx_;
    const std::int64_t y1 = i1[1] * nx_;
    auto v = [](const float* p) { return static_cast<double>(*p); };
    const double c00 = v(z0 + y0 + i0[0]) * (1 - f[0]) + v(z0 + y0 + i1[0]) * f[0];
    const double c10 = v(z0 + y1 + i0[0]) * (1 - f[0]) + v(z0 + y1 + i1[0]) * f[0];
    const double c01 = v(z1 + y0 + i0[0]) * (1 - f[0]) + v(z1 + y0 + i1[0]) * f[0];
    const double c11 = v(z1 + y1 + i0[0]) * (1 - f[0]) + v(z1 + y1 + i1[0]) * f[0];
    const double c0 = c00 * (1 - f[1]) + c10 * f[1];
    const double c1 = c01 * (1 - f[1]) + c11 * f[1];
    return c0 * (1 - f[2]) + c1 * f[2];
  }

 private:
  const float* data_;
  std::int64_t nx_;
  std::int64_t nxy_;
  double hi_[3];
};

/// A mask's value at the voxel nearest continuous index c (sample(m, c, kNearest, 0) != 0):
/// false beyond half a voxel outside the centres.
bool mask_at(const Mask& m, const Eigen::Vector3d& c) {
  const auto& d = m.grid().dims;
  std::int64_t i[3];
  for (int a = 0; a < 3; ++a) {
    if (!(c[a] >= -0.5 && c[a] <= static_cast<double>(d[a]) - 0.5)) return false;
    // c >= -0.5: rounding half away from zero is the floor of c + 0.5.
    i[a] = std::clamp<std::int64_t>(static_cast<std::int64_t>(std::floor(c[a] + 0.5)), 0, d[a] - 1);
  }
  return m.at(i[0], i[1], i[2]) != 0;
}

/// The metric of one level at a transform (fixed -> moving; lower is better: NCC and MI
/// negated), with what the last evaluation saw: the share of the fixed samples inside the
/// moving image (whatever its mask: a mask chooses the samples the metric compares, it does not
/// make the images overlap less) and the compared samples' Pearson correlation.
class LevelMetric {
 public:
  LevelMetric(const Level& level, const RegistrationOptions& o) : lv_(level), o_(o) {
    const Grid& mg = level.moving.grid();
    to_index_ = mg.spacing_mm.cwiseInverse().asDiagonal() * mg.direction.transpose();
    if (o.moving_mask != nullptr) {
      const Grid& kg = o.moving_mask->grid();
      to_mask_index_ = kg.spacing_mm.cwiseInverse().asDiagonal() * kg.direction.transpose();
    }
    if (o.metric != RegistrationMetric::kMattesMutualInformation) return;
    fixed_bins_ = bins_for(level.values, o.histogram_bins);
    std::vector<float> mv = level.moving.data();
    if (mv.size() > 200000) {
      std::vector<float> sub;
      for (std::size_t n = 0; n < mv.size(); n += mv.size() / 200000 + 1) sub.push_back(mv[n]);
      mv.swap(sub);
    }
    moving_bins_ = bins_for(mv, o.histogram_bins);
  }

  double operator()(const RigidTransform& t) {
    ++evaluations;
    const Grid& mg = lv_.moving.grid();
    const Eigen::Matrix3d a = to_index_ * t.rotation();
    const Eigen::Vector3d b = to_index_ * (t.translation_mm() - mg.origin_mm);
    const int nb = o_.histogram_bins;
    const Mask* mmask = o_.moving_mask;
    // The moving mask's voxel index of a sample, as for the image: am p + bm.
    Eigen::Matrix3d am = Eigen::Matrix3d::Zero();
    Eigen::Vector3d bm = Eigen::Vector3d::Zero();
    if (mmask != nullptr) {
      am = to_mask_index_ * t.rotation();
      bm = to_mask_index_ * (t.translation_mm() - mmask->grid().origin_mm);
    }
    auto cell = [nb](int i, int j) {
      return static_cast<std::size_t>(i) * static_cast<std::size_t>(nb) +
             static_cast<std::size_t>(j);
    };
    // The mask on the level's own grid (the finest level: the moving image itself) is read at
    // the image's index.
    const bool mask_on_image = mmask != nullptr && mmask->grid().same_as(mg);
    const Trilinear moving(lv_.moving);
    const auto n = static_cast<std::int64_t>(lv_.points_mm.size());
    // Sums over fixed blocks of samples, each block in order, the blocks added in order: the
    // same result whatever the number of threads (a reduction's order would vary with it).
    struct Sums {
      double d2 = 0.0, f = 0.0, m = 0.0, ff = 0.0, mm = 0.0, fm = 0.0;
      std::int64_t inside = 0;    // compared: in the moving image and its mask
      std::int64_t in_image = 0;  // in the moving image
    };
    constexpr std::int64_t kBlock = 2048;
    const std::int64_t blocks = (n + kBlock - 1) / kBlock;
    const bool mi = o_.metric == RegistrationMetric::kMattesMutualInformation;
    const std::size_t cells = static_cast<std::size_t>(nb) * static_cast<std::size_t>(nb);
    std::vector<Sums> part(static_cast<std::size_t>(blocks));
    std::vector<double> block_joint(mi ? cells * static_cast<std::size_t>(blocks) : 0, 0.0);
#pragma omp parallel for schedule(static)
    for (std::int64_t blk = 0; blk < blocks; ++blk) {
      Sums& q = part[static_cast<std::size_t>(blk)];
      double* local = mi ? block_joint.data() + cells * static_cast<std::size_t>(blk) : nullptr;
      for (std::int64_t s = blk * kBlock; s < std::min(n, (blk + 1) * kBlock); ++s) {
        const Eigen::Vector3d& p = lv_.points_mm[static_cast<std::size_t>(s)];
        // a p + b written out: Eigen's fixed-size product was a call per sample.
        const Eigen::Vector3d c(a(0, 0) * p[0] + a(0, 1) * p[1] + a(0, 2) * p[2] + b[0],
                                a(1, 0) * p[0] + a(1, 1) * p[1] + a(1, 2) * p[2] + b[1],
                                a(2, 0) * p[0] + a(2, 1) * p[1] + a(2, 2) * p[2] + b[2]);
        const double mvv = moving(c);
        if (std::isnan(mvv)) continue;
        ++q.in_image;
        if (mmask != nullptr &&
            !mask_at(*mmask, mask_on_image ? c : Eigen::Vector3d(am * p + bm))) {
          continue;
        }
        const auto f = static_cast<double>(lv_.values[static_cast<std::size_t>(s)]);
        ++q.inside;
        if (mi) {
          // Bilinear Parzen window on the joint histogram.
          const double pf = fixed_bins_.position(f);
          const double pm = moving_bins_.position(mvv);
          const int i0 = static_cast<int>(pf), j0 = static_cast<int>(pm);
          const double fi = pf - i0, fj = pm - j0;
          const int i1 = std::min(i0 + 1, nb - 1), j1 = std::min(j0 + 1, nb - 1);
          local[cell(i0, j0)] += (1 - fi) * (1 - fj);
          local[cell(i1, j0)] += fi * (1 - fj);
          local[cell(i0, j1)] += (1 - fi) * fj;
          local[cell(i1, j1)] += fi * fj;
        }
        q.d2 += (f - mvv) * (f - mvv);
        q.f += f;
        q.m += mvv;
        q.ff += f * f;
        q.mm += mvv * mvv;
        q.fm += f * mvv;
      }
    }
    double sum_d2 = 0.0, sf = 0.0, sm = 0.0, sff = 0.0, smm = 0.0, sfm = 0.0;
    std::int64_t inside = 0, in_image = 0;
    std::vector<double> joint(mi ? cells : 0, 0.0);
    for (std::int64_t blk = 0; blk < blocks; ++blk) {
      const Sums& q = part[static_cast<std::size_t>(blk)];
      sum_d2 += q.d2;
      sf += q.f;
      sm += q.m;
      sff += q.ff;
      smm += q.mm;
      sfm += q.fm;
      inside += q.inside;
      in_image += q.in_image;
      for (std::size_t k = 0; k < joint.size(); ++k) {
        joint[k] += block_joint[cells * static_cast<std::size_t>(blk) + k];
      }
    }
    overlap = static_cast<double>(in_image) / static_cast<double>(std::max<std::int64_t>(1, n));
    if (inside < 100) return 1e30;
    // Below the minimum overlap the metric is penalised so the search turns back.
    const double penalty = overlap < o_.min_overlap ? 1.0 + 10.0 * (o_.min_overlap - overlap) : 1.0;
    const double m = static_cast<double>(inside);
    {
      const double cov = sfm - sf * sm / m;
      const double vf = sff - sf * sf / m;
      const double vm = smm - sm * sm / m;
      correlation = vf > 0.0 && vm > 0.0 ? cov / std::sqrt(vf * vm) : 0.0;
    }
    switch (o_.metric) {
      case RegistrationMetric::kMeanSquares:
        return sum_d2 / m * penalty;
      case RegistrationMetric::kNormalizedCrossCorrelation:
        return -correlation / penalty;
      case RegistrationMetric::kMattesMutualInformation:
        return -mutual_information(joint, nb) / penalty;
    }
    return 0.0;
  }

  int evaluations = 0;
  double overlap = 0.0;
  double correlation = 0.0;  // of the fixed and moving samples, at the last evaluation

 private:
  const Level& lv_;
  const RegistrationOptions& o_;
  Bins fixed_bins_;
  Bins moving_bins_;
  Eigen::Matrix3d to_index_;
  Eigen::Matrix3d to_mask_index_ = Eigen::Matrix3d::Zero();
};

}  // namespace

namespace {

void check_options(const Volume<float>& fixed, const Volume<float>& moving,
                   const RegistrationOptions& o) {
  if (o.dof != 3 && o.dof != 6) throw InputError("registration", "dof must be 3 or 6");
  if (o.samples < 1000 || o.finest_samples < 1000) {
    throw InputError("registration", "at least 1000 samples are needed on every level");
  }
  if (o.histogram_bins < 8 || o.histogram_bins > 256) {
    throw InputError("registration", "histogram bins must be 8 to 256");
  }
  if (o.fixed_mask != nullptr && !o.fixed_mask->grid().same_as(fixed.grid())) {
    throw InputError("fixed mask", "is not on the fixed image's grid");
  }
  if (o.moving_mask != nullptr && !o.moving_mask->grid().same_as(moving.grid())) {
    throw InputError("moving mask", "is not on the moving image's grid");
  }
  if (o.moving_mask != nullptr &&
      std::none_of(o.moving_mask->data().begin(), o.moving_mask->data().end(),
                   [](auto v) { return v != 0; })) {
    throw InputError("moving mask", "is empty");
  }
}

/// The fixed image's voxels the samples are drawn from: inside its mask (all without one).
std::vector<std::size_t> sample_candidates(const Volume<float>& fixed, const Mask* mask) {
  std::vector<std::size_t> candidates;
  candidates.reserve(fixed.size());
  for (std::size_t n = 0; n < fixed.size(); ++n) {
    if (mask == nullptr || (*mask)[n] != 0) candidates.push_back(n);
  }
  if (candidates.empty()) throw InputError("fixed mask", "is empty");
  return candidates;
}

/// What BOBYQA did on one level.
struct LevelSearch {
  std::vector<double> x;  // all six parameters at the level's end
  double value = 0.0;
  bool converged = false;
  bool at_search_bound = false;
};

/// BOBYQA over the free parameters of `x` (rotations too with 6 degrees of freedom; the others
/// kept), within the search bounds about `start` (the initial transform's parameters), its
/// first steps a fraction of the level's voxel.
template <typename Cost>
LevelSearch search_level(Cost& cost, const std::vector<double>& x, const std::vector<double>& start,
                         double voxel_mm, const RegistrationOptions& o) {
  const unsigned dim = o.dof == 6 ? 6U : 3U;
  const std::size_t off = o.dof == 6 ? 0 : 3;
  std::vector<double> p(dim), lo(dim), hi(dim), step(dim);
  for (unsigned k = 0; k < dim; ++k) {
    const bool rot = k + off < 3;
    const double range = rot ? o.search_rotation_deg : o.search_translation_mm;
    lo[k] = start[k + off] - range;
    hi[k] = start[k + off] + range;
    step[k] = rot ? std::max(0.5, voxel_mm / 4.0) : std::max(1.0, voxel_mm / 2.0);
    p[k] = std::clamp(x[k + off], lo[k] + 1e-9, hi[k] - 1e-9);
  }
  nlopt::opt opt(nlopt::LN_BOBYQA, dim);
  opt.set_lower_bounds(lo);
  opt.set_upper_bounds(hi);
  opt.set_initial_step(step);
  opt.set_xtol_abs(o.tolerance_mm);
  opt.set_maxeval(o.max_evaluations_per_level);
  auto full = [&](const std::vector<double>& q) {
    std::vector<double> all = x;
    for (unsigned k = 0; k < dim; ++k) all[k + off] = q[k];
    return all;
  };
  struct Ctx {
    Cost* f;
    decltype(full)* expand;
  } ctx{&cost, &full};
  opt.set_min_objective(
      [](const std::vector<double>& q, std::vector<double>& /*grad*/, void* data) {
        auto* c = static_cast<Ctx*>(data);
        return (*c->f)((*c->expand)(q));
      },
      &ctx);
  LevelSearch out;
  nlopt::result status = nlopt::FAILURE;
  try {
    status = opt.optimize(p, out.value);
  } catch (const std::exception&) {
    status = nlopt::FAILURE;  // roundoff-limited and similar: keep the best point found
    out.value = cost(full(p));
  }
  out.x = full(p);
  out.converged =
      status == nlopt::XTOL_REACHED || status == nlopt::FTOL_REACHED || status == nlopt::SUCCESS;
  for (unsigned k = 0; k < dim; ++k) {
    if (p[k] <= lo[k] + 1e-6 || p[k] >= hi[k] - 1e-6) out.at_search_bound = true;
  }
  return out;
}

}  // namespace

RegistrationResult register_rigid(const Volume<float>& fixed, const Volume<float>& moving,
                                  const RegistrationOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  check_options(fixed, moving, o);
  const std::vector<std::size_t> candidates = sample_candidates(fixed, o.fixed_mask);
  // Rotations are about the fixed mask's centroid (the image's centre without one).
  const Grid& fg = fixed.grid();
  const Eigen::Vector3d centre =
      o.fixed_mask != nullptr
          ? centroid_mm(*o.fixed_mask)
          : fg.index_to_world_mm(0.5 * Eigen::Vector3d(static_cast<double>(fg.dims[0] - 1),
                                                       static_cast<double>(fg.dims[1] - 1),
                                                       static_cast<double>(fg.dims[2] - 1)));
  RegistrationResult result;
  result.centre_mm = centre;

  // Parameters: rotation (deg, about the centre) then translation (mm), relative to `initial`
  // expressed about the same centre: T(x) = R (x - c) + c + t.
  const Eigen::Vector3d t0v = o.initial.apply(centre) - centre;
  const Eigen::Vector3d e0 = o.initial.euler_deg();
  const std::vector<double> start = {e0[0], e0[1], e0[2], t0v[0], t0v[1], t0v[2]};
  std::vector<double> x = start;
  auto transform_of = [&](const std::vector<double>& p) {
    return RigidTransform::from_euler_deg_about(Eigen::Vector3d(p[0], p[1], p[2]),
                                                Eigen::Vector3d(p[3], p[4], p[5]), centre);
  };

  Rng rng(o.seed);
  // Made at the first level that takes them off (after the coarse ones' images are freed).
  std::optional<Backgrounds> backgrounds;
  const bool any_high_pass =
      o.high_pass_mm > 0.0 && o.metric != RegistrationMetric::kMattesMutualInformation;
  const std::vector<double> levels = o.pyramid_mm.empty() ? std::vector<double>{0.0} : o.pyramid_mm;
  for (std::size_t level = 0; level < levels.size(); ++level) {
    const double voxel = levels[level];
    const auto t_level = std::chrono::steady_clock::now();
    const double level_voxel_mm = std::max(voxel, fixed.grid().spacing_mm.maxCoeff());
    const bool high_pass = any_high_pass && level_voxel_mm < o.high_pass_mm;
    if (high_pass && !backgrounds) {
      backgrounds = Backgrounds{gaussian_smooth(fixed, o.high_pass_mm),
                                gaussian_smooth(moving, o.high_pass_mm)};
    }
    const int samples = level + 1 == levels.size() ? o.finest_samples : o.samples;
    const Level lv = make_level(fixed, moving, voxel, candidates, samples,
                                high_pass ? &*backgrounds : nullptr, rng);
    LevelMetric metric(lv, o);
    const auto t_prepared = std::chrono::steady_clock::now();
    auto cost = [&](const std::vector<double>& p) { return metric(transform_of(p)); };

    // Overlap at the start of the first level: images that do not overlap are an input error.
    if (result.levels.empty()) {
      (void)cost(x);
      if (metric.overlap < 0.05) {
        throw InputError("registration", "the images do not overlap (" +
                                             format_measured(100.0 * metric.overlap, 1) +
                                             " % of the fixed samples fall inside the moving "
                                             "image at the initial transform)");
      }
    }
    const LevelSearch found = search_level(cost, x, start, lv.voxel_mm, o);
    x = found.x;
    result.converged = found.converged;
    result.at_search_bound = found.at_search_bound;
    const auto t_optimised = std::chrono::steady_clock::now();
    result.levels.push_back({lv.voxel_mm, static_cast<int>(lv.points_mm.size()), metric.evaluations,
                             found.value,
                             std::chrono::duration<double>(t_prepared - t_level).count(),
                             std::chrono::duration<double>(t_optimised - t_prepared).count()});
    result.evaluations += metric.evaluations;
    result.metric = found.value;
    (void)cost(x);
    result.overlap = metric.overlap;
    result.correlation = metric.correlation;
  }
  result.rotation_deg = Eigen::Vector3d(x[0], x[1], x[2]);
  result.translation_mm = Eigen::Vector3d(x[3], x[4], x[5]);
  result.fixed_to_moving = transform_of(x);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

}  // namespace linac
