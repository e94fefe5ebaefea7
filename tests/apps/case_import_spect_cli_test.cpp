// `linac case import` of a whole patient: the GSA SPECT/CT as a SPECT/CT scanner exports it
// (pydicom: one multi-frame NM Image and its CT series in their own frame of reference) fused by
// `plan structures` as the simulated one is, RT Dose and RT Plan from other writers kept with the
// case, and the refusals: projections, frames out of order, no slice spacing, a dose on another
// frame of reference, several SPECTs without a choice.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "linac/formats/metaimage.hpp"
#include "linac/formats/plan_io.hpp"
#include "test_support.hpp"

namespace linac {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
const std::string kLinac = LINAC_EXE;
const std::string kMakeSpectCt = LINAC_SOURCE_DIR "/tests/data/make_spect_ct_dicom.py";
const std::string kPydicomFiles = "/usr/lib/python3/dist-packages/pydicom/data/test_files";

/// The planning case of the built-in patient (simulated SPECT/CT, 5 mm voxels) in `dir`/plan,
/// exported as DICOM to `dir`/dcm with the SPECT/CT added as a scanner writes it.
json plan_export_and_add_spect_ct(const fs::path& dir, const std::vector<std::string>& extra = {}) {
  auto r = test::run({kLinac, "plan", "structures", "--spacing-mm", "5", "--out",
                      (dir / "plan").string(), "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const json planned = json::parse(r.out);
  r = test::run(
      {kLinac, "case", "export", (dir / "plan").string(), "--out", (dir / "dcm").string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> make = {
      "/usr/bin/python3", kMakeSpectCt, (dir / "plan" / "spect_ct" / "spect.mha").string(),
      (dir / "plan" / "spect_ct" / "ct.mha").string(), (dir / "dcm").string()};
  make.insert(make.end(), extra.begin(), extra.end());
  r = test::run(make);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return planned;
}

double max_abs_difference(const Volume<float>& a, const Volume<float>& b) {
  double worst = 0.0;
  for (std::size_t n = 0; n < a.size(); ++n) {
    worst = std::max(worst, static_cast<double>(std::abs(a[n] - b[n])));
  }
  return worst;
}

double maximum(const Volume<float>& v) {
  double m = 0.0;
  for (std::size_t n = 0; n < v.size(); ++n) m = std::max(m, static_cast<double>(v[n]));
  return m;
}

json fls_of(const json& structures_json) {
  for (const auto& s : structures_json["structures"]) {
    if (s["name"] == "FLS") return s;
  }
  return {};
}

TEST(CliCaseImport, BringsASpectCtInThatPlanStructuresFusesAsTheSimulatedOne) {
  test::TempDir dir;
  const json planned = plan_export_and_add_spect_ct(dir.path());

  // The folder as it came: the planning CT, its structure set, the SPECT and its CT.
  auto r = test::run({kLinac, "info", (dir / "dcm").string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::map<std::string, int> modalities;
  const json folder = json::parse(r.out);  // kept: a range-for over a temporary's member dangles
  for (const auto& s : folder["series"]) ++modalities[s["modality"].get<std::string>()];
  EXPECT_EQ(modalities["CT"], 2);
  EXPECT_EQ(modalities["NM"], 1);
  EXPECT_EQ(modalities["RTSTRUCT"], 1);

  r = test::run({kLinac, "case", "import", (dir / "dcm").string(), "--out", (dir / "case").string(),
                 "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json imported = json::parse(r.out);
  ASSERT_TRUE(imported.contains("spect_ct"));
  // The planning CT is the exported one, not the SPECT/CT's.
  const auto planning_ct = read_metaimage<std::int16_t>(dir / "plan" / "ct.mha");
  EXPECT_EQ(imported["image"]["dims"][2], planning_ct.grid().dims[2]);
  // The SPECT on its grid, within the 16-bit quantisation of the export.
  const auto spect = read_metaimage<float>(dir / "plan" / "spect_ct" / "spect.mha");
  const auto spect_back = read_metaimage<float>(dir / "case" / "spect_ct" / "spect.mha");
  ASSERT_EQ(spect_back.grid().dims, spect.grid().dims);
  EXPECT_TRUE(spect_back.grid().origin_mm.isApprox(spect.grid().origin_mm, 1e-6));
  EXPECT_TRUE(spect_back.grid().spacing_mm.isApprox(spect.grid().spacing_mm, 1e-6));
  EXPECT_LE(max_abs_difference(spect_back, spect), maximum(spect) / 60000.0);
  const auto ct_back = read_metaimage<std::int16_t>(dir / "case" / "spect_ct" / "ct.mha");
  const auto ct = read_metaimage<std::int16_t>(dir / "plan" / "spect_ct" / "ct.mha");
  ASSERT_EQ(ct_back.grid().dims, ct.grid().dims);
  for (std::size_t n = 0; n < ct.size(); n += 101) ASSERT_EQ(ct_back[n], ct[n]) << n;

  // Planned again from the imported case, and straight from the DICOM folder, without
  // breathing (the CT is already the AIP): the same fusion and the same FLS as the simulation's.
  const json fls = fls_of(planned);
  for (const auto& source : {dir / "case", dir / "dcm"}) {
    const fs::path out = dir / ("again_" + source.filename().string());
    r = test::run({kLinac, "plan", "structures", "--case", source.string(), "--amplitude-mm", "0",
                   "--out", out.string(), "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const json again = json::parse(r.out);
    EXPECT_NE(again["spect_source"].get<std::string>().find(source.filename().string()),
              std::string::npos)
        << again["spect_source"];
    EXPECT_FALSE(again.contains("truth"));
    EXPECT_FALSE(fs::exists(out / "truth.json"));
    for (int a = 0; a < 3; ++a) {
      EXPECT_NEAR(again["registration"]["translation_mm"][a].get<double>(),
                  planned["registration"]["translation_mm"][a].get<double>(), 0.1);
      EXPECT_NEAR(again["registration"]["rotation_deg"][a].get<double>(),
                  planned["registration"]["rotation_deg"][a].get<double>(), 0.05);
    }
    EXPECT_NEAR(fls_of(again)["volume_cm3"].get<double>(), fls["volume_cm3"].get<double>(),
                0.01 * fls["volume_cm3"].get<double>());
    // One FLS, ITV and PTV: the case's own were replaced, not doubled.
    EXPECT_EQ(json::parse(test::read_text(out / "case.json"))["structures"].size(),
              json::parse(test::read_text(dir / "plan" / "case.json"))["structures"].size());
  }
}

TEST(CliCaseImport, ReadsASpectWhoseFramesRunAgainstTheNormal) {
  test::TempDir dir;
  (void)plan_export_and_add_spect_ct(dir.path(), {"--negative-spacing"});
  const auto r = test::run(
      {kLinac, "case", "import", (dir / "dcm").string(), "--out", (dir / "case").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto spect = read_metaimage<float>(dir / "plan" / "spect_ct" / "spect.mha");
  const auto back = read_metaimage<float>(dir / "case" / "spect_ct" / "spect.mha");
  ASSERT_EQ(back.grid().dims, spect.grid().dims);
  EXPECT_TRUE(back.grid().origin_mm.isApprox(spect.grid().origin_mm, 1e-6));
  EXPECT_LE(max_abs_difference(back, spect), maximum(spect) / 60000.0);
}

TEST(CliCaseImport, KeepsRtDoseAndRtPlanAndRefusesADoseOnAnotherFrame) {
  test::TempDir dir;
  (void)plan_export_and_add_spect_ct(dir.path());
  // pydicom's RT Plan and RT Dose, put on the exported CT's frame of reference; the dose's
  // maximum computed here from its 32-bit pixels and DoseGridScaling.
  const std::string script =
      "import glob, struct, sys, pydicom\n"
      "d = sys.argv[1]\n"
      "ct = next(x for x in (pydicom.dcmread(f, stop_before_pixels=True) for f in\n"
      "          sorted(glob.glob(d + '/CT.0*.dcm'))))\n"
      "plan = pydicom.dcmread(sys.argv[2] + '/rtplan.dcm')\n"
      "plan.FrameOfReferenceUID = ct.FrameOfReferenceUID\n"
      "plan.save_as(d + '/RP.other.dcm')\n"
      "dose = pydicom.dcmread(sys.argv[2] + '/rtdose.dcm')\n"
      "dose.FrameOfReferenceUID = ct.FrameOfReferenceUID\n"
      "dose.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID = plan.SOPInstanceUID\n"
      "dose.save_as(d + '/RD.other.dcm')\n"
      "n = len(dose.PixelData) // 4\n"
      "print(max(struct.unpack('<%dI' % n, dose.PixelData)) * float(dose.DoseGridScaling))\n";
  auto r = test::run({"/usr/bin/python3", "-c", script, (dir / "dcm").string(), kPydicomFiles});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const double max_gy = std::stod(r.out);
  r = test::run({kLinac, "case", "import", (dir / "dcm").string(), "--out", (dir / "case").string(),
                 "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  ASSERT_EQ(j["doses"].size(), 1U);
  ASSERT_EQ(j["plans"].size(), 1U);
  EXPECT_EQ(j["doses"][0]["referenced_plan_sop_instance_uid"], j["plans"][0]["sop_instance_uid"]);
  const auto dose = read_metaimage<float>(dir / "case" / "rtdose_1.mha");
  EXPECT_NEAR(maximum(dose), max_gy, 1e-6 * max_gy);
  const Plan plan = read_plan(dir / "case" / "rtplan_1.json");
  EXPECT_EQ(plan.beams.size(), 1U);
  EXPECT_FALSE(j["plans"][0]["notes"].empty());  // no MLC, no prescription: said so

  // pydicom's RT Dose as it is: another frame of reference. Refused, nothing written.
  fs::copy_file(fs::path(kPydicomFiles) / "rtdose.dcm", dir / "dcm" / "RD.foreign.dcm");
  r = test::run(
      {kLinac, "case", "import", (dir / "dcm").string(), "--out", (dir / "refused").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("RD.foreign.dcm: the RT Dose's FrameOfReferenceUID"), std::string::npos)
      << r.err;
  EXPECT_FALSE(fs::exists(dir / "refused"));
}

TEST(CliCaseImport, RefusesProjectionsFramesOutOfOrderNoSpacingAndTwoSpectsWithoutAChoice) {
  test::TempDir dir;
  (void)plan_export_and_add_spect_ct(dir.path());
  const fs::path spect = dir / "plan" / "spect_ct" / "spect.mha";
  const fs::path ct = dir / "plan" / "spect_ct" / "ct.mha";
  struct BadSpect {
    std::vector<std::string> option;
    std::string message;
  };
  const BadSpect cases[] = {
      {{"--image-type", "ORIGINAL\\PRIMARY\\TOMO\\EMISSION"}, "is not a reconstructed volume"},
      {{"--frames-shuffled"}, "SliceVector: frame 1 is slice 2"},
      {{"--no-spacing"}, "SpacingBetweenSlices (or SliceThickness) missing or zero"}};
  int k = 0;
  for (const auto& c : cases) {
    const fs::path folder = dir / ("bad" + std::to_string(++k));
    fs::copy(dir / "dcm", folder, fs::copy_options::recursive);
    // The good SPECT out, the bad one in.
    for (const auto& e : fs::directory_iterator(folder)) {
      const auto name = e.path().filename().string();
      if (name.rfind("NM.", 0) == 0 || name.rfind("CT.spect_ct", 0) == 0) fs::remove(e.path());
    }
    std::vector<std::string> make = {"/usr/bin/python3", kMakeSpectCt, spect.string(), ct.string(),
                                     folder.string()};
    make.insert(make.end(), c.option.begin(), c.option.end());
    ASSERT_EQ(test::run(make).exit_code, 0);
    const auto r =
        test::run({kLinac, "case", "import", folder.string(), "--out", (folder / "out").string()});
    EXPECT_EQ(r.exit_code, 2) << c.message;
    EXPECT_NE(r.err.find("NM.spect.dcm: "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "one line: " << r.err;
  }

  // Two SPECT/CTs in one folder: refused until one is chosen.
  const fs::path two = dir / "two";
  fs::copy(dir / "dcm", two, fs::copy_options::recursive);
  ASSERT_EQ(test::run({"/usr/bin/python3", kMakeSpectCt, spect.string(), ct.string(),
                       (two / "second").string()})
                .exit_code,
            0);
  auto r = test::run({kLinac, "case", "import", two.string(), "--out", (dir / "o1").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("2 NM series; choose one with --spect-series UID"), std::string::npos)
      << r.err;
  // The planning CT is still found among three CT series (two are the SPECT/CTs').
  r = test::run({kLinac, "info", (two / "second").string(), "--json"});
  std::string uid;
  const json second = json::parse(r.out);
  for (const auto& s : second["series"]) {
    if (s["modality"] == "NM") uid = s["series_instance_uid"];
  }
  r = test::run({kLinac, "case", "import", two.string(), "--out", (dir / "o2").string(),
                 "--spect-series", uid, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["spect_ct"]["spect_series_instance_uid"], uid);

  // A SPECT without its CT: nothing to register it by, left out with a note.
  const fs::path alone = dir / "alone";
  fs::copy(dir / "dcm", alone, fs::copy_options::recursive);
  for (const auto& e : fs::directory_iterator(alone)) {
    if (e.path().filename().string().rfind("CT.spect_ct", 0) == 0) fs::remove(e.path());
  }
  r = test::run(
      {kLinac, "case", "import", alone.string(), "--out", (dir / "o3").string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_FALSE(j.contains("spect_ct"));
  ASSERT_EQ(j["notes"].size(), 1U);
  EXPECT_NE(j["notes"][0].get<std::string>().find("no CT series in its frame of reference"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(dir / "o3" / "spect_ct"));
}

}  // namespace
}  // namespace linac
