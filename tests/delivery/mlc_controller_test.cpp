// Closed leaf pairs as the MLC controller delivers them, and the machine names a profile answers
// to: what the validator and the delivery session apply to plans from planning systems.
#include "linac/delivery/mlc_controller.hpp"

#include <gtest/gtest.h>

#include "linac/core/error.hpp"
#include "linac/delivery/validator.hpp"
#include "test_support.hpp"

namespace linac::delivery {
namespace {

const MachineProfile& profile() {
  static const MachineProfile p = default_machine_profile();
  return p;
}

// The test plan's static AP field (jaws X -50..50, Y -60..60, rows of the Millennium 120) with
// four pairs closed the ways a planning system leaves them, and one closed inside the field.
Plan plan_with_closed_pairs() {
  Plan p = test::make_test_plan();
  for (auto& cp : p.beams[1].control_points) {
    cp.leaf_a_mm[2] = cp.leaf_b_mm[2] = 7.0;      // row -180..-170: outside the Y jaws
    cp.leaf_a_mm[25] = cp.leaf_b_mm[25] = -50.0;  // parked at the X1 jaw
    cp.leaf_a_mm[26] = cp.leaf_b_mm[26] = -58.0;  // behind the X1 jaw
    cp.leaf_b_mm[27] = 52.0;                      // behind the X2 jaw, gap 0.2 mm
    cp.leaf_a_mm[27] = 52.2;
  }
  return p;
}

TEST(MlcController, OpensClosedPairsToTheMinimumGapWhereTheJawsShieldThem) {
  std::vector<Adjustment> adjustments;
  const Plan planned = plan_with_closed_pairs();
  const Plan d = as_delivered(planned, profile(), &adjustments);
  const double g = profile().mlc.min_dynamic_gap_mm;
  ASSERT_DOUBLE_EQ(g, 0.5);
  for (std::size_t i = 0; i < d.beams[1].control_points.size(); ++i) {
    const ControlPoint& cp = d.beams[1].control_points[i];
    EXPECT_DOUBLE_EQ(cp.leaf_b_mm[2], 6.75);  // about its own centre
    EXPECT_DOUBLE_EQ(cp.leaf_a_mm[2], 7.25);
    EXPECT_DOUBLE_EQ(cp.leaf_a_mm[25], -50.0);  // A stays at the jaw, B retracts under it
    EXPECT_DOUBLE_EQ(cp.leaf_b_mm[25], -50.5);
    EXPECT_DOUBLE_EQ(cp.leaf_b_mm[26], -58.5);
    EXPECT_DOUBLE_EQ(cp.leaf_b_mm[27], 52.0);  // B stays behind X2, A retracts
    EXPECT_DOUBLE_EQ(cp.leaf_a_mm[27], 52.5);
    // Nothing else moved.
    const ControlPoint& p = planned.beams[1].control_points[i];
    for (std::size_t l : {0U, 10U, 30U, 59U}) {
      EXPECT_EQ(cp.leaf_a_mm[l], p.leaf_a_mm[l]);
      EXPECT_EQ(cp.leaf_b_mm[l], p.leaf_b_mm[l]);
    }
  }
  EXPECT_EQ(d.beams[0].control_points[3].leaf_a_mm, planned.beams[0].control_points[3].leaf_a_mm);
  ASSERT_EQ(adjustments.size(), 4u);
  EXPECT_EQ(adjustments[0].beam, "AP");
  EXPECT_EQ(adjustments[0].leaf_pair, 3);
  EXPECT_EQ(adjustments[0].shielded_by, "jaws Y");
  EXPECT_EQ(adjustments[0].control_points,
            static_cast<int>(planned.beams[1].control_points.size()));
  EXPECT_EQ(adjustments[1].shielded_by, "jaw X1");
  EXPECT_EQ(adjustments[3].leaf_pair, 28);
  EXPECT_EQ(adjustments[3].shielded_by, "jaw X2");
  EXPECT_NEAR(adjustments[3].smallest_planned_gap_mm, 0.2, 1e-9);
  EXPECT_NE(adjustments[3].message.find("leaf pair 28: planned closed (gap 0.2 mm)"),
            std::string::npos)
      << adjustments[3].message;
  const auto lines = summarise(adjustments);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0],
            "beam 'AP': 4 closed leaf pairs opened to 0.5 mm: 3 under jaws Y; 26-27 under jaw X1; "
            "28 under jaw X2");
}

