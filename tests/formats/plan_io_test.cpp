// The plan file: JSON and binary round trips, and refusal of bad plans.
#include "linac/formats/plan_io.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "linac/core/error.hpp"
#include "linac/plan.pb.h"
#include "test_support.hpp"

namespace linac {
namespace {

using test::TempDir;

// Every value delivery depends on is in the checksum, so equal checksums mean equal plans.
void expect_same(const Plan& a, const Plan& b) {
  EXPECT_EQ(plan_checksum(a), plan_checksum(b));
}

TEST(PlanIo, RoundTripsThroughJsonAndBinary) {
  TempDir dir;
  Plan plan = test::make_test_plan();
  plan.beams[0].control_points[1].leaf_a_mm[17] = 12.345678901234;
  write_plan(dir / "plan.json", plan);
  write_plan(dir / "plan.pb", plan);
  expect_same(read_plan(dir / "plan.json"), plan);
  expect_same(read_plan(dir / "plan.pb"), plan);
  EXPECT_DOUBLE_EQ(plan.total_mu(), 412.5);
  // The JSON is Protobuf's mapping with our field names.
  const std::string json = test::read_text(dir / "plan.json");
  EXPECT_NE(json.find("\"leaf_positions_bank_a_mm\""), std::string::npos);
  EXPECT_NE(json.find("\"BEAM_ARC\""), std::string::npos);
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(PlanIo, NamesBeamControlPointAndFieldOfABadValue) {
  Plan plan = test::make_test_plan();
  plan.beams[0].control_points[2].leaf_b_mm[7] = std::numeric_limits<double>::quiet_NaN();
  const std::string json = plan_to_json(plan);
  const std::string e = error_of([&] { (void)plan_from_json(json, "p.json"); });
  EXPECT_NE(e.find("p.json: beam 1 'Arc1': control point 2"), std::string::npos) << e;
  EXPECT_NE(e.find("leaf_positions_bank_b_mm[7]"), std::string::npos) << e;
  EXPECT_NE(e.find("not a finite number"), std::string::npos) << e;
}

TEST(PlanIo, RefusesStructuralProblems) {
  {
    Plan p = test::make_test_plan();
    p.beams[1].control_points[0].leaf_a_mm.resize(59);
    EXPECT_NE(error_of([&] {
                (void)plan_from_json(plan_to_json(p), "x");
              }).find("leaf_positions_bank_a_mm has 59 leaves, the MLC has 60 pairs"),
              std::string::npos);
  }
  {
    Plan p = test::make_test_plan();
    p.beams[0].control_points[1].gantry_deg = 361.0;
    EXPECT_NE(error_of([&] { check_plan_structure(p, "x"); }).find("gantry_angle_deg = 361"),
              std::string::npos);
  }
  {
    Plan p = test::make_test_plan();
    p.beams[0].control_points[3].cumulative_meterset_weight = 1.5;
    EXPECT_NE(error_of([&] { check_plan_structure(p, "x"); }).find("cumulative_meterset_weight"),
              std::string::npos);
  }
  {
    Plan p = test::make_test_plan();
    p.beams[0].control_points[0].jaw_x1_mm = 60.0;
    EXPECT_NE(error_of([&] { check_plan_structure(p, "x"); }).find("jaw_x1_mm = 60 lies beyond"),
              std::string::npos);
  }
  {
    Plan p = test::make_test_plan();
    p.beams[0].control_points.resize(1);
    EXPECT_NE(error_of([&] { check_plan_structure(p, "x"); }).find("at least 2"),
              std::string::npos);
  }
  {
    Plan p = test::make_test_plan();
    p.beams[0].meterset_mu = 1e308 * 10;
    EXPECT_NE(error_of([&] { check_plan_structure(p, "x"); }).find("beam_meterset_mu"),
              std::string::npos);
  }
  {
    Plan p = test::make_test_plan();
    p.prescription.fractions = 0;
    EXPECT_NE(error_of([&] { check_plan_structure(p, "x"); }).find("fractions = 0"),
              std::string::npos);
  }
}

TEST(PlanIo, RefusesMissingFieldsAndBadJson) {
  pb::Plan msg;
  plan_to_proto(test::make_test_plan(), &msg);
  msg.mutable_beams(0)->mutable_control_points(1)->clear_gantry_angle_deg();
  EXPECT_NE(error_of([&] {
              (void)plan_from_proto(msg, "x");
            }).find("control point 1: missing gantry_angle_deg"),
            std::string::npos);
  plan_to_proto(test::make_test_plan(), &msg);
  msg.set_schema_version(7);
  EXPECT_NE(error_of([&] { (void)plan_from_proto(msg, "x"); }).find("schema_version = 7"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              (void)plan_from_json("{\"beams\": [", "bad.json");
            }).find("bad.json: bad plan JSON"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              (void)plan_from_json("{\"no_such_field\": 1}", "u.json");
            }).find("u.json: bad plan JSON"),
            std::string::npos);
}

TEST(PlanIo, ChecksumChangesWithAnyEditAndSurvivesFileRoundTrips) {
  TempDir dir;
  const Plan plan = test::make_test_plan();
  const std::string sum = plan_checksum(plan);
  EXPECT_EQ(sum.size(), 64u);
  EXPECT_EQ(plan_checksum(test::make_test_plan()), sum);
  write_plan(dir / "p.pb", plan);
  write_plan(dir / "p.json", plan);
  EXPECT_EQ(plan_checksum(read_plan(dir / "p.pb")), sum);
  EXPECT_EQ(plan_checksum(read_plan(dir / "p.json")), sum);
  Plan edited = plan;
  edited.beams[0].control_points[2].leaf_a_mm[40] += 0.01;  // a hundredth of a millimetre
  EXPECT_NE(plan_checksum(edited), sum);
  edited = plan;
  edited.beams[1].meterset_mu += 1.0;
  EXPECT_NE(plan_checksum(edited), sum);
}

TEST(PlanIo, TruncatedOrMissingFilesAreRefused) {
  TempDir dir;
  write_plan(dir / "plan.pb", test::make_test_plan());
  const std::string bytes = test::read_text(dir / "plan.pb");
  test::write_text(dir / "cut.pb", bytes.substr(0, bytes.size() / 2));
  EXPECT_NE(error_of([&] { (void)read_plan(dir / "cut.pb"); }).find("cut.pb"), std::string::npos);
  EXPECT_NE(error_of([&] { (void)read_plan(dir / "none.json"); }).find("no such file"),
            std::string::npos);
  // Writing refuses an invalid plan and leaves nothing behind.
  Plan bad = test::make_test_plan();
  bad.beams.clear();
  EXPECT_THROW(write_plan(dir / "bad.json", bad), InputError);
  EXPECT_FALSE(std::filesystem::exists(dir / "bad.json"));
}

}  // namespace
}  // namespace linac
