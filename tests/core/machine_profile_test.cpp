// The machine profile: the shipped Clinac iX file, and refusal of missing or contradictory limits.
#include "linac/core/machine_profile.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "linac/core/error.hpp"
#include "test_support.hpp"

namespace linac {
namespace {

using nlohmann::json;

json shipped() {
  return json::parse(test::read_text(machines_dir() / "clinac-ix.json"));
}

std::string error_for(const json& j) {
  try {
    (void)machine_profile_from_json(j.dump(), "m.json");
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(MachineProfile, ShippedClinacIxHasTheFiguresOfItsSpecification) {
  const MachineProfile p = default_machine_profile();
  EXPECT_EQ(p.machine_name, "ClinacIX");
  EXPECT_EQ(p.mlc.leaf_pairs, 60);
  ASSERT_EQ(p.mlc.leaf_boundaries_mm.size(), 61u);
  EXPECT_DOUBLE_EQ(p.mlc.leaf_boundaries_mm.front(), -200.0);
  EXPECT_DOUBLE_EQ(p.mlc.leaf_boundaries_mm.back(), 200.0);
  int five = 0;
  int ten = 0;
  for (int n = 0; n < 60; ++n) {
    (p.mlc.leaf_width_mm(n) == 5.0 ? five : ten) += 1;
    if (n >= 10 && n < 50) {
      EXPECT_DOUBLE_EQ(p.mlc.leaf_width_mm(n), 5.0) << n;
    }
  }
  EXPECT_EQ(five, 40);
  EXPECT_EQ(ten, 20);
  EXPECT_DOUBLE_EQ(p.mlc.max_leaf_speed_mm_per_s, 25.0);
  EXPECT_DOUBLE_EQ(p.mlc.max_bank_span_mm, 145.0);
  EXPECT_DOUBLE_EQ(p.gantry.max_speed_deg_per_s, 4.8);
  EXPECT_DOUBLE_EQ(p.dose.max_dose_rate_mu_per_min, 600.0);
  EXPECT_DOUBLE_EQ(p.dose.max_mu_per_deg, 20.0);
  EXPECT_DOUBLE_EQ(p.imager.source_imager_distance_mm, 1500.0);
  EXPECT_EQ(p.imager.panel_columns, 1024);
  EXPECT_DOUBLE_EQ(p.interlocks.control_cycle_s, 0.02);
  // Round trip through JSON.
  const MachineProfile back = machine_profile_from_json(machine_profile_to_json(p), "rt");
  EXPECT_EQ(back.mlc.leaf_boundaries_mm, p.mlc.leaf_boundaries_mm);
  EXPECT_EQ(back.dose.fixed_dose_rates_mu_per_min, p.dose.fixed_dose_rates_mu_per_min);
}

TEST(MachineProfile, MissingLimitsAreRefused) {
  json j = shipped();
  j["mlc"].erase("max_leaf_speed_mm_per_s");
  EXPECT_NE(error_for(j).find(
                "m.json: mlc.max_leaf_speed_mm_per_s: = 0 must be a positive number (missing?)"),
            std::string::npos)
      << error_for(j);
  j = shipped();
  j.erase("couch");
  EXPECT_NE(error_for(j).find("missing couch"), std::string::npos);
  j = shipped();
  j["gantry"]["typo_speed"] = 3;
  EXPECT_NE(error_for(j).find("bad machine profile JSON"), std::string::npos);
}

TEST(MachineProfile, ContradictoryLimitsAreRefused) {
  json j = shipped();
  j["mlc"]["leaf_boundaries_mm"][30] = -50.0;
  EXPECT_NE(error_for(j).find("mlc.leaf_boundaries_mm[30]"), std::string::npos);
  j = shipped();
  j["mlc"]["leaf_boundaries_mm"].erase(0);
  EXPECT_NE(error_for(j).find("has 60 values, leaf_pairs + 1 = 61"), std::string::npos);
  j = shipped();
  j["mlc"]["max_bank_span_mm"] = 450.0;
  EXPECT_NE(error_for(j).find("max_bank_span_mm: = 450 exceeds"), std::string::npos);
  j = shipped();
  j["dose"]["fixed_dose_rates_mu_per_min"].push_back(1000);
  EXPECT_NE(error_for(j).find("fixed_dose_rates_mu_per_min[6]: = 1000 exceeds max_dose_rate"),
            std::string::npos);
  j = shipped();
  j["dose"]["min_mu_per_deg"] = 30;
  EXPECT_NE(error_for(j).find("min_mu_per_deg"), std::string::npos);
  j = shipped();
  j["gantry"]["min_deg"] = 200;
  EXPECT_NE(error_for(j).find("gantry.min_deg"), std::string::npos);
  j = shipped();
  j["imager"]["panel_columns"] = 512;
  EXPECT_NE(error_for(j).find("imager.panel_width_mm"), std::string::npos);
  j = shipped();
  j["imager"]["source_imager_distance_mm"] = 900;
  EXPECT_NE(error_for(j).find("must exceed source_axis_distance_mm"), std::string::npos);
  j = shipped();
  j["dose"]["secondary_limit_over_preset_mu"] = 0.5;
  EXPECT_NE(error_for(j).find("secondary_limit_over_preset_mu"), std::string::npos);
  j = shipped();
  j["couch"]["max_correction_rotation_deg"] = 100;
  EXPECT_NE(error_for(j).find("max_correction_rotation_deg"), std::string::npos);
  j = shipped();
  j["schema_version"] = 2;
  EXPECT_NE(error_for(j).find("schema_version = 2"), std::string::npos);
}

}  // namespace
}  // namespace linac
