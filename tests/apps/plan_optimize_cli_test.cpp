// `linac dose water` and `linac plan optimize` through the command line: the commissioning
// figures as JSON; a reduced double-arc plan of a coarse case with every file the issue names,
// a plan that `linac validate` accepts, an RT Dose that reads back; bad options refused.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "linac/core/distance_map.hpp"
#include "linac/formats/case_folder.hpp"
#include "linac/formats/dicom_rtdose.hpp"
#include "linac/simulators/phantom.hpp"
#include "test_support.hpp"

namespace linac {
namespace {

const std::string kLinac = LINAC_EXE;

TEST(CliDose, WaterPrintsTheCommissioningFigures) {
  const auto r = test::run({kLinac, "dose", "water", "--field", "100x100", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["field_mm"][0].get<double>(), 100.0);
  EXPECT_NEAR(j["dmax_mm"].get<double>(), 15.0, 2.0);
  EXPECT_NEAR(j["pdd_pct"]["50"].get<double>(), 86.5, 2.0);
  EXPECT_NEAR(j["pdd_pct"]["100"].get<double>(), 66.5, 2.0);
  EXPECT_NEAR(j["pdd_pct"]["200"].get<double>(), 38.5, 2.0);
  EXPECT_NEAR(j["penumbra_80_20_mm"].get<double>(), 4.0, 1.0);
  EXPECT_NEAR(j["output_factor"].get<double>(), 1.0, 1e-9);
  const auto s = test::run({kLinac, "dose", "water", "--field", "40x40", "--json"});
  ASSERT_EQ(s.exit_code, 0) << s.err;
  EXPECT_NEAR(nlohmann::json::parse(s.out)["output_factor"].get<double>(), 0.88, 0.02 * 0.88);
  EXPECT_EQ(test::run({kLinac, "dose", "water", "--field", "100by100"}).exit_code, 2);
  EXPECT_EQ(test::run({kLinac, "dose", "water", "--ssd-mm", "10"}).exit_code, 2);
}

TEST(CliDose, CommissionFitsTheModelAndWritesItsReport) {
  test::TempDir dir;
  const auto r = test::run({kLinac, "dose", "commission"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);  // a beam model file, as shipped
  EXPECT_EQ(j["format"], "linac-beam-model");
  EXPECT_EQ(j["format_version"], 2);
  EXPECT_EQ(j["beam_data"], "clinac-ix-6mv-beam-data.json");
  EXPECT_NE(r.err.find("PDD 10 cm, 3x3 cm"), std::string::npos) << r.err;
  // The report and the model file, with the summary as JSON.
  const auto rep =
      test::run({kLinac, "dose", "commission", "--report", (dir.path() / "report").string(),
                 "--out", (dir.path() / "model.json").string(), "--json"});
  ASSERT_EQ(rep.exit_code, 0) << rep.err;
  const auto s = nlohmann::json::parse(rep.out);
  EXPECT_EQ(s["figures"].size(), 80U);  // 11 fields x 7 figures, 2 horns, 1 out-of-field
  EXPECT_LE(s["figures_failed"].get<int>(), 1);
  EXPECT_FALSE(s["stop_reason"].get<std::string>().empty());
  const std::string html = test::read_text(dir.path() / "report" / "commissioning.html");
  EXPECT_NE(html.find("figures within tolerance"), std::string::npos);
  EXPECT_NE(html.find("data:image/png;base64,"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "report" / "pdd_table.png"));
  const auto water = test::run(
      {kLinac, "dose", "water", "--model", (dir.path() / "model.json").string(), "--json"});
  ASSERT_EQ(water.exit_code, 0) << water.err;
  EXPECT_NEAR(nlohmann::json::parse(water.out)["pdd_pct"]["100"].get<double>(), 66.5, 1.5);
  // A bad beam data file: exit 2, one line naming file and line, nothing written.
  test::write_text(dir.path() / "bad.csv",
                   "curve,field_x_mm,field_y_mm,ssd_mm,depth_mm,position_mm,dose_pct\n"
                   "pdd,100,100,1000,0,0,50\npdd,100,100,1000,10,0,100\npdd,100,100,1000,5,0,90\n");
  const auto bad = test::run(
      {kLinac, "dose", "commission", "--beam-data", (dir.path() / "bad.csv").string(), "--out",
       (dir.path() / "bad_model.json").string(), "--report", (dir.path() / "bad_report").string()});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("bad.csv:4"), std::string::npos) << bad.err;
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "bad_model.json"));
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "bad_report"));
}

