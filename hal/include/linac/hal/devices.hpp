#pragma once
// Device interfaces of the hardware abstraction layer, modelled on ros2_control: a lifecycle
// (configure -> activate -> deactivate) and a cycle of read(t) (refresh the state) and write(t)
// (send the latched commands). State and command structs carry units in their field names.
// Commands are checked by the device against the machine profile: a bad command is refused
// with a fault (a value) and never reaches the hardware; nothing here throws in the cycle.
#include <array>
#include <optional>
#include <string>
#include <vector>

#include "linac/core/iec61217.hpp"
#include "linac/core/machine_profile.hpp"
#include "linac/hal/fault.hpp"

namespace linac::hal {

enum class LifecycleState { kUnconfigured, kInactive, kActive };

class Device {
 public:
  virtual ~Device() = default;
  [[nodiscard]] virtual std::string name() const = 0;
  /// Takes the limits of `profile`; a device left unconfigured refuses every command.
  virtual std::optional<Fault> configure(const MachineProfile& profile) = 0;
  virtual std::optional<Fault> activate() = 0;
  virtual void deactivate() = 0;
  [[nodiscard]] virtual LifecycleState lifecycle() const = 0;
  /// Refreshes the state to time t_s (actual positions, counts, faults).
  virtual void read(double t_s) = 0;
  /// Sends the latched commands at time t_s.
  virtual void write(double t_s) = 0;
  /// Faults raised since the last call, oldest first.
  virtual std::vector<Fault> take_faults() = 0;
};

// --- MLC: 2 banks of leaf_pairs leaves on carriages -------------------------------------------
struct MlcState {
  std::vector<double> leaf_a_mm;  // bank A (X2 side)
  std::vector<double> leaf_b_mm;  // bank B (X1 side)
  double carriage_a_mm = 0.0;     // carriage centre, follows the bank
  double carriage_b_mm = 0.0;
};
struct MlcCommand {
  std::vector<double> leaf_a_mm;
  std::vector<double> leaf_b_mm;
};
class Mlc : public virtual Device {
 public:
  [[nodiscard]] virtual const MlcState& state() const = 0;
  /// Latches a set-point for the next write(); refused (fault returned) when invalid.
  virtual std::optional<Fault> command(const MlcCommand& cmd) = 0;
};

// --- Jaws ---------------------------------------------------------------------------------------
struct JawState {
  double x1_mm = 0.0;  // coordinates along the BLD axes: open field has x1 < 0 < x2
  double x2_mm = 0.0;
  double y1_mm = 0.0;
  double y2_mm = 0.0;
};
using JawCommand = JawState;
class Jaws : public virtual Device {
 public:
  [[nodiscard]] virtual const JawState& state() const = 0;
  virtual std::optional<Fault> command(const JawCommand& cmd) = 0;
};

// --- Rotational axes: gantry and collimator -----------------------------------------------------
struct AxisState {
  double angle_deg = 0.0;  // continuous, within the profile's range (gantry -185 .. 185)
  double speed_deg_per_s = 0.0;
};
struct AxisCommand {
  double angle_deg = 0.0;
  double max_speed_deg_per_s = 0.0;  // 0: the profile's maximum
};
class RotationAxis : public virtual Device {
 public:
  [[nodiscard]] virtual const AxisState& state() const = 0;
  virtual std::optional<Fault> command(const AxisCommand& cmd) = 0;
};

// --- Couch: 6 degrees of freedom ----------------------------------------------------------------
struct CouchPose {
  double lateral_mm = 0.0;
  double longitudinal_mm = 0.0;
  double vertical_mm = 0.0;
  double rotation_deg = 0.0;
  double pitch_deg = 0.0;
  double roll_deg = 0.0;
};
/// The couch pose as core's IEC 61217 couch state (lateral, longitudinal, vertical along the
/// table top's X, Y, Z; rotation, pitch, roll), for placing a patient in the room.
inline iec::CouchState couch_state(const CouchPose& c) {
  iec::CouchState s;
  s.translation_mm = Eigen::Vector3d(c.lateral_mm, c.longitudinal_mm, c.vertical_mm);
  s.rotation_deg = c.rotation_deg;
  s.pitch_deg = c.pitch_deg;
  s.roll_deg = c.roll_deg;
  return s;
}

class Couch : public virtual Device {
 public:
  [[nodiscard]] virtual const CouchPose& state() const = 0;
  virtual std::optional<Fault> command(const CouchPose& target) = 0;
};

// --- Beam control and dose monitoring -----------------------------------------------------------
struct BeamState {
  bool beam_on = false;
  double dose_rate_mu_per_min = 0.0;  // actual, as servoed
  double energy_mv = 0.0;
  double preset_mu = 0.0;
};
struct BeamCommand {
  bool beam_on = false;
  double dose_rate_mu_per_min = 0.0;
  double energy_mv = 0.0;
  double preset_mu = 0.0;  // primary channel ends the beam here
};
class BeamControl : public virtual Device {
 public:
  [[nodiscard]] virtual const BeamState& state() const = 0;
  virtual std::optional<Fault> command(const BeamCommand& cmd) = 0;
};

struct DoseState {
  double primary_mu = 0.0;    // monitor chamber 1
  double secondary_mu = 0.0;  // monitor chamber 2, independent
};
class DoseMonitor : public virtual Device {
 public:
  [[nodiscard]] virtual const DoseState& counts() const = 0;
  /// Starts a new count (both channels to zero) for the next beam.
  virtual void reset_counts() = 0;
};

// --- kV imager (On-Board Imager) ---------------------------------------------------------------
// The kV source sits 90 degrees from the MV source: kv_source_angle_deg = gantry_deg + 90. The
// flat panel faces the source at SID; u runs along the panel's columns (the gantry's rotation
// direction), v along its rows (towards the gantry, IEC Y). A projection is taken at the
// gantry's actual angle at the read() after it was requested.
struct KvRequest {
  int binning = 4;                 // 1, 2, 4 or 8: pixels combined per side
  bool half_fan = false;           // panel shifted laterally by the profile's half-fan offset
  double photons_per_pixel = 0.0;  // quantum noise at this fluence per unbinned pixel; 0: none
};
struct KvProjection {
  double time_s = 0.0;
  double gantry_deg = 0.0;
  double kv_source_angle_deg = 0.0;
  double source_axis_distance_mm = 0.0;
  double source_imager_distance_mm = 0.0;
  double pixel_pitch_mm = 0.0;      // after binning
  double detector_offset_mm = 0.0;  // lateral shift of the panel centre along u
  int columns = 0;
  int rows = 0;
  std::vector<float> line_integral;  // -ln(I / I0), row-major, row 0 at -v
};
class KvImager : public virtual Device {
 public:
  virtual std::optional<Fault> request(const KvRequest& req) = 0;
  /// The projection taken since the last call, if any.
  virtual std::optional<KvProjection> take_projection() = 0;
};

}  // namespace linac::hal
