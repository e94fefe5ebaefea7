#include "linac/delivery/treatment_record.hpp"

#include <sqlite3.h>

#include <stdexcept>

#include "linac/core/error.hpp"

namespace linac::delivery {

struct TreatmentRecord::Db {
  sqlite3* handle = nullptr;
  std::string path;
  ~Db() {
    if (handle != nullptr) sqlite3_close_v2(handle);
  }
  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error(path + ": " + what + ": " + sqlite3_errmsg(handle));
  }
  void exec(const char* sql) const {
    char* err = nullptr;
    if (sqlite3_exec(handle, sql, nullptr, nullptr, &err) != SQLITE_OK) {
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

TreatmentRecord::TreatmentRecord(const std::filesystem::path& path,
                                 const std::string& plan_checksum)
    : db_(std::make_unique<Db>()), checksum_(plan_checksum) {
  db_->path = path.string();
  if (sqlite3_open_v2(db_->path.c_str(), &db_->handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                      nullptr) != SQLITE_OK) {
    throw InputError(
        db_->path, std::string("cannot open the treatment record: ") + sqlite3_errmsg(db_->handle));
  }
  sqlite3_busy_timeout(db_->handle, 5000);
  try {
    db_->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;");
    db_->exec(
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "CREATE TABLE IF NOT EXISTS mu_checkpoints (id INTEGER PRIMARY KEY, fraction INTEGER NOT "
        "NULL, beam TEXT NOT NULL, primary_mu REAL NOT NULL, secondary_mu REAL NOT NULL, time_s "
        "REAL NOT NULL, written_at TEXT DEFAULT CURRENT_TIMESTAMP);"
        "CREATE INDEX IF NOT EXISTS mu_by_beam ON mu_checkpoints (fraction, beam);"
        "CREATE TABLE IF NOT EXISTS interruptions (id INTEGER PRIMARY KEY, fraction INTEGER NOT "
        "NULL, beam TEXT NOT NULL, delivered_mu REAL NOT NULL, reason TEXT NOT NULL, written_at "
        "TEXT DEFAULT CURRENT_TIMESTAMP);"
        "CREATE TABLE IF NOT EXISTS completed_beams (fraction INTEGER NOT NULL, beam TEXT NOT "
        "NULL, delivered_mu REAL NOT NULL, PRIMARY KEY (fraction, beam));");
  } catch (const std::runtime_error& e) {
    throw InputError(db_->path, std::string("not a treatment record: ") + e.what());
  }
  auto st = db_->prepare("SELECT value FROM meta WHERE key = 'plan_checksum'");
  if (sqlite3_step(st.s) == SQLITE_ROW) {
    const std::string stored = reinterpret_cast<const char*>(sqlite3_column_text(st.s, 0));
    if (stored != plan_checksum) {
      throw InputError(db_->path, "record of another plan (checksum " + stored + ", plan " +
                                      plan_checksum + ")");
    }
  } else {
    auto ins = db_->prepare("INSERT INTO meta (key, value) VALUES ('plan_checksum', ?)");
    sqlite3_bind_text(ins.s, 1, plan_checksum.c_str(), -1, SQLITE_TRANSIENT);
    if (sqlite3_step(ins.s) != SQLITE_DONE) db_->fail("write checksum");
  }
}

TreatmentRecord::~TreatmentRecord() = default;

void TreatmentRecord::record_mu(int fraction, const std::string& beam, double primary_mu,
                                double secondary_mu, double time_s) {
  auto st = db_->prepare(
      "INSERT INTO mu_checkpoints (fraction, beam, primary_mu, secondary_mu, time_s) VALUES "
      "(?, ?, ?, ?, ?)");
  sqlite3_bind_int(st.s, 1, fraction);
  sqlite3_bind_text(st.s, 2, beam.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_double(st.s, 3, primary_mu);
  sqlite3_bind_double(st.s, 4, secondary_mu);
  sqlite3_bind_double(st.s, 5, time_s);
  if (sqlite3_step(st.s) != SQLITE_DONE) db_->fail("cannot record delivered MU");
}

void TreatmentRecord::record_interruption(int fraction, const std::string& beam,
                                          double delivered_mu, const std::string& reason) {
  auto st = db_->prepare(
      "INSERT INTO interruptions (fraction, beam, delivered_mu, reason) VALUES (?, ?, ?, ?)");
  sqlite3_bind_int(st.s, 1, fraction);
  sqlite3_bind_text(st.s, 2, beam.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_double(st.s, 3, delivered_mu);
  sqlite3_bind_text(st.s, 4, reason.c_str(), -1, SQLITE_TRANSIENT);
  if (sqlite3_step(st.s) != SQLITE_DONE) db_->fail("cannot record the interruption");
}

void TreatmentRecord::complete_beam(int fraction, const std::string& beam, double delivered_mu) {
  auto st = db_->prepare(
      "INSERT OR REPLACE INTO completed_beams (fraction, beam, delivered_mu) VALUES (?, ?, ?)");
  sqlite3_bind_int(st.s, 1, fraction);
  sqlite3_bind_text(st.s, 2, beam.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_double(st.s, 3, delivered_mu);
  if (sqlite3_step(st.s) != SQLITE_DONE) db_->fail("cannot record the completed beam");
}

double TreatmentRecord::delivered_mu(int fraction, const std::string& beam) const {
  auto st = db_->prepare(
      "SELECT COALESCE(MAX(primary_mu), 0) FROM mu_checkpoints WHERE fraction = ? AND beam = ?");
  sqlite3_bind_int(st.s, 1, fraction);
  sqlite3_bind_text(st.s, 2, beam.c_str(), -1, SQLITE_TRANSIENT);
  if (sqlite3_step(st.s) != SQLITE_ROW) db_->fail("cannot read delivered MU");
  return sqlite3_column_double(st.s, 0);
}

bool TreatmentRecord::beam_completed(int fraction, const std::string& beam) const {
  auto st = db_->prepare("SELECT 1 FROM completed_beams WHERE fraction = ? AND beam = ?");
  sqlite3_bind_int(st.s, 1, fraction);
  sqlite3_bind_text(st.s, 2, beam.c_str(), -1, SQLITE_TRANSIENT);
  return sqlite3_step(st.s) == SQLITE_ROW;
}

std::vector<Interruption> TreatmentRecord::interruptions(int fraction) const {
  auto st = db_->prepare(
      "SELECT beam, delivered_mu, reason FROM interruptions WHERE fraction = ? ORDER BY id");
  sqlite3_bind_int(st.s, 1, fraction);
  std::vector<Interruption> out;
  while (sqlite3_step(st.s) == SQLITE_ROW) {
    out.push_back({fraction, reinterpret_cast<const char*>(sqlite3_column_text(st.s, 0)),
                   sqlite3_column_double(st.s, 1),
                   reinterpret_cast<const char*>(sqlite3_column_text(st.s, 2))});
  }
  return out;
}

}  // namespace linac::delivery
