// The 6 MV dose engine: commissioning in water against the machine's published figures
// (MACHINE.md), linearity, superposition of beamlets, heterogeneity and geometry.
#include "linac/planning/dose_engine.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "linac/core/error.hpp"
#include "linac/core/machine_profile.hpp"
#include "linac/planning/beam_model.hpp"

namespace linac::planning {
namespace {

TEST(DoseEngine, CommissioningInWaterMeetsThePublishedFigures) {
  const MachineProfile profile = default_machine_profile();
  const BeamModel model = default_beam_model();
  const auto& b = profile.mlc.leaf_boundaries_mm;
  const WaterScan ref = water_scan(model, b, 100.0, 100.0, 1000.0);
  // MACHINE.md: dmax 15 mm (14-16); PDD 86.5 / 66.5 / 38.5 %; within 2 % / 2 mm.
  EXPECT_NEAR(ref.dmax_mm, 15.0, 2.0);
  EXPECT_NEAR(ref.pdd_at(50.0), 86.5, 2.0);
  EXPECT_NEAR(ref.pdd_at(100.0), 66.5, 2.0);
  EXPECT_NEAR(ref.pdd_at(200.0), 38.5, 2.0);
  // TPR20,10 from the PDD ratio (IAEA TRS-398: 1.2661 PDD20/10 - 0.0595): 0.665-0.675.
  const double tpr = 1.2661 * ref.pdd_at(200.0) / ref.pdd_at(100.0) - 0.0595;
  EXPECT_NEAR(tpr, 0.67, 0.01);
  // Penumbra 80-20 % at 10 cm: 3-5 mm, within 1 mm of the 4 mm target.
  EXPECT_NEAR(ref.penumbra_80_20_mm, 4.0, 1.0);
  // Calibration: 1 cGy/MU at dmax, 10 x 10, SSD 100 cm.
  EXPECT_NEAR(ref.dose_at_dmax_gy_per_mu, 0.01, 0.0002);
  // Output factors within 2 %.
  for (const auto& [side, of] : std::vector<std::pair<double, double>>{
           {40.0, 0.88}, {60.0, 0.93}, {200.0, 1.06}, {300.0, 1.09}}) {
    const WaterScan s = water_scan(model, b, side, side, 1000.0);
    EXPECT_NEAR(s.output_factor, of, 0.02 * of) << side << " mm";
  }
}

TEST(DoseEngine, CommissioningFitRecoversTheTargetsFromAFarStart) {
  BeamModel start = default_beam_model();
  start.p = BeamModelParameters{};  // generic starting values, not the fitted ones
  start.calibrate();
  const auto r = commission_beam_model(start);
  EXPECT_NEAR(r.figures.dmax_mm, 15.0, 1.0);
  for (std::size_t n = 0; n < r.figures.pdd_pct.size(); ++n) {
    EXPECT_NEAR(r.figures.pdd_pct[n].second, start.targets.pdd_pct[n].second, 1.0);
  }
  for (std::size_t n = 0; n < r.figures.output_factors.size(); ++n) {
    EXPECT_NEAR(r.figures.output_factors[n].second, start.targets.output_factors[n].second, 0.01);
  }
  EXPECT_NEAR(r.figures.penumbra_80_20_mm, 4.0, 0.3);
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

// A water box 300 mm deep starting at the isocentre plane (gantry 0), with an optional
// lung-density slab (-700 HU) from 50 to 150 mm deep.
Slab slab_phantom(bool lung) {
  Grid g;
  g.spacing_mm = Eigen::Vector3d(4.0, 2.0, 4.0);
  g.dims = {76, 151, 76};
  g.origin_mm = Eigen::Vector3d(-150.0, 1.0, -150.0);
  ImageHU ct(g, 0);
  if (lung) {
    for (std::int64_t k = 0; k < g.dims[2]; ++k) {
      for (std::int64_t j = 0; j < g.dims[1]; ++j) {
        const double y = 1.0 + 2.0 * static_cast<double>(j);
        if (y < 50.0 || y > 150.0) continue;
        for (std::int64_t i = 0; i < g.dims[0]; ++i) ct.at(i, j, k) = -700;
      }
    }
  }
  Slab s{ct, {}};
  for (double d = 10.0; d <= 250.0; d += 10.0)
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

TEST(DoseEngine, LowDensitySlabRaisesTheDoseBeyondIt) {
  const MachineProfile profile = default_machine_profile();
  const Slab water = slab_phantom(false);
  const Slab lung = slab_phantom(true);
  const BeamModel model = default_beam_model();
  const DoseEngine ew(model, profile.mlc.leaf_boundaries_mm, water.ct);
  const DoseEngine el(model, profile.mlc.leaf_boundaries_mm, lung.ct);
  const BeamGeometry g(0.0, 0.0, Eigen::Vector3d::Zero(), iec::PatientPosition::kHFS, 1000.0);
  Aperture open;
  std::vector<float> dw(water.axis.size(), 0.0F);
  std::vector<float> dl(water.axis.size(), 0.0F);
  ew.add_aperture_dose(g, open, 1.0, water.axis, dw);
  el.add_aperture_dose(g, open, 1.0, lung.axis, dl);
  // 100 mm of lung at relative density 0.3 saves 70 mm of water: at 200 mm depth the dose is
  // that of 130 mm of water (same distance from the source).
  const std::size_t at200 = 19;  // 10, 20, ... 200 mm
  ASSERT_NEAR(water.axis[at200].y(), 200.0F, 1e-3F);
  EXPECT_GT(dl[at200] / dw[at200], 1.2F);
  const double rel = model.relative_electron_density(-700.0);
  EXPECT_NEAR(rel, 0.3, 0.02);
  // The model's own figures at the two depths (the default aperture is 100 x 100).
  auto conv = [](double sigma) { return std::pow(std::erf(50.0 / (std::sqrt(2.0) * sigma)), 2); };
  const double cp = conv(model.p.primary_sigma_mm);
  const double ch = conv(model.head_sigma_mm());
  const double cs = conv(model.p.scatter_sigma_mm);
  const double z_eff = 200.0 - 100.0 * (1.0 - rel);
  const double expect =
      model.dose_per_mu(z_eff, 1200.0, cp, ch, cs) / model.dose_per_mu(200.0, 1200.0, cp, ch, cs);
  EXPECT_NEAR(static_cast<double>(dl[at200] / dw[at200]), expect, 0.03 * expect);
  // Before the slab nothing changes.
  EXPECT_NEAR(dl[3] / dw[3], 1.0F, 0.005F);
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
