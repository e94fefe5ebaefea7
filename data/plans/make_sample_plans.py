#!/usr/bin/python3
"""Writes the sample plans of data/plans (plan JSON, the product's Protobuf plan file format).

vmat_double_arc.json      double-arc 6 MV VMAT (181->179 CW, 179->181 CC, 178 control points
                          each) conformed to the built-in patient's liver as seen from each
                          gantry angle (an ellipsoid of the liver's 3,593 cm3: semi-axes 110 mm
                          lateral, 85 mm AP, 92 mm cranio-caudal) with modulated leaf openings.
                          Deliverable on the Clinac iX profile; the planning module produces
                          optimised plans of the same shape.
imrt_sliding_window.json  a static-gantry sliding-window IMRT field (20 mm gap sweeping 120 mm).
bad_*.json                one plan per machine limit, each breaking exactly that limit.

Usage: make_sample_plans.py OUT_DIR"""
import copy
import json
import math
import os
import sys

BOUNDS = [-200 + 10 * i for i in range(10)] + [-100 + 5 * i for i in range(40)] + \
         [100 + 10 * i for i in range(11)]
LATERAL, AP, CC = 110.0, 85.0, 92.0


def control_point(gantry, direction, weight, bank_a, bank_b, jaws, collimator):
    return {
        "gantry_angle_deg": round(gantry % 360.0, 3),
        "gantry_rotation_direction": direction,
        "collimator_angle_deg": collimator,
        "cumulative_meterset_weight": round(weight, 6),
        "leaf_positions_bank_a_mm": [round(x, 2) for x in bank_a],
        "leaf_positions_bank_b_mm": [round(x, 2) for x in bank_b],
        "jaw_x1_mm": jaws[0], "jaw_x2_mm": jaws[1], "jaw_y1_mm": jaws[2], "jaw_y2_mm": jaws[3],
    }


def arc(number, name, start, direction, mu, collimator, phase):
    """178 control points 2 degrees apart, leaves on the liver outline with modulation."""
    cps = []
    n = 178
    step = 2.0 if direction == "ROTATION_CW" else -2.0
    for i in range(n):
        g = start + step * i
        t = math.radians(g)
        half_width = math.hypot(LATERAL * math.cos(t), AP * math.sin(t))
        bank_a, bank_b = [], []
        for p in range(60):
            y = 0.5 * (BOUNDS[p] + BOUNDS[p + 1])
            s = 1.0 - (y / CC) ** 2
            if s <= 0.02:  # outside the target: leaves closed behind the Y jaws
                bank_a.append(0.5)
                bank_b.append(-0.5)
                continue
            w = half_width * math.sqrt(s)
            # Modulation: each pair narrows its opening on one side or the other as the gantry
            # turns (slow enough for the leaf speed: under 4 mm per 2 degrees).
            m = 0.35 * w * (0.5 + 0.5 * math.sin(0.09 * i + 0.4 * p + phase))
            k = 0.25 * w * (0.5 + 0.5 * math.cos(0.07 * i + 0.3 * p + phase))
            bank_a.append(w - m)
            bank_b.append(-(w - k))
        widest = max(max(bank_a), max(-b for b in bank_b))
        jaws = [-round(widest + 5.0, 1), round(widest + 5.0, 1), -97.0, 97.0]
        weight = i / (n - 1)
        cps.append(control_point(g, direction if i < n - 1 else "ROTATION_NONE", weight, bank_a,
                                 bank_b, jaws, collimator))
    return {"number": number, "name": name, "type": "BEAM_ARC", "radiation_type": "PHOTON",
            "nominal_energy_mv": 6, "beam_meterset_mu": mu, "treatment_machine_name": "ClinacIX",
            "leaf_boundaries_mm": BOUNDS, "control_points": cps}


def plan(label, beams, fractions=5, dose=20.0):
    return {"schema_version": 1, "plan_label": label, "patient_id": "BUILTIN-ABDOMEN",
            "treatment_machine_name": "ClinacIX",
            "prescription": {"target": "PTV", "dose_gy": dose, "fractions": fractions},
            "beams": beams}


