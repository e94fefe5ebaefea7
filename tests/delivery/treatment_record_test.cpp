// The treatment record: what was written survives, a record of another plan is refused, and
// MU acknowledged by a process killed with SIGKILL mid-beam are all in the record.
#include "linac/delivery/treatment_record.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "linac/core/error.hpp"
#include "test_support.hpp"

namespace linac::delivery {
namespace {

TEST(TreatmentRecord, WritesSurviveReopeningAndBelongToOnePlan) {
  test::TempDir dir;
  {
    TreatmentRecord r(dir / "record.db", "sha-abc");
    r.record_mu(1, "Arc1", 10.0, 10.05, 1.0);
    r.record_mu(1, "Arc1", 55.5, 55.4, 5.0);
    r.record_interruption(1, "Arc1", 55.5, "leaf A12 deviation 2.3 mm > 2 mm");
    r.record_mu(1, "Arc2", 20.0, 20.0, 1.0);
    r.complete_beam(1, "Arc2", 20.0);
  }
  const TreatmentRecord r(dir / "record.db", "sha-abc");
  EXPECT_DOUBLE_EQ(r.delivered_mu(1, "Arc1"), 55.5);
  EXPECT_DOUBLE_EQ(r.delivered_mu(1, "Arc2"), 20.0);
  EXPECT_DOUBLE_EQ(r.delivered_mu(2, "Arc1"), 0.0);
  EXPECT_FALSE(r.beam_completed(1, "Arc1"));
  EXPECT_TRUE(r.beam_completed(1, "Arc2"));
  const auto stops = r.interruptions(1);
  ASSERT_EQ(stops.size(), 1u);
  EXPECT_EQ(stops[0].message, "leaf A12 deviation 2.3 mm > 2 mm");
  try {
    TreatmentRecord other(dir / "record.db", "sha-def");
    FAIL() << "a record of another plan was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("record of another plan"), std::string::npos);
  }
  test::write_text(dir / "junk.db", std::string(4096, 'x'));
  try {  // a file that is not a record is bad input, not a disk that cannot be written
    TreatmentRecord junk(dir / "junk.db", "sha-abc");
    FAIL() << "a file of junk was taken for a record";
  } catch (const RecordUnwritable& e) {
    FAIL() << "junk reported as an unwritable disk: " << e.what();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("junk.db: not a treatment record"), std::string::npos)
        << e.what();
  }
  // A folder that does not exist: the record cannot be written.
  EXPECT_THROW(TreatmentRecord(dir / "missing" / "record.db", "sha-abc"), RecordUnwritable);
}

TEST(TreatmentRecord, AcknowledgedMuSurviveSigkill) {
  test::TempDir dir;
  const auto db = dir / "record.db";
  int acks[2];
  ASSERT_EQ(::pipe(acks), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {  // the "controller": records, then acknowledges
    ::close(acks[0]);
    TreatmentRecord r(db, "sha-abc");
    for (int i = 1;; ++i) {
      const double mu = 0.1 * i;
      r.record_mu(3, "Arc1", mu, mu, 0.02 * i);
      if (::write(acks[1], &mu, sizeof(mu)) != static_cast<ssize_t>(sizeof(mu))) ::_exit(1);
    }
  }
  ::close(acks[1]);
  double last_acknowledged = 0.0;
  for (int n = 0; n < 200; ++n) {
    ASSERT_EQ(::read(acks[0], &last_acknowledged, sizeof(double)),
              static_cast<ssize_t>(sizeof(double)));
  }
  ::kill(child, SIGKILL);  // mid-beam, between any two instructions
  int status = 0;
  ::waitpid(child, &status, 0);
  ::close(acks[0]);
  ASSERT_TRUE(WIFSIGNALED(status));
  const TreatmentRecord r(db, "sha-abc");
  EXPECT_GE(r.delivered_mu(3, "Arc1"), last_acknowledged);
}

}  // namespace
}  // namespace linac::delivery
