// FDK cone-beam reconstruction of projections from the simulated kV imager: a water cylinder
// (full fan, half fan, short scan) and refusals of bad projection sets.
#include "linac/igrt/fdk.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "linac/core/error.hpp"
#include "linac/core/machine_profile.hpp"
#include "linac/simulators/kv_projector.hpp"

namespace linac::igrt {
namespace {

// A water cylinder (radius 90 mm, 2 half_length_mm long, axis along the patient's z) in air,
// 2 mm voxels.
ImageHU water_cylinder(double half_length_mm = 80.0) {
  Grid g;
  g.dims = {121, 121, 101};
  g.spacing_mm = Eigen::Vector3d(2.0, 2.0, 2.0);
  g.origin_mm = Eigen::Vector3d(-120, -120, -100);
  ImageHU ct(g, -1000);
  for (std::int64_t k = 0; k < g.dims[2]; ++k) {
    for (std::int64_t j = 0; j < g.dims[1]; ++j) {
      for (std::int64_t i = 0; i < g.dims[0]; ++i) {
        const Eigen::Vector3d p = g.index_to_world_mm(Eigen::Vector3d(
            static_cast<double>(i), static_cast<double>(j), static_cast<double>(k)));
        if (std::hypot(p.x(), p.y()) <= 90.0 && std::abs(p.z()) <= half_length_mm) {
          ct.at(i, j, k) = 0;
        }
      }
    }
  }
  return ct;
}

std::vector<hal::KvProjection> scan(const ImageHU& ct, bool half_fan, double arc_deg, int n,
                                    double scatter_scale = 0.0) {
  auto imager = default_machine_profile().imager;
  imager.scatter_scale = scatter_scale;  // the reconstruction tests see primary only
  const Volume<float> mu = sim::attenuation_from_hu(ct);
  const RigidTransform placement = iec::patient_to_fixed(iec::PatientPosition::kHFS, {});
  std::vector<hal::KvProjection> out;
  for (int k = 0; k < n; ++k) {
    const double gantry = -180.0 + arc_deg * k / n;
    out.push_back(sim::project_kv(mu, placement, imager, gantry, {8, half_fan, 0.0}));
  }
  return out;
}

struct Quality {
  double mean_hu = 0.0;
  double rmse_hu = 0.0;
  double air_hu = 0.0;
};

Quality quality(const ImageHU& img) {
  Quality q;
  double s = 0, s2 = 0, air = 0;
  int n = 0, na = 0;
  const Grid& g = img.grid();
  for (std::int64_t k = 0; k < g.dims[2]; ++k) {
    for (std::int64_t j = 0; j < g.dims[1]; ++j) {
      for (std::int64_t i = 0; i < g.dims[0]; ++i) {
        const Eigen::Vector3d p = g.index_to_world_mm(Eigen::Vector3d(
            static_cast<double>(i), static_cast<double>(j), static_cast<double>(k)));
        const double r = std::hypot(p.x(), p.y());
        const double v = img.at(i, j, k);
        if (r < 75.0 && std::abs(p.z()) < 50.0) {
          s += v;
          s2 += v * v;
          ++n;
        } else if (r > 105.0 && r < 120.0 && std::abs(p.z()) < 50.0) {
          air += v;
          ++na;
        }
      }
    }
  }
  q.mean_hu = s / n;
  q.rmse_hu = std::sqrt(s2 / n);
  q.air_hu = air / std::max(1, na);
  return q;
}

FdkOptions options_for(const hal::KvProjection& p) {
  FdkOptions o;
  o.grid = cbct_grid(p, 4.0, 4.0);
  return o;
}

TEST(Fdk, WaterCylinderFullFan) {
  const auto ct = water_cylinder();
  const auto projections = scan(ct, false, 360.0, 180);
  const auto r = reconstruct_fdk(projections, options_for(projections[0]));
  const auto q = quality(r.image);
  std::printf("full fan: mean %.1f HU, RMSE %.1f HU, air %.1f HU, %.2f s\n", q.mean_hu, q.rmse_hu,
              q.air_hu, r.seconds);
  EXPECT_FALSE(r.half_fan);
  EXPECT_NEAR(q.mean_hu, 0.0, 20.0);
  EXPECT_LT(q.rmse_hu, 30.0);
  EXPECT_NEAR(q.air_hu, -1000.0, 60.0);
}

TEST(Fdk, WaterCylinderHalfFan) {
  const auto ct = water_cylinder();
  const auto projections = scan(ct, true, 360.0, 180);
  const auto r = reconstruct_fdk(projections, options_for(projections[0]));
  const auto q = quality(r.image);
  std::printf("half fan: mean %.1f HU, RMSE %.1f HU, air %.1f HU, %.2f s\n", q.mean_hu, q.rmse_hu,
              q.air_hu, r.seconds);
  EXPECT_TRUE(r.half_fan);
  EXPECT_NEAR(q.mean_hu, 0.0, 20.0);
  EXPECT_LT(q.rmse_hu, 35.0);
  EXPECT_NEAR(q.air_hu, -1000.0, 60.0);
}

// The measured region is the cone every view sees: a voxel at distance rho from the rotation
// axis and z along it meets the panel's rows from every angle while |z| SID / (SAD - rho) stays
// within half the panel's height. Checked against that formula in the fixed frame, through the
// column-wise back-projection (couch at 0) and the voxel-wise one (couch turned 10 degrees); in
// the cone's unmeasured corners a water cylinder that runs past them comes out too dark.
TEST(Fdk, MeasuredRegionIsTheConeEveryViewSees) {
  const auto ct = water_cylinder(100.0);
  const auto projections = scan(ct, true, 360.0, 180);
  const auto& p0 = projections[0];
  const double sad = p0.source_axis_distance_mm, sid = p0.source_imager_distance_mm;
  const double half_rows_mm = 0.5 * (p0.rows - 1) * p0.pixel_pitch_mm;
  for (const double couch_deg : {0.0, 10.0}) {
    FdkOptions o = options_for(p0);
    o.couch.rotation_deg = couch_deg;
    // The projections were taken at couch 0; only the masks are compared here.
    const auto r = reconstruct_fdk(projections, o);
    const Grid& g = r.measured.grid();
    ASSERT_TRUE(g.same_as(r.image.grid()));
    const RigidTransform to_fixed = iec::patient_to_fixed(o.position, o.couch);
    int wrong = 0, measured = 0, unmeasured_water = 0;
    double inside_hu = 0.0, corner_hu = 0.0;
    int inside_n = 0;
    for (std::int64_t k = 0; k < g.dims[2]; ++k) {
      for (std::int64_t j = 0; j < g.dims[1]; ++j) {
        for (std::int64_t i = 0; i < g.dims[0]; ++i) {
          const Eigen::Vector3d x = to_fixed.apply(g.index_to_world_mm(Eigen::Vector3d(
              static_cast<double>(i), static_cast<double>(j), static_cast<double>(k))));
          const double rho = std::hypot(x.x(), x.z());
          const double reach = std::abs(x.y()) * sid / (sad - rho);  // on the panel, worst view
          const bool in = r.measured.at(i, j, k) != 0;
          measured += in ? 1 : 0;
          // 180 views at 2 degrees: the worst one may miss the voxel's farthest angle by 1 degree.
          if ((reach < 0.99 * half_rows_mm && !in) || (reach > 1.01 * half_rows_mm && in)) ++wrong;
          const Eigen::Vector3d pt = g.index_to_world_mm(Eigen::Vector3d(
              static_cast<double>(i), static_cast<double>(j), static_cast<double>(k)));
          if (couch_deg != 0.0 || std::hypot(pt.x(), pt.y()) > 80.0) continue;
          if (in && std::abs(pt.z()) < 50.0) {
            inside_hu += r.image.at(i, j, k);
            ++inside_n;
          } else if (!in && std::abs(pt.z()) < 96.0) {
            corner_hu += r.image.at(i, j, k);
            ++unmeasured_water;
          }
        }
      }
    }
    std::printf("couch %.0f deg: %d of %lld voxels measured, %d off the cone's formula\n",
                couch_deg, measured, static_cast<long long>(g.voxel_count()), wrong);
    EXPECT_EQ(wrong, 0);
    EXPECT_GT(measured, static_cast<int>(g.voxel_count() * 8 / 10));
    EXPECT_LT(measured, static_cast<int>(g.voxel_count()));
    if (couch_deg == 0.0) {
      ASSERT_GT(unmeasured_water, 100);
      const double in_mean = inside_hu / inside_n, corner_mean = corner_hu / unmeasured_water;
      std::printf("water: %.1f HU measured, %.1f HU in the unmeasured corners (%d voxels)\n",
                  in_mean, corner_mean, unmeasured_water);
      EXPECT_NEAR(in_mean, 0.0, 20.0);
      EXPECT_LT(corner_mean, in_mean - 50.0);
    }
  }
}

TEST(Fdk, WaterCylinderShortScanWithParkerWeights) {
  const auto ct = water_cylinder();
  const auto projections = scan(ct, false, 210.0, 105);
  const auto r = reconstruct_fdk(projections, options_for(projections[0]));
  const auto q = quality(r.image);
  std::printf("short scan: mean %.1f HU, RMSE %.1f HU, air %.1f HU\n", q.mean_hu, q.rmse_hu,
              q.air_hu);
  EXPECT_TRUE(r.short_scan);
  EXPECT_NEAR(q.mean_hu, 0.0, 25.0);
  EXPECT_LT(q.rmse_hu, 40.0);
}

TEST(Fdk, TruncationCorrectionBringsATruncatedCylinderBackTowardsWater) {
  // The full-fan projections cut to a panel whose field of view (about 60 mm in radius) is
  // narrower than the 90 mm cylinder: uncorrected, the cut rows' step makes the inside bright;
  // continued past the cut, the centre comes back towards water.
  const auto ct = water_cylinder();
  auto projections = scan(ct, false, 360.0, 180);
  const int keep = projections[0].columns / 2;
  for (auto& p : projections) {
    const int from = (p.columns - keep) / 2;
    std::vector<float> cut;
    for (int r = 0; r < p.rows; ++r) {
      for (int c = from; c < from + keep; ++c) {
        cut.push_back(p.line_integral[static_cast<std::size_t>(r * p.columns + c)]);
      }
    }
    p.line_integral = std::move(cut);
    p.columns = keep;
  }
  FdkOptions o = options_for(projections[0]);
  const auto centre_hu = [&](bool corrected) {
    o.truncation_correction = corrected;
    const auto img = reconstruct_fdk(projections, o).image;
    const Grid& g = img.grid();
    double s = 0.0;
    int n = 0;
    for (std::int64_t k = 0; k < g.dims[2]; ++k) {
      for (std::int64_t j = 0; j < g.dims[1]; ++j) {
        for (std::int64_t i = 0; i < g.dims[0]; ++i) {
          const Eigen::Vector3d p = g.index_to_world_mm(Eigen::Vector3d(
              static_cast<double>(i), static_cast<double>(j), static_cast<double>(k)));
          if (std::hypot(p.x(), p.y()) < 30.0 && std::abs(p.z()) < 30.0) {
            s += img.at(i, j, k);
            ++n;
          }
        }
      }
    }
    return s / n;
  };
  const double plain = centre_hu(false);
  const double corrected = centre_hu(true);
  std::printf("truncated cylinder: centre %.1f HU uncorrected, %.1f HU corrected\n", plain,
              corrected);
  EXPECT_GT(plain, 100.0);
  EXPECT_LT(std::abs(corrected), 0.5 * std::abs(plain));
}

TEST(Fdk, ScatterCupsTheUncorrectedImage) {
  // With the simulated scatter of the profile (no anti-scatter grid, no correction), the centre
  // of the cylinder reconstructs darker than its rim: the classic cupping.
  const auto ct = water_cylinder();
  const double scale = default_machine_profile().imager.scatter_scale;
  ASSERT_GT(scale, 0.0);
  const auto projections = scan(ct, true, 360.0, 180, scale);
  const auto r = reconstruct_fdk(projections, options_for(projections[0]));
  const Grid& g = r.image.grid();
  const Eigen::Vector3d c = g.world_mm_to_index(Eigen::Vector3d::Zero());
  const auto k = static_cast<std::int64_t>(std::lround(c.z()));
  const auto i0 = static_cast<std::int64_t>(std::lround(c.x()));
  const auto j0 = static_cast<std::int64_t>(std::lround(c.y()));
  const double centre = r.image.at(i0, j0, k);
  const double rim = r.image.at(i0 + static_cast<std::int64_t>(70.0 / g.spacing_mm.x()), j0, k);
  std::printf("scatter: centre %.0f HU, rim %.0f HU\n", centre, rim);
  EXPECT_LT(centre, rim - 5.0);
  EXPECT_LT(centre, -10.0);
}

TEST(Fdk, ScatterCorrectionWithTheImagersKernelRecoversThePrimary) {
  // The same view with and without the profile's scatter: the correction, given the imager's
  // kernel, returns the primary's line integrals; the thick middle of the cylinder is where the
  // scatter-to-primary ratio, and so the error left uncorrected, is largest.
  const auto ct = water_cylinder();
  const auto profile = default_machine_profile();
  const auto with = scan(ct, false, 360.0, 1, profile.imager.scatter_scale).front();
  const auto without = scan(ct, false, 360.0, 1).front();
  const auto corrected =
      scatter_corrected(with, profile.imager.scatter_scale, profile.imager.scatter_blur_mm);
  ASSERT_EQ(corrected.size(), without.line_integral.size());
  double worst_before = 0.0;
  double worst_after = 0.0;
  for (std::size_t i = 0; i < corrected.size(); ++i) {
    const double truth = static_cast<double>(without.line_integral[i]);
    worst_before =
        std::max(worst_before, std::abs(static_cast<double>(with.line_integral[i]) - truth));
    worst_after = std::max(worst_after, std::abs(static_cast<double>(corrected[i]) - truth));
  }
  std::printf("scatter: worst line-integral error %.4f uncorrected, %.4f corrected\n", worst_before,
              worst_after);
  EXPECT_GT(worst_before, 0.1);
  EXPECT_LT(worst_after, 0.01 * worst_before);
  // No fraction: the projection unchanged; bad kernels refused, naming the correction.
  EXPECT_EQ(scatter_corrected(with, 0.0, 60.0), with.line_integral);
  EXPECT_THROW((void)scatter_corrected(with, -0.1, 60.0), InputError);
  EXPECT_THROW((void)scatter_corrected(with, 0.003, 0.0), InputError);
  auto short_one = with;
  short_one.line_integral.pop_back();
  EXPECT_THROW((void)scatter_corrected(short_one, 0.003, 60.0), InputError);
  auto o = options_for(with);
  o.scatter_fraction = -1.0;
  try {
    (void)reconstruct_fdk({with}, o);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("scatter correction"), std::string::npos) << e.what();
  }
}

TEST(Fdk, ScatterCorrectionTakesTheCuppingOff) {
  const auto ct = water_cylinder();
  const auto& imager = default_machine_profile().imager;
  const auto projections = scan(ct, true, 360.0, 180, imager.scatter_scale);
  auto o = options_for(projections[0]);
  const Quality cupped = quality(reconstruct_fdk(projections, o).image);
  const Quality primary = quality(reconstruct_fdk(scan(ct, true, 360.0, 180), o).image);
  o.scatter_fraction = imager.scatter_scale;
  o.scatter_sigma_mm = imager.scatter_blur_mm;
  const Quality corrected = quality(reconstruct_fdk(projections, o).image);
  std::printf(
      "half fan with scatter: water %.1f HU (RMSE %.1f) uncorrected, %.1f HU (RMSE %.1f) "
      "corrected; primary only %.1f HU (RMSE %.1f)\n",
      cupped.mean_hu, cupped.rmse_hu, corrected.mean_hu, corrected.rmse_hu, primary.mean_hu,
      primary.rmse_hu);
  EXPECT_LT(cupped.mean_hu, -20.0);
  EXPECT_LT(std::abs(corrected.mean_hu - primary.mean_hu), 2.0);
  EXPECT_LT(corrected.rmse_hu, primary.rmse_hu + 2.0);
}

TEST(Fdk, BadProjectionSetsAreRefused) {
  const auto ct = water_cylinder();
  EXPECT_THROW(reconstruct_fdk({}, FdkOptions{}), InputError);
  auto projections = scan(ct, false, 360.0, 8);
  auto o = options_for(projections[0]);
  auto mixed = projections;
  mixed[3].pixel_pitch_mm *= 2.0;
  try {
    (void)reconstruct_fdk(mixed, o);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("projection 3"), std::string::npos) << e.what();
  }
  const auto short_arc = scan(ct, false, 90.0, 10);
  EXPECT_THROW((void)reconstruct_fdk(short_arc, o), InputError);
  const auto half_short = scan(ct, true, 200.0, 20);
  EXPECT_THROW((void)reconstruct_fdk(half_short, o), InputError);
}

}  // namespace
}  // namespace linac::igrt
