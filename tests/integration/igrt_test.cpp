// IGRT set-up through the simulator daemon as a separate process: the daemon places the
// built-in patient with a set-up error; `linac igrt setup` acquires the CBCT over the machine
// link, corrects the couch through it and records the set-up.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "daemon_fixture.hpp"
#include "linac/delivery/treatment_record.hpp"
#include "linac/formats/plan_io.hpp"
#include "test_support.hpp"

namespace linac {
namespace {

TEST(IgrtEndToEnd, SetupThroughTheDaemonCorrectsTheCouchAndIsRecorded) {
  test::TempDir dir;
  ASSERT_EQ(test::run({test::kLinac, "case", "make", "--out", (dir / "case").string(),
                       "--spacing-mm", "3"})
                .exit_code,
            0);
  const std::string error = "-4,2.5,3,0.4,0.6,-0.8";
  test::Daemon daemon({"--subject", (dir / "case").string(), "--setup-error", error});
  write_plan(dir / "plan.json", test::make_test_plan());
  const auto r = test::run({test::kLinac,
                            "igrt",
                            "setup",
                            "--daemon",
                            daemon.endpoint(),
                            "--server-key",
                            (daemon.dir() / "server.pub").string(),
                            "--client-key",
                            (daemon.dir() / "client.key").string(),
                            "--case",
                            (dir / "case").string(),
                            "--setup-error",
                            error,
                            "--out",
                            (dir / "f2").string(),
                            "--fraction",
                            "2",
                            "--record",
                            (dir / "record.db").string(),
                            "--plan",
                            (dir / "plan.json").string(),
                            "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["decision"], "apply");
  EXPECT_TRUE(j["couch_moved"].get<bool>());
  // The residual includes the couch's own positioning tolerance (0.5 mm, 0.1 deg).
  EXPECT_LE(j["residual_mm"].get<double>(), 1.0);
  const delivery::TreatmentRecord record(dir / "record.db", plan_checksum(test::make_test_plan()));
  EXPECT_EQ(record.setups(2), std::vector<std::string>{"apply"});
}

}  // namespace
}  // namespace linac