def sliding_window():
    cps = []
    n = 41
    for i in range(n):
        x = -70.0 + 120.0 * i / (n - 1)  # bank B edge sweeps -70 .. 50 with a 20 mm gap
        cps.append(control_point(0.0, "ROTATION_NONE", i / (n - 1), [x + 20.0] * 60, [x] * 60,
                                 [-75.0, 75.0, -60.0, 60.0], 0.0))
        cps[-1]["dose_rate_mu_per_min"] = 400.0
    return plan("SlidingWindow", [{"number": 1, "name": "SW0", "type": "BEAM_DYNAMIC",
                                   "radiation_type": "PHOTON", "nominal_energy_mv": 6,
                                   "beam_meterset_mu": 120.0, "treatment_machine_name": "ClinacIX",
                                   "leaf_boundaries_mm": BOUNDS, "control_points": cps}],
                fractions=1, dose=2.0)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    vmat = plan("LiverVMAT", [arc(1, "Arc1", 181.0, "ROTATION_CW", 352.0, 30.0, 0.0),
                              arc(2, "Arc2", 179.0, "ROTATION_CCW", 338.0, 330.0, 1.7)])
    plans = {"vmat_double_arc": vmat, "imrt_sliding_window": sliding_window()}

    def broken(name, change):
        p = copy.deepcopy(vmat)
        p["plan_label"] = "Broken_" + name
        change(p["beams"][0])
        plans["bad_" + name] = p

    def mu_per_degree(b):  # 20 MU/deg is the maximum
        b["beam_meterset_mu"] = 7500.0

    def meterset_order(b):
        b["control_points"][50]["cumulative_meterset_weight"] = 0.1
        b["control_points"][51]["cumulative_meterset_weight"] = 0.05

    def leaf_travel(b):  # a leaf 230 mm past the central axis (200 mm is the limit)
        b["control_points"][10]["leaf_positions_bank_a_mm"][30] = 230.0

    def bank_span(b):  # one bank spread over 160 mm (145 mm is the carriage's span)
        cp = b["control_points"][20]
        cp["leaf_positions_bank_a_mm"][30] = 150.0
        cp["leaf_positions_bank_a_mm"][31] = -10.0
        cp["leaf_positions_bank_b_mm"][31] = -20.0

    def leaf_gap(b):  # opposing leaves overlapping: they would collide
        cp = b["control_points"][30]
        cp["leaf_positions_bank_a_mm"][30] = -5.0
        cp["leaf_positions_bank_b_mm"][30] = 5.0

    def jaw_range(b):  # X2 300 mm open (200 mm is the limit)
        b["control_points"][40]["jaw_x2_mm"] = 300.0

    def energy(b):
        b["nominal_energy_mv"] = 18

    def machine(b):
        b["treatment_machine_name"] = "TrueBeam1"

    def leaf_boundaries(b):  # a 120-leaf HD MLC's boundaries on a Millennium 120
        b["leaf_boundaries_mm"] = [-110 + 5 * i for i in range(14)] + \
                                  [-40 + 2.5 * i for i in range(32)] + [40 + 5 * i for i in range(15)]

    def gantry_direction(b):  # the arc reverses direction midway
        b["control_points"][60]["gantry_rotation_direction"] = "ROTATION_CCW"

    def dose_rate(b):  # 800 MU/min asked; 600 MU/min is the maximum
        for cp in b["control_points"]:
            cp["dose_rate_mu_per_min"] = 800.0

    def single_control_point(b):
        b["control_points"] = b["control_points"][:1]
        b["control_points"][0]["cumulative_meterset_weight"] = 1.0

    for name, change in [("mu_per_degree", mu_per_degree), ("meterset_order", meterset_order),
                         ("leaf_travel", leaf_travel), ("bank_span", bank_span),
                         ("leaf_gap", leaf_gap), ("jaw_range", jaw_range), ("energy", energy),
                         ("machine", machine), ("leaf_boundaries", leaf_boundaries),
                         ("gantry_direction", gantry_direction), ("dose_rate", dose_rate),
                         ("single_control_point", single_control_point)]:
        broken(name, change)
    for name, p in plans.items():
        with open(os.path.join(out, name + ".json"), "w") as f:
            json.dump(p, f, separators=(",", ":"))
            f.write("\n")


if __name__ == "__main__":
    main()
