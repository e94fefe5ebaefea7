// Plan validation against the machine profile, and trajectory sequencing.
#include "linac/delivery/validator.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "linac/delivery/beam_path.hpp"
#include "linac/delivery/trajectory.hpp"
#include "test_support.hpp"

namespace linac::delivery {
namespace {

const MachineProfile& profile() {
  static const MachineProfile p = default_machine_profile();
  return p;
}

TEST(Trajectory, GantryTravelFollowsTheRotationDirection) {
  EXPECT_DOUBLE_EQ(gantry_travel_deg(350.0, 10.0, RotationDirection::kClockwise), 20.0);
  EXPECT_DOUBLE_EQ(gantry_travel_deg(10.0, 350.0, RotationDirection::kCounterClockwise), -20.0);
  EXPECT_DOUBLE_EQ(gantry_travel_deg(10.0, 350.0, RotationDirection::kClockwise), 340.0);
  EXPECT_DOUBLE_EQ(gantry_travel_deg(10.0, 350.0, RotationDirection::kNone), -20.0);
}

TEST(Trajectory, SegmentTimeIsTheLongestOfDoseGantryAndLeaves) {
  // 600 MU over 356 deg: the gantry at 4.8 deg/s is the limit (74.2 s > 60 s of dose).
  const auto gantry_limited = sequence_beam(test::full_arc(179, 600.0), profile());
  EXPECT_NEAR(gantry_limited.beam_on_s, 356.0 / 4.8, 1e-6);
  for (const auto& s : gantry_limited.segments) {
    EXPECT_EQ(s.limited_by, SegmentLimit::kGantrySpeed);
    EXPECT_NEAR(s.gantry_speed_deg_per_s, 4.8, 1e-9);
    EXPECT_LT(s.dose_rate_mu_per_min, 600.0);  // the dose rate is lowered, not the gantry
  }
  // 1200 MU: dose is the limit at 600 MU/min; the gantry slows down.
  const auto dose_limited = sequence_beam(test::full_arc(179, 1200.0), profile());
  EXPECT_NEAR(dose_limited.beam_on_s, 120.0, 1e-6);
  EXPECT_NEAR(dose_limited.segments[10].dose_rate_mu_per_min, 600.0, 1e-9);
  EXPECT_LT(dose_limited.segments[10].gantry_speed_deg_per_s, 4.8);
  // Leaves moving 15 mm every 2 deg: 0.6 s per segment at 25 mm/s.
  const auto leaf_limited = sequence_beam(test::full_arc(179, 600.0, 15.0), profile());
  EXPECT_NEAR(leaf_limited.beam_on_s, 178 * 15.0 / 25.0, 1e-6);
  EXPECT_EQ(leaf_limited.segments[0].limited_by, SegmentLimit::kLeafSpeed);
  EXPECT_NEAR(leaf_limited.points.back().cumulative_mu, 600.0, 1e-9);
}

TEST(Trajectory, DoseRateAndGantrySpeedStepsAreRampedToWhatTheMachineFollows) {
  // Unramped, an 8-MU segment at 600 MU/min runs into one of 0.23 MU at 33 MU/min: the dose
  // servo's transient alone would deliver more than the small segment's MU.
  const Beam b = test::jumping_arc();
  const auto t = sequence_beam(b, profile());
  const double tau = 2.0 * profile().dose.dose_rate_servo_time_constant_s;
  const double dv =
      2.0 * profile().gantry.max_acceleration_deg_per_s2 * profile().gantry.servo_time_constant_s;
  int ramped = 0;
  for (std::size_t k = 0; k < t.segments.size(); ++k) {
    const auto& s = t.segments[k];
    // Never shorter than the limits alone allow.
    EXPECT_GE(s.duration_s, s.mu / (profile().dose.max_dose_rate_mu_per_min / 60.0) - 1e-9);
    EXPECT_GE(s.duration_s,
              std::abs(s.gantry_delta_deg) / profile().gantry.max_speed_deg_per_s - 1e-9);
    if (s.limited_by == SegmentLimit::kRamp) ++ramped;
    if (k + 1 < t.segments.size()) {
      const auto& n = t.segments[k + 1];
      EXPECT_LE(s.dose_rate_mu_per_min / 60.0,
                n.dose_rate_mu_per_min / 60.0 + 0.5 * n.mu / tau + 1e-6)
          << k;
      EXPECT_LE(std::abs(std::abs(s.gantry_speed_deg_per_s) - std::abs(n.gantry_speed_deg_per_s)),
                dv + 1e-6)
          << k;
    }
  }
  EXPECT_GT(ramped, 20);
  // A uniform arc has no steps: nothing is ramped.
  for (const auto& s : sequence_beam(test::full_arc(179, 600.0), profile()).segments) {
    EXPECT_NE(s.limited_by, SegmentLimit::kRamp);
  }
}

TEST(Validator, TheTestPlanIsDeliverableWithPredictedTimes) {
  const auto r = validate_plan(test::make_test_plan(), profile());
  EXPECT_TRUE(r.deliverable) << r.to_json();
  ASSERT_EQ(r.beams.size(), 2u);
  EXPECT_NEAR(r.beams[0].predicted_beam_on_s, 59.0 / 4.8 + 12.5 + 59.0 / 4.8, 1e-6);
  EXPECT_NEAR(r.beams[1].predicted_beam_on_s, 10.0, 1e-9);  // 100 MU at 600 MU/min
  EXPECT_TRUE(validate_plan(Plan{}, profile()).violations.empty());
  EXPECT_FALSE(validate_plan(Plan{}, profile()).deliverable);
}

// The violations of a plan changed by `edit`, for the first beam.
std::vector<Violation> violations(const std::function<void(Plan&)>& edit) {
  Plan p = test::make_test_plan();
  edit(p);
  return validate_plan(p, profile()).violations;
}

bool has(const std::vector<Violation>& v, const std::string& axis, int cp) {
  return std::any_of(v.begin(), v.end(),
                     [&](const Violation& x) { return x.axis == axis && x.control_point == cp; });
}

TEST(Validator, NamesBeamControlPointAxisValueAndLimit) {
  auto v = violations([](Plan& p) { p.beams[0].control_points[2].leaf_a_mm[11] = 210.0; });
  ASSERT_EQ(v.size(), 2u);  // beyond travel, and the bank span
  EXPECT_EQ(v[0].beam, "Arc1");
  EXPECT_EQ(v[0].control_point, 2);
  EXPECT_EQ(v[0].axis, "leaf A12");
  EXPECT_DOUBLE_EQ(v[0].value, 210.0);
  EXPECT_DOUBLE_EQ(v[0].limit, 200.0);
  EXPECT_NE(v[0].message.find("beam 'Arc1' control point 2: leaf A12 = 210 above the limit 200"),
            std::string::npos)
      << v[0].message;
  EXPECT_EQ(v[1].axis, "bank A span");
}

TEST(Validator, RefusesEachKindOfViolation) {
  EXPECT_TRUE(has(violations([](Plan& p) {
                    p.beams[0].control_points[1].leaf_a_mm[3] = -2.0;
                    p.beams[0].control_points[1].leaf_b_mm[3] = -1.8;
                  }),
                  "leaf pair 4", 1));
  EXPECT_TRUE(has(violations([](Plan& p) { p.beams[0].meterset_mu = 5000.0; }), "mu_per_deg", 0));
  EXPECT_TRUE(has(violations([](Plan& p) { p.beams[0].meterset_mu = 2.0; }), "mu_per_deg", 0));
  EXPECT_TRUE(has(
      violations([](Plan& p) { p.beams[0].control_points[2].cumulative_meterset_weight = 0.2; }),
      "meterset_weight", 2));
  EXPECT_TRUE(has(
      violations([](Plan& p) { p.beams[0].control_points[3].cumulative_meterset_weight = 0.9; }),
      "meterset_weight", 3));
  EXPECT_TRUE(has(violations([](Plan& p) { p.beams[1].treatment_machine_name = "TrueBeam2"; }),
                  "machine", -1));
  EXPECT_TRUE(has(violations([](Plan& p) { p.beams[0].nominal_energy_mv = 10.0; }), "energy", -1));
  EXPECT_TRUE(has(violations([](Plan& p) { p.beams[0].control_points[0].jaw_x1_mm = -250.0; }),
                  "jaw X1", 0));
  EXPECT_TRUE(has(violations([](Plan& p) { p.beams[0].control_points[0].jaw_y1_mm = 120.0; }),
                  "jaw Y1", 0));
  EXPECT_TRUE(has(violations([](Plan& p) { p.beams[0].control_points[1].collimator_deg = 180.0; }),
                  "collimator", 1));
  EXPECT_TRUE(has(violations([](Plan& p) {
                    p.beams[0].control_points[1].gantry_direction =
                        RotationDirection::kCounterClockwise;
                  }),
                  "gantry_direction", 1));
  EXPECT_TRUE(has(violations([](Plan& p) { p.beams[1].control_points[1].gantry_deg = 10.0; }),
                  "gantry", 1));
  EXPECT_TRUE(has(violations([](Plan& p) {
                    for (auto& c : p.beams[1].control_points) c.dose_rate_mu_per_min = 450.0;
                  }),
                  "dose_rate", 0));
  EXPECT_TRUE(has(violations([](Plan& p) {
                    p.beams[0].leaf_boundaries_mm = profile().mlc.leaf_boundaries_mm;
                    p.beams[0].leaf_boundaries_mm[20] += 1.0;  // an HD120-like pattern
                  }),
                  "leaf_boundaries[20]", -1));
  // An arc from 170 deg clockwise to 200 deg crosses 180 and leaves the -185..185 range.
  EXPECT_TRUE(has(violations([](Plan& p) {
                    auto& cps = p.beams[0].control_points;
                    cps[0].gantry_deg = 100.0;
                    cps[1].gantry_deg = 150.0;
                    cps[2].gantry_deg = 175.0;
                    cps[3].gantry_deg = 200.0;
                  }),
                  "gantry", 3));
  // The matching boundaries pass.
  EXPECT_TRUE(violations([](Plan& p) {
                p.beams[0].leaf_boundaries_mm = profile().mlc.leaf_boundaries_mm;
              }).empty());
}

TEST(Validator, RefusesLeafSpeedChangesTheMlcCannotFollow) {
  // Leaves zig-zagging 15 mm every 2 deg reverse at 25 mm/s at every control point: at
  // 250 mm/s² a leaf lags its set-point by (2 x 25)² / (2 x 250) = 5 mm while it turns,
  // beyond twice the 2 mm tolerance.
  Plan zigzag;
  zigzag.treatment_machine_name = profile().machine_name;
  zigzag.beams.push_back(test::full_arc(179, 600.0, 15.0));
  const auto r = validate_plan(zigzag, profile());
  EXPECT_FALSE(r.deliverable);
  const auto v = std::find_if(r.violations.begin(), r.violations.end(),
                              [](const Violation& x) { return x.axis == "leaf A1"; });
  ASSERT_NE(v, r.violations.end()) << r.to_json();
  EXPECT_EQ(v->control_point, 1);
  EXPECT_NEAR(v->value, 5.0, 1e-6);
  EXPECT_DOUBLE_EQ(v->limit, 4.0);
  EXPECT_NE(v->message.find("would lag its set-point by 5 mm"), std::string::npos) << v->message;
  EXPECT_EQ(std::count_if(r.violations.begin(), r.violations.end(),
                          [](const Violation& x) { return x.axis.rfind("leaf", 0) == 0; }),
            177);  // every interior control point

  // The same travel in one direction (a sweep at constant speed) is followed.
  Plan sweep = zigzag;
  for (std::size_t i = 0; i < sweep.beams[0].control_points.size(); ++i) {
    auto& c = sweep.beams[0].control_points[i];
    for (auto& x : c.leaf_a_mm) x = -150.0 + 1.5 * static_cast<double>(i);
    for (auto& x : c.leaf_b_mm) x = -170.0 + 1.5 * static_cast<double>(i);
  }
  const auto swept = validate_plan(sweep, profile());
  EXPECT_TRUE(swept.deliverable) << swept.to_json();
  EXPECT_TRUE(swept.warnings.empty()) << swept.to_json();

  // 8 mm steps at the gantry's pace (2 deg at 4.8 deg/s, 0.417 s): 19.2 mm/s, a reversal lags
  // (2 x 19.2)² / 500 = 2.95 mm, beyond the tolerance but within twice it: a predicted hold,
  // deliverable, and a warning that names it. 6 mm steps (1.66 mm) pass without one.
  Plan slow = zigzag;
  slow.beams[0] = test::full_arc(179, 600.0, 8.0);
  const auto held = validate_plan(slow, profile());
  EXPECT_TRUE(held.deliverable) << held.to_json();
  ASSERT_EQ(held.warnings.size(), 177u) << held.to_json();
  EXPECT_NEAR(held.warnings[0].value, 38.4 * 38.4 / 500.0, 1e-6);
  EXPECT_NE(held.warnings[0].message.find("the beam holds until it catches up"), std::string::npos);
  EXPECT_NE(held.to_json().find("\"warnings\""), std::string::npos);
  slow.beams[0] = test::full_arc(179, 600.0, 6.0);
  EXPECT_TRUE(validate_plan(slow, profile()).warnings.empty());
}

// A step-and-shoot plan's moves between segments (zero MU) are transitions: the beam path
// gives the state before a transition while the MU approach it and the state after it from
// there on, and names the MU at which the beam must stop.
TEST(BeamPath, StepAndShootTransitionsAreWhereTheBeamStops) {
  const Plan plan = test::make_step_and_shoot_plan(5, 15.0);
  const BeamPath path(plan.beams[0]);
  ASSERT_EQ(path.transitions_mu().size(), 4u);
  for (int k = 0; k < 4; ++k) EXPECT_NEAR(path.transitions_mu()[k], 20.0 * (k + 1), 1e-9);
  EXPECT_NEAR(path.next_transition_mu(0.0), 20.0, 1e-9);
  EXPECT_NEAR(path.next_transition_mu(19.9), 20.0, 1e-9);
  EXPECT_NEAR(path.next_transition_mu(20.0), 40.0, 1e-9);  // at a transition: the next one
  EXPECT_NEAR(path.next_transition_mu(20.005), 40.0, 1e-9);
  EXPECT_NEAR(path.next_transition_mu(85.0), 100.0, 1e-9);  // none left: the beam's MU
  // At 20 MU: before the move, segment 0's window; after it, segment 1's.
  EXPECT_NEAR(path.approaching_mu(20.0).leaf_b_mm[30], -40.0, 1e-9);
  EXPECT_NEAR(path.at_mu(20.0).leaf_b_mm[30], -25.0, 1e-9);
  EXPECT_NEAR(path.approaching_mu(10.0).leaf_b_mm[30], path.at_mu(10.0).leaf_b_mm[30], 1e-12);
  EXPECT_NEAR(path.approaching_mu(30.0).leaf_b_mm[30], -25.0, 1e-9);
  // A continuous beam has none.
  EXPECT_TRUE(BeamPath(test::make_test_plan().beams[0]).transitions_mu().empty());
}

// The same leaf moves are followed with the beam off (step-and-shoot): the MLC's acceleration
// holds nothing there. With MU given during the moves, the leaf-dynamics check applies.
TEST(Validator, StepAndShootMovesAreMadeWithTheBeamOff) {
  MachineProfile slow = profile();
  slow.mlc.max_leaf_acceleration_mm_per_s2 = 60.0;  // a 25 mm/s start lags 5.2 mm
  const Plan sns = test::make_step_and_shoot_plan(5, 15.0);
  const auto r = validate_plan(sns, slow);
  EXPECT_TRUE(r.deliverable) << r.to_json();
  EXPECT_TRUE(r.warnings.empty()) << r.to_json();
  Plan sliding = sns;
  auto& cps = sliding.beams[0].control_points;
  for (std::size_t i = 0; i < cps.size(); ++i) {  // 1 MU in each move, 18 MU per segment
    const double moves_before = static_cast<double>(i / 2);
    cps[i].cumulative_meterset_weight =
        (18.0 * static_cast<double>(i / 2) + static_cast<double>(i % 2) * 18.0 + moves_before) /
        (18.0 * 5.0 + 4.0);
  }
  cps.back().cumulative_meterset_weight = 1.0;
  const auto moving = validate_plan(sliding, slow);
  EXPECT_FALSE(moving.deliverable) << moving.to_json();
  EXPECT_NE(moving.to_json().find("would lag its set-point by 5.2"), std::string::npos)
      << moving.to_json();
}

TEST(Validator, JsonReportHasTheDocumentedShape) {
  Plan p = test::make_test_plan();
  p.beams[0].meterset_mu = 5000.0;
  const auto j = nlohmann::json::parse(validate_plan(p, profile()).to_json());
  EXPECT_FALSE(j["deliverable"].get<bool>());
  EXPECT_EQ(j["plan_checksum"].get<std::string>().size(), 64u);
  EXPECT_EQ(j["beams"][0]["name"], "Arc1");
  EXPECT_EQ(j["beams"][0]["control_points"], 4);
  EXPECT_DOUBLE_EQ(j["beams"][0]["mu"].get<double>(), 5000.0);
  EXPECT_GT(j["beams"][0]["predicted_beam_on_s"].get<double>(), 0.0);
  const auto& v = j["violations"][0];
  for (const char* key : {"beam", "control_point", "axis", "value", "limit", "message"}) {
    EXPECT_TRUE(v.contains(key)) << key;
  }
}

}  // namespace
}  // namespace linac::delivery
