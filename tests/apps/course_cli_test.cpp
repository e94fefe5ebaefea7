// `linac course` end to end on a coarse built-in patient: planning, two fractions through the
// simulator daemon (a separate process), course.json figures, report.html in headless Chromium;
// a course killed in the middle of a fraction's delivery and resumed ends with every fraction
// and the planned MU, without delivering anything twice.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "linac/delivery/treatment_record.hpp"
#include "test_support.hpp"

extern char** environ;

namespace linac {
namespace {

const std::string kLinac = LINAC_EXE;
namespace fs = std::filesystem;

std::vector<std::string> quick(const fs::path& out, int fractions) {
  return {kLinac,
          "course",
          "--out",
          out.string(),
          "--fractions",
          std::to_string(fractions),
          "--spacing-mm",
          "5",
          "--dose-grid-mm",
          "6",
          "--cp-spacing-deg",
          "8",
          "--iterations",
          "30",
          "--points",
          "500",
          "--projections",
          "90"};
}

void expect_course_complete(const nlohmann::json& c, int fractions) {
  EXPECT_EQ(c["fractions_treated"].get<int>(), fractions);
  ASSERT_EQ(c["fractions"].size(), static_cast<std::size_t>(fractions));
  EXPECT_NEAR(c["delivered_mu_total"].get<double>(), c["planned_mu_total"].get<double>(), 0.1);
  for (const auto& f : c["fractions"]) {
    EXPECT_EQ(f["setup"]["decision"], "apply");
    EXPECT_LT(f["setup"]["residual_mm"].get<double>(), 3.0);
    for (const auto& b : f["beams"]) {
      EXPECT_EQ(b["status"], "completed");
      EXPECT_NEAR(b["delivered_mu"][0].get<double>(), b["planned_mu"].get<double>(), 0.1);
    }
    EXPECT_GT(f["qa"]["gamma_pass_pct"].get<double>(), 95.0);
    EXPECT_LT(f["qa"]["rms_mm_mean"].get<double>(), 0.5);
    // Each fraction's DICOM RT Beams Treatment Record, referring to the plan's RT Plan.
    const std::string rt = f.value("rt_record", "");
    EXPECT_TRUE(fs::exists(rt)) << "fraction " << f["n"];
  }
}

TEST(CliCourse, RefusesAnUnknownApertureStartBeforeStarting) {
  test::TempDir dir;
  auto argv = quick(dir / "course", 1);
  argv.insert(argv.end(), {"--apertures", "random"});
  const auto r = test::run(argv);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find("--apertures: 'random' is not conformal, generated or routed"),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(fs::exists(dir / "course" / "plan"));
}

TEST(CliCourse, RunsACoarseCourseEndToEndWithItsReport) {
  test::TempDir dir;
  const fs::path out = dir.path() / "course";
  auto argv = quick(out, 2);
  // Planned from the reference case's template (handed to planning, kept for --resume).
  const std::string liver_template =
      std::string(LINAC_SOURCE_DIR) + "/data/templates/liver-fls.json";
  argv.insert(argv.end(), {"--template", liver_template, "--border-points", "--json"});
  const auto r = test::run(argv);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto c = nlohmann::json::parse(r.out);
  expect_course_complete(c, 2);
  EXPECT_EQ(c["plan"]["prescription_gy"].get<double>(), 20.0);
  const auto options = nlohmann::json::parse(test::read_text(out / "course_options.json"));
  EXPECT_EQ(fs::path(options["template"].get<std::string>()), fs::path(liver_template));
  EXPECT_TRUE(options["border_points"].get<bool>());
  const auto planned_with = nlohmann::json::parse(test::read_text(out / "plan" / "plan.json"));
  EXPECT_EQ(planned_with["apertures"].get<std::string>(), "conformal");
  EXPECT_EQ(planned_with["overlap"].get<std::string>(), "target");
  EXPECT_TRUE(planned_with["border_points"].get<bool>());
  EXPECT_LT(c["plan"]["fls"]["mean_gy"].get<double>(),
            c["plan"]["fls"]["baseline_mean_gy"].get<double>());
  // The dose estimated from the logs reproduces the plan's (same engine, same grid).
  const double planned = c["planned_dose"]["PTV"]["mean_gy"].get<double>();
  EXPECT_NEAR(c["delivered_dose_as_prescribed"]["PTV"]["mean_gy"].get<double>(), planned,
              0.02 * planned);
  for (const char* f : {"report.html", "course.json", "record.db", "plan/rtplan.json",
                        "fractions/1/setup/setup.json", "fractions/2/qa.json",
                        "fractions/2/delivered_dose.mha", "delivered_dose.mha"}) {
    EXPECT_TRUE(fs::exists(out / f)) << f;
  }
  // The report in headless Chromium: every section there, no console errors, a screenshot.
  ASSERT_TRUE(test::on_path("chromium")) << "chromium is in scripts/debian-packages.txt";
  const std::string url = "file://" + (out / "report.html").string();
  const auto dom = test::run({"chromium", "--headless", "--no-sandbox", "--disable-gpu",
                              "--enable-logging=stderr", "--v=0", "--dump-dom", url});
  ASSERT_EQ(dom.exit_code, 0) << dom.err;
  for (const char* id : {"summary", "plan", "setup", "delivery", "interruptions", "qa", "dose"}) {
    EXPECT_NE(dom.out.find(std::string("<section id=\"") + id + "\">"), std::string::npos) << id;
  }
  EXPECT_NE(dom.out.find("FLS v15_pct"), std::string::npos);
  EXPECT_NE(dom.out.find("FLS outside the PTV mean_gy"), std::string::npos);
  EXPECT_EQ(dom.err.find("CONSOLE"), std::string::npos) << dom.err;
  EXPECT_EQ(dom.out.find("not available"), std::string::npos);  // every picture inline
  const auto shot = test::run({"chromium", "--headless", "--no-sandbox", "--disable-gpu",
                               "--screenshot=" + (dir.path() / "report.png").string(),
                               "--window-size=1200,3000", url});
  ASSERT_EQ(shot.exit_code, 0) << shot.err;
  EXPECT_GT(fs::file_size(dir.path() / "report.png"), 50000U);
}

TEST(CliCourse, KilledMidFractionResumesWithoutDeliveringTwice) {
  test::TempDir dir;
  const fs::path out = dir.path() / "course";
  // The course in its own process group, so that killing it kills its children too (as a
  // crash of the console would).
  const auto argv = quick(out, 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, args[0], &actions, &attr, args.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  // Wait for fraction 2's delivery to start, then kill everything a second into it.
  const fs::path started = out / "fractions" / "2" / "deliver.log";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(8);
  while (!fs::exists(started) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(fs::exists(started));
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  ::kill(-pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_FALSE(fs::exists(out / "fractions" / "2" / "fraction.json"));  // killed mid-fraction
  ASSERT_TRUE(fs::exists(out / "fractions" / "1" / "fraction.json"));
  const auto f1_before = test::read_text(out / "fractions" / "1" / "deliver.json");
  const auto r = test::run({kLinac, "course", "--resume", out.string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto c = nlohmann::json::parse(r.out);
  expect_course_complete(c, 2);
  // Fraction 1 untouched; the record holds each beam's MU once.
  EXPECT_EQ(test::read_text(out / "fractions" / "1" / "deliver.json"), f1_before);
  const auto plan = nlohmann::json::parse(test::read_text(out / "plan" / "rtplan.json"));
  const auto validation = nlohmann::json::parse(test::read_text(out / "plan" / "validation.json"));
  delivery::TreatmentRecord record(out / "record.db",
                                   validation["plan_checksum"].get<std::string>());
  for (int n = 1; n <= 2; ++n) {
    for (const auto& b : plan["beams"]) {
      EXPECT_NEAR(record.delivered_mu(n, b["name"].get<std::string>()),
                  b["beam_meterset_mu"].get<double>(), 0.1)
          << "fraction " << n;
    }
  }
}

}  // namespace
}  // namespace linac