TEST(CliCourse, RefusesBadOptionsBeforeAnyWork) {
  test::TempDir dir;
  EXPECT_EQ(test::run({kLinac, "course"}).exit_code, 2);  // neither --out nor --resume
  const auto resume = test::run({kLinac, "course", "--resume", dir.path().string()});
  EXPECT_EQ(resume.exit_code, 2);
  EXPECT_NE(resume.err.find("course_options.json"), std::string::npos) << resume.err;
  EXPECT_EQ(test::run({kLinac, "course", "--out", (dir.path() / "c").string(), "--fractions", "0"})
                .exit_code,
            2);
  EXPECT_EQ(test::run({kLinac, "course", "--out", (dir.path() / "d").string(), "--daemon",
                       "tcp://127.0.0.1:1"})
                .exit_code,
            2);  // a daemon without its keys
  for (const auto& [option, value] : std::vector<std::pair<std::string, std::string>>{
           {"--apertures", "random"},
           {"--overlap", "both"},
           {"--template", (dir.path() / "missing.json").string()}}) {
    const auto r =
        test::run({kLinac, "course", "--out", (dir.path() / "e").string(), option, value});
    EXPECT_EQ(r.exit_code, 2) << option;
    EXPECT_NE(r.err.find(option == "--template" ? "missing.json" : option), std::string::npos)
        << r.err;
  }
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "e" / "course_options.json"));
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "c" / "course_options.json"));
}

/// A coarse planning case: the built-in patient at 6 mm, FLS the liver's right third, PTV the
/// rest of the liver with a margin.
Case coarse_case(double margin_mm = 5.0) {
  sim::PhantomOptions po;
  po.spacing_mm = 6.0;
  Case c = sim::make_builtin_patient(po);
  const Mask& liver = c.get("liver").mask;
  const Grid& g = liver.grid();
  Mask fls(g, 0), itv(g, 0);
  const Eigen::Vector3d centre = treatment_isocentre_mm(c);
  for (std::size_t n = 0; n < liver.size(); ++n) {
    if (liver[n] == 0) continue;
    const auto ijk = g.index_of(n);
    const double x = g.index_to_world_mm(Eigen::Vector3d(static_cast<double>(ijk[0]), 0, 0)).x();
    (x < centre.x() - 40.0 ? fls : itv)[n] = 1;
  }
  c.structures.push_back({"FLS", "organ", fls});
  c.structures.push_back({"ITV", "target", itv});
  c.structures.push_back({"PTV", "target", expand_mm(itv, margin_mm)});
  return c;
}

