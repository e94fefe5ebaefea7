// Delivery end to end with real processes: `linac deliver` as the controller, the simulator
// daemon over ZeroMQ on loopback, the treatment record in SQLite, logs on disk and `linac qa`.
// Kill-and-resume on each side (SIGKILL), link loss, a full disk, and the acceptance figures
// of a fault-free delivery of the sample VMAT plan.
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "daemon_fixture.hpp"
#include "linac/delivery/treatment_record.hpp"
#include "linac/formats/plan_io.hpp"
#include "test_support.hpp"

namespace linac {
namespace {

using nlohmann::json;
using test::Daemon;
using test::kLinac;
using test::TempDir;

const std::filesystem::path kPlans = LINAC_SOURCE_DIR "/data/plans";

std::vector<std::string> daemon_args(const Daemon& d) {
  return {"--daemon",     d.endpoint(),
          "--server-key", (d.dir() / "server.pub").string(),
          "--client-key", (d.dir() / "client.key").string()};
}

std::vector<std::string> deliver_argv(const std::filesystem::path& plan, const TempDir& out,
                                      std::vector<std::string> extra) {
  std::vector<std::string> a = {kLinac,  "deliver",           plan.string(),
                                "--out", out.path().string(), "--json"};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

std::filesystem::path test_plan_file(const TempDir& dir) {
  const auto p = dir / "plan.json";
  write_plan(p, test::make_test_plan());
  return p;
}

std::string checksum_of(const std::filesystem::path& plan) {
  return plan_checksum(read_plan(plan));
}

// Waits until `text` appears on the process's stderr.
bool wait_for_stderr(test::Process& p, const std::string& text, double timeout_s) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (std::chrono::steady_clock::now() < end) {
    if (p.stderr_text().find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

json last_json_line(const std::string& out) {
  const auto end = out.find_last_not_of('\n');
  const auto start = out.rfind('\n', end);
  return json::parse(out.substr(start == std::string::npos ? 0 : start + 1));
}

TEST(DeliveryEndToEnd, FaultFreeVmatThroughTheDaemonMeetsTheQaAcceptance) {
  Daemon daemon;
  TempDir out;
  const auto plan = kPlans / "vmat_double_arc.json";
  const auto r = test::run(deliver_argv(plan, out, daemon_args(daemon)));
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  const json j = last_json_line(r.out);
  ASSERT_EQ(j["status"], "completed");
  ASSERT_EQ(j["beams"].size(), 2u);
  std::vector<std::string> logs;
  for (const auto& b : j["beams"]) {
    EXPECT_NEAR(b["delivered_mu"][0].get<double>(), b["planned_mu"].get<double>(), 0.1);
    EXPECT_TRUE(b["interrupts"].empty());
    ASSERT_EQ(b["logs"].size(), 3u);  // A and B Dynalogs, trajectory log
    for (const auto& l : b["logs"]) logs.push_back(l.get<std::string>());
  }
  std::vector<std::string> qa = {kLinac, "qa", "--json", "--dose-pct", "1", "--distance-mm", "1"};
  qa.insert(qa.end(), logs.begin(), logs.end());
  const auto q = test::run(qa);
  ASSERT_EQ(q.exit_code, 0) << q.err;
  const json report = json::parse(q.out);
  ASSERT_EQ(report["logs"].size(), 4u);  // each Dynalog pair once, each trajectory log
  for (const auto& l : report["logs"]) {
    EXPECT_LT(l["rms_mm"]["mean"].get<double>(), 0.5) << l.dump();
    EXPECT_GE(l["gamma"]["pass_pct"].get<double>(), 99.0) << l.dump();
    EXPECT_EQ(l["gamma"]["criteria"], "1%/1mm");
    EXPECT_EQ(l["beam_holds"], 0);
    if (l["format"] == "trajectory") {
      EXPECT_GT(l["mu"].get<double>(), 330.0);
    }
  }
  const delivery::TreatmentRecord record(out / "record.db", checksum_of(plan));
  EXPECT_TRUE(record.beam_completed(1, "Arc1"));
  EXPECT_TRUE(record.beam_completed(1, "Arc2"));
}

// SAFETY row 15: the controller is killed mid-beam; the record holds the MU up to its last
// commit and a new controller on the same machine resumes to the preset within 0.1 MU.
TEST(DeliveryEndToEnd, ControllerKilledMidBeamResumesToThePreset) {
  Daemon daemon;
  TempDir out;
  const auto plan = test_plan_file(out);
  auto argv = deliver_argv(plan, out, daemon_args(daemon));
  argv.insert(argv.end(), {"--pace", "20"});
  {
    test::Process controller(argv);
    ASSERT_TRUE(wait_for_stderr(
        controller, "\"beam\":\"Arc1\",\"event\":\"state\",\"state\":\"beam_on\"", 30.0))
        << controller.stderr_text();
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    controller.signal(SIGKILL);
    EXPECT_EQ(controller.wait(10.0), 128 + SIGKILL);
  }
  double recorded = 0.0;
  {
    const delivery::TreatmentRecord record(out / "record.db", checksum_of(plan));
    recorded = record.delivered_mu(1, "Arc1");
    EXPECT_GT(recorded, 5.0);
    EXPECT_LT(recorded, 300.0);
    EXPECT_FALSE(record.beam_completed(1, "Arc1"));
  }
  // Without --resume a second delivery of the fraction is refused.
  const auto refused = test::run(deliver_argv(plan, out, daemon_args(daemon)));
  EXPECT_EQ(refused.exit_code, 2) << refused.err;
  EXPECT_NE(refused.err.find("--resume"), std::string::npos) << refused.err;
  auto resume = deliver_argv(plan, out, daemon_args(daemon));
  resume.push_back("--resume");
  const auto r = test::run(resume);
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  const json j = last_json_line(r.out);
  // The machine still held the count of the killed run: resumed from at least the record.
  const double from = j["beams"][0]["resumed_from_mu"].get<double>();
  EXPECT_GE(from, recorded);
  EXPECT_LT(from, recorded + 10.0);
  const delivery::TreatmentRecord record(out / "record.db", checksum_of(plan));
  EXPECT_NEAR(record.delivered_mu(1, "Arc1"), 312.5, 0.1);
  EXPECT_NEAR(record.delivered_mu(1, "AP"), 100.0, 0.1);
}

// SAFETY row 14: the simulator daemon is killed mid-beam; the controller holds, the record is
// intact, and a new daemon finishes the fraction.
TEST(DeliveryEndToEnd, DaemonKilledMidBeamHoldsAndANewDaemonFinishes) {
  TempDir keys;
  TempDir out;
  const auto plan = test_plan_file(out);
  double held_at = 0.0;
  {
    Daemon daemon(keys.path(), {});
    auto argv = deliver_argv(plan, out, daemon_args(daemon));
    argv.insert(argv.end(), {"--pace", "20"});
    test::Process controller(argv);
    ASSERT_TRUE(wait_for_stderr(controller, "\"state\":\"beam_on\"", 30.0));
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    daemon.process().signal(SIGKILL);
    ASSERT_TRUE(wait_for_stderr(controller, "\"state\":\"hold\"", 5.0)) << controller.stderr_text();
    EXPECT_EQ(controller.wait(30.0), 4) << controller.stderr_text();
    std::string line;
    while (auto l = controller.read_line(1.0)) line = *l;
    const json j = json::parse(line);
    EXPECT_EQ(j["status"], "interrupted");
    EXPECT_EQ(j["beams"][0]["interrupts"][0]["code"], "link_lost");
    held_at = j["beams"][0]["delivered_mu"][0].get<double>();
  }
  {
    const delivery::TreatmentRecord record(out / "record.db", checksum_of(plan));
    EXPECT_NEAR(record.delivered_mu(1, "Arc1"), held_at, 1e-9);  // nothing acknowledged is lost
    EXPECT_GT(held_at, 5.0);
    // The resume starts from the last MU the machine reported: no hold or interruption in the
    // record knows more (the counts received after the last periodic checkpoint are recorded
    // when the link goes quiet; otherwise the new daemon delivers them again).
    for (const auto& i : record.interruptions(1)) {
      EXPECT_LE(i.delivered_mu, held_at + 1e-9) << i.message;
    }
  }
  Daemon fresh(keys.path(), {});
  auto resume = deliver_argv(plan, out, daemon_args(fresh));
  resume.push_back("--resume");
  const auto r = test::run(resume);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const delivery::TreatmentRecord record(out / "record.db", checksum_of(plan));
  EXPECT_NEAR(record.delivered_mu(1, "Arc1"), 312.5, 0.1);
  EXPECT_NEAR(record.delivered_mu(1, "AP"), 100.0, 0.1);
}

// SAFETY row 13: the link is lost mid-beam for half a second: hold within three cycles, and
// the session goes on by itself when the link returns.
TEST(DeliveryEndToEnd, LinkLossHoldsAndTheBeamResumesWhenTheLinkReturns) {
  TempDir out;
  test::write_text(out / "faults.json",
                   R"({"faults": [{"kind": "link_loss", "onset_s": 50.0, "magnitude": 0.5}]})");
  Daemon daemon({"--faults", (out / "faults.json").string()});
  const auto plan = test_plan_file(out);
  const auto r = test::run(deliver_argv(plan, out, daemon_args(daemon)));
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  const json j = last_json_line(r.out);
  EXPECT_EQ(j["status"], "completed");
  EXPECT_GE(j["beams"][0]["beam_holds"].get<int>(), 1);
  const delivery::TreatmentRecord record(out / "record.db", checksum_of(plan));
  const auto stops = record.interruptions(1);
  ASSERT_FALSE(stops.empty());
  EXPECT_EQ(stops[0].code, "link_lost");
  EXPECT_GE(stops[0].value, 3.0);  // missed cycles when the hold came
  EXPECT_LE(stops[0].value, 4.0);
  EXPECT_NEAR(record.delivered_mu(1, "Arc1"), 312.5, 0.1);
}

// SAFETY row 16: the disk fills while the record is written: the beam holds, and every MU the
// controller acknowledged is in the record; a later session completes the fraction.
TEST(DeliveryEndToEnd, DiskFullHoldsTheBeamWithoutLosingAcknowledgedMu) {
  if (!test::on_path("bash")) GTEST_SKIP() << "bash is needed to limit the file size";
  TempDir out;
  const auto plan = test_plan_file(out);
  // 120 KiB of file size: the record's write-ahead log fills it a few seconds into the beam.
  std::string cmd = "ulimit -f 120; trap '' XFSZ; exec";
  for (const auto& a : deliver_argv(plan, out, {"--sim"})) cmd += " '" + a + "'";
  const auto r = test::run({"bash", "-c", cmd});
  ASSERT_EQ(r.exit_code, 4) << r.err << r.out;
  const json j = last_json_line(r.out);
  EXPECT_EQ(j["status"], "interrupted");
  bool record_failed = false;
  for (const auto& e : j["beams"][0]["interrupts"])
    record_failed |= e["code"] == "record_write_failed";
  EXPECT_TRUE(record_failed) << j.dump();
  const double acknowledged = j["beams"][0]["delivered_mu"][0].get<double>();
  {
    const delivery::TreatmentRecord record(out / "record.db", checksum_of(plan));
    EXPECT_NEAR(record.delivered_mu(1, "Arc1"), acknowledged, 1e-9);
    EXPECT_GT(acknowledged, 0.0);
  }
  auto resume = deliver_argv(plan, out, {"--sim", "--resume"});
  const auto done = test::run(resume);
  ASSERT_EQ(done.exit_code, 0) << done.err;
  const delivery::TreatmentRecord record(out / "record.db", checksum_of(plan));
  EXPECT_NEAR(record.delivered_mu(1, "Arc1"), 312.5, 0.1);
}

TEST(DeliveryEndToEnd, ADiskTooFullForTheRecordRefusesTheDeliveryThenItRuns) {
  // Found by the chaos campaign's disk_full scenario: with the disk full before the record
  // exists, deliver said "not a treatment record: disk I/O error" and exited 2 (bad input).
  if (!test::on_path("bash")) GTEST_SKIP() << "bash is needed to limit the file size";
  // 16 and 40 KiB: the tables and the plan's checksum, written in one transaction, cannot be
  // written (the checksum's failure was a second path, found by a 200-trial run: the statement's
  // error was reset while unwinding).
  for (const int kib : {16, 40}) {
    TempDir dir;
    const auto p = test_plan_file(dir);
    std::string cmd = "ulimit -f " + std::to_string(kib) + "; trap '' XFSZ; exec";
    for (const auto& a : deliver_argv(p, dir, {"--sim"})) cmd += " '" + a + "'";
    const auto r = test::run({"bash", "-c", cmd});
    ASSERT_EQ(r.exit_code, 4) << kib << " KiB: " << r.err << r.out;
    EXPECT_NE(
        r.err.find("record.db: cannot write the treatment record (disk full or not writable)"),
        std::string::npos)
        << kib << " KiB: " << r.err;
    EXPECT_NE(r.err.find("nothing delivered"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("beam_on"), std::string::npos) << r.err;  // no beam came on
    // The record is left with all its tables or none (42 KiB in the chaos campaign left three
    // of six when the tables were made one statement at a time).
    if (std::filesystem::exists(dir / "record.db")) {
      sqlite3* db = nullptr;
      ASSERT_EQ(sqlite3_open_v2((dir / "record.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr),
                SQLITE_OK);
      sqlite3_stmt* st = nullptr;
      ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'",
                                   -1, &st, nullptr),
                SQLITE_OK);
      ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
      const int tables = sqlite3_column_int(st, 0);
      sqlite3_finalize(st);
      sqlite3_close(db);
      EXPECT_TRUE(tables == 0 || tables == 6) << kib << " KiB: " << tables << " tables";
    }
    // With room on the disk the same command delivers the fraction.
    const auto done = test::run(deliver_argv(p, dir, {"--sim", "--resume"}));
    ASSERT_EQ(done.exit_code, 0) << done.err;
    const delivery::TreatmentRecord record(dir / "record.db", checksum_of(p));
    EXPECT_NEAR(record.delivered_mu(1, "Arc1"), 312.5, 0.1);
  }
}

TEST(DeliveryEndToEnd, SamplePlansBreakingALimitAreRefusedNamingIt) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"bad_mu_per_degree", "mu_per_deg"},
      {"bad_meterset_order", "meterset_weight"},
      {"bad_leaf_travel", "leaf"},
      {"bad_bank_span", "bank A span"},
      {"bad_leaf_gap", "leaf pair 31"},
      {"bad_jaw_range", "jaw X2"},
      {"bad_energy", "energy"},
      {"bad_machine", "machine"},
      {"bad_leaf_boundaries", "leaf_boundaries"},
      {"bad_gantry_direction", "gantry_direction"},
      {"bad_dose_rate", "dose_rate"}};
  for (const auto& [name, axis] : cases) {
    const auto r = test::run({kLinac, "validate", (kPlans / (name + ".json")).string(), "--json"});
    EXPECT_EQ(r.exit_code, 3) << name << r.err;
    const json j = json::parse(r.out);
    EXPECT_FALSE(j["deliverable"].get<bool>());
    bool named = false;
    for (const auto& v : j["violations"]) {
      named |= v["axis"].get<std::string>().find(axis) != std::string::npos;
    }
    EXPECT_TRUE(named) << name << ": " << j["violations"].dump();
  }
  const auto one =
      test::run({kLinac, "validate", (kPlans / "bad_single_control_point.json").string()});
  EXPECT_EQ(one.exit_code, 2);
  EXPECT_NE(one.err.find("at least 2"), std::string::npos) << one.err;
  for (const char* good : {"vmat_double_arc", "imrt_sliding_window"}) {
    const auto r =
        test::run({kLinac, "validate", (kPlans / (std::string(good) + ".json")).string()});
    EXPECT_EQ(r.exit_code, 0) << good << r.out;
  }
  // A plan that is not deliverable is not delivered.
  TempDir out;
  const auto r = test::run({kLinac, "deliver", (kPlans / "bad_leaf_gap.json").string(), "--sim",
                            "--out", out.path().string()});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_FALSE(std::filesystem::exists(out / "record.db"));
}

TEST(DeliveryEndToEnd, BadInputsGiveOneLineErrors) {
  TempDir dir;
  const auto plan = test_plan_file(dir);
  test::write_text(dir / "broken.dcm", std::string(132, '\0') + "DICM" + std::string(40, 'x'));
  const std::vector<std::vector<std::string>> bad = {
      {kLinac, "deliver", plan.string(), "--out", dir.path().string()},  // no machine
      {kLinac, "deliver", (dir / "broken.dcm").string(), "--sim", "--out", dir.path().string()},
      {kLinac, "deliver", plan.string(), "--sim", "--out", dir.path().string(), "--inject",
       "leaf_melted@3"},
      {kLinac, "deliver", plan.string(), "--sim", "--out", dir.path().string(), "--inject", "3"},
      {kLinac, "qa", (dir / "missing.bin").string()},
      {kLinac, "qa", plan.string()},
  };
  for (const auto& argv : bad) {
    const auto r = test::run(argv);
    EXPECT_EQ(r.exit_code, 2) << argv[1] << " " << argv[2] << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  // Operator beam off through the CLI, then resume (SAFETY row 27).
  const auto off = test::run({kLinac, "deliver", plan.string(), "--sim", "--out",
                              dir.path().string(), "--json", "--inject", "operator_beam_off@5"});
  EXPECT_EQ(off.exit_code, 4) << off.err;
  EXPECT_EQ(last_json_line(off.out)["beams"][0]["interrupts"][0]["code"], "operator_beam_off");
  const auto on = test::run({kLinac, "deliver", plan.string(), "--sim", "--out",
                             dir.path().string(), "--json", "--resume"});
  EXPECT_EQ(on.exit_code, 0) << on.err;
}

}  // namespace
}  // namespace linac
