#pragma once
// The treatment record (SQLite): fractions, beams, delivered MU, interruptions. Records come
// first: every write is committed (WAL, synchronous=FULL) before the call returns, so whatever
// a caller acknowledges after a call survives a crash of the process at any later moment.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace linac::delivery {

struct Interruption {
  int fraction = 0;
  std::string beam;
  double delivered_mu = 0.0;
  std::string reason;
};

class TreatmentRecord {
 public:
  /// Opens or creates the record; `plan_checksum` must match the one it was created with.
  /// Throws InputError for an unreadable file or a record of another plan.
  TreatmentRecord(const std::filesystem::path& path, const std::string& plan_checksum);
  ~TreatmentRecord();
  TreatmentRecord(const TreatmentRecord&) = delete;
  TreatmentRecord& operator=(const TreatmentRecord&) = delete;

  /// Appends a delivered-MU checkpoint of a beam in a fraction (both channels). Committed to
  /// disk before it returns; throws std::runtime_error when it cannot be (disk full, ...), in
  /// which case the caller must hold the beam.
  void record_mu(int fraction, const std::string& beam, double primary_mu, double secondary_mu,
                 double time_s);
  void record_interruption(int fraction, const std::string& beam, double delivered_mu,
                           const std::string& reason);
  void complete_beam(int fraction, const std::string& beam, double delivered_mu);

  /// Largest primary-channel MU recorded for the beam in the fraction (0 when none).
  [[nodiscard]] double delivered_mu(int fraction, const std::string& beam) const;
  [[nodiscard]] bool beam_completed(int fraction, const std::string& beam) const;
  [[nodiscard]] std::vector<Interruption> interruptions(int fraction) const;
  [[nodiscard]] const std::string& plan_checksum() const { return checksum_; }

 private:
  struct Db;
  std::unique_ptr<Db> db_;
  std::string checksum_;
};

}  // namespace linac::delivery
