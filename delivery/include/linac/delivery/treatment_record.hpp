#pragma once
// The treatment record (SQLite): fractions, beams, delivered MU per channel, state changes,
// interruptions with reason codes and values. Records come first: every write is committed
// (WAL, synchronous=FULL) before the call returns, so whatever a caller acknowledges after a
// call survives a crash of the process at any later moment.
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "linac/core/error.hpp"

namespace linac::delivery {

struct Interruption {
  int fraction = 0;
  std::string beam;
  double delivered_mu = 0.0;  // primary channel, beam total, when it happened
  double secondary_mu = 0.0;
  std::string code;  // reason code: "leaf_deviation", "dose_channels_disagree", ...
  std::string device;
  int element = -1;
  double value = 0.0;
  double limit = 0.0;
  double time_s = 0.0;
  std::string message;  // human-readable, names all of the above
};

/// One delivered-MU checkpoint. A run starts when the machine's monitor counts are reset for a
/// beam: the beam totals are base + the machine's counts since that reset.
struct MuCheckpoint {
  double primary_mu = 0.0;  // beam totals
  double secondary_mu = 0.0;
  double base_primary_mu = 0.0;  // beam totals when the run's counts started at zero
  double base_secondary_mu = 0.0;
  double time_s = 0.0;
};

enum class BeamStatus { kNotStarted, kInProgress, kCompleted, kTerminated };
std::string to_string(BeamStatus s);

/// The record cannot be created or opened for writing (disk full, a read-only or missing
/// folder): nothing may be delivered until it can. An InputError, so that callers that only
/// report bad input still name the file.
class RecordUnwritable : public InputError {
 public:
  using InputError::InputError;
};

class TreatmentRecord {
 public:
  /// Opens or creates the record; `plan_checksum` must match the one it was created with.
  /// Throws RecordUnwritable when it cannot be written, InputError for a file that is not a
  /// record or a record of another plan.
  TreatmentRecord(const std::filesystem::path& path, const std::string& plan_checksum,
                  const std::string& course = "");
  ~TreatmentRecord();
  TreatmentRecord(const TreatmentRecord&) = delete;
  TreatmentRecord& operator=(const TreatmentRecord&) = delete;

  /// Appends a delivered-MU checkpoint of a beam in a fraction (both channels, beam totals).
  /// Committed to disk before it returns; throws std::runtime_error when it cannot be (disk
  /// full, ...), in which case the caller must hold the beam.
  void record_mu(int fraction, const std::string& beam, const MuCheckpoint& checkpoint);
  void record_mu(int fraction, const std::string& beam, double primary_mu, double secondary_mu,
                 double time_s);
  /// A state change of the delivery session for a beam, with both channels' totals.
  void record_state(int fraction, const std::string& beam, const std::string& state,
                    double primary_mu, double secondary_mu, double time_s);
  void record_interruption(const Interruption& interruption);
  /// An IGRT set-up of a fraction: the decision and its details (JSON).
  void record_setup(int fraction, const std::string& decision, const std::string& details_json);
  /// Decisions of the set-ups recorded for a fraction, oldest first.
  [[nodiscard]] std::vector<std::string> setups(int fraction) const;
  void record_interruption(int fraction, const std::string& beam, double delivered_mu,
                           const std::string& reason);
  void complete_beam(int fraction, const std::string& beam, double primary_mu,
                     double secondary_mu = 0.0);
  /// Ends a beam for good (secondary-channel termination, dose-channel fault): not resumed.
  void terminate_beam(int fraction, const std::string& beam, double primary_mu, double secondary_mu,
                      const std::string& reason);

  /// Largest primary-channel MU recorded for the beam in the fraction (0 when none).
  [[nodiscard]] double delivered_mu(int fraction, const std::string& beam) const;
  /// The latest checkpoint of the beam in the fraction.
  [[nodiscard]] std::optional<MuCheckpoint> last_checkpoint(int fraction,
                                                            const std::string& beam) const;
  [[nodiscard]] BeamStatus beam_status(int fraction, const std::string& beam) const;
  [[nodiscard]] bool beam_completed(int fraction, const std::string& beam) const;
  [[nodiscard]] std::vector<Interruption> interruptions(int fraction) const;
  /// State names recorded for the beam, oldest first.
  [[nodiscard]] std::vector<std::string> states(int fraction, const std::string& beam) const;
  [[nodiscard]] const std::string& plan_checksum() const { return checksum_; }
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  /// The tables, and the plan's checksum stored or checked, in one transaction (all or none
  /// written); throws what SQLite reports.
  void create_or_check(const std::string& plan_checksum, const std::string& course);
  /// The statements of that transaction.
  void create_tables_and_check(const std::string& plan_checksum, const std::string& course);
  struct Db;
  std::unique_ptr<Db> db_;
  std::string checksum_;
  std::filesystem::path path_;
};

}  // namespace linac::delivery
