"""Build the live ledger data/isis_pakistan_ledger.csv (the audited second edition).

Reads data/audit/isis_pakistan_ledger_v2.csv (the audit of the first ledger, _build_v2.py) and
the complete event records in data/audit/events/*.csv (each with its search log, and checked
row by row in events/VERIFY.md, whose fixes are applied in those files), applies the last
fixes below, and writes the rows in date order. Run from anywhere:

    python data/audit/_build_v3.py
"""
import csv
import pathlib

root = pathlib.Path(__file__).resolve().parents[2]
audit = root / "data" / "audit"
out = root / "data" / "isis_pakistan_ledger.csv"
COLS = ["id", "date", "node", "state", "likelihood", "grade", "source", "url", "note"]
EVENTS = ["isis_claim_pakistan", "isis_attack_official", "support_hardliners_parties",
          "alliance_territory_other", "recruitment"]

rows = list(csv.DictReader(open(audit / "isis_pakistan_ledger_v2.csv", encoding="utf-8")))
for name in EVENTS:
    rows += list(csv.DictReader(open(audit / "events" / f"{name}.csv", encoding="utf-8")))
by_id = {r["id"]: r for r in rows}
assert len(by_id) == len(rows), "duplicate ids"

# Fixes to v2 rows found while recording the events (see events/*.md):
# E012: Lal Masjid clerics are not a religious political party, so the row leans no.
by_id["E012"]["likelihood"] = "0.55;0.45"
by_id["E012"]["note"] = ("Police detain the Lal Masjid spokesman over the Jamia Hafsa pro-IS "
                         "video; the clerics go to court. A clerical network, not the cadres of "
                         "a religious political party: the definition is not met, a slight lean "
                         "no.")
# E039: the Intelligence Bureau chief is not an office official_attribution names.
DROP = {"E039"}
# E075: the minister spoke on 5 Mar 2022 and named no group.
by_id["E075"]["date"] = "2022-03-05"
by_id["E075"]["likelihood"] = "0.45;0.55"
by_id["E075"]["note"] = ("The interior minister says the suspects are identified and police "
                         "check recent arrivals from Afghanistan, naming no group; with IS's "
                         "claim this is no official finding of IS involvement: near flat.")

kept = [r for r in rows if r["id"] not in DROP]
kept.sort(key=lambda r: (r["date"], r["id"]))
with open(out, "w", encoding="utf-8", newline="") as f:
    w = csv.DictWriter(f, fieldnames=COLS)
    w.writeheader()
    for r in kept:
        w.writerow({c: r[c] for c in COLS})
print(f"wrote {out} ({len(kept)} rows)")
