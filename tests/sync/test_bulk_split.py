"""sync.bulk: a CSV over Pardot's batch-file limit goes as several imports, every row once (issue 11)."""
import csv
import io

from sync import bulk
from sync.bulk import BulkRow, run_import


class FakePardot:
    def __init__(self):
        self.files = []

    def create_import(self, text):
        self.files.append(text)
        return {"id": len(self.files), "status": "Complete"}


def test_a_big_import_is_split_below_the_file_limit(monkeypatch):
    monkeypatch.setattr(bulk, "MAX_FILE_BYTES", 10_000)
    rows = [BulkRow(str(i), {"email": f"p{i}@example.com", "company": "x" * 40}, None) for i in range(1000)]
    pardot = FakePardot()
    result = run_import(pardot, rows)
    assert len(pardot.files) > 1 and all(len(f.encode()) <= 10_000 for f in pardot.files)
    sent = [r["email"] for f in pardot.files for r in csv.DictReader(io.StringIO(f))]
    assert sent == [f"p{i}@example.com" for i in range(1000)]  # each row once, in order
    assert result.calls == len(pardot.files) and not result.failed


def test_a_small_import_is_one_file():
    pardot = FakePardot()
    run_import(pardot, [BulkRow("1", {"email": "a@example.com"}, None)])
    assert len(pardot.files) == 1
