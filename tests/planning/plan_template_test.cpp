// Plan templates: the shipped liver template is the optimiser's built-in default; objectives
// convert to the optimiser's levels; bad templates are refused naming the objective.
#include "linac/planning/plan_template.hpp"

#include <gtest/gtest.h>

#include "linac/core/error.hpp"
#include "test_support.hpp"

namespace linac::planning {
namespace {

TEST(PlanTemplate, TheShippedLiverTemplateIsTheDefault) {
  const PlanTemplate t =
      read_plan_template(std::filesystem::path(LINAC_SOURCE_DIR) / "data/templates/liver-fls.json");
  const std::vector<std::string> names{"body",    "liver",    "kidney_left", "kidney_right",
                                       "stomach", "duodenum", "bowel",       "spinal_cord",
                                       "FLS",     "ITV",      "PTV"};
  VmatOptions o;
  apply_plan_template(t, names, o);
  EXPECT_EQ(o.prescription_gy, 20.0);
  EXPECT_EQ(o.fractions, 5U);
  ASSERT_EQ(o.arcs.size(), 2U);
  EXPECT_EQ(o.arcs[1].direction, RotationDirection::kCounterClockwise);
  EXPECT_EQ(o.arcs[1].collimator_deg, 330.0);
  const auto defaults = default_objectives(VmatOptions{});
  ASSERT_EQ(o.objectives.size(), defaults.size());
  for (std::size_t n = 0; n < defaults.size(); ++n) {
    EXPECT_EQ(o.objectives[n].structure, defaults[n].structure) << n;
    EXPECT_EQ(o.objectives[n].kind, defaults[n].kind) << n;
    EXPECT_NEAR(o.objectives[n].level_pct, defaults[n].level_pct, 1e-9) << n;
    EXPECT_EQ(o.objectives[n].weight, defaults[n].weight) << n;
  }
}

// Two templates' objectives alike but for the weight: structure, kind and dose.
void expect_same_term(const PlanTemplate::Item& a, const PlanTemplate::Item& b, std::size_t n) {
  EXPECT_EQ(a.structure, b.structure) << n;
  EXPECT_EQ(a.kind, b.kind) << n;
  EXPECT_EQ(a.dose_gy, b.dose_gy) << n;
}

TEST(PlanTemplate, TheShippedSplitTemplateSplitsTheDefaultArcsWithTheSameObjectives) {
  const auto dir = std::filesystem::path(LINAC_SOURCE_DIR) / "data/templates";
  const PlanTemplate whole = read_plan_template(dir / "liver-fls.json");
  const PlanTemplate split = read_plan_template(dir / "liver-fls-split.json");
  ASSERT_EQ(whole.arcs.size(), 2U);
  ASSERT_EQ(split.arcs.size(), 4U);
  for (std::size_t n = 0; n < 4; ++n) {
    const ArcSpec& a = split.arcs[n];
    const ArcSpec& w = whole.arcs[n % 2];
    EXPECT_EQ(a.x_jaws, n < 2 ? ArcSpec::XJaws::kX1Half : ArcSpec::XJaws::kX2Half) << n;
    EXPECT_EQ(a.start_deg, w.start_deg) << n;
    EXPECT_EQ(a.stop_deg, w.stop_deg) << n;
    EXPECT_EQ(a.direction, w.direction) << n;
    EXPECT_EQ(a.collimator_deg, w.collimator_deg) << n;
  }
  ASSERT_EQ(split.objectives.size(), whole.objectives.size());
  for (std::size_t n = 0; n < whole.objectives.size(); ++n) {
    expect_same_term(split.objectives[n], whole.objectives[n], n);
    EXPECT_EQ(split.objectives[n].weight, whole.objectives[n].weight) << n;
  }
}

// Two templates' arcs alike: number, jaws, start, stop, direction and collimator.
void expect_same_arcs(const PlanTemplate& a, const PlanTemplate& b) {
  ASSERT_EQ(a.arcs.size(), b.arcs.size());
  for (std::size_t n = 0; n < b.arcs.size(); ++n) {
    EXPECT_EQ(a.arcs[n].x_jaws, b.arcs[n].x_jaws) << n;
    EXPECT_EQ(a.arcs[n].start_deg, b.arcs[n].start_deg) << n;
    EXPECT_EQ(a.arcs[n].stop_deg, b.arcs[n].stop_deg) << n;
    EXPECT_EQ(a.arcs[n].direction, b.arcs[n].direction) << n;
    EXPECT_EQ(a.arcs[n].collimator_deg, b.arcs[n].collimator_deg) << n;
  }
}

TEST(PlanTemplate, TheShippedSparingTemplateIsTheSplitOneWithThreeTimesTheFlsWeight) {
  const auto dir = std::filesystem::path(LINAC_SOURCE_DIR) / "data/templates";
  const PlanTemplate split = read_plan_template(dir / "liver-fls-split.json");
  const PlanTemplate sparing = read_plan_template(dir / "liver-fls-split-sparing.json");
  expect_same_arcs(sparing, split);
  ASSERT_EQ(sparing.objectives.size(), split.objectives.size());
  int fls_terms = 0;
  for (std::size_t n = 0; n < split.objectives.size(); ++n) {
    const auto& a = sparing.objectives[n];
    const auto& b = split.objectives[n];
    expect_same_term(a, b, n);
    if (b.structure == "FLS") {
      ++fls_terms;
      EXPECT_EQ(a.weight, 3.0 * b.weight) << n;
    } else {
      EXPECT_EQ(a.weight, b.weight) << n;
    }
  }
  EXPECT_EQ(fls_terms, 1);
}

TEST(PlanTemplate, TheShippedUniformTemplateIsTheSparingOneWithTheTargetHeldUniformAndSmoothMu) {
  const auto dir = std::filesystem::path(LINAC_SOURCE_DIR) / "data/templates";
  const PlanTemplate sparing = read_plan_template(dir / "liver-fls-split-sparing.json");
  const PlanTemplate uniform = read_plan_template(dir / "liver-fls-split-uniform.json");
  expect_same_arcs(uniform, sparing);
  // The sparing template's objectives, in order, and one uniform-dose term on the target.
  ASSERT_EQ(uniform.objectives.size(), sparing.objectives.size() + 1);
  std::size_t k = 0;
  int uniform_terms = 0;
  for (const auto& a : uniform.objectives) {
    if (a.kind == Objective::Kind::kUniformDose) {
      ++uniform_terms;
      EXPECT_EQ(a.structure, "PTV");
      EXPECT_EQ(a.weight, 3000.0);
      continue;
    }
    ASSERT_LT(k, sparing.objectives.size());
    const auto& b = sparing.objectives[k++];
    expect_same_term(a, b, k);
    EXPECT_EQ(a.weight, b.weight) << k;
  }
  EXPECT_EQ(uniform_terms, 1);
  // And the MU per degree held smooth (the routed plans' jumps cost ramps on the machine).
  EXPECT_FALSE(sparing.mu_smoothness.has_value());
  ASSERT_TRUE(uniform.mu_smoothness.has_value());
  EXPECT_EQ(*uniform.mu_smoothness, 30.0);
}

TEST(PlanTemplate, DvhObjectivesAndRefusals) {
  test::TempDir dir;
  test::write_text(dir / "t.json", R"({"prescription_gy": 50, "fractions": 25,
    "arcs": [{"start_deg": 181, "stop_deg": 179, "direction": "cw"}],
    "objectives": [{"structure": "core", "type": "max_dvh", "dose_gy": 10, "volume_pct": 10,
                    "weight": 60}]})");
  const PlanTemplate t = read_plan_template(dir / "t.json");
  VmatOptions o;
  apply_plan_template(t, {"body", "core", "PTV"}, o);
  ASSERT_EQ(o.objectives.size(), 1U);
  EXPECT_EQ(o.objectives[0].kind, Objective::Kind::kMaxDvh);
  EXPECT_NEAR(o.objectives[0].level_pct, 20.0, 1e-9);
  EXPECT_EQ(o.objectives[0].volume_pct, 10.0);
  EXPECT_EQ(o.arcs.size(), 1U);
  EXPECT_EQ(o.arcs[0].x_jaws, ArcSpec::XJaws::kFull);
  test::write_text(dir / "split.json", R"({"prescription_gy": 50, "fractions": 25,
    "arcs": [{"start_deg": 181, "stop_deg": 179, "direction": "cw", "x_jaws": "x1_half"},
             {"start_deg": 179, "stop_deg": 181, "direction": "ccw", "x_jaws": "x2_half"}],
    "objectives": [{"structure": "core", "type": "max_dose", "dose_gy": 10, "weight": 1}]})");
  const PlanTemplate split = read_plan_template(dir / "split.json");
  ASSERT_EQ(split.arcs.size(), 2U);
  EXPECT_EQ(split.arcs[0].x_jaws, ArcSpec::XJaws::kX1Half);
  EXPECT_EQ(split.arcs[1].x_jaws, ArcSpec::XJaws::kX2Half);
  // A uniform-dose term needs no level (it is relative to the structure's own mean).
  test::write_text(dir / "uniform.json", R"({"prescription_gy": 20, "fractions": 5,
    "objectives": [{"structure": "PTV", "type": "uniform_dose", "weight": 3000}]})");
  VmatOptions ou;
  apply_plan_template(read_plan_template(dir / "uniform.json"), {"body", "PTV"}, ou);
  ASSERT_EQ(ou.objectives.size(), 1U);
  EXPECT_EQ(ou.objectives[0].kind, Objective::Kind::kUniformDose);
  EXPECT_EQ(ou.objectives[0].structure, ou.evaluation_target());
  EXPECT_EQ(ou.objectives[0].weight, 3000.0);
  // The MU per degree's smoothness weight: taken when given, refused when negative.
  test::write_text(dir / "smooth.json", R"({"prescription_gy": 20, "fractions": 5,
    "mu_smoothness": 30,
    "objectives": [{"structure": "PTV", "type": "min_dose", "dose_gy": 20, "weight": 1}]})");
  VmatOptions os;
  EXPECT_EQ(os.mu_smoothness_weight, 0.0);
  apply_plan_template(read_plan_template(dir / "smooth.json"), {"body", "PTV"}, os);
  EXPECT_EQ(os.mu_smoothness_weight, 30.0);
  // The leaf travel the plan may use: taken when given, refused outside (0, 4].
  test::write_text(dir / "travel.json", R"({"prescription_gy": 20, "fractions": 5,
    "leaf_travel_fraction": 1.05, "generation_travel_fraction": 2.1,
    "objectives": [{"structure": "PTV", "type": "min_dose", "dose_gy": 20, "weight": 1}]})");
  VmatOptions ot;
  EXPECT_EQ(ot.leaf_travel_fraction, 0.8);
  EXPECT_EQ(ot.generation_travel_fraction, 0.5);
  apply_plan_template(read_plan_template(dir / "travel.json"), {"body", "PTV"}, ot);
  EXPECT_EQ(ot.leaf_travel_fraction, 1.05);
  EXPECT_EQ(ot.generation_travel_fraction, 2.1);
  for (const std::string bad :
       {R"("leaf_travel_fraction": 0)", R"("generation_travel_fraction": 4.5)"}) {
    test::write_text(dir / "far.json", R"({"prescription_gy": 20, "fractions": 5, )" + bad + R"(,
      "objectives": [{"structure": "PTV", "type": "min_dose", "dose_gy": 20, "weight": 1}]})");
    try {
      (void)read_plan_template(dir / "far.json");
      ADD_FAILURE() << bad << " was accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("lies outside (0, 4]"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("travel_fraction"), std::string::npos) << e.what();
    }
  }
  // The routed start's re-routing passes: taken when given, refused unless an integer in [0, 10].
  test::write_text(dir / "reroute.json", R"({"prescription_gy": 20, "fractions": 5,
    "reroute_passes": 0,
    "objectives": [{"structure": "PTV", "type": "min_dose", "dose_gy": 20, "weight": 1}]})");
  VmatOptions orr;
  EXPECT_EQ(orr.reroute_passes, 1);
  apply_plan_template(read_plan_template(dir / "reroute.json"), {"body", "PTV"}, orr);
  EXPECT_EQ(orr.reroute_passes, 0);
  for (const std::string bad : {"-1", "11", "1.5", "\"two\""}) {
    test::write_text(dir / "reroute_bad.json",
                     R"({"prescription_gy": 20, "fractions": 5, "reroute_passes": )" + bad + R"(,
      "objectives": [{"structure": "PTV", "type": "min_dose", "dose_gy": 20, "weight": 1}]})");
    try {
      (void)read_plan_template(dir / "reroute_bad.json");
      ADD_FAILURE() << "reroute_passes " << bad << " was accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("'reroute_passes' must be an integer in [0, 10]"),
                std::string::npos)
          << e.what();
      EXPECT_NE(std::string(e.what()).find("reroute_bad.json"), std::string::npos) << e.what();
    }
  }
  test::write_text(dir / "rough.json", R"({"prescription_gy": 20, "fractions": 5,
    "mu_smoothness": -1,
    "objectives": [{"structure": "PTV", "type": "min_dose", "dose_gy": 20, "weight": 1}]})");
  try {
    (void)read_plan_template(dir / "rough.json");
    ADD_FAILURE() << "a negative MU smoothness was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("'mu_smoothness' is negative"), std::string::npos)
        << e.what();
  }
  test::write_text(dir / "unknown.json", R"({"prescription_gy": 20, "fractions": 5,
    "objectives": [{"structure": "PTV", "type": "flat_dose", "weight": 3000}]})");
  try {
    (void)read_plan_template(dir / "unknown.json");
    ADD_FAILURE() << "an unknown objective type was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("'flat_dose' is not min_dose, max_dose, mean_dose, "
                                         "min_dvh, max_dvh or uniform_dose"),
              std::string::npos)
        << e.what();
  }
  try {
    apply_plan_template(t, {"body", "PTV"}, o);
    ADD_FAILURE() << "a template naming a missing structure was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("objectives[0] (core max_dvh)"), std::string::npos)
        << e.what();
  }
  test::write_text(dir / "bad.json", R"({"prescription_gy": 50, "fractions": 2.5,
    "objectives": [{"structure": "core", "type": "max_dose", "dose_gy": 10, "weight": 1}]})");
  EXPECT_THROW((void)read_plan_template(dir / "bad.json"), InputError);
  // Values of the wrong JSON type are refused by name (found by fuzzing: they escaped as the
  // JSON library's own exception).
  const std::vector<std::pair<std::string, std::string>> typed = {
      {R"("arcs": [{"start_deg": 181, "stop_deg": 179, "direction": 21.2}])", "'direction'"},
      {R"("arcs": [5])", "arcs[0]"},
      {R"("arcs": [{"start_deg": 181, "stop_deg": 179, "direction": "cw", "x_jaws": "x3"}])",
       "'x_jaws' 'x3' is not full, x1_half or x2_half"},
      {R"("arcs": [{"start_deg": 181, "stop_deg": 179, "direction": "cw"}])", "'structure'"}};
  for (const auto& [arcs, mention] : typed) {
    const bool bad_objective = mention == "'structure'";
    test::write_text(dir / "typed.json",
                     R"({"prescription_gy": 50, "fractions": 25, )" + arcs +
                         R"(, "objectives": [{"structure": )" + (bad_objective ? "7" : "\"core\"") +
                         R"(, "type": "max_dose", "dose_gy": 10, "weight": 1}]})");
    try {
      (void)read_plan_template(dir / "typed.json");
      ADD_FAILURE() << arcs;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(mention), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace linac::planning
