"""`make demo`: run the example scoring script in-process and show what modeltap captured."""

from __future__ import annotations

import importlib.util
import json
import random
import sys
from pathlib import Path

import modeltap
from modeltap.formats import decode_records

HERE = Path(__file__).resolve().parent


def load_script(path: Path):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("score", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> int:
    settings = modeltap.configure(HERE / "deployment.yaml")
    script = load_script(HERE / "score.py")
    script.init()
    rng = random.Random(7)
    requests = 200
    for i in range(requests):
        shift = 5.0 if i >= requests // 2 else 0.0  # the second half drifts
        rows = rng.randint(1, 3)
        body = {
            "data": {
                "age": [rng.randint(20, 70) for _ in range(rows)],
                "income": [round(rng.gauss(50 + shift, 10), 2) for _ in range(rows)],
                "segment": [rng.choice(["a", "b", "c"]) for _ in range(rows)],
            }
        }
        script.run(json.dumps(body))
    modeltap.flush()
    stats = modeltap.stats()
    root = Path(settings.destination)
    print(f"modeltap {modeltap.__version__}: {requests} requests scored, data in {root}\n")
    print(f"{'collection':<16}{'events':>8}{'rows':>8}{'files':>7}{'dropped':>9}")
    for name, c in stats.collections.items():
        print(
            f"{name:<16}{c.events_written:>8}{c.rows_written:>8}"
            f"{c.files_committed:>7}{c.dropped_total:>9}"
        )
    base = root / settings.endpoint / settings.deployment_name
    files = sorted(base.rglob("*.jsonl"))
    print("\nfiles:")
    for path in files[-4:]:
        print(f"  {path.relative_to(root)}")
    inputs = [r for p in files if "model_inputs" in p.parts for r in decode_records(p.read_bytes())]
    outputs = {
        r["correlationid"]: r
        for p in files
        if "model_outputs" in p.parts
        for r in decode_records(p.read_bytes())
    }
    print("\na few correlated records (inputs -> outputs):")
    for record in inputs[-3:]:
        output = outputs.get(record["correlationid"], {})
        print(f"  {record['correlationid']}  {record['data']}  ->  {output.get('data')}")
    modeltap.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