TEST(CliPlanOptimize, TheOverlapPolicySparesTheFlsInsideThePtvMargin) {
  test::TempDir dir;
  save_case(coarse_case(12.0), dir.path() / "case");  // two voxels of the PTV's margin in the FLS
  auto plan = [&](const std::string& overlap) {
    const auto r = test::run({kLinac, "plan", "optimize", "--case", (dir.path() / "case").string(),
                              "--out", (dir.path() / overlap).string(), "--dose-grid-mm", "6",
                              "--cp-spacing-deg", "8", "--iterations", "30", "--points", "500",
                              "--no-baseline", "--overlap", overlap, "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.exit_code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json::object();
  };
  const auto target = plan("target");
  const auto spared = plan("spared");
  ASSERT_FALSE(target.empty());
  ASSERT_FALSE(spared.empty());
  EXPECT_EQ(target["overlap"].get<std::string>(), "target");
  EXPECT_EQ(target["optimised_target"].get<std::string>(), "PTV");
  EXPECT_EQ(spared["overlap"].get<std::string>(), "spared");
  EXPECT_EQ(spared["optimised_target"].get<std::string>(), "PTV-FLS");
  // Normalised on the PTV without the FLS; the FLS in the PTV's margin no longer a target.
  EXPECT_GE(spared["structures"]["PTV-FLS"]["d95_gy"].get<double>(), 19.5);
  EXPECT_LT(spared["ptv"]["d95_gy"].get<double>(), target["ptv"]["d95_gy"].get<double>());
  EXPECT_LT(spared["fls"]["mean_gy"].get<double>(), target["fls"]["mean_gy"].get<double>() - 0.15);
  std::printf("FLS mean: overlap target %.2f Gy, spared %.2f Gy; PTV D95 %.2f / %.2f Gy\n",
              target["fls"]["mean_gy"].get<double>(), spared["fls"]["mean_gy"].get<double>(),
              target["ptv"]["d95_gy"].get<double>(), spared["ptv"]["d95_gy"].get<double>());
  const auto bad = test::run({kLinac, "plan", "optimize", "--case", (dir.path() / "case").string(),
                              "--out", (dir.path() / "bad").string(), "--overlap", "both"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--overlap"), std::string::npos) << bad.err;
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "bad"));
  // The free-fluence diagnostic's, the beamlets', the exchange's, the leaf travel's and the DAO's
  // options out of range: refused, naming them, nothing written.
  for (const auto& [option, value] :
       std::vector<std::pair<std::string, std::string>>{{"--free-fluence", "-1"},
                                                        {"--free-fluence", "6000"},
                                                        {"--beamlet-cutoff-mm", "-2"},
                                                        {"--beamlet-cutoff-mm", "500"},
                                                        {"--exchange-sweeps", "-1"},
                                                        {"--exchange-sweeps", "51"},
                                                        {"--reroute-passes", "-1"},
                                                        {"--reroute-passes", "11"},
                                                        {"--leaf-travel-fraction", "0"},
                                                        {"--leaf-travel-fraction", "5"},
                                                        {"--generation-travel-fraction", "-1"},
                                                        {"--generation-travel-fraction", "4.5"},
                                                        {"--iterations", "-1"},
                                                        {"--iterations", "5001"}}) {
    const auto r = test::run({kLinac, "plan", "optimize", "--case", (dir.path() / "case").string(),
                              "--out", (dir.path() / "bad").string(), option, value});
    EXPECT_EQ(r.exit_code, 2) << option << " " << value;
    EXPECT_NE(r.err.find(option), std::string::npos) << r.err;
    EXPECT_FALSE(std::filesystem::exists(dir.path() / "bad"));
  }
}

TEST(CliPlanOptimize, WritesADeliverablePlanWithDoseDvhAndFigures) {
  test::TempDir dir;
  save_case(coarse_case(), dir.path() / "case");
  const auto out = dir.path() / "plan";
  const auto r =
      test::run({kLinac, "plan", "optimize", "--case", (dir.path() / "case").string(), "--out",
                 out.string(), "--dose-grid-mm", "6", "--cp-spacing-deg", "8", "--iterations", "30",
                 "--points", "500", "--fls-weight", "20", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["prescription_gy"].get<double>(), 20.0);
  EXPECT_EQ(j["fractions"].get<int>(), 5);
  EXPECT_GE(j["ptv"]["d95_gy"].get<double>(), 19.0);
  // The normalisation the optimiser's points predicted, beside the one the voxels needed.
  EXPECT_NEAR(j["points_normalisation"].get<double>(), j["normalisation"].get<double>(), 0.15);
  EXPECT_GT(j["ptv"]["d2_gy"].get<double>(), j["ptv"]["d95_gy"].get<double>());
  EXPECT_LT(j["fls"]["mean_gy"].get<double>(), j["fls"]["baseline_mean_gy"].get<double>());
  EXPECT_GE(j["fls"]["v5_pct"].get<double>(), j["fls"]["v10_pct"].get<double>());
  EXPECT_GE(j["fls"]["v10_pct"].get<double>(), j["fls"]["v15_pct"].get<double>());
  EXPECT_GT(j["fls"]["v15_pct"].get<double>(), 0.0);
  EXPECT_GE(j["fls"]["baseline_v15_pct"].get<double>(), 0.0);
  EXPECT_GT(j["liver"]["mean_gy"].get<double>(), 0.0);
  EXPECT_EQ(j["liver"]["tolerance"].size(), 2U);
  EXPECT_GT(j["total_mu"].get<double>(), 100.0);
  EXPECT_GT(j["predicted_beam_on_s"].get<double>(), 60.0);
  EXPECT_GT(j["optimizer_s"].get<double>(), 0.0);
  EXPECT_TRUE(j["deliverable"].get<bool>());
  for (const char* f :
       {"rtplan.json", "RP.LiverVMAT.dcm", "dose.mha", "RD.LiverVMAT.dcm", "baseline_rtplan.json",
        "baseline_dose.mha", "dvh.csv", "dvh.json", "dvh.png", "plan.json", "validation.json",
        "difference_axial.png", "difference_coronal.png", "difference_sagittal.png"}) {
    EXPECT_TRUE(std::filesystem::exists(out / f)) << f;
  }
  const auto v = test::run({kLinac, "validate", (out / "rtplan.json").string()});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  const auto vd = test::run({kLinac, "validate", (out / "RP.LiverVMAT.dcm").string()});
  EXPECT_EQ(vd.exit_code, 0) << vd.out << vd.err;
  const Volume<float> rd = read_dicom_rtdose(out / "RD.LiverVMAT.dcm");
  double max = 0.0;
  for (const float x : rd.data()) max = std::max(max, static_cast<double>(x));
  EXPECT_GT(max, 20.0);
  EXPECT_LT(max, 30.0);
  // One DICOM set: the plan refers to the planning structure set, the dose to the plan, all in
  // the CT's study and frame of reference; the plan and the dose pass dciodvfy.
  const auto rp_check = test::run({"/usr/bin/dciodvfy", (out / "RP.LiverVMAT.dcm").string()});
  EXPECT_EQ((rp_check.out + rp_check.err).find("Error"), std::string::npos) << rp_check.err;
  const auto rd_check = test::run({"/usr/bin/dciodvfy", (out / "RD.LiverVMAT.dcm").string()});
  EXPECT_EQ((rd_check.out + rd_check.err).find("Error"), std::string::npos) << rd_check.err;
  const auto set = test::run(
      {"/usr/bin/python3", "-c",
       "import sys, pydicom\n"
       "d = sys.argv[1]\n"
       "rs = pydicom.dcmread(d + '/dicom/RS.dcm'); ct = pydicom.dcmread(d + '/dicom/CT.0001.dcm')\n"
       "rp = pydicom.dcmread(d + '/RP.LiverVMAT.dcm'); rd = pydicom.dcmread(d + "
       "'/RD.LiverVMAT.dcm')\n"
       "print(rp.ReferencedStructureSetSequence[0].ReferencedSOPInstanceUID == rs.SOPInstanceUID,"
       " rd.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID == rp.SOPInstanceUID,"
       " len({x.StudyInstanceUID for x in (rs, ct, rp, rd)}),"
       " rd.FrameOfReferenceUID == ct.FrameOfReferenceUID,"
       " [r.ROIName for r in rs.StructureSetROISequence].count('PTV'))",
       out.string()});
  ASSERT_EQ(set.exit_code, 0) << set.err;
  EXPECT_EQ(set.out, "True True 1 True 1\n");
  const auto csv = test::read_text(out / "dvh.csv");
  EXPECT_EQ(csv.rfind("dose_gy,", 0), 0U);
  EXPECT_NE(csv.find("PTV_baseline"), std::string::npos);
  // Bad options: refused before any work.
  EXPECT_EQ(
      test::run({kLinac, "plan", "optimize", "--out", out.string(), "--fractions", "0"}).exit_code,
      2);
  EXPECT_EQ(test::run({kLinac, "plan", "optimize", "--case", (dir.path() / "nope").string(),
                       "--out", out.string()})
                .exit_code,
            2);
}

}  // namespace
}  // namespace linac
