#pragma once
// The state of one aperture generation (planning/src only): apertures on the beamlet grid, their
// dose per MU at the points, the segment MU and the full model's correction; column generation
// and exchange in vmat_apertures.cpp, whole-arc routing in vmat_routing.cpp.
#include <utility>
#include <vector>

#include "vmat_problem.hpp"

namespace linac::planning {

/// Allowed column boundaries for the two leaves of one pair (B: left, A: right), inclusive.
struct Reach {
  int b_min, b_max, a_min, a_max;
};

/// One control point's aperture on the beamlet grid: open columns [b, a) per leaf pair.
struct GridAperture {
  std::vector<int> b, a;
  double price = 0.0;
};

/// One aperture generation's state and steps (VmatOptions::Start::kGenerated / kRouted).
struct VmatPlanner::Impl::Generator {
  Generator(const Impl& impl, const std::vector<Term>& terms);

  /// Greedy generation: the cheapest control points join, round by round; returns the rounds.
  int generate(VmatResult& result);
  /// Aperture exchange along the arcs after generation.
  void exchange(VmatResult& result);
  /// Arc by arc, leaf trajectories routed along the whole arc: the first on the prices at a
  /// uniform dose just below the prescription, each next on the objective's prices with the
  /// arcs before it (VmatOptions::Start::kRouted).
  void route(VmatResult& result);
  /// Whole-arc re-routing after the exchange (reroute_passes).
  void reroute(VmatResult& result);
  /// The DAO's variables: leaves from the grid apertures, the segment MU.
  [[nodiscard]] std::vector<double> variables() const;

 private:
  using Index = std::size_t;
  [[nodiscard]] const BeamletMatrix& matrix(int g) const {
    const auto [k, i] = cp_of[static_cast<Index>(g)];
    return m.arcs[static_cast<Index>(k)].matrices[static_cast<Index>(i)];
  }
  /// Weight of each aperture (in the order they joined) from the segment MU.
  [[nodiscard]] Eigen::VectorXd cp_weights(const Eigen::VectorXd& sv) const;
  /// Leaf positions (A, B in mm) of a grid aperture's row; a closed pair at the minimum gap.
  [[nodiscard]] std::pair<double, double> leaves(const BeamletLayout& L, int b, int a) const;
  void fill_dose(int g);
  void dose_at(const Eigen::VectorXd& weights, std::vector<double>& d) const;
  /// dF/d(dose) at the points for the current weights, times the open leaves' share.
  [[nodiscard]] Eigen::VectorXf fluence_gradient() const;
  double optimise_weights(int evaluations);
  /// The DAO's MU-per-degree smoothness penalty on the segment MU `sv` (its gradient added to
  /// `g` when given).
  [[nodiscard]] double mu_smoothness(const std::vector<double>& sv, std::vector<double>* g) const;
  void correct();
  [[nodiscard]] Reach reach_of(int g, int r, int columns) const;
  [[nodiscard]] GridAperture price_aperture(int g, const Eigen::VectorXf& h,
                                            std::vector<double>& prefix) const;
  void join(int g, GridAperture ap);
  double settle(int round, bool force_correction);
  [[nodiscard]] double objective() const;
  /// One arc's leaf trajectories re-chosen by dynamic programming on the prices `h` (per
  /// control point) weighted by the control points' MU `w`, within `radius` columns of the
  /// current apertures; returns the predicted change of the objective (<= 0).
  double route_arc(int k, const std::vector<Eigen::VectorXf>& h, const Eigen::VectorXd& w,
                   double rho, std::vector<GridAperture>& routed) const;
  [[nodiscard]] int travel_step(int k) const;

  const Impl& m;
  const std::vector<Term>& t;
  std::size_t np;
  double tr, half_dlg, gap, rx;
  std::vector<std::pair<int, int>> cp_of;  // (arc, control point) of each global index
  std::vector<int> first;                  // global index of each arc's first control point
  std::vector<int> seg_first;              // global index of each arc's first segment
  int total = 0;
  int segments = 0;
  std::vector<GridAperture> aperture;
  std::vector<int> column;  // weight index of each control point, -1: no aperture yet
  std::vector<int> order;   // global index of each weight
  Eigen::MatrixXf dose_of;  // points x apertures: dose per MU
  std::vector<double> s_min, s_max;
  Eigen::VectorXd s_mu;  // segment MU
  Correction correction;
};

}  // namespace linac::planning
