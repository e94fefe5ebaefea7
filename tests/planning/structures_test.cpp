// Planning images and structures on the built-in patient: the 4DCT and its AIP, the SPECT/CT
// fused back with the simulator's known offset, random known transforms recovered, the
// functional structures consistent, the margin exact, and bad input refused.
#include "linac/planning/structures.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <numbers>

#include "linac/core/distance_map.hpp"
#include "linac/core/error.hpp"
#include "linac/core/mask.hpp"
#include "linac/core/random.hpp"
#include "linac/core/resample.hpp"
#include "linac/simulators/phantom.hpp"
#include "linac/simulators/planning_images.hpp"

namespace linac::planning {
namespace {

struct Patient {
  Case c;
  sim::FourDct fourdct;
  ImageHU aip;
  Mask liver;
};

const Patient& patient() {
  static const Patient p = [] {
    Patient q;
    q.c = sim::make_builtin_patient();
    q.fourdct = sim::make_4dct(q.c);
    q.aip = average_intensity_projection(q.fourdct.phases);
    q.liver = mean_position_mask(q.fourdct.liver);
    return q;
  }();
  return p;
}

double rotation_error_deg(const RigidTransform& a, const RigidTransform& b) {
  const Eigen::AngleAxisd d(a.rotation().transpose() * b.rotation());
  return std::abs(d.angle()) * 180.0 / std::numbers::pi;
}

// Largest displacement difference over the liver's bounding box corners (mm).
double displacement_error_mm(const RigidTransform& a, const RigidTransform& b, const Mask& roi) {
  const auto box = *bounding_box(roi);
  double worst = 0.0;
  for (int corner = 0; corner < 8; ++corner) {
    const Eigen::Vector3d ijk(static_cast<double>((corner & 1) ? box.max[0] : box.min[0]),
                              static_cast<double>((corner & 2) ? box.max[1] : box.min[1]),
                              static_cast<double>((corner & 4) ? box.max[2] : box.min[2]));
    const Eigen::Vector3d x = roi.grid().index_to_world_mm(ijk);
    worst = std::max(worst, (a.apply(x) - b.apply(x)).norm());
  }
  return worst;
}

TEST(FourDct, LiverBreathesWithTheAmplitudeAndTheBodyStaysStill) {
  const auto& p = patient();
  ASSERT_EQ(p.fourdct.phases.size(), 10u);
  const double inhale = centroid_mm(p.fourdct.liver[0]).z();
  const double exhale = centroid_mm(p.fourdct.liver[5]).z();
  // The centroid moves less than the dome (motion fades below it), but most of the amplitude.
  EXPECT_GT(exhale - inhale, 7.5);
  EXPECT_LT(exhale - inhale, 10.5);
  // Liver volume kept within 2 % in every phase.
  const double v0 = volume_cm3(p.c.get("liver").mask);
  for (const auto& l : p.fourdct.liver) EXPECT_NEAR(volume_cm3(l), v0, 0.02 * v0);
  // Outside the body nothing changes; the AIP lies between the phases' extremes.
  const Mask& body = p.c.get("body").mask;
  std::size_t changed_outside = 0;
  for (std::size_t n = 0; n < body.size(); ++n) {
    if (body[n] == 0 && p.fourdct.phases[0][n] != p.fourdct.phases[5][n]) ++changed_outside;
  }
  EXPECT_EQ(changed_outside, 0u);
  const double aip_liver = volume_cm3(p.liver);
  EXPECT_NEAR(aip_liver, v0, 0.03 * v0);
  const ImageHU mip = maximum_intensity_projection(p.fourdct.phases);
  for (std::size_t n = 0; n < mip.size(); n += 997) EXPECT_GE(mip[n], p.aip[n]);
}

TEST(SpectFusion, RecoversTheSimulatorsSpectCtOffset) {
  const auto& p = patient();
  const auto spect_ct = sim::make_spect_ct(p.c, p.fourdct);
  const auto fusion = fuse_spect(p.aip, p.c.get("body").mask, spect_ct.ct, spect_ct.spect);
  const RigidTransform truth = spect_ct.spect_ct_to_planning.inverse();  // planning -> SPECT/CT
  const double err_mm = displacement_error_mm(fusion.registration.fixed_to_moving, truth, p.liver);
  const double err_deg = rotation_error_deg(fusion.registration.fixed_to_moving, truth);
  std::printf("fusion: %.3f mm, %.3f deg, %d evaluations, %.2f s\n", err_mm, err_deg,
              fusion.registration.evaluations, fusion.registration.seconds);
  if (std::getenv("FUSION_DEBUG") != nullptr) {
    const auto ref = fuse_spect(p.c.ct, p.c.get("body").mask, spect_ct.ct, spect_ct.spect);
    std::printf("vs reference CT: %.3f mm\n",
                displacement_error_mm(ref.registration.fixed_to_moving, truth, p.liver));
    const Eigen::Vector3d c = fusion.registration.centre_mm;
    std::cout << "delta at centre "
              << (fusion.registration.fixed_to_moving.apply(c) - truth.apply(c)).transpose()
              << "\n";
  }
  EXPECT_LE(err_mm, 0.5);
  EXPECT_LE(err_deg, 0.2);
  EXPECT_TRUE(fusion.registration.converged);
  EXPECT_GT(fusion.registration.correlation, 0.8);  // the same anatomy, both CT
  EXPECT_FALSE(fusion.registration.at_search_bound);
  // The fused SPECT is hot in the functioning liver and cold in the metastases.
  double in_func = 0, in_gtv = 0;
  std::size_t nf = 0, ng = 0;
  const Mask& gtv = p.c.get("GTV").mask;
  for (std::size_t n = 0; n < p.liver.size(); ++n) {
    if (spect_ct.functional_truth[n] != 0) {
      in_func += static_cast<double>(fusion.spect_on_planning[n]);
      ++nf;
    } else if (gtv[n] != 0) {
      in_gtv += static_cast<double>(fusion.spect_on_planning[n]);
      ++ng;
    }
  }
  EXPECT_GT(in_func / nf, 1.5 * in_gtv / ng);
}

TEST(Registration, RecoversRandomKnownTransformsOfThePatient) {
  const auto& p = patient();
  const Volume<float> fixed = to_float(p.c.ct);
  Rng rng(2024);
  RegistrationOptions o;
  o.fixed_mask = &p.c.get("body").mask;
  for (int trial = 0; trial < 3; ++trial) {
    const Eigen::Vector3d rot(rng.uniform(-3, 3), rng.uniform(-3, 3), rng.uniform(-3, 3));
    const Eigen::Vector3d tr(rng.uniform(-20, 20), rng.uniform(-20, 20), rng.uniform(-20, 20));
    const RigidTransform truth = RigidTransform::from_euler_deg(rot, tr);  // fixed -> moving
    // The moving image: the patient seen through the inverse (its content moved by truth^-1).
    const Volume<float> moving =
        resample(fixed, fixed.grid(), Interpolation::kLinear, -1000.0F, truth.inverse());
    o.metric = trial == 2 ? RegistrationMetric::kNormalizedCrossCorrelation
                          : RegistrationMetric::kMeanSquares;
    const auto r = register_rigid(fixed, moving, o);
    const double err_mm = displacement_error_mm(r.fixed_to_moving, truth, p.liver);
    EXPECT_LE(err_mm, 0.5) << "trial " << trial;
    EXPECT_LE(rotation_error_deg(r.fixed_to_moving, truth), 0.2) << "trial " << trial;
  }
}

TEST(Registration, MutualInformationAlignsDifferentContrast) {
  const auto& p = patient();
  const Volume<float> fixed = to_float(p.c.ct);
  // Another contrast: a non-monotonic remapping of the CT numbers (soft tissue bright, fat dark,
  // bone mid-grey), translated and rotated.
  const Volume<float> remapped = fixed.map<float>([](float hu) {
    if (hu < -500.0F) return 0.0F;
    if (hu < -30.0F) return 200.0F;
    if (hu < 150.0F) return 900.0F - hu;
    return 400.0F;
  });
  const RigidTransform truth =
      RigidTransform::from_euler_deg(Eigen::Vector3d(1.0, -2.0, 1.5), Eigen::Vector3d(8, -6, 11));
  const Volume<float> moving =
      resample(remapped, fixed.grid(), Interpolation::kLinear, 0.0F, truth.inverse());
  RegistrationOptions o;
  o.metric = RegistrationMetric::kMattesMutualInformation;
  o.fixed_mask = &p.c.get("body").mask;
  const auto r = register_rigid(fixed, moving, o);
  EXPECT_LE(displacement_error_mm(r.fixed_to_moving, truth, p.liver), 0.7);
  EXPECT_LE(rotation_error_deg(r.fixed_to_moving, truth), 0.3);
}

TEST(FunctionalStructures, AreConsistentOnTheBuiltInPatient) {
  const auto& p = patient();
  const auto spect_ct = sim::make_spect_ct(p.c, p.fourdct);
  const Mask& body = p.c.get("body").mask;
  const auto fusion = fuse_spect(p.aip, body, spect_ct.ct, spect_ct.spect);
  const auto s = make_functional_structures(p.liver, body, fusion.spect_on_planning);
  const double fls = volume_cm3(s.fls), itv = volume_cm3(s.itv), ptv = volume_cm3(s.ptv);
  std::printf("liver %.1f FLS %.1f ITV %.1f PTV %.1f cm3\n", volume_cm3(p.liver), fls, itv, ptv);
  // The functioning parenchyma a 13 mm SPECT resolves: 10-35 % of the liver, in a few regions
  // of at least 20 cm3, none of them most of it.
  EXPECT_GE(fls, 0.10 * volume_cm3(p.liver));
  EXPECT_LE(fls, 0.35 * volume_cm3(p.liver));
  const auto parts = connected_components(s.fls);
  const auto large = std::count_if(parts.begin(), parts.end(),
                                   [](const Component& c) { return c.volume_cm3 >= 20.0; });
  std::printf("FLS: %zu parts, %td of at least 20 cm3, the largest %.1f cm3\n", parts.size(), large,
              parts.front().volume_cm3);
  EXPECT_GE(large, 3);
  EXPECT_LE(parts.size(), 6u) << "a few regions, not islands";
  EXPECT_GE(parts.back().volume_cm3, 20.0) << "every region one a 13 mm SPECT resolves";
  EXPECT_LE(parts.front().volume_cm3, 0.6 * fls);
  // Diffuse disease: the parenchyma next to metastases takes up less than that far from them.
  const Structure* gtv = p.c.find("GTV");
  ASSERT_NE(gtv, nullptr);
  const Volume<float> from_gtv = signed_distance_map_mm(gtv->mask);
  double near_sum = 0.0, far_sum = 0.0;
  std::size_t near_n = 0, far_n = 0;
  for (std::size_t n = 0; n < p.liver.size(); ++n) {
    if (p.liver[n] == 0 || from_gtv[n] <= 0.0F) continue;
    const double v = static_cast<double>(fusion.spect_on_planning[n]);
    if (from_gtv[n] <= 5.0F) near_sum += v, ++near_n;
    if (from_gtv[n] >= 20.0F) far_sum += v, ++far_n;
  }
  ASSERT_GT(near_n, 0u);
  ASSERT_GT(far_n, 0u);
  const double near_mean = near_sum / static_cast<double>(near_n);
  const double far_mean = far_sum / static_cast<double>(far_n);
  std::printf("SPECT: parenchyma within 5 mm of a metastasis %.1f, beyond 20 mm %.1f counts\n",
              near_mean, far_mean);
  EXPECT_LT(near_mean, 0.6 * far_mean);
  EXPECT_NEAR(fls + itv, volume_cm3(p.liver), 1e-6);
  EXPECT_GT(ptv, itv);
  for (std::size_t n = 0; n < s.fls.size(); ++n) {
    ASSERT_FALSE(s.fls[n] != 0 && p.liver[n] == 0) << "FLS outside the liver";
    ASSERT_FALSE(s.fls[n] != 0 && s.itv[n] != 0) << "ITV overlaps FLS";
    ASSERT_FALSE(s.itv[n] != 0 && s.ptv[n] == 0) << "ITV outside PTV";
    ASSERT_FALSE(s.ptv[n] != 0 && body[n] == 0) << "PTV outside the body";
  }
  // A lower threshold gives a larger FLS.
  const auto wide = make_functional_structures(p.liver, body, fusion.spect_on_planning, {0.4, 5.0});
  EXPECT_GT(volume_cm3(wide.fls), fls);
}

TEST(FunctionalStructures, MarginIsTheEuclideanDistanceOnAnisotropicVoxels) {
  // Small volume, brute force: a voxel is in the PTV iff some ITV voxel centre lies within 5 mm.
  Grid g;
  g.dims = {24, 20, 14};
  g.spacing_mm = Eigen::Vector3d(1.2, 0.9, 2.5);
  Mask liver(g, 0), body(g, 1);
  Volume<float> spect(g, 0.0F);
  Rng rng(3);
  for (std::int64_t k = 4; k < 10; ++k) {
    for (std::int64_t j = 5; j < 15; ++j) {
      for (std::int64_t i = 6; i < 18; ++i) {
        liver.at(i, j, k) = 1;
        spect.at(i, j, k) = static_cast<float>(rng.uniform());
      }
    }
  }
  const auto s = make_functional_structures(liver, body, spect, {0.6, 5.0});
  for (std::int64_t k = 0; k < g.dims[2]; ++k) {
    for (std::int64_t j = 0; j < g.dims[1]; ++j) {
      for (std::int64_t i = 0; i < g.dims[0]; ++i) {
        bool near = false;
        for (std::size_t n = 0; n < s.itv.size() && !near; ++n) {
          if (s.itv[n] == 0) continue;
          const auto q = g.index_of(n);
          const double dx = (q[0] - i) * 1.2, dy = (q[1] - j) * 0.9, dz = (q[2] - k) * 2.5;
          near = dx * dx + dy * dy + dz * dz <= 25.0 + 1e-9;
        }
        ASSERT_EQ(s.ptv.at(i, j, k) != 0, near) << i << "," << j << "," << k;
      }
    }
  }
}

TEST(FunctionalStructures, BadInputIsRefusedClearly) {
  Grid g;
  g.dims = {10, 10, 10};
  g.spacing_mm = Eigen::Vector3d(2, 2, 2);
  Mask liver(g, 0), body(g, 1);
  Volume<float> spect(g, 1.0F);
  auto message = [](auto f) -> std::string {
    try {
      f();
    } catch (const InputError& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_NE(message([&] { (void)make_functional_structures(liver, body, spect); }).find("empty"),
            std::string::npos);
  liver.at(5, 5, 5) = 1;
  EXPECT_NE(message([&] {
              (void)make_functional_structures(liver, body, spect, {0.0, 5.0});
            }).find("outside (0, 1]"),
            std::string::npos);
  EXPECT_NE(message([&] {
              (void)make_functional_structures(liver, body, spect, {1.5, 5.0});
            }).find("outside (0, 1]"),
            std::string::npos);
  EXPECT_NE(message([&] {
              (void)make_functional_structures(liver, body, spect, {0.6, -1.0});
            }).find("margin"),
            std::string::npos);
  // Registration of images that do not overlap.
  Grid far = g;
  far.origin_mm = Eigen::Vector3d(500, 0, 0);
  const Volume<float> a(g, 1.0F);
  Volume<float> b(far, 1.0F);
  EXPECT_NE(message([&] { (void)register_rigid(a, b); }).find("do not overlap"), std::string::npos);
}

}  // namespace
}  // namespace linac::planning
