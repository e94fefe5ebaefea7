#pragma once
// A simulated Clinac iX: every HAL device with realistic dynamics (speed and acceleration limits,
// servo lag, encoder noise, dose-rate ripple, independent chamber noise) and fault injection for
// the device rows of SAFETY.md. Deterministic for a seed.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "linac/core/iec61217.hpp"
#include "linac/core/volume.hpp"
#include "linac/hal/machine.hpp"

namespace linac::sim {

enum class FaultKind {
  kLeafStuck,  // element: leaf (0..59 bank A, 60..119 bank B)
  kLeafDrift,  // magnitude: mm/s
  kLeafSlow,   // magnitude: speed factor (< 1)
  kGantryStall,
  kGantryOverspeed,  // magnitude: speed factor (> 1)
  kPrimaryChannelStop,
  kChannelDisagreement,  // magnitude: secondary gain error in %
  kDoseRateDropout,
  kDoseRateExcess,      // magnitude: factor on the commanded dose rate
  kJawNotAtPosition,    // element: 0 X1, 1 X2, 2 Y1, 3 Y2; magnitude: offset mm
  kCouchNotAtPosition,  // element: 0 lat, 1 long, 2 vert, 3 rot, 4 pitch, 5 roll; magnitude
  kLinkLoss,            // the daemon stops answering for `magnitude` seconds of real time
};

struct InjectedFault {
  FaultKind kind = FaultKind::kLeafStuck;
  int element = 0;
  double onset_s = 0.0;
  double magnitude = 0.0;
};

/// "leaf_stuck" etc.; throws InputError for an unknown name.
FaultKind parse_fault_kind(const std::string& name);
std::string to_string(FaultKind kind);
/// A fault file: {"faults": [{"kind": "leaf_stuck", "element": 12, "onset_s": 1.5,
/// "magnitude": 0}, ...]}. Throws InputError naming the file, entry and field.
std::vector<InjectedFault> load_fault_file(const std::filesystem::path& path);

class SimulatedMachine {
 public:
  explicit SimulatedMachine(std::uint64_t seed = 1);
  ~SimulatedMachine();
  SimulatedMachine(const SimulatedMachine&) = delete;
  SimulatedMachine& operator=(const SimulatedMachine&) = delete;

  /// The HAL view, on the machine's own virtual clock.
  hal::Machine& machine();
  hal::VirtualClock& clock();
  /// The patient the kV imager sees: attenuation (1/mm) in DICOM patient coordinates with the
  /// isocentre at the origin, placed on the couch in `position`. Without one, the imager refuses
  /// requests.
  void set_imaging_subject(std::shared_ptr<const Volume<float>> mu_per_mm,
                           iec::PatientPosition position = iec::PatientPosition::kHFS);
  /// Adds a fault that takes effect at its onset time (configuration or run time). Link loss
  /// concerns the transport: the daemon (MachineService) handles it, the devices ignore it.
  void inject(const InjectedFault& fault);

 private:
  struct Devices;
  std::unique_ptr<Devices> devices_;
  hal::VirtualClock clock_;
  hal::Machine machine_;
};

}  // namespace linac::sim
