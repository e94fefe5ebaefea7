#include "linac/simulators/phantom.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <opencv2/imgproc.hpp>
#include <vector>

#include "linac/core/distance_map.hpp"
#include "linac/core/mask.hpp"
#include "linac/core/random.hpp"

namespace linac::sim {
namespace {

using Eigen::Vector3d;

// Tissue labels, in the order of precedence used when building the label map.
enum Label : std::uint8_t {
  kAir,
  kSubcutaneousFat,
  kMuscle,
  kVisceralFat,
  kCorticalBone,
  kMarrow,
  kDisc,
  kCsf,
  kCord,
  kLungLeft,
  kLungRight,
  kHeart,
  kAorta,
  kVenaCava,
  kSpleen,
  kKidneyLeft,
  kKidneyRight,
  kStomach,
  kStomachGas,
  kDuodenum,
  kBowel,
  kBowelGas,
  kLiver,
  kLabelCount
};

// Mean HU per label, non-contrast CT.
constexpr std::array<double, kLabelCount> kHu = {
    -1000.0,  // air
    -100.0,   // subcutaneous fat
    45.0,     // muscle
    -90.0,    // visceral fat
    800.0,    // cortical bone
    220.0,    // marrow (cancellous)
    80.0,     // disc
    15.0,     // CSF
    35.0,     // cord
    -830.0,   // lung left
    -830.0,   // lung right
    40.0,     // heart
    42.0,     // aorta
    38.0,     // vena cava
    48.0,     // spleen
    32.0,     // kidney left
    32.0,     // kidney right
    20.0,     // stomach contents
    -950.0,   // stomach gas
    25.0,     // duodenum
    22.0,     // bowel
    -900.0,   // bowel gas
    60.0,     // liver parenchyma
};
constexpr double kMetastasisHu = 32.0;
constexpr double kNecroticHu = 14.0;

struct Ellipsoid {
  Vector3d centre_mm;
  Vector3d radii_mm;
  [[nodiscard]] double value(const Vector3d& p) const {
    return (p - centre_mm).cwiseQuotient(radii_mm).squaredNorm();
  }
  [[nodiscard]] bool contains(const Vector3d& p) const { return value(p) <= 1.0; }
};

struct Tube {
  std::vector<Vector3d> points_mm;
  double radius_mm = 10.0;
  [[nodiscard]] double distance_mm(const Vector3d& p) const {
    double best = 1e300;
    for (std::size_t n = 0; n + 1 < points_mm.size(); ++n) {
      const Vector3d a = points_mm[n];
      const Vector3d ab = points_mm[n + 1] - a;
      const double t = std::clamp((p - a).dot(ab) / ab.squaredNorm(), 0.0, 1.0);
      best = std::min(best, (a + t * ab - p).norm());
    }
    return best;
  }
  [[nodiscard]] bool contains(const Vector3d& p) const { return distance_mm(p) <= radius_mm; }
};

// All shapes of the abdomen. Sizes and positions vary a little with the seed.
struct Anatomy {
  double body_a_mm = 170.0;  // lateral semi-axis
  double body_b_mm = 122.0;  // antero-posterior semi-axis
  double subcut_mm = 20.0;
  double wall_mm = 12.0;
  Ellipsoid dome_right{{-65.0, 15.0, 95.0}, {}};  // apex only
  Ellipsoid dome_left{{70.0, 15.0, 85.0}, {}};
  double dome_radius_mm = 140.0;
  double central_tendon_z_mm = 78.0;
  Ellipsoid heart{{25.0, -35.0, 135.0}, {62.0, 48.0, 55.0}};
  Ellipsoid spleen{{95.0, 45.0, 45.0}, {25.0, 40.0, 50.0}};
  Ellipsoid kidney_left{{84.0, 46.0, -60.0}, {29.0, 24.0, 56.0}};
  Ellipsoid kidney_right{{-84.0, 48.0, -78.0}, {29.0, 24.0, 56.0}};
  Ellipsoid stomach{{62.0, -30.0, 40.0}, {45.0, 36.0, 58.0}};
  Tube duodenum;
  Tube small_bowel;
  Tube colon;
  Vector3d liver_centre_mm{-50.0, -5.0, 15.0};
  double liver_right_mm = 105.0;  // semi-axis towards the patient's right
  double liver_left_mm = 140.0;   // towards the left (left lobe)
  double liver_ap_mm = 95.0;
  double liver_si_mm = 95.0;
  double vertebra_pitch_mm = 32.0;
};

double jitter(Rng& rng, double sd) {
  return std::clamp(rng.normal(0.0, sd), -2.5 * sd, 2.5 * sd);
}

Anatomy make_anatomy(Rng& rng) {
  Anatomy a;
  const double size = 1.0 + jitter(rng, 0.02);
  a.body_a_mm *= size;
  a.body_b_mm *= 1.0 + jitter(rng, 0.02);
  a.dome_right.centre_mm.z() += jitter(rng, 3.0);
  a.dome_left.centre_mm.z() += jitter(rng, 3.0);
  for (Ellipsoid* e : {&a.heart, &a.spleen, &a.kidney_left, &a.kidney_right, &a.stomach}) {
    for (int k = 0; k < 3; ++k) {
      e->centre_mm[k] += jitter(rng, 2.0);
      e->radii_mm[k] *= 1.0 + jitter(rng, 0.03);
    }
  }
  a.liver_centre_mm += Vector3d(jitter(rng, 3.0), jitter(rng, 2.0), jitter(rng, 3.0));
  a.duodenum.radius_mm = 12.0;
  a.duodenum.points_mm = {{35, -12, 2},   {-12, -8, -8}, {-28, 4, -28},
                          {-30, 10, -62}, {-8, 14, -84}, {28, 12, -80}};
  // Small bowel: a serpentine in the lower abdomen, anterior to kidneys and psoas.
  a.small_bowel.radius_mm = 13.0;
  bool left_to_right = true;
  for (double z = -178.0; z <= -88.0; z += 30.0) {
    const double y = -35.0 + jitter(rng, 5.0);
    const double x0 = left_to_right ? -85.0 : 85.0;
    for (int s = 0; s <= 4; ++s) {
      const double x = x0 + (left_to_right ? 1.0 : -1.0) * 42.5 * s;
      a.small_bowel.points_mm.emplace_back(x + jitter(rng, 4.0), y + jitter(rng, 8.0),
                                           z + jitter(rng, 5.0));
    }
    left_to_right = !left_to_right;
  }
  // Colon: ascending (right), transverse (anterior, under the liver), descending (left).
  a.colon.radius_mm = 21.0;
  a.colon.points_mm = {{-112, -5, -195}, {-115, -10, -110}, {-105, -45, -62}, {-40, -72, -58},
                       {40, -72, -52},   {105, -40, -40},   {118, 0, -100},   {112, 5, -195}};
  return a;
}

// Smooth diaphragm: the higher of the two domes and the central tendon.
double diaphragm_z_mm(const Anatomy& a, double x, double y) {
  auto dome = [&](const Ellipsoid& apex) {
    const double dx = x - apex.centre_mm.x();
    const double dy = y - apex.centre_mm.y();
    return apex.centre_mm.z() - (dx * dx + dy * dy) / (2.0 * a.dome_radius_mm);
  };
  const double tendon = a.central_tendon_z_mm - (x * x + y * y) / (2.0 * 3.0 * a.dome_radius_mm);
  return std::max({dome(a.dome_right), dome(a.dome_left), tendon});
}

// (x / a)^2 + (y / b)^2 for the body outline and the rings inside it; flatter posteriorly.
double body_ellipse(const Anatomy& a, double x, double y, double inset_mm) {
  const double ea = a.body_a_mm - inset_mm;
  const double eb = (y > 0.0 ? 0.92 * a.body_b_mm : a.body_b_mm) - inset_mm;
  return (x / ea) * (x / ea) + (y / eb) * (y / eb);
}

// Bone, canal and cord of the spine and the ribs; kAir when none.
Label skeleton(const Anatomy& a, const Vector3d& p) {
  const double x = p.x();
  const double y = p.y();
  const double z = p.z();
  const double phase = std::fmod(z + 1000.0, a.vertebra_pitch_mm);
  const bool disc_level = phase < 7.0;
  // Vertebral body.
  const double vb = (x / 21.0) * (x / 21.0) + ((y - 52.0) / 17.0) * ((y - 52.0) / 17.0);
  if (vb <= 1.0) {
    if (disc_level) return kDisc;
    return vb > 0.78 ? kCorticalBone : kMarrow;
  }
  // Canal, cord and the posterior arch.
  const double rc = std::hypot(x, y - 81.0);
  if (rc <= 5.0) return kCord;
  if (rc <= 10.0) return kCsf;
  if (!disc_level) {
    if (rc <= 17.0 && y >= 66.0) return kCorticalBone;                      // arch and pedicles
    if (std::abs(x) <= 5.0 && y > 81.0 && y < 116.0) return kCorticalBone;  // spinous process
    if (std::abs(y - 80.0) <= 5.0 && std::abs(x) < 42.0 && phase > 12.0 && phase < 24.0) {
      return kCorticalBone;  // transverse processes
    }
  }
  // Ribs: oblique bands in the wall, higher posteriorly; none in the anterior lower gap.
  const double ring = body_ellipse(a, x, y, 0.0);
  const double outer = body_ellipse(a, x, y, 23.0);
  const double inner = body_ellipse(a, x, y, 30.0);
  (void)ring;
  if (outer <= 1.0 && inner > 1.0) {
    const double rib_phase = std::fmod(z - 0.3 * y + 1000.0, 24.0);
    const bool rib_level = z - 0.3 * y > -75.0;
    const bool anterior_gap = y < -45.0 && std::abs(x) < 60.0;
    if (rib_level && !anterior_gap && rib_phase < 9.0) return kCorticalBone;
  }
  return kAir;
}

bool in_paraspinal_or_psoas(const Vector3d& p) {
  const double x = std::abs(p.x());
  const double y = p.y();
  const double z = p.z();
  const double ps =
      ((x - 38.0) / 30.0) * ((x - 38.0) / 30.0) + ((y - 96.0) / 24.0) * ((y - 96.0) / 24.0);
  if (ps <= 1.0) return true;
  if (z < -40.0) {  // psoas grows towards the pelvis
    const double r = 10.0 + std::min(12.0, (-40.0 - z) * 0.12);
    if (std::hypot(x - 38.0, y - 48.0) <= r) return true;
  }
  return false;
}

bool in_vessel(const Vector3d& p, Label& which) {
  if (p.z() < -150.0) return false;
  if (std::hypot(p.x() - 18.0, p.y() - 33.0) <= 11.0) {
    which = kAorta;
    return true;
  }
  if (std::hypot(p.x() + 22.0, p.y() - 28.0) <= 12.0) {
    which = kVenaCava;
    return true;
  }
  return false;
}

// Organs that the liver must not overlap (they indent it), or kAir.
Label fixed_organs(const Anatomy& a, const Vector3d& p, double z_dia) {
  Label v = kAir;
  if (in_vessel(p, v)) return v;
  if (p.z() < z_dia - 4.0 && a.spleen.contains(p)) return kSpleen;
  if (a.kidney_left.contains(p)) return kKidneyLeft;
  if (a.kidney_right.contains(p)) return kKidneyRight;
  if (p.z() < z_dia - 4.0 && a.stomach.contains(p)) {
    const bool gas = p.y() < a.stomach.centre_mm.y() - 16.0 && p.z() > a.stomach.centre_mm.z();
    return gas ? kStomachGas : kStomach;
  }
  if (a.duodenum.contains(p)) return kDuodenum;
  if (a.colon.contains(p)) {
    // Gas rises anteriorly in a supine patient.
    const double d = a.colon.distance_mm(p);
    return (p.y() < -40.0 && d < 0.7 * a.colon.radius_mm) ? kBowelGas : kBowel;
  }
  if (a.small_bowel.contains(p)) return kBowel;
  return kAir;
}

// Label of point p without the liver (kVisceralFat for free abdominal space).
Label classify(const Anatomy& a, const Vector3d& p) {
  const double x = p.x();
  const double y = p.y();
  if (body_ellipse(a, x, y, 0.0) > 1.0) return kAir;
  const Label bone = skeleton(a, p);
  if (bone != kAir) return bone;
  if (body_ellipse(a, x, y, a.subcut_mm) > 1.0) return kSubcutaneousFat;
  if (body_ellipse(a, x, y, a.subcut_mm + a.wall_mm) > 1.0) return kMuscle;
  if (in_paraspinal_or_psoas(p)) return kMuscle;
  const double z_dia = diaphragm_z_mm(a, x, y);
  if (p.z() >= z_dia) {
    if (a.heart.contains(p)) return kHeart;
    Label v = kAir;
    if (in_vessel(p, v)) return v;
    const bool mediastinum = std::abs(x) < 32.0;
    if (!mediastinum && body_ellipse(a, x, y, 34.0) <= 1.0) return x > 0 ? kLungLeft : kLungRight;
    return kVisceralFat;
  }
  if (p.z() >= z_dia - 4.0) return kMuscle;  // the diaphragm itself
  const Label organ = fixed_organs(a, p, z_dia);
  if (organ != kAir) return organ;
  return kVisceralFat;
}

double liver_shape(const Anatomy& a, const Vector3d& p, double scale) {
  const Vector3d d = p - a.liver_centre_mm;
  const double u = d.x() / ((d.x() < 0.0 ? a.liver_right_mm : a.liver_left_mm) * scale);
  const double taper = 1.0 - 0.6 * std::clamp(u, 0.0, 1.0);
  const double v = d.y() / (a.liver_ap_mm * scale * taper);
  const double w = d.z() / (a.liver_si_mm * scale * (0.35 + 0.65 * taper));
  return u * u + v * v + w * w;
}

/// The phantom's grid: 480 x 300 x 320 mm, thorax base to the top of the pelvis.
Grid phantom_grid(double spacing_mm) {
  const Vector3d lo(-240.0, -150.0, -195.0);
  const Vector3d hi(240.0, 150.0, 125.0);
  Grid grid;
  for (int k = 0; k < 3; ++k) {
    grid.dims[k] = static_cast<std::int64_t>(std::floor((hi[k] - lo[k]) / spacing_mm)) + 1;
  }
  grid.spacing_mm = Vector3d::Constant(spacing_mm);
  grid.origin_mm = lo;
  return grid;
}

Vector3d voxel_mm(const Grid& grid, std::size_t n) {
  const Index3 ijk = grid.index_of(n);
  return grid.index_to_world_mm(Vector3d(static_cast<double>(ijk[0]), static_cast<double>(ijk[1]),
                                         static_cast<double>(ijk[2])));
}

/// Every voxel's tissue, the liver not yet placed (its space left as visceral fat).
std::vector<std::uint8_t> label_anatomy(const Grid& grid, const Anatomy& anatomy) {
  std::vector<std::uint8_t> labels(grid.voxel_count());
#pragma omp parallel for schedule(static)
  for (std::int64_t k = 0; k < grid.dims[2]; ++k) {
    for (std::int64_t j = 0; j < grid.dims[1]; ++j) {
      for (std::int64_t i = 0; i < grid.dims[0]; ++i) {
        const Vector3d p = grid.index_to_world_mm(
            Vector3d(static_cast<double>(i), static_cast<double>(j), static_cast<double>(k)));
        labels[grid.linear_index(i, j, k)] = classify(anatomy, p);
      }
    }
  }
  return labels;
}

/// The liver in the free space: its shape scaled until the voxelised volume matches
/// `volume_cm3` (bisection), its voxels labelled.
void place_liver(const Grid& grid, const Anatomy& anatomy, double volume_cm3,
                 std::vector<std::uint8_t>& labels) {
  std::vector<std::size_t> candidates;
  std::vector<float> shape;
  for (std::size_t n = 0; n < labels.size(); ++n) {
    if (labels[n] != kVisceralFat) continue;
    // The liver at scale s is the level set {shape value at unit scale <= s^2}: nested sets,
    // so the volume grows monotonically with s.
    const double f = liver_shape(anatomy, voxel_mm(grid, n), 1.0);
    if (f < 4.0) {
      candidates.push_back(n);
      shape.push_back(static_cast<float>(f));
    }
  }
  const double voxel_cm3 = grid.voxel_volume_mm3() / 1000.0;
  auto liver_count = [&](double scale) {
    const double limit = scale * scale;
    return static_cast<double>(std::count_if(
        shape.begin(), shape.end(), [&](float f) { return static_cast<double>(f) <= limit; }));
  };
  double s_lo = 0.3;
  double s_hi = 2.0;
  const double target_voxels = volume_cm3 / voxel_cm3;
  if (liver_count(s_hi) < target_voxels) {
    throw std::invalid_argument("the abdomen cannot hold a liver of the requested volume");
  }
  for (int it = 0; it < 60; ++it) {
    const double mid = 0.5 * (s_lo + s_hi);
    (liver_count(mid) < target_voxels ? s_lo : s_hi) = mid;
  }
  const double limit = s_hi * s_hi;
  for (std::size_t c = 0; c < candidates.size(); ++c) {
    if (static_cast<double>(shape[c]) <= limit) labels[candidates[c]] = kLiver;
  }
}

/// Functioning parenchyma kept free of disease, as diffuse metastatic disease leaves it: a few
/// irregular regions deep in the liver (anisotropic Gaussian blobs around seeded centres at
/// least 20 mm inside it and 90 mm apart), together `functional_fraction` of the liver, each
/// surrounded by tumour-bearing liver. Regions of this size (several tens of cm³) are what a
/// 13 mm SPECT resolves; the metastases grow only outside them. Returns the regions placed.
std::size_t spare_functional_regions(const Grid& grid, const std::vector<std::size_t>& liver_voxels,
                                     const PhantomOptions& options, Rng& rng, Mask& spared) {
  if (!(options.functional_fraction > 0.0) || options.functional_regions <= 0) return 0;
  Mask liver_mask(grid, 0);
  for (const std::size_t n : liver_voxels) liver_mask[n] = 1;
  const Volume<float> depth = signed_distance_map_mm(liver_mask);  // < 0 inside
  std::vector<std::size_t> deep;
  for (const std::size_t n : liver_voxels) {
    if (depth[n] <= -20.0F) deep.push_back(n);
  }
  struct Blob {
    Vector3d centre, sigma_mm;
  };
  std::vector<Blob> blobs;
  for (int attempt = 0; attempt < 1000 && !deep.empty() &&
                        static_cast<int>(blobs.size()) < options.functional_regions;
       ++attempt) {
    const Vector3d c = voxel_mm(
        grid, deep[static_cast<std::size_t>(rng.uniform() * static_cast<double>(deep.size())) %
                   deep.size()]);
    bool apart = true;
    for (const auto& b : blobs) apart = apart && (b.centre - c).norm() >= 90.0;
    if (!apart) continue;
    // Irregular but of one volume: the semi-axes' product is the same for every region.
    Vector3d sigma(1.0 + 0.4 * rng.uniform(), 1.0 + 0.4 * rng.uniform(), 1.0 + 0.4 * rng.uniform());
    sigma *= 24.0 / std::cbrt(sigma.prod());
    blobs.push_back({c, sigma});
  }
  std::vector<float> field(liver_voxels.size());
  for (std::size_t m = 0; m < liver_voxels.size(); ++m) {
    const Vector3d x = voxel_mm(grid, liver_voxels[m]);
    double f = 0.0;
    for (const auto& b : blobs) {
      f = std::max(f, std::exp(-0.5 * (x - b.centre).cwiseQuotient(b.sigma_mm).squaredNorm()));
    }
    field[m] = static_cast<float>(f);
  }
  // The level that keeps the requested share of the liver.
  std::vector<float> sorted = field;
  const auto keep = std::min(
      sorted.size() - 1,
      static_cast<std::size_t>(options.functional_fraction * static_cast<double>(sorted.size())));
  std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(keep), sorted.end(),
                   std::greater<>());
  const float level = std::max(sorted[keep], 1e-6F);
  for (std::size_t m = 0; m < liver_voxels.size(); ++m) {
    if (field[m] >= level) spared[liver_voxels[m]] = 1;
  }
  return blobs.size();
}

/// The metastases and their HU (darker, necrotic cores in the large ones).
struct Metastases {
  Mask gtv;
  std::vector<float> hu;  // per voxel, 0 outside them
  int lesions = 0;
};

/// Spheres of 5-40 mm (log-uniform diameters) centred in the tumour-bearing liver, until they
/// replace `metastasis_fraction` of the whole liver; never in the spared regions.
Metastases seed_metastases(const Grid& grid, const std::vector<std::uint8_t>& labels,
                           const std::vector<std::size_t>& liver_voxels, const Mask& spared,
                           const PhantomOptions& options, Rng& rng) {
  std::vector<std::size_t> tumour_bearing;
  for (const std::size_t n : liver_voxels) {
    if (spared[n] == 0) tumour_bearing.push_back(n);
  }
  Metastases out{Mask(grid, 0), std::vector<float>(grid.voxel_count(), 0.0F), 0};
  const auto goal = static_cast<std::size_t>(options.metastasis_fraction *
                                             static_cast<double>(liver_voxels.size()));
  std::size_t gtv_count = 0;
  while (gtv_count < goal && !tumour_bearing.empty()) {
    const std::size_t centre_n = tumour_bearing[static_cast<std::size_t>(
        rng.uniform() * static_cast<double>(tumour_bearing.size()))];
    const double diameter_mm = 5.0 * std::exp(rng.uniform() * std::log(8.0));
    const double r = diameter_mm / 2.0;
    const Index3 c = grid.index_of(centre_n);
    const auto reach = static_cast<std::int64_t>(std::ceil(r / options.spacing_mm));
    ++out.lesions;
    for (std::int64_t k = std::max<std::int64_t>(0, c[2] - reach);
         k <= std::min(grid.dims[2] - 1, c[2] + reach); ++k) {
      for (std::int64_t j = std::max<std::int64_t>(0, c[1] - reach);
           j <= std::min(grid.dims[1] - 1, c[1] + reach); ++j) {
        for (std::int64_t i = std::max<std::int64_t>(0, c[0] - reach);
             i <= std::min(grid.dims[0] - 1, c[0] + reach); ++i) {
          const double d =
              options.spacing_mm *
              std::sqrt(static_cast<double>((i - c[0]) * (i - c[0]) + (j - c[1]) * (j - c[1]) +
                                            (k - c[2]) * (k - c[2])));
          const std::size_t n = grid.linear_index(i, j, k);
          if (d > r || labels[n] != kLiver || spared[n] != 0) continue;
          if (out.gtv[n] == 0) ++gtv_count;
          out.gtv[n] = 1;
          const float hu =
              static_cast<float>(r > 12.0 && d < 0.5 * r ? kNecroticHu : kMetastasisHu);
          out.hu[n] = out.hu[n] == 0.0F ? hu : std::min(out.hu[n], hu);
        }
      }
    }
  }
  return out;
}

/// CT: the labels' HU (the metastases' own), a slight blur (the scanner's resolution), quantum
/// noise.
ImageHU synthesise_ct(const Grid& grid, const std::vector<std::uint8_t>& labels,
                      const Metastases& mets, const PhantomOptions& options, Rng& rng) {
  const std::size_t n_vox = grid.voxel_count();
  std::vector<float> hu(n_vox);
  for (std::size_t n = 0; n < n_vox; ++n) {
    hu[n] = mets.gtv[n] != 0 ? mets.hu[n] : static_cast<float>(kHu[labels[n]]);
  }
  const double sigma_vox = 0.7 / options.spacing_mm * 2.5 * 0.6;
  for (std::int64_t k = 0; k < grid.dims[2]; ++k) {
    cv::Mat slice(static_cast<int>(grid.dims[1]), static_cast<int>(grid.dims[0]), CV_32F,
                  hu.data() + grid.linear_index(0, 0, k));
    cv::GaussianBlur(slice, slice, cv::Size(0, 0), sigma_vox, sigma_vox, cv::BORDER_REPLICATE);
  }
  ImageHU ct(grid, -1000);
  for (std::size_t n = 0; n < n_vox; ++n) {
    const double noise = labels[n] == kAir ? 0.2 * options.noise_hu : options.noise_hu;
    ct[n] = static_cast<std::int16_t>(std::clamp(
        std::round(static_cast<double>(hu[n]) + rng.normal(0.0, noise)), -1024.0, 3071.0));
  }
  return ct;
}

/// The body, each organ's mask from its labels, the GTV.
void add_structures(const std::vector<std::uint8_t>& labels, Mask gtv, Case& c) {
  const Grid& grid = c.ct.grid();
  auto add = [&](const std::string& name, const std::string& role,
                 std::initializer_list<Label> members) {
    Mask m(grid, 0);
    for (std::size_t n = 0; n < labels.size(); ++n) {
      for (const Label l : members) {
        if (labels[n] == l) m[n] = 1;
      }
    }
    c.structures.push_back({name, role, std::move(m)});
  };
  {
    Mask body(grid, 0);
    for (std::size_t n = 0; n < labels.size(); ++n) body[n] = labels[n] != kAir ? 1 : 0;
    c.structures.push_back({"body", "external", std::move(body)});
  }
  add("liver", "organ", {kLiver});
  c.structures.push_back({"GTV", "target", std::move(gtv)});
  add("kidney_left", "organ", {kKidneyLeft});
  add("kidney_right", "organ", {kKidneyRight});
  add("stomach", "organ", {kStomach, kStomachGas});
  add("duodenum", "organ", {kDuodenum});
  add("bowel", "organ", {kBowel, kBowelGas});
  add("spinal_cord", "organ", {kCord});
  add("heart", "organ", {kHeart});
  add("lung_left", "organ", {kLungLeft});
  add("lung_right", "organ", {kLungRight});
}

}  // namespace

