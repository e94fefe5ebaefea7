// The 6 MV dose engine: commissioning in water against the machine's published figures
// (MACHINE.md), linearity, superposition of beamlets, heterogeneity and geometry.
#include "linac/planning/dose_engine.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>

#include "linac/core/error.hpp"
#include "linac/core/machine_profile.hpp"
#include "linac/core/random.hpp"
#include "linac/planning/beam_data.hpp"
#include "linac/planning/beam_model.hpp"
#include "linac/planning/commissioning.hpp"

namespace linac::planning {
namespace {

TEST(DoseEngine, CommissioningInWaterMeetsThePublishedFiguresFrom3To40Cm) {
  // Every figure of MACHINE.md's table (the default data set), computed by the voxelised
  // engine in water at SSD 100 cm: PDD within 1.5 points, dmax within 2 mm, output factors
  // within 1.5 %, penumbra within 1.5 mm, surface dose within 5 points.
  const MachineProfile profile = default_machine_profile();
  const BeamModel model = default_beam_model();
  const BeamData data = default_beam_data();
  ASSERT_EQ(data.fields.size(), 11U);
  const auto& b = profile.mlc.leaf_boundaries_mm;
  for (const auto& f : data.fields) {
    const WaterScan s = water_scan(model, b, f.field_x_mm, f.field_y_mm, data.ssd_mm);
    const std::string name = std::to_string(static_cast<int>(f.field_x_mm)) + " mm";
    EXPECT_NEAR(s.dmax_mm, f.dmax_mm, 2.0) << name;
    for (const auto& [depth, pct] : f.pdd_pct) EXPECT_NEAR(s.pdd_at(depth), pct, 1.5) << name;
    EXPECT_NEAR(s.output_factor, f.output_factor, 0.015 * f.output_factor) << name;
    EXPECT_NEAR(s.penumbra_80_20_mm, f.penumbra_80_20_mm, 1.5) << name;
    EXPECT_NEAR(s.surface_pct, f.surface_pct, 5.0) << name;
    if (f.field_x_mm == 100.0) {
      // Calibration: 1 cGy/MU at dmax, 10 x 10, SSD 100 cm; TPR20,10 0.665-0.675 (TRS-398).
      EXPECT_NEAR(s.dose_at_dmax_gy_per_mu, 0.01, 0.0001);
      EXPECT_NEAR(1.2661 * s.pdd_at(200.0) / s.pdd_at(100.0) - 0.0595, 0.67, 0.01);
    }
  }
  // Build-up: surface dose rises and dmax falls with field size.
  const WaterScan small = water_scan(model, b, 30.0, 30.0, 1000.0);
  const WaterScan large = water_scan(model, b, 400.0, 400.0, 1000.0);
  EXPECT_GT(large.surface_pct, small.surface_pct + 20.0);
  EXPECT_LT(large.dmax_mm, small.dmax_mm - 1.0);
}

TEST(DoseEngine, CommissioningFitRecoversThePublishedFiguresFromAPerturbedStart) {
  // Every parameter moved by 5 % of its range, alternately up and down, from the shipped fit
  // (the fit is local: from much farther it can stop in a local minimum, ADR 0008).
  BeamModel start = default_beam_model();
  std::vector<double> x = parameter_vector(start.p);
  const auto [lo, hi] = parameter_bounds();
  for (std::size_t n = 0; n < x.size(); ++n) {
    const double step = 0.05 * (hi[n] - lo[n]) * (n % 2 == 0 ? 1.0 : -1.0);
    x[n] = std::clamp(x[n] + step, lo[n], hi[n]);
  }
  start.p = parameters_from(x);
  start.calibrate();
  const auto s = commission_beam_model(start, default_beam_data());
  EXPECT_GT(s.evaluations, 100);
  EXPECT_LT(s.cost, 0.2 * s.cost_start);
  int table_failed = 0;
  for (const auto& f : s.figures) {
    if (f.name.rfind("dose ", 0) == 0) continue;  // out-of-field: reported, not met (ADR 0008)
    if (!f.ok()) ++table_failed;
    EXPECT_TRUE(f.ok()) << f.name << ": measured " << f.measured << ", model " << f.computed;
  }
  EXPECT_EQ(table_failed, 0);
  EXPECT_FALSE(s.stop_reason.empty());
}

TEST(DoseEngine, RectangularFieldsFollowTheirEquivalentSquare) {
  // 20 x 5 cm: equivalent square 2ab / (a + b) = 8 cm; central-axis PDD within 1 point.
  const MachineProfile profile = default_machine_profile();
  const BeamModel model = default_beam_model();
  const auto& b = profile.mlc.leaf_boundaries_mm;
  const WaterScan rect = water_scan(model, b, 200.0, 50.0, 1000.0);
  const WaterScan rect_t = water_scan(model, b, 50.0, 200.0, 1000.0);
  const WaterScan square = water_scan(model, b, 80.0, 80.0, 1000.0);
  for (const double d : {50.0, 100.0, 200.0}) {
    EXPECT_NEAR(rect.pdd_at(d), square.pdd_at(d), 1.0) << d;
    EXPECT_NEAR(rect_t.pdd_at(d), square.pdd_at(d), 1.0) << d;
  }
  EXPECT_NEAR(rect.output_factor, square.output_factor, 0.015);
}

TEST(DoseEngine, SsdChangesFollowTheMayneordFactor) {
  const MachineProfile profile = default_machine_profile();
  const BeamModel model = default_beam_model();
  const auto& b = profile.mlc.leaf_boundaries_mm;
  const WaterScan ref = water_scan(model, b, 100.0, 100.0, 1000.0);
  for (const double ssd : {800.0, 1200.0}) {
    // The same field size at the surface: the collimator setting scaled to the isocentre plane.
    const double side = 100.0 * 1000.0 / ssd;
    const WaterScan s = water_scan(model, b, side, side, ssd);
    const double dm = ref.dmax_mm;
    for (const double d : {50.0, 100.0, 200.0}) {
      const double f = std::pow((ssd + dm) * (1000.0 + d) / ((1000.0 + dm) * (ssd + d)), 2);
      EXPECT_NEAR(s.pdd_at(d) / (ref.pdd_at(d) * f), 1.0, 0.01) << ssd << " mm, " << d;
    }
  }
}

TEST(DoseEngine, InverseSquareAtExtendedDistance) {
  const MachineProfile profile = default_machine_profile();
  const BeamModel model = default_beam_model();
  const auto a = water_scan(model, profile.mlc.leaf_boundaries_mm, 100.0, 100.0, 1000.0);
  const auto c = water_scan(model, profile.mlc.leaf_boundaries_mm, 100.0, 100.0, 1100.0);
  // The same collimator setting farther away: the dose at dmax falls by about the inverse
  // square of the distance (the field at the surface grows, which adds a little scatter).
  const double isq = std::pow((1000.0 + a.dmax_mm) / (1100.0 + c.dmax_mm), 2);
  EXPECT_NEAR(c.dose_at_dmax_gy_per_mu / a.dose_at_dmax_gy_per_mu, isq, 0.02);
}

struct Slab {
  ImageHU ct;
  Points axis;
};

// A water box 300 mm deep starting at the isocentre plane (gantry 0), with an optional slab of
// `hu` from `from_mm` to `to_mm` deep; points on the axis every `step_mm` from 10 mm.
Slab slab_phantom(bool lung, std::int16_t hu = -700, double from_mm = 50.0, double to_mm = 150.0,
                  double step_mm = 10.0) {
  Grid g;
  g.spacing_mm = Eigen::Vector3d(4.0, 2.0, 4.0);
  g.dims = {76, 151, 76};
  g.origin_mm = Eigen::Vector3d(-150.0, 1.0, -150.0);
  ImageHU ct(g, 0);
  if (lung) {
    for (std::int64_t k = 0; k < g.dims[2]; ++k) {
      for (std::int64_t j = 0; j < g.dims[1]; ++j) {
        const double y = 1.0 + 2.0 * static_cast<double>(j);
        if (y < from_mm || y > to_mm) continue;
        for (std::int64_t i = 0; i < g.dims[0]; ++i) ct.at(i, j, k) = hu;
      }
    }
  }
  Slab s{ct, {}};
  for (double d = 10.0; d <= 250.0 + 1e-9; d += step_mm)
    s.axis.emplace_back(0.0F, static_cast<float>(d), 0.0F);
  return s;
}

TEST(DoseEngine, DoseIsLinearInMuAndAdditiveOverApertures) {
  const MachineProfile profile = default_machine_profile();
  const Slab s = slab_phantom(false);
  const DoseEngine engine(default_beam_model(), profile.mlc.leaf_boundaries_mm, s.ct);
  const BeamGeometry g(0.0, 0.0, Eigen::Vector3d::Zero(), iec::PatientPosition::kHFS, 1000.0);
  Aperture open;
  open.x1_mm = -50;
  open.x2_mm = 50;
  open.y1_mm = -50;
  open.y2_mm = 50;
  std::vector<float> one(s.axis.size(), 0.0F);
  std::vector<float> three(s.axis.size(), 0.0F);
  engine.add_aperture_dose(g, open, 1.0, s.axis, one);
  engine.add_aperture_dose(g, open, 3.0, s.axis, three);
  for (std::size_t n = 0; n < one.size(); ++n) {
    EXPECT_NEAR(three[n], 3.0F * one[n], 1e-6F * three[n] + 1e-9F);
  }
  // Two halves of the field (leaves closing one half, then the other) add up to the open
  // field, apart from the leakage through the closed leaves and the leaf gap counted twice.
  Aperture left = open;
  Aperture right = open;
  left.leaf_a_mm.assign(60, 0.0);
  left.leaf_b_mm.assign(60, -50.0);
  right.leaf_a_mm.assign(60, 50.0);
  right.leaf_b_mm.assign(60, 0.0);
  // Off the match line (there the leaf gap of both halves overlaps: a hot seam).
  Points off;
  for (const auto& p : s.axis) off.emplace_back(20.0F, p.y(), 0.0F);
  std::vector<float> whole(off.size(), 0.0F);
  std::vector<float> halves(off.size(), 0.0F);
  engine.add_aperture_dose(g, open, 1.0, off, whole);
  engine.add_aperture_dose(g, left, 1.0, off, halves);
  engine.add_aperture_dose(g, right, 1.0, off, halves);
  for (std::size_t n = 0; n < off.size(); ++n) {
    EXPECT_NEAR(halves[n] / whole[n], 1.0F, 0.04F) << n;
    EXPECT_GT(halves[n], whole[n]);  // transmission and the DLG add, never take away
  }
  std::vector<float> seam(s.axis.size(), 0.0F);
  engine.add_aperture_dose(g, left, 1.0, s.axis, seam);
  engine.add_aperture_dose(g, right, 1.0, s.axis, seam);
  EXPECT_GT(seam[9] / one[9], 1.1F);  // the seam of two abutting leaf-defined fields
}

TEST(DoseEngine, BeamletsAddUpToTheOpenField) {
  const MachineProfile profile = default_machine_profile();
  const Slab s = slab_phantom(false);
  BeamModel model = default_beam_model();
  const DoseEngine engine(model, profile.mlc.leaf_boundaries_mm, s.ct);
  const BeamGeometry g(0.0, 0.0, Eigen::Vector3d::Zero(), iec::PatientPosition::kHFS, 1000.0);
  Aperture jaws;
  jaws.x1_mm = -40;
  jaws.x2_mm = 40;
  jaws.y1_mm = -40;
  jaws.y2_mm = 40;
  // Points across the field at 100 mm depth.
  Points pts;
  for (double x = -30; x <= 30; x += 5) pts.emplace_back(static_cast<float>(x), 100.0F, 0.0F);
  // With an unbounded cut-off the beamlets reproduce the open aperture (no DLG, no leakage).
  const BeamletMatrix m = engine.beamlet_matrix(g, jaws, 5.0, 1000.0, pts);
  EXPECT_EQ(m.layout.columns, 16);
  EXPECT_EQ(m.layout.rows, 16);
  const Eigen::VectorXf sum = m.dose_per_mu * Eigen::VectorXf::Ones(m.layout.count());
  std::vector<float> open(pts.size(), 0.0F);
  engine.add_aperture_dose(g, jaws, 1.0, pts, open);
  for (std::size_t n = 0; n < pts.size(); ++n) {
    EXPECT_NEAR(sum[static_cast<Eigen::Index>(n)] / open[n], 1.0F, 0.01F) << n;
  }
  // A 15 mm cut-off keeps the primary: most of the dose inside the field.
  const BeamletMatrix cut = engine.beamlet_matrix(g, jaws, 5.0, 15.0, pts);
  const Eigen::VectorXf part = cut.dose_per_mu * Eigen::VectorXf::Ones(cut.layout.count());
  EXPECT_LT(cut.dose_per_mu.nonZeros(), m.dose_per_mu.nonZeros());
  EXPECT_GT(part[6] / open[6], 0.75F);
  EXPECT_LT(part[6] / open[6], 1.0F);
}

TEST(DoseEngine, IntensityMapsMatchTheUncutBeamlets) {
  // The two ways to the same model for a fluence-map optimisation: an intensity per beamlet
  // through the full model (add_fluence_dose) and the beamlet matrix without a cut-off.
  const MachineProfile profile = default_machine_profile();
  const Slab s = slab_phantom(false);
  const DoseEngine engine(default_beam_model(), profile.mlc.leaf_boundaries_mm, s.ct);
  const BeamGeometry g(20.0, 10.0, Eigen::Vector3d::Zero(), iec::PatientPosition::kHFS, 1000.0);
  Aperture jaws;
  jaws.x1_mm = -40;
  jaws.x2_mm = 35;
  jaws.y1_mm = -30;
  jaws.y2_mm = 45;
  Points pts;
  for (double x = -60; x <= 60; x += 6) pts.emplace_back(static_cast<float>(x), 90.0F, 7.0F);
  for (double z = -50; z <= 60; z += 10) pts.emplace_back(12.0F, 60.0F, static_cast<float>(z));
  const PreparedPoints pp = engine.prepare(g, jaws, pts);
  const BeamletMatrix m = engine.beamlet_matrix(pp, jaws, 5.0, 1000.0);
  // A map with a blocked stripe in the middle of every row and a hot corner.
  Rng rng(7);
  std::vector<float> mu(static_cast<std::size_t>(m.layout.count()));
  for (int r = 0; r < m.layout.rows; ++r) {
    for (int c = 0; c < m.layout.columns; ++c) {
      const bool blocked = c >= 6 && c <= 8;
      const double hot = (r < 3 && c < 3) ? 3.0 : 1.0;
      mu[static_cast<std::size_t>(r * m.layout.columns + c)] =
          blocked ? 0.0F : static_cast<float>(hot * (0.5 + rng.uniform()));
    }
  }
  Eigen::VectorXf w(m.layout.count());
  for (Eigen::Index b = 0; b < w.size(); ++b) w[b] = mu[static_cast<std::size_t>(b)];
  const Eigen::VectorXf by_matrix = m.dose_per_mu * w;
  std::vector<float> full(pts.size(), 0.0F);
  engine.add_fluence_dose(pp, jaws, m.layout, mu, full);
  float peak = 0.0F;
  for (const float v : full) peak = std::max(peak, v);
  ASSERT_GT(peak, 0.0F);
  for (std::size_t n = 0; n < pts.size(); ++n) {
    EXPECT_NEAR(full[n] / peak, by_matrix[static_cast<Eigen::Index>(n)] / peak, 0.015F) << n;
  }
  // No intensity, no dose.
  std::vector<float> none(pts.size(), 0.0F);
  engine.add_fluence_dose(pp, jaws, m.layout, std::vector<float>(mu.size(), 0.0F), none);
  for (const float v : none) EXPECT_EQ(v, 0.0F);
  // Weights that do not fit the layout are refused.
  EXPECT_THROW(engine.add_fluence_dose(pp, jaws, m.layout, std::vector<float>(3, 1.0F), full),
               std::invalid_argument);
}

/// Central-axis dose of a square field in a slab phantom over the same in water.
std::vector<double> slab_ratio(double side_mm, std::int16_t hu, double from_mm, double to_mm) {
  const MachineProfile profile = default_machine_profile();
  const Slab water = slab_phantom(false, 0, from_mm, to_mm, 2.0);
  const Slab slab = slab_phantom(true, hu, from_mm, to_mm, 2.0);
  const BeamModel model = default_beam_model();
  const DoseEngine ew(model, profile.mlc.leaf_boundaries_mm, water.ct);
  const DoseEngine es(model, profile.mlc.leaf_boundaries_mm, slab.ct);
  const BeamGeometry g(0.0, 0.0, Eigen::Vector3d::Zero(), iec::PatientPosition::kHFS, 1000.0);
  Aperture field;
  field.x1_mm = field.y1_mm = -0.5 * side_mm;
  field.x2_mm = field.y2_mm = 0.5 * side_mm;
  std::vector<float> dw(water.axis.size(), 0.0F);
  std::vector<float> ds(water.axis.size(), 0.0F);
  ew.add_aperture_dose(g, field, 1.0, water.axis, dw);
  es.add_aperture_dose(g, field, 1.0, slab.axis, ds);
  std::vector<double> ratio;
  for (std::size_t n = 0; n < dw.size(); ++n) ratio.push_back(ds[n] / dw[n]);
  return ratio;
}

/// Index of depth `d_mm` on the 2 mm axis from 10 mm.
std::size_t at_depth(double d_mm) {
  return static_cast<std::size_t>(std::lround((d_mm - 10.0) / 2.0));
}

TEST(DoseEngine, LungShowsLateralDisequilibriumBuildDownAndReBuildUp) {
  // Lung (-750 HU, relative electron density 0.25) from 50 to 150 mm deep.
  const std::vector<double> small = slab_ratio(30.0, -750, 50.0, 150.0);
  const std::vector<double> large = slab_ratio(100.0, -750, 50.0, 150.0);
  // Before the slab nothing changes.
  EXPECT_NEAR(small[at_depth(40.0)], 1.0, 0.005);
  EXPECT_NEAR(large[at_depth(40.0)], 1.0, 0.005);
  // Loss of lateral electronic equilibrium: in the lung a 3 x 3 field keeps less of its water
  // dose than a 10 x 10 (a pencil beam scaled by radiological depth alone gives both the same).
  const double s_mid = small[at_depth(120.0)];
  const double l_mid = large[at_depth(120.0)];
  EXPECT_LT(s_mid, l_mid - 0.05) << s_mid << " " << l_mid;
  EXPECT_GT(l_mid, 1.0);  // the 10 x 10 gains from less attenuation
  // Build-down: entering lung the small field falls behind the large one over the first
  // centimetre; re-build-up: back in water it catches up again over the first millimetres.
  auto rel = [&](double d) { return small[at_depth(d)] / large[at_depth(d)]; };
  EXPECT_GT(rel(52.0), rel(70.0) + 0.03) << rel(52.0) << " " << rel(70.0);
  EXPECT_LT(rel(70.0), rel(52.0));
  EXPECT_LT(rel(150.0), rel(160.0) - 0.03) << rel(150.0) << " " << rel(160.0);
  EXPECT_LT(rel(152.0), rel(160.0)) << rel(152.0) << " " << rel(160.0);
  EXPECT_NEAR(rel(220.0), 1.0, 0.05);  // equilibrium again far beyond
  // Far beyond, the lung's 75 mm of missing water raise both fields' dose.
  EXPECT_GT(small[at_depth(220.0)], 1.1);
  EXPECT_GT(large[at_depth(220.0)], 1.1);
  const BeamModel model = default_beam_model();
  EXPECT_NEAR(model.relative_electron_density(-750.0), 0.25, 0.02);
}

TEST(DoseEngine, BoneShadowsTheDoseBeyondIt) {
  // Cortical bone (+1000 HU, relative electron density 1.55) from 50 to 80 mm deep: 16.5 mm
  // of extra water-equivalent depth, about 8 % less dose beyond it.
  const std::vector<double> r = slab_ratio(100.0, 1000, 50.0, 80.0);
  EXPECT_NEAR(r[at_depth(40.0)], 1.0, 0.005);
  EXPECT_LT(r[at_depth(120.0)], 0.95);
  EXPECT_GT(r[at_depth(120.0)], 0.88);
  // The shadow is the extra depth: the same ratio further down.
  EXPECT_NEAR(r[at_depth(200.0)], r[at_depth(120.0)], 0.02);
}

// One arc beam of control points at `gantries_deg`, each at `collimator_deg` within the jaws,
// the leaves open over [b_mm, a_mm] and `mu` over the arc.
Beam arc_beam(const std::vector<double>& gantries_deg, double collimator_deg,
              const std::array<double, 4>& jaws_mm, double b_mm, double a_mm, double mu) {
  Beam beam;
  beam.meterset_mu = mu;
  for (std::size_t i = 0; i < gantries_deg.size(); ++i) {
    ControlPoint cp;
    cp.gantry_deg = gantries_deg[i];
    cp.collimator_deg = collimator_deg;
    cp.cumulative_meterset_weight =
        static_cast<double>(i) / static_cast<double>(gantries_deg.size() - 1);
    cp.jaw_x1_mm = jaws_mm[0];
    cp.jaw_x2_mm = jaws_mm[1];
    cp.jaw_y1_mm = jaws_mm[2];
    cp.jaw_y2_mm = jaws_mm[3];
    cp.leaf_b_mm.assign(60, b_mm + 5.0 * static_cast<double>(i));
    cp.leaf_a_mm.assign(60, a_mm + 5.0 * static_cast<double>(i));
    beam.control_points.push_back(cp);
  }
  return beam;
}

TEST(DoseEngine, PlansDosedTogetherShareTheirRayTracingAndKeepTheirDoses) {
  // A plan and a second one on the same gantry angles at another collimator angle and other
  // jaws, through a lung slab: dosed together, each control point's beam's-eye view comes from
  // the ray trace of its gantry angle's first member, turned to its own collimator angle. Each
  // plan's dose must be what its control points give one by one, each with its own trace.
  const MachineProfile profile = default_machine_profile();
  const Slab s = slab_phantom(true);
  const DoseEngine engine(default_beam_model(), profile.mlc.leaf_boundaries_mm, s.ct);
  Points points;
  for (double x = -90.0; x <= 90.0; x += 15.0) {
    for (double y = 10.0; y <= 250.0; y += 20.0) {
      for (double z = -90.0; z <= 90.0; z += 15.0) {
        points.emplace_back(static_cast<float>(x), static_cast<float>(y), static_cast<float>(z));
      }
    }
  }
  const std::vector<double> gantries{340.0, 0.0, 20.0};
  Plan a;
  a.beams.push_back(arc_beam(gantries, 30.0, {-40.0, 30.0, -50.0, 50.0}, -30.0, 10.0, 120.0));
  Plan b;
  b.beams.push_back(arc_beam(gantries, 330.0, {-20.0, 60.0, -30.0, 40.0}, -10.0, 40.0, 80.0));
  b.beams.push_back(arc_beam(gantries, 30.0, {-60.0, 0.0, -50.0, 20.0}, -50.0, -20.0, 50.0));
  // and a split arc's other half at the first one's collimator angle: dosed in its fluence map
  b.beams.push_back(arc_beam(gantries, 330.0, {-70.0, -10.0, -40.0, 30.0}, -60.0, -20.0, 60.0));
  const Eigen::Vector3d iso(0.0, 100.0, 0.0);
  // Each control point with its own ray trace, one by one.
  auto one_by_one = [&](const Plan& plan) {
    std::vector<float> dose(points.size(), 0.0F);
    for (const auto& beam : plan.beams) {
      const auto mu = control_point_mu(beam);
      for (std::size_t i = 0; i < mu.size(); ++i) {
        const auto& cp = beam.control_points[i];
        const BeamGeometry g(cp.gantry_deg, cp.collimator_deg, iso, iec::PatientPosition::kHFS,
                             1000.0);
        engine.add_aperture_dose(g, aperture_of(cp), mu[i], points, dose);
      }
    }
    return dose;
  };
  const auto together = engine.plan_doses({&a, &b}, iso, points);
  ASSERT_EQ(together.size(), 2U);
  for (std::size_t k = 0; k < 2; ++k) {
    const std::vector<float> alone = one_by_one(k == 0 ? a : b);
    const float top = *std::max_element(alone.begin(), alone.end());
    ASSERT_GT(top, 0.1F);
    double worst = 0.0;
    double worst_in_field = 0.0;  // where the dose is above a fifth of the maximum
    for (std::size_t n = 0; n < points.size(); ++n) {
      const double d =
          std::abs(static_cast<double>(together[k][n] - alone[n])) / static_cast<double>(top);
      worst = std::max(worst, d);
      if (alone[n] > 0.2F * top) worst_in_field = std::max(worst_in_field, d);
    }
    // Measured: 0.23 % and 0.04 % (plan a), 0.18 % and 0.12 % (plan b): the ray traces differ
    // by their sampling, and outside a field's own jaws (plus 30 mm) the union's trace gives
    // the depths that a field's own clamps to its edge; plan b's two arcs at 330 degrees share
    // one fluence map (0.03 % in the field with the third arc at its own collimator angle).
    EXPECT_LT(worst, 0.005) << "plan " << k;
    EXPECT_LT(worst_in_field, 0.002) << "plan " << k;
  }
  // The same sharing for points prepared once and kept (the optimiser's beamlet matrices): the
  // second field's beam's-eye view is its own, its depths those of its own trace in the field.
  const ControlPoint& cp_a = a.beams[0].control_points[1];
  const ControlPoint& cp_b = b.beams[0].control_points[1];
  const auto shared = engine.prepare_at_gantry(
      0.0, {{cp_a.collimator_deg, aperture_of(cp_a)}, {cp_b.collimator_deg, aperture_of(cp_b)}},
      iso, points);
  ASSERT_EQ(shared.size(), 2U);
  const PreparedPoints own = engine.prepare(
      BeamGeometry(0.0, cp_b.collimator_deg, iso, iec::PatientPosition::kHFS, 1000.0),
      aperture_of(cp_b), points);
  for (std::size_t n = 0; n < points.size(); ++n) {
    EXPECT_NEAR(shared[1].u_mm[n], own.u_mm[n], 1e-3F) << n;
    EXPECT_NEAR(shared[1].v_mm[n], own.v_mm[n], 1e-3F) << n;
    EXPECT_NEAR(shared[1].r_mm[n], own.r_mm[n], 1e-3F) << n;
    const bool in_field =
        own.u_mm[n] > -20.0F && own.u_mm[n] < 60.0F && own.v_mm[n] > -30.0F && own.v_mm[n] < 40.0F;
    if (in_field) {
      EXPECT_NEAR(shared[1].depth_mm[n], own.depth_mm[n], 1.0F) << n;
    }
  }
  EXPECT_THROW((void)engine.plan_doses({&a, nullptr}, iso, points), std::invalid_argument);
  // Alone, plan a (one collimator angle, one control point per gantry angle) is traced as
  // before: control point by control point.
  const auto a_alone = engine.plan_dose(a, iso, points);
  const std::vector<float> a_reference = one_by_one(a);
  for (std::size_t n = 0; n < points.size(); ++n) {
    EXPECT_NEAR(a_alone[n], a_reference[n], 1e-5F * a_reference[n] + 1e-9F) << n;
  }
}

TEST(DoseEngine, AperturesOfOneDirectionInOneMapGiveEachOnesDose) {
  // Split-arc halves and a small segment at one gantry and collimator angle, through a lung
  // slab: summed in one fluence map per kernel, their dose must be the sum of each one's.
  const MachineProfile profile = default_machine_profile();
  const Slab s = slab_phantom(true);
  const DoseEngine engine(default_beam_model(), profile.mlc.leaf_boundaries_mm, s.ct);
  Points points;
  for (double x = -120.0; x <= 120.0; x += 6.0) {
    for (double y = 10.0; y <= 250.0; y += 30.0) {
      for (double z = -60.0; z <= 60.0; z += 12.0) {
        points.emplace_back(static_cast<float>(x), static_cast<float>(y), static_cast<float>(z));
      }
    }
  }
  auto aperture = [](double x1, double x2, double y1, double y2, double b, double a) {
    Aperture ap{x1, x2, y1, y2, std::vector<double>(60, a), std::vector<double>(60, b)};
    for (std::size_t n = 0; n < 60; n += 3) ap.leaf_a_mm[n] = b + 1.0;  // closed rows
    return ap;
  };
  const std::vector<std::pair<Aperture, double>> apertures{
      {aperture(-80.0, 5.0, -50.0, 50.0, -70.0, 0.0), 40.0},
      {aperture(-5.0, 80.0, -50.0, 50.0, 0.0, 70.0), 25.0},
      {aperture(-20.0, 30.0, -10.0, 20.0, -10.0, 20.0), 0.0},  // no MU: no dose
      {aperture(-20.0, 30.0, -10.0, 20.0, -10.0, 20.0), 7.5}};
  const BeamGeometry g(20.0, 30.0, Eigen::Vector3d(0.0, 100.0, 0.0), iec::PatientPosition::kHFS,
                       1000.0);
  const PreparedPoints p = engine.prepare(g, Aperture{-80.0, 80.0, -50.0, 50.0, {}, {}}, points);
  std::vector<float> each(points.size(), 0.0F);
  for (const auto& [ap, mu] : apertures) engine.add_aperture_dose(p, ap, mu, each);
  std::vector<float> together(points.size(), 0.0F);
  engine.add_apertures_dose(p, apertures, together);
  const float top = *std::max_element(each.begin(), each.end());
  ASSERT_GT(top, 0.1F);
  double worst = 0.0;
  for (std::size_t n = 0; n < points.size(); ++n) {
    worst = std::max(
        worst, std::abs(static_cast<double>(together[n] - each[n])) / static_cast<double>(top));
  }
  // Measured: 0.099 % of the maximum — the wide kernels' maps (pixels up to 10 mm) laid on the
  // union's grid instead of each aperture's own.
  EXPECT_LT(worst, 2e-3) << "the maps' sampling on the jaws' union";
  // One aperture alone: its own map, the same dose to the bit.
  std::vector<float> one(points.size(), 0.0F);
  std::vector<float> one_alone(points.size(), 0.0F);
  engine.add_apertures_dose(p, {apertures[1]}, one);
  engine.add_aperture_dose(p, apertures[1].first, apertures[1].second, one_alone);
  EXPECT_EQ(one, one_alone);
  EXPECT_THROW(engine.add_apertures_dose(p, {{apertures[0].first, -1.0}}, one),
               std::invalid_argument);
  std::vector<float> wrong_size(3, 0.0F);
  EXPECT_THROW(engine.add_apertures_dose(p, apertures, wrong_size), std::invalid_argument);
}

TEST(DoseEngine, GeometryFollowsIec61217) {
  const Eigen::Vector3d iso(10.0, -20.0, 30.0);
  // Gantry 0, HFS: the source is anterior (-y in DICOM patient coordinates).
  const BeamGeometry g0(0.0, 0.0, iso, iec::PatientPosition::kHFS, 1000.0);
  EXPECT_NEAR((g0.source_mm() - (iso + Eigen::Vector3d(0, -1000, 0))).norm(), 0.0, 1e-9);
  // Gantry 90: the source on the patient's left (+x for HFS).
  const BeamGeometry g90(90.0, 0.0, iso, iec::PatientPosition::kHFS, 1000.0);
  EXPECT_NEAR((g90.source_mm() - (iso + Eigen::Vector3d(1000, 0, 0))).norm(), 0.0, 1e-9);
  // Projection and its inverse.
  const BeamGeometry g(37.0, 20.0, iso, iec::PatientPosition::kHFS, 1000.0);
  const Eigen::Vector3d p(40.0, 5.0, -60.0);
  const auto b = g.project(p);
  EXPECT_NEAR((g.point_at(b.u_mm, b.v_mm, b.r_mm) - p).norm(), 0.0, 1e-9);
  // The isocentre projects to the axis at SAD.
  const auto c = g.project(iso);
  EXPECT_NEAR(c.u_mm, 0.0, 1e-9);
  EXPECT_NEAR(c.r_mm, 1000.0, 1e-9);
}

TEST(DoseEngine, RefusesBadInput) {
  const MachineProfile profile = default_machine_profile();
  const BeamModel model = default_beam_model();
  EXPECT_THROW((void)water_scan(model, profile.mlc.leaf_boundaries_mm, 5.0, 100.0, 1000.0),
               InputError);
  EXPECT_THROW((void)water_scan(model, profile.mlc.leaf_boundaries_mm, 100.0, 100.0, 200.0),
               InputError);
  EXPECT_THROW((void)load_beam_model("/nonexistent/beam.json", 1000, 1, 0.015, 1.7), InputError);
}

}  // namespace
}  // namespace linac::planning
