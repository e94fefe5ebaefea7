#include "linac/delivery/treatment_record.hpp"

#include <sqlite3.h>

#include <stdexcept>

#include "linac/core/error.hpp"

namespace linac::delivery {

struct TreatmentRecord::Db {
  sqlite3* handle = nullptr;
  std::string path;
  mutable int last_error = SQLITE_OK;  // SQLite's code at the last failure (a statement
                                       // finalised while unwinding resets the handle's)
  ~Db() {
    if (handle != nullptr) sqlite3_close_v2(handle);
  }
  [[noreturn]] void fail(const std::string& what) const {
    last_error = sqlite3_errcode(handle);
    throw std::runtime_error(path + ": " + what + ": " + sqlite3_errmsg(handle));
  }
  void exec(const char* sql) const {
    char* err = nullptr;
    if (sqlite3_exec(handle, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      last_error = sqlite3_errcode(handle);
      const std::string msg = err != nullptr ? err : "?";
      sqlite3_free(err);
      throw std::runtime_error(path + ": " + msg);
    }
  }
  // A prepared statement, finalised on scope exit.
  struct Stmt {
    sqlite3_stmt* s = nullptr;
    ~Stmt() { sqlite3_finalize(s); }
  };
  Stmt prepare(const char* sql) const {
    Stmt st;
    if (sqlite3_prepare_v2(handle, sql, -1, &st.s, nullptr) != SQLITE_OK) fail("prepare");
    return st;
  }
};

std::string to_string(BeamStatus s) {
  switch (s) {
    case BeamStatus::kNotStarted:
      return "not_started";
    case BeamStatus::kInProgress:
      return "in_progress";
    case BeamStatus::kCompleted:
      return "completed";
    case BeamStatus::kTerminated:
      return "terminated";
  }
  return "?";
}

namespace {
const char* column_text(sqlite3_stmt* s, int col) {
  const auto* t = reinterpret_cast<const char*>(sqlite3_column_text(s, col));
  return t != nullptr ? t : "";
}
}  // namespace

TreatmentRecord::TreatmentRecord(const std::filesystem::path& path,
                                 const std::string& plan_checksum, const std::string& course)
    : db_(std::make_unique<Db>()), checksum_(plan_checksum), path_(path) {
  db_->path = path.string();
  if (sqlite3_open_v2(db_->path.c_str(), &db_->handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                      nullptr) != SQLITE_OK) {
    throw RecordUnwritable(db_->path,
                           std::string("cannot open the treatment record for writing: ") +
                               sqlite3_errmsg(db_->handle));
  }
  sqlite3_busy_timeout(db_->handle, 5000);
  try {
    create_or_check(plan_checksum, course);
  } catch (const InputError&) {
    throw;
  } catch (const std::runtime_error& e) {
    // SQLite says why: the disk (full, read-only, I/O), or a file that is not a database.
    const int code = db_->last_error & 0xff;
    if (code == SQLITE_IOERR || code == SQLITE_FULL || code == SQLITE_CANTOPEN ||
        code == SQLITE_READONLY) {
      throw RecordUnwritable(db_->path,
                             std::string("cannot write the treatment record (disk full or not "
                                         "writable): ") +
                                 e.what());
    }
    throw InputError(db_->path, std::string("not a treatment record: ") + e.what());
  }
}

void TreatmentRecord::create_or_check(const std::string& plan_checksum, const std::string& course) {
  db_->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;");
  // The tables and the plan's checksum in one transaction: a record whose creation fails (a
  // full disk) is left without tables, never with some of them (found by the chaos campaign).
  db_->exec("BEGIN IMMEDIATE");
  try {
    create_tables_and_check(plan_checksum, course);
    db_->exec("COMMIT");
  } catch (...) {
    sqlite3_exec(db_->handle, "ROLLBACK", nullptr, nullptr, nullptr);  // keeps last_error
    throw;
  }
}

void TreatmentRecord::create_tables_and_check(const std::string& plan_checksum,
                                              const std::string& course) {
  db_->exec(
      "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
      "CREATE TABLE IF NOT EXISTS mu_checkpoints (id INTEGER PRIMARY KEY, fraction INTEGER NOT "
      "NULL, beam TEXT NOT NULL, primary_mu REAL NOT NULL, secondary_mu REAL NOT NULL, "
      "base_primary_mu REAL NOT NULL DEFAULT 0, base_secondary_mu REAL NOT NULL DEFAULT 0, "
      "time_s REAL NOT NULL, written_at TEXT DEFAULT CURRENT_TIMESTAMP);"
      "CREATE INDEX IF NOT EXISTS mu_by_beam ON mu_checkpoints (fraction, beam);"
      "CREATE TABLE IF NOT EXISTS states (id INTEGER PRIMARY KEY, fraction INTEGER NOT NULL, "
      "beam TEXT NOT NULL, state TEXT NOT NULL, primary_mu REAL NOT NULL, secondary_mu REAL NOT "
      "NULL, time_s REAL NOT NULL, written_at TEXT DEFAULT CURRENT_TIMESTAMP);"
      "CREATE TABLE IF NOT EXISTS interruptions (id INTEGER PRIMARY KEY, fraction INTEGER NOT "
      "NULL, beam TEXT NOT NULL, delivered_mu REAL NOT NULL, secondary_mu REAL NOT NULL "
      "DEFAULT 0, code TEXT NOT NULL, device TEXT NOT NULL DEFAULT '', element INTEGER NOT NULL "
      "DEFAULT -1, value REAL NOT NULL DEFAULT 0, limit_value REAL NOT NULL DEFAULT 0, time_s "
      "REAL NOT NULL DEFAULT 0, message TEXT NOT NULL, written_at TEXT DEFAULT "
      "CURRENT_TIMESTAMP);"
      "CREATE TABLE IF NOT EXISTS setups (id INTEGER PRIMARY KEY, fraction INTEGER NOT NULL, "
      "decision TEXT NOT NULL, details TEXT NOT NULL, written_at TEXT DEFAULT "
      "CURRENT_TIMESTAMP);"
      "CREATE TABLE IF NOT EXISTS beams (fraction INTEGER NOT NULL, beam TEXT NOT NULL, status "
      "TEXT NOT NULL, primary_mu REAL NOT NULL, secondary_mu REAL NOT NULL, reason TEXT NOT "
      "NULL DEFAULT '', PRIMARY KEY (fraction, beam));");
  auto st = db_->prepare("SELECT value FROM meta WHERE key = 'plan_checksum'");
  if (sqlite3_step(st.s) == SQLITE_ROW) {
    const std::string stored = column_text(st.s, 0);
    if (stored != plan_checksum) {
      throw InputError(db_->path, "record of another plan (checksum " + stored + ", plan " +
                                      plan_checksum + ")");
    }
  } else {
    auto ins = db_->prepare(
        "INSERT INTO meta (key, value) VALUES ('plan_checksum', ?), ('course', ?), "
        "('created_at', CURRENT_TIMESTAMP)");
    sqlite3_bind_text(ins.s, 1, plan_checksum.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(ins.s, 2, course.c_str(), -1, SQLITE_TRANSIENT);
    if (sqlite3_step(ins.s) != SQLITE_DONE) db_->fail("write checksum");
  }
}

TreatmentRecord::~TreatmentRecord() = default;

void TreatmentRecord::record_mu(int fraction, const std::string& beam, const MuCheckpoint& c) {
  auto st = db_->prepare(
      "INSERT INTO mu_checkpoints (fraction, beam, primary_mu, secondary_mu, base_primary_mu, "
      "base_secondary_mu, time_s) VALUES (?, ?, ?, ?, ?, ?, ?)");
  sqlite3_bind_int(st.s, 1, fraction);
  sqlite3_bind_text(st.s, 2, beam.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_double(st.s, 3, c.primary_mu);
  sqlite3_bind_double(st.s, 4, c.secondary_mu);
  sqlite3_bind_double(st.s, 5, c.base_primary_mu);
  sqlite3_bind_double(st.s, 6, c.base_secondary_mu);
  sqlite3_bind_double(st.s, 7, c.time_s);
  if (sqlite3_step(st.s) != SQLITE_DONE) db_->fail("cannot record delivered MU");
}

void TreatmentRecord::record_mu(int fraction, const std::string& beam, double primary_mu,
                                double secondary_mu, double time_s) {
  record_mu(fraction, beam, MuCheckpoint{primary_mu, secondary_mu, 0.0, 0.0, time_s});
}

void TreatmentRecord::record_state(int fraction, const std::string& beam, const std::string& state,
                                   double primary_mu, double secondary_mu, double time_s) {
  auto st = db_->prepare(
      "INSERT INTO states (fraction, beam, state, primary_mu, secondary_mu, time_s) VALUES "
      "(?, ?, ?, ?, ?, ?)");
  sqlite3_bind_int(st.s, 1, fraction);
  sqlite3_bind_text(st.s, 2, beam.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st.s, 3, state.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_double(st.s, 4, primary_mu);
  sqlite3_bind_double(st.s, 5, secondary_mu);
  sqlite3_bind_double(st.s, 6, time_s);
  if (sqlite3_step(st.s) != SQLITE_DONE) db_->fail("cannot record the state change");
}

void TreatmentRecord::record_interruption(const Interruption& i) {
  auto st = db_->prepare(
      "INSERT INTO interruptions (fraction, beam, delivered_mu, secondary_mu, code, device, "
      "element, value, limit_value, time_s, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  sqlite3_bind_int(st.s, 1, i.fraction);
  sqlite3_bind_text(st.s, 2, i.beam.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_double(st.s, 3, i.delivered_mu);
  sqlite3_bind_double(st.s, 4, i.secondary_mu);
  sqlite3_bind_text(st.s, 5, i.code.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st.s, 6, i.device.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_int(st.s, 7, i.element);
  sqlite3_bind_double(st.s, 8, i.value);
  sqlite3_bind_double(st.s, 9, i.limit);
  sqlite3_bind_double(st.s, 10, i.time_s);
  sqlite3_bind_text(st.s, 11, i.message.c_str(), -1, SQLITE_TRANSIENT);
  if (sqlite3_step(st.s) != SQLITE_DONE) db_->fail("cannot record the interruption");
}

void TreatmentRecord::record_interruption(int fraction, const std::string& beam,
                                          double delivered_mu, const std::string& reason) {
  Interruption i;
  i.fraction = fraction;
  i.beam = beam;
  i.delivered_mu = delivered_mu;
  i.code = "operator";
  i.message = reason;
  record_interruption(i);
}

void TreatmentRecord::complete_beam(int fraction, const std::string& beam, double primary_mu,
                                    double secondary_mu) {
  auto st = db_->prepare(
      "INSERT OR REPLACE INTO beams (fraction, beam, status, primary_mu, secondary_mu) VALUES "
      "(?, ?, 'completed', ?, ?)");
  sqlite3_bind_int(st.s, 1, fraction);
  sqlite3_bind_text(st.s, 2, beam.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_double(st.s, 3, primary_mu);
  sqlite3_bind_double(st.s, 4, secondary_mu);
  if (sqlite3_step(st.s) != SQLITE_DONE) db_->fail("cannot record the completed beam");
}

void TreatmentRecord::terminate_beam(int fraction, const std::string& beam, double primary_mu,
                                     double secondary_mu, const std::string& reason) {
  auto st = db_->prepare(
      "INSERT OR REPLACE INTO beams (fraction, beam, status, primary_mu, secondary_mu, reason) "
      "VALUES (?, ?, 'terminated', ?, ?, ?)");
  sqlite3_bind_int(st.s, 1, fraction);
  sqlite3_bind_text(st.s, 2, beam.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_double(st.s, 3, primary_mu);
  sqlite3_bind_double(st.s, 4, secondary_mu);
  sqlite3_bind_text(st.s, 5, reason.c_str(), -1, SQLITE_TRANSIENT);
  if (sqlite3_step(st.s) != SQLITE_DONE) db_->fail("cannot record the terminated beam");
}

double TreatmentRecord::delivered_mu(int fraction, const std::string& beam) const {
  auto st = db_->prepare(
      "SELECT COALESCE(MAX(primary_mu), 0) FROM mu_checkpoints WHERE fraction = ? AND beam = ?");
  sqlite3_bind_int(st.s, 1, fraction);
  sqlite3_bind_text(st.s, 2, beam.c_str(), -1, SQLITE_TRANSIENT);
  if (sqlite3_step(st.s) != SQLITE_ROW) db_->fail("cannot read delivered MU");
  return sqlite3_column_double(st.s, 0);
}

std::optional<MuCheckpoint> TreatmentRecord::last_checkpoint(int fraction,
                                                             const std::string& beam) const {
  auto st = db_->prepare(
      "SELECT primary_mu, secondary_mu, base_primary_mu, base_secondary_mu, time_s FROM "
      "mu_checkpoints WHERE fraction = ? AND beam = ? ORDER BY id DESC LIMIT 1");
  sqlite3_bind_int(st.s, 1, fraction);
  sqlite3_bind_text(st.s, 2, beam.c_str(), -1, SQLITE_TRANSIENT);
  if (sqlite3_step(st.s) != SQLITE_ROW) return std::nullopt;
  return MuCheckpoint{sqlite3_column_double(st.s, 0), sqlite3_column_double(st.s, 1),
                      sqlite3_column_double(st.s, 2), sqlite3_column_double(st.s, 3),
                      sqlite3_column_double(st.s, 4)};
}

BeamStatus TreatmentRecord::beam_status(int fraction, const std::string& beam) const {
  auto st = db_->prepare("SELECT status FROM beams WHERE fraction = ? AND beam = ?");
  sqlite3_bind_int(st.s, 1, fraction);
  sqlite3_bind_text(st.s, 2, beam.c_str(), -1, SQLITE_TRANSIENT);
  if (sqlite3_step(st.s) == SQLITE_ROW) {
    return std::string(column_text(st.s, 0)) == "completed" ? BeamStatus::kCompleted
                                                            : BeamStatus::kTerminated;
  }
  return last_checkpoint(fraction, beam) ? BeamStatus::kInProgress : BeamStatus::kNotStarted;
}

bool TreatmentRecord::beam_completed(int fraction, const std::string& beam) const {
  return beam_status(fraction, beam) == BeamStatus::kCompleted;
}

std::vector<Interruption> TreatmentRecord::interruptions(int fraction) const {
  auto st = db_->prepare(
      "SELECT beam, delivered_mu, secondary_mu, code, device, element, value, limit_value, "
      "time_s, message FROM interruptions WHERE fraction = ? ORDER BY id");
  sqlite3_bind_int(st.s, 1, fraction);
  std::vector<Interruption> out;
  while (sqlite3_step(st.s) == SQLITE_ROW) {
    Interruption i;
    i.fraction = fraction;
    i.beam = column_text(st.s, 0);
    i.delivered_mu = sqlite3_column_double(st.s, 1);
    i.secondary_mu = sqlite3_column_double(st.s, 2);
    i.code = column_text(st.s, 3);
    i.device = column_text(st.s, 4);
    i.element = sqlite3_column_int(st.s, 5);
    i.value = sqlite3_column_double(st.s, 6);
    i.limit = sqlite3_column_double(st.s, 7);
    i.time_s = sqlite3_column_double(st.s, 8);
    i.message = column_text(st.s, 9);
    out.push_back(std::move(i));
  }
  return out;
}

std::vector<std::string> TreatmentRecord::states(int fraction, const std::string& beam) const {
  auto st = db_->prepare("SELECT state FROM states WHERE fraction = ? AND beam = ? ORDER BY id");
  sqlite3_bind_int(st.s, 1, fraction);
  sqlite3_bind_text(st.s, 2, beam.c_str(), -1, SQLITE_TRANSIENT);
  std::vector<std::string> out;
  while (sqlite3_step(st.s) == SQLITE_ROW) out.emplace_back(column_text(st.s, 0));
  return out;
}

void TreatmentRecord::record_setup(int fraction, const std::string& decision,
                                   const std::string& details_json) {
  auto st = db_->prepare("INSERT INTO setups (fraction, decision, details) VALUES (?, ?, ?)");
  sqlite3_bind_int(st.s, 1, fraction);
  sqlite3_bind_text(st.s, 2, decision.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st.s, 3, details_json.c_str(), -1, SQLITE_TRANSIENT);
  if (sqlite3_step(st.s) != SQLITE_DONE) db_->fail("cannot record the set-up");
}

std::vector<std::string> TreatmentRecord::setups(int fraction) const {
  auto st = db_->prepare("SELECT decision FROM setups WHERE fraction = ? ORDER BY id");
  sqlite3_bind_int(st.s, 1, fraction);
  std::vector<std::string> out;
  while (sqlite3_step(st.s) == SQLITE_ROW) out.emplace_back(column_text(st.s, 0));
  return out;
}

}  // namespace linac::delivery