TEST(MlcController, TheValidatorChecksTheAdjustedPlanAndListsTheAdjustments) {
  const Plan planned = plan_with_closed_pairs();
  const ValidationReport r = validate_plan(planned, profile());
  EXPECT_TRUE(r.deliverable) << (r.violations.empty() ? "" : r.violations[0].message);
  EXPECT_EQ(r.adjustments.size(), 4u);
  // The checksum is of the plan as given: what was approved is what the record names.
  EXPECT_EQ(r.plan_checksum, validate_plan(planned, profile()).plan_checksum);
  EXPECT_NE(r.plan_checksum, validate_plan(test::make_test_plan(), profile()).plan_checksum);
  EXPECT_NE(r.to_json().find("\"shielded_by\": \"jaw X1\""), std::string::npos);
}

TEST(MlcController, PairsClosedInTheOpenFieldOrCrossedAreRefusedNotMoved) {
  Plan p = test::make_test_plan();
  p.beams[1].control_points[1].leaf_a_mm[30] = 5.0;  // closed at x = 5: inside X -50..50
  p.beams[1].control_points[1].leaf_b_mm[30] = 5.0;
  p.beams[1].control_points[0].leaf_a_mm[40] = -3.0;  // crossed by 1 mm
  p.beams[1].control_points[0].leaf_b_mm[40] = -2.0;
  std::vector<Adjustment> adjustments;
  const Plan d = as_delivered(p, profile(), &adjustments);
  EXPECT_TRUE(adjustments.empty());
  EXPECT_EQ(d.beams[1].control_points[1].leaf_a_mm[30], 5.0);
  EXPECT_EQ(d.beams[1].control_points[0].leaf_b_mm[40], -2.0);
  const ValidationReport r = validate_plan(p, profile());
  EXPECT_FALSE(r.deliverable);
  bool in_field = false;
  bool crossed = false;
  for (const auto& v : r.violations) {
    in_field = in_field || (v.axis == "leaf pair 31" && v.control_point == 1 &&
                            v.message.find("inside the open field") != std::string::npos);
    crossed = crossed || (v.axis == "leaf pair 41" && v.control_point == 0 &&
                          v.message.find("the leaves cross") != std::string::npos);
  }
  EXPECT_TRUE(in_field);
  EXPECT_TRUE(crossed);
}

TEST(MlcController, TheMachineAnswersToItsNameAndItsAliasesOnly) {
  EXPECT_TRUE(profile().answers_to("ClinacIX"));
  EXPECT_TRUE(profile().answers_to("CLINAC_IX"));
  EXPECT_FALSE(profile().answers_to("clinacix"));  // exact: never a near match
  Plan p = test::make_test_plan();
  for (auto& b : p.beams) b.treatment_machine_name = "Clinac iX";
  EXPECT_TRUE(validate_plan(p, profile()).deliverable);
  p.beams[0].treatment_machine_name = "TrueBeam2";
  const auto r = validate_plan(p, profile());
  ASSERT_FALSE(r.deliverable);
  EXPECT_NE(r.violations[0].message.find("'TrueBeam2' is not this machine (it answers to "
                                         "'ClinacIX', 'Clinac iX', 'CLINAC_IX'"),
            std::string::npos)
      << r.violations[0].message;
  // A profile's aliases are checked when it loads.
  MachineProfile bad = profile();
  bad.machine_aliases = {"ClinacIX"};
  EXPECT_THROW((void)machine_profile_from_json(machine_profile_to_json(bad), "bad.json"),
               InputError);
  bad.machine_aliases = {""};
  EXPECT_THROW((void)machine_profile_from_json(machine_profile_to_json(bad), "bad.json"),
               InputError);
  MachineProfile good = profile();
  good.machine_aliases.push_back("iX_SITE2");
  EXPECT_EQ(machine_profile_from_json(machine_profile_to_json(good), "good.json").machine_aliases,
            good.machine_aliases);
}

}  // namespace
}  // namespace linac::delivery
