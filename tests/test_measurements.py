"""docs/measurements.md, the lab notebook: every figure names its machine, date, commit and command.

Each table whose header starts with `measure` has exactly the columns `make bench`'s report uses;
each row's machine is one of the Machines table, its date a real day not in the future, its
commit 7-12 hex digits that name a commit of this repository (checked with one `git cat-file`
call unless the clone is shallow or not a git checkout), and its command is in backticks.
"""

from __future__ import annotations

import datetime
import re
import subprocess

from conftest import REPO

DOC = REPO / "docs" / "measurements.md"
MACHINE_COLUMNS = ["machine", "CPU", "flags", "cores", "memory", "GPU"]
MEASURE_COLUMNS = ["measure", "value", "target", "machine", "date", "commit", "command"]
MIN_TOPIC_TABLES = 10
COMMIT = re.compile(r"[0-9a-f]{7,12}")
BACKTICKED = re.compile(r"`[^`]*\S[^`]*`")


def cells(line: str) -> list[str]:
    """A markdown table row's cells, split on pipes that are not escaped (`\\|` stays in a cell)."""
    body = line.strip()
    body = body[1:] if body.startswith("|") else body
    body = body[:-1] if body.endswith("|") and not body.endswith("\\|") else body
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", body)]


def tables(text: str) -> list[dict]:
    """Every table in the document: its heading, header, and rows (line number, cells)."""
    found, current, heading = [], None, ""
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        if line.lstrip().startswith("|"):
            if current is None:
                current = {"heading": heading, "line": number, "header": cells(line), "rows": []}
                found.append(current)
            elif not re.fullmatch(r"\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?", line.strip()):
                current["rows"].append((number, cells(line)))
        else:
            current = None
    return found


def plain(cell: str) -> str:
    return cell.strip().strip("`").strip()


def machine_ids(found: list[dict]) -> list[str]:
    machines = [t for t in found if t["header"] and t["header"][0] == "machine"]
    assert len(machines) == 1, f"docs/measurements.md: expected one Machines table, found {len(machines)}"
    table = machines[0]
    assert table["header"] == MACHINE_COLUMNS, f"line {table['line']}: Machines header {table['header']}"
    return [plain(row[0]) for _, row in table["rows"]]


def measure_tables(found: list[dict]) -> list[dict]:
    return [t for t in found if t["header"] and t["header"][0] == "measure"]


def is_git_checkout_with_history() -> bool:
    run = subprocess.run(
        ["git", "rev-parse", "--is-shallow-repository"], cwd=REPO, capture_output=True, text=True, check=False
    )
    return run.returncode == 0 and run.stdout.strip() == "false"


def missing_commits(commits: set[str]) -> set[str]:
    """The commits `git cat-file --batch-check` cannot find as commits, in one call."""
    ordered = sorted(commits)
    run = subprocess.run(
        ["git", "cat-file", "--batch-check"],
        cwd=REPO,
        input="".join(f"{c}^{{commit}}\n" for c in ordered),
        capture_output=True,
        text=True,
        check=True,
    )
    answers = run.stdout.splitlines()
    assert len(answers) == len(ordered), run.stdout
    return {c for c, answer in zip(ordered, answers) if answer.split()[1:2] != ["commit"]}


def test_the_machines_table_lists_each_machine_once():
    ids = machine_ids(tables(DOC.read_text()))
    assert ids, "docs/measurements.md: the Machines table has no rows"
    assert all(re.fullmatch(r"[a-z0-9][a-z0-9-]*", i) for i in ids), f"machine ids: {ids}"
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    assert not duplicates, f"docs/measurements.md: machine ids listed twice: {duplicates}"


def test_every_figure_names_its_machine_date_commit_and_command():
    found = tables(DOC.read_text())
    machines = set(machine_ids(found))
    today = datetime.date.today()
    problems, commits = [], {}
    topics = measure_tables(found)
    for table in topics:
        where = f"docs/measurements.md line {table['line']} ({table['heading']})"
        if table["header"] != MEASURE_COLUMNS:
            problems.append(f"{where}: header {table['header']}, expected {MEASURE_COLUMNS}")
            continue
        for number, row in table["rows"]:
            name = f"line {number} ({row[0][:60]!r})"
            if len(row) != len(MEASURE_COLUMNS):
                problems.append(f"{name}: {len(row)} cells, expected {len(MEASURE_COLUMNS)}")
                continue
            _, value, _, machine, date, commit, command = row
            if not value:
                problems.append(f"{name}: empty value")
            if plain(machine) not in machines:
                problems.append(f"{name}: machine {machine!r} is not in the Machines table")
            try:
                day = datetime.date.fromisoformat(date)
                if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
                    raise ValueError(date)
                if day > today:
                    problems.append(f"{name}: date {date} is after today")
            except ValueError:
                problems.append(f"{name}: date {date!r} is not YYYY-MM-DD")
            if COMMIT.fullmatch(plain(commit)):
                commits.setdefault(plain(commit), name)
            else:
                problems.append(f"{name}: commit {commit!r} is not 7-12 hex digits")
            if not BACKTICKED.search(command):
                problems.append(f"{name}: no command in backticks: {command!r}")
    if commits and is_git_checkout_with_history():
        for commit in sorted(missing_commits(set(commits))):
            problems.append(f"{commits[commit]}: commit {commit} is not a commit of this repository")
    assert not problems, "docs/measurements.md:\n" + "\n".join(problems)


def test_every_machine_is_used_and_each_topic_has_a_table():
    found = tables(DOC.read_text())
    machines = machine_ids(found)
    topics = [t for t in measure_tables(found) if t["header"] == MEASURE_COLUMNS]
    used = {plain(row[3]) for t in topics for _, row in t["rows"] if len(row) == len(MEASURE_COLUMNS)}
    unused = [m for m in machines if m not in used]
    assert not unused, f"docs/measurements.md: machines no figure names: {unused}"
    count = len(topics)
    assert count >= MIN_TOPIC_TABLES, f"docs/measurements.md: {count} topic tables, want {MIN_TOPIC_TABLES}+"
    empty = [t["heading"] for t in topics if not t["rows"]]
    assert not empty, f"docs/measurements.md: topic tables without rows: {empty}"
