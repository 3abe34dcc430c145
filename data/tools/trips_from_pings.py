#!/usr/bin/env python3
"""Derive a trips layer from the demo pings: consecutive pings of one device less than
10 minutes apart form one trip, written as a GeoJSON LineString with its departure time.

Usage: python3 data/tools/trips_from_pings.py data/pings.csv data/trips.geojson
Standard library only; deterministic (input order, then device and time).
"""
import csv
import json
import sys
from datetime import datetime

GAP_S = 600
MIN_PINGS = 3


def parse(ts):
    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").timestamp()


def main(src, dst):
    by_device = {}
    with open(src, newline="") as f:
        for row in csv.DictReader(f):
            by_device.setdefault(row["device_id"], []).append(
                (parse(row["ts"]), row["ts"], float(row["lon"]), float(row["lat"])))
    features = []
    for device in sorted(by_device):
        pings = sorted(by_device[device])
        trip = [pings[0]]
        for p in pings[1:] + [None]:
            if p is not None and p[0] - trip[-1][0] < GAP_S:
                trip.append(p)
                continue
            if len(trip) >= MIN_PINGS:
                features.append({
                    "type": "Feature",
                    "geometry": {"type": "LineString",
                                 "coordinates": [[round(q[2], 6), round(q[3], 6)] for q in trip]},
                    "properties": {"device_id": device, "departure": trip[0][1],
                                   "arrival": trip[-1][1], "pings": len(trip)},
                })
            if p is not None:
                trip = [p]
    with open(dst, "w") as out:
        json.dump({"type": "FeatureCollection", "name": "trips", "features": features}, out,
                  separators=(",", ":"))
    print(f"{len(features)} trips from {len(by_device)} devices -> {dst}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