Case make_builtin_patient(const PhantomOptions& options) {
  if (!(options.spacing_mm >= 0.5 && options.spacing_mm <= 10.0)) {
    throw std::invalid_argument("phantom spacing must lie in [0.5, 10] mm");
  }
  Rng rng(options.seed);
  const Anatomy anatomy = make_anatomy(rng);
  const Grid grid = phantom_grid(options.spacing_mm);
  std::vector<std::uint8_t> labels = label_anatomy(grid, anatomy);
  place_liver(grid, anatomy, options.liver_volume_cm3, labels);
  std::vector<std::size_t> liver_voxels;
  for (std::size_t n = 0; n < labels.size(); ++n) {
    if (labels[n] == kLiver) liver_voxels.push_back(n);
  }
  Mask spared(grid, 0);
  const std::size_t regions = spare_functional_regions(grid, liver_voxels, options, rng, spared);
  Metastases mets = seed_metastases(grid, labels, liver_voxels, spared, options, rng);

  Case c;
  c.name = "builtin-abdomen";
  c.patient_position = iec::PatientPosition::kHFS;
  c.ct = synthesise_ct(grid, labels, mets, options, rng);
  add_structures(labels, std::move(mets.gtv), c);
  c.metadata["generator"] = "linac built-in patient (digital abdomen)";
  c.metadata["seed"] = std::to_string(options.seed);
  c.metadata["spacing_mm"] = std::to_string(options.spacing_mm);
  c.metadata["metastases"] = std::to_string(mets.lesions);
  c.metadata["functional_regions"] = std::to_string(regions);
  return c;
}

}  // namespace linac::sim
