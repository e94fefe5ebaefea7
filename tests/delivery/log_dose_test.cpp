// The beam as delivered, from a log: control points every 2 degrees of actual gantry with the
// actual leaves and MU; its dose equals that of the same plan written by hand.
#include "linac/delivery/log_dose.hpp"

#include <gtest/gtest.h>

#include "linac/core/error.hpp"
#include "linac/core/machine_profile.hpp"
#include "linac/planning/dose_engine.hpp"

namespace linac::delivery {
namespace {

MachineLog synthetic_log() {
  MachineLog log;
  log.format = "trajectory";
  log.beam_name = "Arc1";
  log.beam_mu = 20.0;
  // 0 -> 10 degrees in 0.125 degree steps, MU linear to 20, an opening that widens.
  for (int i = 0; i <= 80; ++i) {
    LogSnapshot s;
    s.beam_on = i > 0;
    s.gantry_actual_deg = 0.125 * i;
    s.mu_actual = 0.25 * i;
    s.jaw_actual_mm = {-50.0, 50.0, -50.0, 50.0};
    s.leaf_a_actual_mm.assign(60, 10.0 + 0.25 * i);
    s.leaf_b_actual_mm.assign(60, -10.0 - 0.25 * i);
    log.snapshots.push_back(s);
  }
  return log;
}

TEST(LogDose, ControlPointsFollowTheActualGantryAndMu) {
  const Beam b = beam_from_log(synthetic_log(), 2.0);
  EXPECT_NEAR(b.meterset_mu, 20.0, 1e-9);
  // Beam on from 0.125 degrees: 0.125, 2.125, 4.125, 6.125, 8.125, then the last at 10.
  ASSERT_EQ(b.control_points.size(), 6U);
  EXPECT_NEAR(b.control_points[1].gantry_deg, 2.125, 1e-9);
  EXPECT_NEAR(b.control_points.back().gantry_deg, 10.0, 1e-9);
  EXPECT_NEAR(b.control_points.back().cumulative_meterset_weight, 1.0, 1e-12);
  EXPECT_NEAR(b.control_points[1].cumulative_meterset_weight, 4.25 / 20.0, 1e-9);
  EXPECT_NEAR(b.control_points[1].leaf_a_mm[30], 10.0 + 0.25 * 17, 1e-9);
  EXPECT_EQ(b.control_points[1].gantry_direction, RotationDirection::kClockwise);
  MachineLog off = synthetic_log();
  for (auto& s : off.snapshots) s.beam_on = false;
  EXPECT_THROW((void)beam_from_log(off), InputError);
}

TEST(LogDose, DoseOfTheLoggedBeamEqualsThePlannedOne) {
  const MachineProfile profile = default_machine_profile();
  Grid g;
  g.spacing_mm = Eigen::Vector3d(4.0, 4.0, 4.0);
  g.dims = {51, 51, 21};
  g.origin_mm = Eigen::Vector3d(-100.0, -100.0, -40.0);
  const ImageHU water(g, 0);
  const planning::DoseEngine engine(planning::default_beam_model(), profile.mlc.leaf_boundaries_mm,
                                    water);
  Plan logged;
  logged.beams.push_back(beam_from_log(synthetic_log(), 2.0));
  // The same arc written by hand from the log's description.
  Plan by_hand;
  Beam hb;
  hb.meterset_mu = 20.0;
  for (const double gantry : {0.125, 2.125, 4.125, 6.125, 8.125, 10.0}) {
    ControlPoint cp;
    cp.gantry_deg = gantry;
    cp.cumulative_meterset_weight = 2.0 * gantry / 20.0;
    cp.jaw_x1_mm = cp.jaw_y1_mm = -50.0;
    cp.jaw_x2_mm = cp.jaw_y2_mm = 50.0;
    cp.leaf_a_mm.assign(60, 10.0 + 2.0 * gantry);
    cp.leaf_b_mm.assign(60, -10.0 - 2.0 * gantry);
    hb.control_points.push_back(cp);
  }
  by_hand.beams.push_back(hb);
  planning::Points pts;
  for (int i = -5; i <= 5; ++i) pts.emplace_back(static_cast<float>(4 * i), 0.0F, 0.0F);
  const auto a = engine.plan_dose(logged, Eigen::Vector3d::Zero(), pts);
  const auto b = engine.plan_dose(by_hand, Eigen::Vector3d::Zero(), pts);
  for (std::size_t n = 0; n < pts.size(); ++n) EXPECT_NEAR(a[n], b[n], 1e-5F * b[n] + 1e-9F);
  // About 20 MU at about 10 cm depth of a 4-6 cm wide field: of the order of 0.1 Gy.
  EXPECT_GT(a[5], 0.05F);
  EXPECT_LT(a[5], 0.25F);
}

}  // namespace
}  // namespace linac::delivery
