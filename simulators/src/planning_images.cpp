#include "linac/simulators/planning_images.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <random>

#include "linac/core/distance_map.hpp"
#include "linac/core/error.hpp"
#include "linac/core/mask.hpp"
#include "linac/core/random.hpp"
#include "linac/core/registration.hpp"
#include "linac/core/resample.hpp"

namespace linac::sim {

namespace {

std::int16_t to_hu(double v) {
  return static_cast<std::int16_t>(std::clamp(std::lround(v), -1024L, 3071L));
}

// Weight of the breathing motion at each voxel: 1 at the liver dome inside the abdomen, fading
// below it and towards the body surface, 0 in bone and outside the body.
Volume<float> motion_weight(const Case& c, const BreathingOptions& o, double& dome_z_mm) {
  const Mask& body = c.get("body").mask;
  const Mask& liver = c.get("liver").mask;
  const Grid& g = c.ct.grid();
  dome_z_mm = -1e300;
  double bottom_z_mm = 1e300;
  for (std::size_t n = 0; n < liver.size(); ++n) {
    if (liver[n] == 0) continue;
    const auto ijk = g.index_of(n);
    const double z = g.index_to_world_mm(Eigen::Vector3d(static_cast<double>(ijk[0]),
                                                         static_cast<double>(ijk[1]),
                                                         static_cast<double>(ijk[2])))
                         .z();
    dome_z_mm = std::max(dome_z_mm, z);
    bottom_z_mm = std::min(bottom_z_mm, z);
  }
  const double liver_height = dome_z_mm - bottom_z_mm;
  const Mask outside = body.map<std::uint8_t>([](std::uint8_t v) { return v != 0 ? 0 : 1; });
  const Volume<float> depth = distance_map_mm(outside);
  Volume<float> w(g, 0.0F);
  for (std::int64_t k = 0; k < g.dims[2]; ++k) {
    for (std::int64_t j = 0; j < g.dims[1]; ++j) {
      for (std::int64_t i = 0; i < g.dims[0]; ++i) {
        const std::size_t n = g.linear_index(i, j, k);
        if (body[n] == 0) continue;
        const double z =
            g.index_to_world_mm(Eigen::Vector3d(static_cast<double>(i), static_cast<double>(j),
                                                static_cast<double>(k)))
                .z();
        const double below = dome_z_mm - z;
        // The whole liver moves with the diaphragm; below it the motion fades, and above the
        // dome (lung bases) it fades quickly.
        const double along = below < 0.0 ? std::exp(below / 40.0)
                             : below <= liver_height
                                 ? 1.0
                                 : std::exp(-(below - liver_height) / o.falloff_mm);
        const double inner = std::clamp((static_cast<double>(depth[n]) - 5.0) / 10.0, 0.0, 1.0);
        w[n] = static_cast<float>(along * inner);
      }
    }
  }
  Volume<float> smooth = gaussian_smooth(w, 6.0);
  for (std::size_t n = 0; n < smooth.size(); ++n) {
    if (body[n] == 0 || c.ct[n] > 250) smooth[n] = 0.0F;  // the outline and the bones stay still
  }
  return smooth;
}

template <typename T>
Volume<T> warp(const Volume<T>& src, const Volume<float>& weight, const Eigen::Vector3d& shift_mm,
               Interpolation mode, T outside) {
  const Grid& g = src.grid();
  Volume<T> out(g, outside);
  const Eigen::Vector3d shift_index =
      (g.direction.transpose() * shift_mm).cwiseQuotient(g.spacing_mm);
#pragma omp parallel for schedule(static)
  for (std::int64_t k = 0; k < g.dims[2]; ++k) {
    for (std::int64_t j = 0; j < g.dims[1]; ++j) {
      for (std::int64_t i = 0; i < g.dims[0]; ++i) {
        const std::size_t n = g.linear_index(i, j, k);
        const auto w = static_cast<double>(weight[n]);
        if (w <= 1e-4) {
          out[n] = src[n];
          continue;
        }
        // Backward mapping: the value here comes from where the tissue was at rest.
        const Eigen::Vector3d c = Eigen::Vector3d(static_cast<double>(i), static_cast<double>(j),
                                                  static_cast<double>(k)) -
                                  w * shift_index;
        out[n] = detail::convert_sample<T>(sample(src, c, mode, static_cast<double>(src[n])));
      }
    }
  }
  return out;
}

}  // namespace

FourDct make_4dct(const Case& c, const BreathingOptions& o) {
  if (o.phases < 2 || o.phases > 50) throw InputError("4DCT", "phases must be 2 to 50");
  if (!(o.amplitude_si_mm >= 0.0 && o.amplitude_si_mm <= 50.0) ||
      !(o.amplitude_ap_mm >= 0.0 && o.amplitude_ap_mm <= 30.0)) {
    throw InputError("4DCT", "amplitudes must be 0-50 mm (SI) and 0-30 mm (AP)");
  }
  if (count_voxels(c.get("liver").mask) == 0) throw InputError("liver", "the liver mask is empty");
  FourDct out;
  out.options = o;
  double dome = 0.0;
  const Volume<float> w = motion_weight(c, o, dome);
  const Structure* gtv = c.find("GTV");
  for (int p = 0; p < o.phases; ++p) {
    const double phase = 2.0 * std::numbers::pi * p / o.phases;
    // Phase 0: end-inhale, the diaphragm lowest and the abdomen forward (LPS: -y anterior).
    const double si = -0.5 * o.amplitude_si_mm * std::cos(phase);
    const double ap = -0.5 * o.amplitude_ap_mm * std::cos(phase);
    const Eigen::Vector3d shift(0.0, ap, si);
    out.si_shift_mm.push_back(si);
    out.phases.push_back(warp(c.ct, w, shift, Interpolation::kLinear, std::int16_t{-1000}));
    out.liver.push_back(
        warp(c.get("liver").mask, w, shift, Interpolation::kNearest, std::uint8_t{0}));
    if (gtv != nullptr) {
      out.gtv.push_back(warp(gtv->mask, w, shift, Interpolation::kNearest, std::uint8_t{0}));
    }
  }
  return out;
}

SpectCt make_spect_ct(const Case& c, const FourDct& fourdct, const SpectCtOptions& o) {
  if (!(o.spect_voxel_mm >= 1.0) || !(o.fwhm_mm > 0.0) || !(o.peak_counts >= 10.0) ||
      !(o.ct_voxel_mm >= 0.5) || !(o.ct_slice_mm >= 0.5)) {
    throw InputError("SPECT/CT", "voxel sizes, resolution and counts must be positive");
  }
  SpectCt out;
  out.spect_ct_to_planning = RigidTransform::from_euler_deg(o.rotation_deg, o.translation_mm);
  const Grid& pg = c.ct.grid();
  const Mask& liver = c.get("liver").mask;
  if (count_voxels(liver) == 0) throw InputError("liver", "the liver mask is empty");
  const Structure* gtv = c.find("GTV");
  auto functional = [&](const Mask& l, const Mask* g) {
    Mask f = l;
    if (g != nullptr) f = mask_difference(l, *g);
    return f;
  };
  out.functional_truth = functional(liver, gtv != nullptr ? &gtv->mask : nullptr);
  // Uptake of the parenchyma: impaired near metastases (compressed, its portal flow diverted),
  // recovering with the distance d from the nearest one as 1 - exp(-d / impairment).
  auto uptake = [&](const Mask& f, const Mask* g, float share) {
    Volume<float> u(pg, 0.0F);
    const bool impaired = g != nullptr && o.peritumoral_impairment_mm > 0.0;
    const Volume<float> distance = impaired ? signed_distance_map_mm(*g) : Volume<float>(pg, 0.0F);
    for (std::size_t n = 0; n < u.size(); ++n) {
      if (f[n] == 0) continue;
      const double w = impaired ? 1.0 - std::exp(-std::max(0.0, static_cast<double>(distance[n])) /
                                                 o.peritumoral_impairment_mm)
                                : 1.0;
      u[n] = share * static_cast<float>(w);
    }
    return u;
  };
  // Activity on the planning grid: functioning parenchyma averaged over the breathing cycle
  // (a SPECT takes many minutes), with a smooth gradient of function across the liver.
  Volume<float> activity(pg, 0.0F);
  const std::size_t phases = fourdct.liver.size();
  if (phases == 0) {
    activity = uptake(out.functional_truth, gtv != nullptr ? &gtv->mask : nullptr, 1.0F);
  } else {
    for (std::size_t p = 0; p < phases; ++p) {
      const Mask* g = fourdct.gtv.empty() ? nullptr : &fourdct.gtv[p];
      const Volume<float> u =
          uptake(functional(fourdct.liver[p], g), g, 1.0F / static_cast<float>(phases));
      for (std::size_t n = 0; n < activity.size(); ++n) activity[n] += u[n];
    }
  }
  const auto box = bounding_box(liver);
  auto corner = [&](const Index3& ijk) {
    return pg.index_to_world_mm(Eigen::Vector3d(
        static_cast<double>(ijk[0]), static_cast<double>(ijk[1]), static_cast<double>(ijk[2])));
  };
  const Eigen::Vector3d lo = corner(box->min);
  const Eigen::Vector3d hi = corner(box->max);
  for (std::int64_t k = 0; k < pg.dims[2]; ++k) {
    for (std::int64_t j = 0; j < pg.dims[1]; ++j) {
      for (std::int64_t i = 0; i < pg.dims[0]; ++i) {
        const std::size_t n = pg.linear_index(i, j, k);
        if (activity[n] <= 0.0F) continue;
        const Eigen::Vector3d x = pg.index_to_world_mm(Eigen::Vector3d(
            static_cast<double>(i), static_cast<double>(j), static_cast<double>(k)));
        // Better function towards the patient's left and superiorly (u, v in -1..1).
        const double u = 2.0 * (x.x() - lo.x()) / std::max(1.0, hi.x() - lo.x()) - 1.0;
        const double v = 2.0 * (x.z() - lo.z()) / std::max(1.0, hi.z() - lo.z()) - 1.0;
        activity[n] *= static_cast<float>(1.0 + o.functional_gradient * 0.5 * (u + v));
      }
    }
  }
  const Volume<float> blurred = gaussian_smooth(activity, o.fwhm_mm / 2.3548);
  // The SPECT/CT's own grids, in its frame: the planning box shrunk by the set-up offset, so
  // that everything they show comes from the planning CT (nothing is invented at the edges).
  const double inset = o.translation_mm.cwiseAbs().maxCoeff() + 15.0;
  auto grid_for = [&](double xy_mm, double z_mm) {
    Grid g = pg;
    g.spacing_mm = Eigen::Vector3d(xy_mm, xy_mm, z_mm);
    for (int a = 0; a < 3; ++a) {
      const double extent = static_cast<double>(pg.dims[a] - 1) * pg.spacing_mm[a] - 2 * inset;
      if (extent < 50.0) throw InputError("SPECT/CT", "the planning CT is too small");
      g.dims[a] = static_cast<std::int64_t>(std::floor(extent / g.spacing_mm[a])) + 1;
    }
    g.origin_mm = pg.origin_mm + pg.direction * Eigen::Vector3d(inset, inset, inset);
    return g;
  };
  out.spect = resample(blurred, grid_for(o.spect_voxel_mm, o.spect_voxel_mm),
                       Interpolation::kLinear, 0.0F, out.spect_ct_to_planning);
  float peak = 0.0F;
  for (const float v : out.spect.data()) peak = std::max(peak, v);
  std::mt19937_64 gen(o.seed);
  for (auto& v : out.spect.data()) {
    const double mean = peak > 0.0F ? static_cast<double>(v / peak) * o.peak_counts : 0.0;
    v = mean > 0.0 ? static_cast<float>(std::poisson_distribution<int>(mean)(gen)) : 0.0F;
  }
  const ImageHU ct = resample(c.ct, grid_for(o.ct_voxel_mm, o.ct_slice_mm), Interpolation::kLinear,
                              std::int16_t{-1000}, out.spect_ct_to_planning);
  Rng rng(o.seed ^ 0x5EC7ULL);
  out.ct =
      ct.map<std::int16_t>([&](std::int16_t v) { return to_hu(v + o.ct_noise_hu * rng.normal()); });
  return out;
}

}  // namespace linac::sim
