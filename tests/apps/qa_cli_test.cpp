// `linac qa` on real machine logs and on folders: two anonymised Dynalog pairs recorded by real
// Varian Clinacs (tests/data/varian-logs, pylinac's public test files) checked against the
// figures pylinac 2.2 computes for them, and a department's folder mixing logs with files that
// are not (a lone B file, a truncated log, a text file).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "linac/delivery/machine_log.hpp"
#include "test_support.hpp"

namespace linac {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::TempDir;

const std::string kLinac = LINAC_EXE;
const fs::path kLogs = fs::path(LINAC_SOURCE_DIR) / "tests" / "data" / "varian-logs";

const json* log_named(const json& report, const std::string& stem) {
  for (const auto& l : report["logs"]) {
    if (fs::path(l["file"].get<std::string>()).stem() == stem) return &l;
  }
  return nullptr;
}

TEST(CliQa, RealClinacDynalogsGivePylinacsFigures) {
  // The folder's README: pylinac 2.2.0's get_RMS_avg, get_RMS_max, get_error_percentile(95),
  // num_beamholds, in mm.
  const auto r =
      test::run({kLinac, "qa", kLogs.string(), "--json", "--dose-pct", "1", "--distance-mm", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json report = json::parse(r.out);
  ASSERT_EQ(report["logs"].size(), 2u) << report.dump(1);  // each pair once
  ASSERT_EQ(report["skipped"].size(), 1u);                 // README.md
  EXPECT_NE(report["skipped"][0]["reason"].get<std::string>().find("not a machine log"),
            std::string::npos);
  const json* vmat = log_named(report, "A_clinac_vmat");
  const json* imrt = log_named(report, "A_clinac_imrt_qa");
  ASSERT_TRUE(vmat != nullptr && imrt != nullptr);
  EXPECT_NEAR((*vmat)["rms_mm"]["mean"].get<double>(), 0.1898, 5e-4);
  EXPECT_NEAR((*vmat)["rms_mm"]["max"].get<double>(), 0.7124, 5e-4);
  EXPECT_NEAR((*vmat)["p95_mm"].get<double>(), 0.865, 5e-4);
  EXPECT_EQ((*vmat)["beam_holds"], 0);
  EXPECT_EQ((*vmat)["files"].size(), 2u);
  EXPECT_NEAR((*imrt)["rms_mm"]["mean"].get<double>(), 0.3734, 5e-4);
  EXPECT_NEAR((*imrt)["rms_mm"]["max"].get<double>(), 0.7557, 5e-4);
  EXPECT_NEAR((*imrt)["p95_mm"].get<double>(), 0.885, 5e-4);
  EXPECT_EQ((*imrt)["beam_holds"], 20);
  // pylinac's gamma convention (GammaFluence.calc_map(1, 1, 0.1, 0.1)) beside the product's.
  EXPECT_NEAR((*vmat)["gamma_pylinac"]["pass_pct"].get<double>(), 100.0, 1e-9);
  EXPECT_NEAR((*imrt)["gamma_pylinac"]["pass_pct"].get<double>(), 90.97, 0.005);
  EXPECT_NEAR((*imrt)["gamma_pylinac"]["mean"].get<double>(), 0.468, 0.0005);
  EXPECT_EQ((*imrt)["gamma_pylinac"]["criteria"], "1%/1mm, pylinac");
  EXPECT_TRUE(report["pass"].get<bool>());  // p95 < 1 mm, gamma >= 95 %
}

TEST(CliReplay, RealClinacVmatLogReplayedOnTheSimulatorRunsAsOnTheMachine) {
  // The digital twin: the real Clinac VMAT arc's control points rebuilt from its Dynalog and
  // delivered on the simulated Clinac (MLC lag calibrated on this log, machines/clinac-ix.json).
  TempDir dir;
  const auto r = test::run({kLinac, "replay", (kLogs / "A_clinac_vmat.dlg").string(), "--sim",
                            "--mu", "300", "--out", (dir / "replay").string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j["status"], "completed");
  EXPECT_EQ(j["control_points"], 178);  // 177 segment changes
  // Recorded: pylinac's figures; simulated beside them.
  EXPECT_NEAR(j["recorded"]["beam_on_s"].get<double>(), 73.4, 1e-9);
  EXPECT_NEAR(j["recorded"]["rms_mm"]["mean"].get<double>(), 0.190, 5e-4);
  EXPECT_EQ(j["recorded"]["beam_holds"], 0);
  const double beam_on = j["simulated"]["beam_on_s"].get<double>();
  EXPECT_NEAR(beam_on / 73.4, 1.0, 0.03) << beam_on;
  const double rms = j["simulated"]["rms_mm"]["mean"].get<double>();
  EXPECT_NEAR(rms / 0.190, 1.0, 0.30) << rms;
  EXPECT_NEAR(j["simulated"]["delivered_mu"].get<double>(), 300.0, 0.1);
  EXPECT_NEAR(j["simulated"]["gantry_travel_deg"].get<double>(),
              j["recorded"]["gantry_travel_deg"].get<double>(), 1.0);
  for (const char* k : {"p95_mm", "beam_holds", "gantry_speed_deg_per_s"}) {
    EXPECT_TRUE(j["simulated"].contains(k) && j["recorded"].contains(k)) << k;
  }
  // What the machine needed changed is said: the arc turned into the gantry's range, closed
  // pairs opened to the minimum gap, the recorded plan's MLC tolerance.
  EXPECT_EQ(j["notes"].size(), 3u) << j["notes"].dump();
  // --out keeps the rebuilt plan and the simulated logs, which linac qa reads.
  EXPECT_TRUE(fs::exists(dir / "replay" / "replay_rtplan.json"));
  const auto qa = test::run({kLinac, "qa", (dir / "replay" / "replay.bin").string(), "--json"});
  ASSERT_TRUE(qa.exit_code == 0 || qa.exit_code == 5) << qa.out << qa.err;  // 5: out of tolerance
  const json q = json::parse(qa.out);
  ASSERT_EQ(q["logs"].size(), 1u);
  EXPECT_NEAR(q["logs"][0]["rms_mm"]["mean"].get<double>(), rms, 1e-3);
  // A Dynalog does not carry the beam's MU: refused without --mu, naming the log.
  const auto no_mu = test::run({kLinac, "replay", (kLogs / "A_clinac_vmat.dlg").string(), "--sim"});
  EXPECT_EQ(no_mu.exit_code, 2);
  EXPECT_NE(no_mu.err.find("A_clinac_vmat.dlg"), std::string::npos) << no_mu.err;
  EXPECT_NE(no_mu.err.find("MU"), std::string::npos) << no_mu.err;
  const auto not_a_log = test::run({kLinac, "replay", (kLogs / "README.md").string(), "--sim"});
  EXPECT_EQ(not_a_log.exit_code, 2) << not_a_log.err;
}

TEST(CliQa, AnalysesAFolderAndNamesEveryFileItSkips) {
  TempDir dir;
  const fs::path dept = dir / "department";
  fs::create_directories(dept / "2026-11-30" / "vmat");
  fs::create_directories(dept / "2026-12-01");
  fs::copy_file(kLogs / "A_clinac_vmat.dlg", dept / "2026-11-30" / "vmat" / "A_clinac_vmat.dlg");
  fs::copy_file(kLogs / "B_clinac_vmat.dlg", dept / "2026-11-30" / "vmat" / "B_clinac_vmat.dlg");
  fs::copy_file(kLogs / "A_clinac_imrt_qa.dlg", dept / "2026-12-01" / "A_imrt.dlg");
  fs::copy_file(kLogs / "B_clinac_imrt_qa.dlg", dept / "2026-12-01" / "B_imrt.dlg");
  fs::copy_file(kLogs / "B_clinac_imrt_qa.dlg", dept / "2026-12-01" / "B_lone.dlg");
  {  // a log cut mid-line (a copy interrupted), with its partner whole
    const std::string a = test::read_text(kLogs / "A_clinac_imrt_qa.dlg");
    test::write_text(dept / "A_cut.dlg", a.substr(0, a.size() / 2 + 7));
    fs::copy_file(kLogs / "B_clinac_imrt_qa.dlg", dept / "B_cut.dlg");
  }
  test::write_text(dept / "notes.txt", "fraction 3: couch moved 2 mm\n");
  const fs::path out = dir / "qa";
  const auto r = test::run({kLinac, "qa", dept.string(), "--out", out.string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json report = json::parse(r.out);
  ASSERT_EQ(report["logs"].size(), 2u) << report.dump(1);
  std::map<std::string, std::string> skipped;
  for (const auto& s : report["skipped"]) {
    skipped[fs::path(s["file"].get<std::string>()).filename().string()] =
        s["reason"].get<std::string>();
  }
  ASSERT_EQ(skipped.size(), 4u) << report.dump(1);  // B_lone, A_cut, B_cut, notes.txt
  EXPECT_NE(skipped["B_lone.dlg"].find("partner file"), std::string::npos) << skipped["B_lone.dlg"];
  EXPECT_NE(skipped["A_cut.dlg"].find("A_cut.dlg: line"), std::string::npos)
      << skipped["A_cut.dlg"];
  EXPECT_FALSE(skipped["B_cut.dlg"].empty());
  EXPECT_NE(skipped["notes.txt"].find("not a machine log"), std::string::npos);
  // The outputs: JSON as printed, one CSV row per log, the report naming the skipped files.
  EXPECT_EQ(json::parse(test::read_text(out / "qa.json")), report);
  const std::string csv = test::read_text(out / "qa.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 3);
  const std::string html = test::read_text(out / "report.html");
  for (const auto& [name, reason] : skipped) EXPECT_NE(html.find(name), std::string::npos);
  EXPECT_NE(html.find("A_imrt.dlg"), std::string::npos);

  // A site's leaf RMS limit of 0.74 mm fails the IMRT field (largest leaf RMS 0.756 mm), not the
  // VMAT arc (0.712 mm): exit 5, the log named with why.
  const auto tight =
      test::run({kLinac, "qa", dept.string(), "--json", "--tolerance-rms-mm", "0.74"});
  EXPECT_EQ(tight.exit_code, 5) << tight.err;
  const json t = json::parse(tight.out);
  EXPECT_FALSE(t["pass"].get<bool>());
  const json* imrt = log_named(t, "A_imrt");
  ASSERT_NE(imrt, nullptr);
  EXPECT_FALSE((*imrt)["pass"].get<bool>());
  EXPECT_NE((*imrt)["failures"][0].get<std::string>().find("largest leaf RMS 0.756 mm > 0.74 mm"),
            std::string::npos)
      << (*imrt)["failures"].dump();
  EXPECT_TRUE(log_named(t, "A_clinac_vmat")->at("pass").get<bool>());  // 0.712 mm

  // A file named on the command line that is not a log is refused, as are bad tolerances.
  for (const auto& argv : std::vector<std::vector<std::string>>{
           {kLinac, "qa", (dept / "notes.txt").string()},
           {kLinac, "qa", dept.string(), "--tolerance-gamma-pct", "120"},
           {kLinac, "qa", dept.string(), "--tolerance-p95-mm", "0"}}) {
    const auto bad = test::run(argv);
    EXPECT_EQ(bad.exit_code, 2) << argv[2] << ": " << bad.err;
    EXPECT_EQ(std::count(bad.err.begin(), bad.err.end(), '\n'), 1) << bad.err;
  }
}

TEST(CliQa, AnonymizesCopiesOfTheLogsItAnalyses) {
  TempDir dir;
  const fs::path in = dir / "in";
  fs::create_directories(in);
  // A Dynalog pair named and headed with a patient's name and ID.
  for (const std::string bank : {"A", "B"}) {
    std::string text = test::read_text(kLogs / (bank + "_clinac_imrt_qa.dlg"));
    const auto l1 = text.find('\n');
    const auto l2 = text.find('\n', l1 + 1);
    text = text.substr(0, l1 + 1) + "Doe,John,PAT12345" + text.substr(l2);
    test::write_text(in / (bank + "PAT12345_imrt.dlg"), text);
  }
  // A trajectory log named the machine's way (patient ID first), with its .txt beside it.
  const auto vmat = delivery::read_machine_log(kLogs / "A_clinac_vmat.dlg");
  delivery::write_trajectory_log(vmat, in / "PAT12345_Plan1_Arc1_20261201.bin");
  test::write_text(in / "PAT12345_Plan1_Arc1_20261201.txt",
                   "Patient ID:\tPAT12345\nPlan Name:\tPlan1 for PAT12345\n");
  const fs::path anon = dir / "anon";
  // (Tolerances out of the way: this test is about the copies, not the figures.)
  const std::vector<std::string> loose{"--tolerance-gamma-pct", "0", "--tolerance-p95-mm", "100"};
  std::vector<std::string> argv{kLinac, "qa", in.string(), "--anonymize", anon.string(), "--json"};
  argv.insert(argv.end(), loose.begin(), loose.end());
  const auto r = test::run(argv);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json report = json::parse(r.out);
  ASSERT_EQ(report["logs"].size(), 2u) << report.dump(1);
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(anon)) {
    names.insert(e.path().filename().string());
    const std::string bytes = test::read_text(e.path());
    EXPECT_EQ(bytes.find("PAT12345"), std::string::npos) << e.path();
    EXPECT_EQ(bytes.find("Doe"), std::string::npos) << e.path();
    EXPECT_EQ(bytes.find("John"), std::string::npos) << e.path();
  }
  EXPECT_EQ(names, (std::set<std::string>{"AAnonymous_imrt.dlg", "BAnonymous_imrt.dlg",
                                          "Anonymous_Plan1_Arc1_20261201.bin",
                                          "Anonymous_Plan1_Arc1_20261201.txt"}));
  // The copies analyse to the same figures.
  std::vector<std::string> again_argv{kLinac, "qa", anon.string(), "--json"};
  again_argv.insert(again_argv.end(), loose.begin(), loose.end());
  const auto again = test::run(again_argv);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  const json copies = json::parse(again.out);
  ASSERT_EQ(copies["logs"].size(), 2u);
  for (const auto& l : copies["logs"]) {
    for (const auto& o : report["logs"]) {
      if (o["format"] != l["format"]) continue;
      EXPECT_EQ(o["rms_mm"], l["rms_mm"]);
      EXPECT_EQ(o["beam_holds"], l["beam_holds"]);
    }
  }
  // A copy never overwrites: a second run into the same folder is refused.
  const auto twice = test::run({kLinac, "qa", in.string(), "--anonymize", anon.string()});
  EXPECT_EQ(twice.exit_code, 2) << twice.err;
  EXPECT_NE(twice.err.find("exists already"), std::string::npos) << twice.err;
}

}  // namespace
}  // namespace linac
