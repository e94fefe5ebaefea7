// The `linac` command line, run as a separate process: help, exit codes, JSON, bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "linac/core/machine_profile.hpp"
#include "linac/formats/metaimage.hpp"
#include "linac/formats/plan_io.hpp"
#include "test_support.hpp"

namespace linac {
namespace {

using nlohmann::json;
using test::run;
using test::TempDir;

const std::string kLinac = LINAC_EXE;

test::RunResult linac(std::vector<std::string> args) {
  args.insert(args.begin(), kLinac);
  return run(args);
}

// One line on stderr that names `what`, exit code 2, nothing on stdout.
void expect_bad_input(const test::RunResult& r, const std::string& what) {
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find(what), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST(Cli, HelpAndVersion) {
  const auto help = linac({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("case make"), std::string::npos);
  EXPECT_NE(help.out.find("info"), std::string::npos);
  const auto sub = linac({"info", "--help"});
  EXPECT_EQ(sub.exit_code, 0);
  EXPECT_NE(sub.out.find("--structure"), std::string::npos);
  EXPECT_NE(sub.out.find("--json"), std::string::npos);
  const auto version = linac({"--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.out.rfind("linac ", 0), 0u);
  EXPECT_EQ(linac({}).exit_code, 2);
}

TEST(Cli, UnknownCommandsAndOptionsAreBadInput) {
  expect_bad_input(linac({"frobnicate"}), "unknown command 'frobnicate'");
  expect_bad_input(linac({"info", "--no-such-option"}), "no-such-option");
  expect_bad_input(linac({"case", "make"}), "--out");
  expect_bad_input(linac({"info", "--spacing-mm", "0.01"}), "--spacing-mm");
}

TEST(Cli, InfoOnTheBuiltInPatientReportsTheReferenceLiver) {
  const auto r = linac({"info", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j["image"]["dims"].size(), 3u);
  EXPECT_DOUBLE_EQ(j["image"]["spacing_mm"][0].get<double>(), 2.5);
  bool found = false;
  for (const auto& s : j["structures"]) {
    if (s["name"] == "liver") {
      found = true;
      EXPECT_NEAR(s["volume_cm3"].get<double>(), 3593.0, 0.02 * 3593.0);
      EXPECT_NEAR(s["voxels"].get<double>() * 2.5 * 2.5 * 2.5 / 1000.0,
                  s["volume_cm3"].get<double>(), 1e-6);
    }
  }
  EXPECT_TRUE(found);
  const auto text = linac({"info"});
  EXPECT_EQ(text.exit_code, 0);
  EXPECT_NE(text.out.find("liver"), std::string::npos);
}

TEST(Cli, CaseMakeWritesAFolderThatInfoReadsBack) {
  TempDir dir;
  const auto out = dir / "case";
  const auto made = linac({"case", "make", "--out", out.string(), "--spacing-mm", "5", "--json"});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  const json m = json::parse(made.out);
  EXPECT_TRUE(std::filesystem::exists(out / "case.json"));
  EXPECT_TRUE(std::filesystem::exists(out / "preview_axial.png"));
  const auto info = linac({"info", out.string(), "--json"});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  const json i = json::parse(info.out);
  EXPECT_EQ(i["structures"], m["structures"]);
  EXPECT_EQ(i["image"], m["image"]);
  // --structure narrows the report; an unknown one is bad input naming what exists.
  const auto one = linac({"info", out.string(), "--structure", "GTV", "--json"});
  ASSERT_EQ(one.exit_code, 0);
  EXPECT_EQ(json::parse(one.out)["structures"].size(), 1u);
  expect_bad_input(linac({"info", out.string(), "--structure", "pancreas"}),
                   "unknown structure 'pancreas'");
  // A single image.
  const auto img = linac({"info", (out / "liver.mha").string(), "--json"});
  ASSERT_EQ(img.exit_code, 0) << img.err;
  EXPECT_EQ(json::parse(img.out)["structures"][0]["name"], "liver");
}

TEST(Cli, BadFilesGiveOneLineAndExitTwo) {
  TempDir dir;
  expect_bad_input(linac({"info", (dir / "nothing").string()}), "no such folder");

  // A truncated image and one whose header lies about its size.
  Volume<std::int16_t> v(Grid{{10, 10, 10},
                              Eigen::Vector3d::Ones(),
                              Eigen::Vector3d::Zero(),
                              Eigen::Matrix3d::Identity()},
                         5);
  write_metaimage(dir / "img.mha", v);
  const std::string bytes = test::read_text(dir / "img.mha");
  test::write_text(dir / "cut.mha", bytes.substr(0, bytes.size() - 10));
  expect_bad_input(linac({"info", (dir / "cut.mha").string()}), "cut.mha: truncated");
  std::string lie = bytes;
  lie.replace(lie.find("DimSize = 10 10 10"), 18, "DimSize = 10 10 90");
  test::write_text(dir / "lie.mha", lie);
  expect_bad_input(linac({"info", (dir / "lie.mha").string()}), "lie.mha: truncated");

  // A case folder with bad JSON.
  std::filesystem::create_directory(dir / "badcase");
  test::write_text(dir / "badcase" / "case.json", "{\"format\": \"linac-case\", ");
  expect_bad_input(linac({"info", (dir / "badcase").string()}), "case.json: bad JSON");
}

TEST(Cli, ConvertRoundTripsPlansAndRefusesBadOnes) {
  TempDir dir;
  write_plan(dir / "plan.json", test::make_test_plan());
  const auto to_pb =
      linac({"convert", (dir / "plan.json").string(), (dir / "plan.pb").string(), "--json"});
  ASSERT_EQ(to_pb.exit_code, 0) << to_pb.err;
  EXPECT_DOUBLE_EQ(json::parse(to_pb.out)["total_mu"].get<double>(), 412.5);
  const auto back = linac({"convert", (dir / "plan.pb").string(), (dir / "back.json").string()});
  ASSERT_EQ(back.exit_code, 0) << back.err;
  EXPECT_EQ(test::read_text(dir / "back.json"), test::read_text(dir / "plan.json"));

  // To DICOM RT Plan and back: the same plan, checksum for checksum.
  ASSERT_EQ(linac({"convert", (dir / "plan.json").string(), (dir / "plan.dcm").string()}).exit_code,
            0);
  ASSERT_EQ(
      linac({"convert", (dir / "plan.dcm").string(), (dir / "from_dcm.json").string()}).exit_code,
      0);
  Plan expected = test::make_test_plan();
  for (auto& b : expected.beams)
    b.leaf_boundaries_mm = default_machine_profile().mlc.leaf_boundaries_mm;
  EXPECT_EQ(plan_checksum(read_plan(dir / "from_dcm.json")), plan_checksum(expected));

  test::write_text(dir / "bad.json", "{\"schema_version\": 1, \"beams\": [}");
  expect_bad_input(linac({"convert", (dir / "bad.json").string(), (dir / "o.pb").string()}),
                   "bad.json: bad plan JSON");
  EXPECT_FALSE(std::filesystem::exists(dir / "o.pb"));
  std::string nan_plan = test::read_text(dir / "plan.json");
  nan_plan.replace(nan_plan.find("\"gantry_angle_deg\": 181"), 23, "\"gantry_angle_deg\": \"NaN\"");
  test::write_text(dir / "nan.json", nan_plan);
  expect_bad_input(linac({"convert", (dir / "nan.json").string(), (dir / "o.pb").string()}),
                   "control point 0: gantry_angle_deg = nan is not a finite number");
}

TEST(Cli, ValidateExitCodesAndReport) {
  TempDir dir;
  write_plan(dir / "good.json", test::make_test_plan());
  const auto ok = linac({"validate", (dir / "good.json").string(), "--json"});
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  const json good = json::parse(ok.out);
  EXPECT_TRUE(good["deliverable"].get<bool>());
  EXPECT_EQ(good["beams"].size(), 2u);
  EXPECT_NEAR(good["beams"][1]["predicted_beam_on_s"].get<double>(), 10.0, 1e-9);

  Plan bad_plan = test::make_test_plan();
  bad_plan.beams[0].meterset_mu = 5000.0;                 // MU per degree above 20
  bad_plan.beams[1].control_points[1].jaw_x2_mm = 250.0;  // jaw beyond its travel
  bad_plan.beams[1].control_points[1].jaw_x1_mm = -60.0;
  write_plan(dir / "bad.pb", bad_plan);
  const auto bad = linac({"validate", (dir / "bad.pb").string(), "--json"});
  EXPECT_EQ(bad.exit_code, 3) << bad.err;
  const json report = json::parse(bad.out);
  EXPECT_FALSE(report["deliverable"].get<bool>());
  bool mu = false;
  bool jaw = false;
  for (const auto& v : report["violations"]) {
    mu = mu || (v["beam"] == "Arc1" && v["axis"] == "mu_per_deg" && v["limit"] == 20.0);
    jaw = jaw || (v["beam"] == "AP" && v["control_point"] == 1 && v["axis"] == "jaw X2" &&
                  v["value"] == 250.0 && v["limit"] == 200.0);
  }
  EXPECT_TRUE(mu) << bad.out;
  EXPECT_TRUE(jaw) << bad.out;
  const auto text = linac({"validate", (dir / "bad.pb").string()});
  EXPECT_EQ(text.exit_code, 3);
  EXPECT_NE(text.out.find("NOT deliverable"), std::string::npos);

  expect_bad_input(linac({"validate", (dir / "missing.json").string()}), "no such file");
  const std::string bytes = test::read_text(dir / "bad.pb");
  test::write_text(dir / "cut.pb", bytes.substr(0, bytes.size() / 3));
  expect_bad_input(linac({"validate", (dir / "cut.pb").string()}), "cut.pb");
}

// A sliding-window IMRT plan written the way a commercial planning system writes one (pydicom
// script in tests/data): closed pairs parked under the jaws, a tolerance table, the site's
// machine ID. Validated with the adjustments listed, and delivered on the simulator to the preset.
TEST(Cli, DeliversASlidingWindowPlanWrittenAsAPlanningSystemWritesIt) {
  TempDir dir;
  const std::string make = LINAC_SOURCE_DIR "/tests/data/make_sliding_window_rtplan.py";
  ASSERT_EQ(run({"/usr/bin/python3", make, (dir / "sw.dcm").string()}).exit_code, 0);
  const auto v = linac({"validate", (dir / "sw.dcm").string(), "--json"});
  ASSERT_EQ(v.exit_code, 0) << v.out << v.err;
  const json report = json::parse(v.out);
  EXPECT_TRUE(report["violations"].empty());
  ASSERT_EQ(report["adjustments"].size(), 74u);  // 37 closed pairs in each of 2 beams
  int x1 = 0;
  for (const auto& a : report["adjustments"]) {
    EXPECT_EQ(a["control_points"], 40);
    EXPECT_EQ(a["smallest_planned_gap_mm"], 0.0);
    x1 += a["shielded_by"] == "jaw X1" ? 1 : 0;
  }
  EXPECT_EQ(x1, 4);
  const auto text = linac({"validate", (dir / "sw.dcm").string()});
  EXPECT_NE(text.out.find("adjusted: beam 'G000': 37 closed leaf pairs opened to 0.5 mm: 1-18, "
                          "45-60 under jaws Y; 27-28 under jaw X1; 34 under jaw X2"),
            std::string::npos)
      << text.out;

  const auto d = linac(
      {"deliver", (dir / "sw.dcm").string(), "--sim", "--out", (dir / "out").string(), "--json"});
  ASSERT_EQ(d.exit_code, 0) << d.out << d.err;
  // The last line is the result (state events come before it).
  const std::string last = d.out.substr(d.out.find_last_of('\n', d.out.size() - 2) + 1);
  const json result = json::parse(last);
  EXPECT_EQ(result["status"], "completed");
  EXPECT_EQ(result["adjustments"].size(), 2u);
  ASSERT_EQ(result["beams"].size(), 2u);
  for (const auto& b : result["beams"]) {
    EXPECT_EQ(b["status"], "completed");
    EXPECT_NEAR(b["delivered_mu"][0].get<double>(), b["planned_mu"].get<double>(), 0.1) << b;
  }

  // The same fields as step-and-shoot (20 static segments each, the leaves moving between them
  // with no MU): delivered with the beam off during the 19 moves, no interlock hold.
  ASSERT_EQ(
      run({"/usr/bin/python3", make, (dir / "sns.dcm").string(), "--step-and-shoot"}).exit_code, 0);
  const auto sv = linac({"validate", (dir / "sns.dcm").string(), "--json"});
  ASSERT_EQ(sv.exit_code, 0) << sv.out << sv.err;
  EXPECT_TRUE(json::parse(sv.out)["warnings"].empty()) << sv.out;
  const auto sd = linac(
      {"deliver", (dir / "sns.dcm").string(), "--sim", "--out", (dir / "sns").string(), "--json"});
  ASSERT_EQ(sd.exit_code, 0) << sd.out << sd.err;
  const json sns = json::parse(sd.out.substr(sd.out.find_last_of('\n', sd.out.size() - 2) + 1));
  EXPECT_EQ(sns["status"], "completed") << sd.out;
  ASSERT_EQ(sns["beams"].size(), 2u);
  for (const auto& b : sns["beams"]) {
    EXPECT_EQ(b["status"], "completed") << b;
    EXPECT_EQ(b["beam_holds"], 0) << b;
    EXPECT_EQ(b["transitions"], 19) << b;
    EXPECT_NEAR(b["delivered_mu"][0].get<double>(), b["planned_mu"].get<double>(), 0.05) << b;
  }
  // A picket fence (7 static 5 mm pickets, the leaves moving beam-off between them).
  ASSERT_EQ(run({"/usr/bin/python3", make, (dir / "pf.dcm").string(), "--picket-fence"}).exit_code,
            0);
  const auto pf = linac(
      {"deliver", (dir / "pf.dcm").string(), "--sim", "--out", (dir / "pf").string(), "--json"});
  ASSERT_EQ(pf.exit_code, 0) << pf.out << pf.err;
  // The simulator's logs of the three deliveries, QA'd at 1 %/1 mm from the Dynalogs (50 ms)
  // and the trajectory logs (20 ms): the sliding window, step-and-shoot and the picket fence
  // (leaves moving with the beam off between static segments, sharp edges a gamma search must
  // resolve below its lattice) — expected and actual fluence agree, gamma >= 99 %, in the
  // product's convention and in pylinac's.
  for (const char* out : {"out", "sns", "pf"}) {
    const double least = 99.0;
    const auto qa =
        linac({"qa", (dir / out).string(), "--dose-pct", "1", "--distance-mm", "1", "--json"});
    ASSERT_EQ(qa.exit_code, 0) << qa.out << qa.err;
    const json q = json::parse(qa.out);
    ASSERT_EQ(q["logs"].size(), 4u)
        << out << q.dump(1);  // a Dynalog pair and a trajectory log per beam
    for (const auto& l : q["logs"]) {
      EXPECT_GE(l["gamma"]["pass_pct"].get<double>(), least) << out << l.dump();
      EXPECT_GE(l["gamma_pylinac"]["pass_pct"].get<double>(), least) << out << l.dump();
      EXPECT_GT(l["gamma_pylinac"]["evaluated_pixels"].get<int>(), 1000) << out << l.dump();
    }
  }
  // Each session is kept as a DICOM RT Beams Treatment Record referring to the plan delivered:
  // conformant (dciodvfy), and read by pydicom with the MU the session reports. A beam stopped
  // by an interlock is recorded as ended by the machine, with the interlock's code.
  const auto check_record = [&](const json& session, const std::string& want) {
    const std::string rt = session.value("rt_record", "");
    ASSERT_TRUE(std::filesystem::exists(rt)) << session.dump();
    const auto check = run({"/usr/bin/dciodvfy", rt});
    EXPECT_EQ((check.out + check.err).find("Error"), std::string::npos) << check.out << check.err;
    const auto peer =
        run({"/usr/bin/python3", "-c",
             "import sys, pydicom\n"
             "d = pydicom.dcmread(sys.argv[1]); p = pydicom.dcmread(sys.argv[2])\n"
             "print(d.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID == p.SOPInstanceUID)\n"
             "for b in d.TreatmentSessionBeamSequence:\n"
             "  print(b.BeamName, b.TreatmentTerminationStatus, b.get('TreatmentTerminationCode', "
             "'-'), '%.2f' % b.DeliveredPrimaryMeterset)",
             rt, (dir / "sns.dcm").string()});
    ASSERT_EQ(peer.exit_code, 0) << peer.err;
    // The first beam delivered in the session, as the session reports it.
    const json& b = session["beams"][0];
    char mu[32];
    std::snprintf(mu, sizeof(mu), "%.2f", b["delivered_mu"][0].get<double>());
    EXPECT_EQ(peer.out.substr(0, peer.out.find('\n', 5) + 1),
              "True\n" + b["name"].get<std::string>() + " " + want + " " + mu + "\n")
        << peer.out;
  };
  check_record(sns, "NORMAL -");
  const auto stuck =
      linac({"deliver", (dir / "sns.dcm").string(), "--sim", "--out", (dir / "sns").string(),
             "--fraction", "2", "--inject", "leaf_stuck:30@0.5", "--json"});
  ASSERT_EQ(stuck.exit_code, 4) << stuck.out << stuck.err;
  const json stopped =
      json::parse(stuck.out.substr(stuck.out.find_last_of('\n', stuck.out.size() - 2) + 1));
  EXPECT_EQ(stopped["status"], "interrupted");
  check_record(stopped, "MACHINE leaf_deviation");

  // Another machine's ID is refused naming the names this one answers to; a pair closed in the
  // open field is refused naming it (nothing delivered).
  ASSERT_EQ(run({"/usr/bin/python3", make, (dir / "tb.dcm").string(), "TrueBeam2"}).exit_code, 0);
  const auto tb =
      linac({"deliver", (dir / "tb.dcm").string(), "--sim", "--out", (dir / "tb").string()});
  EXPECT_EQ(tb.exit_code, 3);
  EXPECT_NE(tb.err.find("'TrueBeam2' is not this machine (it answers to 'ClinacIX'"),
            std::string::npos)
      << tb.err;
  ASSERT_EQ(
      run({"/usr/bin/python3", make, (dir / "in.dcm").string(), "--closed-in-field"}).exit_code, 0);
  const auto in = linac({"validate", (dir / "in.dcm").string()});
  EXPECT_EQ(in.exit_code, 3);
  EXPECT_NE(in.out.find("control point 0: leaf pair 31 gap 0 mm below the minimum 0.5 mm inside "
                        "the open field (no jaw shields it)"),
            std::string::npos)
      << in.out;
}

// What reading a plan assumed is said, not silent: pydicom's sample plan has jaw-only beams.
TEST(Cli, ValidateAndDeliverSayWhatReadingThePlanAssumed) {
  const std::string sample = "/usr/lib/python3/dist-packages/pydicom/data/test_files/rtplan.dcm";
  ASSERT_TRUE(std::filesystem::exists(sample)) << "python3-pydicom is in the Debian packages";
  const auto v = linac({"validate", sample, "--json"});
  EXPECT_EQ(v.exit_code, 3) << v.err;  // its machine is 'unit001', not this one
  const json report = json::parse(v.out);
  const auto& notes = report["notes"];
  EXPECT_NE(
      std::find(notes.begin(), notes.end(), "beam 1 'Field 1': no MLC; leaves opened to the jaws"),
      notes.end())
      << notes;
  EXPECT_NE(std::find(notes.begin(), notes.end(), "no target prescription dose in the plan"),
            notes.end())
      << notes;
  const auto text = linac({"validate", sample});
  EXPECT_NE(text.out.find("note: beam 1"), std::string::npos) << text.out;
}

// Beam modifiers the machine does not have are refused naming the beam and the item: delivering
// the beam without them would give another dose. Nothing is delivered.
TEST(Cli, RefusesPlansWithWedgesBlocksCompensatorsOrApplicators) {
  TempDir dir;
  const std::string make = LINAC_SOURCE_DIR "/tests/data/make_sliding_window_rtplan.py";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"wedge", "beam 2 'G090': has a wedge 'W30' (STANDARD), which this machine cannot deliver"},
      {"edw", "beam 2 'G090': has a wedge 'EDW60OUT' (DYNAMIC)"},
      {"block", "beam 2 'G090': has a block 'CORD'"},
      {"compensator", "beam 2 'G090': has a compensator, which"},
      {"applicator", "beam 2 'G090': has an applicator 'A10'"}};
  for (const auto& [kind, message] : cases) {
    const auto plan = dir / (kind + ".dcm");
    ASSERT_EQ(run({"/usr/bin/python3", make, plan.string(), "--modifier", kind}).exit_code, 0);
    const auto v = linac({"validate", plan.string()});
    EXPECT_EQ(v.exit_code, 2) << kind;
    EXPECT_NE(v.err.find(message), std::string::npos) << kind << ": " << v.err;
    const auto d = linac({"deliver", plan.string(), "--sim", "--out", (dir / kind).string()});
    EXPECT_EQ(d.exit_code, 2) << kind;
    EXPECT_FALSE(std::filesystem::exists(dir / kind / "record.db")) << kind;
  }
}

}  // namespace
}  // namespace linac
