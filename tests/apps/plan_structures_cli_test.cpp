// `linac plan structures` on the built-in patient: a planning case folder that loads back, the
// registration against the simulation's truth, consistent structures, and bad options refused
// before any work.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "linac/core/mask.hpp"
#include "linac/formats/case_folder.hpp"
#include "test_support.hpp"

namespace linac {
namespace {

const std::string kLinac = LINAC_EXE;

TEST(CliPlanStructures, WritesAPlanningCaseOfTheBuiltInPatient) {
  test::TempDir dir;
  const auto r = test::run({kLinac, "plan", "structures", "--out", dir.path().string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_TRUE(j["registration"]["converged"].get<bool>());
  EXPECT_LT(j["truth"]["registration_error_mm_at_centre"].get<double>(), 0.5);
  std::map<std::string, double> volume;
  for (const auto& s : j["structures"]) volume[s["name"]] = s["volume_cm3"].get<double>();
  EXPECT_NEAR(volume["liver"], 3593.0, 0.03 * 3593.0);
  EXPECT_NEAR(volume["FLS"] + volume["ITV"], volume["liver"], 1e-6);
  EXPECT_GT(volume["PTV"], volume["ITV"]);
  const Case c = load_case(dir.path());
  const Mask& ptv = c.get("PTV").mask;
  const Mask& itv = c.get("ITV").mask;
  const Mask& fls = c.get("FLS").mask;
  for (std::size_t n = 0; n < ptv.size(); ++n) {
    ASSERT_FALSE(itv[n] != 0 && ptv[n] == 0);
    ASSERT_FALSE(itv[n] != 0 && fls[n] != 0);
  }
  EXPECT_NEAR(volume_cm3(ptv), volume["PTV"], 1e-6);
  for (const char* f :
       {"aip.mha", "mip.mha", "4dct/ct_phase_09.mha", "spect_ct/spect.mha", "spect_ct/ct.mha",
        "spect_on_planning.mha", "structures_axial.png", "structures_coronal.png",
        "structures_sagittal.png", "structures.json", "truth.json"}) {
    EXPECT_TRUE(std::filesystem::exists(dir / f)) << f;
  }
}

TEST(CliPlanStructures, BadOptionsAndCasesAreRefusedBeforeAnyWork) {
  test::TempDir dir;
  const std::vector<std::pair<std::vector<std::string>, std::string>> bad = {
      {{"--threshold", "0"}, "outside (0, 1]"},
      {{"--threshold", "1.5"}, "outside (0, 1]"},
      {{"--margin-mm", "-1"}, "--margin-mm"},
      {{"--case", (dir / "nothing").string()}, "nothing"},
  };
  for (const auto& [extra, expect] : bad) {
    std::vector<std::string> argv = {kLinac, "plan", "structures", "--out", (dir / "o").string()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    const auto r = test::run(argv);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find(expect), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  // A case without a liver.
  ASSERT_EQ(test::run({kLinac, "case", "make", "--out", (dir / "c").string(), "--spacing-mm", "8"})
                .exit_code,
            0);
  auto meta = nlohmann::json::parse(test::read_text(dir / "c" / "case.json"));
  auto& structures = meta["structures"];
  structures.erase(std::remove_if(structures.begin(), structures.end(),
                                  [](const auto& s) { return s["name"] == "liver"; }),
                   structures.end());
  test::write_text(dir / "c" / "case.json", meta.dump());
  const auto r = test::run({kLinac, "plan", "structures", "--case", (dir / "c").string(), "--out",
                            (dir / "o").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("liver"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace linac
